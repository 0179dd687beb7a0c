#!/usr/bin/env bash
# Builds release, starts the daemon on a temporary data directory with scripts/bench.yaml, runs each benchmark
# scenario of mynah-bench against it (or only those named: scripts/bench.sh one-to-one fanout), stops the daemon.
# Environment: PORT (default 18080), JSON=1 for JSON output, SKIP_BUILD=1, BENCH_ARGS_<scenario> extra arguments
# (e.g. BENCH_ARGS_idle=--send-once),
# BIN=DIR to use binaries built elsewhere, DAEMON_ENV="VAR=VALUE ..." added to the daemon's environment only (scripts/durability-cost.sh).
# DAEMON_ARGS extra arguments of `mynah run` (e.g. --bots-over-gateway).
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-18080}
if [[ -z "${SKIP_BUILD:-}" ]]; then
  swift build -c release --product mynah
  swift build -c release --product mynah-bench
fi
BIN=${BIN:-$(swift build -c release --show-bin-path)}
DATA=$(mktemp -d /tmp/mynah-bench.XXXXXX)
# The daemon and the generator each need one descriptor per connection (idle, storm): use the hard limit.
ulimit -n "$(ulimit -Hn)"
# shellcheck disable=SC2086 # DAEMON_ARGS is a list of words
env ${DAEMON_ENV:-} "$BIN/mynah" run --config scripts/bench.yaml --port "$PORT" --data-dir "$DATA" --password-cost 4 ${DAEMON_ARGS:-} \
  2> "$DATA/daemon.log" &
DAEMON=$!
trap 'kill $DAEMON 2>/dev/null || true; wait $DAEMON 2>/dev/null || true; rm -rf "$DATA"' EXIT
for _ in $(seq 1 100); do
  if curl -s -o /dev/null "http://127.0.0.1:$PORT/"; then break; fi
  sleep 0.1
done
URL="http://127.0.0.1:$PORT"
OUT=()
[[ -n "${JSON:-}" ]] && OUT=(--json)
SCENARIOS=("$@")
[[ ${#SCENARIOS[@]} -eq 0 ]] && SCENARIOS=(one-to-one one-to-one-half fanout bot bridge idle storm)
for s in "${SCENARIOS[@]}"; do
  echo "== $s (load: $(cut -d' ' -f1-3 /proc/loadavg))"
  # BENCH_ARGS_<scenario> (dashes as underscores: BENCH_ARGS_one_to_one_half) is added to the scenario's arguments.
  extra=BENCH_ARGS_${s//-/_}
  read -r -a ARGS <<< "${!extra:-}"
  ARGS+=("${OUT[@]}")
  case $s in
    one-to-one) "$BIN/mynah-bench" one-to-one --url "$URL" --daemon-pid $DAEMON --users 200 --window 8 --duration 10 "${ARGS[@]}" ;;
    one-to-one-half) "$BIN/mynah-bench" one-to-one --url "$URL" --daemon-pid $DAEMON --users 200 --window 64 \
        --rate "${HALF_RATE:-1240}" --duration 10 "${ARGS[@]}" ;;
    fanout) "$BIN/mynah-bench" fanout --url "$URL" --daemon-pid $DAEMON --members 1000 --senders 1 --window 4 --duration 10 "${ARGS[@]}" ;;
    bot) "$BIN/mynah-bench" bot --url "$URL" --daemon-pid $DAEMON --users 100 --window 1 --duration 10 "${ARGS[@]}" ;;
    bridge) "$BIN/mynah-bench" bridge --url "$URL" --daemon-pid $DAEMON --users 100 --concurrency 32 --duration 10 "${ARGS[@]}" ;;
    idle) "$BIN/mynah-bench" idle --url "$URL" --daemon-pid $DAEMON --connections "${IDLE_CONNECTIONS:-18000}" --users 1000 --settle 3 "${ARGS[@]}" ;;
    storm) "$BIN/mynah-bench" storm --url "$URL" --daemon-pid $DAEMON --clients 5000 --backlog 5 "${ARGS[@]}" ;;
    *) echo "unknown scenario $s" >&2; exit 2 ;;
  esac
done
