#!/bin/sh
# test_predict.sh — the scheduler with real workers (process runtime): after
# a few runs of one kind of task, queued tasks of that kind show a predicted
# runtime and an expected start in `cloudai tasks` (table and --json) and
# in the HTTP API; -priority reorders the queue; a -timeout far above what
# that kind used draws a warning at submit.
. tests/integration/lib.sh
IMG=cloudai-test:latest

cat >"$T/cfg.ini" <<EOF2
[master]
heartbeat_interval_s = 1
heartbeat_timeout_s = 5
[auth]
cluster_token = cluster-secret
user.tester = tester-secret
[http]
listen = 127.0.0.1:0
EOF2
start_master m -config "$T/cfg.ini" || { not_ok "master starts"; exit 1; }
HADDR=$(sed -n 's/^master http on \([^ ]*\).*/\1/p' "$T/m.out" | head -n 1)
export CLOUDAI_USER=tester CLOUDAI_TOKEN=tester-secret
CLOUDAI_CLUSTER_TOKEN=cluster-secret start_worker w1 -runtime process -cpu 1 -mem 2g \
    -config "$T/cfg.ini" || { not_ok "worker registers"; exit 1; }

# History: three runs of "nap-N" (about 1 s each), one after the other.
for i in 1 2 3; do
    id=$(submit task $IMG -name "nap-$i" -cpu_cores 1 -cmd 'sleep 1')
    [ -n "$id" ] && wait_final "$id" 60 || not_ok "history run $i finishes"
done

# A blocker holds the only CPU (its -timeout bounds its predicted end: it has
# no history); then two naps (low and high priority) wait.
BLOCK=$(submit task $IMG -name blocker -cpu_cores 1 -timeout 30 -cmd 'sleep 25')
wait_for "[ \"\$(tfield $BLOCK status)\" = running ]" 30 || not_ok "blocker runs"
LOW=$(submit task $IMG -name nap-low -cpu_cores 1 -priority -5 -cmd 'sleep 1')
HIGH=$(submit task $IMG -name nap-high -cpu_cores 1 -priority 5 -cmd 'sleep 1')

# The projection is refreshed every 2 s.
wait_for "task_json $LOW | grep -q '\"expected_start\":[0-9]'" 15
J=$(task_json "$LOW")
diag "$J"
want_eq "predict: queued task is queued" "$(echo "$J" | jget status)" queued
ES=$(echo "$J" | jget expected_start)
want_eq "predict: priority kept" "$(echo "$J" | jget priority)" -5
ES=$(echo "$J" | jget expected_start)
PS=$(echo "$J" | jget predicted_runtime_s)
NOW=$(($(date +%s) * 1000))
check "predict: expected_start in --json ($ES)" test -n "$ES"
check "predict: expected start within a minute" awk -v e="$ES" -v n="$NOW" 'BEGIN { exit !(e > n - 5000 && e < n + 60000) }'
check "predict: predicted runtime from the naps ($PS s)" awk -v p="$PS" 'BEGIN { exit !(p >= 1 && p <= 10) }'
wait_for "task_json $HIGH | grep -q '\"expected_start\":[0-9]'" 15
# Both from one listing (one projection): the high-priority task first.
cai tasks -status queued --json >"$T/q.json"
EH=$(grep "\"task_id\":\"$HIGH\"" "$T/q.json" | jget expected_start)
EL=$(grep "\"task_id\":\"$LOW\"" "$T/q.json" | jget expected_start)
check "predict: the high-priority task is expected first ($EH < $EL)" awk -v h="$EH" -v l="$EL" 'BEGIN { exit !(h != "" && l != "" && h < l) }'
cai tasks -status queued >"$T/tasks.txt" 2>&1
diag "$(cat "$T/tasks.txt")"
check "predict: the table shows the expected start" grep -q 'expected to start' "$T/tasks.txt"
check "predict: the table shows the prediction" grep -q 'similar tasks ran' "$T/tasks.txt"
if command -v curl >/dev/null 2>&1 && [ -n "$HADDR" ]; then
    curl -s -H "Authorization: Bearer tester-secret" "http://$HADDR/api/tasks?status=queued" >"$T/api.json"
    diag "$(head -c 600 "$T/api.json")"
    check "predict: the HTTP API has expected_start" grep -q '"expected_start":[0-9]' "$T/api.json"
    check "predict: the HTTP API has predicted_runtime_s" grep -q '"predicted_runtime_s":[0-9]' "$T/api.json"
