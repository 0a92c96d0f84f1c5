"""Remote administration over MQTT against one real wicketd: signed rules
updates applied and acknowledged on rules/state, each refusal with its code
and nothing changed, rollback, persistence across a restart, commands with
MQTT 5 response topics and the 3.1.1 reply topic, the audit trail, and an
update in the middle of a burst of passages."""
import base64
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from cryptography.hazmat.primitives import serialization

from conftest import BUILD, RULES, SLOW, Subscriber, wait_for, wicketctl


def b64(b):
    return base64.b64encode(b).decode()


class Admin:
    """A key pair made with wicketctl keygen, and envelopes signed with it,
    by wicketctl sign or, for crafted cases, here."""

    def __init__(self, tmp, key_id):
        self.id = key_id
        self.pem = os.path.join(tmp, key_id + ".pem")
        wicketctl("keygen", "--key-id", key_id, "--out", self.pem)
        self.pub = open(self.pem + ".pub").read().strip()
        self.key = serialization.load_pem_private_key(open(self.pem, "rb").read(), None)

    def sign(self, *args):
        rc, out, err = wicketctl("sign", "--key", self.pem, "--key-id", self.id, *args)
        return out.strip()

    def craft(self, doc, key_id=None):
        raw = doc if isinstance(doc, bytes) else json.dumps(doc, separators=(",", ":")).encode()
        return json.dumps({"wicket": 1, "key": key_id or self.id, "signed": b64(raw),
                           "sig": b64(self.key.sign(raw))})


def push_id(envelope):
    """What the gate names its answer with: SHA-256 of the payload."""
    return hashlib.sha256(envelope.encode()).hexdigest()[:16]


def rules_file(tmp, version, edit=None):
    doc = json.load(open(RULES))
    doc["version"] = version
    if edit:
        edit(doc)
    path = os.path.join(tmp, "rules-%d.json" % version)
    json.dump(doc, open(path, "w"), indent=1)
    return path


def now_iso(delta=0):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + delta))


def publish(port, topic, payload, v5=True, props=None):
    c = mqtt.Client(client_id="admin-%d-%f" % (os.getpid(), time.time()),
                    protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311)
    c.connect("127.0.0.1", port)
    c.loop_start()
    info = c.publish(topic, payload, qos=1, properties=props) if v5 else \
        c.publish(topic, payload, qos=1)
    info.wait_for_publish(5)
    c.loop_stop()
    c.disconnect()


def state(sub, family="rules"):
    msgs = sub.topic("/%s/state" % family)
    return json.loads(msgs[-1][1]) if msgs else None


def wait_state(sub, pid, family="rules", timeout=10):
    return wait_for(lambda: (state(sub, family) or {}).get("last", {}).get("id") == pid
                    and state(sub, family), timeout * SLOW, "%s/state for push %s" % (family, pid))


def admin_gate(gates, tmp, broker, admins, scenario="60 - end\n", **kw):
    keys = os.path.join(tmp, "admin-keys")
    with open(keys, "w") as f:
        f.write("# test keys\n" + "".join(a.pub + "\n" for a in admins))
    return gates(scenario, broker.port, extra_conf="[admin]\nkeys = %s\n" % keys, **kw)


