"""The serial-scanner plugin (issue 6): a QR or barcode scanner on a tty,
played by a real pseudo-terminal.  The test writes to the master; the
scanner's `serial` is a symlink to the slave, as /dev/serial/by-id/...
is to /dev/ttyACM0, so unplugging is closing the master and removing the
link, and plugging in again is a new pty behind the same link.

wicketd runs for real with one lane whose reader is the scanner, against
a real broker, and is checked from outside: passages on MQTT and in the
ledger, device events, `wicketctl status --json` device health, the log.

- good lines are credentials: a known card is allowed, an unknown one
  denied; input waiting in the tty before wicketd opened it is flushed;
- a line with a control byte, a line over max_line_length and a partial
  line without terminator are each rejected, give no passage, are counted
  (bad_values) and logged without their content, and the next line is
  read normally;
- codes of 63 bytes go as they are, longer ones (64, a 200-character QR
  code) whole through emit_code: the core denies them as unknown and
  neither logs nor records their content;
- the tty going away is one device fault however many reopens fail, and
  coming back (2 s reopen) is one recovery; a partial line cut by the
  unplug is forgotten; a tty missing at start is the same fault spell and
  wicketd runs on;
- the tty is exclusive: another user's open is refused (TIOCEXCL) and
  the flock is held;
- `wicketd -t`: bad values, unknown and missing keys, each at FILE:LINE,
  and no tty is opened.
"""
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest

from conftest import (BUILD, PROFILES, RULES, SLOW, VALGRIND, Proc, dump_on_failure, wait_for,
                      wicketctl)

WICKETD = os.path.join(BUILD, "wicketd")
LONG63 = "C" * 63       # the longest credential the registry holds
KNOWN = ("1001", "1003", LONG63)


def registry(known):
    """Each known code a resident's card (person ids short: a code may
    be 63 bytes)."""
    return {
        "households": [{"id": "h1", "unit": "Building 1, 101"}],
        "persons": [{"id": "p%d" % i, "household": "h1", "role": "resident"}
                    for i in range(len(known))],
        "credentials": [{"value": k, "kind": "card", "person": "p%d" % i}
                        for i, k in enumerate(known)],
    }


class Tty:
    """A pseudo-terminal behind a fixed path, standing in for the
    scanner's tty."""

    def __init__(self, path):
        self.path = path
        self.master = None
        self.slave = None
        self.slave_fd = None

    def plug(self, keep_slave=False):
        """A new pty behind path.  keep_slave: hold the slave open, so
        that what is written now waits in the tty for its next reader
        (with nobody holding it, the kernel drops it at once)."""
        m, s = os.openpty()
        self.slave = os.ttyname(s)
        if keep_slave:
            self.slave_fd = s
        else:
            os.close(s)
        os.symlink(self.slave, self.path)
        self.master = m

    def release_slave(self):
        if self.slave_fd is not None:
            os.close(self.slave_fd)
            self.slave_fd = None

    def unplug(self):
        os.unlink(self.path)
        os.close(self.master)
        self.master = None

    def send(self, data):
        assert os.write(self.master, data) == len(data)

    def close(self):
        self.release_slave()
        if self.master is not None:
            os.close(self.master)
            self.master = None


