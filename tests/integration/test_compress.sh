#!/bin/sh
# test_compress.sh — [retention] compress_after_days end to end. The
# master's sweeper runs 31 days ahead (test hook CLOUDAI_TEST_SWEEP_AHEAD_DAYS)
# against compress_after_days = 30, so a run is packed as soon as it is
# stored. Then: files pack on the disk (sticky mark, smaller), tiny and
# incompressible ones stay as they are, a compress.GLOB = 0 rule keeps a
# name raw; `cloudai get` (whole run and -path), GET /api/files (whole,
# Ranges across 256 KiB block edges, the last byte, suffix ranges, ETag
# and If-None-Match), tar.gz and zip archives and a task:ID input give
# the original bytes; listed sizes stay the original ones; /metrics shows
# the saving. A master SIGKILLed mid-run (test hook
# CLOUDAI_TEST_COMPRESS_KILL, a packed copy written but not renamed)
# leaves every file readable, and the restart finishes the packing.
# `master --repair` indexes a packed file as its original. Tiering a packed
# run to the bucket (when SeaweedFS can be started) sends
# the original bytes. Deleting a packed run removes it whole.
. tests/integration/lib.sh
command -v curl >/dev/null 2>&1 || { skip "curl not installed"; exit 0; }
command -v python3 >/dev/null 2>&1 || { skip "python3 not installed"; exit 0; }

cat >"$T/cfg.ini" <<EOF
[master]
heartbeat_interval_s = 1
[http]
listen = 127.0.0.1:0
[retention]
compress_after_days = 30
compress.raw-* = 0
sweep_interval_s = 1
EOF
export CLOUDAI_TEST_SWEEP_AHEAD_DAYS=31
start_master m -config "$T/cfg.ini" || { not_ok "master starts"; exit 1; }
grep -q "runs older than 30 days are packed on the disk" "$T/m.log" &&
    ok "master says it packs runs older than 30 days" || not_ok "master says it packs runs older than 30 days"
H="http://$(sed -n 's/^master http on \([^ ]*\).*/\1/p' "$T/m.out" | head -n 1)"
start_worker w1 -runtime process -cpu 2 -mem 1g || true
export CLOUDAI_USER=alice

metric() { curl -s "$H/metrics" | sed -n "s/^$1 //p"; }
# big.txt: 2.9 MB of text (12 blocks); exact.txt: exactly one block;
# d/e/mid.log: compressible, nested; rand.bin: incompressible (given up
# after its first MiB); tiny.txt:
# under 4 KiB; empty.txt: 0 bytes.
CMD='seq 1 400000 > big.txt && seq 1 100000 | head -c 262144 > exact.txt &&
mkdir -p d/e && yes "a log line of a run" | head -c 700000 > d/e/mid.log &&
head -c 3000000 /dev/urandom > rand.bin && echo hi > tiny.txt && : > empty.txt &&
sha256sum big.txt exact.txt d/e/mid.log rand.bin tiny.txt empty.txt'
A=$(submit task cloudai-test:latest -name old -cmd "$CMD")
wait_final "$A" 60 || not_ok "task $A finishes"
R=$(submit task cloudai-test:latest -name raw-keep -cmd 'seq 1 100000 > r.txt')
wait_final "$R" 60 || not_ok "task $R finishes"
cai logs "$A" >"$T/a.log" 2>&1
sha_rec() { awk -v n="$1" '$2 == n { print $1 }' "$T/a.log" | head -n 1; }
DIRA=$(task_dir "$T/m/files/alice/old" "$A")
wait_for "[ \"\$(metric cloudai_compress_files)\" = 3 ]" 30
want_eq "three files packed (big, exact, mid)" "$(metric cloudai_compress_files)" 3

