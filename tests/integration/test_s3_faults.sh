#!/bin/sh
# test_s3_faults.sh — the object store failing under tiering and uploads,
# against SeaweedFS's S3 gateway (a server of this test's own, so it can
# be stopped, killed and filled). The sweep runs through tests/tools/
# tiertool (the master's tier.c on the stopped master's data, the clock
# moved ahead), which prints what the master's sweeper logs.
#  - S3 stopped (SIGSTOP) during a move: the sweep gives up, says why, the
#    run stays whole on the disk and reads as before;
#  - S3 killed (SIGKILL) mid-move: the same; once it is back, the next
#    sweep moves the run, and it reads from the bucket;
#  - the bucket over its quota (SeaweedFS: s3.bucket.quota, enforced by
#    making the bucket read-only; writes get a bare 403 AccessDenied):
#    a move is refused and says the bucket refuses writes; with backend =
#    s3 a task's upload fails cleanly (the task stays uploading and says
#    why, the worker keeps its output) and completes once the quota is
#    raised; the refused move goes through then;
#  - the master's own sweeper (test hook CLOUDAI_TEST_SWEEP_AHEAD_DAYS) with
#    S3 stopped mid-move: the run reads from the disk meanwhile, the log
#    says why, and a later sweep moves it once S3 is back.
. tests/integration/lib.sh
command -v curl >/dev/null 2>&1 || { skip "curl not installed"; exit 0; }
TT=$CLOUDAI_BIN/tests/tools/tiertool
start_s3; rc=$?
[ $rc = 2 ] && { skip "S3 faults: no Go toolchain to build SeaweedFS"; finish; }
[ $rc = 0 ] || { not_ok "SeaweedFS S3 gateway starts"; finish; }
set -- $S3_PORTS
WSH_MASTER=127.0.0.1:$1; WSH_FILER=127.0.0.1:$3
# wsh "COMMAND" — one weed shell command against this test's server.
wsh() { echo "$1" | "$S3_BIN" shell -master="$WSH_MASTER" -filer="$WSH_FILER" 2>&1; }
sput() { # KEY FILE: a signed PUT by curl; prints the HTTP status
    curl -s -o "$T/sput.body" -w '%{http_code}' --max-time 20 --aws-sigv4 "aws:amz:us-east-1:s3" \
        --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" -T "$2" "$S3_ENDPOINT/$S3_BUCKET/$1"
}
sweep() { # OUT DAYS [trace]: one tiering sweep, bounded; "trace" adds
    # curl's trace of each request (CLOUDAI_S3_DEBUG) to OUT
    env ${3:+CLOUDAI_S3_DEBUG=1} timeout 120 "$TT" "$T/cfg.ini" "$T/m/files" "$T/m/meta" "$2" >"$1" 2>&1
}
files_local() { # TASK: every record of the run names a local file
    cai files -task "$1" --json >"$T/fl.json" 2>/dev/null
    grep -q '"file_path"' "$T/fl.json" && ! grep -q '"file_path":"s3://' "$T/fl.json"
}

cat >"$T/cfg.ini" <<EOF
[master]
heartbeat_interval_s = 1
[http]
listen = 127.0.0.1:0
[retention]
archive_after_days = 30
archive.later-* = 60
[store]
endpoint = $S3_ENDPOINT
bucket = $S3_BUCKET
prefix = f
part_size = 5M
retries = 1
stall_timeout_s = 2
EOF
start_master m -config "$T/cfg.ini" || { not_ok "master starts with a tiering bucket"; finish; }
start_worker w1 -runtime process -cpu 2 -mem 1g || true
export CLOUDAI_USER=alice
CMD='head -c 40000000 /dev/urandom > big.bin && echo one > a.txt && sha256sum big.bin a.txt'
A=$(submit task cloudai-test:latest -name old -cmd "$CMD")
wait_final "$A" 90 || not_ok "task $A finishes"
L=$(submit task cloudai-test:latest -name later-1 -cmd 'echo later > l.txt')
wait_final "$L" 60 || not_ok "task $L finishes"
cai logs "$A" >"$T/a.log" 2>&1
WANT=$(awk '$2 == "big.bin" { print $1 }' "$T/a.log" | head -n 1)
DIRA=$(task_dir "$T/m/files/alice/old" "$A"); DIRL=$(task_dir "$T/m/files/alice/later-1" "$L")
check "runs stored on the local disk first" test -f "$DIRA/big.bin" -a -f "$DIRL/l.txt"
stop_pid "$WPID"
stop_pid "$MPID"