class ScannerGate:
    """wicketd with one lane whose reader is the serial scanner scan1."""

    def __init__(self, tmp, broker_port, device=None, known=KNOWN, extra=""):
        """device: {key: value} over scan1's keys (None drops one);
        extra: more sections, as they are."""
        self.tmp = tmp
        self.tty = Tty(os.path.join(tmp, "scanner"))
        self.state = os.path.join(tmp, "state")
        self.db = os.path.join(self.state, "ledger.db")
        # a UNIX socket path holds 107 bytes: pytest's tmp paths can be longer
        self.control_dir = tempfile.mkdtemp(prefix="wk-", dir="/tmp")
        self.conf = os.path.join(tmp, "wicketd.conf")
        keys = {"serial": self.tty.path, "baud": "115200", "line_timeout_ms": "300"}
        keys.update(device or {})
        with open(self.conf, "w") as f:
            f.write("[wicketd]\nsite = test\ngate = g1\nstate_dir = %s\nplugin_dir = %s\n"
                    "profile_dir = %s\nrules = %s\nlog_level = debug\ncontrol_socket = %s\n\n"
                    "[mqtt]\nhost = 127.0.0.1\nport = %d\nreconnect_min_ms = 200\n"
                    "reconnect_max_ms = 1000\n\n"
                    "[device scan1]\nplugin = serial-scanner\n%s\n"
                    "[lane main]\ndirection = in\nreader = scan1\n\n"
                    "[privacy]\npublish_fields = credential\n%s"
                    % (self.state, os.path.join(BUILD, "plugins"), PROFILES, RULES,
                       os.path.join(self.control_dir, "control.sock"), broker_port,
                       "".join("%s = %s\n" % kv for kv in keys.items() if kv[1] is not None),
                       extra))
        os.makedirs(self.state, exist_ok=True)
        reg = os.path.join(tmp, "registry.json")
        with open(reg, "w") as f:
            json.dump(registry(known), f)
        wicketctl("--state-dir", self.state, "persons", "import", reg)
        self.wicketd = None

    def start(self):
        self.wicketd = Proc(VALGRIND + [WICKETD, "-c", self.conf], "wicketd", stream="stderr")

    def health(self):
        """scan1's entry in wicketctl status --json (exit 1 while a
        device is in fault)."""
        _, out, _ = wicketctl("-c", self.conf, "--json", "status", check=False)
        try:
            return json.loads(out)["devices"]["scan1"]
        except (ValueError, KeyError):
            return {}

    def rows(self):
        import sqlite3
        if not os.path.exists(self.db):
            return []
        con = sqlite3.connect(self.db)
        con.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in con.execute("SELECT * FROM passage ORDER BY seq")]
        except sqlite3.OperationalError:
            return []
        finally:
            con.close()

    def log(self):
        return "\n".join(self.wicketd.output())

    def stop(self):
        rc = self.wicketd.stop() if self.wicketd else None
        self.tty.close()
        shutil.rmtree(self.control_dir, ignore_errors=True)
        return rc


@pytest.fixture
def scanners(tmp_path, request):
    made = []

    def make(*a, **kw):
        g = ScannerGate(str(tmp_path), *a, **kw)
        made.append(g)
        return g
    yield make
    rcs = [g.stop() for g in made]
    for g in made:
        dump_on_failure(request, [g.wicketd])
    for g, rc in zip(made, rcs):
        assert rc in (0, None), "wicketd exit %s (ASan, valgrind?):\n%s" % (
            rc, "\n".join(g.wicketd.output()[-60:]))


def dev_events(sub):
    """scan1's device events: [(state, message)]."""
    return [(e["state"], e["message"]) for e in sub.json("/event/device") if e["device"] == "scan1"]


def wait_state(sub, state, n=1, timeout=10):
    return wait_for(lambda: len([e for e in dev_events(sub) if e[0] == state]) >= n, timeout,
                    "%d device event(s) %s from scan1" % (n, state))


def passages(sub, n, timeout=10):
    return wait_for(lambda: len(sub.passages()) >= n and sub.passages(), timeout,
                    "%d passage(s) on MQTT" % n)


def summary(ps):
    return [(p["credential"], p["decision"], p["reason"]) for p in ps]


def test_codes_and_rejected_lines(broker, subscriber, scanners):
    g = scanners(broker.port)
    g.tty.plug(keep_slave=True)
    # scanned before wicketd listened: must never become a passage
    g.tty.send(b"1003\r")
    time.sleep(0.2)
    g.start()
    wait_state(subscriber, "ok")
    g.tty.release_slave()
    assert dev_events(subscriber) == [("ok", "connected")]
    g.tty.send(b"1001\r\n")
    ps = passages(subscriber, 1)
    assert summary(ps) == [("1001", "allow", "resident")]
    g.tty.send(b"7777\r")
    ps = passages(subscriber, 2)
    assert summary(ps)[1] == ("7777", "deny", "unknown_credential")

    # three bad lines, then a good one: each bad line counted once
    g.tty.send(b"CTRL\x07LINE\r")
    g.tty.send(b"L" * 600 + b"\r")          # max_line_length is 512
    g.tty.send(b"PARTIAL42")                # and no terminator
    wait_for(lambda: g.health().get("bad_values") == 3, 10, "3 rejected lines counted")
    g.tty.send(b"1003\n")
    ps = passages(subscriber, 3)
    time.sleep(0.5 * SLOW)                  # nothing else comes
    assert summary(subscriber.passages()) == [
        ("1001", "allow", "resident"),
        ("7777", "deny", "unknown_credential"),
        ("1003", "allow", "resident")]
    assert [(r["credential"], r["decision"]) for r in g.rows()] == [
        ("1001", "allow"), ("7777", "deny"), ("1003", "allow")]

    h = g.health()
    assert h["state"] == "ok" and h["responses"] == 3 and h["bad_values"] == 3, h
    assert h["faults"] == 0 and h["link_errors"] == 0, h
    assert "partial line of 9 bytes" in h["last_error"], h
    rejected = g.wicketd.grep("line rejected:")
    assert len(rejected) == 3, rejected
    assert "non-printable byte 0x07" in rejected[0] and "at offset 4" in rejected[0]
    assert "longer than max_line_length 512" in rejected[1]
    assert "partial line of 9 bytes with no terminator" in rejected[2]
    log = g.log()
    for content in ("CTRL", "LLLLLLLLLL", "PARTIAL"):
        assert content not in log, content
    assert dev_events(subscriber) == [("ok", "connected")]


