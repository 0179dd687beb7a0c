#!/usr/bin/env bash
# Builds Mynah's libFuzzer targets (the separate package in Fuzz/, with -sanitize=fuzzer,address) and runs each one
# for a bounded time from its seed corpus in Fuzz/corpus/<target>/; fails when any target finds a crash, an ASan
# report or a broken invariant, leaving the input that did it in .build-fuzz/findings/<target>/.
#
#   scripts/fuzz.sh [seconds] [target...]     default: 30 seconds each, every target
#
# New inputs the fuzzer finds go to .build-fuzz/corpus/<target>/ (not the committed seeds); add one to
# Fuzz/corpus/ by hand when it covers something worth keeping. docs/fuzzing.md has more.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-30}"
shift || true
all=(fuzz-json fuzz-gateway-frame fuzz-multipart fuzz-image fuzz-audio fuzz-config fuzz-cron)
targets=("$@")
if [ "$#" -eq 0 ]; then targets=("${all[@]}"); fi

scratch="$PWD/.build-fuzz"
# Optimized (-O keeps Swift's bounds and overflow checks) for several times the executions of a debug build.
build=(swift build -c release --package-path Fuzz --scratch-path "$scratch")
# The linker warns once per ASan helper symbol it cannot export; nothing else is filtered.
set +o pipefail
"${build[@]}" 2>&1 | grep -v "Cannot export local symbol"
[ "${PIPESTATUS[0]}" -eq 0 ] || { echo "fuzz: the build failed" >&2; exit 1; }
set -o pipefail
bin="$("${build[@]}" --show-bin-path)"

# Swift's own backtracer would race ASan and libFuzzer for a crashing signal; leave crashes to them.
export SWIFT_BACKTRACE=enable=no
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1}"

failed=()
for target in "${targets[@]}"; do
    [ -x "$bin/$target" ] || { echo "fuzz: $target was not built" >&2; exit 1; }
    corpus="$scratch/corpus/$target"
    findings="$scratch/findings/$target"
    mkdir -p "$corpus" "$findings"
    log="$scratch/$target.log"
    echo "== $target: ${seconds}s"
    # -timeout: one input running over 10 s is a finding too (a hang); -rss_limit_mb bounds a runaway allocation.
    if "$bin/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
        -artifact_prefix="$findings/" "$corpus" "Fuzz/corpus/$target" >"$log" 2>&1; then
        runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
        rate="$(grep -o 'exec/s: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)"
        cov="$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)"
        echo "   ok: ${runs:-?} runs, ${rate:-?} exec/s, coverage ${cov:-?}"
    else
        echo "   FAILED: see $log; the input is in $findings/" >&2
        grep -E "ERROR|Fatal error|invariant violated|SUMMARY|Test unit written" "$log" | head -10 >&2 || true
        failed+=("$target")
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz: findings in ${failed[*]}" >&2
    exit 1
fi
