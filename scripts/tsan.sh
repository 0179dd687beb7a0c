#!/usr/bin/env bash
# The test suite under ThreadSanitizer: `swift test --sanitize=thread` in its own scratch directory (.build-tsan, so
# the normal build stays as it is), with a throwaway PostgreSQL like scripts/test.sh. Every report, from the test
# process and from the daemons the tests start, is collected in .build-tsan/tsan-reports/; the script fails when
# there is any, or when a test fails. Reports inside dependencies are suppressed in scripts/tsan.supp, each with why.
#
#   scripts/tsan.sh                                  # the whole suite (slow: a full instrumented build, then 5-15x)
#   scripts/tsan.sh --filter 'Gateway|Hub|Bot'       # extra arguments go to `swift test`
set -euo pipefail
cd "$(dirname "$0")/.."

scratch=.build-tsan
reports="$PWD/$scratch/tsan-reports"
mkdir -p "$scratch"
rm -rf "$reports" && mkdir -p "$reports"

if [ -z "${MYNAH_TEST_POSTGRES_URL:-}" ]; then
    eval "$(scripts/test-postgres.sh start)"
    trap 'scripts/test-postgres.sh stop "$MYNAH_TEST_POSTGRES_DIR"' EXIT
fi

swift build --build-tests --sanitize=thread --scratch-path "$scratch"
# halt_on_error=0: one run reports every race, not the first; log_path: one file per process (daemons included).
export TSAN_OPTIONS="suppressions=$PWD/scripts/tsan.supp halt_on_error=0 second_deadlock_stack=1 log_path=$reports/tsan ${TSAN_OPTIONS:-}"
# Swift's backtracer and TSan would both handle a crashing signal; leave it to TSan.
export SWIFT_BACKTRACE=enable=no
status=0
swift test --skip-build --sanitize=thread --scratch-path "$scratch" "$@" || status=$?

shopt -s nullglob
files=("$reports"/tsan*)
if [ "${#files[@]}" -gt 0 ]; then
    cat "${files[@]}"
    count="$(cat "${files[@]}" | grep -c '^WARNING: ThreadSanitizer' || true)"
    echo "tsan: $count report(s) from ${#files[@]} process(es), in $reports" >&2
    status=1
fi
exit "$status"
