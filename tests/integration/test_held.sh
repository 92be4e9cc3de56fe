#!/bin/sh
# test_held.sh — tasks that end while the master is down keep their true
# result (issue 10, item 3). 16 tasks (half exit 0, half exit 3) run on a
# process-runtime worker; the master is SIGKILLed; the tasks then finish,
# so the worker holds their outputs with results the master never saw; the
# master restarts on the same port and data. The worker re-registers
# listing them as HELD and uploads them: every task must end with its own
# status and exit code (completed/0 or failed/3), its file stored, and a
# failed one's error saying "exit code 3".
. tests/integration/lib.sh
IMG=cloudai-test:latest
N=16

write_config "$T/cfg.ini"
start_master m -config "$T/cfg.ini" || { not_ok "master starts"; exit 1; }
start_worker w -runtime process -cpu $N -mem 8g -config "$T/cfg.ini" ||
    { not_ok "worker registers"; exit 1; }

: >"$T/ids"
i=0
while [ $i -lt $N ]; do
    code=$(( (i % 2) * 3 ))
    id=$(submit task $IMG -name held-$i -cpu_cores 0.5 -mem 64m -storage 64m \
        -cmd "n=0; while [ ! -f '$T/go' ] && [ \$n -lt 600 ]; do sleep 0.1; n=\$((n+1)); done; echo $i > r.txt; exit $code") ||
        { not_ok "submit task $i"; exit 1; }
    echo "$id $code" >>"$T/ids"
    i=$((i + 1))
done
all_running() {
    [ "$(cai tasks --json | grep -c '"status":"running"')" -eq $N ]
}
check "held: all $N tasks run" wait_for all_running 60

ADDR=$MADDR
kill -KILL "$MPID"; stop_pid "$MPID"
touch "$T/go"
held_count() { ls "$T/w.outputs" | grep -c '\.result$'; }
check "held: every task ends while the master is down ($N result notes)" \
    wait_for "[ \$(held_count) -eq $N ]" 60
# Let the worker's upload retries back off past its control reconnect,
# as in a real outage: REGISTER with HELD then comes before the uploads.
sleep 6
LISTEN=$ADDR MDATA=m start_master m2 -config "$T/cfg.ini" ||
    { not_ok "master restarts on $ADDR"; exit 1; }

# One listing per poll (a client call per task and poll is slow under ASan).
all_final() {
    cai tasks --json >"$T/list" 2>/dev/null &&
        [ "$(grep -Ec '"status":"(completed|failed|cancelled)"' "$T/list")" -eq $N ]
}
wait_for all_final 120 || diag "not every task ended: $(grep -c . "$T/list") listed"
bad=0
while read -r id code; do
    j=$(grep "\"task_id\":\"$id\"" "$T/list")
    st=$(echo "$j" | jget status); ec=$(echo "$j" | jget exit_code); er=$(echo "$j" | jget error)
    want=completed; [ "$code" = 0 ] || want=failed
    if [ "$st" != "$want" ] || [ "$ec" != "$code" ]; then
        bad=$((bad + 1)); diag "task $id: got $st/$ec ($er), want $want/$code"
    elif [ "$code" != 0 ] && [ "$er" != "exit code $code" ]; then
        bad=$((bad + 1)); diag "task $id: error '$er', want 'exit code $code'"
    elif [ "$code" = 0 ] && [ -n "$er" ]; then
        bad=$((bad + 1)); diag "task $id: completed with error text '$er'"
    fi
done <"$T/ids"
want_eq "held: every task ends with its own status and exit code" "$bad" 0
# The worker's upload retries and its control reconnect race after the
# restart: a REGISTER that comes before any upload must list what it holds;
# one that comes after every upload has nothing left to list. The control
# connection's backoff reaches 5 s while the master is down, so the uploads
# can all be stored before it reconnects: wait for it (bounded).
wait_for "grep -q 'worker w registered from' '$T/m2.log'" 15
reg=$(grep -n "worker w registered from" "$T/m2.log" | head -n 1 | cut -d: -f1)
up=$(grep -n ": stored [0-9]* files" "$T/m2.log" | head -n 1 | cut -d: -f1)
if [ -n "$reg" ] && { [ -z "$up" ] || [ "$reg" -lt "$up" ]; }; then
    grep -q "registered from .*; 0 running, [1-9][0-9]* held" "$T/m2.log" &&
        ok "held: the worker re-registered listing held outputs" ||
        not_ok "held: the worker re-registered listing held outputs"
else
    [ -n "$reg" ] && ok "held: the uploads came first; the worker re-registered after them" ||
        not_ok "held: the worker re-registered"
fi
cai files --json >"$T/files" 2>/dev/null
nfiles=$(grep -c '"file_name":"r.txt"' "$T/files")
want_eq "held: every task's file is stored" "$nfiles" $N
check "held: the worker let go of every held output" \
    wait_for "[ \$(ls '$T/w.outputs' | grep -c '\.result\$') -eq 0 ]" 20
finish