mode() { stat -c %a "$1" 2>/dev/null; }
want_eq "a packed file carries the mark (sticky bit)" "$(mode "$DIRA/big.txt")" 1644
want_eq "...and nested ones" "$(mode "$DIRA/d/e/mid.log")" 1644
want_eq "an incompressible file stays as it is" "$(mode "$DIRA/rand.bin")" 644
want_eq "a tiny file stays as it is" "$(mode "$DIRA/tiny.txt")" 644
RAWD=$(task_dir "$T/m/files/alice/raw-keep" "$R")
want_eq "compress.raw-* = 0 keeps that name unpacked" "$(mode "$RAWD/r.txt")" 644
BIGSZ=$(stat -c %s "$DIRA/big.txt")
[ "$BIGSZ" -lt 1000000 ] && ok "big.txt takes $BIGSZ bytes on the disk instead of 2688895" ||
    not_ok "big.txt is smaller on the disk ($BIGSZ)"
DU=$(du -sk "$DIRA" | cut -f1)
[ "$DU" -lt 4500 ] && ok "the run takes ${DU} KiB on the disk (6.7 MB of output)" ||
    not_ok "the run's disk usage went down (${DU} KiB)"
SAVED=$(metric cloudai_compress_saved_bytes)
[ "${SAVED:-0}" -gt 2500000 ] && ok "/metrics: cloudai_compress_saved_bytes $SAVED" ||
    not_ok "/metrics shows the saving (${SAVED:-none})"
check "no temp copy left in .staging" sh -c "[ -z \"\$(ls -A '$T/m/files/.staging')\" ]"

# ---- listed sizes: the original ones
cai files -task "$A" --json >"$T/files.json"
check "listed size of big.txt is the original" grep -q '"file_name":"big.txt"[^}]*"file_size":2688895' "$T/files.json"
curl -s "$H/api/files?task_id=$A" >"$T/api_files.json"
check "GET /api/files lists the original size" grep -q '"file_name":"d/e/mid.log"[^}]*"file_size":700000' "$T/api_files.json"

# ---- cloudai get: the whole run, and one path
rm -rf "$T/dl"; cai get "$A" "$T/dl" >"$T/get.out" 2>&1 || { not_ok "cloudai get"; diag "$(cat "$T/get.out")"; }
for f in big.txt exact.txt d/e/mid.log rand.bin tiny.txt empty.txt; do
    want_eq "cloudai get: $f byte-identical" "$(sha_of "$T/dl/$f" 2>/dev/null)" "$(sha_rec "$f")"
done
want_eq "cloudai get: the mode is the original" "$(mode "$T/dl/big.txt")" 644
rm -rf "$T/dl1"; cai get "$A" "$T/dl1" -path d/e/mid.log >"$T/get1.out" 2>&1
want_eq "cloudai get -path of a packed file" "$(sha_of "$T/dl1/d/e/mid.log" 2>/dev/null)" "$(sha_rec d/e/mid.log)"

# ---- HTTP: whole file, ETag, Ranges
curl -s -D "$T/h0" -o "$T/big0" "$H/api/files/$A/big.txt"
want_eq "GET /api/files: whole packed file" "$(sha_of "$T/big0")" "$(sha_rec big.txt)"
check "...Content-Length is the original size" grep -qi '^Content-Length: 2688895' "$T/h0"
check "...ETag is its SHA-256" grep -qi "^ETag: \"$(sha_rec big.txt)\"" "$T/h0"
want_eq "If-None-Match: 304" "$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: \"$(sha_rec big.txt)\"" "$H/api/files/$A/big.txt")" 304
range() { # NAME RANGE FIRST LAST (inclusive)
    _c=$(curl -s -D "$T/rh" -o "$T/rb" -w '%{http_code}' -H "Range: bytes=$2" "$H/api/files/$A/$1")
    python3 -c "import sys; d=open(sys.argv[1],'rb').read(); sys.stdout.buffer.write(d[int(sys.argv[2]):int(sys.argv[3])+1])" \
        "$T/dl/$1" "$3" "$4" >"$T/rw"
    if [ "$_c" = 206 ] && cmp -s "$T/rw" "$T/rb" && grep -qi "^Content-Range: bytes $3-$4/" "$T/rh"; then
        ok "Range $2 of $1: 206, the bytes $3-$4"
    else
        not_ok "Range $2 of $1 (HTTP $_c)"; diag "$(cat "$T/rh")"
    fi
}
range big.txt 0-0 0 0
range big.txt 262140-262150 262140 262150
range big.txt 262144-262144 262144 262144
range big.txt 100000-900000 100000 900000
range big.txt 2688894-2688894 2688894 2688894
range big.txt -10 2688885 2688894
range big.txt 2621440- 2621440 2688894
range exact.txt 262100- 262100 262143
range d/e/mid.log 524287-524288 524287 524288
want_eq "a Range past the end: 416" \
    "$(curl -s -o /dev/null -w '%{http_code}' -H 'Range: bytes=2688895-' "$H/api/files/$A/big.txt")" 416

