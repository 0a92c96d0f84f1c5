"""The control socket and wicketctl status / watch / open / mode against a
running wicketd; who may connect; bad requests; the systemd watchdog."""
import json
import os
import signal
import socket
import sqlite3
import stat
import subprocess
import time

from conftest import BUILD, SLOW, wait_for

PEOPLE = """
1.0  reader1  card 1001
1.3  thermal1 temp 36.6
9.0  reader1  card 7777
9.3  thermal1 temp 36.5
"""


def ctl_json(g, *args):
    rc, out, err = g.ctl("--json", *args, check=False)
    # status says 1 when something needs a look (a broker still connecting)
    assert rc == 0 or (rc == 1 and args[0] == "status"), (rc, out, err)
    return json.loads(out)


def test_status_open_mode_watch(broker, gates):
    g = gates(PEOPLE, broker.port)
    g.start()
    wait_for(lambda: os.path.exists(g.control), 10, "control socket")
    # a watcher from the start: passages, the operator's open, the mode
    watch = subprocess.Popen([os.path.join(BUILD, "wicketctl"), "-c", g.conf, "watch", "--json"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: ctl_json(g, "status")["watchers"] == 1, 10, "the watcher connected")
        st = ctl_json(g, "status")
        assert st["site"] == "test" and st["gate"] == "g1" and st["mode"] == "normal"
        assert st["mode_set_by"] == "config" and st["rules_version"] == 1
        assert st["lanes"] == {"main": {"direction": "in", "thermal": "thermal1",
                                        "reader": "reader1", "gate": "gate1"}}
        assert set(st["devices"]) == {"thermal1", "reader1", "gate1"}
        assert st["broker"]["enabled"] is True and st["broker"]["port"] == broker.port
        assert st["pid"] == g.wicketd.p.pid and st["uptime_s"] >= 0
        # healthy: the table and exit 0 once the devices answered and the broker is up
        wait_for(lambda: g.ctl("status", check=False)[0] == 0, 10 * SLOW, "status exit 0")
        rc, out, _ = g.ctl("status")
        assert "LANE" in out and "main" in out and "thermal1" in out and "connected" in out

        wait_for(lambda: len(g.rows()) == 1, 10 * SLOW, "the first passage")
        rc, out, err = g.ctl("open", "main")
        assert rc == 0 and "gate gate1 opens once" in out, (out, err)
        rows = wait_for(lambda: len(g.rows()) == 2 and g.rows(), 5, "the operator's passage")
        assert (rows[1]["decision"], rows[1]["reason"], rows[1]["credential"]) == \
            ("allow", "operator_open", None)
        con = sqlite3.connect(g.db)
        msg = con.execute("SELECT message FROM event WHERE seq = ?", (rows[1]["seq"],)).fetchone()[0]
        con.close()
        assert msg.startswith("wicketctl (uid 0, pid "), msg
        wait_for(lambda: len(g.opens()) == 2, 5, "two gate opens at the simulator")

        r = ctl_json(g, "mode", "open")
        assert r == {"mode": "open", "was": "normal"}
        assert ctl_json(g, "status")["mode_set_by"] == "command"
        # an unknown card at 9 s is let in by the open mode
        rows = wait_for(lambda: len(g.rows()) == 3 and g.rows(), 15 * SLOW, "the third passage")
        assert (rows[2]["credential"], rows[2]["decision"], rows[2]["reason"]) == \
            ("7777", "allow", "emergency_open")
        # the watcher got the passage when it was decided, before its
        # commit; give its output a moment, then interrupt it
        time.sleep(0.5 * SLOW)
        watch.send_signal(signal.SIGINT)
        out, err = watch.communicate(timeout=10)
    finally:
        if watch.poll() is None:
            watch.kill()
    assert watch.returncode == 0, err
    # device events (a device answering for the first time) may come too
    events = [e for e in map(json.loads, out.splitlines()) if e["event"] in ("passage", "mode")]
    assert [(e["event"], e.get("reason") or e.get("mode")) for e in events] == [
        ("passage", "resident"), ("passage", "operator_open"), ("mode", "open"),
        ("passage", "emergency_open")]
    assert events[0]["credential"] == "1001" and events[0]["temperature"] == 36.6
    assert events[0]["person_id"] == "p-1001"
    assert events[2]["by"].startswith("wicketctl (uid 0")

    # --count: the next event ends it
    watch = subprocess.Popen([os.path.join(BUILD, "wicketctl"), "-c", g.conf, "watch", "--json",
                              "--count", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    wait_for(lambda: ctl_json(g, "status")["watchers"] == 1, 10, "the second watcher")
    ctl_json(g, "mode", "lockdown")
    ctl_json(g, "mode", "open")
    out, err = watch.communicate(timeout=10)
    assert watch.returncode == 0 and json.loads(out)["mode"] == "lockdown", (out, err)

    # a reload keeps a mode set by command while the config's own is unchanged
    g.wicketd.p.send_signal(signal.SIGHUP)
    g.wicketd.wait_line("configuration reloaded", 10)
    assert ctl_json(g, "status")["mode"] == "open"
    # usage errors and refusals, each with its exit code and a reason
    rc, _, err = g.ctl("open", "nosuch", check=False)
    assert rc == 1 and "no lane 'nosuch'" in err
    rc, _, err = g.ctl("mode", "party", check=False)
    assert rc == 1 and "'party' is not one of" in err
    rc, _, err = g.ctl("open", check=False)
    assert rc == 2 and "usage: wicketctl open" in err
    rc, out, _ = g.ctl("watch", "--help", check=False)
    assert rc == 0 and out.startswith("usage: wicketctl watch")
    rc, _, err = g.ctl("watch", "--count", "0", check=False)
    assert rc == 2 and "--count" in err


def test_unreachable_daemon(tmp_path, broker, gates):
    g = gates("10 - end\n", broker.port)
    rc, _, err = g.ctl("status", check=False)
    assert rc == 3 and "no such socket: is wicketd running?" in err
    # a socket left by a crash: nobody listens
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(g.control)
    s.close()
    rc, _, err = g.ctl("status", check=False)
    assert rc == 3 and "nobody listens" in err
    # ... and wicketd replaces it when it starts
    g.start()
    wait_for(lambda: g.ctl("status", check=False)[0] in (0, 1), 10, "status through the new socket")
    g.stop()
    assert not os.path.exists(g.control), "wicketd removes its socket when it stops"


def test_who_may_connect(broker, gates):
    g = gates("10 - end\n", broker.port)
    g.start()
    wait_for(lambda: os.path.exists(g.control), 10, "control socket")
    mode = os.stat(g.control).st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o660
    os.chmod(g.control_dir, 0o755)
    # the file mode keeps others out
    rc, _, err = g.ctl("status", check=False, user="nobody")
    assert rc == 3 and "permission denied" in err, err
    # with the file opened to all, SO_PEERCRED still does
    os.chmod(g.control, 0o666)
    rc, _, err = g.ctl("status", check=False, user="nobody")
    assert rc == 3 and "forbidden" in err and "uid 65534 is not root" in err, err
    g.wicketd.wait_line("control: refused pid", 5)
    # a member of wicketd's group (here root's, gid 0) may, as a supplementary group
    p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--groups=0",
                        os.path.join(BUILD, "wicketctl"), "--socket", g.control, "--json",
                        "status"], capture_output=True, text=True, timeout=30)
    assert p.returncode in (0, 1) and json.loads(p.stdout)["gate"] == "g1", p.stderr


def talk(path, data, read_until_close=False, timeout=5.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    s.sendall(data)
    buf = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
            if not read_until_close and buf.endswith(b"\n"):
                break
    finally:
        s.close()
    return [json.loads(l) for l in buf.decode().splitlines()]


def test_bad_requests(broker, gates):
    g = gates("10 - end\n", broker.port)
    g.start()
    wait_for(lambda: os.path.exists(g.control), 10, "control socket")
    path = g.control
    # each mistake is answered, and the connection stays usable
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(path)
    f = s.makefile("rwb")
    cases = [
        (b'{"cmd": "status"', "bad_request", "not JSON: 1:"),
        (b'["status"]', "bad_request", 'string "cmd"'),
        (b'{"command": "status"}', "bad_request", 'string "cmd"'),
        (b'{"cmd": 5}', "bad_request", 'string "cmd"'),
        (b'{"cmd": "reboot"}', "unknown_command", "'reboot' is not a command"),
        (b'{"cmd": "status", "verbose": true}', "bad_request", "verbose: unknown argument"),
        (b'{"cmd": "open"}', "bad_request", "lane: missing"),
        (b'{"cmd": "open", "lane": 3}', "bad_request", "lane: must be a string"),
        (b'{"cmd": "mode", "mode": "normal", "id": [1]}', "bad_request", "id: must be"),
        (b'\xff\xfe\x00garbage', "bad_request", "not JSON"),
    ]
    for req, code, text in cases:
        f.write(req + b"\n")
        f.flush()
        r = json.loads(f.readline())
        assert r["ok"] is False and r["error"] == code and text in r["message"], (req, r)
    f.write(b'{"cmd": "status", "id": "q1"}\r\n\n')
    f.flush()
    r = json.loads(f.readline())
    assert r["ok"] is True and r["id"] == "q1" and r["result"]["gate"] == "g1"
    f.close()   # the file object holds the socket open too
    s.close()
    # a line longer than the limit: answered, then the connection is closed
    r = talk(path, b'{"cmd":"status","x":"' + b"a" * 5000, read_until_close=True)
    assert r == [{"ok": False, "error": "too_long",
                  "message": "a request line is at most 4096 bytes"}]
    # a request never finished: closed after 5 s
    t0 = time.monotonic()
    r = talk(path, b'{"cmd":"sta', read_until_close=True, timeout=15)
    assert r[0]["error"] == "timeout" and 4.5 < time.monotonic() - t0 < 12
    # a client that connects and leaves mid-request, and many at once
    for _ in range(5):
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect(path)
        c.sendall(b'{"cmd":')
        c.close()
    # until wicketd has noticed them all: only the asking connection is left
    wait_for(lambda: talk(path, b'{"cmd":"status"}\n')[0]["result"]["control_clients"] == 1,
             10, "the clients that left to be gone")
    many = []
    for _ in range(40):
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect(path)     # blocking: waits for the backlog, never EAGAIN
        c.settimeout(5)
        many.append(c)
    busy = 0
    for c in many:
        c.sendall(b'{"cmd":"status"}\n')
        r = json.loads(c.makefile("rb").readline())
        busy += r.get("error") == "busy"
    for c in many:
        c.close()
    assert busy == 8, busy   # 32 at once
    # after all that, wicketd still answers and still runs
    r = talk(path, b'{"cmd":"status"}\n')
    assert r[0]["ok"] is True
    assert g.wicketd.p.poll() is None


def test_watchdog(tmp_path, broker, gates):
    """WATCHDOG=1 every WATCHDOG_USEC/2 while every worker turns, none once
    one is stuck (a test plugin whose thread hangs when told)."""
    plugdir = tmp_path / "plugins"
    plugdir.mkdir()
    for name in os.listdir(os.path.join(BUILD, "plugins")):
        os.symlink(os.path.join(BUILD, "plugins", name), str(plugdir / name))
    os.symlink(os.path.join(BUILD, "tests", "plugins", "stall.so"), str(plugdir / "stall.so"))
    stall = tmp_path / "stall"
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(10)
    try:
        g = gates("30 - end\n", broker.port,
                  extra_conf="[device stuck]\nplugin = stall\nstall_file = %s\n" % stall)
        text = open(g.conf).read().replace("plugin_dir = %s" % os.path.join(BUILD, "plugins"),
                                           "plugin_dir = %s" % plugdir)
        open(g.conf, "w").write(text)
        g.env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC="400000")
        g.start()
        assert sock.recv(256) == b"READY=1"
        t0 = time.monotonic()
        pings = 0
        while time.monotonic() - t0 < 2.0:
            pings += sock.recv(256) == b"WATCHDOG=1"
        assert 7 <= pings <= 12, pings    # every 200 ms
        stall.write_text("")
        g.wicketd.wait_line("no longer telling systemd", 5)
        assert "device stuck's worker" in g.wicketd.grep("no longer telling")[0]
        sock.settimeout(1.5)
        late = []
        try:
            while True:
                late.append(sock.recv(256))
        except socket.timeout:
            pass
        assert late.count(b"WATCHDOG=1") <= 2, late   # the ones already sent
        assert ctl_json(g, "status")["watchdog"] is True
    finally:
        sock.close()
