"""Integration harness: real mosquitto, real wicket-sim (Modbus TCP), real
wicketd, all on free 127.0.0.1 ports, checked from the outside: MQTT
messages seen by an independent subscriber, SQLite rows, and the gate
commands the simulator logs."""
import json
import os
import pwd
import signal
import socket
import sqlite3
import shutil
import subprocess
import tempfile
import threading
import time

import paho.mqtt.client as mqtt
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("WICKET_BUILD", os.path.join(REPO, "build"))
PROFILES = os.path.join(REPO, "etc", "wicket", "profiles")
RULES = os.path.join(REPO, "etc", "wicket", "rules.json")
# WICKET_VALGRIND=1 runs wicketd and wicket-sim under memcheck; any error
# or definite leak makes the process exit 99, which Proc.stop() reports.
VALGRIND = ["valgrind", "-q", "--error-exitcode=99", "--leak-check=full",
            "--suppressions=" + os.path.join(REPO, "tests", "valgrind.supp"),
            "--errors-for-leak-kinds=definite", "--show-leak-kinds=definite"] \
    if os.environ.get("WICKET_VALGRIND") == "1" else []
SLOW = 4.0 if VALGRIND else 1.0


def registry_of(known):
    """A registry document: each credential a resident of household h1."""
    return {
        "households": [{"id": "h1", "unit": "Building 1, 101"}],
        "persons": [{"id": "p-%s" % k, "household": "h1", "role": "resident"} for k in known],
        "credentials": [{"value": k, "kind": "card", "person": "p-%s" % k} for k in known],
    }


