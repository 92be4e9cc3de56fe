#!/bin/sh
# tests/run.sh — runs every test program and counts its "ok"/"not ok"/"skip"
# lines. Unit tests and fuzz-corpus replays run from the ASan/UBSan build;
# integration tests start the sanitizer-built daemons as real processes.
# Ends with "N passed, N failed, N skipped"; exits non-zero on any failure.
# TESTS_ONLY=unit|fuzz|integration narrows the run; TESTS_MATCH=glob picks files.
cd "$(dirname "$0")/.." || exit 2
B=${B:-build/asan}
export CLOUDAI_BIN="$PWD/$B"
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
pass=0; fail=0; skip=0; failed_names=""
LOGDIR=${TEST_LOGDIR:-build/test-logs}; mkdir -p "$LOGDIR"

run_one() { # name, command...
    name=$1; shift
    log="$LOGDIR/$(echo "$name" | tr '/ ' '__').log"
    start=$(date +%s)
    "$@" >"$log" 2>&1; rc=$?
    p=$(grep -c '^ok - ' "$log"); f=$(grep -c '^not ok - ' "$log"); s=$(grep -c '^skip - ' "$log")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1; echo "not ok - $name exited $rc" >>"$log"
    fi
    if [ "$p" -eq 0 ] && [ "$f" -eq 0 ] && [ "$s" -eq 0 ]; then
        f=1; echo "not ok - $name ran no checks" >>"$log"
    fi
    pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
    printf '%-44s %3d ok %3d failed %3d skipped  (%ss)\n' "$name" "$p" "$f" "$s" "$(( $(date +%s) - start ))"
    # Say why anything was skipped, right under its line.
    [ "$s" -eq 0 ] || grep '^skip - ' "$log" | head -5 | sed 's/^/    /'
    if [ "$f" -ne 0 ]; then
        failed_names="$failed_names $name"
        grep -E '^(not ok|#)' "$log" | head -40 | sed 's/^/    /'
        tail -n 15 "$log" | sed 's/^/    | /'
    fi
}

want() { [ -z "$TESTS_ONLY" ] || [ "$TESTS_ONLY" = "$1" ]; }
match() { [ -z "$TESTS_MATCH" ] || case "$1" in $TESTS_MATCH) return 0;; *) return 1;; esac; }

if want unit; then
    for t in "$B"/tests/unit/test_*; do
        [ -x "$t" ] || continue; match "$t" || continue
        run_one "unit/${t##*/}" "$t"
    done
fi
if want fuzz; then
    for r in "$B"/tests/fuzz/replay_*; do
        [ -x "$r" ] || continue; match "$r" || continue
        target=${r##*/replay_}
        run_one "fuzz/$target" "$r" "tests/fuzz/corpus/$target"
    done
fi
if want integration; then
    for t in tests/integration/test_*.sh; do
        [ -f "$t" ] || continue; match "$t" || continue
        run_one "integration/${t##*/}" timeout 900 sh "$t"
    done
fi
[ -n "$failed_names" ] && echo "failed:$failed_names"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
