"""wicketctl ledger query / ledger export / report against a ledger that a
real wicketd wrote from real (simulated) devices: allowed passages in and
out, a confirmed fever, an unknown card, a device fault.  Every answer is
checked against SQLite queries on the same file; the ledger is read while
wicketd runs and after it stopped; a crafted copy of the ledger tries
formula injection, HTML injection and odd values."""
import calendar
import csv
import datetime
import io
import json
import math
import os
import shutil
import sqlite3
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest

import conftest
from conftest import Broker, Gate, free_ports, wait_for

SCENARIO = """
1.0 person reader1 thermal1 1001 36.6
1.5 reader2 card 1001
2.5 person reader1 thermal1 1002 36.4
3.0 reader2 card 1002
4.0 person reader1 thermal1 1003 38.1
5.0 thermal1 temp 38.4
6.5 person reader1 thermal1 7777 36.5
7.0 reader2 fault silent
9.5 reader2 fault none
"""

REGISTRY = {
    "households": [{"id": "h1", "unit": "Building 1, 101"}, {"id": "h2", "unit": "Building 1, 102"}],
    "persons": [{"id": "p1", "household": "h1", "role": "resident"},
                {"id": "p2", "household": "h2", "role": "resident"},
                {"id": "p3", "household": "h1", "role": "resident"}],
    "credentials": [{"value": v, "kind": "card", "person": p}
                    for v, p in (("1001", "p1"), ("1002", "p2"), ("1003", "p3"))],
}

COLUMNS = ["seq", "time", "time_ms", "kind", "lane", "direction", "credential", "person", "person_id",
           "household_id", "temperature", "decision", "reason", "rule", "rules_version", "alarm",
           "priority", "device", "state", "message", "detail", "delivered"]
NUMERIC = {"seq", "time_ms", "temperature", "rules_version", "alarm", "priority", "delivered"}
SVG = "{http://www.w3.org/2000/svg}"


def ctl(*args, env=None):
    """wicketctl (under valgrind with WICKET_VALGRIND=1): (rc, out, err).
    The output is decoded as UTF-8 as it is: CSV's CRLF stays CRLF."""
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run(conftest.VALGRIND + [os.path.join(conftest.BUILD, "wicketctl")] + list(args),
                       capture_output=True, timeout=60 * conftest.SLOW, env=e)
    out, err = p.stdout.decode("utf-8"), p.stderr.decode("utf-8", "replace")
    assert p.returncode != 99, "valgrind: %s" % err
    return p.returncode, out, err


def ok(*args, env=None):
    rc, out, err = ctl(*args, env=env)
    assert rc == 0, "wicketctl %s: exit %d\n%s%s" % (" ".join(args), rc, out, err)
    return out


def sql(db, query, *params):
    # read-only; immutable once wicketd has stopped, as wicketctl reads it,
    # so that reading here does not create a -wal and -shm either
    stopped = not os.path.exists(db + "-wal")
    con = sqlite3.connect("file:%s?mode=ro%s" % (db, "&immutable=1" if stopped else ""), uri=True)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute(query, params)]
    finally:
        con.close()


def seqs(rows):
    return [r["seq"] for r in rows]


def day_bounds(day):
    """[start, end) of a local day in ms, as mktime sees it."""
    y, m, d = map(int, day.split("-"))
    a = time.mktime((y, m, d, 0, 0, 0, 0, 0, -1))
    b = time.mktime((y, m, d + 1, 0, 0, 0, 0, 0, -1))
    return int(a) * 1000, int(b) * 1000


