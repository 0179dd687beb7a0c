#!/usr/bin/env bash
# What "durable before sent" costs. Runs the same release daemon with its fdatasync calls real (synchronous = FULL,
# as shipped) and made no-ops by scripts/sync-shim.c (the same writes without their flushes: what
# synchronous = NORMAL did before issue 16), alternating A B A B A B in one invocation, for the 1:1 closed loop and
# the fan-out scenarios of scripts/bench.sh, and counts the WAL syncs per accepted message.
# Environment: RUNS (default 3), SKIP_BUILD=1, PORT as for scripts/bench.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
if [[ -z "${SKIP_BUILD:-}" ]]; then
  swift build -c release --product mynah
  swift build -c release --product mynah-bench
fi
WORK=$(mktemp -d /tmp/mynah-durability.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cc -shared -fPIC -O1 -o "$WORK/sync-shim.so" scripts/sync-shim.c -ldl
for i in $(seq 1 "$RUNS"); do
  for mode in full skip; do
    log="$WORK/syncs-$mode-$i.log"
    extra="LD_PRELOAD=$WORK/sync-shim.so MYNAH_SYNC_LOG=$log"
    [[ $mode == skip ]] && extra="$extra MYNAH_SYNC_SKIP=1"
    echo "== run $i: fdatasync $([[ $mode == full ]] && echo real || echo skipped) (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    for scenario in one-to-one fanout; do
      : > "$log"
      SKIP_BUILD=1 JSON=1 DAEMON_ENV="$extra" scripts/bench.sh "$scenario" | grep '^{' > "$WORK/$scenario-$mode-$i.json"
      grep -c 'mynah.sqlite-wal$' "$log" > "$WORK/$scenario-$mode-$i.syncs" || true
    done
  done
done
python3 - "$WORK" "$RUNS" <<'PY'
import json, os, statistics, sys
work, runs = sys.argv[1], int(sys.argv[2])
def load(scenario, mode, i):
    with open(os.path.join(work, f"{scenario}-{mode}-{i}.json")) as f:
        figures = json.loads(f.read())["figures"]
    with open(os.path.join(work, f"{scenario}-{mode}-{i}.syncs")) as f:
        syncs = int(f.read().strip() or 0)
    return figures, syncs
rows = []
for scenario, rate, unit in (("one-to-one", "accepted_per_second", "msg/s"),
                             ("fanout", "deliveries_per_second", "deliveries/s")):
    for mode, name in (("full", "FULL (fdatasync real)"), ("skip", "fdatasync skipped")):
        rates, cpu, per_sync = [], [], []
        for i in range(1, runs + 1):
            figures, syncs = load(scenario, mode, i)
            rates.append(figures[rate])
            accepted = max(figures["accepted"], 1)
            cpu.append(figures.get("daemon_cpu", 0) / accepted * 1e6)
            per_sync.append(syncs / accepted)
        rows.append((scenario, name, rates, cpu, per_sync, unit))
print(f"{'scenario':<11} {'daemon':<22} {'rate min / median / max':<30} {'daemon CPU µs per accepted msg':<32} WAL fdatasync calls per accepted msg")
for scenario, name, rates, cpu, per_sync, unit in rows:
    r = " / ".join(f"{v:,.0f}" for v in (min(rates), statistics.median(rates), max(rates)))
    c = " / ".join(f"{v:,.0f}" for v in (min(cpu), statistics.median(cpu), max(cpu)))
    print(f"{scenario:<11} {name:<22} {r + ' ' + unit:<30} {c:<32} {statistics.median(per_sync):,.3f}")
for scenario in ("one-to-one", "fanout"):
    f = [r for r in rows if r[0] == scenario]
    print(f"{scenario}: FULL / skipped = {statistics.median(f[0][2]) / statistics.median(f[1][2]):.2f}x the rate")
PY
