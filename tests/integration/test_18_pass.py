"""wicketctl pass issue and pass verify (issue 6, signed QR passes): a pass
made from a keygen key verifies with the key's public line, and Python
decodes its layout and checks its Ed25519 signature independently of
pass.c; one changed character is pass_tampered, another issuer's key
pass_unknown_issuer, the window's edges pass_not_yet_valid and
pass_expired, garbage pass_malformed (each exit 1); --qr png writes a PNG
that zbarimg (when installed) reads back as the token; --qr terminal draws
the code in half blocks with a quiet zone; bad options exit 2 naming the
option."""
import base64
import calendar
import json
import os
import shutil
import subprocess
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from conftest import BUILD, SLOW, VALGRIND

KEY_ID = "ops-2026"
QR_ALNUM = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")


def ctl(*args, stdin=None):
    """wicketctl ARGS; (exit code, stdout, stderr), under memcheck with
    WICKET_VALGRIND=1."""
    argv = VALGRIND + [os.path.join(BUILD, "wicketctl")] + list(args)
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60 * SLOW,
                       input=stdin)
    assert p.returncode != 99, "valgrind found errors:\n" + p.stderr
    return p.returncode, p.stdout, p.stderr


def ok(*args, stdin=None):
    rc, out, err = ctl(*args, stdin=stdin)
    assert rc == 0, "wicketctl %s: exit %d\n%s%s" % (" ".join(args), rc, out, err)
    return out, err


def utc(s):
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))


def b32(s):
    """Unpadded upper-case base32, strictly: it must re-encode the same."""
    assert set(s) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"), s
    raw = base64.b32decode(s + "=" * (-len(s) % 8))
    assert base64.b32encode(raw).decode().rstrip("=") == s
    return raw


def decode(token, pub=None):
    """The token's fields by the documented layout; checks the signature
    with pub (an Ed25519PublicKey) when given."""
    prefix, payload, sig = token.split(".")
    assert prefix == "WKP1"
    p, sig = b32(payload), b32(sig)
    assert len(sig) == 64
    if pub is not None:
        pub.verify(sig, b"WKP1." + p)  # raises if it does not verify
    kind = p[0]
    kl = p[1]
    key = p[2:2 + kl].decode()
    sl = p[2 + kl]
    subject = p[3 + kl:3 + kl + sl].decode()
    rest = p[3 + kl + sl:]
    assert len(rest) == 14, "bytes after the subject: %d" % len(rest)
    return {
        "kind": {1: "person", 2: "household"}[kind], "key": key,
        "subject": subject,
        "from": int.from_bytes(rest[0:5], "big"),
        "until": int.from_bytes(rest[5:10], "big"),
        "serial": int.from_bytes(rest[10:14], "big"),
    }


@pytest.fixture
def issuer(tmp_path):
    """(private key path, issuer keys file path, Ed25519PublicKey)."""
    path = str(tmp_path / "issuer.pem")
    out, _ = ok("keygen", "--key-id", KEY_ID, "--out", path)
    keys = tmp_path / "issuers"
    keys.write_text("# pass issuers\n" + out)
    pub = ed25519.Ed25519PublicKey.from_public_bytes(base64.b64decode(out.split()[2]))
    return path, str(keys), pub


def issue(issuer, *args):
    out, _ = ok("pass", "issue", "--key", issuer[0], "--key-id", KEY_ID, *args)
    return out.splitlines()[0], out


def test_issue_and_verify(issuer):
    t0 = int(time.time())
    token, out = issue(issuer, "--person", "p-000042")
    t1 = int(time.time())
    assert out == token + "\n"
    assert len(token) == 162, token      # the design's size for 8 + 8
    assert set(token) <= QR_ALNUM
    f = decode(token, issuer[2])
    assert f["kind"] == "person" and f["subject"] == "p-000042" and f["key"] == KEY_ID
    # defaults: from five minutes back, for one day from now
    assert t0 - 300 <= f["from"] <= t1 - 300
    assert f["until"] - f["from"] == 86400 + 300
    out, _ = ok("pass", "verify", "--keys", issuer[1], token)
    assert out.startswith("valid: person p-000042, issuer ops-2026, serial %d, from "
                          % f["serial"]), out
    # two passes for the same person differ (the serial)
    token2, _ = issue(issuer, "--person", "p-000042")
    assert token2 != token and decode(token2)["serial"] != f["serial"]
    # from standard input, as a scanner line
    ok("pass", "verify", "--keys", issuer[1], "-", stdin=token + "\r\n")


