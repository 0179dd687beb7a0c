#!/usr/bin/env python3
"""A test plugin that answers every text message with an attachment: a file named `said.txt` holding the text.
`/bad` answers with an attachment whose base64 is broken, to show the bot logs it and goes on."""
import base64
import json
import sys


def send(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


json.loads(sys.stdin.readline())
send({"type": "hello", "name": "attach"})
for line in sys.stdin:
    request = json.loads(line)
    event = request["event"]
    actions = []
    if event["type"] == "message":
        text = event.get("text") or ""
        data = "!!not base64!!" if text == "/bad" else base64.b64encode(text.encode()).decode()
        actions.append({"type": "reply", "attachment": {"kind": "file", "name": "said.txt", "base64": data}})
    send({"type": "actions", "id": request["id"], "actions": actions})
