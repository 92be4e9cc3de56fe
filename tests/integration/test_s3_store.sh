#!/bin/sh
# test_s3_store.sh — [store] backend = s3 end to end, against SeaweedFS's
# S3 gateway: a task's output goes to the bucket under
# <prefix>/<user>/<task_name>/<submitted_at>/<task_id>/<path> (nothing left
# in the local tree), the file records say so (s3://bucket/key), and every
# reader works as on the local store: `cloudai get` (whole and one path,
# the task's own sha256s), GET /api/files with Range, ETag and
# If-None-Match, tar.gz and zip archives, DELETE of a run (records and
# objects). Faults: the S3 server stopped during an upload (the task says
# why, the worker keeps the output, the upload completes once it is back,
# nothing lost); a master given a wrong secret or a missing bucket
# refuses to start and says which.
. tests/integration/lib.sh
command -v curl >/dev/null 2>&1 || { skip "curl not installed"; exit 0; }
S3T=$CLOUDAI_BIN/tests/tools/s3tool
start_s3; rc=$?
[ $rc = 2 ] && { skip "S3 store: no Go toolchain to build SeaweedFS"; finish; }
[ $rc = 0 ] || { not_ok "SeaweedFS S3 gateway starts"; finish; }

cat >"$T/cfg.ini" <<EOF
[master]
heartbeat_interval_s = 1
[auth]
cluster_token = cluster-secret
user.alice = alice-secret
user.root = root-secret
admins = root
[http]
listen = 127.0.0.1:0
[store]
backend = s3
endpoint = $S3_ENDPOINT
bucket = $S3_BUCKET
prefix = runs/
part_size = 5M
retries = 2
stall_timeout_s = 2
EOF
# Credentials from the environment (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY).
start_master m -config "$T/cfg.ini" || { not_ok "master starts with backend = s3"; finish; }
ok "master starts with backend = s3"
grep -q "outputs go to the object store $S3_ENDPOINT, bucket $S3_BUCKET" "$T/m.log" &&
    ok "its log names the object store" || not_ok "its log names the object store"
HADDR=$(sed -n 's/^master http on \([^ ]*\).*/\1/p' "$T/m.out" | head -n 1); H="http://$HADDR"
export CLOUDAI_USER=alice CLOUDAI_TOKEN=alice-secret
CLOUDAI_CLUSTER_TOKEN=cluster-secret start_worker w1 -runtime process -cpu 2 -mem 1g \
    -config "$T/cfg.ini" 2>/dev/null || true
hc() { _p=$1; shift; curl -s -o "$T/body" -w '%{http_code}' -H "Authorization: Bearer alice-secret" "$@" "$H$_p"; }

CMD='mkdir -p models sub/deep && echo ok > status.txt &&
head -c 12582912 /dev/urandom > models/model.pkl && echo "x y" > "sp ace+1.txt" &&
echo deep > sub/deep/x.txt && chmod 750 models/model.pkl &&
sha256sum status.txt models/model.pkl "sp ace+1.txt" sub/deep/x.txt'
A=$(submit task cloudai-test:latest -name exp -cmd "$CMD")
wait_final "$A" 90 || not_ok "task $A finishes"
J=$(task_json "$A")
want_eq "task completed" "$(echo "$J" | jget status)" completed
want_eq "4 output files" "$(echo "$J" | jget output_files)" 4
cai logs "$A" >"$T/a.log" 2>&1
STAMP=$(date -u -d "@$(( $(echo "$J" | jget submitted_at) / 1000 ))" +%Y%m%dT%H%M%SZ)
PFX=runs/alice/exp/$STAMP/$A
check "no run directory in the local tree" test -z "$(find "$T/m/files" -name "$A" 2>/dev/null)"
check "no staging left" test -z "$(ls -A "$T/m/files/.staging" 2>/dev/null)"
"$S3T" list "$PFX/" >"$T/list" 2>"$T/err"
want_eq "the bucket holds the run under <prefix>/<user>/<name>/<stamp>/<id>/" \
    "$(sed 's/ [0-9]*$//' "$T/list" | tr '\n' ' ')" \
    "$PFX/models/model.pkl $PFX/sp ace+1.txt $PFX/status.txt $PFX/sub/deep/x.txt "
cai files -task "$A" --json >"$T/files"
want_eq "records say where each file lives (s3://bucket/key)" \
    "$(grep '"file_name":"models/model.pkl"' "$T/files" | jget file_path)" "s3://$S3_BUCKET/$PFX/models/model.pkl"