def test_rejected_lines_rate_limited(broker, subscriber, scanners):
    """A scanner sending garbage (the wrong baud) does not flood the log:
    at most 5 warnings per 10 s, then one line with how many more."""
    g = scanners(broker.port)
    g.tty.plug()
    g.start()
    wait_state(subscriber, "ok")
    g.tty.send(b"GARBAGE\x00\r" * 20)
    wait_for(lambda: g.health().get("bad_values") == 20, 10, "20 rejected lines counted")
    more = wait_for(lambda: g.wicketd.grep("more rejected line(s) not logged"), 15,
                    "the summary of the lines not logged")
    warned = g.wicketd.grep("line rejected:")
    assert len(warned) <= 10, warned       # the burst may straddle two windows
    assert len(warned) + sum(int(l.split(" more rejected")[0].split()[-1]) for l in more) == 20
    assert subscriber.passages() == [] and "GARBAGE" not in g.log()


def test_long_codes(broker, subscriber, scanners):
    g = scanners(broker.port)
    g.tty.plug()
    g.start()
    wait_state(subscriber, "ok")
    qr = "WKP1." + "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" * 6 + "QRS"   # 200 characters
    assert len(qr) == 200
    g.tty.send(LONG63.encode() + b"\r")     # fits an event: the registry knows it
    passages(subscriber, 1)
    g.tty.send(LONG63.encode() + b"C\r")    # 64 bytes: through emit_code
    passages(subscriber, 2)
    g.tty.send(qr.encode() + b"\r\n")
    ps = passages(subscriber, 3)
    assert [(p["decision"]) for p in ps] == ["allow", "deny", "deny"], summary(ps)
    assert ps[0]["credential"] == LONG63
    rows = wait_for(lambda: len(g.rows()) == 3 and g.rows(), 10, "3 rows in the ledger")
    assert [r["decision"] for r in rows] == ["allow", "deny", "deny"]
    h = g.health()
    assert h["responses"] == 3 and h["bad_values"] == 0, h
    # whole codes reached wicketd (one passage each), and their content
    # is neither logged nor recorded nor published
    log = g.log()
    for code in (LONG63 + "C", qr):
        assert code not in log
        assert all(code not in (r["credential"] or "") for r in rows[1:])
        assert all(code not in p for (_, p, _) in subscriber.topic("/event/passage"))


