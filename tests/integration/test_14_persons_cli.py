"""wicketctl persons list | add | remove: a property manager's changes
reach the running gate within a second or two (a card added is allowed,
a person removed is unknown), list shows what the registry holds, bad
input is refused with the option named and the right exit status, and
root's writes leave the state directory's files with its owner."""
import grp
import json
import os
import pwd
import shutil
import subprocess
import tempfile
import time

import pytest

from conftest import BUILD, SLOW, VALGRIND, wait_for

FUTURE = "2099-12-31"
PAST = "2020-01-31"
# FUTURE as an until: the last second of that local day, in UTC
FUTURE_UNTIL = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.mktime((2099, 12, 31, 23, 59, 59, 0, 0, -1))))


def ctl(state, *args, user=None):
    """wicketctl --state-dir state ARGS (as user: (uid, gid)); returns
    (exit code, stdout, stderr).  Under WICKET_VALGRIND it runs under
    memcheck too."""
    argv = VALGRIND + [os.path.join(BUILD, "wicketctl"), "--state-dir", state] + list(args)
    if user:
        argv = ["setpriv", "--reuid=%d" % user[0], "--regid=%d" % user[1], "--clear-groups"] + argv
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60 * SLOW)
    assert p.returncode != 99, "valgrind found errors:\n" + p.stderr
    return p.returncode, p.stdout, p.stderr


def ok(state, *args, user=None):
    rc, out, err = ctl(state, *args, user=user)
    assert rc == 0, "wicketctl %s: exit %d\n%s%s" % (" ".join(args), rc, out, err)
    return out


def listed(state, *filters):
    return {p["id"]: p for p in json.loads(ok(state, "persons", "list", "--json", *filters))}


def version(state):
    return json.loads(ok(state, "persons", "export"))["version"]


BASE = {
    "households": [{"id": "h1", "unit": "Building 1, 101"}, {"id": "h2", "unit": "Building 1, 102"}],
    "persons": [
        {"id": "r1", "household": "h1", "role": "resident", "name": "Chen Hao"},
        {"id": "r2", "household": "h1", "role": "resident", "quarantine_until": FUTURE},
        {"id": "t1", "household": "h2", "role": "tenant", "valid_until": PAST},
        {"id": "v1", "role": "visitor", "host": "h2", "observation_until": FUTURE,
         "valid_from": "2026-01-01T08:00:00+08:00"},
        {"id": "s1", "role": "staff", "blocked": True},
    ],
    "credentials": [
        {"value": "1001", "kind": "card", "person": "r1"},
        {"value": "1002", "kind": "card", "person": "r1", "revoked": True},
        {"value": "Q1", "kind": "qr", "person": "v1"},
    ],
}


@pytest.fixture
def state(tmp_path):
    st = str(tmp_path / "state")
    path = str(tmp_path / "base.json")
    with open(path, "w") as f:
        json.dump(BASE, f)
    ok(st, "persons", "import", path)
    return st


def passages(g, n, timeout=20):
    return wait_for(lambda: len(g.rows()) >= n and g.rows(), timeout, "%d passage(s) in the ledger" % n)


