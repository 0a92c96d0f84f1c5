"""wicket-sim on Modbus RTU, and its faults on RTU and TCP, checked from
independent clients.

The serial line is a socat pty pair: wicket-sim opens one end (DIR/sim),
the tests are the master on the other (DIR/master).  Three devices share
the line as units 1, 2 and 3 (thermal1, reader1, gate1, with the shipped
profiles).  Two clients that share no code with the simulator talk to it:
pymodbus (Debian's python3-pymodbus 3.0.0rc1) for plain reads and writes,
and a raw client here (os.open + termios, its own bitwise CRC-16) for
everything pymodbus would hide: a bad CRC, a reply to the wrong request,
the exact delay of a late reply, silence.  TCP faults are checked the same
way with a raw socket client speaking MBAP.
"""
import os
import re
import select
import socket
import struct
import subprocess
import time
import tty

import pytest

from conftest import BUILD, PROFILES, SLOW, VALGRIND, Proc, free_port, wait_for

SIM = os.path.join(BUILD, "wicket-sim")

DEVICES = (("thermal1", "thermal", "generic-ir-thermal", 1),
           ("reader1", "reader", "modbus-card-reader", 2),
           ("gate1", "gate", "modbus-gate-relay", 3))

NO_ANSWER = 0.4     # seconds of silence that count as no answer (times SLOW)


def crc16(data):
    """CRC-16/Modbus, bit by bit; the two bytes as they go on the wire."""
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return bytes([crc & 0xFF, crc >> 8])


def read_pdu(fc, addr, count):
    return struct.pack(">BHH", fc, addr, count)


class Master:
    """A raw Modbus RTU master on a tty."""

    def __init__(self, path):
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.fd)
        self.drain()

    def drain(self):
        while select.select([self.fd], [], [], 0)[0]:
            if not os.read(self.fd, 4096):
                break

    def send_raw(self, data):
        os.write(self.fd, data)
        return time.monotonic()

    def send(self, unit, pdu):
        frame = bytes([unit]) + pdu
        return self.send_raw(frame + crc16(frame))

    def recv(self, timeout):
        """(bytes, monotonic time of the first byte or None): what arrives
        within timeout, up to 50 ms of quiet after the first byte."""
        end = time.monotonic() + timeout
        buf, first = b"", None
        while True:
            wait = 0.05 if buf else end - time.monotonic()
            if wait <= 0:
                break
            if not select.select([self.fd], [], [], wait)[0]:
                if buf:
                    break
                continue
            data = os.read(self.fd, 4096)
            if first is None:
                first = time.monotonic()
            buf += data
        return buf, first

    def request(self, unit, pdu, timeout=1.0):
        self.drain()
        t0 = self.send(unit, pdu)
        reply, first = self.recv(timeout * SLOW)
        return reply, (first - t0 if first else None)

    def close(self):
        os.close(self.fd)


def classify(unit, fc, reply):
    """What an RTU master makes of reply to a request (unit, fc)."""
    if not reply:
        return "timeout"
    if len(reply) < 4 or crc16(reply[:-2]) != reply[-2:]:
        return "bad-crc"
    if reply[0] != unit:
        return "wrong-unit"
    if reply[1] == fc | 0x80 and len(reply) == 5:
        return "exception %d" % reply[2]
    if reply[1] != fc:
        return "bad-reply"
    return "ok"


