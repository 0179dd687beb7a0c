#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests: `initdb` in a temporary directory, its own port on 127.0.0.1 and
# a unix socket in that directory, fsync on, trust authentication for the role `mynah` (loopback only).
#
#   eval "$(scripts/test-postgres.sh start)"   # starts it; exports MYNAH_TEST_POSTGRES_URL and MYNAH_TEST_POSTGRES_DIR
#   swift test --filter Postgres
#   scripts/test-postgres.sh stop              # stops it and deletes its directory ($MYNAH_TEST_POSTGRES_DIR)
#
# Needs PostgreSQL's server programs (Debian: `apt-get install postgresql`). As root, the server runs as the user
# `postgres` (created when missing), since initdb refuses to run as root.
set -euo pipefail

find_bindir() {
    local dir
    if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
        dirname "$(readlink -f "$(command -v pg_ctl)")"
        return
    fi
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
            echo "$dir"
            return
        fi
    done
    echo "test-postgres.sh: no initdb/pg_ctl found (install Debian's 'postgresql' package)" >&2
    exit 1
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Runs a command as the cluster's owner: ourselves, or `postgres` when we are root.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

start() {
    local bindir dir port
    bindir="$(find_bindir)"
    if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
        useradd --system --no-create-home --shell /usr/sbin/nologin postgres
    fi
    dir="$(mktemp -d /tmp/mynah-pg.XXXXXX)"
    chmod 755 "$dir"
    if [ "$(id -u)" -eq 0 ]; then chown postgres "$dir"; fi
    port="$(free_port)"
    as_owner "$bindir/initdb" -D "$dir/data" -U mynah --auth=trust -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        exit 1
    }
    as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c port=$port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir -c fsync=on -c max_connections=400" \
        start >/dev/null || {
        cat "$dir/server.log" >&2
        exit 1
    }
    echo "$bindir" >"$dir/bindir"
    echo "export MYNAH_TEST_POSTGRES_URL=postgres://mynah@127.0.0.1:$port/postgres"
    echo "export MYNAH_TEST_POSTGRES_DIR=$dir"
}

stop() {
    local dir="${1:-${MYNAH_TEST_POSTGRES_DIR:-}}"
    if [ -z "$dir" ] || [ ! -d "$dir/data" ]; then
        echo "test-postgres.sh: no cluster directory given (and MYNAH_TEST_POSTGRES_DIR is not set)" >&2
        exit 1
    fi
    as_owner "$(cat "$dir/bindir")/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
    rm -rf "$dir"
}

case "${1:-}" in
    start) start ;;
    stop) stop "${2:-}" ;;
    *)
        echo "usage: $0 start | stop [DIR]" >&2
        exit 2
        ;;
esac
