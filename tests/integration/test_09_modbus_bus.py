"""Modbus buses: three devices on one RTU line (a socat pseudo-terminal
pair), one of them dead; a gate command while polls are in flight; every
fault wicket-sim injects, seen as one fault event, the right counters and
no reading; recovery reported once; a TCP peer that drops the connection;
devices on one line that disagree on its settings.

The timing checks read wicket-sim's -v request lines (mono_us, taken when
a whole request has arrived) and wicketd's "command N queued" debug line
(mono_us when the core handed the command over); both are CLOCK_MONOTONIC
on this machine."""
import json
import os
import re
import subprocess

import pytest

from conftest import BUILD, SLOW, VALGRIND, wait_for

REQ = re.compile(r"device=(\S+) unit=(\d+) function=(\d+) address=(\d+) count=(\d+) "
                 r"fault=(\S+) mono_us=(\d+)")
QUEUED = re.compile(r"device (\S+): command (\d+) queued on .*mono_us=(\d+)")

# Every device polled every 100 ms with a 100 ms timeout; a failing device
# is retried after 100, 200, 400, 800, 1000, 1000 ... ms.
FAST = {"poll_ms": "100", "timeout_ms": "100", "backoff_max_ms": "1000"}


def requests(sim):
    """The simulator's request lines: (device, function, mono_us)."""
    out = []
    for line in sim.output():
        m = REQ.search(line)
        if m:
            out.append((m.group(1), int(m.group(3)), int(m.group(7))))
    return out


def device_events(subscriber, name):
    return [e for e in subscriber.json("/event/device") if e["device"] == name]


def last_status(subscriber):
    return json.loads(subscriber.topic("/status")[-1][1])


@pytest.mark.skipif(bool(VALGRIND), reason="poll periods under valgrind say nothing")
def test_dead_device_does_not_slow_the_others(broker, subscriber, gates, serial_line):
    # thermal1 (unit 1) stops answering at once; reader1 and gate1 share its
    # line and must keep their 100 ms period while the lane keeps deciding
    g = gates("0.0 thermal1 fault silent\n3.0 reader1 card 1001\n14.0 - end\n", broker.port,
              line=serial_line, sim_verbose=True,
              device_conf={"thermal1": FAST, "reader1": FAST, "gate1": FAST})
    g.start()
    faults = wait_for(lambda: [e for e in device_events(subscriber, "thermal1")
                               if e["state"] == "fault"], 10, "thermal1's fault")
    assert "timeout" in faults[0]["message"]
    ps = wait_for(lambda: subscriber.passages(), 15, "a passage with the sensor dead")
    assert ps[0]["credential"] == "1001" and ps[0]["reason"] == "sensor_fault"
    t0 = requests(g.sim)[-1][2]
    wait_for(lambda: requests(g.sim)[-1][2] - t0 > 4_000_000, 10, "4 s of polls")
    reqs = requests(g.sim)
    start = [r for r in reqs if r[0] == "thermal1"][0][2] + 1_000_000
    for name in ("reader1", "gate1"):
        times = [t for (d, f, t) in reqs if d == name and f == 3 and t >= start]
        gaps = [(b - a) / 1000.0 for a, b in zip(times, times[1:])]
        assert len(gaps) >= 30, (name, gaps)
        mean = sum(gaps) / len(gaps)
        assert 90.0 <= mean <= 110.0, "%s: mean period %.1f ms over %d polls, max %.1f" % (
            name, mean, len(gaps), max(gaps))
    # the dead one is tried less and less often, not on every period
    dead = [t for (d, f, t) in reqs if d == "thermal1" and t >= start]
    assert len(dead) < 15, len(dead)
    assert len([e for e in device_events(subscriber, "thermal1") if e["state"] == "fault"]) == 1
    st = last_status(subscriber)["devices"]
    assert st["thermal1"]["state"] == "fault" and st["thermal1"]["timeouts"] >= 2
    for name in ("reader1", "gate1"):
        assert st[name]["state"] == "ok", st[name]
        assert st[name]["timeouts"] == st[name]["bad_replies"] == st[name]["crc_errors"] == 0, st[name]


