"""wicketctl push against a fleet: five real wicketd (test/g1..g5, each
with its own wicket-sim) on one mosquitto.  g1..g4 trust key A, g5 only key
B.  A push to every gate with key A is applied by g1..g4 and refused by g5
(unknown_key): the table says so, the exit code is 1, each gate's retained
rules/state carries the push's id, and the passages that follow are decided
under the new rules on g1..g4 and the old ones on g5.  A push to one gate
changes only that gate (--json, exit 0); the rules in force pushed again
are "unchanged" (exit 0), other rules under the same version a replay; a
rollback answers rolled_back; a stopped gate is "no answer" after
--timeout, and --all leaves it out (its retained status says offline)
unless --expect names it.  A registry file goes to lists/set and is
answered on lists/state; with -c and no --broker, push uses the gate's
[mqtt].  Without a fleet: TLS with a client certificate, bad usage is exit
2, an unreachable broker exit 3."""
import json
import os
import re
import subprocess

import pytest

from conftest import (BUILD, RULES, SLOW, VALGRIND, Broker, Gate, Subscriber,
                      dump_on_failure, free_port, registry_of, wait_for, wicketctl)
from test_04_mqtt import FakeBroker, Pki

GATES = ["g1", "g2", "g3", "g4", "g5"]
# a resident every 2 s for 3 minutes: passages go on through the pushes
SCENARIO = "".join("%.1f person reader1 thermal1 1001 36.6\n" % (2.0 * i)
                   for i in range(1, 90))
HEADER = ["GATE", "VERSION IN FORCE", "RESULT"]


class FleetGate(Gate):
    """conftest's Gate, named: its own directory and [wicketd] gate, and
    an [admin] section with its keys file."""

    def __init__(self, tmp, name, broker_port, keys):
        self.name = name
        os.makedirs(tmp, exist_ok=True)
        super().__init__(tmp, SCENARIO, broker_port,
                         extra_conf="[admin]\nkeys = %s\n" % keys)

    def write_conf(self, *args, **kw):
        super().write_conf(*args, **kw)
        with open(self.conf) as f:
            text = f.read()
        assert "\ngate = g1\n" in text
        with open(self.conf, "w") as f:
            f.write(text.replace("\ngate = g1\n", "\ngate = %s\n" % self.name, 1))


class Fleet:
    def __init__(self, tmp, broker):
        self.tmp = tmp
        self.broker = broker
        self.keys = {}
        for kid in ("key-a", "key-b"):
            pem = os.path.join(tmp, kid + ".pem")
            wicketctl("keygen", "--key-id", kid, "--out", pem)
            line = open(pem + ".pub").read()
            with open(os.path.join(tmp, kid + ".keys"), "w") as f:
                f.write("# trusted by this gate\n" + line)
            self.keys[kid] = pem
        self.gates = {}
        for g in GATES:
            keys = os.path.join(tmp, ("key-b" if g == "g5" else "key-a") + ".keys")
            self.gates[g] = FleetGate(os.path.join(tmp, g), g, broker.port, keys)
        self.version = 1    # the highest rules version pushed so far
        self.sub = Subscriber(broker.port, client_id="fleet-sub")
        wait_for(lambda: self.sub.subscribed, 5, "the test's subscriber")

    def start(self):
        for g in self.gates.values():
            g.start_sim()
        for g in self.gates.values():
            g.start_wicketd()
        for g in GATES:
            wait_for(lambda: self.status(g).get("state") == "online", 20,
                     "%s online" % g)
            wait_for(lambda: self.state(g) is not None, 10, "%s's rules/state" % g)

    def last(self, gate, suffix):
        msgs = self.sub.topic("wicket/test/%s/%s" % (gate, suffix))
        return json.loads(msgs[-1][1]) if msgs and msgs[-1][1] else None

    def status(self, gate):
        return self.last(gate, "status") or {}

    def state(self, gate, family="rules"):
        return self.last(gate, family + "/state")

    def answer(self, gate, pid):
        """The gate's retained rules/state once it answers push pid."""
        return wait_for(lambda: (self.state(gate) or {}).get("last", {}).get("id") == pid
                        and self.state(gate), 5, "%s's state for push %s" % (gate, pid))

    def rules(self, version):
        doc = json.load(open(RULES))
        doc["version"] = version
        path = os.path.join(self.tmp, "rules-%d.json" % version)
        with open(path, "w") as f:
            json.dump(doc, f, indent=1)
        return path

    def next_rules(self):
        self.version += 1
        return self.version, self.rules(self.version)

    def stop(self):
        self.sub.stop()
        for g in self.gates.values():
            g.stop()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp("fleet"))
    broker = Broker(tmp)
    f = Fleet(tmp, broker)
    try:
        try:
            f.start()
        except AssertionError:
            for g in f.gates.values():
                for p in (g.sim, g.wicketd):
                    if p is not None:
                        print("---- %s %s ----\n%s" % (g.name, p.name, "\n".join(p.output()[-30:])))
            raise
        yield f
    finally:
        f.stop()
        broker.stop()