def registers(reply):
    n = reply[2]
    return list(struct.unpack(">%dH" % (n // 2), reply[3:3 + n]))


class Rig:
    """socat, wicket-sim -v on one end with the three devices, a raw
    master on the other."""

    def __init__(self, tmp, scenario, start="now", check_ready=True):
        self.tmp = tmp
        self.simpath = os.path.join(tmp, "sim")
        self.masterpath = os.path.join(tmp, "master")
        self.socat = Proc(["socat", "-d", "-d", "pty,raw,echo=0,link=%s" % self.simpath,
                           "pty,raw,echo=0,link=%s" % self.masterpath], "socat", stream="stderr")
        wait_for(lambda: os.path.islink(self.simpath) and os.path.islink(self.masterpath),
                 5, "socat's pty links")
        self.conf = os.path.join(tmp, "sim.conf")
        with open(os.path.join(tmp, "test.scenario"), "w") as f:
            f.write(scenario)
        with open(self.conf, "w") as f:
            f.write("[sim]\nscenario = test.scenario\nprofile_dir = %s\nstart = %s\n"
                    % (PROFILES, start))
            for name, kind, prof, unit in DEVICES:
                f.write("[device %s]\nkind = %s\nprofile = %s\nserial = %s\nunit = %d\n"
                        % (name, kind, prof, self.simpath, unit))
        self.sim = Proc(VALGRIND + [SIM, "-v", "-c", self.conf], "wicket-sim")
        self.sim.wait_line(" ready devices=3", 10)
        self.master = Master(self.masterpath)

    def stop(self):
        self.master.close()
        rc = self.sim.stop()
        self.socat.stop()
        return rc


@pytest.fixture
def rigs(tmp_path):
    made = []

    def make(*a, **kw):
        sub = os.path.join(str(tmp_path), "rig%d" % len(made))
        os.makedirs(sub)
        r = Rig(sub, *a, **kw)
        made.append(r)
        return r
    yield make
    for r in made:
        r.stop()


READINGS = "0 thermal1 temp 36.6\n0 reader1 card 1001\n"


# --- the line works: pymodbus and the raw master ---------------------------

def test_rtu_pymodbus(rigs):
    from pymodbus.client import ModbusSerialClient

    r = rigs(READINGS)
    r.sim.wait_line("device=reader1 step=card value=1001")
    c = ModbusSerialClient(r.masterpath, baudrate=9600, timeout=max(1, int(SLOW)), retries=0)
    assert c.connect()
    try:
        rr = c.read_holding_registers(0, 2, slave=1)
        assert not rr.isError(), rr
        assert rr.registers == [366, 1]     # 36.6 C in tenths, first reading
        rr = c.read_holding_registers(0, 9, slave=2)
        assert not rr.isError(), rr
        assert rr.registers == [1, 0x3130, 0x3031, 0, 0, 0, 0, 0, 0]   # seq 1, "1001"
        rr = c.write_coil(0, True, slave=3)
        assert not rr.isError(), rr
        r.sim.wait_line("device=gate1 command=open address=0 value=1 mono_us=")
        rr = c.read_holding_registers(10, 1, slave=3)
        assert rr.registers == [1]          # the status follows the relay
        rr = c.read_coils(0, 1, slave=3)
        assert rr.bits[0] is True
        rr = c.write_coil(0, False, slave=3)
        assert not rr.isError(), rr
        r.sim.wait_line("device=gate1 command=close address=0 value=0 mono_us=")
        rr = c.read_holding_registers(10, 1, slave=3)
        assert rr.registers == [0]
        rr = c.read_holding_registers(0, 20, slave=1)   # past the profile's registers
        assert rr.isError() and rr.exception_code == 2, rr
    finally:
        c.close()
    # one `connect serial=` line per device, on its first request
    for name, _, _, unit in DEVICES:
        assert len(r.sim.grep("connect serial=%s device=%s unit=%d" % (r.simpath, name, unit))) == 1


def test_rtu_verbose_lines(rigs):
    r = rigs(READINGS)
    r.sim.wait_line("device=reader1 step=card value=1001")
    m = r.master
    for _ in range(2):
        reply, _ = m.request(1, read_pdu(3, 0, 2))
        assert classify(1, 3, reply) == "ok" and registers(reply) == [366, 1]
    reply, _ = m.request(2, read_pdu(3, 0, 9))
    assert classify(2, 3, reply) == "ok"
    reply, _ = m.request(2, read_pdu(3, 1, 8))      # the credential only
    assert classify(2, 3, reply) == "ok"
    out = r.sim.output()
    req = [l for l in out if re.search(r" device=thermal1 unit=1 function=3 address=0 count=2 "
                                       r"fault=none mono_us=\d+$", l)]
    assert len(req) == 2, out
    assert len([l for l in out if re.search(r" device=reader1 unit=2 function=3 address=1 "
                                            r"count=8 fault=none mono_us=\d+$", l)]) == 1
    # the first reply with a new sequence value, once per value
    seq = [l for l in out if re.search(r" device=thermal1 read seq=1 mono_us=\d+$", l)]
    assert len(seq) == 1, out
    assert len([l for l in out if " device=reader1 read seq=" in l]) == 1
    t_req = int(req[0].rsplit("mono_us=", 1)[1])
    t_seq = int(seq[0].rsplit("mono_us=", 1)[1])
    assert 0 <= t_seq - t_req < 1000000 * SLOW
    # the clock is CLOCK_MONOTONIC, the one Python's monotonic() reads
    assert abs(t_seq / 1e6 - time.monotonic()) < 10 * SLOW


def test_rtu_unknown_unit_and_framing(rigs):
    r = rigs(READINGS)
    m = r.master
    for _ in range(2):
        reply, _ = m.request(9, read_pdu(3, 0, 1), NO_ANSWER)
        assert reply == b""
    r.sim.wait_line("request for unit 9, which no device on this line has")
    assert len(r.sim.grep("request for unit 9")) == 1      # once per unit
    reply, _ = m.request(0, read_pdu(3, 0, 1), NO_ANSWER)  # broadcast: nobody answers
    assert reply == b""

    # a bad CRC gets no answer; the next good frame does
    frame = bytes([1]) + read_pdu(3, 0, 2)
    m.drain()
    m.send_raw(frame + bytes([crc16(frame)[0] ^ 0xFF, crc16(frame)[1]]))
    assert m.recv(NO_ANSWER * SLOW)[0] == b""
    reply, _ = m.request(1, read_pdu(3, 0, 2))
    assert classify(1, 3, reply) == "ok"
    r.sim.wait_line("framing-error serial=%s reason=crc errors=1" % r.simpath)

    # junk, then a request in the same write: found again
    m.drain()
    m.send_raw(b"\x00\x07\xff\x83" + bytes([2]) + read_pdu(3, 0, 1) + crc16(bytes([2]) + read_pdu(3, 0, 1)))
    reply, _ = m.recv(1.0 * SLOW)
    assert classify(2, 3, reply) == "ok", reply.hex()

    # a request cut short is dropped after the line goes quiet, and does
    # not swallow the next one
    m.drain()
    m.send_raw(bytes([1, 3, 0]))
    time.sleep(0.3)
    reply, _ = m.request(1, read_pdu(3, 1, 1))
    assert classify(1, 3, reply) == "ok", reply.hex()
    r.sim.wait_line("reason=partial")

    # the responder's own exceptions
    assert classify(1, 3, m.request(1, read_pdu(3, 0, 0))[0]) == "exception 3"
    assert classify(1, 3, m.request(1, read_pdu(3, 0, 126))[0]) == "exception 3"
    assert classify(1, 4, m.request(1, read_pdu(4, 0, 1))[0]) == "exception 2"
    assert classify(3, 5, m.request(3, struct.pack(">BHH", 5, 0, 0x1234))[0]) == "exception 3"
    assert classify(3, 6, m.request(3, struct.pack(">BHH", 6, 11, 1))[0]) == "exception 2"
    assert r.sim.grep("command=") == []


def test_rtu_start_connect(rigs):
    """With start = connect, the clock starts on the first request to the
    last of the devices."""
    r = rigs("0 thermal1 temp 36.6\n", start="connect")
    m = r.master
    for unit in (1, 2):
        assert classify(unit, 3, m.request(unit, read_pdu(3, 0, 1))[0]) == "ok"
    time.sleep(0.2)
    assert r.sim.grep(" start steps=") == []
    m.request(9, read_pdu(3, 0, 1), NO_ANSWER)     # nobody's unit: no connection
    assert r.sim.grep(" start steps=") == []
    assert classify(3, 1, m.request(3, read_pdu(1, 0, 1))[0]) == "ok"
    r.sim.wait_line(" start steps=1")
    r.sim.wait_line("device=thermal1 step=temp value=36.6")
    assert registers(m.request(1, read_pdu(3, 0, 2))[0]) == [366, 1]


# --- faults on the line ----------------------------------------------------

WRITE_ON = struct.pack(">BHH", 5, 0, 0xFF00)

FAULTS = [
    # scenario argument, what a read of unit 1 gives, is a write carried out
    ("silent", "timeout", False),
    ("exception", "exception 4", False),
    ("exception 6", "exception 6", False),
    ("crc", "bad-crc", True),
    ("garbage", "bad-reply", True),
    ("late 600", "ok", True),
]


@pytest.mark.parametrize("fault,read,carried", FAULTS, ids=[f[0] for f in FAULTS])
def test_rtu_fault(rigs, fault, read, carried):
    r = rigs(READINGS + "0 thermal1 fault %s\n0 gate1 fault %s\n" % (fault, fault))
    r.sim.wait_line("device=gate1 step=fault value=%s" % fault.replace(" ", ","))
    m = r.master
    kind = fault.split()[0]

    reply, dt = m.request(1, read_pdu(3, 0, 2), 1.0 if kind != "late" else 2.0)
    assert classify(1, 3, reply) == read, reply.hex()
    if kind == "crc":
        # the rest of the answer is right: only the CRC is wrong
        assert reply[:3] == bytes([1, 3, 4]) and len(reply) == 9
    if kind == "garbage":
        assert len(reply) >= 5 and reply[1] & 0x7F != 3
    if kind == "late":
        assert 0.6 <= dt < 0.6 + 0.5 * SLOW, dt
        assert registers(reply) == [366, 1]

    # the reader on the same line is not affected
    reply, dt = m.request(2, read_pdu(3, 0, 1))
    assert classify(2, 3, reply) == "ok" and dt < 0.3 * SLOW

    # a gate command: carried out or ignored, as the fault says
    reply, _ = m.request(3, WRITE_ON, NO_ANSWER if kind == "silent" else 2.0)
    if carried:
        r.sim.wait_line("device=gate1 command=open address=0 value=1 mono_us=")
        assert r.sim.grep("ignored=") == []
    else:
        r.sim.wait_line("device=gate1 ignored=open address=0 value=1 fault=%s" % kind)
        assert r.sim.grep("command=open") == []
    assert r.sim.grep("request function")  == []    # the old -v format is gone
    assert r.sim.grep("device=gate1 unit=3 function=5 address=0 count=1 fault=%s mono_us=" % kind)


def test_rtu_late_keeps_serving(rigs):
    """A late device does not hold up the line: the next unit answers at
    once, the late reply comes after its delay."""
    r = rigs(READINGS + "0 thermal1 fault late 800\n")
    r.sim.wait_line("device=thermal1 step=fault value=late,800")
    m = r.master
    m.drain()
    t0 = m.send(1, read_pdu(3, 0, 2))
    m.send(2, read_pdu(3, 0, 1))
    first, t_first = m.recv(1.0 * SLOW)
    assert classify(2, 3, first) == "ok", first.hex()
    assert t_first - t0 < 0.4 * SLOW
    late, t_late = m.recv(2.0 * SLOW)
    assert classify(1, 3, late) == "ok", late.hex()
    assert registers(late) == [366, 1]
    assert 0.8 <= t_late - t0 < 0.8 + 0.5 * SLOW
    # -v: the read seq line comes when the late reply was written
    seq = r.sim.wait_line("device=thermal1 read seq=1 mono_us=")
    req = r.sim.grep("device=thermal1 unit=1 function=3")
    t_req = int(req[0].rsplit("mono_us=", 1)[1])
    t_seq = int(seq[0].rsplit("mono_us=", 1)[1])
    assert 800000 <= t_seq - t_req < 800000 + 500000 * SLOW


def test_rtu_disconnect(rigs):
    """The whole line goes dead, then comes back; what was sent while it
    was dead is never answered."""
    back = 3.0 * SLOW
    r = rigs(READINGS + "0 gate1 fault disconnect\n%.1f gate1 fault none\n" % back)
    r.sim.wait_line("device=gate1 step=fault value=disconnect")
    m = r.master
    for unit in (1, 2, 3):
        reply, _ = m.request(unit, read_pdu(3, 0, 1), NO_ANSWER)
        assert reply == b"", "unit %d answered through a pulled cable" % unit
    m.send(3, WRITE_ON)
    r.sim.wait_line("device=gate1 step=fault value=none", back + 10)
    assert m.recv(NO_ANSWER * SLOW)[0] == b""      # the stale request stays unanswered
    for unit in (1, 2, 3):
        assert classify(unit, 3, m.request(unit, read_pdu(3, 0, 1))[0]) == "ok"
    assert r.sim.grep("command=open") == [] and r.sim.grep("ignored=") == []


def test_rtu_line_lost_and_back(rigs):
    """socat going away is a hangup: the line is opened again once a new
    pair appears at the same path."""
    r = rigs(READINGS)
    r.master.close()
    r.socat.stop()
    r.sim.wait_line("hung up")
    r.socat = Proc(["socat", "-d", "-d", "pty,raw,echo=0,link=%s" % r.simpath,
                    "pty,raw,echo=0,link=%s" % r.masterpath], "socat", stream="stderr")
    wait_for(lambda: os.path.islink(r.simpath) and os.path.islink(r.masterpath), 5, "links")
    r.sim.wait_line("open again", 5)
    r.master = Master(r.masterpath)
    assert classify(1, 3, r.master.request(1, read_pdu(3, 0, 2))[0]) == "ok"
    assert r.sim.p.poll() is None


# --- the config ------------------------------------------------------------

BAD_CONFIGS = [
    ("serial = /dev/null\nlisten = 127.0.0.1:1502\n", "exclude each other"),
    ("serial = /tmp/x\nunit = 0\n", "unit: '0' is not 1..247"),
    ("serial = /tmp/x\nunit = 248\n", "is not 1..247"),
    ("serial = /tmp/x\nbaud = 12345\n", "baud: '12345' is not a serial speed"),
    ("listen = 127.0.0.1:1502\nbaud = 9600\n", "baud goes with serial"),
    ("serial =\n", "serial: empty path"),
    ("unit = 1\n", "missing key 'listen' (ADDRESS:PORT) or 'serial'"),
]


@pytest.mark.parametrize("keys,msg", BAD_CONFIGS)
def test_config_errors(tmp_path, keys, msg):
    conf = os.path.join(str(tmp_path), "sim.conf")
    with open(conf, "w") as f:
        f.write("[sim]\nprofile_dir = %s\n[device t]\nkind = thermal\n"
                "profile = generic-ir-thermal\n%s" % (PROFILES, keys))
    p = subprocess.run([SIM, "-n", "-c", conf], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2
    assert re.search(r"sim\.conf:\d+: .*" + re.escape(msg), p.stderr), p.stderr


def test_config_line_sharing(tmp_path):
    conf = os.path.join(str(tmp_path), "sim.conf")
    scn = os.path.join(str(tmp_path), "s.scenario")
    with open(scn, "w") as f:
        f.write("1 a fault late 0\n2 b fault exception 256\n3 a fault late 100\n")
    with open(conf, "w") as f:
        f.write("[sim]\nprofile_dir = %s\nscenario = s.scenario\n"
                "[device a]\nkind = thermal\nprofile = generic-ir-thermal\nserial = /tmp/x\nunit = 1\n"
                "[device b]\nkind = reader\nprofile = modbus-card-reader\nserial = /tmp/x\nunit = 1\n"
                "[device c]\nkind = gate\nprofile = modbus-gate-relay\nserial = /tmp/x\nunit = 2\n"
                "baud = 19200\n"
                "[device d]\nkind = gate\nprofile = modbus-gate-relay\nserial = /tmp/y\nunit = 1\n"
                "baud = 19200\n" % PROFILES)
    p = subprocess.run([SIM, "-n", "-c", conf], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2
    assert "sim.conf:13: device b: unit 1 on /tmp/x is already device a" in p.stderr, p.stderr
    assert re.search(r"sim\.conf:19: .*baud: 19200 differs from 9600 of the device at line 4 "
                     r"on /tmp/x", p.stderr), p.stderr
    # /tmp/y is another line: its own speed, its own units
    assert "/tmp/y" not in p.stderr
    # the scenario is read only once the config is good: fix it, then see
    with open(conf) as f:
        text = f.read()
    text = text.replace("kind = reader\nprofile = modbus-card-reader\nserial = /tmp/x\nunit = 1",
                        "kind = reader\nprofile = modbus-card-reader\nserial = /tmp/x\nunit = 3")
    text = text.replace("unit = 2\nbaud = 19200\n", "unit = 2\n")
    with open(conf, "w") as f:
        f.write(text)
    p = subprocess.run([SIM, "-n", "-c", conf], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2
    assert "s.scenario:1: bad delay '0' for 'fault late': expected 1 to 60000 milliseconds" \
        in p.stderr, p.stderr
    assert "s.scenario:2: bad exception code '256': expected 1 to 255" in p.stderr, p.stderr
    assert "s.scenario:3" not in p.stderr


# --- faults on TCP ---------------------------------------------------------

class TcpClient:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), 5)
        self.tid = 0x0100

    def request(self, unit, pdu, timeout=1.0):
        self.tid += 1
        self.s.settimeout(timeout * SLOW)
        try:
            self.s.sendall(struct.pack(">HHHB", self.tid, 0, len(pdu) + 1, unit) + pdu)
            hdr = b""
            while len(hdr) < 7:
                d = self.s.recv(7 - len(hdr))
                if not d:
                    return "closed", None
                hdr += d
            tid, proto, length, u = struct.unpack(">HHHB", hdr)
            body = b""
            while len(body) < length - 1:
                d = self.s.recv(length - 1 - len(body))
                if not d:
                    return "closed", None
                body += d
        except socket.timeout:
            return "timeout", None
        except (ConnectionResetError, BrokenPipeError):
            return "closed", None
        if tid != self.tid:
            return "bad-tid", body
        if body[0] == pdu[0] | 0x80:
            return "exception %d" % body[1], body
        if body[0] != pdu[0]:
            return "bad-reply", body
        return "ok", body

    def close(self):
        self.s.close()


def tcp_sim(tmp, scenario, start="now"):
    port = free_port()
    with open(os.path.join(tmp, "t.scenario"), "w") as f:
        f.write(scenario)
    conf = os.path.join(tmp, "tcp.conf")
    with open(conf, "w") as f:
        f.write("[sim]\nscenario = t.scenario\nprofile_dir = %s\nstart = %s\n"
                "[device thermal1]\nkind = thermal\nprofile = generic-ir-thermal\n"
                "listen = 127.0.0.1:%d\nunit = 1\n"
                "[device reader1]\nkind = reader\nprofile = modbus-card-reader\n"
                "listen = 127.0.0.1:%d\nunit = 2\n" % (PROFILES, start, port, port))
    sim = Proc(VALGRIND + [SIM, "-v", "-c", conf], "wicket-sim")
    sim.wait_line(" ready devices=2", 10)
    return sim, port


TCP_FAULTS = [("crc", "bad-tid"), ("garbage", "bad-reply"), ("exception 5", "exception 5"),
              ("silent", "timeout"), ("late 300", "ok")]


@pytest.mark.parametrize("fault,want", TCP_FAULTS, ids=[f[0] for f in TCP_FAULTS])
def test_tcp_fault(tmp_path, fault, want):
    sim, port = tcp_sim(str(tmp_path), READINGS + "0 thermal1 fault %s\n" % fault)
    try:
        sim.wait_line("device=thermal1 step=fault value=%s" % fault.replace(" ", ","))
        c = TcpClient(port)
        t0 = time.monotonic()
        got, body = c.request(1, read_pdu(3, 0, 2), NO_ANSWER if fault == "silent" else 2.0)
        dt = time.monotonic() - t0
        assert got == want, (got, body)
        if fault == "crc":
            assert body == bytes([3, 4, 1, 0x6E, 0, 1])    # only the tid is wrong
        if fault.startswith("late"):
            assert 0.3 <= dt < 0.3 + 0.5 * SLOW
        if fault != "silent":
            # the other unit on the listener answers normally
            assert c.request(2, read_pdu(3, 0, 1))[0] == "ok"
            # and an unknown unit still gets exception 11
            assert c.request(9, read_pdu(3, 0, 1))[0] == "exception 11"
        c.close()
    finally:
        sim.stop()


def test_tcp_disconnect(tmp_path):
    back = 3.0 * SLOW
    sim, port = tcp_sim(str(tmp_path), READINGS + "1 thermal1 fault disconnect\n"
                        "%.1f thermal1 fault none\n" % (1 + back), start="connect")
    try:
        c = TcpClient(port)
        sim.wait_line(" start steps=4")
        assert c.request(1, read_pdu(3, 0, 2))[0] == "ok"
        sim.wait_line("device=thermal1 step=fault value=disconnect")
        sim.wait_line("disconnect listen=127.0.0.1:%d" % port)
        # the connection of the device's listener is gone (for the reader
        # on it too): the next request sees it closed
        assert c.request(2, read_pdu(3, 0, 1))[0] == "closed"
        c.close()
        # new connections are closed at once
        c = TcpClient(port)
        assert c.request(1, read_pdu(3, 0, 1))[0] == "closed"
        c.close()
        sim.wait_line("refused listen=127.0.0.1:%d" % port)
        sim.wait_line("device=thermal1 step=fault value=none", back + 10)
        c = TcpClient(port)
        assert c.request(1, read_pdu(3, 0, 2))[0] == "ok"
        c.close()
    finally:
        sim.stop()


def test_tcp_bad_mbap_and_split_request(tmp_path):
    sim, port = tcp_sim(str(tmp_path), READINGS)
    try:
        sim.wait_line("step=card")
        # a request in three pieces, with a pause, is still one request
        s = socket.create_connection(("127.0.0.1", port), 5)
        req = struct.pack(">HHHB", 7, 0, 6, 1) + read_pdu(3, 0, 2)
        for part in (req[:3], req[3:8], req[8:]):
            s.sendall(part)
            time.sleep(0.1)
        s.settimeout(2 * SLOW)
        rep = s.recv(64)
        assert rep == struct.pack(">HHHB", 7, 0, 7, 1) + bytes([3, 4, 1, 0x6E, 0, 1])
        # a length the protocol does not allow: the connection is closed
        s.sendall(struct.pack(">HHHB", 8, 0, 300, 1))
        assert s.recv(64) == b""
        s.close()
        sim.wait_line("bad MBAP header (length outside 2..254)")
    finally:
        sim.stop()