reads_local() { # LABEL: with the master up, the run is whole from the disk
    start_master m -config "$T/cfg.ini" || not_ok "$1: master restarts"
    check "$1: its records still name the local files" files_local "$A"
    rm -rf "$T/dl"; cai get "$A" "$T/dl" >/dev/null 2>&1
    want_eq "$1: the run reads as before (the task's own sha256)" \
        "$(sha_of "$T/dl/big.bin" 2>/dev/null)" "$WANT"
    stop_pid "$MPID"
}

# ---- S3 stopped (SIGSTOP) during the move: the sweep gives up and says why
# CLOUDAI_S3_DEBUG: curl's trace shows when the move's first request is out.
sweep "$T/s1.out" 31 trace &
SPID=$!
wait_for "grep -q '^> P[UO][TS]* /$S3_BUCKET/f/alice/old/' '$T/s1.out' || ! kill -0 $SPID" 30
kill -STOP "$S3_PID"
t0=$(date +%s)
if kill -0 "$SPID" 2>/dev/null; then ok "S3 stopped while the sweep moves the run"
else not_ok "S3 stopped while the sweep moves the run (the sweep had ended)"; fi
wait "$SPID"; rc=$?
kill -CONT "$S3_PID"
[ $rc = 1 ] && ok "S3 stopped: the sweep fails (in $(( $(date +%s) - t0 )) s)" ||
    { not_ok "S3 stopped: the sweep fails (exit $rc)"; diag "$(grep tiertool "$T/s1.out")"; }
grep "^tiertool: run $A" "$T/s1.out" | grep -q "big.bin\|a.txt" &&
    grep "^tiertool:" "$T/s1.out" | grep -q "Timeout\|timed out\|too slow\|keeps failing" &&
    ok "...and says which run, which file and why" ||
    { not_ok "...and says which run, which file and why"; diag "$(grep tiertool "$T/s1.out")"; }
diag "$(grep '^tiertool:' "$T/s1.out")"
check "...the local copy is whole" test "$(sha_of "$DIRA/big.bin")" = "$WANT"
reads_local "S3 stopped"

# ---- S3 killed (SIGKILL) mid-move, then back: the next sweep moves it
sweep "$T/s2.out" 31 trace &
SPID=$!
# Killed while a part of big.bin is on the wire: frozen first (the part
# stalls in it), then killed.
wait_for "grep -q '^> PUT /$S3_BUCKET/f/alice/old/.*partNumber=' '$T/s2.out' || ! kill -0 $SPID" 60
kill -STOP "$S3_PID"
if kill -0 "$SPID" 2>/dev/null; then ok "S3 killed while the sweep moves big.bin"
else not_ok "S3 killed while the sweep moves big.bin (the sweep had ended)"; fi
sleep 0.5
kill -KILL "$S3_PID"
wait "$SPID"; rc=$?
[ $rc = 1 ] && ok "S3 killed: the sweep fails" ||
    { not_ok "S3 killed: the sweep fails (exit $rc)"; diag "$(grep tiertool "$T/s2.out")"; }
grep "^tiertool: run $A" "$T/s2.out" | grep -q "big.bin.*\(connect\|reset\|Failure when\|Send failure\|Recv failure\|keeps failing\)" &&
    ok "...and says which file and why" || { not_ok "...and says which file and why"; diag "$(grep tiertool "$T/s2.out")"; }
diag "$(grep '^tiertool:' "$T/s2.out")"
check "...the local copy is whole" test "$(sha_of "$DIRA/big.bin")" = "$WANT"
reads_local "S3 killed"
sh "$ROOT/tests/integration/s3srv.sh" restart "$T/s3" 2>"$T/s3restart.log" ||
    { not_ok "S3 restarts"; sed 's/^/# /' "$T/s3restart.log"; }