# ---- cloudai get
cai get "$A" "$T/dl" >"$T/get.out" 2>&1 || diag "get: $(cat "$T/get.out")"
good=0
for f in status.txt models/model.pkl "sp ace+1.txt" sub/deep/x.txt; do
    want=$(awk -v f="$f" '{ n = $0; sub(/^[0-9a-f]+  /, "", n) } n == f { print $1 }' "$T/a.log" | head -n 1)
    got=$(sha_of "$T/dl/$f" 2>/dev/null)
    [ -n "$want" ] && [ "$want" = "$got" ] && good=$((good + 1)) || diag "$f: task $want, get $got"
done
want_eq "cloudai get: every file with the task's own sha256" "$good" 4
want_eq "cloudai get: modes kept" "$(stat -c %a "$T/dl/models/model.pkl")" 750
cai get "$A" "$T/dl2" -path models/model.pkl >"$T/get2.out" 2>&1
check "cloudai get of one path" cmp -s "$T/dl/models/model.pkl" "$T/dl2/models/model.pkl"
cai get "$A" "$T/dl3" -path nope >"$T/get3.out" 2>&1
grep -q "no file or directory 'nope'" "$T/get3.out" && ok "cloudai get of a missing path: said so" ||
    { not_ok "cloudai get of a missing path: said so"; diag "$(cat "$T/get3.out")"; }

# ---- HTTP: one file, Range, ETag
SHA=$(sha_of "$T/dl/models/model.pkl")
want_eq "GET /api/files: 200" "$(hc "/api/files/$A/models/model.pkl" -D "$T/hdr")" 200
want_eq "...the whole file" "$(sha_of "$T/body")" "$SHA"
grep -qi "^etag: \"$SHA\"" "$T/hdr" && ok "...ETag is its sha256" || { not_ok "...ETag is its sha256"; diag "$(cat "$T/hdr")"; }
want_eq "Range across a part boundary: 206" \
    "$(hc "/api/files/$A/models/model.pkl" -D "$T/hdr" -H 'Range: bytes=5242000-5243999')" 206
dd if="$T/dl/models/model.pkl" bs=1000 skip=5242 count=2 2>/dev/null >"$T/want"
check "...the bytes of that range" cmp -s "$T/want" "$T/body"
grep -qi "^content-range: bytes 5242000-5243999/12582912" "$T/hdr" && ok "...with its Content-Range" ||
    not_ok "...with its Content-Range"
want_eq "suffix Range: 206" "$(hc "/api/files/$A/models/model.pkl" -H 'Range: bytes=-10')" 206
want_eq "...10 bytes" "$(wc -c <"$T/body" | tr -d ' ')" 10
want_eq "Range past the end: 416" "$(hc "/api/files/$A/models/model.pkl" -H 'Range: bytes=99999999-')" 416
want_eq "If-None-Match: 304" "$(hc "/api/files/$A/models/model.pkl" -H "If-None-Match: \"$SHA\"")" 304
want_eq "a name that needs encoding: 200" "$(hc "/api/files/$A/sp%20ace%2B1.txt")" 200
want_eq "...its bytes" "$(cat "$T/body")" "x y"

# ---- archives
want_eq "tar.gz archive: 200" "$(hc "/api/tasks/$A/archive?format=tar.gz")" 200
mkdir -p "$T/tgz" && tar -xzf "$T/body" -C "$T/tgz" 2>"$T/err"
check "tar.gz archive: the same files" diff -r "$T/dl" "$T/tgz"
if command -v unzip >/dev/null 2>&1; then
    want_eq "zip archive: 200" "$(hc "/api/tasks/$A/archive?format=zip")" 200
    mkdir -p "$T/zip" && unzip -q "$T/body" -d "$T/zip" 2>"$T/err"
    check "zip archive: the same files" diff -r "$T/dl" "$T/zip"
else
    skip "zip archive: unzip not installed"
fi
want_eq "archive of all runs of the name: 200" "$(hc "/api/archive?task_name=exp&format=tar.gz")" 200
tar -tzf "$T/body" >"$T/names" 2>/dev/null
grep -qx "$A/models/model.pkl" "$T/names" && ok "...holds the run under its task id" ||
    { not_ok "...holds the run under its task id"; diag "$(head -5 "$T/names")"; }

# ---- the server stopped during an upload
kill -STOP "$S3_PID"
B=$(submit task cloudai-test:latest -name exp -cmd 'head -c 7000000 /dev/urandom > b.bin && sha256sum b.bin')
wait_for "tfield $B error | grep -q 'object store'" 60 &&
    ok "S3 stopped: the task says the object store failed" ||
    { not_ok "S3 stopped: the task says the object store failed"; diag "$(task_json "$B")"; }