def test_qr_passes_at_the_gate(tmp_path, broker, subscriber, scanners):
    """Signed passes scanned at the lane: a person's and a household's
    are allowed; expired, tampered, unknown-issuer passes and a person the
    registry does not know are denied with their own reason codes; the
    token is never logged, recorded or published."""
    tmp = str(tmp_path)
    for kid in ("ops", "rogue"):
        wicketctl("keygen", "--key-id", kid, "--out", os.path.join(tmp, kid + ".key"))
    issuers = os.path.join(tmp, "issuers")
    shutil.copy(os.path.join(tmp, "ops.key.pub"), issuers)

    def issue(*args, key="ops"):
        _, out, _ = wicketctl("pass", "issue", "--key", os.path.join(tmp, key + ".key"),
                              "--key-id", key, *args)
        return out.strip()

    person = issue("--person", "p0")
    household = issue("--household", "h1")
    expired = issue("--person", "p0", "--from", "2025-01-01", "--until", "2025-01-02")
    stranger = issue("--person", "nobody")
    rogue = issue("--person", "p0", key="rogue")
    # one character of the signature changed
    i = len(person) - 5
    tampered = person[:i] + ("A" if person[i] != "A" else "B") + person[i + 1:]
    tokens = [person, household, expired, tampered, rogue, stranger]
    g = scanners(broker.port, extra="[passes]\nissuers = %s\n" % issuers)
    g.tty.plug()
    g.start()
    wait_state(subscriber, "ok")
    for n, t in enumerate(tokens, 1):
        g.tty.send(t.encode() + b"\r")
        passages(subscriber, n)
    ps = passages(subscriber, len(tokens))
    assert [(p["decision"], p["reason"]) for p in ps] == [
        ("allow", "resident"), ("allow", "resident"), ("deny", "pass_expired"),
        ("deny", "pass_tampered"), ("deny", "pass_unknown_issuer"),
        ("deny", "pass_unknown_subject")], summary(ps)
    assert ps[0]["credential"].startswith("pass ops ") and ps[4]["credential"].startswith("pass rogue ")
    rows = wait_for(lambda: len(g.rows()) == len(tokens) and g.rows(), 10, "the rows")
    assert (rows[0]["person_id"], rows[0]["household_id"]) == ("p0", "h1")
    # a household's pass: the household, nobody in particular
    assert (rows[1]["person_id"], rows[1]["household_id"]) == (None, "h1")
    assert rows[3]["person_id"] is None     # tampered: nobody
    log = g.log()
    for t in tokens:
        assert t not in log
        assert all(t not in (r["credential"] or "") for r in rows)
        assert all(t not in p for (_, p, _) in subscriber.topic("/event/passage"))


def test_unplug_and_plug_back(broker, subscriber, scanners):
    # no line timeout: only the unplug may drop the partial line
    g = scanners(broker.port, device={"line_timeout_ms": "0"})
    g.tty.plug()
    g.start()
    wait_state(subscriber, "ok")
    g.tty.send(b"1001\r")
    passages(subscriber, 1)
    g.tty.send(b"PART")
    time.sleep(0.3 * SLOW)
    g.tty.unplug()
    ev = wait_state(subscriber, "fault")
    fault = [e for e in dev_events(subscriber) if e[0] == "fault"][0]
    assert g.tty.path in fault[1], fault
    assert g.wicketd.p.poll() is None
    # two reopens fail, still one fault spell
    time.sleep(5.0 * SLOW)
    assert [e[0] for e in dev_events(subscriber)] == ["ok", "fault"]
    h = g.health()
    assert h["state"] == "fault" and h["faults"] == 1 and h["retry_ms"] == 2000, h
    assert h["link_errors"] >= 3, h         # the hang-up, then the failed opens
    assert "No such file or directory" in h["last_error"], h
    assert len(g.wicketd.grep("device fault:")) == 1
    g.tty.plug()
    wait_state(subscriber, "ok", 2, timeout=6)
    assert dev_events(subscriber)[1:] == [("fault", fault[1]), ("ok", "recovered")]
    g.tty.send(b"1003\r")
    ps = passages(subscriber, 2)
    time.sleep(0.3 * SLOW)
    # "PART" was forgotten, not glued to the next line
    assert summary(subscriber.passages()) == [("1001", "allow", "resident"),
                                              ("1003", "allow", "resident")]
    h = g.health()
    assert h["state"] == "ok" and h["faults"] == 1 and h["bad_values"] == 0, h


def test_tty_missing_at_start(broker, subscriber, scanners):
    g = scanners(broker.port)
    g.start()
    ev = wait_state(subscriber, "fault")
    assert [e[0] for e in dev_events(subscriber)] == ["fault"]
    assert "cannot open %s" % g.tty.path in dev_events(subscriber)[0][1]
    wait_for(lambda: g.health().get("state") == "fault", 10, "status: scan1 in fault")
    assert g.wicketd.p.poll() is None       # wicketd runs on
    time.sleep(2.5 * SLOW)
    g.tty.plug()
    wait_state(subscriber, "ok", timeout=6)
    assert [e[0] for e in dev_events(subscriber)] == ["fault", "ok"]
    g.tty.send(b"1001\r")
    assert summary(passages(subscriber, 1)) == [("1001", "allow", "resident")]
    h = g.health()
    assert h["state"] == "ok" and h["faults"] == 1 and h["link_errors"] >= 2, h


