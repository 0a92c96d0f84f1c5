"""The broker down at start, replay after it comes up; SIGHUP reloads."""
import json
import os
import signal
import socket

from conftest import Broker, Subscriber, free_port, wait_for

PEOPLE = """
1.0  reader1  card 1001
1.3  thermal1 temp 36.6
2.5  reader1  card 1003
2.8  thermal1 temp 36.9
"""


def test_broker_down_at_start(tmp_path, gates):
    port = free_port()
    g = gates(PEOPLE, port)
    g.start()
    # no broker at all: passages are still decided, stored and the gate opened
    wait_for(lambda: len(g.rows()) == 2, 15, "two ledger rows without a broker")
    assert [r["decision"] for r in g.rows()] == ["allow", "allow"]
    assert all(r["delivered"] == 0 for r in g.rows())
    wait_for(lambda: len(g.opens()) == 2, 5, "two gate opens")
    assert g.wicketd.grep("cannot connect to 127.0.0.1:%d" % port)
    # the broker comes up: every stored passage is delivered, in order
    b = Broker(str(tmp_path), port)
    try:
        s = Subscriber(port)
        wait_for(lambda: s.subscribed, 5, "subscriber")
        ps = wait_for(lambda: len(s.passages()) == 2 and s.passages(), 15, "replayed passages")
        assert [p["id"] for p in ps] == ["g1:%d" % r["seq"] for r in g.rows()]
        assert [p["credential"] for p in ps] == ["1001", "1003"]
        wait_for(lambda: all(r["delivered"] == 1 for r in g.rows()), 5, "rows marked delivered")
        s.stop()
    finally:
        g.stop()
        b.stop()


def test_restart_keeps_sequence(tmp_path, broker, subscriber, gates):
    g = gates("1.0 reader1 card 1001\n1.2 thermal1 temp 36.5\n", broker.port)
    g.start()
    wait_for(lambda: len(g.rows()) == 1, 15, "first passage")
    assert g.wicketd.stop() == 0
    g.sim.stop()
    g.start()
    wait_for(lambda: len(g.rows()) == 2, 15, "second passage after restart")
    seqs = [r["seq"] for r in g.rows()]
    assert seqs[0] < seqs[1]
    ids = wait_for(lambda: len(subscriber.passages()) == 2 and [p["id"] for p in subscriber.passages()], 10, "ids")
    assert ids == ["g1:%d" % s for s in seqs]


def test_sighup_bad_config_keeps_old_one(broker, subscriber, gates):
    g = gates("1.0 reader1 card 1001\n1.2 thermal1 temp 36.5\n"
              "6.0 reader1 card 7777\n6.2 thermal1 temp 36.5\n", broker.port)
    g.start()
    wait_for(lambda: len(g.rows()) == 1, 15, "first passage")
    good = open(g.conf).read()
    # an invalid config: refused line by line, the old one stays in force
    open(g.conf, "w").write(good.replace("window_ms = 2000", "window_ms = soon"))
    g.wicketd.p.send_signal(signal.SIGHUP)
    g.wicketd.wait_line("reload failed", 5)
    assert g.wicketd.grep("%s:" % g.conf) and g.wicketd.grep("window_ms: 'soon'")
    # a valid one in emergency-open mode, which lets the unknown 7777 in
    open(g.conf, "w").write(good.replace("[wicketd]\n", "[wicketd]\nmode = open\n"))
    g.wicketd.p.send_signal(signal.SIGHUP)
    g.wicketd.wait_line("configuration reloaded", 10)
    rows = wait_for(lambda: len(g.rows()) == 2 and g.rows(), 15, "second passage")
    assert rows[1]["credential"] == "7777" and rows[1]["decision"] == "allow"
    assert rows[1]["reason"] == "emergency_open"
    assert g.wicketd.p.poll() is None


def test_systemd_notify_and_journal_priorities(tmp_path, broker, gates):
    """Under systemd: READY / RELOADING / STOPPING on $NOTIFY_SOCKET (the
    sd_notify protocol), and each log line prefixed by its syslog priority
    for the journal when JOURNAL_STREAM is set."""
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(15)
    try:
        g = gates("1.0 reader1 card 1001\n", broker.port)
        g.env = dict(os.environ, NOTIFY_SOCKET=path, JOURNAL_STREAM="8:12345")
        g.start()
        assert sock.recv(256) == b"READY=1"
        g.wicketd.p.send_signal(signal.SIGHUP)
        assert sock.recv(256) == b"RELOADING=1"
        assert sock.recv(256) == b"READY=1"
        g.wicketd.wait_line("configuration reloaded", 5)
        assert g.wicketd.stop(signal.SIGTERM) == 0
        assert sock.recv(256) == b"STOPPING=1"
        lines = [l for l in g.wicketd.output() if l.strip()]
        assert lines and all(l[0] == "<" and l[2] == ">" and l[1] in "34567" for l in lines), lines[:5]
        assert any(l.startswith("<5>wicketd ") and " started: " in l for l in lines), lines[:5]
    finally:
        sock.close()