def test_rules_update_refusals_rollback(tmp_path, broker, gates):
    tmp = str(tmp_path)
    ops, other = Admin(tmp, "ops-1"), Admin(tmp, "other")
    g = admin_gate(gates, tmp, broker, [ops])
    sub = Subscriber(broker.port)
    wait_for(lambda: sub.subscribed, 5, "subscriber")
    try:
        g.start()
        st = wait_for(lambda: state(sub), 10, "retained rules/state at connect")
        assert st["version"] == 1 and st["previous"] is None and "last" not in st
        assert state(sub, "lists")["version"] >= 1
        topic = "wicket/test/g1/rules/set"

        # a valid update, to this gate
        env2 = ops.sign("--site", "test", "--gate", "g1", "--kind", "rules", rules_file(tmp, 2))
        publish(broker.port, topic, env2)
        st = wait_state(sub, push_id(env2))
        assert st["version"] == 2 and st["previous"] == 1
        assert st["last"]["result"] == "applied" and st["last"]["key"] == "ops-1"
        assert g.ctl("--json", "status")[1] and json.loads(g.ctl("--json", "status")[1])["rules_version"] == 2
        # the same message again (a re-delivery): nothing happens
        publish(broker.port, topic, env2)
        wait_for(lambda: len(sub.json("/event/audit")) >= 2, 10, "two audit events")
        assert sub.json("/event/audit")[1]["result"] == "unchanged"
        assert state(sub)["last"]["result"] == "unchanged" and state(sub)["version"] == 2

        # each refusal: its code on rules/state, and version 2 stays
        def refused(env, code, text="", to=topic):
            publish(broker.port, to, env)
            s = wait_state(sub, push_id(env))
            assert s["version"] == 2, s
            assert s["last"]["result"] == "refused" and s["last"]["error"] == code, s
            assert text in s["last"]["message"], s
            return s

        doc3 = json.load(open(rules_file(tmp, 3)))
        good = {"kind": "rules", "site": "test", "gate": "g1", "version": 3,
                "issued": now_iso(), "expires": now_iso(600), "rules": doc3}
        raw = json.dumps(good, separators=(",", ":")).encode()
        flipped = json.loads(ops.craft(raw))
        flipped["sig"] = b64(bytes([base64.b64decode(flipped["sig"])[0] ^ 1]) +
                             base64.b64decode(flipped["sig"])[1:])
        refused(json.dumps(flipped), "bad_signature")
        refused(other.craft(good), "unknown_key", "other")
        refused(ops.craft(dict(good, site="elsewhere")), "wrong_target")
        refused(ops.craft(dict(good, gate="g2")), "wrong_target")
        refused(ops.craft(dict(good, issued=now_iso(-7200), expires=now_iso(-3600))), "expired")
        refused(ops.craft(dict(good, issued=now_iso(3600), expires=now_iso(7200))), "not_yet_valid")
        old = dict(good, version=2, rules=json.load(open(rules_file(tmp, 2, lambda d: d.update(description="x")))))
        refused(ops.craft(old), "replay", "not newer")
        s = refused(ops.craft(b'{"kind": "rules", "site": "test",\n "gate": }'), "bad_document")
        assert "2:" in s["last"]["message"], s      # LINE:COL of the signed bytes
        refused(ops.craft(dict(good, rules=dict(doc3, rules=doc3["rules"] + [{"id": "x"}]))),
                "invalid_rules", "$.rules.rules[")
        publish(broker.port, topic, "{not json")
        s = wait_state(sub, push_id("{not json"))
        assert s["last"]["error"] == "bad_envelope" and s["version"] == 2

        # to every gate of the site, then a rollback
        env3 = ops.sign("--site", "test", "--all", "--kind", "rules", rules_file(tmp, 3))
        publish(broker.port, "wicket/test/all/rules/set", env3)
        assert wait_state(sub, push_id(env3))["version"] == 3
        back = ops.sign("--site", "test", "--gate", "g1", "--kind", "rollback", "--version", "3")
        publish(broker.port, "wicket/test/g1/rules/rollback", back)
        st = wait_state(sub, push_id(back))
        assert st["version"] == 2 and st["last"]["result"] == "rolled_back" and st["previous"] is None
        # replaying version 3 after the rollback: refused (3 was accepted once)
        publish(broker.port, "wicket/test/all/rules/set", env3)
        st = wait_state(sub, push_id(env3))
        assert st["last"]["error"] == "replay" and st["version"] == 2
        # a replayed rollback does nothing either
        publish(broker.port, "wicket/test/g1/rules/rollback", back)
        assert wait_state(sub, push_id(back))["last"]["result"] == "refused"

        # the audit trail: every message, in the ledger and on MQTT
        audits = wait_for(lambda: len(sub.json("/event/audit")) >= 16 and sub.json("/event/audit"),
                          10, "audit events")
        assert [a["result"] for a in audits[:2]] == ["applied", "unchanged"]
        assert {a["error"] for a in audits if a["result"] == "refused"} >= {
            "bad_signature", "unknown_key", "wrong_target", "expired", "not_yet_valid",
            "replay", "bad_document", "invalid_rules", "bad_envelope"}
        con = sqlite3.connect(g.db)
        rows = con.execute("SELECT reason, state, rules_version FROM event WHERE kind = 'audit'"
                           " ORDER BY seq").fetchall()
        con.close()
        assert len(rows) == len(audits) and rows[0] == ("rules", "applied", 2)

        # a restart keeps the remote rules over the older file
        g.wicketd.stop()
        g.start_wicketd()
        wait_for(lambda: g.ctl("--json", "status", check=False)[0] in (0, 1), 10, "restarted")
        assert json.loads(g.ctl("--json", "status", check=False)[1])["rules_version"] == 2
        assert g.wicketd.grep("from a remote update (key ops-1) are in force")
    finally:
        sub.stop()