@pytest.fixture(autouse=True)
def dump_fleet_on_failure(request):
    yield
    if "fleet" in request.fixturenames:
        f = request.getfixturevalue("fleet")
        dump_on_failure(request, [g.wicketd for g in f.gates.values()])


def run_push(port, pem, key_id, *args, json_first=False, conf=None):
    """wicketctl [--json] push --broker --site test --key --key-id ARGS;
    (rc, stdout, stderr); with conf: -c conf and no --broker.  Under
    WICKET_VALGRIND it runs under memcheck."""
    argv = VALGRIND + [os.path.join(BUILD, "wicketctl")] + (["--json"] if json_first else []) + \
        (["-c", conf] if conf else []) + ["push"] + \
        ([] if conf else ["--broker", "127.0.0.1:%d" % port]) + \
        ["--site", "test", "--key", pem, "--key-id", key_id] + list(args)
    p = subprocess.run(argv, capture_output=True, text=True, timeout=120 * SLOW)
    assert p.returncode != 99, "valgrind found errors:\n" + p.stderr
    return p.returncode, p.stdout, p.stderr


def push(fleet, *args, key="key-a", json_first=False, conf=None):
    """push to the fleet's broker with one of its keys."""
    return run_push(fleet.broker.port, fleet.keys[key], key, *args, json_first=json_first,
                    conf=conf)


def push_id(err):
    """The id push announces on stderr, which the gates put in last.id."""
    m = re.search(r"\(id ([0-9a-f]{16})\)", err)
    assert m, err
    return m.group(1)


def table(out):
    """The table as {gate: (version, result, rest)}; checks the header and
    that the rows are sorted by gate."""
    lines = out.rstrip("\n").split("\n")
    assert re.split(r"\s{2,}", lines[0].strip()) == HEADER, lines[0]
    rows = {}
    for line in lines[1:]:
        m = re.match(r"^(\S+)\s+(\S+)\s+(no answer|\S+)\s*(.*)$", line)
        assert m, line
        rows[m.group(1)] = (m.group(2), m.group(3), m.group(4))
    assert list(rows) == sorted(rows), "not sorted by gate: %r" % list(rows)
    return rows


def last_seq(g):
    rows = g.rows()
    return rows[-1]["seq"] if rows else 0


def passage_after(g, seq):
    """The second passage after seq (the first may have been decided just
    before the answer was read)."""
    rows = wait_for(lambda: [r for r in g.rows() if r["seq"] > seq][1:], 15 * SLOW,
                    "two passages at %s after seq %d" % (g.name, seq))
    return rows[0]


# --- the fleet, in order: each push's version is above every earlier one ---