def test_add_then_remove_reaches_the_running_gate(broker, gates):
    """A new card works at the gate within about a second of `persons
    add`; after `persons remove` it is unknown again."""
    gap = 4.0 * SLOW
    g = gates("1.0 person reader1 thermal1 5001 36.6\n"
              "%.1f person reader1 thermal1 5001 36.5\n"
              "%.1f person reader1 thermal1 5001 36.7\n" % (1 + gap, 1 + 2 * gap),
              broker.port, known=())
    g.start()
    rows = passages(g, 1)
    assert (rows[0]["decision"], rows[0]["reason"]) == ("deny", "unknown_credential")
    t0 = time.monotonic()
    rc, out, err = ctl(g.state, "persons", "add", "new1", "--household", "h1", "--card", "5001",
                       "--name", "Wang Fang", "--json")
    assert rc == 0, err
    added = json.loads(out)
    assert added == {"person": "new1", "added": True, "household": "h1", "household_added": False,
                     "credentials": 1, "version": 2}
    g.wicketd.wait_line("registry version 2 loaded", 3)
    assert time.monotonic() - t0 < 3.0 * SLOW
    rows = passages(g, 2)
    assert (rows[1]["person_id"], rows[1]["household_id"], rows[1]["decision"], rows[1]["reason"]) == \
        ("new1", "h1", "allow", "resident")
    wait_for(lambda: len(g.opens()) == 1, 10, "the gate opened for new1")

    t0 = time.monotonic()
    rc, out, err = ctl(g.state, "persons", "remove", "new1")
    assert rc == 0 and "removed person new1 and 1 card" in out, (out, err)
    g.wicketd.wait_line("registry version 3 loaded", 3)
    assert time.monotonic() - t0 < 3.0 * SLOW
    rows = passages(g, 3)
    assert (rows[2]["person_id"], rows[2]["decision"], rows[2]["reason"]) == (None, "deny", "unknown_credential")
    # the ledger keeps who passed before
    assert rows[1]["person_id"] == "new1"
    assert len(g.opens()) == 1


def test_list_shows_fields_and_states(state):
    people = listed(state)
    assert sorted(people) == ["r1", "r2", "s1", "t1", "v1"]
    assert people["r1"] == {
        "id": "r1", "household": "h1", "role": "resident", "name": "Chen Hao",
        "valid_from": None, "valid_until": None, "host": None, "quarantine_until": None,
        "observation_until": None, "blocked": False, "states": [],
        "credentials": {"total": 2, "active": 1, "revoked": 1}}
    assert people["r2"]["states"] == ["quarantine"]
    assert people["r2"]["quarantine_until"] == FUTURE_UNTIL
    assert people["t1"]["states"] == ["expired"]
    v1 = people["v1"]
    assert (v1["household"], v1["host"], v1["states"]) == (None, "h2", ["observation"])
    assert v1["valid_from"] == "2026-01-01T00:00:00Z"
    assert v1["credentials"] == {"total": 1, "active": 1, "revoked": 0}
    assert people["s1"]["blocked"] is True and people["s1"]["states"] == ["blocked"]
    # the same with the global --json, and the table for people
    assert json.loads(ok(state, "--json", "persons", "list")) == list(people.values())
    table = ok(state, "persons", "list").splitlines()
    assert table[0].split()[:3] == ["ID", "HOUSEHOLD", "ROLE"]
    assert [l.split()[0] for l in table[1:]] == ["r1", "r2", "s1", "t1", "v1"]
    r2 = [l for l in table if l.startswith("r2 ")][0]
    assert "quarantine until 2099-12-31" in r2
    assert "Chen Hao" in table[1] and all(l == l.rstrip() for l in table)


@pytest.mark.parametrize("filters, ids", [
    (("--household", "h1"), ["r1", "r2"]),
    (("--household", "h1", "--household", "h2"), ["r1", "r2", "t1"]),
    (("--role", "visitor"), ["v1"]),
    (("--role", "resident", "--role", "staff"), ["r1", "r2", "s1"]),
    (("--state", "quarantine"), ["r2"]),
    (("--state", "observation"), ["v1"]),
    (("--state", "blocked"), ["s1"]),
    (("--state", "expired"), ["t1"]),
    (("--state", "expired", "--state", "blocked"), ["s1", "t1"]),
    (("--household", "h1", "--state", "quarantine"), ["r2"]),
    (("--household", "h2", "--role", "resident"), []),
])
def test_list_filters(state, filters, ids):
    assert sorted(listed(state, *filters)) == ids


