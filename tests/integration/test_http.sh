#!/bin/sh
# test_http.sh — the HTTP API ([http] listen) against a real master with
# a process-runtime worker: auth (401/403/404, isolation between users,
# admin), task and file listings with filters and cursors, one file with
# Range/ETag/If-None-Match/Content-Type/Content-Disposition, path
# traversal and planted symlinks refused, archives (zip and tar.gz, one
# run and all runs of a name) equal to the stored files with modes,
# names/latest, log, workers, metrics, DELETE of a run's files (files and
# records gone together; a removal interrupted after the rename is
# finished at the next start).
. tests/integration/lib.sh
command -v curl >/dev/null 2>&1 || { skip "curl not installed"; exit 0; }

cat >"$T/cfg.ini" <<EOF
[master]
heartbeat_interval_s = 1
[auth]
cluster_token = cluster-secret
user.alice = alice-secret
user.bob = bob-secret
user.root = root-secret
admins = root
[http]
listen = 127.0.0.1:0
EOF
start_master m -config "$T/cfg.ini" || { not_ok "master starts"; exit 1; }
http_addr() { HADDR=$(sed -n 's/^master http on \([^ ]*\).*/\1/p' "$T/m.out" | head -n 1); H="http://$HADDR"; }
http_addr
[ -n "$HADDR" ] && ok "master reports its HTTP address" || { not_ok "master reports its HTTP address"; exit 1; }
export CLOUDAI_USER=alice CLOUDAI_TOKEN=alice-secret
CLOUDAI_CLUSTER_TOKEN=cluster-secret start_worker w1 -runtime process -cpu 2 -mem 1g \
    -config "$T/cfg.ini" 2>/dev/null || true

# hc USER PATH [curl args] — curl as USER (token USER-secret, "-" = none);
# the body goes to $T/body, the status code to stdout.
hc() { _u=$1 _p=$2; shift 2
    if [ "$_u" = - ]; then curl -s -o "$T/body" -w '%{http_code}' "$@" "$H$_p"
    else curl -s -o "$T/body" -w '%{http_code}' -H "Authorization: Bearer $_u-secret" "$@" "$H$_p"; fi; }
count() { grep -o "\"$1\"" "$T/body" | wc -l | tr -d ' '; }

CMD='mkdir -p models sub/deep && echo ok > status.txt && printf "a,b\n1,2\n" > data.csv &&
head -c 300000 /dev/urandom > models/model.pkl && echo "{\"acc\": 0.9}" > result.json &&
echo deep > sub/deep/x.txt && chmod 750 models/model.pkl && echo trained'
A1=$(submit task cloudai-test:latest -name exp -cmd "$CMD")
wait_final "$A1" 60 || not_ok "task $A1 finishes"
A2=$(submit task cloudai-test:latest -name exp -cmd "$CMD")
wait_final "$A2" 60 || not_ok "task $A2 finishes"
B1=$(CLOUDAI_USER=bob CLOUDAI_TOKEN=bob-secret submit task cloudai-test:latest -name exp -cmd "echo bob > b.txt")
CLOUDAI_USER=root CLOUDAI_TOKEN=root-secret wait_final "$B1" 60 || not_ok "task $B1 finishes"
DIR=$(task_dir "$T/m/files/alice/exp" "$A1")

# ---- auth and isolation
want_eq "no token: 401" "$(hc - /api/tasks)" 401
grep -q '"error"' "$T/body" && ok "401 has a JSON error body" || not_ok "401 has a JSON error body"
want_eq "bad token: 401" "$(hc nobody /api/tasks)" 401
want_eq "alice lists her tasks: 200" "$(hc alice /api/tasks)" 200
grep -q "$A1" "$T/body" && ! grep -q "$B1" "$T/body" && ok "alice sees her tasks, not bob's" ||
    not_ok "alice sees her tasks, not bob's"
