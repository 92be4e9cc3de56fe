#!/bin/sh
# test_mongo_down.sh — the MongoDB server is lost while the master runs:
# `tasks` and `workers` keep answering from what the master holds (over
# TCP and HTTP alike, marked degraded; files get ERROR STORE / 503), the log
# says the store is degraded, and once the server is back a task submitted
# before the loss completes and is recorded. Uses its own FerretDB
# ($CLOUDAI_FERRETDB, set by .ci/run) so it can stop and restart it.
. tests/integration/lib.sh
ferret_ok || { skip "mongo down: no FerretDB binary (CLOUDAI_FERRETDB)"; exit 0; }
ferret_start || { not_ok "FerretDB starts"; finish; }
cat >"$T/m.ini" <<EOF2
[master]
heartbeat_interval_s = 1
heartbeat_timeout_s = 30
[mongodb]
uri = "$FURI"
database = down
server_selection_timeout_ms = 1000
[http]
listen = 127.0.0.1:0
EOF2
start_master m -config "$T/m.ini" || { not_ok "master starts on MongoDB"; finish; }
start_worker w1 -runtime process -cpu 1 || { not_ok "worker starts"; finish; }
# Occupy the only CPU so the next task stays queued through the outage.
A=$(cai task cloudai-test:latest -name blocker -cmd 'sleep 4; echo a > a.txt' 2>&1 | sed -n 's/.*Task ID: *//p')
B=$(cai task cloudai-test:latest -name waiter -cmd 'echo b > b.txt' 2>&1 | sed -n 's/.*Task ID: *//p')
[ -n "$A" ] && [ -n "$B" ] && ok "two tasks submitted" || { not_ok "two tasks submitted"; finish; }
kill -KILL "$FPID"; wait "$FPID" 2>/dev/null; stop_pid "$FPID"
out=$(cai tasks --json 2>&1)
echo "$out" | grep -q "\"task_id\":\"$B\"" && ok "tasks answers from memory while the store is down" ||
    { not_ok "tasks answers from memory while the store is down"; diag "$out"; }
H=http://$(sed -n 's/^master http on \([^ ]*\).*/\1/p' "$T/m.out" | head -n 1)
body=$(curl -s "$H/api/tasks" 2>&1)
if echo "$body" | grep -q "\"task_id\":\"$B\"" && echo "$body" | grep -q '"degraded":"'; then
    ok "HTTP answers the same from memory, marked degraded (catalog rule)"
else not_ok "HTTP answers the same from memory, marked degraded (catalog rule)"; diag "$body"; fi
curl -s -o /dev/null -w '%{http_code}' "$H/api/files" | grep -q 503 &&
    ok "files cannot come from memory: 503 (ERROR STORE over TCP)" ||
    not_ok "files cannot come from memory: 503 (ERROR STORE over TCP)"
cai workers >/dev/null 2>&1 && ok "workers answers while the store is down" || not_ok "workers answers while the store is down"
wait_for "grep -q 'store degraded' '$T/m.log'" 10 && ok "the log says the store is degraded" ||
    not_ok "the log says the store is degraded"
ferret_start || { not_ok "FerretDB restarts"; finish; }
wait_for "[ \"\$(tfield $B status)\" = completed ]" 60 && ok "after the server returns, the queued task completes and is recorded" ||
    { not_ok "after the server returns, the queued task completes and is recorded"; diag "$(task_json "$B")"; dump_logs; }
n=$(cai files -task "$B" --json 2>/dev/null | grep -c '"file_name"')
[ "$n" = 1 ] && ok "its file record is in the store" || { not_ok "its file record is in the store"; diag "files $n"; }
finish