else
    skip "predict: HTTP API (no curl or no address)"
fi

for id in "$BLOCK" "$LOW" "$HIGH"; do wait_final "$id" 60 || not_ok "task $id finishes"; done
SH=$(tfield "$HIGH" started_at); SL=$(tfield "$LOW" started_at)
check "predict: -priority 5 started before -priority -5" awk -v h="$SH" -v l="$SL" 'BEGIN { exit !(h <= l) }'

# A limit 10x above anything that kind used: a warning on stderr, still submitted.
cai task $IMG -name nap-9 -cpu_cores 1 -timeout 10h -cmd 'sleep 1' >"$T/warn.out" 2>"$T/warn.err"
diag "$(cat "$T/warn.err")"
check "predict: a far-too-long -timeout warns" grep -q 'far above what' "$T/warn.err"
check "predict: and the task is submitted anyway" grep -q 'Task submitted' "$T/warn.out"
# What a run used: the process runtime measures CPU time and peak memory
# (a shell holding 40 MB in a variable); -mem far above that kind's peak warns.
for i in 1 2 3; do
    id=$(submit task $IMG -name "hog-$i" -cpu_cores 1 -cmd 'x=$(head -c 40000000 /dev/zero | tr "\\0" a); echo ${#x}')
    [ -n "$id" ] && wait_final "$id" 60 || not_ok "hog run $i finishes"
done
J=$(task_json "$id")
MP=$(echo "$J" | jget mem_peak); CS=$(echo "$J" | jget cpu_s)
diag "hog-3: mem_peak $MP cpu_s $CS; log: $(cai logs "$id" 2>&1 | head -c 200)"
check "predict: a run's peak memory is recorded ($MP bytes >= 40 MB)" awk -v m="$MP" 'BEGIN { exit !(m >= 40000000 && m < 2000000000) }'
check "predict: its CPU time is recorded ($CS s)" awk -v c="$CS" 'BEGIN { exit !(c > 0 && c < 60) }'
cai tasks -task "$id" >"$T/hog.txt" 2>&1
diag "$(cat "$T/hog.txt")"
check "predict: tasks -task shows what the run used" grep -q 'used [0-9.]* s of CPU, peak memory' "$T/hog.txt"
cai task $IMG -name hog-9 -cpu_cores 1 -mem 1g -cmd true >"$T/mwarn.out" 2>"$T/mwarn.err"
diag "$(cat "$T/mwarn.err")"
check "predict: a far-too-large -mem warns" grep -q -- '-mem 1.0 GiB is far above what 3 earlier runs' "$T/mwarn.err"
cai task $IMG -name hog-10 -cpu_cores 1 -mem 400m -cmd true >"$T/mok.out" 2>"$T/mok.err"
check "predict: a -mem within 10x of the peak does not" sh -c "! grep -q -- '-mem' '$T/mok.err'"
# A queued task of that kind shows its predicted peak memory (the largest
# peak of its kind) in --json, the API and the table.
BLOCK2=$(submit task $IMG -name blocker -cpu_cores 1 -timeout 60 -cmd 'sleep 50')
wait_for "[ \"\$(tfield $BLOCK2 status)\" = running ]" 30 || not_ok "second blocker runs"
QH=$(submit task $IMG -name hog-11 -cpu_cores 1 -cmd true)
wait_for "task_json $QH | grep -q '\"predicted_mem_peak\":[0-9]'" 15
J=$(task_json "$QH")
PM=$(echo "$J" | jget predicted_mem_peak)
diag "queued hog: $J"
check "predict: a queued task's predicted peak memory ($PM bytes >= 40 MB)" awk -v m="$PM" 'BEGIN { exit !(m >= 40000000 && m < 2000000000) }'
cai tasks -status queued >"$T/qh.txt" 2>&1
diag "$(cat "$T/qh.txt")"
check "predict: the table shows the predicted peak memory" grep -q 'similar tasks ran ~[0-9]* s, peak memory [0-9.]* MiB' "$T/qh.txt"
if command -v curl >/dev/null 2>&1 && [ -n "$HADDR" ]; then
    curl -s -H "Authorization: Bearer tester-secret" "http://$HADDR/api/tasks/$QH" >"$T/qh.json"
    check "predict: the HTTP API has predicted_mem_peak" grep -q '"predicted_mem_peak":[0-9]' "$T/qh.json"
