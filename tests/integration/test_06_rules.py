"""Entry rules end to end: the registry and the shipped rules deciding real
passages (wicket-sim devices -> wicketd -> ledger and broker), the fever
re-test, the household quota across a restart, rules and registry changed
while wicketd runs."""
import json
import os
import signal
import time

from conftest import RULES, wait_for, wicketctl

FUTURE = "2099-12-31"
PAST = "2020-01-31"


def registry(*persons, households=("h1", "h2")):
    """persons: (id, card, role, extra fields)."""
    return {
        "households": [{"id": h, "unit": "Building 1, %s" % h} for h in households],
        "persons": [dict({"id": pid, "role": role}, **extra) for pid, card, role, extra in persons],
        "credentials": [{"value": card, "kind": "card", "person": pid} for pid, card, role, extra in persons],
    }


def rules_copy(tmp, **changes):
    """The shipped rules with top-level fields changed."""
    doc = json.load(open(RULES))
    doc.update(changes)
    path = os.path.join(tmp, "rules-%d.json" % time.monotonic_ns())
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
    return path


def passages(g, n, timeout=20):
    return wait_for(lambda: len(g.rows()) >= n and g.rows(), timeout, "%d passage(s) in the ledger" % n)


def test_quarantined_resident_may_not_go_out(broker, subscriber, gates, tmp_path):
    reg = registry(("p1", "1001", "resident", {"household": "h1", "quarantine_until": FUTURE}),
                   ("p2", "1002", "resident", {"household": "h1", "observation_until": FUTURE}),
                   ("p3", "1003", "resident", {"household": "h2"}))
    g = gates("1.0 person reader1 thermal1 1001 36.6\n"
              "3.0 person reader1 thermal1 1002 36.5\n"
              "5.0 person reader1 thermal1 1003 36.7\n",
              broker.port, registry=reg, direction="out")
    g.start()
    rows = passages(g, 3)
    assert [(r["person_id"], r["decision"], r["reason"], r["alarm"]) for r in rows] == [
        ("p1", "deny", "quarantine_exit", 1),
        ("p2", "allow", "observation_exit", 1),
        ("p3", "allow", "resident", 0)]
    # the gate opened for the two who may go out, not for the quarantined one
    wait_for(lambda: len(g.opens()) == 2, 10, "two gate openings")
    alarms = wait_for(lambda: len(subscriber.json("/event/alarm")) >= 2 and subscriber.json("/event/alarm"),
                      10, "two alarms")
    by_kind = {a["kind"]: a for a in alarms}
    assert by_kind["quarantine_exit"]["severity"] == "high"
    assert by_kind["quarantine_exit"]["passage"] == "g1:%d" % rows[0]["seq"]
    assert by_kind["observation_exit"]["severity"] == "low"
    ps = wait_for(lambda: len(subscriber.passages()) >= 3 and subscriber.passages(), 10, "passages on MQTT")
    assert [p["rule"] for p in ps] == [r["rule"] for r in rows]
    assert ps[0]["message"] and ps[0]["rules_version"] == 1


def test_fever_retest_second_reading_decides(broker, subscriber, gates):
    g = gates("1.0 person reader1 thermal1 1001 38.1\n"
              "2.0 thermal1 temp 36.9\n"          # the re-test: normal, allowed
              "4.0 person reader1 thermal1 1002 38.3\n"
              "5.0 thermal1 temp 38.4\n",         # confirmed: denied, alarm
              broker.port)
    g.start()
    rows = passages(g, 2)
    assert [(r["credential"], r["temperature"], r["decision"], r["reason"], r["rule"]) for r in rows] == [
        ("1001", 36.9, "allow", "resident", "resident"),
        ("1002", 38.4, "deny", "fever", "fever")]
    assert [json.loads(r["detail"])["first_temperature"] for r in rows] == [38.1, 38.3]
    alarms = wait_for(lambda: subscriber.json("/event/alarm"), 10, "the fever alarm")
    assert [a["kind"] for a in alarms] == ["fever"] and alarms[0]["severity"] == "high"
    wait_for(lambda: len(g.opens()) == 1, 10, "the gate opened once")
    time.sleep(0.5)
    assert len(g.opens()) == 1
    assert g.wicketd.grep("-> retest (fever_retest)")


def test_fever_retest_without_second_reading(broker, gates, tmp_path):
    g = gates("1.0 person reader1 thermal1 1001 38.6\n", broker.port,
              rules=rules_copy(str(tmp_path), retest_window_s=5))
    g.start()
    g.wicketd.wait_line("-> retest", 15)
    t0 = time.monotonic()
    rows = passages(g, 1, 15)
    assert time.monotonic() - t0 > 4.0        # it waited for the second reading
    r = rows[0]
    assert (r["decision"], r["reason"], r["temperature"]) == ("deny", "retest_missing", None)
    assert json.loads(r["detail"]) == {"first_temperature": 38.6}
    assert g.opens() == []


def test_household_quota_survives_a_restart(broker, gates):
    reg = registry(("p1", "1001", "resident", {"household": "h1"}),
                   ("p2", "1002", "resident", {"household": "h1"}),
                   ("p3", "1003", "tenant", {"household": "h2", "valid_until": FUTURE}))
    g = gates("1.0 person reader1 thermal1 1001 36.6\n"
              "9.0 person reader1 thermal1 1002 36.5\n"
              "10.5 person reader1 thermal1 1003 36.4\n",
              broker.port, registry=reg, direction="out", wicketd_extra="mode = lockdown")
    g.start()
    rows = passages(g, 1)
    assert (rows[0]["person_id"], rows[0]["decision"]) == ("p1", "allow")
    # a restart between the two outings of household h1
    assert g.wicketd.stop(signal.SIGTERM) == 0
    g.start_wicketd()
    g.wicketd.wait_line("history: 1 passage(s)", 10)
    rows = passages(g, 3, 25)
    assert [(r["person_id"], r["household_id"], r["decision"], r["reason"]) for r in rows] == [
        ("p1", "h1", "allow", "resident"),
        ("p2", "h1", "deny", "quota_exceeded"),
        ("p3", "h2", "allow", "tenant")]