def test_add_merges_and_raises_the_version(state):
    v = version(state)
    # a new household with --unit, a tenant with a lease and two cards
    out = ok(state, "persons", "add", "t2", "--household", "h3", "--unit", "Building 1, 103",
             "--role", "tenant", "--until", FUTURE, "--card", "3001", "--qr", "Q3")
    assert "added household h3" in out and "added person t2" in out
    assert version(state) == v + 1
    t2 = listed(state)["t2"]
    assert (t2["household"], t2["role"], t2["credentials"]) == ("h3", "tenant", {"total": 2, "active": 2, "revoked": 0})
    # an update names only what changes; the rest stays
    ok(state, "persons", "add", "t2", "--quarantine-until", FUTURE, "--name", "Li Na", "--revoke", "3001")
    t2 = listed(state)["t2"]
    assert (t2["household"], t2["role"], t2["name"], t2["states"]) == ("h3", "tenant", "Li Na", ["quarantine"])
    assert t2["valid_until"] == FUTURE_UNTIL
    assert t2["credentials"] == {"total": 2, "active": 1, "revoked": 1}
    # an empty value clears; --card makes a revoked card active again
    ok(state, "persons", "add", "t2", "--quarantine-until", "", "--card", "3001")
    t2 = listed(state)["t2"]
    assert t2["states"] == [] and t2["quarantine_until"] is None
    assert t2["credentials"]["active"] == 2
    # a visitor: the role follows from --host
    ok(state, "persons", "add", "v2", "--host", "h1", "--until", FUTURE)
    assert listed(state)["v2"]["role"] == "visitor"
    exported = json.loads(ok(state, "persons", "export"))
    assert exported["version"] == v + 4
    assert {"id": "h3", "unit": "Building 1, 103"} in exported["households"]


@pytest.mark.parametrize("args, code, expect", [
    # the registry does not hold what the options refer to: 1
    (("p9", "--household", "h9"), 1, ["--household", '"h9"', "--unit"]),
    (("p9", "--household", "h1", "--card", "1001"), 1, ["--card 1001", 'person "r1"']),
    (("p9", "--role", "visitor", "--host", "h9"), 1, ["--host", '"h9"']),
    (("r2", "--revoke", "1001"), 1, ["--revoke 1001", 'person "r1"']),
    # bad values and usage: 2
    (("p9", "--household", "h1", "--until", "2026-02-30"), 2, ["--until", "2026-02-30"]),
    (("p9", "--household", "h1", "--from", "tomorrow"), 2, ["--from", "tomorrow"]),
    (("p9", "--household", "h1", "--role", "landlord"), 2, ["--role", "landlord"]),
    (("p9", "--household", "h1", "--role", "resident", "--host", "h2"), 2, ["--host", "only a visitor"]),
    (("p9", "--household", "h1", "--card", "10 01"), 2, ["--card 10 01", "ASCII"]),
    (("p9", "--household", "h1", "--blocked", "maybe"), 2, ["--blocked", "maybe"]),
    (("p 9", "--household", "h1"), 2, ["ID", "spaces"]),
    (("p9",), 2, ["--household"]),
    (("p9", "--household", "h1", "--colour", "red"), 2, ["--colour"]),
    (("p9", "--household", "h1", "--until"), 2, ["--until", "needs a value"]),
    (("--household", "h1"), 2, ["no ID"]),
    (("t1", "--from", "2099-01-01"), 2, ["valid_until", "before valid_from", "--until"]),
])
def test_add_refuses_bad_input(state, args, code, expect):
    v = version(state)
    before = ok(state, "persons", "export")
    rc, out, err = ctl(state, "persons", "add", *args)
    assert rc == code, (rc, out, err)
    for e in expect:
        assert e in err, (e, err)
    assert ok(state, "persons", "export") == before and version(state) == v


def test_remove(state):
    v = version(state)
    rc, out, err = ctl(state, "persons", "remove", "r1", "nobody-here")
    assert rc == 1 and 'no person "nobody-here"' in err and "nothing removed" in err, err
    assert "r1" in listed(state) and version(state) == v
    out = json.loads(ok(state, "persons", "remove", "--json", "r1", "t1", "r1"))
    assert out == {"removed": ["r1", "t1"], "credentials": 2, "version": v + 1}
    assert sorted(listed(state)) == ["r2", "s1", "v1"]
    creds = json.loads(ok(state, "persons", "export", "--table", "credentials"))["credentials"]
    assert [c["value"] for c in creds] == ["Q1"]
    # the households stay
    assert len(json.loads(ok(state, "persons", "export"))["households"]) == 2
    rc, out, err = ctl(state, "persons", "remove")
    assert rc == 2 and "no ID" in err


