#!/usr/bin/env python3
"""An external Mynah plugin: greets users who say hello, welcomes new group members, and says good morning on a
schedule it declares in its handshake (a cron expression with a time zone).

Config: `greeting` (string, default "hello"), `morning` (conversation to greet each weekday at 08:00, optional).
"""
import json
import sys


def send(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main():
    init = json.loads(sys.stdin.readline())
    config = init.get("config") or {}
    for key in config:
        if key not in ("greeting", "morning", "time_zone"):
            send({"type": "error", "message": "unknown config key '%s'" % key})
            return
    greeting = config.get("greeting", "hello")
    morning = config.get("morning")
    schedules = []
    if morning is not None:
        schedules.append({"name": "morning", "cron": "0 8 * * mon-fri",
                          "time_zone": config.get("time_zone", "UTC")})
    send({"type": "hello", "name": "greeter", "schedules": schedules})
    print("greeter ready", file=sys.stderr, flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        if request.get("type") != "event":
            continue
        event = request["event"]
        actions = []
        kind = event["type"]
        if kind == "message" and "hello" in (event.get("text") or "").lower():
            actions.append({"type": "reply", "text": "%s, %s" % (greeting, event["sender"]["username"])})
        elif kind == "members_joined":
            names = ", ".join(event["usernames"])
            actions.append({"type": "reply", "text": "welcome, %s" % names})
        elif kind == "tick" and event["schedule"] == "morning" and morning:
            actions.append({"type": "send", "to": morning, "text": "good morning"})
        send({"type": "actions", "id": request["id"], "actions": actions})


if __name__ == "__main__":
    main()
