#!/usr/bin/env bash
# Side by side with ejabberd (issue 17): runs the same mynah-bench scenarios against ejabberd (Debian's package,
# scripts/peers/ejabberd.yml) and against Mynah (release build, scripts/bench.yaml), alternating the servers
# (ejabberd, Mynah, ejabberd, Mynah, …), RUNS times each; prints min / median / max for both and Mynah / ejabberd.
# Each run starts its server afresh on loopback (a temporary directory for data and logs), runs the three
# scenarios and stops it; only one server runs at a time. Installs ejabberd if it is missing (apt-get, as root).
# Environment: RUNS (3), DURATION (10 s), RATE (2000 msg/s, open loop), IDLE_CONNECTIONS (5000), SKIP_BUILD=1,
# BIN=DIR (mynah and mynah-bench built elsewhere), MYNAH_PORT and XMPP_PORT (default: the first free port from
# 18180 and 15222), KEEP=1 keeps the temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
RATE=${RATE:-2000}
IDLE_CONNECTIONS=${IDLE_CONNECTIONS:-5000}

if ! dpkg -s ejabberd >/dev/null 2>&1; then
  echo "== installing ejabberd (apt-get)"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y ejabberd
fi
if [[ -z "${SKIP_BUILD:-}" ]]; then
  swift build -c release --product mynah
  swift build -c release --product mynah-bench
fi
BIN=${BIN:-$(swift build -c release --show-bin-path)}

# A port nothing listens on, from $1 up.
free_port() {
  local p=$1
  while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
  echo "$p"
}
MYNAH_PORT=${MYNAH_PORT:-$(free_port 18180)}
XMPP_PORT=${XMPP_PORT:-$(free_port 15222)}

TMP=$(mktemp -d /tmp/peer-bench.XXXXXX)
SERVER=""
stop_server() {
  if [[ -n "$SERVER" ]]; then
    kill "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
    SERVER=""
  fi
}
trap 'stop_server; [[ -n "${KEEP:-}" ]] && echo "kept $TMP" || rm -rf "$TMP"' EXIT
# The daemons and the generator need one descriptor per connection (idle): use the hard limit.
ulimit -n "$(ulimit -Hn)"

