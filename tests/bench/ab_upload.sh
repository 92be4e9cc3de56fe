#!/bin/bash
# tests/bench/ab_upload.sh — two builds' workers side by side on one master:
# the same upload dispatched to worker A and worker B alternately, so both
# see the same machine state. Prints each pair's upload time (ms, from the
# worker's "uploaded" line) and bytes on the wire, the medians, and each
# worker's CPU time (all of its uploads, with their tasks' copies).
#
#   tests/bench/ab_upload.sh [PAIRS]          (default 10)
#   AB_A=DIR AB_B=DIR     the two builds' bin dirs (default build/rel both)
#   AB_A_ARGS / AB_B_ARGS worker flags, e.g. AB_B_ARGS=worker.compress_level=0
#   AB_FILES=N AB_BYTES=B the data set: N files of B bytes (log lines)
set -u
cd "$(dirname "$0")/../.."
PAIRS=${1:-10}
A=$(cd "${AB_A:-build/rel}" && pwd); B=$(cd "${AB_B:-build/rel}" && pwd)
NF=${AB_FILES:-10000}; NB=${AB_BYTES:-4096}
T=$(mktemp -d /var/tmp/cloudai-ab.XXXXXX) || exit 1
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    mountpoint -q "$T/store" && umount "$T/store"
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$T/store" "$T/ds"
# The master writes into RAM, as in `make bench`.
mount -t tmpfs -o size=4096m cloudai-ab "$T/store" 2>/dev/null || echo "ab: no tmpfs, the store is on disk" >&2
cc -O2 -o "$T/bench_util" tests/bench/bench_util.c || exit 1
"$T/bench_util" gen small "$T/ds/small" "$NF" "$NB" 3 || exit 1
"$A/master" -listen 127.0.0.1:0 -files "$T/store/files" -meta "$T/meta" --no-console > "$T/m.out" 2> "$T/m.log" &
PIDS="$PIDS $!"
M=""
for _ in $(seq 200); do M=$(sed -n 's/^master listening on //p' "$T/m.out"); [ -n "$M" ] && break; sleep 0.05; done
[ -n "$M" ] || { echo "ab: master did not start" >&2; exit 1; }
# shellcheck disable=SC2086
"$A/worker" -master "$M" -id wA -runtime process -outputs "$T/oA" -cpu 2 -mem 64g ${AB_A_ARGS:-} > "$T/wA.log" 2>&1 &
PA=$!; PIDS="$PIDS $PA"
# shellcheck disable=SC2086
"$B/worker" -master "$M" -id wB -runtime process -outputs "$T/oB" -cpu 2 -mem 64g ${AB_B_ARGS:-} > "$T/wB.log" 2>&1 &
PB=$!; PIDS="$PIDS $PB"
for w in wA wB; do
    for _ in $(seq 200); do grep -q "registered with master" "$T/$w.log" && break; sleep 0.05; done
done
# one WORKER -> "MS WIRE"
one() {
    local n0 line
    n0=$(grep -c ': uploaded ' "$T/$1.log")
    "$A/cloudai" -master "$M" dispatch "$1" x -cmd "cp -al $T/ds/small/. ." -storage 8g -name ab > /dev/null || return 1
    for _ in $(seq 3000); do [ "$(grep -c ': uploaded ' "$T/$1.log")" -gt "$n0" ] && break; sleep 0.02; done
    line=$(grep ': uploaded ' "$T/$1.log" | tail -1)
    echo "$line" | sed -E 's/.*\(([0-9]+) on the wire.* in ([0-9]+) ms.*/\2 \1/'
    sleep 0.3
}
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
: > "$T/a"; : > "$T/b"
for p in $(seq "$PAIRS"); do
    a=$(one wA) || exit 1; b=$(one wB) || exit 1
    echo "pair $p: A $a ms/wire   B $b ms/wire"
    echo "${a%% *}" >> "$T/a"; echo "${b%% *}" >> "$T/b"
done
med() { sort -n "$1" | awk '{v[NR] = $1} END {print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) " (" v[1] "-" v[NR] ")"}'; }
cpu() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat"; }
echo "median ms: A $(med "$T/a")   B $(med "$T/b")"
echo "worker CPU s: A $(cpu "$PA")   B $(cpu "$PB")"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
