#!/usr/bin/env bash
# What a cluster notification costs PostgreSQL: pgbench sends Mynah-shaped NOTIFYs on `mynah_cluster` (each in its
# own transaction, as a node sends them after its commit) while 0, 1, 3 and 10 listening sessions consume them, and
# prints transactions per second and the mean latency for each count and payload size.
#
#   scripts/bench-notify.sh [SECONDS]          # default 10 s per run; needs pgbench, psql and python3-psycopg2
#
# Uses the throwaway server of scripts/test-postgres.sh (started and stopped here unless MYNAH_TEST_POSTGRES_URL
# is already set). The numbers are PostgreSQL's own (no Swift code runs), so the build mode does not matter; the
# load of the machine does.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"
started=""
if [ -z "${MYNAH_TEST_POSTGRES_URL:-}" ]; then
    eval "$(scripts/test-postgres.sh start)"
    started=yes
fi
work="$(mktemp -d)"
cleanup() {
    for pid in $(cat "$work"/listener.pids 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
    psql -q "$MYNAH_TEST_POSTGRES_URL" -c 'DROP DATABASE IF EXISTS bench_notify' >/dev/null 2>&1 || true
    rm -rf "$work"
    if [ -n "$started" ]; then scripts/test-postgres.sh stop; fi
}
trap cleanup EXIT
psql -q "$MYNAH_TEST_POSTGRES_URL" -c 'DROP DATABASE IF EXISTS bench_notify' -c 'CREATE DATABASE bench_notify'
url="${MYNAH_TEST_POSTGRES_URL%/*}/bench_notify"

cat > "$work/listen.py" <<'EOF'
import select, sys, psycopg2
conn = psycopg2.connect(sys.argv[1])
conn.set_isolation_level(0)
conn.cursor().execute("LISTEN mynah_cluster")
print("ready", flush=True)
while True:
    if select.select([conn], [], [], 5) != ([], [], []):
        conn.poll()
        conn.notifies.clear()
EOF
# One entry (a 1:1 message) and a full payload (a batch or a large group: ~500 entries, 7.9 kB).
echo "SELECT pg_notify('mynah_cluster', 'i 0123456789abc 1048576:123456');" > "$work/small.sql"
python3 - "$work/large.sql" <<'EOF'
import sys
payload = "i 0123456789abc" + "".join(" %d:%d" % (1048576 + i, 123456 + i) for i in range(505))
assert len(payload) < 8000
open(sys.argv[1], "w").write("SELECT pg_notify('mynah_cluster', '%s');\n" % payload)
EOF

printf '%-10s %-8s %12s %12s\n' listeners payload "tx/s" "latency ms"
for listeners in 0 1 3 10; do
    for pid in $(cat "$work"/listener.pids 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
    : > "$work/listener.pids"
    for _ in $(seq 1 "$listeners"); do
        python3 "$work/listen.py" "$url" > "$work/listener.out" &
        echo $! >> "$work/listener.pids"
    done
    until [ "$(psql -At "$url" -c "SELECT count(*) FROM pg_stat_activity WHERE query = 'LISTEN mynah_cluster'")" = "$listeners" ]; do
        sleep 0.1
    done
    for payload in small large; do
        out="$(pgbench -n -c 4 -j 2 -T "$seconds" -f "$work/$payload.sql" "$url" 2>&1)"
        tps="$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$out")"
        latency="$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' <<<"$out")"
        printf '%-10s %-8s %12s %12s\n' "$listeners" "$payload" "$tps" "$latency"
    done
done