class Site:
    pass


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """One gate run: wicketd records the scenario, is read while it runs
    (results kept for test_read_while_running), then stopped."""
    tmp = str(tmp_path_factory.mktemp("ledger"))
    broker = Broker(tmp)
    port, = free_ports(1)
    extra = ("[device reader2]\nplugin = modbus-reader\nprofile = modbus-card-reader\n"
             "host = 127.0.0.1\nport = %d\npoll_ms = 50\ntimeout_ms = 300\n\n"
             "[lane exit]\ndirection = out\nreader = reader2\n" % port)
    g = Gate(tmp, SCENARIO, broker.port, registry=REGISTRY, extra_conf=extra)
    with open(g.sim_conf, "a") as f:
        f.write("[device reader2]\nkind = reader\nprofile = modbus-card-reader\n"
                "listen = 127.0.0.1:%d\nunit = 1\n" % port)
    s = Site()
    s.g, s.conf, s.state, s.db, s.tmp = g, g.conf, g.state, g.db, tmp
    try:
        g.start()
        wait_for(lambda: len(g.rows()) >= 6, 25, "six passages")
        wait_for(lambda: sql(g.db, "SELECT 1 FROM event WHERE kind = 'device' AND state = 'fault'"),
                 10, "the device fault")
        # while wicketd runs (WAL mode, -wal and -shm beside the file)
        assert os.path.exists(g.db + "-wal")
        s.running_rows = sql(g.db, "SELECT * FROM event WHERE kind = 'passage' ORDER BY time_ms, seq")
        s.running_json = ctl("-c", g.conf, "ledger", "query", "--json")
        s.running_report = ctl("-c", g.conf, "report", "today", "--json")
        assert g.wicketd.stop() == 0
    except BaseException:
        print("\n".join(g.wicketd.output()[-60:]) if g.wicketd else "")
        raise
    finally:
        g.stop()
        broker.stop()
    s.passages = sql(g.db, "SELECT * FROM event WHERE kind = 'passage' ORDER BY time_ms, seq")
    s.day = time.strftime("%Y-%m-%d", time.localtime(s.passages[0]["time_ms"] / 1000))
    yield s


def query(s, *args, env=None):
    return json.loads(ok("-c", s.conf, "ledger", "query", "--json", *args, env=env))


def test_read_while_running(site):
    rc, out, err = site.running_json
    assert rc == 0, err
    got = json.loads(out)
    assert seqs(got) == seqs(site.running_rows) and len(got) == 6
    rc, out, err = site.running_report
    assert rc == 0, err
    rep = json.loads(out)
    assert rep["passages"]["total"] == 6 and rep["site"] == "test" and rep["gate"] == "g1"


def test_the_ledger_is_what_the_scenario_made(site):
    got = [(r["lane"], r["direction"], r["credential"], r["person_id"], r["temperature"], r["decision"],
            r["reason"]) for r in site.passages]
    assert got == [("main", "in", "1001", "p1", 36.6, "allow", "resident"),
                   ("exit", "out", "1001", "p1", None, "allow", "resident"),
                   ("main", "in", "1002", "p2", 36.4, "allow", "resident"),
                   ("exit", "out", "1002", "p2", None, "allow", "resident"),
                   ("main", "in", "1003", "p3", 38.4, "deny", "fever"),
                   ("main", "in", "7777", None, 36.5, "deny", "unknown_credential")]
    # wicketd stopped cleanly: the WAL is gone, and reading does not bring it back
    ok("-c", site.conf, "ledger", "query")
    assert not os.path.exists(site.db + "-wal") and not os.path.exists(site.db + "-shm")


