#!/bin/sh
# test_migrate.sh — `master --migrate-to-mongo` copies an embedded store
# into MongoDB, idempotently: a task with two files runs on the journal
# backend; the master stops; the migration copies 1 task and 2 file records
# (checked from outside with mongo_query); a second run changes nothing;
# a master started on MongoDB lists the task and its files.
if [ -z "$CLOUDAI_TEST_MONGO_URI" ]; then
    echo "skip - migrate: no MongoDB server (CLOUDAI_TEST_MONGO_URI)"
    exit 0
fi
. tests/integration/lib.sh
MQ=$CLOUDAI_BIN/tests/tools/mongo_query
[ -x "$MQ" ] || { not_ok "mongo_query built"; finish; }
DB="cloudai_mig_$$_$(date +%s)"
cat >"$T/mongo.ini" <<EOF2
[mongodb]
uri = "$CLOUDAI_TEST_MONGO_URI"
database = $DB
server_selection_timeout_ms = 5000
EOF2

MDATA=j start_master m1 || { not_ok "master starts"; finish; }
start_worker w1 -runtime process || { not_ok "worker starts"; finish; }
out=$(cai task cloudai-test:latest -name mig -cmd 'echo a > a.txt; mkdir d; echo b > d/b.txt' 2>&1)
ID=$(echo "$out" | sed -n 's/.*Task ID: *\(task-[0-9a-f-]*\).*/\1/p' | head -n 1)
[ -n "$ID" ] || { not_ok "submit"; diag "$out"; finish; }
wait_for "[ \"\$(tfield $ID status)\" = completed ]" 30 && ok "task completed on the journal" ||
    not_ok "task completed on the journal"
stop_pid "$WPID"; stop_pid "$MPID"

mig() {
    ASAN_OPTIONS=$DAEMON_ASAN "$CLOUDAI_BIN/master" -config "$T/mongo.ini" -meta "$T/j/meta" \
        -files "$T/j/files" --migrate-to-mongo 2>&1
}
o1=$(mig); r1=$?
[ $r1 = 0 ] && echo "$o1" | grep -q "migrated: 1 tasks and 2 file records" &&
    ok "migration copies 1 task and 2 file records" ||
    { not_ok "migration copies 1 task and 2 file records"; diag "rc $r1: $o1"; }
o2=$(mig); r2=$?
[ $r2 = 0 ] && ok "a second migration succeeds" || { not_ok "a second migration succeeds"; diag "$o2"; }
nf=$("$MQ" "$CLOUDAI_TEST_MONGO_URI" "$DB" FILE_METADATA "{\"task_id\":\"$ID\"}" | sed -n 's/^count //p')
[ "$nf" = 2 ] && ok "FILE_METADATA has exactly 2 records (idempotent)" ||
    { not_ok "FILE_METADATA has exactly 2 records (idempotent)"; diag "count $nf"; }
nt=$("$MQ" "$CLOUDAI_TEST_MONGO_URI" "$DB" TASKS "{\"task_id\":\"$ID\"}" | grep -c '"completed"')
[ "$nt" = 1 ] && ok "TASKS has the task completed" || not_ok "TASKS has the task completed"

start_master m2 -config "$T/mongo.ini" || { not_ok "master starts on MongoDB"; finish; }
n=$(cai files -task "$ID" --json 2>/dev/null | grep -c '"file_name"')
[ "$n" = 2 ] && ok "a master on MongoDB lists the migrated files" ||
    { not_ok "a master on MongoDB lists the migrated files"; diag "listed $n"; }
finish