# Waits until something listens on port $1 while process $2 lives (ejabberd takes a minute on a busy machine).
wait_listening() {
  for _ in $(seq 1 1200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    kill -0 "$2" 2>/dev/null || { echo "the server exited before listening on $1" >&2; return 1; }
    sleep 0.5
  done
  echo "nothing listens on $1 after 600 s" >&2
  return 1
}

EJ=$TMP/ejabberd
mkdir -p "$EJ/spool" "$EJ/log"
sed "s/@PORT@/$XMPP_PORT/" scripts/peers/ejabberd.yml > "$EJ/ejabberd.yml"
ERL_LIBS_DIR=$(sed -n "s/^ERL_LIBS='\(.*\)'$/\1/p" /usr/sbin/ejabberdctl)
start_ejabberd() {
  # What `ejabberdctl foreground` runs, without Erlang distribution (no epmd, no node port: nothing listens but the
  # c2s port) and with our own configuration, spool and logs. exec keeps the PID: erl execs erlexec execs beam.smp.
  (cd "$EJ" && exec env EJABBERD_CONFIG_PATH="$EJ/ejabberd.yml" EJABBERD_LOG_PATH="$EJ/log/ejabberd.log" \
      ERL_LIBS="${ERL_LIBS_DIR:-/usr/lib/$(uname -m)-linux-gnu}" ERL_CRASH_DUMP="$EJ/log/erl_crash.dump" \
      ERL_MAX_ETS_TABLES=1400 erl +K true +P 250000 +Q 65536 -noinput -mnesia dir "\"$EJ/spool\"" -s ejabberd) \
    >> "$EJ/log/stdout" 2>&1 &
  SERVER=$!
  wait_listening "$XMPP_PORT" "$SERVER" || { tail -20 "$EJ/log/stdout" >&2; exit 1; }
  [[ "$(cat "/proc/$SERVER/comm")" == beam.smp ]] || { echo "process $SERVER is not beam.smp" >&2; exit 1; }
}

MY=$TMP/mynah
mkdir -p "$MY/data"
start_mynah() {
  "$BIN/mynah" run --config scripts/bench.yaml --port "$MYNAH_PORT" --data-dir "$MY/data" --password-cost 4 \
    2>> "$MY/daemon.log" &
  SERVER=$!
  wait_listening "$MYNAH_PORT" "$SERVER" || { tail -20 "$MY/daemon.log" >&2; exit 1; }
}

# One run of the three scenarios against server $1 (ejabberd or mynah), results in $TMP/results/SERVER.SCENARIO.N.
run_server() {
  local server=$1 n=$2 target
  "start_$server"
  if [[ $server == ejabberd ]]; then
    target=(--protocol xmpp --host 127.0.0.1 --port "$XMPP_PORT" --domain localhost --daemon-pid "$SERVER")
  else
    target=(--url "http://127.0.0.1:$MYNAH_PORT" --daemon-pid "$SERVER")
  fi
  echo "== $server run $n (load: $(cut -d' ' -f1-3 /proc/loadavg))"
  "$BIN/mynah-bench" pairs "${target[@]}" --users 200 --window 8 --duration "$DURATION" --json \
    | tee "$TMP/results/$server.closed.$n"
  "$BIN/mynah-bench" pairs "${target[@]}" --users 200 --window 64 --rate "$RATE" --duration "$DURATION" --json \
    | tee "$TMP/results/$server.open.$n"
  "$BIN/mynah-bench" idle "${target[@]}" --connections "$IDLE_CONNECTIONS" --users 1000 --settle 3 --json \
    | tee "$TMP/results/$server.idle.$n"
  stop_server
}

mkdir -p "$TMP/results"
echo "== $(date -u '+%Y-%m-%d %H:%M UTC'), $(git rev-parse --short HEAD), ejabberd $(dpkg-query -W -f '${Version}' ejabberd)," \
  "$(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for n in $(seq 1 "$RUNS"); do
  run_server ejabberd "$n"
  run_server mynah "$n"
done

# The figure $3 of scenario $2 for server $1, one line per run.
figure() {
  for f in "$TMP/results/$1.$2".*; do
    grep -o "\"$3\":-\?[0-9][-0-9.e+]*" "$f" | cut -d: -f2
  done
}
# "min / median / max" of the numbers on stdin, divided by $1.
spread() {
  sort -g | awk -v d="$1" '{ v[NR] = $1 / d } END {
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "%.1f / %.1f / %.1f %.6g\n", v[1], m, v[NR], m }'
}
row() {
  local label=$1 scenario=$2 name=$3 divisor=$4 e m
  e=$(figure ejabberd "$scenario" "$name" | spread "$divisor")
  m=$(figure mynah "$scenario" "$name" | spread "$divisor")
  awk -v l="$label" -v e="$e" -v m="$m" 'BEGIN {
    split(e, a, " "); split(m, b, " ")
    printf "| %s | %s / %s / %s | %s / %s / %s | %.2f× |\n", l, a[1], a[3], a[5], b[1], b[3], b[5], (a[6] ? b[6] / a[6] : 0) }'
}
echo
echo "Load at the end: $(cut -d' ' -f1-3 /proc/loadavg); $RUNS runs each, medians in the ratio."
echo
echo "| scenario | ejabberd (min / median / max) | Mynah (min / median / max) | Mynah / ejabberd |"
echo "| --- | --- | --- | --- |"
row "closed loop, 8 in flight per sender: deliveries/s" closed deliveries_per_second 1
row "server CPU per message, closed loop (µs)" closed daemon_cpu_per_message 1
row "open loop $RATE msg/s: p99 latency (ms)" open latency_p99 1
row "open loop $RATE msg/s: server CPU per message (µs)" open daemon_cpu_per_message 1
row "$IDLE_CONNECTIONS idle logged-in connections: KB each" idle bytes_per_connection 1024
