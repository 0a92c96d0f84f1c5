"""wicketd -t: every error as FILE:LINE: message and a non-zero exit."""
import os
import re
import subprocess

from conftest import BUILD, VALGRIND, Gate

WICKETD = os.path.join(BUILD, "wicketd")


def check(path):
    r = subprocess.run(VALGRIND + [WICKETD, "-t", "-c", path], capture_output=True, text=True, timeout=60)
    assert r.returncode != 99, "valgrind: " + r.stderr
    return r.returncode, r.stdout, r.stderr


def make_conf(tmp_path):
    g = Gate(str(tmp_path), "10 - end\n", 1883)
    with open(g.conf) as f:
        return g.conf, f.read()


def test_good_config(tmp_path):
    conf, _ = make_conf(tmp_path)
    rc, out, err = check(conf)
    assert rc == 0, err
    assert out.strip() == "configuration OK"


def line_of(text, needle):
    for i, l in enumerate(text.split("\n"), 1):
        if l.startswith(needle):
            return i
    raise AssertionError(needle)


def test_wrong_key(tmp_path):
    conf, text = make_conf(tmp_path)
    text = text.replace("log_level = debug\n", "log_level = debug\nlog_levle = info\n")
    open(conf, "w").write(text)
    rc, out, err = check(conf)
    assert rc != 0
    assert "%s:%d: unknown key 'log_levle' in [wicketd]" % (conf, line_of(text, "log_levle")) in err


def test_bad_number(tmp_path):
    conf, text = make_conf(tmp_path)
    text = text.replace("window_ms = 2000", "window_ms = 2s")
    open(conf, "w").write(text)
    rc, out, err = check(conf)
    assert rc != 0
    assert "%s:%d: window_ms: '2s' is not a whole number" % (conf, line_of(text, "window_ms")) in err


def test_bad_plugin_key_reported_at_its_line(tmp_path):
    conf, text = make_conf(tmp_path)
    text = text.replace("poll_ms = 50\ntimeout_ms = 300\nbackoff", "poll_ms = fast\ntimeout_ms = 300\nbackoff")
    open(conf, "w").write(text)
    rc, out, err = check(conf)
    assert rc != 0
    assert re.search(r"%s:%d: device thermal1: poll_ms: " % (re.escape(conf), line_of(text, "poll_ms = fast")), err), err


def test_missing_section(tmp_path):
    conf, text = make_conf(tmp_path)
    text = re.sub(r"\[mqtt\]\n(.*\n)*?\n", "", text)
    assert "[mqtt]" not in text
    open(conf, "w").write(text)
    rc, out, err = check(conf)
    assert rc != 0
    assert re.search(r"^%s:\d+: missing section \[mqtt\]" % re.escape(conf), err, re.M), err


def test_missing_file(tmp_path):
    missing = os.path.join(str(tmp_path), "nosuch.conf")
    rc, out, err = check(missing)
    assert rc != 0
    assert re.search(r"^%s:\d+: cannot open: No such file or directory" % re.escape(missing), err, re.M), err


def test_every_error_listed(tmp_path):
    conf, text = make_conf(tmp_path)
    text = text.replace("site = test", "site = te/st").replace("port = %d\nreconnect" % 1883, "port = 0\nreconnect")
    text = text.replace("thermal = thermal1", "thermal = thermal9")
    open(conf, "w").write(text)
    rc, out, err = check(conf)
    assert rc != 0
    assert "site: 'te/st'" in err
    assert "port: 0 is out of range 1..65535" in err
    assert "thermal: no section [device thermal9]" in err
    assert "3 error(s)" in err


def test_plugin_of_another_abi_refused(tmp_path):
    conf, text = make_conf(tmp_path)
    plugdir = os.path.join(str(tmp_path), "plugins")
    os.mkdir(plugdir)
    for n in ("modbus-thermal", "modbus-reader", "libwicket-modbus"):
        os.symlink(os.path.join(BUILD, "plugins", n + ".so"), os.path.join(plugdir, n + ".so"))
    os.symlink(os.path.join(BUILD, "tests", "plugins", "abi-future.so"), os.path.join(plugdir, "modbus-gate.so"))
    text = re.sub(r"plugin_dir = .*", "plugin_dir = " + plugdir, text)
    open(conf, "w").write(text)
    rc, out, err = check(conf)
    assert rc != 0
    assert "was built for plugin ABI 2.3, this wicketd speaks ABI 1.3" in err, err
    assert ":%d: plugin 'modbus-gate'" % line_of(text, "plugin = modbus-gate") in err


def test_wrong_device_kind_for_lane(tmp_path):
    conf, text = make_conf(tmp_path)
    text = text.replace("thermal = thermal1", "thermal = reader1")
    open(conf, "w").write(text)
    rc, out, err = check(conf)
    assert rc != 0
    assert "thermal: device reader1 (plugin modbus-reader) provides no temperature" in err


def test_version_and_help():
    r = subprocess.run([WICKETD, "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("wicketd ")
    r = subprocess.run([WICKETD, "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "-t, --test" in r.stdout
    r = subprocess.run([WICKETD, "--bogus"], capture_output=True, text=True)
    assert r.returncode == 2