# ---- archives
curl -s -o "$T/a.tgz" "$H/api/tasks/$A/archive?format=tar.gz"
rm -rf "$T/x"; mkdir -p "$T/x"; tar -xzf "$T/a.tgz" -C "$T/x" 2>"$T/tar.err"
want_eq "tar.gz archive: big.txt byte-identical" "$(sha_of "$T/x/big.txt" 2>/dev/null)" "$(sha_rec big.txt)"
want_eq "tar.gz archive: d/e/mid.log byte-identical" "$(sha_of "$T/x/d/e/mid.log" 2>/dev/null)" "$(sha_rec d/e/mid.log)"
curl -s -o "$T/a.zip" "$H/api/tasks/$A/archive?format=zip"
python3 - "$T/a.zip" "$(sha_rec exact.txt)" >"$T/zip.out" 2>&1 <<'EOF'
import hashlib, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
print("ok" if hashlib.sha256(z.read("exact.txt")).hexdigest() == sys.argv[2] and z.testzip() is None else "bad")
EOF
want_eq "zip archive: exact.txt byte-identical, every CRC right" "$(cat "$T/zip.out")" ok

# ---- another task reads it as an input (task:ID/PATH)
C=$(submit task cloudai-test:latest -name consumer -input "task:$A/big.txt" \
    -cmd "sha256sum \"\$INPUT_DIR/big.txt\" | cut -d' ' -f1 > \"\$OUTPUT_DIR/got.txt\"")
wait_final "$C" 60 || not_ok "consumer finishes"
want_eq "task:ID/PATH input of a packed file: the original bytes" \
    "$(cat "$(task_dir "$T/m/files/alice/consumer" "$C")/got.txt" 2>/dev/null)" "$(sha_rec big.txt)"

# ---- killed mid-run: a packed copy written and synced, not yet renamed
stop_pid "$MPID"
LISTEN=$MADDR
export CLOUDAI_TEST_COMPRESS_KILL=2
start_master m -config "$T/cfg.ini" || not_ok "master restarts with the kill hook"
unset CLOUDAI_TEST_COMPRESS_KILL
H="http://$(sed -n 's/^master http on \([^ ]*\).*/\1/p' "$T/m.out" | head -n 1)"
KCMD='for i in 1 2 3 4 5; do seq $((i * 1000)) 300000 > f$i.txt; done; sha256sum f*.txt'
KPID=$MPID
K=$(submit task cloudai-test:latest -name big -cmd "$KCMD")
wait_for "! kill -0 $KPID 2>/dev/null" 60
check "the master killed itself mid-packing (hook)" sh -c "! kill -0 $KPID 2>/dev/null"
wait $KPID 2>/dev/null
DIRK=$(task_dir "$T/m/files/alice/big" "$K")
NPACKED=$(stat -c %a "$DIRK"/f*.txt | grep -c '^1')
want_eq "killed: one file packed, the rest as they were" "$NPACKED" 1
HALF=$(stat -c %i "$T/m/files/.staging/z-$K" 2>/dev/null)
check "killed: the half-done copy is in .staging" test -n "$HALF"
start_master m -config "$T/cfg.ini" || not_ok "master restarts"
H="http://$(sed -n 's/^master http on \([^ ]*\).*/\1/p' "$T/m.out" | head -n 1)"
cai logs "$K" >"$T/k.log" 2>&1
rm -rf "$T/dlk"; cai get "$K" "$T/dlk" >"$T/getk.out" 2>&1
bad=0
for i in 1 2 3 4 5; do
    [ "$(sha_of "$T/dlk/f$i.txt" 2>/dev/null)" = "$(awk -v n="f$i.txt" '$2 == n { print $1 }' "$T/k.log")" ] || bad=1