def test_push_all_applied_by_four_refused_by_one(fleet):
    v, path = fleet.next_rules()
    rc, out, err = push(fleet, "--all", "--timeout", "%d" % (20 * SLOW), path)
    seqs = {g: last_seq(fleet.gates[g]) for g in GATES}
    assert rc == 1, (rc, out, err)
    rows = table(out)
    assert set(rows) == set(GATES), out
    for g in GATES[:4]:
        assert rows[g] == (str(v), "applied", ""), (g, out)
    ver, result, rest = rows["g5"]
    assert (ver, result) == ("1", "refused"), out
    assert rest.startswith("(unknown_key") and rest.endswith(")"), out
    assert "key-a" in rest, out     # the message names the key

    # each gate's retained state says the same, with this push's id
    pid = push_id(err)
    for g in GATES:
        st = fleet.answer(g, pid)
        if g == "g5":
            assert st["version"] == 1, st
            assert (st["last"]["result"], st["last"]["error"]) == ("refused", "unknown_key"), st
        else:
            assert st["version"] == v and st["previous"] == 1, st
            assert st["last"]["result"] == "applied" and st["last"]["version"] == v, st
            assert "error" not in st["last"] or st["last"]["error"] is None, st

    # and the passages go on, decided under the rules each gate has
    for g in GATES:
        row = passage_after(fleet.gates[g], seqs[g])
        assert row["rules_version"] == (1 if g == "g5" else v), (g, row)
        assert (row["decision"], row["reason"]) == ("allow", "resident"), (g, row)


def test_push_one_gate_json(fleet):
    before = {g: fleet.state(g)["version"] for g in GATES}
    v, path = fleet.next_rules()
    rc, out, err = push(fleet, "--gate", "g1", "--json", path)
    assert rc == 0, (rc, out, err)
    assert json.loads(out) == [{"gate": "g1", "result": "applied", "version": v,
                                "error": None, "message": None}]
    assert fleet.answer("g1", push_id(err))["version"] == v
    # nobody else changed, or even heard of it
    for g in GATES[1:]:
        st = fleet.state(g)
        assert st["version"] == before[g] and st["last"]["id"] != push_id(err), (g, st)


def test_push_one_gate_global_json_and_key_b(fleet):
    """g5 trusts key B: its own push is applied (global --json)."""
    v, path = fleet.next_rules()
    rc, out, err = push(fleet, "--gate", "g5", path, key="key-b", json_first=True)
    assert rc == 0, (rc, out, err)
    assert json.loads(out) == [{"gate": "g5", "result": "applied", "version": v,
                                "error": None, "message": None}]
    assert fleet.answer("g5", push_id(err))["version"] == v


def test_repush_unchanged_and_replay_refused(fleet):
    """The rules in force pushed again (signed anew: another expiry makes
    the envelope differ even within the same second) are "unchanged", a
    success, so a push can simply be repeated for the gates that missed it;
    other rules under the same version, or an older version, are a replay."""
    v = fleet.state("g1")["version"]
    rc, out, err = push(fleet, "--gate", "g1", "--expires", "2h", fleet.rules(v))
    assert rc == 0, (rc, out, err)
    assert table(out) == {"g1": (str(v), "unchanged", "")}, out

    other = fleet.rules(v)
    doc = json.load(open(other))
    doc["description"] = "the same version, other rules"
    json.dump(doc, open(other, "w"))
    for path in (other, fleet.rules(v - 1)):
        rc, out, err = push(fleet, "--gate", "g1", path)
        assert rc == 1, (rc, out, err)
        ver, result, rest = table(out)["g1"]
        assert (ver, result) == (str(v), "refused") and rest.startswith("(replay: "), out
        assert "1 refused it" in err
    assert fleet.answer("g1", push_id(err))["version"] == v