def wicketctl(*args, check=True):
    """Run wicketctl; returns (exit code, stdout, stderr)."""
    p = subprocess.run([os.path.join(BUILD, "wicketctl")] + list(args), capture_output=True,
                       text=True, timeout=60)
    if check and p.returncode != 0:
        raise AssertionError("wicketctl %s: exit %d\n%s%s" % (" ".join(args), p.returncode,
                                                               p.stdout, p.stderr))
    return p.returncode, p.stdout, p.stderr


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports(n):
    """n different free ports: all held at once while they are chosen,
    so the kernel cannot hand out one of them twice."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def wait_for(pred, timeout=10.0, what="condition"):
    timeout *= SLOW
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))


class Proc:
    """A child process whose output lines are collected by a thread."""

    def __init__(self, argv, name, stream="stdout", env=None):
        self.name = name
        self.lines = []
        self.lock = threading.Lock()
        self.p = subprocess.Popen(
            argv, stdout=subprocess.PIPE if stream == "stdout" else subprocess.DEVNULL,
            stderr=subprocess.PIPE if stream == "stderr" else subprocess.STDOUT,
            stdin=subprocess.DEVNULL, text=True, env=env)
        pipe = self.p.stdout if stream == "stdout" else self.p.stderr
        self.t = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self.t.start()

    def _read(self, pipe):
        for line in pipe:
            with self.lock:
                self.lines.append(line.rstrip("\n"))

    def output(self):
        with self.lock:
            return list(self.lines)

    def grep(self, text):
        return [l for l in self.output() if text in l]

    def wait_line(self, text, timeout=10.0):
        return wait_for(lambda: self.grep(text), timeout, "%s to print %r" % (self.name, text))

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout * SLOW)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.t.join(2)
        assert self.p.returncode != 99, "%s: valgrind found errors:\n%s" % (
            self.name, "\n".join(self.output()[-60:]))
        return self.p.returncode


class Broker:
    """mosquitto on a free port.  With persist=True it keeps its state (the
    sessions of clients with clean_session=False and their queued QoS 1
    messages) in tmp across a stop and a start on the same port, so a test
    subscriber misses nothing published while it reconnects."""

    def __init__(self, tmp, port=None, persist=False, listener="", anonymous=True, extra=""):
        """listener: more lines for the listener (TLS); anonymous=False with
        a password_file or use_identity_as_username; extra: more lines."""
        self.port = port or free_port()
        self.conf = os.path.join(tmp, "mosquitto-%d.conf" % self.port)
        with open(self.conf, "w") as f:
            f.write("listener %d 127.0.0.1\n%sallow_anonymous %s\n"
                    % (self.port, listener, "true" if anonymous else "false"))
            f.write(extra)
            if (listener or extra) and not persist:
                # keep files in the test's tmp directory readable (see below)
                f.write("user %s\n" % pwd.getpwuid(os.getuid()).pw_name)
            if persist:
                pdir = os.path.join(tmp, "mosquitto-%d.d" % self.port)
                os.makedirs(pdir, exist_ok=True)
                # as root mosquitto would switch to its own user, which
                # cannot write into the test's private tmp directory
                f.write("persistence true\npersistence_location %s/\nuser %s\n"
                        % (pdir, pwd.getpwuid(os.getuid()).pw_name))
            else:
                f.write("persistence false\n")
        self.proc = Proc(["mosquitto", "-c", self.conf], "mosquitto")
        wait_for(self._up, 10, "mosquitto on port %d" % self.port)

    def _up(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), 0.2).close()
            return True
        except OSError:
            return False

    def stop(self):
        self.proc.stop()


class Subscriber:
    """An independent MQTT client recording everything under wicket/#."""

    def __init__(self, port, client_id=None, clean_session=True, tls=None, username=None,
                 password=None):
        """tls: (ca_file, cert_file, key_file) to connect with TLS."""
        self.msgs = []
        self.lock = threading.Lock()
        self.c = mqtt.Client(client_id=client_id or "test-sub-%d" % os.getpid(),
                             clean_session=clean_session)
        if tls:
            self.c.tls_set(ca_certs=tls[0], certfile=tls[1], keyfile=tls[2])
        if username:
            self.c.username_pw_set(username, password)
        self.c.on_message = self._on_message
        self.subscribed = False
        self.c.on_connect = lambda c, u, f, rc: c.subscribe("wicket/#", qos=1)
        self.c.on_subscribe = self._on_subscribe
        if not clean_session:
            # a persistent session is meant to outlive broker restarts:
            # come back soon after one
            self.c.reconnect_delay_set(1, 2)
        self.c.connect("127.0.0.1", port, 30)
        self.c.loop_start()

    def _on_subscribe(self, c, u, mid, qos):
        self.subscribed = True

    def _on_message(self, c, u, m):
        with self.lock:
            self.msgs.append((m.topic, m.payload.decode("utf-8", "replace"), m.retain))

    def topic(self, suffix):
        with self.lock:
            return [(t, p, r) for (t, p, r) in self.msgs if t.endswith(suffix)]

    def json(self, suffix):
        return [json.loads(p) for (t, p, r) in self.topic(suffix)]

    def passages(self):
        # at least once: de-duplicate by id as consumers do
        seen = {}
        for m in self.json("/event/passage"):
            seen.setdefault(m["id"], m)
        return sorted(seen.values(), key=lambda m: int(m["id"].split(":")[1]))

    def stop(self):
        self.c.loop_stop()
        self.c.disconnect()


class SerialLine:
    """A serial line for Modbus RTU: a pair of pseudo-terminals joined by
    socat.  wicket-sim opens .sim, wicketd opens .master."""

    def __init__(self, tmp):
        self.sim = os.path.join(tmp, "line-sim")
        self.master = os.path.join(tmp, "line-wicketd")
        self.p = subprocess.Popen(
            ["socat", "-d", "-d", "pty,raw,echo=0,link=" + self.sim,
             "pty,raw,echo=0,link=" + self.master],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: os.path.exists(self.sim) and os.path.exists(self.master), 5, "socat's ptys")

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            self.p.wait(5)


@pytest.fixture
def serial_line(tmp_path):
    line = SerialLine(str(tmp_path))
    yield line
    line.stop()


