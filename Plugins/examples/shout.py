#!/usr/bin/env python3
"""An external Mynah plugin: `/shout <text...>` answers in capitals; `/shouts` says how many shouts so far.

It speaks the JSON lines protocol of docs/plugins.md on stdin/stdout: `init` in, `hello` out, then one `event`
in and one `actions` out per event, with a `get` round trip to read its durable counter.
"""
import json
import sys


def send(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def receive():
    line = sys.stdin.readline()
    if not line:
        sys.exit(0)
    return json.loads(line)


def get(key):
    """Reads a value of this plugin's durable data from the daemon."""
    send({"type": "get", "id": "g", "key": key})
    answer = receive()
    return answer.get("value")


def main():
    init = receive()
    config = init.get("config") or {}
    unknown = sorted(set(config) - {"suffix"})
    if unknown:
        send({"type": "error", "message": "unknown config key '%s'; shout takes only 'suffix'" % unknown[0]})
        return
    suffix = config.get("suffix", "!")
    if not isinstance(suffix, str):
        send({"type": "error", "message": "config.suffix: expected a string"})
        return
    send({"type": "hello", "name": "shout", "commands": [
        {"name": "shout", "help": "Say it louder", "args": [{"name": "text", "kind": "rest"}]},
        {"name": "shouts", "help": "How many shouts so far"},
    ]})
    while True:
        request = receive()
        if request.get("type") != "event":
            continue
        event = request["event"]
        actions = []
        command = event.get("command") if event.get("type") == "message" else None
        if command and command["name"] == "shout":
            count = (get("count") or 0) + 1
            actions.append({"type": "store", "key": "count", "value": count})
            actions.append({"type": "reply", "text": command["args"]["text"].upper() + suffix})
        elif command and command["name"] == "shouts":
            actions.append({"type": "reply", "text": "%d shouts so far" % (get("count") or 0)})
        send({"type": "actions", "id": request["id"], "actions": actions})


if __name__ == "__main__":
    main()