def test_rollback(fleet):
    st = fleet.state("g1")
    v, prev = st["version"], st["previous"]
    assert prev is not None and prev < v, st
    rc, out, err = push(fleet, "--gate", "g1", "--rollback", str(v))
    assert rc == 0, (rc, out, err)
    assert table(out) == {"g1": (str(prev), "rolled_back", "")}, out
    fleet.answer("g1", push_id(err))
    # the same rollback again (from the version no longer in force) is refused
    rc, out, err = push(fleet, "--gate", "g1", "--rollback", str(v), "--expires", "2h")
    assert rc == 1, (rc, out, err)
    ver, result, rest = table(out)["g1"]
    assert (ver, result) == (str(prev), "refused") and rest.startswith("(replay"), out


def test_push_lists_all(fleet):
    """A registry import file is a lists update (told by its members), its
    version its own; answered on lists/state."""
    before = {g: fleet.state(g, "lists")["version"] for g in GATES}
    v = max(before.values()) + 1
    doc = dict(registry_of(("1001", "1002", "1003", "1004")), version=v)
    path = os.path.join(fleet.tmp, "registry-%d.json" % v)
    with open(path, "w") as f:
        json.dump(doc, f)
    rc, out, err = push(fleet, "--all", "--timeout", "%d" % (20 * SLOW), path)
    assert rc == 1, (rc, out, err)
    assert "lists version %d" % v in err and "/all/lists/set" in err, err
    rows = table(out)
    assert all(rows[g] == (str(v), "applied", "") for g in GATES[:4]), out
    assert rows["g5"][:2] == (str(before["g5"]), "refused"), out
    pid = push_id(err)
    for g in GATES:
        st = wait_for(lambda: (fleet.state(g, "lists") or {}).get("last", {}).get("id") == pid
                      and fleet.state(g, "lists"), 5, "%s's lists/state" % g)
        assert st["version"] == (before[g] if g == "g5" else v), (g, st)


def test_push_with_the_gates_config(fleet):
    """On a gate's board: the broker from the config's [mqtt]."""
    v, path = fleet.next_rules()
    rc, out, err = push(fleet, "--gate", "g2", path, conf=fleet.gates["g2"].conf)
    assert rc == 0, (rc, out, err)
    assert table(out) == {"g2": (str(v), "applied", "")}, out


def test_stopped_gate_no_answer(fleet):
    g3 = fleet.gates["g3"]
    g3.wicketd.stop()
    wait_for(lambda: fleet.status("g3").get("state") == "offline", 10, "g3 offline")

    # named: it does not answer within --timeout
    v, path = fleet.next_rules()
    rc, out, err = push(fleet, "--gate", "g3", "--timeout", "2", path)
    assert rc == 1, (rc, out, err)
    assert table(out) == {"g3": ("-", "no answer", "")}, out
    assert "1 did not answer" in err
    rc, out, err = push(fleet, "--gate", "g3", "--timeout", "2", "--json", path)
    assert rc == 1 and json.loads(out) == [{"gate": "g3", "result": "no_answer",
                                             "version": None, "error": None,
                                             "message": None}], out

    # --all: an offline gate is not waited for
    v, path = fleet.next_rules()
    rc, out, err = push(fleet, "--all", "--timeout", "%d" % (20 * SLOW), path)
    rows = table(out)
    assert set(rows) == {"g1", "g2", "g4", "g5"}, out
    assert all(rows[g][:2] == (str(v), "applied") for g in ("g1", "g2", "g4")), out
    assert rows["g5"][1] == "refused" and rc == 1, (rc, out)

    # unless --expect names it
    v, path = fleet.next_rules()
    rc, out, err = push(fleet, "--all", "--expect", "g1,g3", "--timeout", "3", path)
    assert rc == 1, (rc, out, err)
    rows = table(out)
    assert rows["g1"][:2] == (str(v), "applied") and rows["g3"][1] == "no answer", out


# --- no fleet needed --------------------------------------------------------