done
want_eq "after the kill every file reads byte-identical" "$bad" 0
wait_for "[ \"\$(stat -c %a '$DIRK'/f*.txt | grep -c '^1')\" = 5 ]" 30
want_eq "the next sweep packed the rest" "$(stat -c %a "$DIRK"/f*.txt | grep -c '^1')" 5
check "...and nothing is left in .staging" sh -c "[ -z \"\$(ls -A '$T/m/files/.staging')\" ]"
want_eq "...and the packed run still reads: Range across a block edge" \
    "$(curl -s -H 'Range: bytes=262143-262144' "$H/api/files/$K/f3.txt" | od -An -c | tr -d ' ')" \
    "$(dd if="$T/dlk/f3.txt" bs=1 skip=262143 count=2 2>/dev/null | od -An -c | tr -d ' ')"
wait_for "[ \"\$(metric cloudai_compress_files)\" = 8 ]" 30
want_eq "/metrics counts both runs' packed files" "$(metric cloudai_compress_files)" 8

# ---- delete: the packed run goes whole
want_eq "DELETE /api/tasks/ID/files of a packed run" \
    "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$H/api/tasks/$A/files")" 200
check "its directory is gone" test ! -e "$DIRA"
want_eq "its files are gone from the API" \
    "$(curl -s -o /dev/null -w '%{http_code}' "$H/api/files/$A/big.txt")" 404

# ---- --repair of lost records: a packed file is indexed as its original
stop_pid "$MPID"
mv "$T/m/meta" "$T/meta.bak"
ASAN_OPTIONS=$DAEMON_ASAN "$CLOUDAI_BIN/master" -files "$T/m/files" -meta "$T/m/meta" --repair \
    >"$T/repair.out" 2>&1
want_eq "--repair exits 0" "$?" 0
start_master m -config "$T/cfg.ini" || not_ok "master starts on the repaired store"
cai files -task "$K" --json >"$T/kfiles.json" 2>&1
F2SHA=$(awk '$2 == "f2.txt" { print $1 }' "$T/k.log")
check "--repair: a packed file's record has its original size and SHA-256" \
    grep -q "\"file_name\":\"f2.txt\"[^}]*\"file_size\":$(stat -c %s "$T/dlk/f2.txt")[^}]*\"sha256\":\"$F2SHA\"" "$T/kfiles.json"
stop_pid "$MPID"
rm -rf "$T/m/meta"; mv "$T/meta.bak" "$T/m/meta"
start_master m -config "$T/cfg.ini" || not_ok "master restarts on its own store"
H="http://$(sed -n 's/^master http on \([^ ]*\).*/\1/p' "$T/m.out" | head -n 1)"

# ---- tiering a packed run: the bucket gets the original bytes
start_s3; rc=$?
if [ $rc = 0 ]; then
    stop_pid "$MPID"
    cat >>"$T/cfg.ini" <<EOF
archive_after_days = 30
[store]
endpoint = $S3_ENDPOINT
bucket = $S3_BUCKET
prefix = ztier
retries = 1
EOF
    start_master m -config "$T/cfg.ini" || not_ok "master restarts with a tiering bucket"
    H="http://$(sed -n 's/^master http on \([^ ]*\).*/\1/p' "$T/m.out" | head -n 1)"
    wait_for "test ! -e '$DIRK'" 60
    check "the packed run moved to the bucket (its directory is gone)" test ! -e "$DIRK"
    rm -rf "$T/dlt"; cai get "$K" "$T/dlt" >"$T/gett.out" 2>&1
    want_eq "cloudai get of the tiered packed run: f2.txt byte-identical" \
        "$(sha_of "$T/dlt/f2.txt" 2>/dev/null)" "$(awk '$2 == "f2.txt" { print $1 }' "$T/k.log")"
    curl -s -o "$T/t5" "$H/api/files/$K/f5.txt"
    want_eq "GET /api/files of the tiered packed run: the original bytes" \
        "$(sha_of "$T/t5")" "$(awk '$2 == "f5.txt" { print $1 }' "$T/k.log")"
    check "no unpacked copy left in .staging" sh -c "[ -z \"\$(ls -A '$T/m/files/.staging')\" ]"
else
    skip "tiering a packed run: no S3 server (rc $rc)"
fi

finish
