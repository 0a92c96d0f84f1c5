#!/usr/bin/python3
"""Demo watcher: subscribes to a gate's MQTT topics like a community server
would, prints one line per passage, alarm and device event, and a summary
when it gets SIGTERM.  Usage: watch.py PORT SUMMARY_FILE
(SUMMARY_FILE.ready appears once it is subscribed)"""
import collections
import json
import signal
import sys
import threading

import paho.mqtt.client as mqtt

port = int(sys.argv[1])
passages = {}
alarms = 0
device_events = 0
lock = threading.Lock()
done = threading.Event()


def out(s):
    sys.stdout.write(s + "\n")
    sys.stdout.flush()


def on_message(c, u, m):
    global alarms, device_events
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
            out("%s  %-9s %-3s  card %-6s %s  %-5s  %s (%s)%s" % (
                t, e["lane"], e["direction"], e["credential"] or "-", temp,
                e["decision"].upper(), e["reason"], e["rule"], "  ALARM" if e["alarm"] else ""))
        elif m.topic.endswith("/event/alarm"):
            alarms += 1
            out("%s  ALARM    %s (%s) at lane %s: %s" % (e["time"][11:19], e["kind"], e["severity"],
                                                      e.get("lane", "-"), e["message"]))
        elif m.topic.endswith("/event/device"):
            device_events += 1
            out("%s  device   %s %s: %s" % (e["time"][11:19], e["device"], e["state"], e["message"]))


def on_connect(c, u, f, rc):
    c.subscribe("wicket/+/+/event/#", qos=1)


def on_subscribe(c, u, mid, qos):
    open(sys.argv[2] + ".ready", "w").close()


def summary(*_):
    with lock:
        by = collections.Counter((p["decision"], p["reason"]) for p in passages.values())
        allowed = sum(n for (d, r), n in by.items() if d == "allow")
        lines = ["passages seen on the broker: %d (%d allowed, %d denied)" % (
            len(passages), allowed, len(passages) - allowed)]
        for (d, r), n in sorted(by.items()):
            lines.append("  %-5s %-20s %d" % (d, r, n))
        lines.append("alarms: %d, device events: %d" % (alarms, device_events))
    with open(sys.argv[2], "w") as f:
        f.write("\n".join(lines) + "\n")
    done.set()


signal.signal(signal.SIGTERM, summary)
c = mqtt.Client(client_id="wicket-demo-watch", clean_session=True)
c.on_connect = on_connect
c.on_message = on_message
c.on_subscribe = on_subscribe
c.connect("127.0.0.1", port, 30)
c.loop_start()
done.wait()
c.loop_stop()
