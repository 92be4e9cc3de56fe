#!/bin/sh
# test_mongo.sh — the master on the MongoDB backend, end to end: a master
# whose [mongodb] uri is $CLOUDAI_TEST_MONGO_URI (a fresh database per run,
# left behind for inspection), a worker (Docker when an engine answers, else
# the process runtime), the seed's Example 3 (status.txt, a 50 MiB random
# models/model.pkl, result.txt); then the database is checked from outside
# with mongo_query:
# FILE_METADATA holds exactly those 3 records with the stored files' sha256,
# and TASKS has the task completed with output_files 3.
if [ -z "$CLOUDAI_TEST_MONGO_URI" ]; then
    echo "skip - mongo: no server"
    exit 0
fi
cd "$(dirname "$0")/../.." || exit 2
B=${CLOUDAI_BIN:-$PWD/build/asan}
MQ=$B/tests/tools/mongo_query
for p in master worker cloudai; do
    [ -x "$B/$p" ] || { echo "not ok - mongo: $B/$p not built"; exit 1; }
done
[ -x "$MQ" ] || { echo "not ok - mongo: $MQ not built"; exit 1; }

T=$(mktemp -d /tmp/test_mongo.XXXXXX) || exit 2
DB="cloudai_it_$$_$(date +%s)"
MPID=""; WPID=""
cleanup() {
    [ -n "$WPID" ] && kill "$WPID" 2>/dev/null && wait "$WPID" 2>/dev/null
    [ -n "$MPID" ] && kill "$MPID" 2>/dev/null && wait "$MPID" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT INT TERM
fails=0
ok() { echo "ok - mongo: $1"; }
notok() { echo "not ok - mongo: $1"; fails=$((fails + 1)); }
show() { for f in "$T"/*.log "$T"/master.out; do [ -f "$f" ] && sed "s|^|# ${f##*/}: |" "$f" | tail -n 20; done; }

cat >"$T/cloudai.ini" <<EOF
[mongodb]
uri = "$CLOUDAI_TEST_MONGO_URI"
database = $DB
server_selection_timeout_ms = 5000
EOF

"$B/master" -config "$T/cloudai.ini" -listen 127.0.0.1:0 -files "$T/files" -meta "$T/meta" \
    --no-console >"$T/master.out" 2>"$T/master.log" </dev/null &
MPID=$!
ADDR=""
i=0
while [ $i -lt 100 ] && [ -z "$ADDR" ]; do
    ADDR=$(sed -n 's/^master listening on //p' "$T/master.out" 2>/dev/null)
    [ -z "$ADDR" ] && { kill -0 "$MPID" 2>/dev/null || break; sleep 0.1; }
    i=$((i + 1))
done
if [ -z "$ADDR" ]; then
    notok "master did not start on the MongoDB backend"; show; exit 1
fi
if grep -q "metadata store: mongodb" "$T/master.log"; then ok "master uses the mongodb store"
else notok "master does not report the mongodb store"; fi

# The seed's Example 3 runs in Docker when an engine answers (CI starts one),
# else in the process runtime; the command is the same in both.
RT=process
if docker info >/dev/null 2>&1 && tests/integration/mkimage.sh >/dev/null 2>&1; then RT=docker; fi
echo "# runtime: $RT"
"$B/worker" -master "$ADDR" -id w1 -runtime $RT -outputs "$T/out" >"$T/worker.log" 2>&1 </dev/null &
WPID=$!

# Wait for the worker to register (bounded), then submit.
i=0
while [ $i -lt 100 ]; do
    "$B/cloudai" -master "$ADDR" workers 2>/dev/null | grep -q w1 && break
    sleep 0.1; i=$((i + 1))
done
"$B/cloudai" -master "$ADDR" task cloudai-test:latest -name ex3 \
    -cmd 'cd "$OUTPUT_DIR" && echo starting > status.txt && mkdir -p models && head -c 52428800 /dev/urandom > models/model.pkl && echo 0.97 > result.txt' \
    >"$T/submit.out" 2>&1
TID=$(sed -n 's/^ *Task ID: *//p' "$T/submit.out")
if [ -n "$TID" ]; then ok "task submitted ($TID)"; else notok "submit failed"; cat "$T/submit.out"; show; exit 1; fi

status=""
i=0
while [ $i -lt 300 ]; do
    "$B/cloudai" -master "$ADDR" tasks --json >"$T/tasks.json" 2>/dev/null
    status=$(tr ',' '\n' <"$T/tasks.json" | sed -n 's/^"status":"\([a-z]*\)"$/\1/p' | head -n 1)
    case "$status" in completed|failed|cancelled) break;; esac
    sleep 0.2; i=$((i + 1))
done
if [ "$status" = completed ]; then ok "task completed"; else notok "task ended as '$status'"; show; exit 1; fi

# FILE_METADATA: exactly 3 records for the task, with the stored files' sha256.
"$MQ" "$CLOUDAI_TEST_MONGO_URI" "$DB" FILE_METADATA "{\"task_id\":\"$TID\"}" >"$T/files.out" 2>"$T/mq.err"
if [ "$(tail -n 1 "$T/files.out")" = "count 3" ]; then ok "FILE_METADATA has 3 records for the task"
else notok "FILE_METADATA for the task: $(tail -n 1 "$T/files.out") $(cat "$T/mq.err")"; fi
good=0
for name in status.txt models/model.pkl result.txt; do
    path=$(find "$T/files" -type f -path "*/$TID/$name" | head -n 1)
    [ -n "$path" ] || continue
    sum=$(sha256sum "$path" | cut -d' ' -f1)
    line=$(grep "\"file_name\" : \"$name\"" "$T/files.out")
    case "$line" in *"\"sha256\" : \"$sum\""*) good=$((good + 1));; esac
done
if [ "$good" -eq 3 ]; then ok "FILE_METADATA sha256 match the stored files"
else notok "only $good of 3 FILE_METADATA records match their stored file's sha256"; fi

# TASKS: the task, completed, with output_files 3.
"$MQ" "$CLOUDAI_TEST_MONGO_URI" "$DB" TASKS "{\"task_id\":\"$TID\"}" >"$T/task.out" 2>>"$T/mq.err"
if [ "$(tail -n 1 "$T/task.out")" = "count 1" ] && grep -q '"status" : "completed"' "$T/task.out" &&
   grep -q '"output_files" : 3[ ,]' "$T/task.out"; then
    ok "TASKS has the task completed with output_files 3"
else
    notok "TASKS record: $(head -c 600 "$T/task.out")"
fi

# A worker record went through too.
"$MQ" "$CLOUDAI_TEST_MONGO_URI" "$DB" WORKERS '{"worker_id":"w1"}' >"$T/w.out" 2>>"$T/mq.err"
if [ "$(tail -n 1 "$T/w.out")" = "count 1" ]; then ok "WORKERS has w1"
else notok "WORKERS for w1: $(tail -n 1 "$T/w.out")"; fi

[ "$fails" -eq 0 ] || show
exit $((fails > 0))