want_eq "alice asking for bob's tasks: 403" "$(hc alice '/api/tasks?user_id=bob')" 403
want_eq "alice reading bob's task: 404" "$(hc alice /api/tasks/$B1)" 404
hc alice "/api/files?task_id=$B1" >/dev/null
want_eq "alice listing bob's files: none" "$(count file_name)" 0
want_eq "root (admin) reads bob's task" "$(hc root /api/tasks/$B1)" 200
hc root '/api/tasks?task_name=exp' >/dev/null
want_eq "admin sees all three runs" "$(count task_id)" 3
want_eq "workers: 200 for a user too (as cloudai workers)" "$(hc alice /api/workers)" 200
want_eq "workers: 200 for an admin" "$(hc root /api/workers)" 200
grep -q '"w1"' "$T/body" && ok "workers lists w1" || not_ok "workers lists w1"
want_eq "bad status filter: 400" "$(hc alice '/api/tasks?status=bogus')" 400
want_eq "bad limit: 400" "$(hc alice '/api/tasks?limit=0')" 400
want_eq "bad since: 400" "$(hc alice '/api/tasks?since=yesterday-ish')" 400
want_eq "unknown endpoint: 404" "$(hc alice /api/nothing)" 404

# ---- tasks: filters and cursor
hc alice '/api/tasks?limit=1' >/dev/null
C=$(sed -n 's/.*"next_cursor":"\([^"]*\)".*/\1/p' "$T/body")
FIRST=$(jget task_id <"$T/body")
[ -n "$C" ] && ok "limit=1 gives a next_cursor" || not_ok "limit=1 gives a next_cursor"
want_eq "newest first" "$FIRST" "$A2"
hc alice "/api/tasks?limit=1&cursor=$C" >/dev/null
want_eq "cursor gives the next task" "$(jget task_id <"$T/body")" "$A1"
grep -q '"next_cursor":null' "$T/body" && ok "last page has next_cursor null" || not_ok "last page has next_cursor null"
hc alice '/api/tasks?status=completed&task_name=exp&since=1d' >/dev/null
want_eq "status+name+since filters" "$(count task_id)" 2
hc alice '/api/tasks?until=2000-01-01' >/dev/null
want_eq "until filter" "$(count task_id)" 0
want_eq "one task: 200" "$(hc alice /api/tasks/$A1)" 200
grep -q '"status":"completed"' "$T/body" && ok "task JSON has its status" || not_ok "task JSON has its status"

# ---- files
hc alice "/api/files?task_id=$A1" >/dev/null
want_eq "file records of a run" "$(count file_name)" 5
hc alice "/api/files?pattern=ex*" >/dev/null
want_eq "files by name pattern (both of alice's runs)" "$(count file_name)" 10
want_eq "GET one file: 200" "$(hc alice "/api/files/$A1/models/model.pkl" -D "$T/hdr")" 200
check "file bytes equal the stored file" cmp -s "$T/body" "$DIR/models/model.pkl"
SHA=$(sha_of "$DIR/models/model.pkl")
grep -qi "^etag: \"$SHA\"" "$T/hdr" && ok "ETag is the sha256" || not_ok "ETag is the sha256"
grep -qi '^content-length: 300000' "$T/hdr" && ok "Content-Length" || not_ok "Content-Length"
grep -qi '^content-disposition: attachment; filename="model.pkl"' "$T/hdr" && ok "Content-Disposition" ||
    not_ok "Content-Disposition"
grep -qi '^x-content-type-options: nosniff' "$T/hdr" && grep -qi '^content-security-policy: sandbox' "$T/hdr" &&
    ok "nosniff and CSP sandbox on file responses" || not_ok "nosniff and CSP sandbox on file responses"
