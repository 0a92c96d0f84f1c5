"""MQTT done right: TLS with client certificates, user name and password,
MQTT 5 with a fall-back to 3.1.1, persistent sessions across a broker
restart, host names resolved off the loop thread, and [mqtt] config errors.

A throwaway CA, server and client certificates are made with openssl at test
time; no key is kept in the tree."""
import json
import os
import socket
import ssl
import subprocess
import threading
import time

import pytest

from conftest import BUILD, SLOW, VALGRIND, Broker, Gate, Subscriber, free_port, wait_for

WICKETD = os.path.join(BUILD, "wicketd")

PEOPLE = """
1.0  reader1  card 1001
1.3  thermal1 temp 36.6
3.0  reader1  card 1003
3.3  thermal1 temp 36.9
"""


# --- a throwaway PKI ------------------------------------------------------

def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True)


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", name + ".key", "-out", name + ".crt", "-days", "2", "-subj", "/CN=" + name,
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)


def make_leaf(d, ca, name, cn, ext):
    with open(os.path.join(d, name + ".ext"), "w") as f:
        f.write("basicConstraints=CA:FALSE\n" + ext)
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn, cwd=d)
    openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt", "-CAkey", ca + ".key",
            "-CAcreateserial", "-out", name + ".crt", "-days", "2", "-extfile", name + ".ext", cwd=d)