def test_household_window_and_json(issuer):
    token, _ = issue(issuer, "--household", "h-12", "--from", "2030-01-01",
                     "--days", "7")
    f = decode(token, issuer[2])
    assert f["kind"] == "household" and f["subject"] == "h-12"
    assert f["from"] == utc("2030-01-01T00:00:00Z")
    assert f["until"] == utc("2030-01-08T00:00:00Z")
    out, _ = ok("--json", "pass", "issue", "--key", issuer[0], "--key-id", KEY_ID,
                "--person", "p\"1", "--from", "2030-01-01T10:00:00Z",
                "--until", "2030-01-01T18:00:00Z")
    j = json.loads(out)
    assert list(j) == ["token", "kind", "subject", "key", "from", "until", "serial"]
    assert j["subject"] == 'p"1' and j["from"] == "2030-01-01T10:00:00Z"
    assert j["until"] == "2030-01-01T18:00:00Z"
    assert decode(j["token"], issuer[2])["serial"] == j["serial"]
    # the window's edges, with --at
    keys = issuer[1]
    for at, code in (("2030-01-01T09:59:59Z", "pass_not_yet_valid"),
                     ("2030-01-01T10:00:00Z", None),
                     ("2030-01-01T17:59:59Z", None),
                     ("2030-01-01T18:00:00Z", "pass_expired")):
        rc, out, _ = ctl("pass", "verify", "--keys", keys, "--at", at, j["token"])
        if code is None:
            assert rc == 0 and out.startswith("valid: person p\"1"), out
        else:
            assert rc == 1 and out.startswith(code + ": "), (at, out)
    rc, out, _ = ctl("--json", "pass", "verify", "--keys", keys, "--at",
                     "2030-01-01T18:00:00Z", j["token"])
    v = json.loads(out)
    assert rc == 1 and v["valid"] is False and v["reason"] == "pass_expired"
    assert v["message"] == "valid until 2030-01-01T18:00:00Z, now 2030-01-01T18:00:00Z"


def test_refusals(issuer, tmp_path):
    token, _ = issue(issuer, "--person", "p-000042")
    keys = issuer[1]
    # one character of the signature changed (the middle: every bit of
    # it is signature, none padding)
    i = token.index(".", 5) + 50
    bad = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1:]
    rc, out, _ = ctl("pass", "verify", "--keys", keys, bad)
    assert rc == 1 and out.startswith("pass_tampered: "), out
    # one character of the payload: the subject's last byte changes
    prefix, payload, sig = token.split(".")
    raw = bytearray(b32(payload))
    raw[2 + len(KEY_ID) + 1 + 7] ^= 0x01        # '2' -> '3'
    forged = "WKP1." + base64.b32encode(bytes(raw)).decode().rstrip("=") + "." + sig
    assert decode(forged)["subject"] == "p-000043"
    rc, out, _ = ctl("pass", "verify", "--keys", keys, forged)
    assert rc == 1 and out.startswith("pass_tampered: "), out
    # another issuer's key, under another id and under the same id
    other = str(tmp_path / "other.pem")
    line, _ = ok("keygen", "--key-id", "other", "--out", other)
    okeys = tmp_path / "okeys"
    okeys.write_text(line)
    rc, out, _ = ctl("pass", "verify", "--keys", str(okeys), token)
    assert rc == 1 and out == "pass_unknown_issuer: no issuer key 'ops-2026'\n", out
    okeys.write_text(line.replace("other", KEY_ID))
    rc, out, _ = ctl("pass", "verify", "--keys", str(okeys), token)
    assert rc == 1 and out.startswith("pass_tampered: "), out
    # not a pass at all
    for junk in ("hello", "wkp1." + token[5:], token + "\n", token[:-1],
                 token + ".A", "WKP1." + "A" * 200):
        rc, out, _ = ctl("pass", "verify", "--keys", keys, junk)
        assert rc == 1 and out.startswith("pass_malformed: "), (junk, out)
    # a broken keys file is named with its line
    okeys.write_text("# x\nops ed25519 nope\n")
    rc, out, err = ctl("pass", "verify", "--keys", str(okeys), token)
    assert rc == 1 and out == "" and ("%s:2: " % okeys) in err, err


