#!/bin/sh
# test_restart.sh — a master restart loses nothing (process runtime, no
# Docker needed). Tasks run and store files; the worker leaves; a task is
# submitted with no worker connected; the master is stopped with TERM and
# started again on the same data dirs and port: every task and file record
# is listed as before, the queued task is still queued and runs once a
# worker connects. A second restart with that worker still running checks
# that the worker comes back by itself and keeps taking tasks.
. tests/integration/lib.sh
IMG=cloudai-test:latest

# records FILE — a stable digest of every task and file record: the fields
# that must survive a restart, one record per line, sorted.
records() {
    cai tasks --json >"$T/rt.json" 2>&1 || return 1
    cai files --json >"$T/rf.json" 2>&1 || return 1
    while read -r l; do
        case $l in *'"task_id"'*) ;; *) continue ;; esac
        echo "task $(echo "$l" | jget task_id) $(echo "$l" | jget task_name) $(echo "$l" | jget status)" \
             "$(echo "$l" | jget exit_code) $(echo "$l" | jget output_files) $(echo "$l" | jget output_bytes)"
    done <"$T/rt.json"
    while read -r l; do
        case $l in *'"file_name"'*) ;; *) continue ;; esac
        echo "file $(echo "$l" | jget task_id) $(echo "$l" | jget file_name) $(echo "$l" | jget sha256)" \
             "$(echo "$l" | jget file_size) $(echo "$l" | jget file_path)"
    done <"$T/rf.json"
}

stop_master() {
    kill -TERM "$MPID" 2>/dev/null
    if wait_for "! kill -0 $MPID" 20; then
        wait "$MPID"; diag "master exited with status $? on TERM"
        stop_pid "$MPID"    # already reaped: only drops it from PIDS
    else
        not_ok "master exits on TERM within 20 s"; stop_pid "$MPID"
    fi
}

write_config "$T/cfg.ini"
start_master m1 -config "$T/cfg.ini" || { not_ok "master starts"; exit 1; }
start_worker w1 -runtime process -cpu 2 -mem 2g -config "$T/cfg.ini" ||
    { not_ok "worker registers"; exit 1; }
W1=$WPID

A=$(submit task $IMG -name keep-a -cmd 'mkdir -p d && echo one > d/one.txt && echo two > two.txt')
B=$(submit task $IMG -name keep-b -cmd 'head -c 300000 /dev/urandom > blob.bin')
C=$(submit task $IMG -name keep-c -cmd 'echo partial > p.txt; exit 3')
for id in $A $B $C; do wait_final "$id" 30; done
# A failed task's files may be acknowledged just after its status.
wait_for "cai files -task $C --json | grep -q p.txt" 10
records | sort >"$T/before"
want_eq "restart: 3 tasks and 4 files before" \
    "$(grep -c '^task' "$T/before") $(grep -c '^file' "$T/before")" "3 4"

stop_pid "$W1"
check "restart: master sees the worker leave" wait_for "! worker_ready w1" 15
Q=$(submit task $IMG -name queued-over-restart -cmd 'echo survived > q.txt')
want_eq "restart: task submitted with no worker is queued" "$(tfield "$Q" status)" queued
records | sort >"$T/before"     # now with the queued task

ADDR=$MADDR
stop_master
LISTEN=$ADDR MDATA=m1 start_master m2 -config "$T/cfg.ini" || { not_ok "master restarts on $ADDR"; exit 1; }
want_eq "restart: master listens on the same address" "$MADDR" "$ADDR"
records | sort >"$T/after"
if cmp -s "$T/before" "$T/after"; then
    ok "restart: every task and file record is listed as before ($(grep -c . "$T/after") records)"
else
    not_ok "restart: every task and file record is listed as before"
    diff "$T/before" "$T/after" | sed 's/^/# /'
fi
check "restart: stored files still in place" test -f "$(cai files -task "$A" --json | grep '"d/one.txt"' | jget file_path)"
want_eq "restart: queued task still queued" "$(tfield "$Q" status)" queued

start_worker w2 -runtime process -cpu 2 -mem 2g -config "$T/cfg.ini" ||
    not_ok "restart: worker registers with the restarted master"
if wait_final "$Q" 30; then
    j=$(task_json "$Q")
    want_eq "restart: queued task completed after restart" "$(echo "$j" | jget status)" completed
    want_eq "restart: queued task ran on the new worker" "$(echo "$j" | jget worker_id)" w2
    want_eq "restart: its file is stored" \
        "$(cat "$(task_dir "$T/m1/files/$CLOUDAI_USER/queued-over-restart" "$Q")/q.txt" 2>/dev/null)" survived
else
    not_ok "restart: queued task runs after restart"
fi

# Second restart; w2 keeps running and must find the master again.
stop_master
LISTEN=$ADDR MDATA=m1 start_master m3 -config "$T/cfg.ini" || { not_ok "master restarts again"; exit 1; }
if wait_for "worker_ready w2" 30; then
    ok "restart: a running worker re-registers by itself"
    R=$(submit task $IMG -name after-reconnect -cmd 'echo again > r.txt')
    if [ -n "$R" ] && wait_final "$R" 30; then
        want_eq "restart: re-registered worker runs a new task" "$(tfield "$R" status)" completed
    else
        not_ok "restart: re-registered worker runs a new task"
    fi
else
    not_ok "restart: a running worker re-registers by itself"
fi
want_eq "restart: 5 tasks after two restarts" "$(cai tasks --json | grep -c '"task_id"')" 5

# A worker killed mid-task: the master re-queues the task on another worker.
start_worker w3 -runtime process -cpu 2 -mem 2g -config "$T/cfg.ini" || not_ok "worker w3 registers"
L=$(submit task $IMG -name lost-worker -cmd 'sleep 10; echo finished > l.txt')   # outlasts a slow client
if [ -n "$L" ] && wait_for "[ \"\$(tfield $L status)\" = running ]" 20; then
    first=$(tfield "$L" worker_id)
    kill -KILL "$(cat "$T/$first.pid")"
    stop_pid "$(cat "$T/$first.pid")"
    if wait_final "$L" 40; then
        j=$(task_json "$L")
        other=$(echo "$j" | jget worker_id)
        if [ "$(echo "$j" | jget status)" = completed ] && [ -n "$other" ] && [ "$other" != "$first" ]; then
            ok "lost worker: task re-queued and completed on $other (attempts $(echo "$j" | jget attempts))"
        else
            not_ok "lost worker: task re-queued and completed on the other worker"; diag "$j"
        fi
    else
        not_ok "lost worker: task finishes after its worker was killed"
    fi
else
    not_ok "lost worker: task reaches running"
fi
finish