@pytest.mark.skipif(bool(VALGRIND), reason="timing under valgrind says nothing")
def test_gate_command_goes_before_the_next_poll(broker, subscriber, gates, serial_line):
    # the thermometer answers 40 ms late (within its timeout) and the others
    # are polled every 20 ms, so polls are due when the command comes: the
    # reading that completes a passage arrives after a 40 ms poll
    people = "".join("%.1f person reader1 thermal1 100%d 36.6\n" % (1.0 + 1.5 * i, i + 1)
                     for i in range(5))
    fast = {"poll_ms": "20", "timeout_ms": "200"}
    g = gates("0.0 thermal1 fault late 40\n" + people + "10.0 - end\n", broker.port,
              known=["1001", "1002", "1003", "1004", "1005"], line=serial_line, sim_verbose=True,
              device_conf={"thermal1": fast, "reader1": fast, "gate1": fast})
    g.start()
    wait_for(lambda: len(subscriber.passages()) == 5, 20, "5 passages")
    assert [p["decision"] for p in subscriber.passages()] == ["allow"] * 5
    wait_for(lambda: len([r for r in requests(g.sim) if r[0] == "gate1" and r[1] == 5]) >= 10,
             10, "5 opens and their releases on the wire")
    queued = [int(m.group(3)) for m in map(QUEUED.search, g.wicketd.output()) if m]
    assert len(queued) == 5, queued
    reqs = requests(g.sim)
    for tq in queued:
        writes = [t for (d, f, t) in reqs if d == "gate1" and f == 5 and t > tq]
        assert writes, tq
        tw = writes[0]
        # nothing may reach the line between the command and its write,
        # except a request that was already being written when it was
        # queued (it arrives within a fraction of a millisecond)
        late = [r for r in reqs if tq + 1000 < r[2] < tw]
        assert late == [], (tw - tq, late)
        assert tw - tq < 50_000 * SLOW, tw - tq


FAULTS = [("crc", "crc error", "crc_errors"), ("garbage", "bad reply", "bad_replies"),
          ("exception", "exception", "exceptions"), ("silent", "timeout", "timeouts"),
          ("late 150", "timeout", "timeouts")]


def test_each_fault_once_with_its_counter_and_no_reading(broker, subscriber, gates, serial_line):
    steps, t = [], 1.0
    for i, (fault, _, _) in enumerate(FAULTS):
        # a new measurement while the device is faulty must never arrive
        steps += ["%.1f thermal1 fault %s" % (t, fault), "%.1f thermal1 temp 37.%d" % (t + 0.5, i + 1),
                  "%.1f thermal1 fault none" % (t + 1.5)]
        t += 3.0
    g = gates("\n".join(steps) + "\n%.1f - end\n" % (t + 2), broker.port, line=serial_line,
              device_conf={"thermal1": FAST, "reader1": FAST, "gate1": FAST})
    g.start()
    wait_for(lambda: len([e for e in device_events(subscriber, "thermal1") if e["state"] == "ok"])
             == 1 + len(FAULTS), 30, "every recovery")
    evs = device_events(subscriber, "thermal1")
    assert [e["state"] for e in evs] == ["ok"] + ["fault", "ok"] * len(FAULTS), evs
    assert evs[0]["message"] == "connected"
    for (fault, word, _), ev, back in zip(FAULTS, evs[1::2], evs[2::2]):
        assert ev["message"].startswith(word), (fault, ev)
        assert back["message"] == "recovered"
    st = last_status(subscriber)["devices"]
    th = st["thermal1"]
    assert th["state"] == "ok" and th["faults"] == len(FAULTS), th
    for _, _, counter in FAULTS:
        assert th[counter] >= 1, (counter, th)
    assert th["timeouts"] >= 2 and th["link_errors"] == 0 and th["bad_values"] == 0, th
    for name in ("reader1", "gate1"):
        d = st[name]
        assert d["faults"] == d["timeouts"] == d["crc_errors"] == d["exceptions"] == 0, d
        assert d["bad_replies"] == 0, d
    # no reading of any of the measurements taken during a fault
    temps = [l for l in g.wicketd.output() if "device thermal1: temperature" in l]
    assert temps == [], temps
    assert subscriber.passages() == []


