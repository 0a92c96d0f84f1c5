"""Every shipped device profile, end to end.

For each file in etc/wicket/profiles/ (found at run time, so a new profile
is tested without editing this file):

- the file is a register map only: a description, no link keys, and a
  header whose usage example names the profile and the right plugin;
- that usage example, a whole [device] section with its link keys (TCP or
  RTU), passes `wicketd -t`;
- `wicketd -t` and `wicket-sim -n` accept a gate kit that uses it;
- wicket-sim plays it over Modbus TCP while wicketd reads it, in the place
  of the kit's device of the same kind (the other two devices keep the
  reference profiles), and the outcome is checked from outside: passages
  on MQTT and in the ledger, gate commands in the simulator's output.

The scenario is the same for every profile: two residents with a normal
temperature (the first given with `temp`, the second with `raw` register
values encoded here, independently of regmap, from the profile's type,
word order, scale and offset), a card as long as the reader's registers
hold, and a reading above the profile's plausible range.  So a thermal
profile must bring both temperatures through exactly and turn the
implausible one into a fault; a reader profile must bring the credentials
through, the longest one too; a gate profile must get both open commands
to the simulator, at its own address and value, each released after the
profile's own pulse length.  No device may fault otherwise: a profile
that makes wicketd read outside the registers the simulator derives from
it would show as exceptions ("illegal data address"), and the retained
status's health counters must show no timeout, exception or bad reply,
and exactly the one refused value at the thermometer.
"""
import glob
import os
import re
import struct
import subprocess

import pytest

from conftest import BUILD, PROFILES, SLOW, VALGRIND, wait_for

WICKETD = os.path.join(BUILD, "wicketd")
SIM = os.path.join(BUILD, "wicket-sim")

PROFILE_FILES = sorted(glob.glob(os.path.join(PROFILES, "*.conf")))
PROFILE_NAMES = [os.path.basename(p)[:-len(".conf")] for p in PROFILE_FILES]

# Keys that describe the link to one unit, not the device class: they
# belong in the [device] section, never in a profile.
LINK_KEYS = {"host", "port", "serial", "baud", "parity", "data_bits", "stop_bits", "rs485",
             "unit", "poll_ms", "timeout_ms", "retries", "backoff_max_ms", "frame_gap_ms"}

# The kit's device of each kind, its plugin and its reference profile.
DEVICE = {"thermal": "thermal1", "reader": "reader1", "gate": "gate1"}
PLUGIN = {"thermal": "modbus-thermal", "reader": "modbus-reader", "gate": "modbus-gate"}
REFERENCE = {"thermal": "generic-ir-thermal", "reader": "modbus-card-reader",
             "gate": "modbus-gate-relay"}

SIM_T = re.compile(r"\bt=(\d+\.\d+) ")


def read_profile(path):
    """(keys, header): the profile's key = value pairs (the last one of a
    key wins, as in wicketd) and its comment lines before the first key."""
    keys, header = {}, []
    with open(path) as f:
        for line in f:
            s = line.strip()
            if not s or s[0] in "#;":
                if not keys and s:
                    header.append(s.lstrip("#; "))
                continue
            assert "=" in s, "%s: not a key = value line: %r" % (path, s)
            k, v = s.split("=", 1)
            v = re.sub(r"\s[#;].*$", "", v)     # an inline comment
            keys[k.strip()] = v.strip()
    return keys, header


def num(text):
    """A whole number as wicketd reads it: decimal, or hex with 0x (a
    leading 0 is not octal)."""
    text = text.strip()
    return int(text[2:], 16) if text.lower().startswith("0x") else int(text, 10)


def kind_of(keys):
    if "temperature_register" in keys:
        return "thermal"
    if "credential_register" in keys:
        return "reader"
    if "open_coil" in keys or "open_register" in keys:
        return "gate"
    raise AssertionError("cannot tell the device kind from keys %s" % sorted(keys))


def encode(value, keys):
    """The registers a thermal device of this profile holds for value (C),
    as the device's manual would describe them: raw = (value - offset) /
    scale in the type, big-endian bytes A B C D, then word_order."""
    typ = keys.get("temperature_type", "int16")
    order = keys.get("word_order", "abcd")
    raw = (value - float(keys.get("offset", "0"))) / float(keys.get("scale", "1"))
    if typ == "float32":
        b = struct.pack(">f", raw)
    else:
        b = struct.pack({"int16": ">h", "uint16": ">H", "int32": ">i", "uint32": ">I"}[typ],
                        int(round(raw)))
    words = [b[i:i + 2] for i in range(0, len(b), 2)]
    if order in ("badc", "dcba"):
        words = [w[::-1] for w in words]
    if order in ("cdab", "dcba"):
        words = words[::-1]
    return [int.from_bytes(w, "big") for w in words]