def test_commands(tmp_path, broker, gates):
    tmp = str(tmp_path)
    ops = Admin(tmp, "ops-1")
    g = admin_gate(gates, tmp, broker, [ops])
    g.start()
    wait_for(lambda: g.ctl("status", check=False)[0] in (0, 1), 10, "wicketd up")
    replies = []
    c = mqtt.Client(client_id="admin-replies", protocol=mqtt.MQTTv5)
    c.on_message = lambda cl, u, m: replies.append((m.topic, m.payload, getattr(m.properties, "CorrelationData", None)))
    c.connect("127.0.0.1", broker.port)
    c.subscribe([("admin/replies", 1), ("wicket/test/g1/cmd/reply", 1)])
    c.loop_start()
    try:
        time.sleep(0.3)

        def cmd(name, *args, v5=True, corr=b"c-1", nonce=None):
            env = ops.sign("--site", "test", "--gate", "g1", "--kind", "cmd", "--cmd", name,
                           *(["--id", nonce] if nonce else []), *args)
            props = None
            if v5:
                props = Properties(PacketTypes.PUBLISH)
                props.ResponseTopic = "admin/replies"
                props.CorrelationData = corr
            n = len(replies)
            publish(broker.port, "wicket/test/g1/cmd/" + name, env, v5=v5, props=props)
            return wait_for(lambda: len(replies) > n and replies[n], 10 * SLOW, "reply to " + name)

        topic, payload, corr = cmd("open", "--lane", "main", nonce="open-0001")
        r = json.loads(payload)
        assert topic == "admin/replies" and corr == b"c-1"
        assert r == {"id": "open-0001", "cmd": "open", "ok": True, "result": {"lane": "main"}}
        rows = wait_for(lambda: g.rows(), 5, "the remote open's passage")
        assert (rows[0]["decision"], rows[0]["reason"]) == ("allow", "remote_open")
        wait_for(lambda: g.opens(), 5, "the gate opened")
        # the same command again: a replay
        _, payload, _ = cmd("open", "--lane", "main", nonce="open-0001", corr=b"c-2")
        assert json.loads(payload)["error"] == "replay"
        _, payload, _ = cmd("open", "--lane", "nosuch")
        assert json.loads(payload)["error"] == "bad_command"
        _, payload, corr = cmd("mode", "--mode", "lockdown", corr=b"\x00\x01")
        assert json.loads(payload)["result"] == {"mode": "lockdown"} and corr == b"\x00\x01"
        st = json.loads(g.ctl("--json", "status")[1])
        assert st["mode"] == "lockdown" and st["mode_set_by"] == "command"
        # MQTT 3.1.1: no response topic, so the documented reply topic
        topic, payload, _ = cmd("status", v5=False)
        assert topic == "wicket/test/g1/cmd/reply"
        r = json.loads(payload)
        assert r["ok"] and r["result"]["gate"] == "g1" and r["result"]["mode"] == "lockdown"
        con = sqlite3.connect(g.db)
        audit = con.execute("SELECT reason, state FROM event WHERE kind = 'audit' ORDER BY seq").fetchall()
        con.close()
        assert audit == [("cmd", "done"), ("cmd", "refused"), ("cmd", "refused"), ("cmd", "done"),
                         ("cmd", "done")]
    finally:
        c.loop_stop()
        c.disconnect()


