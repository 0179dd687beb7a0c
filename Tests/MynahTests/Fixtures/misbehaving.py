#!/usr/bin/env python3
"""A test plugin that misbehaves on request: `crash` exits, `hang` stops answering, `garbage` prints lines that
are not protocol messages before answering, `flood` writes 100000 blank lines and a 5 MB answer,
`ping` answers `pong`. With config `crash_at_start`, it exits before
its handshake every time; with `slow_restart` (seconds) and `marker` (a file path), every run after the first waits
that long before its handshake."""
import json
import os
import sys
import time


def send(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


init = json.loads(sys.stdin.readline())
if (init.get("config") or {}).get("crash_at_start"):
    print("crashing at start", file=sys.stderr, flush=True)
    sys.exit(3)
config = init.get("config") or {}
if config.get("slow_restart"):
    if os.path.exists(config["marker"]):
        time.sleep(config["slow_restart"])
    else:
        open(config["marker"], "w").close()
send({"type": "hello", "name": "misbehaving"})
for line in sys.stdin:
    request = json.loads(line)
    event = request["event"]
    text = event.get("text") or ""
    if text == "crash":
        print("crashing on purpose", file=sys.stderr, flush=True)
        sys.exit(1)
    if text == "hang":
        time.sleep(3600)
    if text == "garbage":
        sys.stdout.write("this is not JSON\n{\"no_type\": 1}\n[1, 2\n")
        sys.stdout.flush()
    if text == "flood":
        sys.stdout.write("   \n" * 100000)
        send({"type": "actions", "id": request["id"], "actions": [{"type": "reply", "text": "flooded"}],
              "padding": "p" * (5 << 20)})
        continue
    actions = []
    if text in ("ping", "garbage"):
        actions.append({"type": "reply", "text": "pong"})
    send({"type": "actions", "id": request["id"], "actions": actions})