def test_encode_matches_the_documented_example():
    # docs/devices.md: 36.6 C as a float32 is 0x42126666
    f = {"temperature_type": "float32"}
    assert encode(36.6, dict(f, word_order="abcd")) == [0x4212, 0x6666]
    assert encode(36.6, dict(f, word_order="cdab")) == [0x6666, 0x4212]
    assert encode(36.6, dict(f, word_order="badc")) == [0x1242, 0x6666]
    assert encode(36.6, dict(f, word_order="dcba")) == [0x6666, 0x1242]
    assert encode(36.6, {"scale": "0.1"}) == [366]
    assert encode(36.6, {"temperature_type": "uint16", "scale": "0.1", "offset": "-273.15"}) == [3098]


def longest_credential(keys):
    """The longest credential the reader's registers can hold."""
    if keys.get("credential_format", "ascii") == "uint32":
        return "4294967295"
    n = 2 * num(keys.get("credential_length", "8"))
    return ("QR-" + "".join(str(i % 10) for i in range(n)))[:n]


def set_key(path, section, key, value):
    """Set key in [section] of an INI file (value None: remove it)."""
    out, cur, found = [], None, False
    with open(path) as f:
        lines = f.read().split("\n")
    for line in lines:
        s = line.strip()
        if s.startswith("["):
            cur = s
        elif cur == section and re.match(r"%s\s*=" % re.escape(key), s):
            found = True
            if value is not None:
                out.append("%s = %s" % (key, value))
            continue
        out.append(line)
    assert found or value is None, "%s: no %s in %s" % (path, key, section)
    with open(path, "w") as f:
        f.write("\n".join(out))


def kit(gates, broker_port, name, scenario):
    """The Gate fixture's kit with the profile `name` on the device of its
    kind.  Each device also uses its profile's own pulse length (the
    fixture shortens the gate's pulse to 100 ms)."""
    keys, _ = read_profile(os.path.join(PROFILES, name + ".conf"))
    kind = kind_of(keys)
    g = gates(scenario, broker_port,
              thermal_profile=name if kind == "thermal" else REFERENCE["thermal"])
    dev = "[device %s]" % DEVICE[kind]
    set_key(g.sim_conf, dev, "profile", name)
    set_key(g.conf, dev, "profile", name)
    set_key(g.conf, "[device gate1]", "pulse_ms", None)
    return g, kind, keys


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_profile_is_a_register_map(name):
    keys, header = read_profile(os.path.join(PROFILES, name + ".conf"))
    kind = kind_of(keys)
    assert keys.get("description"), "%s: no description" % name
    assert not LINK_KEYS & set(keys), "%s: link keys %s belong in the [device] section" % (
        name, sorted(LINK_KEYS & set(keys)))
    text = "\n".join(header)
    # the header's usage example names this profile and its plugin
    assert re.search(r"^\s*profile = %s$" % re.escape(name), text, re.M), name
    assert re.search(r"^\s*plugin = %s$" % PLUGIN[kind], text, re.M), name


def test_every_kind_has_profiles():
    kinds = [kind_of(read_profile(p)[0]) for p in PROFILE_FILES]
    assert all(kinds.count(k) >= 2 for k in DEVICE), kinds


