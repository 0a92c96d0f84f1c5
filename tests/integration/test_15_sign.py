"""wicketctl keygen and sign (issue 7, remote administration): keygen
writes a 0600 PKCS#8 key and the admin-keys line and never overwrites;
sign prints an envelope with exactly the design's members whose signed
document holds exactly the right members and values, the embedded rules or
registry equal to the input (types too), and a signature that Python's
cryptography verifies independently (and refuses once a byte is flipped);
invalid inputs are exit 1 with FILE:LINE[:COL], bad options exit 2 naming
the option."""
import base64
import calendar
import json
import os
import pty
import re
import stat
import subprocess
import time

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from conftest import BUILD, RULES, SLOW, VALGRIND

KEY_ID = "ops-2026"
ENVELOPE = ["wicket", "key", "signed", "sig"]
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def ctl(*args, cwd=None):
    """wicketctl ARGS; (exit code, stdout, stderr).  Under WICKET_VALGRIND
    it runs under memcheck too."""
    argv = VALGRIND + [os.path.join(BUILD, "wicketctl")] + list(args)
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60 * SLOW, cwd=cwd)
    assert p.returncode != 99, "valgrind found errors:\n" + p.stderr
    return p.returncode, p.stdout, p.stderr


def ok(*args):
    rc, out, err = ctl(*args)
    assert rc == 0, "wicketctl %s: exit %d\n%s%s" % (" ".join(args), rc, out, err)
    return out, err


def usage_error(option, *args):
    """args must be refused as bad usage (exit 2) with option named."""
    rc, out, err = ctl(*args)
    assert rc == 2, "wicketctl %s: exit %d, expected 2\n%s" % (" ".join(args), rc, err)
    assert option in err, "%r not named in: %s" % (option, err)
    assert out == ""
    return err


def b64(s):
    """Strict standard base64: padding, no line breaks, canonical."""
    assert re.fullmatch(r"[A-Za-z0-9+/]*={0,2}", s) and len(s) % 4 == 0, s[:80]
    raw = base64.b64decode(s, validate=True)
    assert base64.b64encode(raw).decode() == s
    return raw


def same(a, b):
    """Equal as JSON, types included (38.0 stays a float, 1 an int)."""
    assert type(a) is type(b), "%r vs %r" % (a, b)
    if isinstance(a, dict):
        assert list(a) == list(b), "%r vs %r" % (list(a), list(b))
        for k in a:
            same(a[k], b[k])
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            same(x, y)
    else:
        assert a == b, "%r vs %r" % (a, b)


def utc(s):
    assert TIME_RE.match(s), s
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))


@pytest.fixture
def key(tmp_path):
    """A new key: (private key path, Ed25519PublicKey from the .pub line)."""
    path = str(tmp_path / "admin.pem")
    out, _ = ok("keygen", "--key-id", KEY_ID, "--out", path)
    kid, alg, pub = out.split()
    assert (kid, alg) == (KEY_ID, "ed25519")
    return path, ed25519.Ed25519PublicKey.from_public_bytes(b64(pub))


def sign(key, *args):
    """Sign; returns (envelope, signed bytes, document) after checking the
    envelope's shape and the signature."""
    path, pub = key
    t0 = int(time.time())
    out, err = ok("sign", "--key", path, "--key-id", KEY_ID, "--site", "north", *args)
    t1 = int(time.time())
    assert out.endswith("\n") and out.count("\n") == 1, "not one line"
    env = json.loads(out)
    assert list(env) == ENVELOPE
    assert env["wicket"] == 1 and type(env["wicket"]) is int
    assert env["key"] == KEY_ID
    raw = b64(env["signed"])
    sig = b64(env["sig"])
    assert len(sig) == 64
    pub.verify(sig, raw)  # raises if it does not verify
    doc = json.loads(raw.decode("utf-8"))
    # compact, escaped as Python escapes (the test data has no exotic floats)
    assert raw == json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
    issued, expires = utc(doc["issued"]), utc(doc["expires"])
    assert t0 <= issued <= t1
    return env, raw, doc, issued, expires


# --- keygen -----------------------------------------------------------------