def test_update_during_a_burst(tmp_path, broker, gates):
    """Every passage is decided by version 1 or version 2 as a whole, none
    is lost, and once version 2 decides, version 1 never does again."""
    tmp = str(tmp_path)
    ops = Admin(tmp, "ops-1")
    steps = "".join("%.1f reader1 card 1001\n%.1f thermal1 temp 36.6\n" % (1 + 0.3 * i, 1.1 + 0.3 * i)
                    for i in range(30))
    g = admin_gate(gates, tmp, broker, [ops], scenario=steps + "12 - end\n", window_ms=200)
    sub = Subscriber(broker.port)
    wait_for(lambda: sub.subscribed, 5, "subscriber")
    try:
        g.start()
        wait_for(lambda: len(g.rows()) >= 8, 15 * SLOW, "passages under way")
        env = ops.sign("--site", "test", "--all", "--kind", "rules", rules_file(tmp, 2))
        publish(broker.port, "wicket/test/all/rules/set", env)
        wait_state(sub, push_id(env))
        rows = wait_for(lambda: len(g.rows()) >= 30 and g.rows(), 20 * SLOW, "all 30 passages")
        versions = [r["rules_version"] for r in rows]
        assert len(rows) == 30 and set(versions) == {1, 2}, versions
        first2 = versions.index(2)
        assert all(v == 2 for v in versions[first2:]), versions
        assert all(r["decision"] == "allow" for r in rows)
    finally:
        sub.stop()


def test_lists_updates(tmp_path, broker, gates):
    """Registry snapshots and deltas over MQTT: applied with the version
    they name, wrong base and invalid rows refused with nothing changed."""
    tmp = str(tmp_path)
    ops = Admin(tmp, "ops-1")
    g = admin_gate(gates, tmp, broker, [ops])
    sub = Subscriber(broker.port)
    wait_for(lambda: sub.subscribed, 5, "subscriber")

    def persons():
        return sorted(p["id"] for p in json.loads(g.ctl("--json", "persons", "list")[1]))

    def push(doc, version, gate="g1"):
        path = os.path.join(tmp, "lists-%d.json" % version)
        json.dump(doc, open(path, "w"))
        env = ops.sign("--site", "test", "--gate", gate, "--kind", "lists", "--version",
                       str(version), path)
        publish(broker.port, "wicket/test/%s/lists/set" % gate, env)
        return wait_state(sub, push_id(env), "lists")

    try:
        g.start()
        v0 = wait_for(lambda: state(sub, "lists"), 10, "lists/state")["version"]
        snap = {"mode": "snapshot", "registry": {
            "households": [{"id": "h1", "unit": "1-101"}, {"id": "h2", "unit": "1-102"}],
            "persons": [{"id": "p-a", "household": "h1", "role": "resident"},
                        {"id": "p-b", "household": "h2", "role": "resident"}],
            "credentials": [{"value": "2001", "kind": "card", "person": "p-a"}]}}
        st = push(snap, v0 + 10)
        assert st["version"] == v0 + 10 and st["last"]["result"] == "applied", st
        assert persons() == ["p-a", "p-b"]
        delta = {"mode": "delta", "base": v0 + 10,
                 "upsert": {"persons": [{"id": "p-c", "household": "h2", "role": "tenant"}]},
                 "remove": {"persons": ["p-b"]}}
        st = push(delta, v0 + 11)
        assert st["version"] == v0 + 11 and st["last"]["result"] == "applied", st
        assert persons() == ["p-a", "p-c"]
        # the same delta again: its base is gone
        st = push(dict(delta, base=v0 + 10), v0 + 12)
        assert st["last"]["error"] == "wrong_base" and st["version"] == v0 + 11
        bad = {"mode": "delta", "base": v0 + 11,
               "upsert": {"persons": [{"id": "p-d", "household": "h9", "role": "resident"}]}}
        st = push(bad, v0 + 12)
        assert st["last"]["error"] == "invalid_lists" and "$.lists.upsert.persons[0]" in \
            st["last"]["message"], st
        st = push(snap, v0 + 11)
        assert st["last"]["error"] == "replay" and st["version"] == v0 + 11
        assert persons() == ["p-a", "p-c"]
        # the running wicketd loaded the new registry
        g.wicketd.wait_line("registry version %d loaded" % (v0 + 11), 10)
    finally:
        sub.stop()


