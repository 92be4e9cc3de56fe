#!/bin/sh
# test_sched.sh — scheduling by resources, on the process runtime: w-small
# (1 CPU, 1 GiB) and w-big (2 CPUs, 4 GiB). A 2-CPU task and a 1.5 GiB
# task must land on w-big; a 16-CPU task fits nowhere, so it stays queued
# and `cloudai tasks` says why (CPU); cancelling it ends it.
. tests/integration/lib.sh
IMG=cloudai-test:latest

write_config "$T/cfg.ini"
# The 16-CPU task below must wait, not be refused (test_submit_checks.sh
# covers the refusal).
printf '[scheduler]\nqueue_unsatisfiable = true\n' >>"$T/cfg.ini"
start_master m -config "$T/cfg.ini" || { not_ok "master starts"; exit 1; }
start_worker w-small -runtime process -cpu 1 -mem 1g -config "$T/cfg.ini" &&
    start_worker w-big -runtime process -cpu 2 -mem 4g -config "$T/cfg.ini" ||
    { not_ok "workers register"; exit 1; }
cai workers >"$T/workers.txt" 2>&1
diag "$(cat "$T/workers.txt")"

CPU2=$(submit task $IMG -name need-2cpu -cpu_cores 2 -mem 256m -cmd 'echo cpu > c.txt')
MEM=$(submit task $IMG -name need-1.5g -cpu_cores 1 -mem 1.5g -cmd 'echo mem > m.txt')
HUGE=$(submit task $IMG -name need-16cpu -cpu_cores 16 -mem 256m -cmd 'echo never')

for pair in "2 CPUs:$CPU2" "1.5g memory:$MEM"; do
    what=${pair%%:*}; id=${pair#*:}
    if [ -n "$id" ] && wait_final "$id" 30; then
        want_eq "sched: task needing $what ran on w-big" "$(tfield "$id" worker_id)" w-big
        want_eq "sched: task needing $what completed" "$(tfield "$id" status)" completed
    else
        not_ok "sched: task needing $what finishes"
    fi
done

if [ -n "$HUGE" ]; then
    # Both other tasks are done, so every worker has been free since; the
    # 16-CPU task must still wait.
    want_eq "sched: 16-CPU task stays queued" "$(tfield "$HUGE" status)" queued
    want_eq "sched: 16-CPU task has no worker" "$(tfield "$HUGE" worker_id)" ""
    cai tasks -task "$HUGE" >"$T/huge.txt" 2>&1
    # The note is the line under the task's row (not the row: its name has "cpu").
    note=$(grep -v '^TASK ID' "$T/huge.txt" | grep -v "$HUGE" | sed 's/^ *//')
    if echo "$note" | grep -qi 'cpu'; then
        ok "sched: tasks shows why it waits: $note"
    else
        not_ok "sched: tasks shows a reason mentioning CPU"
        sed 's/^/# /' "$T/huge.txt"
        diag "error field in tasks --json: '$(tfield "$HUGE" error)'"
        cai task $IMG -name need-16cpu-again -cpu_cores 16 -cmd true >"$T/again.txt" 2>&1
        diag "while the submit reply says:" "$(grep -i status "$T/again.txt")"
        cai cancel "$(jget task_id <"$T/again.txt")" >/dev/null 2>&1
    fi
    cai cancel "$HUGE" >"$T/c.out" 2>&1 || diag "cancel: $(cat "$T/c.out")"
    check "sched: queued task cancelled" wait_for "[ \"\$(tfield $HUGE status)\" = cancelled ]" 10
else
    not_ok "sched: 16-CPU task accepted"
fi

# A task no worker could ever fit is still accepted by `task` (it waits),
# but `dispatch` to a worker too small for it is refused.
cai dispatch w-small $IMG -cpu_cores 2 -cmd true >"$T/d.out" 2>"$T/d.err"
rc=$?
if [ $rc -ne 0 ] && [ -s "$T/d.err" ]; then
    ok "sched: dispatch of 2 CPUs to w-small refused: $(head -n 1 "$T/d.err")"
else
    not_ok "sched: dispatch of 2 CPUs to w-small refused"; diag "exit $rc" "$(cat "$T/d.out" "$T/d.err")"
fi
finish