def test_keygen_writes_key_and_public_line(tmp_path):
    path = str(tmp_path / "k.pem")
    out, _ = ok("keygen", "--key-id", KEY_ID, "--out", path)
    st = os.stat(path)
    assert stat.S_IMODE(st.st_mode) == 0o600
    pem = open(path, "rb").read()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")  # PKCS#8, unencrypted
    priv = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(priv, ed25519.Ed25519PrivateKey)
    raw_pub = priv.public_key().public_bytes(serialization.Encoding.Raw,
                                             serialization.PublicFormat.Raw)
    line = "%s ed25519 %s\n" % (KEY_ID, base64.b64encode(raw_pub).decode())
    assert out == line
    assert open(path + ".pub").read() == line


def test_keygen_json(tmp_path):
    path = str(tmp_path / "k.pem")
    out, _ = ok("keygen", "--json", "--key-id", "a.b_c-1", "--out", path)
    j = json.loads(out)
    assert list(j) == ["key", "algorithm", "public"]
    assert j["key"] == "a.b_c-1" and j["algorithm"] == "ed25519"
    assert len(b64(j["public"])) == 32
    assert open(path + ".pub").read() == "a.b_c-1 ed25519 %s\n" % j["public"]


def test_keygen_refuses_to_overwrite(tmp_path):
    path = str(tmp_path / "k.pem")
    ok("keygen", "--key-id", KEY_ID, "--out", path)
    before = open(path, "rb").read(), open(path + ".pub").read()
    rc, out, err = ctl("keygen", "--key-id", KEY_ID, "--out", path)
    assert rc == 1 and path in err and "exists" in err
    assert (open(path, "rb").read(), open(path + ".pub").read()) == before
    # a stale .pub alone is not overwritten either, and no key is left
    other = str(tmp_path / "other.pem")
    open(other + ".pub", "w").write("old\n")
    rc, out, err = ctl("keygen", "--key-id", KEY_ID, "--out", other)
    assert rc == 1 and other + ".pub" in err
    assert not os.path.exists(other)
    assert open(other + ".pub").read() == "old\n"
    # a directory that does not exist
    rc, out, err = ctl("keygen", "--key-id", KEY_ID, "--out", str(tmp_path / "no" / "k.pem"))
    assert rc == 1 and "No such file" in err


@pytest.mark.parametrize("args,option", [
    ([], "--key-id"),
    (["--key-id", KEY_ID], "--out"),
    (["--out", "X"], "--key-id"),
    (["--key-id", "", "--out", "X"], "--key-id"),
    (["--key-id", "has space", "--out", "X"], "--key-id"),
    (["--key-id", "a/b", "--out", "X"], "--key-id"),
    (["--key-id", "x" * 65, "--out", "X"], "--key-id"),
    (["--key-id", KEY_ID, "--out", ""], "--out"),
    (["--key-id", KEY_ID, "--out", "X", "--bogus"], "--bogus"),
    (["--key-id", KEY_ID, "--out"], "--out"),
    (["--key-id", KEY_ID, "--out", "X", "extra"], "extra"),
])
def test_keygen_bad_usage(tmp_path, args, option):
    args = [str(tmp_path / a) if a == "X" else a for a in args]
    usage_error(option, "keygen", *args)
    assert os.listdir(str(tmp_path)) == []


def test_help():
    out, _ = ok("keygen", "--help")
    assert "NOT encrypted" in out and "0600" in out
    out, _ = ok("sign", "--help")
    for word in ("--kind", "--expires", "--all", "--cmd", "8 MiB"):
        assert word in out
    out, _ = ok("--help")
    assert "keygen" in out and "sign" in out


# --- sign: rules ------------------------------------------------------------

def rules_file(tmp_path, version=7, name="rules.json"):
    """The shipped rules with another version and strings that need
    escaping; returns (path, the document as Python sees it)."""
    doc = json.load(open(RULES))
    doc["version"] = version
    doc["description"] = 'quote " backslash \\ tab \t newline \n é ☃ \u0001 /'
    path = str(tmp_path / name)
    with open(path, "w") as f:
        json.dump(doc, f, indent=2, ensure_ascii=False)
    return path, json.loads(open(path, encoding="utf-8").read())


