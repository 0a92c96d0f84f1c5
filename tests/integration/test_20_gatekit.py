"""The gate kit through the gpio plugin's simulated chip (sim:PATH): door
forced and held, the exit button, the override key, the fire alarm opening
every lane (a gpio relay held, a Modbus gate pulsed again), the lights, and
the fail state at a clean stop.  The test drives the chip's input lines and
watches its outputs through the chip's control socket (docs/wiring.md,
"Simulated GPIO"); wicketd, wicket-sim (the Modbus lane), mosquitto and the
ledger are real."""
import os
import signal
import socket
import sqlite3
import threading
import time

import pytest

from conftest import SLOW, wait_for

RELAY, GREEN, RED, BUZZER = 0, 1, 2, 3
DOOR, EXIT, OVERRIDE, FIRE = 10, 11, 12, 13

NOBODY = "30.0 - end\n"


class Chip:
    """A client of the simulated chip: one connection for commands, one
    that watches the outputs."""

    def __init__(self, path):
        self.path = path
        wait_for(lambda: os.path.exists(path), 10 * SLOW, "the simulated chip's socket")
        self.cmd = self._connect()
        self.cmd_f = self.cmd.makefile("r")
        self.lock = threading.Lock()
        self.outs = []          # (offset, level, t_ns)
        self.w = self._connect()
        self.w_f = self.w.makefile("r")
        self.w.sendall(b"watch\n")
        assert self.w_f.readline().strip() == "ok"
        self.t = threading.Thread(target=self._watch, daemon=True)
        self.t.start()

    def _connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.path)
        return s

    def _watch(self):
        for line in self.w_f:
            f = line.split()
            if f and f[0] == "out":
                with self.lock:
                    self.outs.append((int(f[1]), int(f[2]), int(f[3])))

    def ask(self, line):
        self.cmd.sendall((line + "\n").encode())
        reply = self.cmd_f.readline().strip()
        return reply

    def set(self, offset, level):
        assert self.ask("set %d %d" % (offset, level)) == "ok"

    def get(self, offset):
        f = self.ask("get %d" % offset).split()
        assert f[0] == "value" and int(f[1]) == offset, f
        return int(f[2])

    def levels(self, offset):
        with self.lock:
            return [lv for (o, lv, t) in self.outs if o == offset]

    def last(self, offset):
        lv = self.levels(offset)
        return lv[-1] if lv else None

    def pulses(self, offset):
        """How many times the output went 1 then 0 again."""
        lv = self.levels(offset)
        return sum(1 for a, b in zip(lv, lv[1:]) if (a, b) == (1, 0))

    def press(self, offset, ms=100):
        """Active for ms (longer than the 20 ms debounce), then not."""
        self.set(offset, 1)
        time.sleep(ms / 1000.0)
        self.set(offset, 0)

    def close(self):
        for s in (self.cmd, self.w):
            try:
                s.close()
            except OSError:
                pass


def kit_conf(sock, fail="secure", fire_bias="pull-down"):
    """A gpio device `kit` and a lane `side` that uses it for everything."""
    return (
        "[device kit]\nplugin = gpio\nchip = sim:%s\n"
        "relay = %d\ngreen = %d\nred = %d\nbuzzer = %d\npulse_ms = 300\n"
        "door = %d\ndoor_bias = pull-down\n"
        "exit_button = %d\nexit_button_bias = pull-down\n"
        "override = %d\noverride_bias = pull-down\n"
        "fire_alarm = %d\nfire_alarm_bias = %s\n"
        "[lane side]\ndirection = out\ngate = kit\ndoor = kit\nexit_button = kit\n"
        "override = kit\nindicator = kit\ndoor_held_ms = 1500\ndoor_grant_ms = 3000\n"
        "fail = %s\n"
        % (sock, RELAY, GREEN, RED, BUZZER, DOOR, EXIT, OVERRIDE, FIRE, fire_bias, fail))


def events(g, kind, reason=None):
    if not os.path.exists(g.db):
        return []
    con = sqlite3.connect(g.db)
    con.row_factory = sqlite3.Row
    try:
        q = "SELECT * FROM event WHERE kind = ?"
        args = [kind]
        if reason:
            q += " AND reason = ?"
            args.append(reason)
        return [dict(r) for r in con.execute(q + " ORDER BY seq", args)]
    except sqlite3.OperationalError:
        return []
    finally:
        con.close()


