#!/bin/sh
# test_attempts.sh — a worker marked lost while its task runs, then back:
# the stale attempt is stopped, never the new one (README "Known issues",
# once: tasks ended "cancelled" though nobody cancelled them). Messages
# about a task carry its attempt; a worker ignores those for an attempt it
# does not run, and the master ignores reports of a superseded attempt.
# Process runtime. The worker is stopped (SIGSTOP) past the 5 s heartbeat
# timeout, so the master marks it lost and re-queues its task, then
# continued (SIGCONT): it reconnects still running the old attempt.
#  A. One worker: the task is queued again when the worker comes back and
#     is placed on it again (attempt 2) while attempt 1 still runs there.
#     Attempt 1 is stopped; attempt 2 runs to completion.
#  B. Two workers: the task moves to the other worker (attempt 2); the
#     first, back, stops attempt 1 and attempt 2 completes where it runs.
. tests/integration/lib.sh
IMG=cloudai-test:latest

write_config "$T/cfg.ini"
start_master m -config "$T/cfg.ini" || { not_ok "master starts"; exit 1; }
start_worker w1 -runtime process -cpu 1 -mem 1g -config "$T/cfg.ini" ||
    { not_ok "worker w1 registers"; exit 1; }
W1=$WPID

# The task: sleeps, then writes which attempt of it ran (a marker file
# per process, so two attempts in one output would show).
task_cmd() { echo "tok=$1; sleep 12; echo \$\$ > done-\$\$.txt"; }
alive() { pgrep -f "$1" >/dev/null 2>&1; }
state_of() { cai workers --json 2>/dev/null | grep "\"worker_id\":\"$1\"" | jget state; }

# lost_and_back LABEL ID WPID WORKER — stop the worker until the master marks it
# lost and re-queues the task, then continue it.
lost_and_back() {
    check "$1: the task runs" wait_for "[ \"\$(tfield $2 status)\" = running ]" 30
    kill -STOP "$3"
    if wait_for "[ \"\$(state_of $4)\" = lost ] && [ \"\$(tfield $2 worker_id)\" != $4 ]" 30
    then ok "$1: the stopped worker is lost, its task re-queued"
    else not_ok "$1: the stopped worker is lost, its task re-queued"; diag "$(task_json "$2")"; fi
    kill -CONT "$3"
}

# ---- A. one worker: attempt 2 placed where attempt 1 still runs
TOKA=attempts-a-$$
A=$(submit task $IMG -name attempts-a -cmd "$(task_cmd $TOKA)") || { not_ok "A: submitted"; exit 1; }
lost_and_back A "$A" "$W1" w1
if wait_final "$A" 90; then
    j=$(task_json "$A")
    want_eq "A: the task completes as attempt 2 (not cancelled)" \
        "$(echo "$j" | jget status) $(echo "$j" | jget attempts) $(echo "$j" | jget exit_code)" \
        "completed 2 0"
    d=$(task_dir "$T/m/files/$CLOUDAI_USER/attempts-a" "$A")
    want_eq "A: the stored run holds one attempt's marker" "$(ls "$d" 2>/dev/null | grep -c '^done-')" 1
else
    not_ok "A: the task completes"
fi
check "A: the worker stopped attempt 1 on the master's word" \
    grep -q "task $A attempt 1: cancel requested by the master" "$T/w1.log"
check "A: the master ignored attempt 1's result" \
    grep -q "reports a result for task $A attempt 1, which is superseded" "$T/m.log"

# ---- B. two workers: attempt 2 runs elsewhere
TOKB=attempts-b-$$
B=$(submit task $IMG -name attempts-b -cmd "$(task_cmd $TOKB)") || { not_ok "B: submitted"; exit 1; }
check "B: the task runs on w1" wait_for "[ \"\$(tfield $B worker_id)\" = w1 ] && [ \"\$(tfield $B status)\" = running ]" 30
start_worker w2 -runtime process -cpu 1 -mem 1g -config "$T/cfg.ini" ||
    { not_ok "worker w2 registers"; finish; }
lost_and_back B "$B" "$W1" w1
check "B: attempt 2 runs on w2" wait_for "[ \"\$(tfield $B worker_id)\" = w2 ] && [ \"\$(tfield $B attempts)\" = 2 ]" 30
check "B: w1, back, is ready again" wait_for "[ \"\$(state_of w1)\" = ready ]" 30
if wait_for "[ \$(pgrep -fc $TOKB) -le 1 ]" 30; then ok "B: attempt 1 no longer runs on w1"
else not_ok "B: attempt 1 no longer runs on w1"; pgrep -af "$TOKB" | sed 's/^/# /'; fi
if wait_final "$B" 90; then
    j=$(task_json "$B")
    want_eq "B: the task completes as attempt 2 on w2" \
        "$(echo "$j" | jget status) $(echo "$j" | jget attempts) $(echo "$j" | jget worker_id)" \
        "completed 2 w2"
    d=$(task_dir "$T/m/files/$CLOUDAI_USER/attempts-b" "$B")
    want_eq "B: the stored run holds one attempt's marker" "$(ls "$d" 2>/dev/null | grep -c '^done-')" 1
else
    not_ok "B: the task completes"
fi
check "B: no process of either attempt is left" wait_for "! alive $TOKB" 20
finish