def test_tcp_peer_drops_the_connection(broker, subscriber, gates):
    g = gates("1.0 thermal1 fault disconnect\n3.0 thermal1 fault none\n6.0 - end\n", broker.port,
              device_conf={"thermal1": FAST})
    g.start()
    wait_for(lambda: [e for e in device_events(subscriber, "thermal1") if e["message"] == "recovered"],
             15, "thermal1 recovered")
    evs = device_events(subscriber, "thermal1")
    assert [e["state"] for e in evs] == ["ok", "fault", "ok"], evs
    assert evs[1]["message"].startswith("link"), evs[1]
    th = last_status(subscriber)["devices"]["thermal1"]
    assert th["link_errors"] >= 1 and th["faults"] == 1, th
    # the simulator saw wicketd come back on a new connection
    assert len(g.sim.grep("connect listen=")) >= 2


def test_devices_on_one_line_must_agree(tmp_path, serial_line):
    from conftest import Gate
    g = Gate(str(tmp_path), "10 - end\n", 1883, line=serial_line,
             device_conf={"reader1": {"baud": "19200"}, "gate1": {"parity": "even"}})
    r = subprocess.run(VALGRIND + [os.path.join(BUILD, "wicketd"), "-t", "-c", g.conf],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and r.returncode != 99, r.stderr
    text = open(g.conf).read()
    lines = text.splitlines()
    baud = lines.index("baud = 19200") + 1
    parity = lines.index("parity = even") + 1
    assert ":%d: device reader1: baud: 19200, but device thermal1 on the same bus (rtu %s) has 9600" % (
        baud, serial_line.master) in r.stderr, r.stderr
    assert ":%d: device gate1: parity: even, but device" % parity in r.stderr, r.stderr


def test_gate_released_after_the_pulse_when_its_answers_are_lost(broker, subscriber, gates, serial_line):
    # the gate controller carries out writes but answers too late: the open
    # counts as failed, yet the relay may well be on, so it must still go
    # off after the pulse, not at the next poll after the back-off (by 4 s
    # the failing gate is tried every 1.6 s or more)
    slow = {"poll_ms": "100", "timeout_ms": "100", "backoff_max_ms": "5000"}
    g = gates("0.5 gate1 fault late 150\n4.0 person reader1 thermal1 1001 36.6\n12.0 - end\n",
              broker.port, line=serial_line,
              device_conf={"thermal1": FAST, "reader1": FAST,
                           "gate1": dict(slow, pulse_ms="400")})
    g.start()
    def after_open():
        lines = [l for l in g.sim.output() if "command=" in l]
        opens = [i for i, l in enumerate(lines) if "command=open" in l]
        return opens and [l for l in lines[opens[0]:] if "command=close" in l] and lines[opens[0]:]
    lines = wait_for(after_open, 10, "the release at the gate after the open")
    t_open = float(re.search(r"t=([\d.]+)", lines[0]).group(1))
    t_close = float(re.search(r"t=([\d.]+)", [l for l in lines if "command=close" in l][0]).group(1))
    # 400 ms pulse; the release's own write may wait for one request in
    # flight (100 ms timeout, 100 ms quiet after it) and a retry
    assert 0.35 <= t_close - t_open <= 1.0 * SLOW, (t_open, t_close)
    assert subscriber.passages()[0]["decision"] == "allow"