@pytest.fixture
def kit(broker, gates):
    made = []

    def make(scenario=NOBODY, **kw):
        g = gates(scenario, broker.port, extra_conf="")
        sock = os.path.join(g.control_dir, "gpio.sock")
        g.extra_conf = kit_conf(sock, **kw)
        g.write_conf(("1001", "1002", "1003"))
        g.start()
        chip = Chip(sock)
        made.append(chip)
        wait_for(lambda: g.wicketd.grep("wicketd 0") or g.wicketd.grep("started"), 10 * SLOW,
                 "wicketd started")
        return g, chip
    yield make
    for c in made:
        c.close()


def test_door_forced_held_closed(kit, subscriber):
    g, chip = kit()
    # nothing granted: opening the door is forced
    chip.set(DOOR, 1)
    forced = wait_for(lambda: events(g, "alarm", "door_forced"), 5 * SLOW, "door_forced")
    assert forced[0]["lane"] == "side" and forced[0]["state"] == "high"
    assert "without a granted passage" in forced[0]["message"]
    assert g.wicketd.grep("alarm door_forced lane=side")
    # still open after door_held_ms: door held, once
    held = wait_for(lambda: events(g, "alarm", "door_held"), 5 * SLOW, "door_held")
    assert held[0]["state"] == "medium"
    time.sleep(1.0)
    assert len(events(g, "alarm", "door_held")) == 1
    chip.set(DOOR, 0)
    wait_for(lambda: events(g, "alarm", "door_closed"), 5 * SLOW, "door_closed")
    # the alarms went out on MQTT, and the alarm pattern ran on the lights
    kinds = wait_for(lambda: {a["kind"] for a in subscriber.json("/event/alarm")} >=
                     {"door_forced", "door_held", "door_closed"} and
                     {a["kind"] for a in subscriber.json("/event/alarm")}, 10, "alarms on MQTT")
    assert "door_forced" in kinds
    assert 1 in chip.levels(RED) and 1 in chip.levels(BUZZER)
    # the gate never opened
    assert 1 not in chip.levels(RELAY)


def test_door_bounce_is_debounced(kit):
    g, chip = kit()
    # a 5 ms blip is shorter than the default 20 ms debounce: nothing
    chip.set(DOOR, 1)
    chip.set(DOOR, 0)
    time.sleep(0.5)
    assert events(g, "alarm", "door_forced") == []
    assert not g.wicketd.grep("door active")


def test_exit_button_grants_the_door(kit):
    g, chip = kit()
    chip.press(EXIT)
    rows = wait_for(lambda: g.rows("lane = 'side'"), 5 * SLOW, "the exit passage")
    assert (rows[0]["decision"], rows[0]["reason"], rows[0]["credential"], rows[0]["direction"]) == \
        ("allow", "exit_button", None, "out")
    # the relay pulsed (fail = secure: energised is open) and the green light came on
    wait_for(lambda: chip.pulses(RELAY) == 1, 5 * SLOW, "a relay pulse")
    assert 1 in chip.levels(GREEN)
    # the door opens within door_grant_ms: no alarm
    chip.set(DOOR, 1)
    time.sleep(0.4)
    chip.set(DOOR, 0)
    time.sleep(0.4)
    assert events(g, "alarm", "door_forced") == []
    # one grant, one opening: again without a press is forced
    chip.set(DOOR, 1)
    wait_for(lambda: events(g, "alarm", "door_forced"), 5 * SLOW, "the second opening forced")


def test_override_key_opens_once_and_is_logged(kit):
    g, chip = kit()
    chip.set(OVERRIDE, 1)
    rows = wait_for(lambda: g.rows("lane = 'side'"), 5 * SLOW, "the override passage")
    assert (rows[0]["decision"], rows[0]["reason"]) == ("allow", "override_key")
    assert g.wicketd.grep("override key of kit turned")
    wait_for(lambda: chip.pulses(RELAY) == 1, 5 * SLOW, "one relay pulse")
    # held turned: still one opening
    time.sleep(0.6)
    assert len(g.rows("lane = 'side'")) == 1 and chip.pulses(RELAY) == 1
    chip.set(OVERRIDE, 0)