S3_PID=$(sed -n 's/^S3_PID=//p' "$T/s3/env")
# The killed move's multipart upload could not be aborted (the server was
# gone): it is still open, its parts stored.
uploads() { # the keys of the bucket's open multipart uploads under f/alice/old/
    curl -s --max-time 20 --aws-sigv4 "aws:amz:us-east-1:s3" \
        --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" "$S3_ENDPOINT/$S3_BUCKET?uploads=" |
        sed 's/<Key>/\n<Key>/g' | sed -n 's|^<Key>\(f/alice/old/[^<]*\)</Key>.*|\1|p'
}
wait_for "uploads | grep -q big.bin" 20 && ok "the killed move left an open multipart upload" ||
    { not_ok "the killed move left an open multipart upload"; diag "$(uploads)"; }
for i in 1 2 3 4 5; do
    sweep "$T/s3.out" 31 && break
    sleep 2
done
want_eq "S3 back: the next sweep moves the run" "$(tail -n 1 "$T/s3.out")" "moved 1"
check "...its directory is gone" test ! -e "$DIRA"
want_eq "...and aborted the open upload the killed one left" "$(uploads | grep -c big.bin)" 0
start_master m -config "$T/cfg.ini" || not_ok "master restarts"
cai files -task "$A" --json >"$T/fa.json" 2>/dev/null
grep -q "\"file_path\":\"s3://$S3_BUCKET/f/alice/old/" "$T/fa.json" &&
    ok "...its records name the objects" || { not_ok "...its records name the objects"; diag "$(head -c 400 "$T/fa.json")"; }
rm -rf "$T/dl"; cai get "$A" "$T/dl" >/dev/null 2>&1
want_eq "...and it reads from the bucket (the task's own sha256)" \
    "$(sha_of "$T/dl/big.bin" 2>/dev/null)" "$WANT"
stop_pid "$MPID"

# ---- the bucket over its quota: SeaweedFS makes it read-only
wsh "s3.bucket.quota -name=$S3_BUCKET -op=set -sizeMB=1" >"$T/q1.out"
head -c 100000 /dev/urandom >"$T/probe"
n=0
while [ $n -lt 60 ]; do
    wsh "s3.bucket.quota.enforce -apply" >"$T/q2.out"
    [ "$(sput probe/x "$T/probe")" = 403 ] && break
    n=$((n + 1)); sleep 1
done
if [ $n -lt 60 ]; then ok "SeaweedFS: a bucket over its quota refuses writes (HTTP 403)"
else
    not_ok "SeaweedFS: a bucket over its quota refuses writes"
    diag "$(cat "$T/q1.out" "$T/q2.out" "$T/sput.body")"
fi
diag "the server's answer: $(tr -d '\n' <"$T/sput.body" | head -c 300)"

sweep "$T/s4.out" 61; rc=$?
[ $rc = 1 ] && ok "over quota: the sweep fails" || { not_ok "over quota: the sweep fails (exit $rc)"; diag "$(cat "$T/s4.out")"; }
grep "run $L" "$T/s4.out" | grep -q "refuses writes.*over its quota or read-only" &&
    ok "...and says the bucket refuses writes (quota), not 'wrong credentials'" ||
    { not_ok "...and says the bucket refuses writes (quota)"; diag "$(cat "$T/s4.out")"; }
check "...the run stays on the disk" test -f "$DIRL/l.txt"

# backend = s3: a task's upload into the full bucket
sed 's/^\[store\]$/[store]\nbackend = s3/' "$T/cfg.ini" >"$T/cfg-s3.ini"
start_master m -config "$T/cfg-s3.ini" || not_ok "master starts with backend = s3"
start_worker w2 -runtime process -cpu 2 -mem 1g || true
U=$(submit task cloudai-test:latest -name up -cmd 'head -c 3000000 /dev/urandom > u.bin && sha256sum u.bin')
if wait_for "tfield $U error | grep -q 'refuses writes'" 60; then
    ok "backend = s3, bucket full: the task says why"
else
    not_ok "backend = s3, bucket full: the task says why"; diag "$(task_json "$U")"
fi
diag "task error: $(tfield "$U" error | head -c 300)"
want_eq "...it is not failed: the upload is retried" "$(tfield "$U" status)" uploading
check "...the worker keeps its output" sh -c "ls '$T/w2.outputs'/$U*/u.bin"
grep -q "upload attempt .* failed" "$T/w2.log" && ok "...the worker's log says it retries" ||
    not_ok "...the worker's log says it retries"