def test_query_filters(site):
    db = site.db
    base = "SELECT * FROM event WHERE kind = 'passage' %s ORDER BY time_ms, seq"
    cases = [
        ([], ""),
        (["--person", "p1"], "AND person_id = 'p1'"),
        (["--household", "h1"], "AND household_id = 'h1'"),
        (["--household", "h2", "--lane", "exit"], "AND household_id = 'h2' AND lane = 'exit'"),
        (["--decision", "deny"], "AND decision = 'deny'"),
        (["--decision", "allow", "--lane", "main"], "AND decision = 'allow' AND lane = 'main'"),
        (["--reason", "fever"], "AND reason = 'fever'"),
        (["--reason", "unknown_credential"], "AND reason = 'unknown_credential'"),
        (["--lane", "exit"], "AND lane = 'exit'"),
        (["--person", "nobody"], "AND person_id = 'nobody'"),
    ]
    for args, where in cases:
        want = sql(db, base % where)
        assert seqs(query(site, *args)) == seqs(want), args
    assert len(sql(db, base % "AND person_id = 'p1'")) == 2
    for kind in ("alarm", "device"):
        want = sql(db, "SELECT * FROM event WHERE kind = ? ORDER BY time_ms, seq", kind)
        assert want and seqs(query(site, "--kind", kind)) == seqs(want), kind
    want = sql(db, "SELECT * FROM event ORDER BY time_ms, seq")
    assert seqs(query(site, "--kind", "all")) == seqs(want)
    alarms = query(site, "--kind", "alarm", "--reason", "fever")
    assert len(alarms) == 1 and alarms[0]["state"] == "high" and alarms[0]["person_id"] == "p3"
    # --limit: the newest N, still oldest first
    assert seqs(query(site, "--limit", "2")) == seqs(site.passages)[-2:]
    assert seqs(query(site, "--kind", "all", "--limit", "3")) == seqs(want)[-3:]


def test_query_times(site):
    rows = site.passages
    t = rows[2]["time_ms"]
    sec = t // 1000
    after = [r["seq"] for r in rows if r["time_ms"] >= sec * 1000]
    upto = [r["seq"] for r in rows if r["time_ms"] <= sec * 1000 + 999]
    utc = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(sec))
    local = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(sec))
    assert seqs(query(site, "--from", utc)) == after
    assert seqs(query(site, "--to", utc)) == upto
    assert seqs(query(site, "--from", local)) == after
    assert seqs(query(site, "--from", local.replace("T", " "))) == after
    assert seqs(query(site, "--from", utc, "--to", utc)) == [s for s in after if s in upto]
    # an offset: the same instant written in +05:30
    ist = time.strftime("%Y-%m-%dT%H:%M:%S+05:30", time.gmtime(sec + 5 * 3600 + 1800))
    assert seqs(query(site, "--from", ist)) == after
    # local dates: the whole day
    start, end = day_bounds(site.day)
    want = [r["seq"] for r in rows if start <= r["time_ms"] < end]
    assert seqs(query(site, "--from", site.day, "--to", site.day)) == want
    today = time.strftime("%Y-%m-%d")
    start, end = day_bounds(today)
    want = [r["seq"] for r in rows if start <= r["time_ms"] < end]
    assert seqs(query(site, "--from", "today", "--to", "now")) == want
    assert seqs(query(site, "--to", "yesterday")) == [r["seq"] for r in rows if r["time_ms"] < start]
    # times are written local, with the offset of that moment
    for tz, suffix in (("UTC0", "+00:00"), ("IST-5:30", "+05:30"), ("NST3:30", "-03:30")):
        got = query(site, env={"TZ": tz})
        assert [r["time_ms"] for r in got] == [r["time_ms"] for r in rows]
        for r in got:
            assert r["time"].endswith(suffix), r["time"]
            assert round(datetime.datetime.fromisoformat(r["time"]).timestamp() * 1000) == r["time_ms"]


def test_query_json_has_every_column(site):
    got = query(site, "--kind", "all")
    raw = sql(site.db, "SELECT * FROM event ORDER BY time_ms, seq")
    assert len(got) == len(raw)
    for g, r in zip(got, raw):
        assert list(g) == COLUMNS
        for k, v in r.items():
            assert g[k] == v, (k, g[k], v)


def test_query_table(site):
    out = ok("-c", site.conf, "ledger", "query")
    lines = out.splitlines()
    assert lines[0].split() == ["TIME", "LANE", "DIR", "CREDENTIAL", "PERSON", "TEMP", "DECISION", "REASON",
                                "RULE"]
    assert len(lines) == 7
    assert lines[5].split()[2:] == ["main", "in", "1003", "p3", "38.4", "deny", "fever", "fever"]
    assert lines[2].split()[2:] == ["exit", "out", "1001", "p1", "-", "allow", "resident", "resident"]
    out = ok("-c", site.conf, "ledger", "query", "--kind", "all")
    assert out.splitlines()[0].split()[:2] == ["TIME", "KIND"] and "reader2 fault" in out
    assert ok("-c", site.conf, "ledger", "query", "--person", "nobody") == "no events\n"
    # --state-dir instead of the config
    assert ok("--state-dir", site.state, "ledger", "query") == ok("-c", site.conf, "ledger", "query")