def test_tty_is_exclusive(broker, subscriber, scanners):
    g = scanners(broker.port)
    g.tty.plug()
    g.start()
    wait_state(subscriber, "ok")
    # TIOCEXCL does not stop root: another user, on a node they could open
    # (the pty itself: they cannot reach the link in the test's directory)
    os.chmod(g.tty.slave, 0o666)
    p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        "/usr/bin/python3", "-c",
                        "import os; os.open(%r, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)"
                        % g.tty.slave], capture_output=True, text=True, timeout=30)
    assert p.returncode != 0 and "Device or resource busy" in p.stderr, p.stderr
    # and a second wicketd (as root) finds it locked
    fd = os.open(g.tty.path, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)
    # the scanner still works for wicketd
    g.tty.send(b"1001\r")
    assert summary(passages(subscriber, 1)) == [("1001", "allow", "resident")]
    assert g.wicketd.stop() == 0
    # stopped: the lock is gone with it
    fd = os.open(g.tty.path, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)


# --- wicketd -t ------------------------------------------------------------

def check(path):
    r = subprocess.run(VALGRIND + [WICKETD, "-t", "-c", path], capture_output=True, text=True,
                       timeout=60 * SLOW)
    assert r.returncode != 99, "valgrind: " + r.stderr
    return r.returncode, r.stdout, r.stderr


def line_of(text, needle):
    for i, l in enumerate(text.split("\n"), 1):
        if l.startswith(needle):
            return i
    raise AssertionError(needle)


def test_good_config_opens_nothing(tmp_path, broker):
    g = ScannerGate(str(tmp_path), broker.port, {
        "baud": "921600", "data_bits": "7", "parity": "even", "stop_bits": "2",
        "max_line_length": "1024", "terminator": "crlf", "prefix": "]Q1", "suffix": "!",
        "line_timeout_ms": "60000", "description": "front door scanner"})
    try:
        # the tty does not exist: -t opens no device
        rc, out, err = check(g.conf)
        assert rc == 0 and out.strip() == "configuration OK", err
    finally:
        g.stop()


BAD = [
    ("baud = 14400", "baud: 14400 is not a serial speed (1200, 1800, 2400,"),
    ("baud = fast", "baud: 'fast' is not a serial speed"),
    ("colour = red", "unknown key 'colour'"),
    ("parity = mark", "parity: 'mark' is not one of none, even, odd"),
    ("data_bits = 9", "data_bits: 9 is out of range, expected 7..8"),
    ("stop_bits = 1.5", "stop_bits: '1.5' is not an integer, expected 1..2"),
    ("max_line_length = 1025", "max_line_length: 1025 is out of range, expected 1..1024"),
    ("max_line_length = 0", "max_line_length: 0 is out of range, expected 1..1024"),
    ("line_timeout_ms = 60001", "line_timeout_ms: 60001 is out of range, expected 0..60000"),
    ("terminator = nul", "terminator: 'nul' is not one of auto, cr, lf, crlf"),
    ("prefix = ]Q1]Q1]Q1]Q1]Q1]Q1", "prefix: 18 bytes, at most 16"),
    ("serial = ttyACM0", "serial: 'ttyACM0' is not an absolute path"),
]


@pytest.mark.parametrize("line,msg", BAD, ids=[b[0].split(" = ")[0] + "-" + str(i)
                                                for i, b in enumerate(BAD)])
def test_bad_key(tmp_path, line, msg):
    key, value = line.split(" = ")
    g = ScannerGate(str(tmp_path), 1883, {key: value})
    try:
        text = open(g.conf).read()
        rc, out, err = check(g.conf)
        assert rc != 0
        assert "%s:%d: device scan1: %s" % (g.conf, line_of(text, line), msg) in err, err
        assert err.count("device scan1:") == 1, err
    finally:
        g.stop()


def test_missing_serial(tmp_path):
    g = ScannerGate(str(tmp_path), 1883, {"serial": None})
    try:
        text = open(g.conf).read()
        rc, out, err = check(g.conf)
        assert rc != 0
        assert "%s:%d: device scan1: missing key 'serial'" % (
            g.conf, line_of(text, "[device scan1]")) in err, err
    finally:
        g.stop()