def header_example(header):
    """The key = value lines of the first [device] section in the header."""
    lines, inside = [], False
    for h in header:
        if re.match(r"^\[device \S+\]$", h):
            if inside:
                break
            inside = True
        elif inside:
            if not re.match(r"^\w+ = \S", h):
                break
            lines.append(h)
    return lines


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_header_example_is_valid(gates, name):
    """The [device] section a profile's header shows passes wicketd -t (as
    one more device of a kit; serial lines are not opened by -t)."""
    _, header = read_profile(os.path.join(PROFILES, name + ".conf"))
    example = header_example(header)
    assert any(l.startswith("profile = ") for l in example), (name, example)
    g = gates("10 - end\n", 1883, extra_conf="[device example]\n%s\n" % "\n".join(example))
    r = subprocess.run(VALGRIND + [WICKETD, "-t", "-c", g.conf], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, "%s\n%s" % ("\n".join(example), r.stderr)


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_config_check_accepts(gates, name):
    g, kind, _ = kit(gates, 1883, name, "10 - end\n")
    r = subprocess.run(VALGRIND + [WICKETD, "-t", "-c", g.conf], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "configuration OK"
    r = subprocess.run(VALGRIND + [SIM, "-n", "-c", g.sim_conf], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "configuration OK"
    # the config really uses the profile (so the check above was about it)
    with open(g.conf) as f:
        assert re.search(r"\[device %s\]\nplugin = %s\nprofile = %s\n"
                         % (DEVICE[kind], PLUGIN[kind], re.escape(name)), f.read()), g.conf


def device_state(status, name):
    return status["devices"][name]["state"]


def gate_commands(g):
    """[(t, what, address, value)] of gate1's command lines at the simulator."""
    out = []
    for line in g.sim.output():
        m = re.search(r"device=gate1 command=(open|close) address=(\d+) value=(\d+)", line)
        if m:
            out.append((float(SIM_T.search(line).group(1)), m.group(1), int(m.group(2)),
                        int(m.group(3))))
    return out


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_profile_end_to_end(broker, subscriber, gates, name):
    keys, _ = read_profile(os.path.join(PROFILES, name + ".conf"))
    kind = kind_of(keys)
    th = keys if kind == "thermal" else read_profile(
        os.path.join(PROFILES, REFERENCE["thermal"] + ".conf"))[0]
    rd = keys if kind == "reader" else read_profile(
        os.path.join(PROFILES, REFERENCE["reader"] + ".conf"))[0]
    gt = keys if kind == "gate" else read_profile(
        os.path.join(PROFILES, REFERENCE["gate"] + ".conf"))[0]
    longest = longest_credential(rd)
    too_hot = float(th.get("plausible_max", "45")) + 5
    scenario = (
        "1.0 reader1 card 1001\n"
        "1.3 thermal1 temp 36.6\n"
        "3.0 reader1 card 1002\n"
        "3.3 thermal1 raw %s\n"
        "5.0 reader1 card %s\n"
        "5.5 thermal1 temp %.1f\n"
        % (" ".join(str(r) for r in encode(36.9, th)), longest, too_hot))
    g, _, _ = kit(gates, broker.port, name, scenario)
    g.start()

    try:
        ps = wait_for(lambda: len(subscriber.passages()) >= 3 and subscriber.passages(), 30,
                      "3 passages on MQTT")
    except AssertionError as e:
        raise AssertionError("%s\npassages: %s\ndevice events: %s\nwicket-sim:\n%s\nwicketd:\n%s" % (
            e, subscriber.passages(), subscriber.json("/event/device"),
            "\n".join(g.sim.output()[-30:]), "\n".join(g.wicketd.output()[-30:]))) from None
    assert [p["credential"] for p in ps] == ["1001", "1002", longest], ps
    assert [p["decision"] for p in ps[:2]] == ["allow", "allow"], ps
    assert abs(ps[0]["temperature"] - 36.6) < 0.011, ps[0]
    assert abs(ps[1]["temperature"] - 36.9) < 0.011, ps[1]
    assert ps[2]["decision"] == "deny" and ps[2]["temperature"] is None, ps[2]
    rows = wait_for(lambda: len(g.rows()) >= 3 and g.rows(), 5, "3 ledger rows")
    assert [(r["credential"], r["decision"]) for r in rows] == [
        ("1001", "allow"), ("1002", "allow"), (longest, "deny")]

    # the implausible reading is a fault of the thermal device, never a
    # temperature, and the only fault of the run
    faults = wait_for(lambda: [e for e in subscriber.json("/event/device") if e["state"] == "fault"],
                      10, "the implausible reading's fault")
    assert [e["device"] for e in faults] == ["thermal1"], faults
    assert "plausible" in faults[0]["message"], faults
    assert all(r["temperature"] is None or r["temperature"] < too_hot - 1 for r in g.rows())

    # both allowed passages opened the gate, at the profile's address and
    # value, each released after the profile's pulse (the first command
    # line is the release written after connecting)
    want_addr = num(gt.get("open_coil", gt.get("open_register", "-1")))
    want_value = 1 if "open_coil" in gt else num(gt.get("open_value", "1"))
    pulse = num(gt.get("pulse_ms", "500")) / 1000.0
    cmds = wait_for(lambda: len([c for c in gate_commands(g) if c[1] == "open"]) >= 2
                    and gate_commands(g)[-1][1] == "close" and gate_commands(g),
                    5 + 2 * pulse, "two opens and their releases at the simulator")
    assert cmds[0][1] == "close", cmds
    opens = [i for i, c in enumerate(cmds) if c[1] == "open"]
    assert len(opens) == 2, cmds
    for i in opens:
        t, _, addr, value = cmds[i]
        assert (addr, value) == (want_addr, want_value), cmds
        t_close, what, addr, value = cmds[i + 1]
        assert (what, addr, value) == ("close", want_addr, 0), cmds
        assert pulse - 0.02 <= t_close - t <= pulse + 0.5 * SLOW, (pulse, cmds)
    if "status_register" in gt:
        # the controller's status register said open during the pulse
        g.wicketd.wait_line("device gate1: gate open", 5)

    # in the end every device is healthy again
    def all_ok():
        st = subscriber.json("/status")
        return st and all(device_state(st[-1], d) == "ok" for d in DEVICE.values()) and st[-1]
    st = wait_for(all_ok, 10, "every device ok in the retained status")
    for d in DEVICE.values():
        dev = st["devices"][d]     # the per-device health counters
        assert dev["responses"] > 0, (d, dev)
        for k in ("timeouts", "crc_errors", "exceptions", "bad_replies", "link_errors"):
            assert dev[k] == 0, (d, k, dev)
        assert dev["bad_values"] == (1 if d == "thermal1" else 0), (d, dev)
        assert dev["faults"] == (1 if d == "thermal1" else 0), (d, dev)
    assert g.wicketd.p.poll() is None
    assert g.stop() == 0