def parse_csv(text):
    rows = list(csv.reader(io.StringIO(text, newline="")))
    return rows[0], rows[1:]


def test_export_csv(site, tmp_path):
    out = ok("-c", site.conf, "ledger", "export", "--kind", "all")
    assert out.endswith("\r\n")
    head, rows = parse_csv(out)
    assert head == COLUMNS
    want = query(site, "--kind", "all")
    assert len(rows) == len(want)
    for row, w in zip(rows, want):
        for k, cell in zip(head, row):
            if w[k] is None:
                assert cell == "", k
            elif k in NUMERIC:
                assert float(cell) == w[k], k
                if isinstance(w[k], int):
                    assert cell == str(w[k])
            else:
                assert cell == w[k], k
    # filters as for query; --output writes the file
    path = str(tmp_path / "deny.csv")
    assert ok("-c", site.conf, "ledger", "export", "--decision", "deny", "--output", path) == ""
    with open(path, newline="") as f:
        head, rows = parse_csv(f.read())
    assert [int(r[0]) for r in rows] == seqs(query(site, "--decision", "deny"))
    rc, out, err = ctl("-c", site.conf, "ledger", "export", "--output", str(tmp_path / "no" / "x.csv"))
    assert rc == 1 and "x.csv" in err


@pytest.fixture(scope="module")
def crafted(site, tmp_path_factory):
    """A copy of the ledger with rows wicketd would not write: formula
    cells, markup, invalid UTF-8, a text temperature, a text time."""
    state = str(tmp_path_factory.mktemp("crafted"))
    shutil.copy(site.db, os.path.join(state, "ledger.db"))
    db = os.path.join(state, "ledger.db")
    t = site.passages[-1]["time_ms"] + 1000
    con = sqlite3.connect(db)
    ins = ("INSERT INTO event (time_ms, kind, lane, direction, credential, person_id, temperature,"
           " decision, reason, rule, message, detail) VALUES (?, 'passage', ?, 'out', ?, ?, ?, 'deny', ?, ?, ?, ?)")
    con.execute(ins, (t, "+lane", '=HYPERLINK("http://x.example/","click")', "@p", 41.95,
                      "<b>&amp;'\"", "-rule", "-2+3", "\tx"))
    con.execute(ins, (t + 1, "main", "1\n2,3", "p9", "hot", "quota_exceeded", "r", "a\rb", None))
    con.execute("INSERT INTO event (time_ms, kind, lane, direction, credential, temperature, decision, reason)"
                " VALUES (?, 'passage', 'main', 'in', CAST(x'ff41c0af' AS TEXT), 33.0, 'allow', 'resident')",
                (t + 2,))
    con.execute("INSERT INTO event (time_ms, kind, lane, decision, reason) VALUES ('soon', 'passage', 'main',"
                " 'deny', 'no_rule')")
    con.commit()
    con.close()
    return state


