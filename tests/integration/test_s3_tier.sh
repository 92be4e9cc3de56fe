#!/bin/sh
# test_s3_tier.sh — tiering ([retention] archive_after_days with a bucket,
# backend = local) against SeaweedFS's S3 gateway. The sweep runs through
# tests/tools/tiertool (the master's tier.c on the stopped master's data,
# with the clock moved 31 days ahead). A run stored on the disk moves to
# the bucket: objects under the run layout, records rewritten to s3://,
# the local directory gone, and `cloudai get` / GET /api/files (Range)
# read it as before. A move killed half-way (S3 stopped, the sweeper
# SIGKILLed) leaves the run whole and readable from the disk; the next
# sweep finishes it. A local copy that no longer matches its record is
# not moved (and stays). Per-name rules (archive.GLOB = days): a shorter
# one moves its runs before the global age, 0 keeps a name on the disk.
. tests/integration/lib.sh
command -v curl >/dev/null 2>&1 || { skip "curl not installed"; exit 0; }
S3T=$CLOUDAI_BIN/tests/tools/s3tool
TT=$CLOUDAI_BIN/tests/tools/tiertool
start_s3; rc=$?
[ $rc = 2 ] && { skip "tiering: no Go toolchain to build SeaweedFS"; finish; }
[ $rc = 0 ] || { not_ok "SeaweedFS S3 gateway starts"; finish; }

cat >"$T/cfg.ini" <<EOF
[master]
heartbeat_interval_s = 1
[http]
listen = 127.0.0.1:0
[retention]
archive_after_days = 30
archive.quick = 2
archive.keep-* = 0
[store]
endpoint = $S3_ENDPOINT
bucket = $S3_BUCKET
prefix = tier
retries = 1
stall_timeout_s = 2
EOF
LISTEN=127.0.0.1:0
start_master m -config "$T/cfg.ini" || { not_ok "master starts with a tiering bucket"; finish; }
grep -q "runs older than 30 days move to the object store" "$T/m.log" &&
    ok "master starts with a tiering bucket, and says so" || not_ok "master starts with a tiering bucket, and says so"
start_worker w1 -runtime process -cpu 2 -mem 1g || true
export CLOUDAI_USER=alice
CMD='mkdir -p d && head -c 9000000 /dev/urandom > d/big.bin && echo hi > a.txt && sha256sum d/big.bin a.txt'
A=$(submit task cloudai-test:latest -name old -cmd "$CMD")
wait_final "$A" 60 || not_ok "task $A finishes"
B=$(submit task cloudai-test:latest -name old -cmd "$CMD")
wait_final "$B" 60 || not_ok "task $B finishes"
Q=$(submit task cloudai-test:latest -name quick -cmd 'echo q > q.txt')
wait_final "$Q" 60 || not_ok "task $Q finishes"
K=$(submit task cloudai-test:latest -name keep-me -cmd 'echo k > k.txt')
wait_final "$K" 60 || not_ok "task $K finishes"
cai logs "$A" >"$T/a.log" 2>&1
DIRA=$(task_dir "$T/m/files/alice/old" "$A"); DIRB=$(task_dir "$T/m/files/alice/old" "$B")
DIRQ=$(task_dir "$T/m/files/alice/quick" "$Q"); DIRK=$(task_dir "$T/m/files/alice/keep-me" "$K")
check "runs stored on the local disk first" test -f "$DIRA/d/big.bin"
stop_pid "$MPID"

# ---- per-name rules: 3 days on, only the name with archive.quick = 2 moves
"$TT" "$T/cfg.ini" "$T/m/files" "$T/m/meta" 3 >"$T/tt0.out" 2>"$T/tt0.err"
want_eq "archive.quick = 2: a sweep 3 days on moves that run only" "$(cat "$T/tt0.out")" "moved 1"
check "...its directory is gone" test ! -e "$DIRQ"
check "...the others (global 30 days, keep-* = 0) stay" test -f "$DIRA/d/big.bin" -a -f "$DIRK/k.txt"