class Gate:
    """wicket-sim playing thermal1, reader1 and gate1, and wicketd using them."""

    def __init__(self, tmp, scenario, broker_port, known=("1001", "1002", "1003"),
                 extra_lane="", thermal_profile="generic-ir-thermal", window_ms=2000,
                 publish_fields="credential, temperature", extra_conf="", mqtt_extra="",
                 mqtt_host="127.0.0.1", registry=None, rules=RULES, wicketd_extra="",
                 direction="in", line=None, device_conf=None, sim_verbose=False):
        """known: credentials of residents (see registry_of), or registry: a
        whole registry document, imported before wicketd starts; rules: the
        rules file; mqtt_extra / wicketd_extra: lines appended to [mqtt] /
        [wicketd]; mqtt_host: its host.  line: a SerialLine, to put the three
        devices on one Modbus RTU line as units 1, 2 and 3 instead of one TCP
        port each; device_conf: {device: {key: value}} over wicketd's device
        keys (value None drops the key); sim_verbose: wicket-sim -v."""
        self.tmp = tmp
        self.mqtt_extra = mqtt_extra
        self.mqtt_host = mqtt_host
        # a command wicketd is started under (e.g. unshare), before VALGRIND
        self.wrap = []
        self.extra_conf = extra_conf    # appended to wicketd.conf as it is
        self.rules = rules
        self.wicketd_extra = wicketd_extra
        self.direction = direction
        self.env = None     # the environment of wicketd (None: the tests')
        self.registry = registry if registry is not None else registry_of(known)
        self.imported = False
        self.ports = dict(zip(("thermal1", "reader1", "gate1"), free_ports(3)))
        self.units = {"thermal1": 1, "reader1": 2, "gate1": 3}
        self.line = line
        self.device_conf = device_conf or {}
        self.sim_verbose = sim_verbose
        self.broker_port = broker_port
        self.state = os.path.join(tmp, "state")
        # a UNIX socket path holds 107 bytes: pytest's tmp paths can be longer
        self.control_dir = tempfile.mkdtemp(prefix="wk-", dir="/tmp")
        self.control = os.path.join(self.control_dir, "control.sock")
        self.db = os.path.join(self.state, "ledger.db")
        self.scenario = os.path.join(tmp, "test.scenario")
        with open(self.scenario, "w") as f:
            f.write(scenario)
        self.sim_conf = os.path.join(tmp, "sim.conf")
        with open(self.sim_conf, "w") as f:
            f.write("[sim]\nscenario = %s\nprofile_dir = %s\nstart = connect\n" % (self.scenario, PROFILES))
            for name, kind, prof in (("thermal1", "thermal", thermal_profile),
                                     ("reader1", "reader", "modbus-card-reader"),
                                     ("gate1", "gate", "modbus-gate-relay")):
                if line:
                    where = "serial = %s\nunit = %d" % (line.sim, self.units[name])
                else:
                    where = "listen = 127.0.0.1:%d\nunit = 1" % self.ports[name]
                f.write("[device %s]\nkind = %s\nprofile = %s\n%s\n" % (name, kind, prof, where))
        self.conf = os.path.join(tmp, "wicketd.conf")
        self.publish_fields = publish_fields
        self.write_conf(known, extra_lane, thermal_profile, window_ms)
        self.sim = None
        self.wicketd = None

    def device_section(self, name, plugin, profile, keys):
        """One [device] section: the link (TCP port or RTU line and unit),
        keys, then device_conf over both."""
        if self.line:
            link = {"serial": self.line.master, "unit": str(self.units[name])}
        else:
            link = {"host": "127.0.0.1", "port": str(self.ports[name])}
        kv = dict(link, **keys)
        kv.update(self.device_conf.get(name, {}))
        return "[device %s]\nplugin = %s\nprofile = %s\n%s\n" % (
            name, plugin, profile,
            "".join("%s = %s\n" % (k, v) for k, v in kv.items() if v is not None))

    def write_conf(self, known, extra_lane="", thermal_profile="generic-ir-thermal", window_ms=2000):
        with open(self.conf, "w") as f:
            f.write(
                "[wicketd]\nsite = test\ngate = g1\nstate_dir = %s\nplugin_dir = %s\n"
                "profile_dir = %s\nrules = %s\nlog_level = debug\ncontrol_socket = %s\n%s\n"
                "[mqtt]\nhost = %s\nport = %d\nreconnect_min_ms = 200\nreconnect_max_ms = 1000\n%s\n"
                % (self.state, os.path.join(BUILD, "plugins"), PROFILES, self.rules,
                   self.control, self.wicketd_extra, self.mqtt_host, self.broker_port, self.mqtt_extra))
            f.write(self.device_section("thermal1", "modbus-thermal", thermal_profile,
                                        {"poll_ms": "50", "timeout_ms": "300",
                                         "backoff_max_ms": "1000"}))
            f.write(self.device_section("reader1", "modbus-reader", "modbus-card-reader",
                                        {"poll_ms": "50", "timeout_ms": "300"}))
            f.write(self.device_section("gate1", "modbus-gate", "modbus-gate-relay",
                                        {"poll_ms": "200", "timeout_ms": "300",
                                         "pulse_ms": "100"}))
            f.write(
                "[lane main]\ndirection = %s\nthermal = thermal1\nreader = reader1\ngate = gate1\n"
                "window_ms = %d\n%s\n"
                "[privacy]\npublish_fields = %s\n"
                % (self.direction, window_ms, extra_lane, self.publish_fields))
            if self.extra_conf:
                f.write("\n" + self.extra_conf)

    def start_sim(self):
        self.sim = Proc(VALGRIND + [os.path.join(BUILD, "wicket-sim")] + (["-v"] if self.sim_verbose else [])
                        + ["-c", self.sim_conf], "wicket-sim")
        self.sim.wait_line(" ready ", 10)

    def import_registry(self, doc=None, *extra):
        """Import a registry document (default: the Gate's) with wicketctl."""
        path = os.path.join(self.tmp, "registry-%d.json" % time.monotonic_ns())
        with open(path, "w") as f:
            json.dump(self.registry if doc is None else doc, f)
        os.makedirs(self.state, exist_ok=True)
        return wicketctl("--state-dir", self.state, "persons", "import", *extra, path)

    def start_wicketd(self):
        if not self.imported:
            self.import_registry()
            self.imported = True
        self.wicketd = Proc(self.wrap + VALGRIND + [os.path.join(BUILD, "wicketd"), "-c", self.conf], "wicketd",
                            stream="stderr", env=self.env)

    def start(self):
        self.start_sim()
        self.start_wicketd()

    def rows(self, where="1"):
        if not os.path.exists(self.db):
            return []
        con = sqlite3.connect(self.db)
        con.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in con.execute("SELECT * FROM passage WHERE %s ORDER BY seq" % where)]
        except sqlite3.OperationalError as e:
            if "no such table" in str(e):   # wicketd is creating the schema
                return []
            raise
        finally:
            con.close()

    def opens(self):
        return [l for l in self.sim.output() if "command=open" in l] if self.sim else []

    def stop(self):
        rc = None
        if self.wicketd:
            rc = self.wicketd.stop()
        if self.sim:
            self.sim.stop()
        shutil.rmtree(self.control_dir, ignore_errors=True)
        return rc

    def ctl(self, *args, check=True, user=None):
        """wicketctl against this gate: its config, so its control socket
        and state directory; user: run as that user (setpriv), with
        --socket instead of the config."""
        argv = [os.path.join(BUILD, "wicketctl"), "-c", self.conf] + list(args)
        if user is not None:
            # another user cannot read the test's config: the socket directly
            argv = [os.path.join(BUILD, "wicketctl"), "--socket", self.control] + list(args)
            pw = pwd.getpwnam(user)
            argv = ["setpriv", "--reuid=%d" % pw.pw_uid, "--regid=%d" % pw.pw_gid,
                    "--clear-groups"] + argv
        p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        if check and p.returncode != 0:
            raise AssertionError("wicketctl %s: exit %d\n%s%s" % (" ".join(args), p.returncode,
                                                                   p.stdout, p.stderr))
        return p.returncode, p.stdout, p.stderr


@pytest.fixture
def broker(tmp_path):
    b = Broker(str(tmp_path))
    yield b
    b.stop()


@pytest.fixture
def subscriber(broker):
    s = Subscriber(broker.port)
    wait_for(lambda: s.subscribed, 5, "subscriber subscribed")
    yield s
    s.stop()


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # keep each phase's report on the test item, for the fixtures below
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def dump_on_failure(request, procs):
    """After a failed test, print the last lines of each process."""
    rep = getattr(request.node, "rep_call", None)
    if rep is None or not rep.failed:
        return
    for p in procs:
        if p is not None:
            print("---- %s (last 60 lines) ----" % p.name)
            print("\n".join(p.output()[-60:]))


@pytest.fixture
def gates(tmp_path, request):
    made = []

    def make(*a, **kw):
        g = Gate(str(tmp_path), *a, **kw)
        made.append(g)
        return g
    yield make
    for g in made:
        g.stop()
    for g in made:
        dump_on_failure(request, [g.wicketd, g.sim])