def test_export_guards_formulas(crafted):
    out = ok("--state-dir", crafted, "ledger", "export", "--kind", "all")
    head, rows = parse_csv(out)
    col = {k: i for i, k in enumerate(head)}
    evil = [r for r in rows if r[col["lane"]] == "'+lane"]
    assert len(evil) == 1, rows
    e = evil[0]
    assert e[col["credential"]] == '\'=HYPERLINK("http://x.example/","click")'
    assert e[col["person_id"]] == "'@p" and e[col["rule"]] == "'-rule"
    assert e[col["message"]] == "'-2+3" and e[col["detail"]] == "'\tx"
    assert e[col["reason"]] == "<b>&amp;'\"" and e[col["temperature"]] == "41.95"
    two = [r for r in rows if r[col["person_id"]] == "p9"][0]
    assert two[col["credential"]] == "1\n2,3" and two[col["message"]] == "a\rb"
    # a number column holding text is text (guarded like any)
    assert two[col["temperature"]] == "hot"
    odd = [r for r in rows if r[col["time_ms"]] == "soon"][0]
    assert odd[col["time"]] == ""
    bad = [r for r in rows if r[col["temperature"]] == "33"][0]
    assert bad[col["credential"]] == "\ufffdA\ufffd\ufffd"
    # JSON stays valid, and keeps the values as they are
    got = json.loads(ok("--state-dir", crafted, "ledger", "query", "--kind", "all", "--json"))
    assert [r["credential"] for r in got if r["temperature"] == 41.95] == ['=HYPERLINK("http://x.example/","click")']
    assert [r["temperature"] for r in got if r["person_id"] == "p9"] == ["hot"]
    assert [r["time"] for r in got if r["time_ms"] == "soon"] == [None]
    # and the table stays on its lines
    out = ok("--state-dir", crafted, "ledger", "query")
    assert len(out.splitlines()) == 1 + len([r for r in got if r["kind"] == "passage"])


def report(s, day, *args, env=None):
    return json.loads(ok("-c", s.conf, "report", day, "--json", *args, env=env))


def expected_report(db, day):
    start, end = day_bounds(day)
    rows = sql(db, "SELECT * FROM event WHERE kind = 'passage' AND time_ms >= ? AND time_ms < ?", start, end)
    e = {"total": len(rows), "hours": [[0, 0, 0] for _ in range(24)], "bins": [0] * 80, "under": 0, "over": 0,
         "temps": []}
    for k in ("allowed", "denied", "in", "out", "allowed_in", "allowed_out", "denied_in", "denied_out"):
        e[k] = 0
    for r in rows:
        a, d = r["decision"] == "allow", r["decision"] == "deny"
        i, o = r["direction"] == "in", r["direction"] == "out"
        e["allowed"] += a
        e["denied"] += d
        e["in"] += i
        e["out"] += o
        e["allowed_in"] += a and i
        e["allowed_out"] += a and o
        e["denied_in"] += d and i
        e["denied_out"] += d and o
        h = time.localtime(r["time_ms"] / 1000).tm_hour
        e["hours"][h][0] += a and i
        e["hours"][h][1] += a and o
        e["hours"][h][2] += d
        t = r["temperature"]
        if isinstance(t, (int, float)):
            e["temps"].append(t)
            tenths = math.floor(t * 10 + 1e-6)
            if tenths < 340:
                e["under"] += 1
            elif tenths >= 420:
                e["over"] += 1
            else:
                e["bins"][tenths - 340] += 1
    e["denials"] = {r["reason"]: r["n"] for r in sql(
        db, "SELECT reason, count(*) AS n FROM event WHERE kind = 'passage' AND decision = 'deny'"
        " AND time_ms >= ? AND time_ms < ? GROUP BY reason", start, end)}
    e["alarms"] = {r["reason"]: r["n"] for r in sql(
        db, "SELECT reason, count(*) AS n FROM event WHERE kind = 'alarm' AND time_ms >= ? AND time_ms < ?"
        " GROUP BY reason", start, end)}
    e["faults"] = sql(db, "SELECT count(*) AS n FROM event WHERE kind = 'device' AND state = 'fault'"
                      " AND time_ms >= ? AND time_ms < ?", start, end)[0]["n"]
    e["start"], e["end"] = start, end
    return e


