"""One lane end to end: wicket-sim devices -> wicketd -> ledger and broker."""
import json
import os
import signal

from conftest import wait_for

PEOPLE = """
1.0  reader1  card 1001
1.3  thermal1 temp 36.6
3.0  reader1  card 1002
3.3  thermal1 temp 38.4
3.9  thermal1 temp 38.5
5.0  reader1  card 7777
5.3  thermal1 temp 36.5
"""


def test_pass_fever_unknown(broker, subscriber, gates):
    g = gates(PEOPLE, broker.port)
    g.start()
    ps = wait_for(lambda: len(subscriber.passages()) >= 3 and subscriber.passages(), 20, "3 passages on MQTT")
    assert [(p["credential"], p["temperature"], p["decision"], p["reason"], p["alarm"]) for p in ps] == [
        ("1001", 36.6, "allow", "resident", False),
        ("1002", 38.5, "deny", "fever", True),
        ("7777", 36.5, "deny", "unknown_credential", False),
    ]
    # the fever was re-tested: the second reading decided, the first is kept
    assert [p["retest"] for p in ps] == [False, True, False]
    assert ps[1]["first_temperature"] == 38.4
    # every passage says which rule of which version decided it
    assert [p["rule"] for p in ps] == ["resident", "fever", "unknown-credential"]
    assert all(p["rules_version"] == 1 for p in ps)
    assert ps[0]["person"] and ps[0]["household"] and ps[2]["person"] is None
    for p in ps:
        assert p["site"] == "test" and p["gate"] == "g1" and p["lane"] == "main"
        assert p["direction"] == "in" and p["time"].endswith("Z")
    # ids are <gate>:<seq> and follow the ledger
    rows = g.rows()
    assert len(rows) == 3 and rows[0]["seq"] < rows[1]["seq"] < rows[2]["seq"]
    assert [p["id"] for p in ps] == ["g1:%d" % r["seq"] for r in rows]
    assert [(r["credential"], r["temperature"], r["decision"], r["reason"], r["alarm"]) for r in rows] == [
        ("1001", 36.6, "allow", "resident", 0),
        ("1002", 38.5, "deny", "fever", 1),
        ("7777", 36.5, "deny", "unknown_credential", 0),
    ]
    assert [(r["person_id"], r["household_id"], r["rules_version"]) for r in rows] == [
        ("p-1001", "h1", 1), ("p-1002", "h1", 1), (None, None, 1)]
    # the fever raised an alarm event
    alarms = wait_for(lambda: subscriber.json("/event/alarm"), 5, "alarm event")
    assert alarms[0]["kind"] == "fever" and alarms[0]["passage"] == ps[1]["id"]
    # the gate was opened once, for the allowed passage only
    wait_for(lambda: g.opens(), 5, "gate open command at the simulator")
    wait_for(lambda: [r for r in g.rows() if r["delivered"] == 1] == g.rows(), 5, "rows marked delivered")
    assert len(g.opens()) == 1
    # a relay left energised is released first thing after connecting
    gate_lines = [l for l in g.sim.output() if "device=gate1 command=" in l]
    assert "command=close" in gate_lines[0], gate_lines
    # retained status says online with the devices
    st = [json.loads(p) for (t, p, r) in subscriber.topic("/status")]
    assert st and st[-1]["state"] == "online"
    assert set(st[-1]["devices"]) == {"thermal1", "reader1", "gate1"}
    # SIGTERM stops cleanly and says offline
    assert g.wicketd.stop(signal.SIGTERM) == 0
    assert g.wicketd.grep("stopped")
    wait_for(lambda: json.loads(subscriber.topic("/status")[-1][1])["state"] == "offline", 5, "offline status")


def test_card_without_temperature(broker, subscriber, gates):
    g = gates("1.0 reader1 card 1001\n", broker.port)
    g.start()
    ps = wait_for(lambda: subscriber.passages(), 15, "a passage")
    assert ps[0]["reason"] == "no_temperature" and ps[0]["temperature"] is None
    assert g.opens() == []


def test_sensor_stops_answering(broker, subscriber, gates):
    g = gates("0.5 thermal1 fault silent\n3.0 reader1 card 1001\n", broker.port)
    g.start()
    faults = wait_for(lambda: [e for e in subscriber.json("/event/device")
                               if e["device"] == "thermal1" and e["state"] == "fault"], 15, "fault event")
    assert "timed out" in faults[0]["message"] or "timeout" in faults[0]["message"], faults
    # the daemon keeps running and deciding: the card alone is recorded, and
    # the rules hear that the sensor is in fault (not just a missing reading)
    ps = wait_for(lambda: subscriber.passages(), 15, "passage while the sensor is dead")
    assert ps[0]["credential"] == "1001" and ps[0]["reason"] == "sensor_fault"
    assert g.wicketd.p.poll() is None
    # reported once per fault spell, not once per poll
    assert len([e for e in subscriber.json("/event/device")
                if e["device"] == "thermal1" and e["state"] == "fault"]) == 1
    st = json.loads(subscriber.topic("/status")[-1][1])
    th = st["devices"]["thermal1"]
    assert th["state"] == "fault" and th["faults"] == 1, th
    # the status published with the fault counts the timeouts that made it
    # (the first try and its retry), and no answer of any other kind
    assert th["timeouts"] >= 2 and th["responses"] >= 1, th
    assert th["crc_errors"] == th["exceptions"] == th["bad_replies"] == th["bad_values"] == 0, th
    assert "timeout" in th["last_error"], th
    assert st["devices"]["reader1"]["state"] == "ok" and st["devices"]["reader1"]["timeouts"] == 0


def test_out_of_range_reading_is_a_fault(broker, subscriber, gates):
    # 990 * 0.1 = 99.0 C: outside the plausible range, never a passage
    g = gates("1.0 thermal1 raw 990\n1.2 reader1 card 1001\n4.0 thermal1 temp 36.4\n", broker.port)
    g.start()
    ev = wait_for(lambda: [e for e in subscriber.json("/event/device") if e["state"] == "fault"], 15, "fault")
    assert ev[0]["device"] == "thermal1" and "plausible" in ev[0]["message"]
    ps = wait_for(lambda: len(subscriber.passages()) >= 2 and subscriber.passages(), 15, "passages")
    assert all(p["temperature"] != 99.0 for p in ps)
    assert ps[0]["reason"] == "no_temperature"
    assert ps[1]["temperature"] == 36.4
    assert all(r["temperature"] is None or r["temperature"] < 45 for r in g.rows())
