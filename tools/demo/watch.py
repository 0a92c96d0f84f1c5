#!/usr/bin/python3
"""Demo watcher: subscribes to a gate's MQTT topics like a community server
would, prints one line per passage, alarm and device event, and a summary
when it gets SIGTERM.  Usage:

  watch.py PORT SUMMARY_FILE [--sim-log FILE]... [--wicketd-log FILE]

(SUMMARY_FILE.ready appears once it is subscribed).  Each --sim-log
follows the log of a wicket-sim and prints what the gate did, which the
broker does not carry: a Modbus gate's open commands; a gate kit's door
contact, every change of its relay, and a light coming on when it starts a
pattern (not each blink; the buzzer not at all).  --wicketd-log follows
wicketd's log for what never becomes a passage: a bad Wiegand frame or a
rejected scanner line, warned and counted.  All lines go through one
lock, so lines from the sources never mix."""
import collections
import datetime
import json
import os
import re
import signal
import sys
import threading
import time

import paho.mqtt.client as mqtt

port = int(sys.argv[1])
summary_file = sys.argv[2]
opts = list(zip(sys.argv[3::2], sys.argv[4::2]))
passages = {}
alarms = collections.Counter()
device_events = 0
lock = threading.Lock()
done = threading.Event()


def out(s):
    sys.stdout.write(s + "\n")
    sys.stdout.flush()


def now():
    return datetime.datetime.now().strftime("%H:%M:%S")


def credential(e):
    c = e.get("credential")
    if not c:
        return "-"
    # a signed pass is recorded as "pass KEYID SERIAL" (docs/passes.md)
    return c if c.startswith("pass ") else "card " + c


def on_message(c, u, m):
    global device_events
    try:
        e = json.loads(m.payload)
    except ValueError:
        out("  ? %s: not JSON" % m.topic)
        return
    with lock:
        if m.topic.endswith("/event/passage"):
            if e["id"] in passages:
                return
            passages[e["id"]] = e
            t = e["time"][11:19]
            temp = "%.1f C" % e["temperature"] if e.get("temperature") is not None else "  -   "
            if e.get("retest"):
                temp += " (re-test of %.1f)" % e["first_temperature"]
            out("%s  %-9s %-3s  %-24s %s  %-5s  %s%s%s" % (
                t, e["lane"], e["direction"], credential(e), temp,
                e["decision"].upper(), e["reason"],
                " (%s)" % e["rule"] if e.get("rule") else "",
                "  ALARM" if e["alarm"] else ""))
        elif m.topic.endswith("/event/alarm"):
            alarms[e["kind"]] += 1
            out("%s  ALARM     %s (%s) at lane %s: %s" % (e["time"][11:19], e["kind"], e["severity"],
                                                       e.get("lane") or "-", e["message"]))
        elif m.topic.endswith("/event/device"):
            device_events += 1
            out("%s  device    %s %s: %s" % (e["time"][11:19], e["device"], e["state"], e["message"]))


def on_connect(c, u, f, rc):
    c.subscribe("wicket/+/+/event/#", qos=1)


def on_subscribe(c, u, mid, qos):
    open(summary_file + ".ready", "w").close()


def follow(path, handle):
    """Hand each whole line of path to handle, as it is written; the file
    need not exist yet."""
    f = None
    buf = ""
    while not done.is_set():
        if f is None:
            try:
                f = open(path, "r", errors="replace")
            except OSError:
                time.sleep(0.05)
                continue
        chunk = f.read()
        if not chunk:
            # short, so that a door opening prints before the alarm it
            # raises (20 ms of debounce later)
            time.sleep(0.01)
            continue
        buf += chunk
        *whole, buf = buf.split("\n")
        for line in whole:
            handle(line)


# wicket-sim's lines (docs/wicket-sim.md, "The output"), e.g.
#   wicket-sim: t=4.080 device=kit1 output=relay level=1 active=1 mono_us=...
#   wicket-sim: t=4.600 device=kit1 step=door value=open
#   wicket-sim: t=1.395 device=gate1 command=open address=0 value=1 mono_us=...
SIM_OUT = re.compile(r"device=(\S+) output=(relay|green|red) level=\d active=(\d) mono_us=")
SIM_DOOR = re.compile(r"device=(\S+) step=door value=(open|closed)$")
SIM_OPEN = re.compile(r"device=(\S+) command=open ")
LIGHT_GAP_S = 1.0       # a light coming on after this long off starts a new pattern
light_last = {}


def on_sim_line(line):
    if "initial=1" in line:
        return
    m = SIM_OUT.search(line)
    if m is not None:
        dev, what, active = m.group(1), m.group(2), m.group(3) == "1"
        with lock:
            if what == "relay":
                out("%s  %-9s relay %s" % (now(), dev, "energised: door unlocked" if active
                                           else "released: door locked"))
            elif active:
                t = time.monotonic()
                last = light_last.get((dev, what))
                light_last[(dev, what)] = t
                if last is None or t - last > LIGHT_GAP_S:
                    out("%s  %-9s %s light on" % (now(), dev, what))
        return
    m = SIM_DOOR.search(line)
    if m is not None:
        with lock:
            out("%s  %-9s door %s" % (now(), m.group(1), "opened" if m.group(2) == "open"
                                      else "closed"))
        return
    m = SIM_OPEN.search(line)
    if m is not None:
        with lock:
            out("%s  %-9s gate open command (Modbus)" % (now(), m.group(1)))


# wicketd: "... device wiegand1: bad frame (parity): 26-bit frame ...: trailing ..."
WICKETD_WARN = re.compile(r"device (\S+): (bad frame \(\w+\): .*|line rejected: .*)$")


def on_wicketd_line(line):
    m = WICKETD_WARN.search(line)
    if m is None:
        return
    with lock:
        out("%s  %-9s WARNING %s (no passage)" % (now(), m.group(1), m.group(2)))


def summary(*_):
    with lock:
        by = collections.Counter((p["lane"].split("-")[0], p["decision"], p["reason"])
                                 for p in passages.values())
        allowed = sum(n for (g, d, r), n in by.items() if d == "allow")
        lines = ["passages seen on the broker: %d (%d allowed, %d denied)" % (
            len(passages), allowed, len(passages) - allowed)]
        for (g, d, r), n in sorted(by.items()):
            lines.append("  %-5s %-5s %-20s %d" % (g, d, r, n))
        lines.append("alarms: %d (%s), device events: %d" % (
            sum(alarms.values()),
            ", ".join("%s %d" % kv for kv in sorted(alarms.items())) or "none", device_events))
    with open(summary_file, "w") as f:
        f.write("\n".join(lines) + "\n")
    done.set()


if any(o not in ("--sim-log", "--wicketd-log") for o, _ in opts) or len(sys.argv) % 2 == 0:
    sys.exit("watch.py: usage: watch.py PORT SUMMARY_FILE [--sim-log FILE]... [--wicketd-log FILE]")
signal.signal(signal.SIGTERM, summary)
for opt, path in opts:
    handler = on_sim_line if opt == "--sim-log" else on_wicketd_line
    threading.Thread(target=follow, args=(path, handler), daemon=True).start()
c = mqtt.Client(client_id="wicket-demo-watch-%d" % os.getpid(), clean_session=True)
c.on_connect = on_connect
c.on_message = on_message
c.on_subscribe = on_subscribe
c.connect("127.0.0.1", port, 30)
c.loop_start()
done.wait()
c.loop_stop()
