#!/usr/bin/env bash
# The README's test command: every test of the project. Starts a throwaway PostgreSQL cluster for the PostgreSQL half
# of the store suites (scripts/test-postgres.sh), runs `swift test`, then the browser suite, in which a real headless
# Chromium (Debian's chromium and chromium-driver) drives the built daemon's /console and /chat (Tests/Browser).
# Needs what .ci/run installs on Debian: PostgreSQL's server programs, chromium, chromium-driver, python3-venv.
# Extra arguments go to `swift test` (e.g. scripts/test.sh --filter Durability; the browser suite then still runs
# unless SKIP_BROWSER=1).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${MYNAH_TEST_POSTGRES_URL:-}" ]; then
    eval "$(scripts/test-postgres.sh start)"
    trap 'scripts/test-postgres.sh stop "$MYNAH_TEST_POSTGRES_DIR"' EXIT
fi
swift build --build-tests
# A fresh build leaves gigabytes of dirty pages; flushed now, they do not stall the tests' fsyncs (every durable write
# waits for them) while the suite starts its daemons: both fresh-clone CI runs of 2026-12-02 stalled about 60 s there.
sync
swift test --skip-build "$@"

[ -n "${SKIP_BROWSER:-}" ] && exit 0
# MYNAH_BROWSER_REQUIRED=1 makes a missing browser a failure, not a skip.
swift build --product mynah
venv=.build/browser-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c 'import selenium, pytest' 2>/dev/null && "$venv/bin/python" -m pip check >/dev/null \
    || "$venv/bin/python" -m pip install -q -r Tests/Browser/requirements.txt
MYNAH_BROWSER_REQUIRED=1 "$venv/bin/python" -m pytest -q -p no:cacheprovider Tests/Browser