def test_sign_rules(tmp_path, key):
    path, doc = rules_file(tmp_path)
    env, raw, d, issued, expires = sign(key, "--gate", "gate-1", "--kind", "rules", path)
    assert list(d) == ["kind", "site", "gate", "version", "issued", "expires", "rules"]
    assert (d["kind"], d["site"], d["gate"], d["version"]) == ("rules", "north", "gate-1", 7)
    assert expires - issued == 3600
    same(d["rules"], doc)
    # floats written 34.0 stay floats for the gate's validator
    assert b'"below":34.0' in raw
    # the gate runs the same validator: the embedded rules check clean
    emb = str(tmp_path / "embedded.json")
    open(emb, "w").write(json.dumps(d["rules"]))
    ok("rules", "check", emb)


def test_signature_fails_for_any_flipped_byte(tmp_path, key):
    path, _ = rules_file(tmp_path)
    env, raw, d, _, _ = sign(key, "--all", "--kind", "rules", path)
    pub = key[1]
    sig = b64(env["sig"])
    for i in (0, len(raw) // 2, len(raw) - 1):
        bad = bytearray(raw)
        bad[i] ^= 0x01
        with pytest.raises(InvalidSignature):
            pub.verify(sig, bytes(bad))
    for i in (0, 63):
        bad = bytearray(sig)
        bad[i] ^= 0x80
        with pytest.raises(InvalidSignature):
            pub.verify(bytes(bad), raw)
    # and another key does not verify it
    other = ed25519.Ed25519PrivateKey.generate().public_key()
    with pytest.raises(InvalidSignature):
        other.verify(sig, raw)


def test_sign_rules_version_option(tmp_path, key):
    path, _ = rules_file(tmp_path, version=12)
    _, _, d, _, _ = sign(key, "--all", "--kind", "rules", "--version", "12", path)
    assert d["version"] == 12 and d["gate"] == "*"
    err = usage_error("--version", "sign", "--key", key[0], "--key-id", KEY_ID,
                      "--site", "north", "--all", "--kind", "rules", "--version", "13", path)
    assert "12" in err


def test_sign_invalid_rules_refused(tmp_path, key):
    doc = json.load(open(RULES))
    doc["rules"][2]["reason"] = "no_hostt"
    path = str(tmp_path / "bad.json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)
    rc, out, err = ctl("sign", "--key", key[0], "--key-id", KEY_ID, "--site", "north",
                       "--all", "--kind", "rules", path)
    assert rc == 1 and out == ""
    # the validator's own FILE:LINE:COL: PATH: message, as rules check says it
    rc2, _, check = ctl("rules", "check", path)
    assert rc2 == 1
    first = check.splitlines()[0]
    assert re.match(re.escape(path) + r":\d+:\d+: \$\.rules\[2\]\.reason: ", first)
    assert first in err.splitlines()
    assert "not signed" in err
    # not JSON at all: the parser's LINE:COL
    open(path, "w").write('{"version": 1,\n  "rules": [}\n')
    rc, out, err = ctl("sign", "--key", key[0], "--key-id", KEY_ID, "--site", "north",
                       "--all", "--kind", "rules", path)
    assert rc == 1 and out == "" and re.search(re.escape(path) + r":2:\d+: ", err)


# --- sign: times --------------------------------------------------------------

@pytest.mark.parametrize("spec,seconds", [
    ("90s", 90), ("15m", 900), ("2h", 7200), ("7d", 7 * 86400), ("30d", 30 * 86400),
    ("1s", 1), ("720h", 30 * 86400),
])
def test_sign_expires(tmp_path, key, spec, seconds):
    _, _, d, issued, expires = sign(key, "--all", "--kind", "rollback", "--version", "3",
                                    "--expires", spec)
    assert expires - issued == seconds


@pytest.mark.parametrize("spec", ["31d", "2592001s", "721h", "0s", "0d", "10", "5w", "-1h",
                                  "+1h", "1.5h", "h", "", "1hh", " 1h", "99999999999999999999d"])
def test_sign_bad_expires(key, spec):
    usage_error("--expires", "sign", "--key", key[0], "--key-id", KEY_ID, "--site", "north",
                "--all", "--kind", "rollback", "--version", "3", "--expires", spec)


# --- sign: lists --------------------------------------------------------------

REGISTRY = {
    "households": [{"id": "h1", "unit": 'Building "3" \\ 1204 é'}],
    "persons": [
        {"id": "p1", "household": "h1", "role": "resident"},
        {"id": "v1", "role": "visitor", "host": "h1", "valid_until": "2099-12-31"},
    ],
    "credentials": [{"value": "1001", "kind": "card", "person": "p1", "revoked": False}],
}


def write(tmp_path, name, doc, indent=2):
    path = str(tmp_path / name)
    with open(path, "w") as f:
        json.dump(doc, f, indent=indent, ensure_ascii=False)
    return path


def test_sign_lists_plain_registry_is_a_snapshot(tmp_path, key):
    path = write(tmp_path, "reg.json", REGISTRY)
    _, _, d, _, _ = sign(key, "--gate", "g1", "--kind", "lists", "--version", "5", path)
    assert list(d) == ["kind", "site", "gate", "version", "issued", "expires", "lists"]
    assert (d["kind"], d["gate"], d["version"]) == ("lists", "g1", 5)
    same(d["lists"], {"mode": "snapshot", "registry": REGISTRY})


def test_sign_lists_snapshot_and_delta(tmp_path, key):
    snap = {"mode": "snapshot", "registry": REGISTRY}
    _, _, d, _, _ = sign(key, "--all", "--kind", "lists", "--version", "9",
                         write(tmp_path, "snap.json", snap))
    same(d["lists"], snap)
    delta = {"mode": "delta", "base": 8,
             "upsert": {"persons": [{"id": "p2", "household": "h1", "role": "tenant"}]},
             "remove": {"persons": ["v1"], "credentials": ["1001"]}}
    _, _, d, _, _ = sign(key, "--all", "--kind", "lists", "--version", "9",
                         write(tmp_path, "delta.json", delta))
    same(d["lists"], delta)
    assert d["version"] == 9
    # the version after a delta must be after its base
    usage_error("--version", "sign", "--key", key[0], "--key-id", KEY_ID, "--site", "north",
                "--all", "--kind", "lists", "--version", "8", str(tmp_path / "delta.json"))


def test_sign_lists_import_version_must_match(tmp_path, key):
    """An import document may carry its own version: it must be --version."""
    reg = dict(REGISTRY, version=6)
    for doc in (reg, {"mode": "snapshot", "registry": reg},
                {"mode": "delta", "base": 2, "upsert": reg, "remove": {}}):
        path = write(tmp_path, "v.json", doc)
        _, _, d, _, _ = sign(key, "--all", "--kind", "lists", "--version", "6", path)
        assert d["version"] == 6
        err = usage_error("--version", "sign", "--key", key[0], "--key-id", KEY_ID,
                          "--site", "north", "--all", "--kind", "lists", "--version", "7", path)
        assert "version 6" in err and path in err


def test_sign_lists_large(tmp_path, key):
    """Far beyond json.h's 16 KiB buffer: the growing buffer holds it."""
    n = 3000
    reg = {"households": [{"id": "h%d" % i} for i in range(n)],
           "persons": [{"id": "p%d" % i, "household": "h%d" % i, "role": "resident"}
                       for i in range(n)],
           "credentials": [{"value": "%08d" % i, "kind": "card", "person": "p%d" % i}
                           for i in range(n)]}
    _, raw, d, _, _ = sign(key, "--all", "--kind", "lists", "--version", "2",
                           write(tmp_path, "big.json", reg, indent=None))
    assert len(raw) > 300000
    same(d["lists"]["registry"], reg)


def test_sign_lists_too_large(tmp_path, key):
    # 7 MiB of registry: readable, but the base64 envelope is over 8 MiB
    pad = "x" * 100
    n = 7 * 1024 * 1024 // 125
    reg = {"households": [{"id": "h%d" % i, "unit": pad} for i in range(n)]}
    path = write(tmp_path, "huge.json", reg, indent=None)
    assert 6.5 * 1024 * 1024 < os.path.getsize(path) < 8 * 1024 * 1024
    rc, out, err = ctl("sign", "--key", key[0], "--key-id", KEY_ID, "--site", "north",
                       "--all", "--kind", "lists", "--version", "2", path)
    assert rc == 1 and out == "" and "8 MiB" in err and "persons import" in err
    # over 8 MiB of input is refused before parsing
    open(path, "a").write(" " * (2 * 1024 * 1024))
    rc, out, err = ctl("sign", "--key", key[0], "--key-id", KEY_ID, "--site", "north",
                       "--all", "--kind", "lists", "--version", "2", path)
    assert rc == 1 and out == "" and "8 MiB" in err


def at(text, needle, col=True):
    """":LINE:COL" (or ":LINE") of needle's first character in text."""
    i = text.index(needle)
    line = text.count("\n", 0, i) + 1
    c = i - (text.rfind("\n", 0, i) + 1) + 1
    return ":%d:%d" % (line, c) if col else ":%d" % line


def test_sign_invalid_lists_refused(tmp_path, key):
    def refused(doc, *expect):
        """expect: (needle in the file, its error) pairs; needle None:
        the document's start; a needle ending in '=L' is a line only."""
        path = write(tmp_path, "l.json", doc)
        text = open(path).read()
        rc, out, err = ctl("sign", "--key", key[0], "--key-id", KEY_ID, "--site", "north",
                           "--all", "--kind", "lists", "--version", "20", path)
        assert rc == 1 and out == "", err
        for needle, msg in expect:
            if needle is None:
                where = ":1:1"
            elif needle.endswith("=L"):
                where = at(text, needle[:-2], col=False)
            else:
                where = at(text, needle)
            assert path + where + ": " + msg in err, (where, msg, err)
        assert "not signed" in err

    bad_person = {"id": "p9", "role": "wizard"}
    role = ('"wizard"=L', 'persons[0].role: unknown role "wizard"')
    # a plain registry: the import parser's FILE:LINE: field: message
    refused(dict(REGISTRY, persons=[bad_person]), role)
    # inside a snapshot and a delta: lines of the file, not of the part
    refused({"mode": "snapshot", "registry": {"persons": [bad_person]}}, role)
    refused({"mode": "delta", "base": 1, "upsert": {"persons": [bad_person]},
             "remove": {"persons": ["a", 5], "cars": []}, "extra": 1},
            role,
            ("5\n", "$.remove.persons[1]: expected an id"),
            ('"cars"', "$.remove.cars: unknown field"),
            ('"extra"', "$.extra: unknown field"))
    refused({"mode": "sometimes", "registry": {}}, ('"sometimes"', "$.mode: expected"))
    refused({"mode": "snapshot", "registry": []}, ("[]", "$.registry: expected an object"))
    refused({"mode": "snapshot"}, (None, '$: missing member "registry"'))
    refused({"mode": "delta", "base": -1, "upsert": [], "remove": {"persons": "p1"}},
            ("-1", "$.base: expected a whole number"),
            ("[]", "$.upsert: expected an object"),
            ('"p1"', "$.remove.persons: expected an array"))
    refused({"mode": "delta", "base": 1.5, "upsert": {}, "remove": []},
            ("1.5", "$.base: expected"), ("[]", "$.remove: expected an object"))
    refused({"mode": "delta"}, (None, '$: missing member "base"'),
            (None, '$: a delta needs "upsert" (an import document), "remove", or both'))
    # either alone is a delta (the gates take it)
    for part in ({"upsert": {}}, {"remove": {}}):
        ok = dict({"mode": "delta", "base": 1}, **part)
        p = str(tmp_path / "ok.json")
        json.dump(ok, open(p, "w"))
        rc, out, err = ctl("sign", "--key", key[0], "--key-id", KEY_ID, "--site", "north",
                           "--all", "--kind", "lists", "--version", "2", p)
        assert rc == 0, err
    refused([1, 2], (None, "$: expected an object"))
    path = str(tmp_path / "l.json")
    open(path, "w").write('{"households": [\n  {"id": "h1",}\n]}\n')
    rc, out, err = ctl("sign", "--key", key[0], "--key-id", KEY_ID, "--site", "north",
                       "--all", "--kind", "lists", "--version", "20", path)
    assert rc == 1 and out == "" and re.search(re.escape(path) + r":2:\d+: ", err), err


# --- sign: rollback and commands ----------------------------------------------

def test_sign_rollback(key):
    _, _, d, issued, expires = sign(key, "--gate", "g_2", "--kind", "rollback",
                                    "--version", "4", "--expires", "15m")
    assert list(d) == ["kind", "site", "gate", "version", "issued", "expires"]
    assert (d["kind"], d["site"], d["gate"], d["version"]) == ("rollback", "north", "g_2", 4)
    assert expires - issued == 900


@pytest.mark.parametrize("args,cmd", [
    (["--cmd", "open", "--lane", "in-1"], {"name": "open", "lane": "in-1"}),
    (["--cmd", "mode", "--mode", "residents-only"], {"name": "mode", "mode": "residents-only"}),
    (["--cmd", "mode", "--mode", "lockdown"], {"name": "mode", "mode": "lockdown"}),
    (["--cmd", "status"], {"name": "status"}),
])
def test_sign_cmd(key, args, cmd):
    _, _, d, _, _ = sign(key, "--gate", "g1", "--kind", "cmd", *args)
    assert list(d) == ["kind", "site", "gate", "issued", "expires", "id", "cmd"]
    assert (d["kind"], d["gate"]) == ("cmd", "g1")
    same(d["cmd"], cmd)
    assert re.fullmatch(r"[0-9a-f]{32}", d["id"])


def test_sign_cmd_ids(key):
    ids = {sign(key, "--all", "--kind", "cmd", "--cmd", "status")[2]["id"] for _ in range(3)}
    assert len(ids) == 3, "random ids repeat"
    _, _, d, _, _ = sign(key, "--all", "--kind", "cmd", "--cmd", "status",
                         "--id", "nonce.0001_A-z")
    assert d["id"] == "nonce.0001_A-z"


def test_sign_out_file(tmp_path, key):
    out_path = str(tmp_path / "env.json")
    out, _ = ok("sign", "--key", key[0], "--key-id", KEY_ID, "--site", "north", "--all",
                "--kind", "cmd", "--cmd", "status", "--out", out_path)
    assert out == ""
    text = open(out_path).read()
    assert text.endswith("}\n") and text.count("\n") == 1
    env = json.loads(text)
    key[1].verify(b64(env["sig"]), b64(env["signed"]))


# --- sign: keys and bad usage ---------------------------------------------------

def test_sign_bad_keys(tmp_path, key):
    common = ["--key-id", KEY_ID, "--site", "north", "--all", "--kind", "cmd", "--cmd", "status"]
    rc, out, err = ctl("sign", "--key", str(tmp_path / "missing.pem"), *common)
    assert rc == 1 and out == "" and "missing.pem" in err and "No such file" in err
    garbage = str(tmp_path / "garbage.pem")
    open(garbage, "w").write("not a key\n")
    rc, out, err = ctl("sign", "--key", garbage, *common)
    assert rc == 1 and out == "" and "not a PEM private key" in err
    ecpath = str(tmp_path / "ec.pem")
    open(ecpath, "wb").write(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    os.chmod(ecpath, 0o600)
    rc, out, err = ctl("sign", "--key", ecpath, *common)
    assert rc == 1 and out == "" and "not Ed25519" in err
    # a key others can read still signs, with a warning
    os.chmod(key[0], 0o644)
    out, err = ok("sign", "--key", key[0], *common)
    assert "warning" in err and "chmod 600" in err
    json.loads(out)


def test_sign_encrypted_key_asks_for_the_passphrase(tmp_path, key):
    """The --help's advice: an encrypted PKCS#8 key, passphrase on the
    terminal (a pty here)."""
    enc = str(tmp_path / "enc.pem")
    priv = serialization.load_pem_private_key(open(key[0], "rb").read(), password=None)
    open(enc, "wb").write(priv.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"correct horse")))
    os.chmod(enc, 0o600)
    out_path = str(tmp_path / "env.json")
    argv = VALGRIND + [os.path.join(BUILD, "wicketctl"), "sign", "--key", enc, "--key-id",
                       KEY_ID, "--site", "north", "--all", "--kind", "cmd", "--cmd", "status",
                       "--out", out_path]
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    seen, sent = b"", False
    end = time.monotonic() + 20 * SLOW
    while time.monotonic() < end:
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
        if not sent and b"pass phrase" in seen:
            os.write(fd, b"correct horse\n")
            sent = True
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert sent, seen
    assert os.WEXITSTATUS(status) == 0, seen
    env = json.loads(open(out_path).read())
    key[1].verify(b64(env["sig"]), b64(env["signed"]))


def test_sign_bad_usage(tmp_path, key):
    path, _ = rules_file(tmp_path)
    k = ["--key", key[0]]
    i = ["--key-id", KEY_ID]
    s = ["--site", "north"]
    rb = ["--kind", "rollback", "--version", "3"]
    cases = [
        ("--key", i + s + ["--all"] + rb),
        ("--key-id", k + s + ["--all"] + rb),
        ("--site", k + i + ["--all"] + rb),
        ("--kind", k + i + s + ["--all", "--version", "3"]),
        ("--gate", k + i + s + rb),
        ("--all", k + i + s + ["--gate", "g", "--all"] + rb),
        ("--gate", k + i + s + ["--gate", "*"] + rb),
        ("--gate", k + i + s + ["--gate", "a/b"] + rb),
        ("--site", k + i + ["--site", "x" * 33, "--all"] + rb),
        ("--site", k + i + ["--site", "no+wild", "--all"] + rb),
        ("--key-id", k + ["--key-id", "bad id"] + s + ["--all"] + rb),
        ("--kind", k + i + s + ["--all", "--kind", "update"]),
        ("--version", k + i + s + ["--all", "--kind", "rollback"]),
        ("--version", k + i + s + ["--all", "--kind", "rollback", "--version", "0"]),
        ("--version", k + i + s + ["--all", "--kind", "rollback", "--version", "-3"]),
        ("--version", k + i + s + ["--all", "--kind", "rollback", "--version", "3x"]),
        ("--version", k + i + s + ["--all", "--kind", "rollback", "--version",
                                   "99999999999999999999"]),
        ("--version", k + i + s + ["--all", "--kind", "lists", path]),
        ("INPUT", k + i + s + ["--all", "--kind", "rules"]),
        ("INPUT", k + i + s + ["--all"] + rb + [path]),
        ("INPUT", k + i + s + ["--all", "--kind", "rules", path, path]),
        ("--site", k + i + s + s + ["--all"] + rb),
        ("--cmd", k + i + s + ["--all", "--kind", "cmd"]),
        ("--cmd", k + i + s + ["--all", "--kind", "cmd", "--cmd", "reboot"]),
        ("--cmd", k + i + s + ["--all"] + rb + ["--cmd", "status"]),
        ("--lane", k + i + s + ["--all", "--kind", "cmd", "--cmd", "open"]),
        ("--lane", k + i + s + ["--all", "--kind", "cmd", "--cmd", "open", "--lane", "a b"]),
        ("--lane", k + i + s + ["--all", "--kind", "cmd", "--cmd", "status", "--lane", "l1"]),
        ("--mode", k + i + s + ["--all", "--kind", "cmd", "--cmd", "mode"]),
        ("--mode", k + i + s + ["--all", "--kind", "cmd", "--cmd", "mode", "--mode", "party"]),
        ("--mode", k + i + s + ["--all", "--kind", "cmd", "--cmd", "open", "--lane", "l1",
                                "--mode", "open"]),
        ("--id", k + i + s + ["--all", "--kind", "cmd", "--cmd", "status", "--id", "short"]),
        ("--id", k + i + s + ["--all", "--kind", "cmd", "--cmd", "status", "--id", "x" * 65]),
        ("--id", k + i + s + ["--all", "--kind", "cmd", "--cmd", "status", "--id", "has space!"]),
        ("--version", k + i + s + ["--all", "--kind", "cmd", "--cmd", "status",
                                   "--version", "2"]),
        ("--bogus", k + i + s + ["--all", "--bogus"] + rb),
        ("--expires", k + i + s + ["--all"] + rb + ["--expires"]),
        ("--out", k + i + s + ["--all"] + rb + ["--out", ""]),
    ]
    for option, args in cases:
        usage_error(option, "sign", *args)


def test_sign_unwritable_out(tmp_path, key):
    rc, out, err = ctl("sign", "--key", key[0], "--key-id", KEY_ID, "--site", "north", "--all",
                       "--kind", "cmd", "--cmd", "status", "--out",
                       str(tmp_path / "no" / "env.json"))
    assert rc == 1 and out == "" and "--out" in err