# ---- a move killed half-way: S3 stopped, the sweeper killed
kill -STOP "$S3_PID"
"$TT" "$T/cfg.ini" "$T/m/files" "$T/m/meta" 31 >"$T/tt1.out" 2>&1 &
TPID=$!
sleep 2
kill -KILL $TPID; wait $TPID 2>/dev/null
kill -CONT "$S3_PID"
check "killed mid-move: the local copy is whole" test -f "$DIRA/d/big.bin"
start_master m -config "$T/cfg.ini" || not_ok "master restarts"
rm -rf "$T/dl0"; cai get "$A" "$T/dl0" >/dev/null 2>&1
want_eq "killed mid-move: the run reads as before" "$(sha_of "$T/dl0/d/big.bin" 2>/dev/null)" \
    "$(awk '$2 == "d/big.bin" { print $1 }' "$T/a.log" | head -n 1)"
stop_pid "$MPID"

# ---- a local copy that changed is not moved
# (d/big.bin, after a.txt: a.txt goes into the bucket first, and out again)
printf X | dd of="$DIRB/d/big.bin" bs=1 seek=0 conv=notrunc 2>/dev/null

# ---- the sweep, again: A moves; B is refused and stays
"$TT" "$T/cfg.ini" "$T/m/files" "$T/m/meta" 31 >"$T/tt2.out" 2>&1
grep -q "does not match its record" "$T/tt2.out" && ok "a changed local copy: not moved, said why" ||
    { not_ok "a changed local copy: not moved, said why"; diag "$(cat "$T/tt2.out")"; }
check "...and it stays on the disk" test -f "$DIRB/a.txt"
STAMPB=$(basename "$(dirname "$DIRB")")
"$S3T" list "tier/alice/old/$STAMPB/$B/" >"$T/listb" 2>"$T/listb.err"
want_eq "...and the files of it put before are not left in the bucket" "$(cat "$T/listb")" ""
# B sorts after A or before it: sweep until A is done (B fails each time).
"$TT" "$T/cfg.ini" "$T/m/files" "$T/m/meta" 31 >"$T/tt3.out" 2>&1
check "the moved run's directory is gone" test ! -e "$DIRA"
STAMP=$(basename "$(dirname "$DIRA")")
"$S3T" list "tier/alice/old/$STAMP/$A/" >"$T/list" 2>"$T/list.err"
want_eq "its objects are in the bucket under the run layout" "$(sed 's/ [0-9]*$//' "$T/list" | tr '\n' ' ')" \
    "tier/alice/old/$STAMP/$A/a.txt tier/alice/old/$STAMP/$A/d/big.bin "
"$TT" "$T/cfg.ini" "$T/m/files" "$T/m/meta" 0 >"$T/tt4.out" 2>"$T/tt4.err"
want_eq "a sweep with nothing due moves nothing" "$(cat "$T/tt4.out")" "moved 0"
check "archive.keep-* = 0: that run stays on the disk after 31 days" test -f "$DIRK/k.txt"

start_master m -config "$T/cfg.ini" || not_ok "master restarts"
H="http://$(sed -n 's/^master http on \([^ ]*\).*/\1/p' "$T/m.out" | head -n 1)"
cai files -task "$A" --json >"$T/files"
grep -q "\"file_path\":\"s3://$S3_BUCKET/tier/alice/old/$STAMP/$A/d/big.bin\"" "$T/files" &&
    ok "its records name the objects" || { not_ok "its records name the objects"; diag "$(head -2 "$T/files")"; }
rm -rf "$T/dl"; cai get "$A" "$T/dl" >"$T/get.out" 2>&1
want_eq "cloudai get of the moved run: the task's own sha256" "$(sha_of "$T/dl/d/big.bin" 2>/dev/null)" \
    "$(awk '$2 == "d/big.bin" { print $1 }' "$T/a.log" | head -n 1)"
want_eq "GET /api/files with a Range from the moved run: 206" \
    "$(curl -s -o "$T/body" -w '%{http_code}' -H 'Range: bytes=100-199' "$H/api/files/$A/d/big.bin")" 206
dd if="$T/dl/d/big.bin" bs=100 skip=1 count=1 2>/dev/null >"$T/want"
check "...the bytes of that range" cmp -s "$T/want" "$T/body"
want_eq "the unmoved run still reads: 200" \
    "$(curl -s -o /dev/null -w '%{http_code}' "$H/api/files/$B/a.txt")" 200
want_eq "the run moved by its name's rule reads from the bucket" \
    "$(curl -s "$H/api/files/$Q/q.txt")" q
finish