def test_qr_png(issuer, tmp_path):
    png = str(tmp_path / "pass.png")
    token, out = issue(issuer, "--person", "p-000042", "--qr", "png", "--out", png)
    assert out == token + "\n"
    data = open(png, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    w, h = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    # version 7 (45 modules) plus 4 quiet modules a side, 8 px each
    assert (w, h, data[24], data[25]) == ((45 + 8) * 8, (45 + 8) * 8, 1, 0)
    zbar = shutil.which("zbarimg")
    assert zbar, "zbarimg missing: make deps installs zbar-tools"
    p = subprocess.run([zbar, "-q", "--raw", png], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == token


def test_qr_terminal(issuer):
    token, out = issue(issuer, "--person", "p-000042", "--qr", "terminal")
    lines = out.splitlines()
    assert lines[0] == token
    art = lines[1:]
    width = 45 + 8                      # version 7 and the quiet zone
    assert len(art) == (width + 1) // 2
    for ln in art:
        assert len(ln) == width and set(ln) <= set("\u2588\u2580\u2584 "), repr(ln)
    # the quiet zone: two full lines at the top, light (full block) edges,
    # and the last line's lower half light
    assert art[0] == art[1] == "\u2588" * width
    for ln in art:
        assert ln[:4] == ln[-4:] == "\u2588" * 4
    assert set(art[-1]) <= {"\u2588", "\u2580"}
    assert "\033" not in out            # no colours into a pipe
    # the finder pattern's top left: module row 0 dark for 7 modules, row 1
    # dark at both ends and light between (line 2 holds rows 0 and 1)
    assert art[2][4:11] == " " + "\u2584" * 5 + " "
    # read the drawing back into modules and let zbarimg decode it
    zbar = shutil.which("zbarimg")
    assert zbar, "zbarimg missing: make deps installs zbar-tools"
    halves = {"\u2588": (1, 1), "\u2580": (1, 0), "\u2584": (0, 1), " ": (0, 0)}
    rows = []
    for ln in art:
        rows.append([halves[c][0] for c in ln])
        rows.append([halves[c][1] for c in ln])
    scale = 6
    pgm = bytearray(b"P5 %d %d 255\n" % (width * scale, len(rows) * scale))
    for r in rows:
        line = b"".join((b"\xff" if light else b"\x00") * scale for light in r)
        pgm += line * scale
    path = os.path.join(os.path.dirname(issuer[1]), "drawn.pgm")
    open(path, "wb").write(bytes(pgm))
    p = subprocess.run([zbar, "-q", "--raw", path], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == token


def test_usage_errors(issuer):
    key = issuer[0]
    cases = [
        (["pass"], "usage: wicketctl pass issue"),
        (["pass", "frob"], "unknown subcommand 'frob'"),
        (["pass", "issue", "--key-id", KEY_ID, "--person", "p"], "--key is required"),
        (["pass", "issue", "--key", key, "--person", "p"], "--key-id is required"),
        (["pass", "issue", "--key", key, "--key-id", KEY_ID], "--person and --household"),
        (["pass", "issue", "--key", key, "--key-id", KEY_ID, "--person", "p",
          "--household", "h"], "--person and --household"),
        (["pass", "issue", "--key", key, "--key-id", KEY_ID, "--person", "p",
          "--qr", "png"], "--qr png needs --out"),
        (["pass", "issue", "--key", key, "--key-id", KEY_ID, "--person", "p",
          "--qr", "svg"], "--qr 'svg'"),
        (["pass", "issue", "--key", key, "--key-id", KEY_ID, "--person", "p",
          "--days", "0"], "--days '0'"),
        (["pass", "issue", "--key", key, "--key-id", KEY_ID, "--person", "p",
          "--days", "2", "--until", "2030-01-01"], "--until or --days"),
        (["pass", "issue", "--key", key, "--key-id", KEY_ID, "--person", "p",
          "--from", "tomorrow"], "--from 'tomorrow'"),
        (["pass", "issue", "--key", key, "--key-id", KEY_ID, "--person", "p",
          "--from", "2030-01-02", "--until", "2030-01-01"], "end before it starts"),
        (["pass", "issue", "--key", key, "--key-id", "a/b", "--person", "p"], "key id 'a/b'"),
        (["pass", "issue", "--key", key, "--key-id", KEY_ID, "--person", "a b"],
         "subject id"),
        (["pass", "issue", "--key", key, "--key-id", KEY_ID, "--person", "x" * 64],
         "--person: longer than 63"),
        (["pass", "issue", "--bogus"], "unknown option '--bogus'"),
        (["pass", "verify", "TOKEN"], "--keys is required"),
        (["pass", "verify", "--keys", "k"], "a TOKEN is required"),
        (["pass", "verify", "--keys", "k", "--at", "soon", "T"], "--at 'soon'"),
    ]
    for args, msg in cases:
        rc, out, err = ctl(*args)
        assert rc == 2, "%s: exit %d\n%s" % (args, rc, err)
        assert msg in err, "%r not in: %s" % (msg, err)
        assert out == ""
    # a key that is not a key is a failure, not a usage error
    rc, out, err = ctl("pass", "issue", "--key", issuer[1], "--key-id", KEY_ID,
                       "--person", "p")
    assert rc == 1 and "not a PEM private key" in err and out == ""