def test_fire_alarm_opens_every_lane(kit, subscriber):
    g, chip = kit()
    opens_before = len(g.opens())
    chip.set(FIRE, 1)
    fire = wait_for(lambda: events(g, "alarm", "fire_alarm"), 5 * SLOW, "fire_alarm")
    assert fire[0]["state"] == "critical" and "every lane held open" in fire[0]["message"]
    # the gpio gate is held open, not pulsed
    wait_for(lambda: chip.last(RELAY) == 1, 5 * SLOW, "the relay held")
    # the Modbus gate of lane main cannot hold: it is pulsed again
    wait_for(lambda: len(g.opens()) >= opens_before + 2, 5 * SLOW, "repeated opens of gate1")
    st = wait_for(lambda: [m for m in subscriber.json("/status") if m.get("emergency")],
                  5 * SLOW, "the status says emergency")
    assert st[-1]["emergency"] is True
    # doors are not supervised during the emergency
    chip.set(DOOR, 1)
    time.sleep(2.0)      # longer than door_held_ms too
    assert events(g, "alarm", "door_forced") == [] and events(g, "alarm", "door_held") == []
    assert chip.last(RELAY) == 1 and chip.pulses(RELAY) == 0
    chip.set(FIRE, 0)
    cleared = wait_for(lambda: events(g, "alarm", "fire_alarm_cleared"), 5 * SLOW, "cleared")
    assert cleared[0]["state"] == "low"
    wait_for(lambda: chip.last(RELAY) == 0, 5 * SLOW, "the relay released")
    n = len(g.opens())
    time.sleep(1.5)
    assert len(g.opens()) <= n + 1      # one may have been on its way
    # the door still open is timed afresh: held after door_held_ms
    wait_for(lambda: events(g, "alarm", "door_held"), 5 * SLOW, "door_held after the emergency")


def test_fire_alarm_active_at_start(kit):
    # pull-up bias and active high: the input reads active from the start
    g, chip = kit(fire_bias="pull-up")
    wait_for(lambda: events(g, "alarm", "fire_alarm"), 5 * SLOW, "fire_alarm at start")
    wait_for(lambda: chip.get(RELAY) == 1, 5 * SLOW, "the relay held from the start")
    assert g.wicketd.grep("fire_alarm active (at start)")


def test_reload_during_fire_alarm(kit):
    """A SIGHUP while the fire alarm holds: the emergency carries over
    (no second alarm, no "cleared"), and the new gpio instance holds the
    relay again.  The simulated chip is made anew by the reload (on a
    board the lines keep their levels); the fire input reads active again
    through its pull-up."""
    g, chip = kit(fire_bias="pull-up")
    wait_for(lambda: events(g, "alarm", "fire_alarm"), 5 * SLOW, "fire_alarm at start")
    wait_for(lambda: chip.get(RELAY) == 1, 5 * SLOW, "the relay held")
    chip.close()
    os.kill(g.wicketd.p.pid, signal.SIGHUP)
    wait_for(lambda: g.wicketd.grep("configuration reloaded"), 10 * SLOW, "the reload")
    assert g.wicketd.grep("reload during a fire alarm: every lane stays held open")
    chip = Chip(chip.path)
    try:
        wait_for(lambda: chip.get(RELAY) == 1, 5 * SLOW, "the relay held after the reload")
        time.sleep(1.5)
        assert len(events(g, "alarm", "fire_alarm")) == 1
        assert events(g, "alarm", "fire_alarm_cleared") == []
        assert chip.get(RELAY) == 1
        # and it still clears when the input does
        chip.ask("set %d 0" % FIRE)
        wait_for(lambda: events(g, "alarm", "fire_alarm_cleared"), 5 * SLOW, "cleared")
        wait_for(lambda: chip.get(RELAY) == 0, 5 * SLOW, "the relay released")
    finally:
        chip.close()


@pytest.mark.parametrize("fail", ["safe", "secure"])
def test_fail_state_at_clean_stop(kit, fail):
    g, chip = kit(fail=fail)
    # closed while running: fail = safe energises the relay to keep it shut
    wait_for(lambda: chip.get(RELAY) == (1 if fail == "safe" else 0), 5 * SLOW,
             "the relay closed at start")
    w, g.wicketd = g.wicketd, None
    assert w.stop() == 0
    # what the relay was left as: de-energised, the fail state, either way
    if fail == "safe":
        assert chip.levels(RELAY)[-1:] == [0], chip.outs
    else:
        assert 1 not in chip.levels(RELAY), chip.outs
    assert w.grep("lane side: stopping with the gate %s (fail = %s)"
                  % ("open" if fail == "safe" else "closed", fail))