else
    skip "predict: HTTP API predicted_mem_peak (no curl or no address)"
fi
cai cancel "$BLOCK2" >/dev/null 2>&1
wait_final "$QH" 60 || not_ok "queued hog finishes"

# Cores: three runs that keep one core busy for 1-2 s of wall time (long
# enough to count); asking 8 cores for that kind warns, 2 does not. A worker
# with 8 CPUs joins for those two (the master refuses what no worker fits).
for i in 1 2 3; do
    id=$(submit task $IMG -name "spin-$i" -cpu_cores 1 -cmd 'e=$(($(date +%s) + 2)); while [ "$(date +%s)" -lt "$e" ]; do :; done')
    [ -n "$id" ] && wait_final "$id" 60 || not_ok "spin run $i finishes"
done
diag "spin-3: $(task_json "$id" | tr ',' '\n' | grep -E '"(cpu_s|started_at|completed_at)"' | tr '\n' ' ')"
CLOUDAI_CLUSTER_TOKEN=cluster-secret start_worker w8 -runtime process -cpu 8 -mem 2g \
    -config "$T/cfg.ini" || not_ok "8-CPU worker registers"
cai task $IMG -name spin-9 -cpu_cores 8 -cmd true >"$T/cwarn.out" 2>"$T/cwarn.err"
diag "$(cat "$T/cwarn.err")"
check "predict: a far-too-large -cpu_cores warns" grep -q -- '-cpu_cores 8 is far above what 3 earlier runs' "$T/cwarn.err"
check "predict: and that task is submitted anyway" grep -q 'Task submitted' "$T/cwarn.out"
cai task $IMG -name spin-10 -cpu_cores 2 -cmd true >"$T/cok.out" 2>"$T/cok.err"
check "predict: a -cpu_cores within 4x of the busiest run does not warn" grep -q 'Task submitted' "$T/cok.out"
check "predict: (no -cpu_cores warning)" sh -c "! grep -q -- '-cpu_cores' '$T/cok.err'"
for f in cwarn cok; do
    id=$(sed -n 's/^ *Task ID: *//p' "$T/$f.out")
    [ -n "$id" ] && { wait_final "$id" 60 || not_ok "$f task finishes"; }
done
kill "$(cat "$T/w8.pid")" 2>/dev/null

# The same on Docker: a container's cgroup goes when it exits, so the worker
# gives it a parent cgroup of its own and reads the totals there.
if docker_ok; then
    CLOUDAI_CLUSTER_TOKEN=cluster-secret start_worker wd -runtime docker -cpu 1 -mem 2g \
        -config "$T/cfg.ini" || not_ok "docker worker registers"
    id=$(submit dispatch wd $IMG -name dhog -cpu_cores 1 -cmd 'x=$(head -c 40000000 /dev/zero | tr "\\0" a); echo ${#x}')
    [ -n "$id" ] && wait_final "$id" 90 || not_ok "docker hog finishes"
    J=$(task_json "$id")
    MP=$(echo "$J" | jget mem_peak); CS=$(echo "$J" | jget cpu_s)
    diag "dhog: mem_peak $MP cpu_s $CS; $(docker info 2>/dev/null | grep -i cgroup | tr '\n' ' ')"
    if docker info 2>/dev/null | grep -q 'Cgroup Driver: cgroupfs'; then
        check "predict: a container's peak memory is recorded ($MP bytes >= 40 MB)" awk -v m="$MP" 'BEGIN { exit !(m >= 40000000 && m < 2000000000) }'
        check "predict: a container's CPU time is recorded ($CS s)" awk -v c="$CS" 'BEGIN { exit !(c > 0 && c < 60) }'
        left=$(find /sys/fs/cgroup -maxdepth 4 -path '*/cloudai/wd/*' -type d 2>/dev/null | head -n 3)
        check "predict: the run's parent cgroups are removed ($left)" test -z "$left"
    else
        skip "predict: container usage (the daemon's cgroup driver is not cgroupfs)"
        skip "predict: container CPU time"
        skip "predict: parent cgroups removed"
    fi
else
    for c in "container usage" "container CPU time" "parent cgroups removed"; do skip "predict: $c: Docker unavailable"; done
fi
check "predict: -priority out of range is refused" sh -c "! '$CLOUDAI_BIN/cloudai' -master '$MADDR' task $IMG -priority 5000 -cmd true 2>/dev/null"
finish
