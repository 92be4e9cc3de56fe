#!/usr/bin/env bash
# tests/bench/profile.sh — instructions per byte and per file of an output
# upload, master and worker each, counted by callgrind (valgrind). Unlike
# wall-clock figures these do not move with the machine's load, so they
# compare two builds honestly on a shared machine.
#
#   tests/bench/profile.sh [BIN_DIR]      (default build/rel)
#   PROF_MIB=64 PROF_FILES=2000           the two data sets' sizes
#   PROF_KEEP=DIR                         keep the callgrind files there
#                                         (callgrind_annotate FILE)
#
# Three runs on a fresh master + process-runtime worker, both under
# callgrind: an empty output (the fixed cost of a task), PROF_MIB MiB of
# incompressible data in 16 files, PROF_FILES files of 4 KiB. Printed:
# instructions of each daemon minus those of the empty run, per byte and
# per file. Valgrind hides the CPU's SHA extensions from libcrypto, so
# SHA-256 counts as its AVX2 code (~11 instructions a byte) where the real
# CPU runs SHA-NI: read SHA-256's share as an upper bound.
set -u
cd "$(dirname "$0")/../.."
BIN=$(cd "${1:-build/rel}" && pwd)
MIB=${PROF_MIB:-64}
NFILES=${PROF_FILES:-2000}
command -v valgrind > /dev/null || { echo "profile: valgrind is not installed" >&2; exit 1; }
TMP=$(mktemp -d /var/tmp/cloudai-prof.XXXXXX) || exit 1
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    for p in $PIDS; do wait "$p" 2>/dev/null; done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cc -O2 -o "$TMP/bench_util" tests/bench/bench_util.c || exit 1
mkdir -p "$TMP/ds/random" "$TMP/ds/small"
"$TMP/bench_util" gen random "$TMP/ds/random" 16 $((MIB * 1024 * 1024 / 16)) 1
"$TMP/bench_util" gen small "$TMP/ds/small" "$NFILES" 4096 3
mkdir -p "$TMP/ds/empty"

VG="valgrind --tool=callgrind --dump-line=no --dump-instr=no --compress-strings=no"
# run NAME DATASET -> "master_Ir worker_Ir"
run() {
    local name=$1 ds=$2 d=$TMP/run.$1 maddr="" mp wp
    mkdir -p "$d"
    $VG --callgrind-out-file="$d/master.cg" "$BIN/master" -listen 127.0.0.1:0 -files "$d/files" \
        -meta "$d/meta" --no-console > "$d/master.out" 2> "$d/master.log" &
    mp=$!; PIDS="$PIDS $mp"
    for _ in $(seq 600); do
        maddr=$(sed -n 's/^master listening on //p' "$d/master.out")
        [ -n "$maddr" ] && break
        sleep 0.1
    done
    [ -n "$maddr" ] || { echo "profile: master did not start" >&2; return 1; }
    $VG --callgrind-out-file="$d/worker.cg" "$BIN/worker" -master "$maddr" -id w1 -runtime process \
        -outputs "$d/out" -cpu 2 -mem 64g > "$d/w.log" 2>&1 &
    wp=$!; PIDS="$PIDS $wp"
    for _ in $(seq 600); do grep -q "registered with master" "$d/w.log" && break; sleep 0.1; done
    "$BIN/cloudai" -master "$maddr" task x -cmd "cp -al $ds/. ." -storage 8g -name prof > /dev/null ||
        return 1
    for _ in $(seq 6000); do grep -q ': uploaded ' "$d/w.log" && break; sleep 0.1; done
    grep -q ': uploaded ' "$d/w.log" || { echo "profile: $name: no upload" >&2; tail -5 "$d/w.log" >&2; return 1; }
    # FILE_ACK reached the worker, so the master has indexed the files.
    sleep 1
    kill "$wp"; wait "$wp" 2>/dev/null
    kill "$mp"; wait "$mp" 2>/dev/null
    echo "    $name: $(grep -m1 ': uploaded ' "$d/w.log" | sed 's/.*: uploaded/uploaded/')" >&2
    if [ -n "${PROF_KEEP:-}" ]; then
        mkdir -p "$PROF_KEEP" && cp "$d/master.cg" "$PROF_KEEP/$name.master.cg" && cp "$d/worker.cg" "$PROF_KEEP/$name.worker.cg"
    fi
    echo "$(sed -n 's/^summary: //p' "$d/master.cg") $(sed -n 's/^summary: //p' "$d/worker.cg")"
}
read -r m0 w0 < <(run empty "$TMP/ds/empty") || exit 1
read -r m1 w1 < <(run random "$TMP/ds/random") || exit 1
read -r m2 w2 < <(run small "$TMP/ds/small") || exit 1
awk -v m0="$m0" -v w0="$w0" -v m1="$m1" -v w1="$w1" -v m2="$m2" -v w2="$w2" \
    -v b=$((MIB * 1024 * 1024)) -v n="$NFILES" 'BEGIN {
    printf "empty task:          master %.1f M, worker %.1f M instructions\n", m0 / 1e6, w0 / 1e6
    printf "%d MiB incompressible: master %.2f, worker %.2f instructions/byte\n", b / 1048576, (m1 - m0) / b, (w1 - w0) / b
    printf "%d x 4 KiB:          master %.0f, worker %.0f instructions/file (%.2f, %.2f /byte)\n", n,
        (m2 - m0) / n, (w2 - w0) / n, (m2 - m0) / (n * 4096), (w2 - w0) / (n * 4096) }'