def test_report_json(site):
    rep = report(site, site.day)
    e = expected_report(site.db, site.day)
    assert (rep["day"], rep["from_ms"], rep["to_ms"]) == (site.day, e["start"], e["end"])
    assert (rep["site"], rep["gate"]) == ("test", "g1")
    for k in ("total", "allowed", "denied", "in", "out", "allowed_in", "allowed_out", "denied_in", "denied_out"):
        assert rep["passages"][k] == e[k], k
    assert (rep["passages"]["allowed"], rep["passages"]["denied"]) == (4, 2)
    assert [[h["in"], h["out"], h["denied"]] for h in rep["per_hour"]] == e["hours"]
    assert [h["hour"] for h in rep["per_hour"]] == list(range(24))
    assert rep["denials"] == e["denials"] == {"fever": 1, "unknown_credential": 1}
    assert rep["alarms"] == e["alarms"] == {"fever": 1}
    tm = rep["temperature"]
    assert [b["count"] for b in tm["bins"]] == e["bins"]
    assert [b["from"] for b in tm["bins"]] == [round(34 + i / 10, 1) for i in range(80)]
    assert (tm["under"], tm["over"], tm["count"]) == (e["under"], e["over"], len(e["temps"])) == (0, 0, 4)
    assert (tm["min"], tm["max"]) == (min(e["temps"]), max(e["temps"]))
    # the shipped rules re-test and deny from 37.3
    assert tm["threshold"] == 37.3 and "rules.json" in tm["threshold_from"]
    assert tm["at_or_above_threshold"] == len([t for t in e["temps"] if t >= 37.3]) == 1
    assert rep["device_faults"]["count"] == e["faults"] >= 1
    assert rep["device_faults"]["devices"][0]["device"] == "reader2"
    # "today" is the same day (unless the test ran over midnight)
    if time.strftime("%Y-%m-%d") == site.day:
        assert report(site, "today") == rep
    # a day without passages
    empty = report(site, "2020-01-01")
    assert empty["passages"]["total"] == 0 and empty["denials"] == {} and empty["temperature"]["min"] is None
    # the text says the same
    out = ok("-c", site.conf, "report", site.day)
    assert "allowed 4, denied 2" in out and "fever threshold 37.3 C" in out
    assert "unknown_credential" in out and "reader2" in out


def test_report_days_and_clock_changes(site):
    # local days: midnight to midnight as the time zone has it
    cet = {"TZ": "CET-1CEST,M3.5.0,M10.5.0/3"}
    for day, hours in (("2026-03-29", 23), ("2026-10-25", 25), ("2026-06-01", 24)):
        rep = report(site, day, env=cet)
        assert rep["hours"] == hours and (rep["to_ms"] - rep["from_ms"]) == hours * 3600000, day
    rep = report(site, "2026-06-01", env=cet)
    assert rep["from"] == "2026-06-01T00:00:00.000+02:00" and rep["to"] == "2026-06-02T00:00:00.000+02:00"
    rep = report(site, "2026-01-01", env={"TZ": "IST-5:30"})
    assert rep["from_ms"] == calendar.timegm((2025, 12, 31, 18, 30, 0)) * 1000


def svg(root, ident):
    for el in root.iter(SVG + "svg"):
        if el.get("id") == ident:
            return el
    raise AssertionError("no <svg id=%r>" % ident)


