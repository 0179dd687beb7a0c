#!/usr/bin/env bash
# A/B of two release builds on one scenario of scripts/bench.sh: DIR_A and DIR_B each hold a `mynah` and a
# `mynah-bench`; runs A B A B … (RUNS rounds, default 3), each against a fresh daemon with scripts/sync-shim.c
# preloaded in counting mode, and prints per run the rate (for the storm `all_caught_up`, in ms, -1 when not all
# caught up), the daemon's CPU per accepted message (the storm: its whole CPU time, µs) and the WAL's fdatasync
# calls (setup included). Usage: RUNS=2 scripts/ab-bench.sh fanout /tmp/rel-main /tmp/rel-speed
# Environment: RUNS, PORT (18580), EXTRA_ENV (more daemon environment, e.g. MYNAH_SYNC_SKIP=1).
set -euo pipefail
cd "$(dirname "$0")/.."
S=$1; A=$2; B=$3; RUNS=${RUNS:-3}
W=$(mktemp -d /tmp/mynah-ab.XXXXXX)
trap 'rm -rf "$W"' EXIT
cc -shared -fPIC -O1 -o "$W/shim.so" scripts/sync-shim.c -ldl
for i in $(seq 1 "$RUNS"); do
  for d in "$A" "$B"; do
    n=$(basename "$d"); log=$W/sync-$n-$i.log; : > "$log"
    echo "== $S $n run $i (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    PORT=${PORT:-18580} BIN=$d SKIP_BUILD=1 JSON=1 DAEMON_ENV="LD_PRELOAD=$W/shim.so MYNAH_SYNC_LOG=$log ${EXTRA_ENV:-}" \
      scripts/bench.sh "$S" | grep '^{' > "$W/$n-$i.json"
    syncs=$(grep -c 'mynah.sqlite-wal$' "$log" || true)
    python3 - "$W/$n-$i.json" "$syncs" "$n" "$i" <<'PY'
import json, sys
f = json.load(open(sys.argv[1]))["figures"]
syncs = int(sys.argv[2])
rates = {k: round(f[k]) for k in ("accepted_per_second", "deliveries_per_second", "round_trips_per_second",
                                  "pushes_per_second", "all_caught_up") if k in f}
accepted = max(f.get("accepted", 1), 1)
print(sys.argv[3], "run", sys.argv[4], rates, "accepted", f.get("accepted"),
      "daemon_cpu_us_per_accepted", round(f.get("daemon_cpu", 0) / accepted * 1e6, 1),
      "wal_syncs", syncs, "p50", f.get("latency_p50"), "p99", f.get("latency_p99"))
PY
  done
done
