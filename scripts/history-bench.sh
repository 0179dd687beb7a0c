#!/usr/bin/env bash
# The history API's cost on a file the 1:1 load filled: starts `mynah run` from BIN (a directory holding `mynah` and
# `mynah-bench`, default .build/release) on a fresh data directory, sends for DURATION seconds (default 10) with
# `mynah-bench one-to-one`, then times 20 requests each of `GET /v2/users/{user}/messages` and `GET /v2/messages`
# (count=100, the last day to the next) and prints the mean per request with the `total` the last one answered.
# Usage: BIN=/tmp/rel-main scripts/history-bench.sh. Environment: BIN, PORT (18811), DURATION.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.build/release}; PORT=${PORT:-18811}; DURATION=${DURATION:-10}
DATA=$(mktemp -d)
"$BIN/mynah" run --config scripts/bench.yaml --port "$PORT" --data-dir "$DATA" --password-cost 4 2>"$DATA/log" &
DAEMON=$!
trap 'kill $DAEMON 2>/dev/null; wait $DAEMON 2>/dev/null; rm -rf "$DATA"' EXIT
until curl -s -o /dev/null "http://127.0.0.1:$PORT/"; do sleep 0.1; done
"$BIN/mynah-bench" one-to-one --url "http://127.0.0.1:$PORT" --duration "$DURATION" --json >/dev/null
USER_NAME=$(python3 -c "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT from_id FROM message LIMIT 1').fetchone()[0])" "$DATA/mynah.sqlite")
AUTH=$(printf '4f7aef34fb361292c566a1cd:054d6103823a726fc12d0466' | base64)
BEGIN=$(date -u -d '-1 day' '+%Y-%m-%d%%20%H:%M:%S'); END=$(date -u -d '+1 day' '+%Y-%m-%d%%20%H:%M:%S')
for path in "v2/users/$USER_NAME/messages" "v2/messages"; do
    start=$(date +%s%N)
    for _ in $(seq 1 20); do
        curl -s -H "Authorization: Basic $AUTH" \
            "http://127.0.0.1:$PORT/$path?count=100&begin_time=$BEGIN&end_time=$END" > "$DATA/answer.json"
    done
    end=$(date +%s%N)
    total=$(python3 -c "import json, sys; print(json.load(open(sys.argv[1]))['total'])" "$DATA/answer.json")
    echo "$path: $(( (end - start) / 20000000 )) ms per request, total $total"
done