def test_tls_broker(tmp_path):
    """TLS with a client certificate: connected (no gate there: "no answer",
    exit 1); a CA that did not sign the broker's certificate: exit 3."""
    pki = Pki(str(tmp_path))
    b = Broker(str(tmp_path), listener=pki.listener(), anonymous=False)
    try:
        pem = str(tmp_path / "k.pem")
        wicketctl("keygen", "--key-id", "k", "--out", pem)
        ca, cert, key = pki.client("sub")
        rc, out, err = run_push(b.port, pem, "k", "--cafile", ca, "--cert", cert, "--keyfile",
                                key, "--gate", "g9", "--timeout", "1", RULES)
        assert rc == 1 and table(out) == {"g9": ("-", "no answer", "")}, (rc, out, err)
        rc, out, err = run_push(b.port, pem, "k", "--cafile", pki.path("other-ca.crt"),
                                "--cert", cert, "--keyfile", key, "--gate", "g9",
                                "--timeout", "2", RULES)
        assert rc == 3 and out == "", (rc, out, err)
        # no client certificate: the broker refuses us
        rc, out, err = run_push(b.port, pem, "k", "--cafile", ca, "--gate", "g9",
                                "--timeout", "2", RULES)
        assert rc == 3 and out == "", (rc, out, err)
    finally:
        b.stop()


def test_mqtt_311_broker(tmp_path):
    """A broker that refuses MQTT 5 is spoken to in 3.1.1.  (The fake
    broker takes no subscriptions: exit 3 once that times out.)"""
    pem = str(tmp_path / "k.pem")
    wicketctl("keygen", "--key-id", "k", "--out", pem)
    fake = FakeBroker()
    try:
        rc, out, err = run_push(fake.port, pem, "k", "--gate", "g1", "--timeout", "2", RULES)
        assert rc == 3 and "did not confirm the subscriptions" in err, (rc, out, err)
        assert fake.levels == [5, 4], fake.levels
    finally:
        fake.stop()


def test_publish_refused_by_the_broker(tmp_path):
    """An ACL that lets push read the answers but not publish the update:
    the MQTT 5 PUBACK says so, exit 1 at once."""
    acl = str(tmp_path / "acl")
    with open(acl, "w") as f:
        f.write("topic read wicket/#\n")
    b = Broker(str(tmp_path), extra="acl_file %s\n" % acl)
    try:
        pem = str(tmp_path / "k.pem")
        wicketctl("keygen", "--key-id", "k", "--out", pem)
        rc, out, err = run_push(b.port, pem, "k", "--gate", "g1", RULES)
        assert rc == 1 and out == "", (rc, out, err)
        assert "the broker refused the update on wicket/test/g1/rules/set" in err, err
    finally:
        b.stop()


def test_broker_unreachable(tmp_path):
    pem = str(tmp_path / "k.pem")
    wicketctl("keygen", "--key-id", "k", "--out", pem)
    rc, out, err = run_push(free_port(), pem, "k", "--gate", "g1", RULES)
    assert rc == 3 and out == "", (rc, out, err)
    assert "cannot connect to the broker" in err


@pytest.mark.parametrize("args, needle", [
    (["--gate", "g1", "--all"], "--gate and --all"),
    ([], "--gate GATE or --all"),
    (["--gate", "all"], "--gate"),
    (["--gate", "g1", "--expect", "g2"], "--expect"),
    (["--all", "--expect", "g1,bad/name", "x.json"], "--expect"),
    (["--gate", "g1", "--timeout", "0", "x.json"], "--timeout"),
    (["--gate", "g1", "--rollback", "3", "x.json"], "--rollback"),
    (["--gate", "g1", "--kind", "cmd", "x.json"], "--kind"),
    (["--gate", "g1", "-"], "--kind"),
])
def test_usage_errors(tmp_path, args, needle):
    rc, out, err = run_push(free_port(), str(tmp_path / "none.pem"), "k", *args)
    assert rc == 2 and out == "" and needle in err, (rc, out, err)