hc alice "/api/files/$A1/data.csv" -D "$T/hdr" >/dev/null
grep -qi '^content-type: text/csv' "$T/hdr" && ok "Content-Type from the extension" || not_ok "Content-Type from the extension"
want_eq "Range: 206" "$(hc alice "/api/files/$A1/models/model.pkl" -D "$T/hdr" -H 'Range: bytes=100-199')" 206
dd if="$DIR/models/model.pkl" of="$T/want" bs=1 skip=100 count=100 2>/dev/null
check "Range body is those 100 bytes" cmp -s "$T/body" "$T/want"
grep -qi '^content-range: bytes 100-199/300000' "$T/hdr" && ok "Content-Range" || not_ok "Content-Range"
want_eq "suffix Range: 206" "$(hc alice "/api/files/$A1/models/model.pkl" -H 'Range: bytes=-10')" 206
want_eq "suffix Range length" "$(stat -c %s "$T/body")" 10
want_eq "Range past the end: 416" "$(hc alice "/api/files/$A1/models/model.pkl" -H 'Range: bytes=400000-')" 416
want_eq "If-None-Match with the ETag: 304" "$(hc alice "/api/files/$A1/models/model.pkl" -H "If-None-Match: \"$SHA\"")" 304
want_eq "bob cannot read alice's file: 404" "$(hc bob "/api/files/$A1/status.txt")" 404
want_eq "missing file: 404" "$(hc alice "/api/files/$A1/nope.txt")" 404
want_eq "traversal ../: refused" "$(hc alice "/api/files/$A1/../$A2/status.txt" --path-as-is)" 404
want_eq "traversal %2e%2e: refused" "$(hc alice "/api/files/$A1/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd" --path-as-is)" 404
# A symlink planted in the store is never followed, even under a recorded name.
mv "$DIR/status.txt" "$T/status.real" && ln -s /etc/passwd "$DIR/status.txt"
want_eq "symlink in the store: not followed" "$(hc alice "/api/files/$A1/status.txt")" 404
rm -f "$DIR/status.txt" && mv "$T/status.real" "$DIR/status.txt"

# ---- archives
want_eq "run as zip: 200" "$(hc alice "/api/tasks/$A1/archive?format=zip" -D "$T/hdr")" 200
cp "$T/body" "$T/a1.zip"
rm -rf "$T/uz" && mkdir "$T/uz" && (cd "$T/uz" && unzip -q "$T/a1.zip")
check "zip tests clean (unzip -t)" unzip -tq "$T/a1.zip"
check "zip content equals the stored files" diff -r "$T/uz" "$DIR"
want_eq "zip keeps modes" "$(stat -c %a "$T/uz/models/model.pkl")" 750
want_eq "run as tar.gz: 200" "$(hc alice "/api/tasks/$A1/archive?format=tar.gz")" 200
rm -rf "$T/ut" && mkdir "$T/ut" && tar -xzf "$T/body" -C "$T/ut"
check "tar.gz content equals the stored files" diff -r "$T/ut" "$DIR"
want_eq "tar.gz keeps modes" "$(stat -c %a "$T/ut/models/model.pkl")" 750
# Times zip cannot hold (MS-DOS dates: 1980-2107) are clamped to its range, not wrapped.
touch -r "$DIR/status.txt" "$T/status.time"
touch -d '2300-01-01 00:00:00' "$DIR/status.txt"; touch -d '1960-06-01 00:00:00' "$DIR/data.csv"
want_eq "zip with times out of its range: 200" "$(hc alice "/api/tasks/$A1/archive?format=zip")" 200
want_eq "a time after 2107 is zip's last day" "$(unzip -l "$T/body" | awk '$4 == "status.txt" {print $2}')" 2107-12-31
want_eq "a time before 1980 is zip's first day" "$(unzip -l "$T/body" | awk '$4 == "data.csv" {print $2}')" 1980-01-01
touch -r "$T/status.time" "$DIR/status.txt" "$DIR/data.csv"
want_eq "bad format: 400" "$(hc alice "/api/tasks/$A1/archive?format=rar")" 400
want_eq "all runs of a name: 200" "$(hc alice "/api/archive?task_name=exp&format=zip")" 200
unzip -l "$T/body" >"$T/list"
grep -q "$A1/models/model.pkl" "$T/list" && grep -q "$A2/models/model.pkl" "$T/list" &&
    ! grep -q "$B1" "$T/list" && ok "name archive: each of alice's runs under its task id, not bob's" ||
    { not_ok "name archive: each of alice's runs under its task id, not bob's"; sed 's/^/# /' "$T/list"; }