class Pki:
    def __init__(self, d):
        self.d = d
        make_ca(d, "ca")
        make_ca(d, "other-ca")
        make_leaf(d, "ca", "server", "localhost",
                  "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
        make_leaf(d, "ca", "wicketd", "wicket-test-g1", "extendedKeyUsage=clientAuth\n")
        make_leaf(d, "ca", "sub", "test-sub", "extendedKeyUsage=clientAuth\n")

    def path(self, name):
        return os.path.join(self.d, name)

    def listener(self):
        return ("cafile %s\ncertfile %s\nkeyfile %s\nrequire_certificate true\nuse_identity_as_username true\n"
                % (self.path("ca.crt"), self.path("server.crt"), self.path("server.key")))

    def client(self, name="sub"):
        return (self.path("ca.crt"), self.path(name + ".crt"), self.path(name + ".key"))


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return Pki(str(tmp_path_factory.mktemp("pki")))


def tls_broker(tmp_path, pki):
    return Broker(str(tmp_path), listener=pki.listener(), anonymous=False)


def subscribe(port, **kw):
    s = Subscriber(port, **kw)
    wait_for(lambda: s.subscribed, 10, "subscriber subscribed")
    return s


def ids(gate):
    """The MQTT ids of the ledger's passages, in order."""
    return ["g1:%d" % r["seq"] for r in gate.rows()]


def statuses(sub):
    return [json.loads(p)["state"] for (t, p, r) in sub.topic("/status")]


# --- TLS --------------------------------------------------------------------

def test_tls_with_client_certificate(tmp_path, pki, gates):
    b = tls_broker(tmp_path, pki)
    s = subscribe(b.port, tls=pki.client("sub"))
    try:
        # the name, not the address: resolved off the loop and checked against the certificate
        g = gates(PEOPLE, b.port, mqtt_host="localhost",
                  mqtt_extra="ca_file = %s\ncert_file = %s\nkey_file = %s\n" % pki.client("wicketd"))
        g.start()
        ps = wait_for(lambda: len(s.passages()) == 2 and s.passages(), 20, "two passages over TLS")
        assert [p["id"] for p in ps] == ids(g)
        wait_for(lambda: all(r["delivered"] == 1 for r in g.rows()), 5, "rows marked delivered")
        line = g.wicketd.wait_line("mqtt: connected to localhost:%d" % b.port)[0]
        assert "TLSv1." in line, line
        assert "online" in statuses(s)
        assert g.stop() == 0
    finally:
        s.stop()
        b.stop()


def test_tls_wrong_ca(tmp_path, pki, gates):
    b = tls_broker(tmp_path, pki)
    s = subscribe(b.port, tls=pki.client("sub"))
    try:
        g = gates(PEOPLE, b.port, mqtt_extra="ca_file = %s\ncert_file = %s\nkey_file = %s\n"
                  % (pki.path("other-ca.crt"), pki.path("wicketd.crt"), pki.path("wicketd.key")))
        g.start()
        line = g.wicketd.wait_line("TLS handshake with 127.0.0.1:%d failed" % b.port, 15)[0]
        assert "certificate verify failed" in line, line
        assert "retrying in" in line
        # wicketd keeps deciding and recording; nothing reaches the broker
        wait_for(lambda: len(g.rows()) == 2, 15, "two ledger rows")
        assert all(r["delivered"] == 0 for r in g.rows())
        # retried with back-off: the same failure again, at a lower level
        wait_for(lambda: len(g.wicketd.grep("TLS handshake with")) >= 3, 10, "retries")
        assert not g.wicketd.grep("mqtt: connected")
        assert "online" not in statuses(s)
        assert s.passages() == []
        assert g.stop() == 0
    finally:
        s.stop()
        b.stop()


class Tls12Proxy:
    """A TLS 1.2-only front for a plain broker (mosquitto 2.0 cannot be
    limited to 1.2): accepts TLS on its port and passes the bytes on."""

    def __init__(self, pki, broker_port):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        self.ctx.load_cert_chain(pki.path("server.crt"), pki.path("server.key"))
        self.broker_port = broker_port
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            t = self.ctx.wrap_socket(c, server_side=True)
        except (OSError, ssl.SSLError):
            c.close()
            return
        b = socket.create_connection(("127.0.0.1", self.broker_port))

        def pump(src, dst):
            try:
                while True:
                    d = src.recv(4096)
                    if not d:
                        break
                    dst.sendall(d)
            except OSError:
                pass
            for x in (src, dst):
                try:
                    x.close()
                except OSError:
                    pass
        threading.Thread(target=pump, args=(b, t), daemon=True).start()
        pump(t, b)

    def stop(self):
        self.sock.close()


def test_tls_version(pki, broker, gates):
    # a broker that speaks TLS 1.2 at most: the default minimum (tlsv1.2)
    # connects, tls_version = tlsv1.3 refuses to
    proxy = Tls12Proxy(pki, broker.port)
    try:
        g = gates("", proxy.port, mqtt_extra="ca_file = %s\n" % pki.path("ca.crt"))
        g.start_wicketd()
        line = g.wicketd.wait_line("mqtt: connected to", 15)[0]
        assert "TLSv1.2" in line, line
        assert g.stop() == 0
        g13 = gates("", proxy.port, mqtt_extra="tls_version = tlsv1.3\nca_file = %s\n" % pki.path("ca.crt"))
        g13.start_wicketd()
        line = g13.wicketd.wait_line("TLS handshake with 127.0.0.1:%d failed" % proxy.port, 15)[0]
        assert "protocol version" in line or "unsupported protocol" in line, line
        assert not g13.wicketd.grep("mqtt: connected")
        assert g13.stop() == 0
    finally:
        proxy.stop()


# --- user name and password ------------------------------------------------

def password_broker(tmp_path):
    pwfile = os.path.join(str(tmp_path), "mosquitto.passwd")
    subprocess.run(["mosquitto_passwd", "-b", "-c", pwfile, "wicket", "s3cret-pass"], check=True)
    subprocess.run(["mosquitto_passwd", "-b", pwfile, "reader", "reader-pass"], check=True)
    return Broker(str(tmp_path), anonymous=False, extra="password_file %s\n" % pwfile)


def test_username_and_password(tmp_path, gates):
    b = password_broker(tmp_path)
    s = subscribe(b.port, username="reader", password="reader-pass")
    try:
        pw = os.path.join(str(tmp_path), "wicket.password")
        with open(pw, "w") as f:
            f.write("s3cret-pass\n")
        g = gates(PEOPLE, b.port, mqtt_extra="username = wicket\npassword_file = %s\n" % pw)
        g.start()
        ps = wait_for(lambda: len(s.passages()) == 2 and s.passages(), 20, "two passages")
        assert [p["id"] for p in ps] == ids(g)
        assert g.stop() == 0
        assert not [l for l in g.wicketd.output() if "s3cret-pass" in l]
    finally:
        s.stop()
        b.stop()


def test_wrong_password(tmp_path, gates):
    b = password_broker(tmp_path)
    try:
        pw = os.path.join(str(tmp_path), "wicket.password")
        with open(pw, "w") as f:
            f.write("not-the-password\n")
        g = gates(PEOPLE, b.port, mqtt_extra="username = wicket\npassword_file = %s\n" % pw)
        g.start()
        line = g.wicketd.wait_line("refused the connection", 15)[0]
        assert "not authorised" in line, line
        wait_for(lambda: len(g.rows()) == 2, 15, "two ledger rows")
        assert all(r["delivered"] == 0 for r in g.rows())
        assert g.stop() == 0
        assert not [l for l in g.wicketd.output() if "not-the-password" in l]
    finally:
        b.stop()


# --- protocol ----------------------------------------------------------------

def test_protocol_auto_uses_mqtt5(broker, subscriber, gates):
    g = gates(PEOPLE, broker.port)
    g.start()
    line = g.wicketd.wait_line("mqtt: connected to", 10)[0]
    assert "(MQTT 5" in line, line
    wait_for(lambda: len(subscriber.passages()) == 2, 20, "two passages")
    wait_for(lambda: all(r["delivered"] == 1 for r in g.rows()), 5, "rows marked delivered")
    assert g.stop() == 0


def test_protocol_311_forced(broker, subscriber, gates):
    g = gates(PEOPLE, broker.port, mqtt_extra="protocol = 3.1.1\n")
    g.start()
    line = g.wicketd.wait_line("mqtt: connected to", 10)[0]
    assert "(MQTT 3.1.1" in line, line
    wait_for(lambda: len(subscriber.passages()) == 2, 20, "two passages")
    wait_for(lambda: all(r["delivered"] == 1 for r in g.rows()), 5, "rows marked delivered")
    assert g.stop() == 0


class FakeBroker:
    """Just enough of a broker.  By default MQTT 3.1.1 only: a CONNECT of
    protocol level 5 gets the v3 CONNACK 'unacceptable protocol version'
    (1); one of level 4 is accepted and its QoS 1 PUBLISHes acknowledged.
    kick=REASON: accept MQTT 5 too, and drop each client soon after with an
    MQTT 5 DISCONNECT of that reason."""

    def __init__(self, kick=None):
        self.kick = kick
        self.levels = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        self.t = threading.Thread(target=self._accept, daemon=True)
        self.t.start()

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    @staticmethod
    def _packet(c):
        head = c.recv(1)
        if not head:
            return None, None
        n, mult = 0, 1
        while True:
            b = c.recv(1)[0]
            n += (b & 127) * mult
            mult *= 128
            if b < 128:
                break
        body = b""
        while len(body) < n:
            chunk = c.recv(n - len(body))
            if not chunk:
                return None, None
            body += chunk
        return head[0], body

    def _serve(self, c):
        try:
            kind, body = self._packet(c)
            if kind is None or kind >> 4 != 1:
                return
            level = body[6]     # after the 2-byte length and "MQTT"
            self.levels.append(level)
            if level == 5 and self.kick:
                c.sendall(b"\x20\x03\x00\x00\x00")       # CONNACK, no properties
                time.sleep(0.3)
                c.sendall(bytes([0xe0, 2, self.kick, 0]))  # DISCONNECT
                return
            if level != 4:
                c.sendall(b"\x20\x02\x00\x01")
                return
            c.sendall(b"\x20\x02\x00\x00")
            while True:
                kind, body = self._packet(c)
                if kind is None:
                    return
                if kind >> 4 == 3 and (kind >> 1) & 3 == 1:     # PUBLISH QoS 1: PUBACK
                    tlen = (body[0] << 8) | body[1]
                    c.sendall(b"\x40\x02" + body[2 + tlen:4 + tlen])
                elif kind >> 4 == 12:                          # PINGREQ
                    c.sendall(b"\xd0\x00")
                elif kind >> 4 == 14:                          # DISCONNECT
                    return
        except (OSError, IndexError):
            pass
        finally:
            c.close()

    def stop(self):
        self.stopping = True
        self.sock.close()


def test_protocol_auto_falls_back_to_311(gates):
    fake = FakeBroker()
    try:
        g = gates(PEOPLE, fake.port)
        g.start()
        g.wicketd.wait_line("falling back to MQTT 3.1.1", 10)
        line = g.wicketd.wait_line("mqtt: connected to", 10)[0]
        assert "(MQTT 3.1.1" in line, line
        assert fake.levels[:2] == [5, 4], fake.levels
        wait_for(lambda: len(g.rows()) == 2 and all(r["delivered"] == 1 for r in g.rows()), 20,
                 "passages acknowledged by the 3.1.1 broker")
        # remembered: later attempts do not try MQTT 5 again
        assert fake.levels.count(5) == 1
        assert g.stop() == 0
    finally:
        fake.stop()


def test_protocol_5_forced_does_not_fall_back(gates):
    fake = FakeBroker()
    try:
        g = gates(PEOPLE, fake.port, mqtt_extra="protocol = 5\n")
        g.start()
        line = g.wicketd.wait_line("refused the connection", 10)[0]
        assert "unsupported protocol version" in line, line
        wait_for(lambda: len(fake.levels) >= 2, 10, "a second attempt")
        assert set(fake.levels) == {5}
        assert not g.wicketd.grep("falling back")
        assert g.stop() == 0
    finally:
        fake.stop()


def test_publish_refused_by_the_broker_is_not_delivered(tmp_path, gates):
    # an ACL lets wicketd write its status but not its events: with MQTT 5
    # the broker answers each passage with PUBACK 0x87 "not authorised"
    acl = os.path.join(str(tmp_path), "acl")
    with open(acl, "w") as f:
        f.write("topic readwrite wicket/test/g1/status\ntopic read wicket/#\n")
    b = Broker(str(tmp_path), extra="acl_file %s\n" % acl)
    s = subscribe(b.port)
    try:
        g = gates(PEOPLE, b.port)
        g.start()
        wait_for(lambda: "online" in statuses(s), 10, "status online")
        wait_for(lambda: len(g.rows()) == 2, 15, "two ledger rows")
        line = g.wicketd.wait_line("refused a message", 10)[0]
        assert "not authorised (reason 0x87)" in line, line
        time.sleep(1.0 * SLOW)
        # never marked delivered, and the reason is logged once
        assert all(r["delivered"] == 0 for r in g.rows())
        assert len(g.wicketd.grep("refused a message")) == 1
        assert s.passages() == []
        assert g.stop() == 0
    finally:
        s.stop()
        b.stop()


def test_broker_disconnect_reason_is_logged(gates):
    # an MQTT 5 broker says why it drops a client: here, another client
    # took over wicketd's client id
    fake = FakeBroker(kick=0x8e)
    try:
        g = gates("", fake.port)
        g.start()
        line = g.wicketd.wait_line("lost the connection", 10)[0]
        assert "the broker disconnected: session taken over" in line and "(reason 0x8e)" in line, line
        g.wicketd.wait_line("mqtt: connected to", 10)
        assert g.stop() == 0
    finally:
        fake.stop()


# --- a persistent session across a broker restart ---------------------------

def test_persistent_session_broker_restart(tmp_path, gates):
    b = Broker(str(tmp_path), persist=True)
    port = b.port
    # the consumer keeps its own persistent session, as mqtt.md advises
    s = subscribe(port, client_id="test-sub-persistent", clean_session=False)
    scenario = """
1.0  reader1  card 1001
1.3  thermal1 temp 36.6
3.0  reader1  card 1002
3.3  thermal1 temp 36.7
9.0  reader1  card 1003
9.3  thermal1 temp 36.8
11.0 reader1  card 1001
11.3 thermal1 temp 36.9
"""
    g = gates(scenario, port, mqtt_extra="clean_session = no\nkeepalive = 5\n")
    try:
        g.start()
        g.wicketd.wait_line("new session", 10)
        wait_for(lambda: len(s.passages()) == 2, 20 * SLOW, "first two passages")
        wait_for(lambda: len(g.rows()) == 2 and all(r["delivered"] == 1 for r in g.rows()), 5, "delivered")
        b.stop()
        # two passages while the broker is down: stored, not delivered
        wait_for(lambda: len(g.rows()) == 4, 20, "passages while the broker is down")
        assert [r["delivered"] for r in g.rows()] == [1, 1, 0, 0]
        g.wicketd.wait_line("lost the connection", 5)
        b = Broker(str(tmp_path), port, persist=True)
        g.wicketd.wait_line("session resumed", 15)
        ps = wait_for(lambda: len(s.passages()) == 4 and s.passages(), 20, "all four passages")
        # every passage of the ledger, none missing, in order of arrival too
        # (duplicates aside)
        assert [p["id"] for p in ps] == ids(g)
        first = []
        for m in s.json("/event/passage"):
            if m["id"] not in first:
                first.append(m["id"])
        assert first == ids(g), first
        wait_for(lambda: all(r["delivered"] == 1 for r in g.rows()), 10, "all rows delivered")
        assert g.stop() == 0
    finally:
        s.stop()
        b.stop()


# --- a DNS server that never answers ---------------------------------------

def stuck_dns(tmp_path):
    """A resolv.conf naming a local UDP socket that swallows queries, and
    the command to run wicketd with it (a private mount namespace); None
    where that cannot be done."""
    if subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode != 0:
        return None, None
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind(("127.0.0.1", 53))
    except OSError:
        sock.close()
        return None, None
    resolv = os.path.join(str(tmp_path), "resolv.conf")
    with open(resolv, "w") as f:
        f.write("nameserver 127.0.0.1\noptions timeout:30 attempts:1\n")
    wrap = ["unshare", "-m", "sh", "-c", 'mount --bind "$0" /etc/resolv.conf && exec "$@"', resolv]
    return sock, wrap


def test_dns_lookup_does_not_block_the_loop(tmp_path, gates):
    sock, wrap = stuck_dns(tmp_path)
    if sock is None:
        pytest.skip("needs unshare -m and UDP port 53 on 127.0.0.1")
    try:
        g = gates(PEOPLE, free_port(), mqtt_host="broker.wicket.test")
        g.wrap = wrap
        g.start()
        # the lookup hangs for 30 s; passages are decided meanwhile
        wait_for(lambda: len(g.rows()) == 2, 10, "two passages while DNS hangs")
        assert len(g.opens()) >= 1
        g.wicketd.wait_line("no connection within 10 s", 15)
        # stopping does not wait for the stuck lookup
        t = time.monotonic()
        assert g.wicketd.stop() == 0
        assert time.monotonic() - t < 5 * SLOW
    finally:
        sock.close()


# --- configuration errors ---------------------------------------------------

def check_conf(tmp_path, mqtt_extra):
    g = Gate(str(tmp_path), "10 - end\n", 1883, mqtt_extra=mqtt_extra)
    r = subprocess.run(VALGRIND + [WICKETD, "-t", "-c", g.conf], capture_output=True, text=True, timeout=60)
    assert r.returncode != 99, "valgrind: " + r.stderr
    return r.returncode, r.stderr, g.conf, open(g.conf).read()


def line_of(text, needle):
    for i, l in enumerate(text.split("\n"), 1):
        if l.startswith(needle):
            return i
    raise AssertionError(needle)


def test_good_tls_and_auth_config(tmp_path, pki):
    pw = os.path.join(str(tmp_path), "pw")
    with open(pw, "w") as f:
        f.write("secret\n")
    rc, err, conf, text = check_conf(tmp_path, "ca_file = %s\ncert_file = %s\nkey_file = %s\n"
                                     "tls_version = tlsv1.3\nusername = u\npassword_file = %s\n"
                                     "protocol = 5\nclean_session = no\nsession_expiry = 3600\n"
                                     % (pki.client("wicketd") + (pw,)))
    assert rc == 0, err


@pytest.mark.parametrize("extra, needle, message", [
    ("ca_file = /nonexistent/ca.crt\n", "ca_file",
     "ca_file: cannot read /nonexistent/ca.crt: No such file or directory"),
    ("cert_file = {crt}\n", "cert_file",
     "cert_file: needs key_file too"),
    ("key_file = {key}\n", "key_file",
     "key_file: needs cert_file too"),
    ("tls_version = tlsv1.1\n", "tls_version",
     "tls_version: 'tlsv1.1' is not tlsv1.2 or tlsv1.3"),
    ("protocol = 4\n", "protocol",
     "protocol: '4' is not auto, 5 or 3.1.1"),
    ("tls = maybe\n", "tls",
     "tls: 'maybe' is not yes or no"),
    ("username = u\npassword_file = {empty}\n", "password_file",
     "password_file: {empty} is empty"),
    ("username = u\npassword_file = /nonexistent/pw\n", "password_file",
     "password_file: cannot read /nonexistent/pw: No such file or directory"),
    ("password_file = {pw}\n", "password_file",
     "password_file: needs username too"),
    ("session_expiry = 60\n", "session_expiry",
     "session_expiry: only with clean_session = no"),
    ("clean_session = no\nsession_expiry = 0\n", "session_expiry",
     "session_expiry: 0 is out of range"),
])
def test_mqtt_config_errors(tmp_path, pki, extra, needle, message):
    empty = os.path.join(str(tmp_path), "empty")
    open(empty, "w").close()
    pw = os.path.join(str(tmp_path), "pw")
    with open(pw, "w") as f:
        f.write("secret\n")
    names = dict(crt=pki.path("wicketd.crt"), key=pki.path("wicketd.key"), empty=empty, pw=pw)
    rc, err, conf, text = check_conf(tmp_path, extra.format(**names))
    assert rc != 0
    want = "%s:%d: %s" % (conf, line_of(text, needle + " ="), message.format(**names))
    assert want in err, err