def test_help_and_usage(state, tmp_path):
    for cmd in ("list", "add", "remove", "import", "export"):
        rc, out, err = ctl(state, "persons", cmd, "--help")
        assert rc == 0 and out.startswith("usage: wicketctl persons " + cmd), (cmd, out, err)
    rc, out, err = ctl(state, "persons", "--help")
    assert rc == 0 and "persons list" in out and "persons remove" in out
    for args, what in ((("list", "--state", "sleeping"), "--state"), (("list", "--role", "boss"), "--role"),
                       (("list", "extra"), "extra"), (("frobnicate",), "frobnicate"),
                       (("list", "--bogus"), "--bogus")):
        rc, out, err = ctl(state, "persons", *args)
        assert rc == 2 and what in err, (args, rc, err)
    # no registry there: reading fails (1) and creates nothing
    empty = str(tmp_path / "empty")
    rc, out, err = ctl(empty, "persons", "list")
    assert rc == 1 and "registry.db" in err
    rc, out, err = ctl(empty, "persons", "remove", "r1")
    assert rc == 1 and not os.path.exists(empty)


def owner_of(path):
    st = os.stat(path)
    return st.st_uid, st.st_gid


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_root_leaves_files_to_the_state_directory_owner():
    """wicketd runs as the owner of its state directory (here nobody:
    nogroup); wicketctl as root must not leave files there that the
    daemon cannot open."""
    try:
        who = (pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid)
    except KeyError:
        pytest.skip("no user nobody or group nogroup")
    if shutil.which("setpriv") is None:
        pytest.skip("no setpriv")
    top = tempfile.mkdtemp(prefix="wicket-own-")
    try:
        os.chmod(top, 0o755)        # the daemon's user must reach its directory
        state = os.path.join(top, "state")
        os.mkdir(state, 0o750)
        os.chown(state, *who)
        # an import file only root may read: read before root is given up
        src = os.path.join(top, "base.json")
        with open(src, "w") as f:
            json.dump(BASE, f)
        os.chmod(src, 0o600)

        def files():
            names = sorted(os.listdir(state))
            bad = {n: owner_of(os.path.join(state, n)) for n in names
                   if owner_of(os.path.join(state, n)) != who}
            assert not bad, "not owned by nobody:nogroup: %r" % bad
            return names

        ok(state, "persons", "import", src)
        assert files() == ["registry.db"]
        assert os.stat(os.path.join(state, "registry.db")).st_mode & 0o007 == 0
        ok(state, "persons", "add", "p1", "--household", "h1", "--card", "7001")
        ok(state, "persons", "list")
        ok(state, "persons", "remove", "r2")
        files()
        # the daemon's user holds the database open (its -wal and -shm
        # exist) while root writes: all of them stay the owner's
        holder = subprocess.Popen(
            ["setpriv", "--reuid=%d" % who[0], "--regid=%d" % who[1], "--clear-groups",
             "/usr/bin/python3", "-c",
             "import sqlite3, sys\n"
             "c = sqlite3.connect(sys.argv[1])\n"
             "c.execute('SELECT count(*) FROM person').fetchone()\n"
             "print('open', flush=True)\n"
             "sys.stdin.readline()\n", os.path.join(state, "registry.db")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout.readline().strip() == "open"
            ok(state, "persons", "add", "p2", "--household", "h2", "--card", "7002")
            assert "registry.db-wal" in files()
        finally:
            holder.stdin.close()
            holder.wait(10)
        # and the daemon's user can still write the registry root wrote
        ok(state, "persons", "add", "p3", "--household", "h1", "--card", "7003", user=who)
        assert sorted(listed(state)) == ["p1", "p2", "p3", "r1", "s1", "t1", "v1"]
        files()
    finally:
        shutil.rmtree(top)