def page(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return text, ET.fromstring(text.split("\n", 1)[1])     # after <!DOCTYPE html>


def test_report_html(site, tmp_path):
    path = str(tmp_path / "report.html")
    out = ok("-c", site.conf, "report", site.day, "--html", path)
    assert "allowed 4, denied 2" in out
    text, root = page(path)
    rep = report(site, site.day)
    # one page, nothing from elsewhere
    assert "<script" not in text and "src=" not in text and "href=" not in text
    assert "@import" not in text and "url(" not in text
    title = root.find(".//{http://www.w3.org/1999/xhtml}title").text
    assert "test" in title and "g1" in title and site.day in title
    # 1: passages per hour, in and out side by side
    ph = svg(root, "per-hour")
    bars = [r for r in ph.iter(SVG + "rect") if "bar" in r.get("class", "").split()]
    assert len(bars) == 48
    for d in ("in", "out"):
        mine = [r for r in bars if d in r.get("class").split()]
        assert sorted(int(r.get("data-hour")) for r in mine) == list(range(24))
        assert sum(int(r.get("data-count")) for r in mine) == rep["passages"]["allowed_" + d]
        for r in mine:
            assert int(r.get("data-count")) == rep["per_hour"][int(r.get("data-hour"))][d]
    labels = [t.text for t in ph.iter(SVG + "text")]
    assert "00" in labels and "23" in labels and "hour of the day (local time)" in labels
    # 2: the temperature histogram with the threshold where 37.3 is
    tp = svg(root, "temperature")
    bins = [r for r in tp.iter(SVG + "rect") if "bin" in r.get("class", "").split()]
    assert sum(int(r.get("data-count")) for r in bins) == rep["temperature"]["count"]
    by_from = {r.get("data-from"): r for r in bins if r.get("data-from")}
    assert int(by_from["38.4"].get("data-count")) == 1 and "fever" in by_from["38.4"].get("class")
    assert "fever" not in by_from["37.2"].get("class") and "fever" in by_from["37.3"].get("class")
    line = [l for l in tp.iter(SVG + "line") if l.get("id") == "threshold"]
    assert len(line) == 1 and line[0].get("data-threshold") == "37.3"
    assert abs(float(line[0].get("x1")) - float(by_from["37.3"].get("x"))) < 0.01
    assert line[0].get("x1") == line[0].get("x2")
    assert any("threshold 37.3" in (t.text or "") for t in tp.iter(SVG + "text"))
    # 3: denials by reason
    dn = svg(root, "denials")
    got = {g.get("data-reason"): int(g.get("data-count")) for g in dn.iter(SVG + "g")
           if g.get("class") == "denial"}
    assert got == rep["denials"]
    for g in dn.iter(SVG + "g"):
        texts = [t.text for t in g.iter(SVG + "text")]
        assert g.get("data-reason") in texts and g.get("data-count") in texts
    # --threshold moves the line; --html - writes the page to standard output
    out = ok("-c", site.conf, "report", site.day, "--threshold", "38", "--html", "-")
    root = ET.fromstring(out.split("\n", 1)[1])
    tp = svg(root, "temperature")
    line = [l for l in tp.iter(SVG + "line") if l.get("id") == "threshold"][0]
    x38 = [r for r in tp.iter(SVG + "rect") if r.get("data-from") == "38.0"][0]
    assert line.get("data-threshold") == "38" and abs(float(line.get("x1")) - float(x38.get("x"))) < 0.01
    # with --state-dir only there are no names and no rules: no line
    path2 = str(tmp_path / "bare.html")
    out = ok("--state-dir", site.state, "report", site.day, "--json", "--html", path2)
    assert json.loads(out)["temperature"]["threshold"] is None
    text, root = page(path2)
    assert not [l for l in svg(root, "temperature").iter(SVG + "line") if l.get("id") == "threshold"]
    # --rules names one
    out = ok("--state-dir", site.state, "report", site.day, "--json", "--rules", conftest.RULES)
    assert json.loads(out)["temperature"]["threshold"] == 37.3


def test_report_html_escapes(site, crafted, tmp_path):
    path = str(tmp_path / "crafted.html")
    ok("--state-dir", crafted, "report", site.day, "--html", path, "--threshold", "37.5")
    text, root = page(path)      # well-formed: everything was escaped
    assert "<b>" not in text
    got = {g.get("data-reason"): int(g.get("data-count")) for g in svg(root, "denials").iter(SVG + "g")
           if g.get("class") == "denial"}
    assert got == {"<b>&amp;'\"": 1, "quota_exceeded": 1, "fever": 1, "unknown_credential": 1}
    labels = [t.text for t in svg(root, "denials").iter(SVG + "text")]
    assert "<b>&amp;'\"" in labels
    # the odd rows did not upset the numbers: a text temperature and a
    # text time are left out
    rep = json.loads(ok("--state-dir", crafted, "report", site.day, "--json", "--threshold", "37.5"))
    tm = rep["temperature"]
    assert (tm["count"], tm["under"], tm["over"], tm["at_or_above_threshold"]) == (6, 1, 0, 2)
    assert [b["count"] for b in tm["bins"] if b["from"] == 41.9] == [1]
    assert rep["passages"]["total"] == 9 and rep["passages"]["denied_out"] == 2


def test_schema_and_missing_ledger(site, tmp_path):
    empty = str(tmp_path / "empty")
    os.makedirs(empty)
    for args in (["ledger", "query"], ["ledger", "export"], ["report", "today"]):
        rc, out, err = ctl("--state-dir", empty, *args)
        assert rc == 1 and "ledger.db: no ledger (has wicketd run with this state_dir?)" in err, (args, err)
        assert out == ""
    # 3 and 4 (4 only adds the kind audit) are read; older and newer not
    for version, words in ((2, "schema version 2"), (3, None), (4, None), (5, "newer"),
                           (0, "not a wicket ledger")):
        d = str(tmp_path / ("v%d" % version))
        os.makedirs(d)
        shutil.copy(site.db, d)
        con = sqlite3.connect(os.path.join(d, "ledger.db"))
        con.execute("PRAGMA user_version = %d" % version)
        con.close()
        for args in (["ledger", "query"], ["report", "today"]):
            rc, out, err = ctl("--state-dir", d, *args)
            if words is None:
                assert rc == 0 and out and "schema" not in err, (version, args, err)
            else:
                assert rc == 1 and words in err, (version, args, err)
    junk = str(tmp_path / "junk")
    os.makedirs(junk)
    with open(os.path.join(junk, "ledger.db"), "w") as f:
        f.write("this is not a database, but it is long enough to look like one....\n" * 20)
    rc, out, err = ctl("--state-dir", junk, "ledger", "query")
    assert rc == 1 and "ledger.db" in err


def test_bad_usage(site):
    c = ["-c", site.conf]
    cases = [
        (["ledger"], None),
        (["ledger", "frobnicate"], "frobnicate"),
        (["ledger", "query", "--bogus"], "bogus"),
        (["ledger", "query", "--from", "2026-02-30"], "2026-02-30"),
        (["ledger", "query", "--from", "lastweek"], "lastweek"),
        (["ledger", "query", "--to", "2026-11-23T25:00"], "25:00"),
        (["ledger", "query", "--from", "2026-11-23T10:00+5"], "2026-11-23T10:00+5"),
        (["ledger", "query", "--from", "today", "--to", "yesterday"], "--from"),
        (["ledger", "query", "--decision", "maybe"], "maybe"),
        (["ledger", "query", "--kind", "passages"], "passages"),
        (["ledger", "query", "--limit", "0"], "--limit"),
        (["ledger", "query", "--limit", "ten"], "ten"),
        (["ledger", "query", "--person", ""], "--person"),
        (["ledger", "query", "--output", "x.csv"], "--output"),
        (["ledger", "query", "extra"], "extra"),
        (["ledger", "export", "--reason", "two words"], "two words"),
        (["report"], "DAY"),
        (["report", "2026-13-01"], "2026-13-01"),
        (["report", "tomorrow"], "tomorrow"),
        (["report", "today", "--threshold", "hot"], "hot"),
        (["report", "today", "--threshold", "99"], "99"),
        (["report", "today", "yesterday"], "yesterday"),
        (["report", "today", "--bogus"], "bogus"),
    ]
    for args, word in cases:
        rc, out, err = ctl(*(c + args))
        assert rc == 2, (args, rc, out, err)
        if word:
            assert word in err, (args, err)
    for args in (["ledger", "--help"], ["ledger", "query", "--help"], ["ledger", "export", "--help"],
                 ["report", "--help"]):
        rc, out, err = ctl(*(c + args))
        assert rc == 0 and out.startswith("usage: wicketctl"), (args, out, err)
    # an explicit --rules that cannot be used is a failure, not a silent "no threshold"
    rc, out, err = ctl(*(c + ["report", "today", "--rules", "/nonexistent/rules.json"]))
    assert rc == 1 and "/nonexistent/rules.json" in err