def test_abuse(tmp_path, broker, gates):
    """What someone who may publish on the broker, without a key, can do:
    not choose where the gate answers, not flood the audit trail; and what
    a key taken out of the file at a reload can no longer do."""
    tmp = str(tmp_path)
    ops, other = Admin(tmp, "ops-1"), Admin(tmp, "other")
    g = admin_gate(gates, tmp, broker, [ops, other])
    sub = Subscriber(broker.port)
    wait_for(lambda: sub.subscribed, 5, "subscriber")
    try:
        g.start()
        wait_for(lambda: state(sub), 10, "rules/state")
        # an unverified command's response topic is not used: cmd/reply is
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = "wicket/test/g1/event/passage"
        props.CorrelationData = b"x"
        publish(broker.port, "wicket/test/g1/cmd/open", "not signed at all", props=props)
        wait_for(lambda: sub.topic("/cmd/reply"), 10, "the refusal on cmd/reply")
        assert not [p for (t, p, r) in sub.topic("/event/passage") if "bad_envelope" in p]
        # a flood of unverified messages: 10 audited a minute
        for i in range(15):
            publish(broker.port, "wicket/test/g1/rules/set", "junk %d" % i)
        time.sleep(2 * SLOW)
        con = sqlite3.connect(g.db)
        n = con.execute("SELECT count(*) FROM event WHERE kind = 'audit'").fetchone()[0]
        con.close()
        assert n == 10, n       # the command above and 9 of the 15
        # a stale command (queued while the gate was away) and a retained one
        base = {"kind": "cmd", "site": "test", "gate": "g1", "id": "stale-001",
                "issued": now_iso(-180), "expires": now_iso(600),
                "cmd": {"name": "open", "lane": "main"}}
        n_replies = len(sub.topic("/cmd/reply"))
        publish(broker.port, "wicket/test/g1/cmd/open", ops.craft(base), v5=False)
        r = json.loads(wait_for(lambda: len(sub.topic("/cmd/reply")) > n_replies and
                                sub.topic("/cmd/reply")[-1][1], 10, "stale reply"))
        assert r["error"] == "expired" and "issued 18" in r["message"], r
        # a retained command reaches a gate at its next connect: refused
        g.wicketd.stop()
        c = mqtt.Client(client_id="retainer", protocol=mqtt.MQTTv311)
        c.connect("127.0.0.1", broker.port)
        c.loop_start()
        fresh = dict(base, id="retained-01", issued=now_iso(), expires=now_iso(60))
        c.publish("wicket/test/g1/cmd/open", ops.craft(fresh), qos=1, retain=True).wait_for_publish(5)
        n_replies = len(sub.topic("/cmd/reply"))
        g.start_wicketd()
        r = json.loads(wait_for(lambda: len(sub.topic("/cmd/reply")) > n_replies and
                                sub.topic("/cmd/reply")[-1][1], 10, "retained reply"))
        assert r["error"] == "bad_command" and "retained" in r["message"], r
        c.publish("wicket/test/g1/cmd/open", b"", qos=1, retain=True).wait_for_publish(5)
        c.loop_stop()
        c.disconnect()
        assert not g.opens(), "nothing opened the gate"
        # a key removed from the file stops being trusted at the reload
        keys = os.path.join(tmp, "admin-keys")
        open(keys, "w").write(other.pub + "\n")
        g.wicketd.p.send_signal(signal.SIGHUP)
        g.wicketd.wait_line("configuration reloaded", 10)
        env = ops.sign("--site", "test", "--gate", "g1", "--kind", "rules", rules_file(tmp, 2))
        publish(broker.port, "wicket/test/g1/rules/set", env)
        assert wait_state(sub, push_id(env))["last"]["error"] == "unknown_key"
        env = other.sign("--site", "test", "--gate", "g1", "--kind", "rules", rules_file(tmp, 2))
        publish(broker.port, "wicket/test/g1/rules/set", env)
        assert wait_state(sub, push_id(env))["version"] == 2
    finally:
        sub.stop()