grep -qE '\.(zip|tar|gz)$' "$T/list" && not_ok "no archive inside the archive" || ok "no archive inside the archive"
want_eq "all runs (admin, user_id=bob) tar.gz" "$(hc root "/api/archive?task_name=exp&user_id=bob&format=tar.gz")" 200
tar -tzf "$T/body" | grep -q "$B1/b.txt" && ok "admin archive of bob's runs" || not_ok "admin archive of bob's runs"
want_eq "archive without task_name: 400" "$(hc alice "/api/archive")" 400

# ---- latest, log, metrics
want_eq "names/exp/latest: 200" "$(hc alice /api/names/exp/latest)" 200
want_eq "latest is alice's newest run" "$(jget task_id <"$T/body")" "$A2"
grep -q '"file_name":"models/model.pkl"' "$T/body" && ok "latest lists its files" || not_ok "latest lists its files"
want_eq "log: 200" "$(hc alice /api/tasks/$A1/log)" 200
grep -q trained "$T/body" && ok "log has the task's output" || not_ok "log has the task's output"
want_eq "metrics: 403 for a user" "$(hc alice /metrics)" 403
want_eq "metrics: 200 for an admin" "$(hc root /metrics)" 200
if grep -q '^cloudai_tasks{status="completed"} 3' "$T/body" && grep -q '^cloudai_queue_length 0' "$T/body" &&
    grep -q '^cloudai_task_duration_seconds_bucket{le="+Inf"} 3' "$T/body" &&
    grep -q '^cloudai_upload_duration_seconds_count 3' "$T/body" &&
    ! grep -q '^cloudai_upload_bytes_received_total 0$' "$T/body" &&
    grep -q '^cloudai_upload_bytes_received_total ' "$T/body" &&
    grep -q '^cloudai_uploads_in_flight ' "$T/body"; then ok "metrics in Prometheus text"
else not_ok "metrics in Prometheus text"; sed 's/^/# /' "$T/body" | head -40; fi

# ---- delete
want_eq "bob cannot delete alice's files: 404" "$(hc bob /api/tasks/$A1/files -X DELETE)" 404
want_eq "DELETE a run's files: 200" "$(hc alice /api/tasks/$A1/files -X DELETE)" 200
check "its directory is gone" test ! -e "$DIR"
hc alice "/api/files?task_id=$A1" >/dev/null
want_eq "its records are gone" "$(count file_name)" 0
want_eq "its files answer 404" "$(hc alice "/api/files/$A1/status.txt")" 404
hc alice "/api/tasks/$A1" >/dev/null
want_eq "the task record stays, with 0 files" "$(jget output_files <"$T/body")" 0
want_eq "the other run is untouched" "$(hc alice "/api/files/$A2/status.txt")" 200
check "no trash left" test -z "$(ls -A "$T/m/files/.trash" 2>/dev/null)"

# A crash between the rename and the record deletion leaves the run's
# directory in the trash and its records in the store. The next start
# must finish the removal before it serves anything.
DIR2=$(task_dir "$T/m/files/alice/exp" "$A2")
stop_pid "$MPID"
mkdir -p "$T/m/files/.trash" && mv "$DIR2" "$T/m/files/.trash/$A2"
start_master m -config "$T/cfg.ini" || not_ok "master restarts"
http_addr
hc alice "/api/files?task_id=$A2" >/dev/null
want_eq "interrupted delete: records removed at start" "$(count file_name)" 0
check "interrupted delete: trash removed at start" test ! -e "$T/m/files/.trash/$A2"
hc alice "/api/tasks/$A2" >/dev/null
want_eq "interrupted delete: task shows 0 files" "$(jget output_files <"$T/body")" 0
exit 0