diag "while stopped: $(tfield "$B" error)"
st=$(tfield "$B" status)
[ "$st" != completed ] && ok "...and is not completed yet ($st)" || not_ok "...and is not completed yet"
kill -CONT "$S3_PID"
wait_final "$B" 120
want_eq "S3 back: the upload completes" "$(tfield "$B" status)" completed
cai logs "$B" >"$T/b.log" 2>&1
cai get "$B" "$T/dlb" >/dev/null 2>&1
want_eq "...nothing lost (the task's own sha256)" "$(sha_of "$T/dlb/b.bin" 2>/dev/null)" \
    "$(awk '$2 == "b.bin" { print $1 }' "$T/b.log" | head -n 1)"

# ---- delete: records and objects
want_eq "DELETE a run's files: 200" "$(hc "/api/tasks/$A/files" -X DELETE)" 200
"$S3T" list "$PFX/" >"$T/list" 2>"$T/err"
want_eq "its objects are gone" "$(wc -c <"$T/list" | tr -d ' ')" 0
want_eq "its files answer 404" "$(hc "/api/files/$A/status.txt")" 404
hc "/api/files?task_id=$A" >/dev/null
want_eq "its records are gone" "$(grep -o '"file_name"' "$T/body" | wc -l | tr -d ' ')" 0
want_eq "the other run is untouched" "$(hc "/api/files/$B/b.bin")" 200

# ---- a removal cut short by the object store: finished at the next start
C=$(submit task cloudai-test:latest -name exp -cmd 'echo c > c.txt && echo d > d.txt')
wait_final "$C" 60 || not_ok "task $C finishes"
"$S3T" list "runs/alice/exp/" 2>/dev/null | grep -c "/$C/" >"$T/nc"
want_eq "a third run: 2 objects" "$(cat "$T/nc")" 2
kill -STOP "$S3_PID"
c=$(hc "/api/tasks/$C/files" -X DELETE)
kill -CONT "$S3_PID"
[ "$c" != 200 ] && ok "DELETE while S3 is stopped: an error ($c)" || not_ok "DELETE while S3 is stopped: an error"
diag "$(head -c 300 "$T/body")"
want_eq "...its records are gone at once" "$(hc "/api/files/$C/c.txt")" 404
check "...the objects to delete are written down" test -f "$T/m/files/.trash/.s3-$C"
curl -s -H "Authorization: Bearer root-secret" "$H/metrics" >"$T/metrics"
if awk '/^cloudai_s3_requests_total / { r = $2 } /^cloudai_s3_retries_total / { t = $2 }
        /^cloudai_s3_failures_total / { f = $2 } /^cloudai_s3_bytes_sent_total / { b = $2 }
        END { exit !(r > 20 && t > 0 && f > 0 && b > 12582912) }' "$T/metrics"; then
    ok "/metrics: object store requests, retries, failures and bytes"
else not_ok "/metrics: object store requests, retries, failures and bytes"; grep cloudai_s3 "$T/metrics" | sed 's/^/# /'; fi
stop_pid "$MPID"
start_master m -config "$T/cfg.ini" || not_ok "master restarts"
"$S3T" list "runs/alice/exp/" 2>/dev/null | grep -c "/$C/" >"$T/nc"
want_eq "the next start deleted its objects" "$(cat "$T/nc")" 0
check "...and the list" test ! -e "$T/m/files/.trash/.s3-$C"
grep -q "finished removing run $C: 2 objects deleted" "$T/m.log" && ok "...and said so" || not_ok "...and said so"

# ---- configuration errors a master must not start with
stop_pid "$MPID"
for c in "wrong-secret:credentials" "missing-bucket:does not exist"; do
    what=${c%%:*}; say=${c#*:}
    sed "s/^bucket = .*/bucket = $([ "$what" = missing-bucket ] && echo no-such-bucket || echo "$S3_BUCKET")/" \
        "$T/cfg.ini" >"$T/bad.ini"
    sec=$AWS_SECRET_ACCESS_KEY
    [ "$what" = wrong-secret ] && sec=not-the-secret
    AWS_SECRET_ACCESS_KEY=$sec "$CLOUDAI_BIN/master" -listen 127.0.0.1:0 -files "$T/m2/files" \
        -meta "$T/m2/meta" --no-console -config "$T/bad.ini" >"$T/m2.out" 2>"$T/m2.log" </dev/null
    rc=$?
    if [ $rc -ne 0 ] && grep -q "$say" "$T/m2.log"; then ok "$what: the master refuses to start and says so"
    else not_ok "$what: the master refuses to start and says so (exit $rc)"; tail -5 "$T/m2.log" | sed 's/^/# /'; fi
done
finish