# The quota raised: the bucket is writable again, the upload completes.
wsh "s3.bucket.quota -name=$S3_BUCKET -op=set -sizeMB=100000" >"$T/q3.out"
wsh "s3.bucket.quota.enforce -apply" >"$T/q4.out"
wait_final "$U" 90 || not_ok "task $U finishes once the quota is raised"
want_eq "quota raised: the task completes" "$(tfield "$U" status)" completed
want_eq "...with no error left" "$(tfield "$U" error)" ""
cai logs "$U" >"$T/u.log" 2>&1
rm -rf "$T/du"; cai get "$U" "$T/du" >/dev/null 2>&1
want_eq "...and its output is whole (the task's own sha256)" "$(sha_of "$T/du/u.bin" 2>/dev/null)" \
    "$(awk '$2 == "u.bin" { print $1 }' "$T/u.log" | head -n 1)"
stop_pid "$WPID"
stop_pid "$MPID"
sweep "$T/s5.out" 61
want_eq "quota raised: the refused move goes through" "$(tail -n 1 "$T/s5.out")" "moved 1"
check "...the run's directory is gone" test ! -e "$DIRL"

# ---- the master's own sweeper (every second, its clock 31 days ahead:
# test hook CLOUDAI_TEST_SWEEP_AHEAD_DAYS), S3 stopped mid-move: the run
# reads from the disk meanwhile, the log says why, the next sweeps retry
# and finish once S3 is back. CLOUDAI_S3_DEBUG: curl's trace in m.log
# shows when the move's parts are on the wire.
sed 's/^\[retention\]$/[retention]\nsweep_interval_s = 1/' "$T/cfg.ini" >"$T/cfg-live.ini"
export CLOUDAI_TEST_SWEEP_AHEAD_DAYS=31 CLOUDAI_S3_DEBUG=1
start_master m -config "$T/cfg-live.ini" || not_ok "master starts with its sweeper ahead"
unset CLOUDAI_TEST_SWEEP_AHEAD_DAYS CLOUDAI_S3_DEBUG
start_worker w3 -runtime process -cpu 2 -mem 1g || true
R=$(submit task cloudai-test:latest -name live -cmd 'head -c 120000000 /dev/urandom > big.bin && sha256sum big.bin')
wait_for "grep -q '^> PUT /$S3_BUCKET/f/alice/live/.*partNumber=' '$T/m.log'" 120
kill -STOP "$S3_PID"
wait_final "$R" 60 || not_ok "task $R finishes"
DIRR=$(task_dir "$T/m/files/alice/live" "$R")
check "S3 stopped while the master's sweeper moves a run" test -f "$DIRR/big.bin"
cai logs "$R" >"$T/r.log" 2>&1
WANTR=$(awk '$2 == "big.bin" { print $1 }' "$T/r.log" | head -n 1)
rm -rf "$T/dr"; timeout 60 "$CLOUDAI_BIN/cloudai" -master "$MADDR" get "$R" "$T/dr" >/dev/null 2>&1
want_eq "...meanwhile the run reads from the disk (the task's own sha256)" \
    "$(sha_of "$T/dr/big.bin" 2>/dev/null)" "$WANTR"
if wait_for "grep -q 'tiering: run $R: big.bin: .*retried at the next sweep' '$T/m.log'" 60; then
    ok "...the master's log says which run, which file, why, and that it is retried"
else not_ok "...the master's log says which run, which file, why, and that it is retried"; fi
diag "$(grep -m1 "tiering: run $R" "$T/m.log")"
check "...the local copy is whole" test "$(sha_of "$DIRR/big.bin")" = "$WANTR"
kill -CONT "$S3_PID"
# (the log line comes after the directory is removed)
wait_for "grep -q 'tiering: run $R (live of alice) moved to the object store' '$T/m.log'" 120 &&
    ok "S3 back: a later sweep moves the run, and says so" ||
    not_ok "S3 back: a later sweep moves the run, and says so"
check "...its directory is gone" test ! -e "$DIRR"
cai files -task "$R" --json >"$T/fr.json" 2>/dev/null
grep -q "\"file_path\":\"s3://$S3_BUCKET/f/alice/live/" "$T/fr.json" &&
    ok "...its records name the objects" || not_ok "...its records name the objects"
rm -rf "$T/dr"; cai get "$R" "$T/dr" >/dev/null 2>&1
want_eq "...and it reads from the bucket (the task's own sha256)" \
    "$(sha_of "$T/dr/big.bin" 2>/dev/null)" "$WANTR"
finish
