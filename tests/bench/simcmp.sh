#!/bin/sh
# tests/bench/simcmp.sh — issue 16's goals on real traces: `learned` against
# `easy` and `fifo` (mean bounded slowdown, longest wait), each trace as one
# worker of the machine's size, at three offered loads. Deterministic: the
# figures do not move with the machine's load.
#
#   tests/bench/simcmp.sh [SIM] [-- EXTRA...]   (default ./cloudai-sim)
#   SIMCMP_DIR=DIR     where the traces are (default /work/traces)
#   SIMCMP_TRACES="kth:100 ctc:338 ..."  name:CPUs, DIR/name.swf.gz each
#   SIMCMP_LOADS="0.75 0.85 0.95"
#   SIMCMP_BASE=SIM2   take easy and fifo from another build (e.g. an older
#                      one: only learned changed) — default SIM itself
#   SIMCMP_CACHE=DIR   keep easy's and fifo's figures there, keyed by the
#                      base build's and the trace's checksums and the load: a second run
#                      of a changed `learned` then runs learned alone (fifo
#                      on Curie and RICC takes most of a cold run's time)
#   SIMCMP_JOBS=N      runs at once (default: the CPUs online)
#   EXTRA              more arguments for learned's runs (e.g. -guard 0.6)
#
# The traces are the Parallel Workloads Archive's (README "Scheduling" says
# where copies were found); they are not in this repository.
# Prints one line per run and "both goals: N of M" (slowdown >= 25% below
# easy's and >= 30% below fifo's, longest wait no worse than easy's).
set -u
SIM=./cloudai-sim
case ${1:-} in --) ;; ?*) SIM=$1; shift ;; esac
[ "${1:-}" = -- ] && shift
EXTRA="$*"
BASE=${SIMCMP_BASE:-$SIM}
DIR=${SIMCMP_DIR:-/work/traces}
TRACES=${SIMCMP_TRACES:-"nasa:128 kth:100 ctc:338 hpc2n:240 lanl:1024 thunder:4008 blue:1152 ricc:8192 curie:93312"}
LOADS=${SIMCMP_LOADS:-"0.75 0.85 0.95"}
NJ=${SIMCMP_JOBS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)}
TMP=$(mktemp -d) || exit 1
trap 'rm -rf "$TMP"' EXIT
CACHE=${SIMCMP_CACHE:-$TMP/cache}
SUM=$(cksum <"$BASE" | cut -d' ' -f1) || exit 1
mkdir -p "$CACHE" || exit 1

# key NAME: the cache's key of trace NAME (a file replaced under the same
# name must not reuse the old file's figures)
key() { echo "$SUM-$1-$(cksum <"$DIR/$1.swf.gz" | cut -d' ' -f1)"; }

# field NAME < one JSON line
field() { sed -n "s/.*\"$1\":\([-0-9.e+]*\).*/\1/p"; }

# One command line per run not cached yet, run NJ at a time, the list's
# last traces first (the default list ends with the longest: a long run
# started last would run alone); a base run writes its file only when it
# succeeds.
rev=
for tc in $TRACES; do rev="$tc $rev"; done
for tc in $rev; do
    t=${tc%%:*}; c=${tc##*:}
    [ -f "$DIR/$t.swf.gz" ] || { echo "simcmp: $DIR/$t.swf.gz not found, skipped" >&2; continue; }
    k=$(key "$t")
    for L in $LOADS; do
        for p in easy fifo; do
            f="$CACHE/$k-$L-$p"
            [ -s "$f" ] || echo "'$BASE' -trace '$DIR/$t.swf.gz' -workers 1 -cpu $c -load $L -policy $p -json >'$f.tmp' && mv '$f.tmp' '$f'"
        done
        echo "'$SIM' -trace '$DIR/$t.swf.gz' -workers 1 -cpu $c -load $L -policy learned -json $EXTRA >'$TMP/$t-$L.learned'"
    done
done >"$TMP/runs"
xargs -P "$NJ" -I{} sh -c '{}' <"$TMP/runs"

n=0; both=0
for tc in $TRACES; do
    t=${tc%%:*}
    for L in $LOADS; do
        [ -s "$TMP/$t-$L.learned" ] || continue
        b="$CACHE/$(key "$t")-$L"
        [ -s "$b-easy" ] && [ -s "$b-fifo" ] || { echo "simcmp: $t at $L: a base run failed" >&2; continue; }
        es=$(field mean_bounded_slowdown <"$b-easy")
        em=$(field max_wait_s <"$b-easy")
        fs=$(field mean_bounded_slowdown <"$b-fifo")
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
