#!/usr/bin/env bash
# 1:1 and fan-out on three setups, alternated in one invocation so that the machine's noise hits each alike:
#   sqlite  one node on the embedded SQLite store (scripts/bench.yaml, as scripts/bench.sh runs it);
#   pg1     one node on PostgreSQL (a second node idles beside it, listening, as a cluster would have);
#   pg2     two nodes on PostgreSQL, every other session on the second (mynah-bench --second-url), so every 1:1
#           message and half of each group's deliveries cross nodes.
# PostgreSQL is a throwaway cluster (scripts/test-postgres.sh, fsync on), one fresh database per run. CPU per message
# adds up the daemons' CPU (mynah-bench --daemon-pid, repeated) and PostgreSQL's: the postmaster and every backend,
# read from /proc before and after the run (backends live as long as the daemons' pools).
#
#   scripts/bench-postgres.sh                  # one-to-one and fanout, ROUNDS rounds (default 2)
#   ROUNDS=3 scripts/bench-postgres.sh fanout
# Environment: ROUNDS, SETUPS ("sqlite pg1 pg2"), PORT (18680; the second node uses PORT+1), BIN=DIR with `mynah`
# and `mynah-bench` built elsewhere, SKIP_BUILD=1, DURATION (10 s).
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-18680}; ROUNDS=${ROUNDS:-2}; DURATION=${DURATION:-10}
read -r -a SETUPS <<< "${SETUPS:-sqlite pg1 pg2}"
SCENARIOS=("$@")
[[ ${#SCENARIOS[@]} -eq 0 ]] && SCENARIOS=(one-to-one fanout)
if [[ -z "${SKIP_BUILD:-}" ]]; then
  swift build -c release --product mynah
  swift build -c release --product mynah-bench
fi
BIN=${BIN:-$(swift build -c release --show-bin-path)}
ulimit -n "$(ulimit -Hn)"
W=$(mktemp -d /tmp/mynah-benchpg.XXXXXX)
chmod 755 "$W"
unset MYNAH_TEST_POSTGRES_URL MYNAH_TEST_POSTGRES_DIR
eval "$(scripts/test-postgres.sh start)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  scripts/test-postgres.sh stop "$MYNAH_TEST_POSTGRES_DIR" || true
  rm -rf "$W"
}
trap cleanup EXIT
POSTMASTER=$(head -1 "$MYNAH_TEST_POSTGRES_DIR/data/postmaster.pid")

# CPU seconds of the postmaster and all its children.
pg_cpu() {
  python3 - "$POSTMASTER" <<'PY'
import os, sys
root, tick, total = sys.argv[1], os.sysconf("SC_CLK_TCK"), 0
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except OSError:
        continue
    fields = stat[stat.rindex(")") + 2:].split()
    if pid == root or fields[1] == root:
        total += int(fields[11]) + int(fields[12])
print(total / tick)
PY
}

wait_http() {
  for _ in $(seq 1 200); do
    if curl -s -o /dev/null "http://127.0.0.1:$1/"; then return 0; fi
    sleep 0.1
  done
  echo "bench-postgres.sh: the daemon on port $1 did not start" >&2
  return 1
}

# start_node CONFIG PORT: starts a daemon on a fresh data directory, appends its pid to PIDS.
start_node() {
  local data; data=$(mktemp -d "$W/data.XXXXXX")
  "$BIN/mynah" run --config "$1" --port "$2" --data-dir "$data" --password-cost 4 2> "$data/daemon.log" &
  PIDS+=($!)
  wait_http "$2"
}

run=0
for round in $(seq 1 "$ROUNDS"); do
  for s in "${SCENARIOS[@]}"; do
    for setup in "${SETUPS[@]}"; do
      run=$((run + 1)); PIDS=()
      config=scripts/bench.yaml
      if [[ $setup != sqlite ]]; then
        psql -q "$MYNAH_TEST_POSTGRES_URL" -c "CREATE DATABASE bench$run" >/dev/null
        config=$W/pg$run.yaml
        { cat scripts/bench.yaml
          printf 'storage:\n  postgres: {url: "%s", tls: disable}\n' "${MYNAH_TEST_POSTGRES_URL%/*}/bench$run"; } > "$config"
      fi
      start_node "$config" "$PORT"
      args=(--url "http://127.0.0.1:$PORT" --daemon-pid "${PIDS[0]}")
      if [[ $setup != sqlite ]]; then
        start_node "$config" $((PORT + 1))
        args+=(--daemon-pid "${PIDS[1]}")
        [[ $setup == pg2 ]] && args+=(--second-url "http://127.0.0.1:$((PORT + 1))")
      fi
      case $s in
        one-to-one) args+=(--users 200 --window 8) ;;
        fanout) args+=(--members 1000 --senders 1 --window 4) ;;
        *) echo "unknown scenario $s (one-to-one, fanout)" >&2; exit 2 ;;
      esac
      echo "== $s $setup round $round (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
      before=$(pg_cpu)
      "$BIN/mynah-bench" "$s" "${args[@]}" --duration "$DURATION" --json | grep '^{' > "$W/run.json"
      after=$(pg_cpu)
      python3 - "$W/run.json" "$s" "$setup" "$round" "$before" "$after" <<'PY'
import json, sys
f = json.load(open(sys.argv[1]))["figures"]
scenario, setup, round_, before, after = sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]), float(sys.argv[6])
pg = after - before if setup != "sqlite" else 0.0
accepted, deliveries = max(f.get("accepted", 1), 1), max(f.get("delivered", 1), 1)
cpu = f.get("daemon_cpu", 0) + pg
print(f"{scenario}\t{setup}\tround {round_}\tdeliveries/s {f.get('deliveries_per_second', f.get('accepted_per_second', 0)):,.0f}"
      f"\taccepted/s {f.get('accepted_per_second', 0):,.0f}\tp99 {f.get('latency_p99', 0):.1f} ms"
      f"\tdaemons {f.get('daemon_cpu', 0):.2f} s + postgres {pg:.2f} s"
      f"\tCPU/message {cpu / accepted * 1e6:,.0f} µs\tCPU/delivery {cpu / deliveries * 1e6:,.1f} µs"
      f"\terrors {f.get('errors', 0):.0f}")
PY
      for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
      PIDS=()
    done
  done
done
