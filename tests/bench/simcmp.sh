#!/bin/sh
# tests/bench/simcmp.sh — issue 16's goals on real traces: `learned` against
# `easy` and `fifo` (mean bounded slowdown, longest wait), each trace as one
# worker of the machine's size, at three offered loads. Deterministic: the
# figures do not move with the machine's load.
#
#   tests/bench/simcmp.sh [SIM]          (default ./cloudai-sim)
#   SIMCMP_DIR=DIR     where the traces are (default /work/traces)
#   SIMCMP_TRACES="kth:100 ctc:338 ..."  name:CPUs, DIR/name.swf.gz each
#   SIMCMP_LOADS="0.75 0.85 0.95"
#   SIMCMP_BASE=SIM2   take easy and fifo from another build (e.g. an older
#                      one: only learned changed) — default SIM itself
#
# The traces are the Parallel Workloads Archive's (README "Scheduling" says
# where copies were found); they are not in this repository.
# Prints one line per run and "both goals: N of M" (slowdown >= 25% below
# easy's and >= 30% below fifo's, longest wait no worse than easy's).
set -u
SIM=${1:-./cloudai-sim}
BASE=${SIMCMP_BASE:-$SIM}
DIR=${SIMCMP_DIR:-/work/traces}
TRACES=${SIMCMP_TRACES:-"nasa:128 kth:100 ctc:338 hpc2n:240 lanl:1024 thunder:4008 blue:1152 ricc:8192 curie:93312"}
LOADS=${SIMCMP_LOADS:-"0.75 0.85 0.95"}
TMP=$(mktemp -d) || exit 1
trap 'rm -rf "$TMP"' EXIT

# field NAME < one JSON line
field() { sed -n "s/.*\"$1\":\([-0-9.e+]*\).*/\1/p"; }

for tc in $TRACES; do
    t=${tc%%:*}; c=${tc##*:}
    [ -f "$DIR/$t.swf.gz" ] || { echo "simcmp: $DIR/$t.swf.gz not found, skipped" >&2; continue; }
    for L in $LOADS; do   # the loads of one trace at once: 2 cores, 3 runs
        ( for p in easy fifo; do
              "$BASE" -trace "$DIR/$t.swf.gz" -workers 1 -cpu "$c" -load "$L" -policy "$p" -json
          done > "$TMP/$t-$L.base" 2>/dev/null
          "$SIM" -trace "$DIR/$t.swf.gz" -workers 1 -cpu "$c" -load "$L" -policy learned -json \
              > "$TMP/$t-$L.learned" 2>/dev/null ) &
    done
    wait
done
n=0; both=0
for tc in $TRACES; do
    t=${tc%%:*}
    for L in $LOADS; do
        [ -s "$TMP/$t-$L.learned" ] || continue
        es=$(grep '"easy"' "$TMP/$t-$L.base" | field mean_bounded_slowdown)
        em=$(grep '"easy"' "$TMP/$t-$L.base" | field max_wait_s)
        fs=$(grep '"fifo"' "$TMP/$t-$L.base" | field mean_bounded_slowdown)
        ls=$(field mean_bounded_slowdown < "$TMP/$t-$L.learned")
        lm=$(field max_wait_s < "$TMP/$t-$L.learned")
        line=$(awk -v t="$t" -v L="$L" -v es="$es" -v em="$em" -v fs="$fs" -v ls="$ls" -v lm="$lm" 'BEGIN {
            ds = 100 * (ls / es - 1); dm = 100 * (lm / em - 1); df = 100 * (ls / fs - 1)
            ok = ds <= -25 && df <= -30 && lm <= em
            printf "%-8s %s  slowdown vs easy %7.1f%%  vs fifo %7.1f%%  longest wait vs easy %+6.1f%%  %s\n",
                t, L, ds, df, dm, ok ? "BOTH" : "" }')
        echo "$line"
        n=$((n + 1))
        case $line in *BOTH) both=$((both + 1)) ;; esac
    done
done
echo "both goals: $both of $n"