def test_visitor_after_expiry(broker, gates):
    reg = registry(("v1", "2001", "visitor", {"host": "h1", "valid_until": PAST}),
                   ("v2", "2002", "visitor", {"host": "h1", "valid_until": FUTURE}),
                   ("v3", "2003", "visitor", {"valid_until": FUTURE}))
    g = gates("1.0 person reader1 thermal1 2001 36.6\n"
              "3.0 person reader1 thermal1 2002 36.5\n"
              "5.0 person reader1 thermal1 2003 36.4\n",
              broker.port, registry=reg)
    # the shipped rules keep visitors out at night (23:00-06:00)
    hour = time.localtime().tm_hour
    g.start()
    rows = passages(g, 3)
    got = [(r["person_id"], r["decision"], r["reason"]) for r in rows]
    assert got[0] == ("v1", "deny", "person_expired")
    assert got[2] == ("v3", "deny", "no_host")
    if 6 <= hour < 23:
        assert got[1] == ("v2", "allow", "visitor")
    else:
        assert got[1] == ("v2", "deny", "outside_hours")


def test_registry_import_while_running(broker, gates):
    g = gates("1.0 person reader1 thermal1 4444 36.6\n"
              "8.0 person reader1 thermal1 4444 36.5\n",
              broker.port)
    g.start()
    rows = passages(g, 1)
    assert (rows[0]["decision"], rows[0]["reason"]) == ("deny", "unknown_credential")
    g.import_registry(registry(("p44", "4444", "staff", {})))
    g.wicketd.wait_line("registry version 2 loaded", 5)
    rows = passages(g, 2, 20)
    assert (rows[1]["person_id"], rows[1]["decision"], rows[1]["reason"]) == ("p44", "allow", "staff")
    # a bad file: reported with line and field, nothing applied
    bad = os.path.join(g.tmp, "bad.csv")
    with open(bad, "w") as f:
        f.write("id,household,role\np50,h1,resident\np51,h1,landlord\n")
    rc, out, err = wicketctl("--state-dir", g.state, "persons", "import", bad, check=False)
    assert rc == 1 and "bad.csv:3" in err and "role" in err, err
    time.sleep(1.5)
    assert not g.wicketd.grep("registry version 3")


def test_rules_reload(broker, gates, tmp_path):
    path = str(tmp_path / "rules.json")
    doc = json.load(open(RULES))
    with open(path, "w") as f:
        json.dump(doc, f)
    g = gates("1.0 person reader1 thermal1 1001 36.6\n"
              "9.0 person reader1 thermal1 1001 36.5\n",
              broker.port, rules=path)
    g.start()
    rows = passages(g, 1)
    assert rows[0]["rules_version"] == 1
    # an invalid rules file: refused with its position, version 1 stays
    with open(path, "w") as f:
        f.write('{"version": 2, "rules": [{"id": "x", "action": "allow", "reason": "nope",\n "message": "m"}]}')
    g.wicketd.p.send_signal(signal.SIGHUP)
    g.wicketd.wait_line("reload failed", 5)
    assert g.wicketd.grep("rules.json:1:") and g.wicketd.grep("nope")
    # a valid version 2 that denies residents: in force for the next passage
    doc["version"] = 2
    doc["rules"].insert(0, {"id": "closed", "when": {"role": "resident", "direction": "in"}, "action": "deny",
                            "reason": "not_allowed", "message": "closed for residents"})
    with open(path, "w") as f:
        json.dump(doc, f)
    g.wicketd.p.send_signal(signal.SIGHUP)
    g.wicketd.wait_line("configuration reloaded", 5)
    rows = passages(g, 2, 20)
    assert (rows[1]["rules_version"], rows[1]["rule"], rows[1]["decision"]) == (2, "closed", "deny")


def test_wicketctl_rules_check_and_test(tmp_path):
    """What an administrator runs before pushing a rule change."""
    cases = os.path.join(os.path.dirname(RULES), "rules-cases.json")
    rc, out, err = wicketctl("rules", "check", RULES)
    assert rc == 0 and "OK (version 1" in out, (out, err)
    rc, out, err = wicketctl("rules", "test", RULES, cases)
    assert rc == 0 and "FAIL" not in out, out
    # a case whose expectation the rules do not meet: a table row says
    # FAIL and the exit status says so
    bad = str(tmp_path / "cases.json")
    with open(bad, "w") as f:
        json.dump({"cases": [{"name": "resident in", "given": {"role": "resident"},
                              "expect": {"decision": "allow", "rule": "resident"}},
                             {"name": "quarantine out", "given": {"quarantine": True, "direction": "out"},
                              "expect": {"decision": "allow", "rule": "resident"}}]}, f)
    rc, out, err = wicketctl("rules", "test", RULES, bad, check=False)
    assert rc == 1 and "FAIL" in out and "quarantine-exit" in out, (out, err)
    # a broken rules file: its position and JSON path
    broken = str(tmp_path / "broken.json")
    with open(broken, "w") as f:
        f.write('{"version": 1,\n "rules": [{"id": "a", "action": "let-in", "reason": "resident", "message": "m"}]}')
    rc, out, err = wicketctl("rules", "check", broken, check=False)
    assert rc == 1 and "broken.json:2:" in err and "$.rules[0].action" in err, err
