#!/bin/sh
# test_wait.sh — `cloudai wait ID...` and `task ... -wait` (README "Waiting
# for tasks"), on the process runtime and on Docker (cloudai-test:latest):
# the exit code is the task's own, or 121 (failed without an exit code:
# could not start), 122 (cancelled), 123 (lost); several tasks exit with
# the first (in the order given) that did not complete; one line per task
# as it ends; an unknown id exits 1 at once; the wait survives a master
# restart (reconnects, resumes); a worker lost with max_attempts = 1.
. tests/integration/lib.sh
IMG=cloudai-test:latest

write_config "$T/cfg.ini"
echo "max_attempts = 1" >>"$T/cfg.ini"
start_master m -config "$T/cfg.ini" || { not_ok "master starts"; exit 1; }
start_worker w-proc -runtime process -cpu 2 -mem 2g -config "$T/cfg.ini" ||
    { not_ok "process worker registers"; exit 1; }
WPROC=$WPID
RUNTIMES=w-proc
if docker_ok; then
    start_worker w-dock -runtime docker -cpu 2 -mem 2g -config "$T/cfg.ini" &&
        RUNTIMES="w-proc w-dock" || not_ok "docker worker registers"
else
    skip "wait on docker: no Docker or no image"
fi

# rc_of CMD... — runs a client command, prints its exit code; output in $T/rc.out.
rc_of() { "$@" >"$T/rc.out" 2>"$T/rc.err"; echo $?; }

for W in $RUNTIMES; do
    r=$(rc_of cai dispatch "$W" $IMG -name ok-$W -mem 64m -wait -cmd 'echo hi > h.txt')
    want_eq "$W: task -wait of a task that completes exits 0" "$r" 0
    check "$W: task -wait prints the banner, then the end line" \
        sh -c "grep -q '^Task submitted' '$T/rc.out' && grep -q ' ok-$W completed, exit 0\$' '$T/rc.out'"
    r=$(rc_of cai dispatch "$W" $IMG -name three-$W -mem 64m -wait -cmd 'exit 3')
    want_eq "$W: task -wait exits with the task's exit code (3)" "$r" 3
    check "$W: the end line says failed, exit 3" grep -q " three-$W failed, exit 3: exit code 3\$" "$T/rc.out"
    # The error says the task's last line of output: usually why it failed.
    # One stream: Docker copies stdout and stderr apart, in no set order.
    r=$(rc_of cai dispatch "$W" $IMG -name why-$W -mem 64m -wait -cmd 'echo working >&2; printf "cannot open data.csv: \\033[1mNo such file\\n\\n" >&2; exit 5')
    want_eq "$W: a failed task's error ends with its last line of output" \
        "$(sed -n "s/.* why-$W failed, exit 5: //p" "$T/rc.out")" "exit code 5; last output: cannot open data.csv: ?[1mNo such file"
    # Could not start: a program that does not exist (process), an image
    # that is not there (docker).
    if [ "$W" = w-proc ]; then
        r=$(rc_of cai dispatch "$W" $IMG -name nostart-$W -mem 64m -wait -- /nonexistent/prog)
    else
        r=$(rc_of cai dispatch "$W" cloudai-no-such-image:never -name nostart-$W -mem 64m -wait -cmd true)
    fi
    want_eq "$W: a task that could not start exits 121" "$r" 121
    check "$W: its end line says failed, exit -" grep -q " nostart-$W failed, exit -" "$T/rc.out"
    # Cancelled while a wait runs in the background.
    C=$(submit dispatch "$W" $IMG -name cancelme-$W -mem 64m -cmd 'sleep 60')
    cai wait "$C" >"$T/wc.out" 2>&1 &
    WP=$!
    wait_for "[ \"\$(tfield $C status)\" = running ]" 60
    cai cancel "$C" >/dev/null 2>&1
    wait "$WP"; r=$?
    want_eq "$W: wait on a cancelled task exits 122" "$r" 122
    check "$W: its end line says cancelled" grep -q "^$C cancelme-$W cancelled, exit .*: cancelled by $CLOUDAI_USER" "$T/wc.out"
done

# ---- several tasks: one line each as it ends, the first failure's code
A=$(submit dispatch w-proc $IMG -name quick -mem 64m -cmd 'exit 4')
B=$(submit dispatch w-proc $IMG -name slow -mem 64m -cmd 'sleep 4; exit 5')
C=$(submit dispatch w-proc $IMG -name fine -mem 64m -cmd true)
r=$(rc_of cai wait "$B" "$A" "$C")
want_eq "several: exit code of the first given that did not complete (B: 5)" "$r" 5
want_eq "several: one line per task, in the order they ended (A before B)" \
    "$(cut -d' ' -f1 "$T/rc.out" | grep -n -e "$A" -e "$B" | cut -d: -f1 | tr '\n' ' ')" "1 3 "
r=$(rc_of cai wait "$A" "$B")
want_eq "several: the other order exits with A's code (4)" "$r" 4
r=$(rc_of cai wait "$C" "$C")
want_eq "several: all completed exits 0 (a repeated id counts once)" "$r $(wc -l <"$T/rc.out")" "0 1"
r=$(rc_of cai wait "$A" --json)
check "wait --json prints the task record" grep -q "\"task_id\":\"$A\".*\"status\":\"failed\"" "$T/rc.out"
r=$(rc_of cai wait "$A" nope)
want_eq "an unknown id: exit 1 at once, nothing waited for" "$r $(cat "$T/rc.out")" "1 "
check "an unknown id: 'no task nope'" grep -q "no task nope" "$T/rc.err"
check "several ids, one unknown: no name hint (which one is the master's to say)" \
    sh -c "! grep -q 'is not a task id' '$T/rc.err'"
# A first try names the task instead of giving its id: the error says how to find it.
r=$(rc_of cai wait nope)
check "a name instead of an id: exit 1" [ "$r" = 1 ]
check "a name instead of an id: points at tasks -name" \
    grep -q "'nope' is not a task id (ids look like task-.*); \`cloudai tasks -name nope\` lists" "$T/rc.err"
r=$(rc_of cai logs nope)
check "logs NAME: the same hint, and logs -name" grep -q "cloudai tasks -name nope.*cloudai logs -name nope\` takes the newest" "$T/rc.err"
r=$(rc_of cai get nope "$T/g-nope")
check "get NAME: also names get -name" grep -q "cloudai get -name nope\` takes the newest" "$T/rc.err"
# -name NAME: the newest run of that name, waited for like its id.
r=$(rc_of cai wait -name slow)
want_eq "wait -name NAME: exits with that run's code (slow: 5)" "$r" 5
check "wait -name NAME: says which run, prints its end line" \
    sh -c "grep -q \"is the newest run named 'slow'\" '$T/rc.err' && grep -q '^$B slow failed, exit 5' '$T/rc.out'"
r=$(rc_of cai wait -name slow "$A")
want_eq "wait -name NAME TASK_ID: usage error" "$r" 2
r=$(rc_of cai wait -name no-such-name)
check "wait -name of no run: exit 1, says so" sh -c "[ $r = 1 ] && grep -q \"no run named 'no-such-name'\" '$T/rc.err'"
r=$(rc_of cai cancel task-0-nope)
check "an id-shaped unknown id: no hint" sh -c "! grep -q 'is not a task id' '$T/rc.err'"
r=$(rc_of cai wait)
want_eq "wait without an id is a usage error" "$r" 2

# ---- a master restart during the wait: the client reconnects, resumes
R=$(submit dispatch w-proc $IMG -name restart -mem 64m -cmd 'sleep 8; exit 7')
wait_for "[ \"\$(tfield $R status)\" = running ]" 30
cai wait "$R" >"$T/wr.out" 2>"$T/wr.err" &
WP=$!
sleep 1
stop_pid "$MPID"
LISTEN=$MADDR start_master m -config "$T/cfg.ini" || { not_ok "master restarts"; finish; }
wait "$WP"; r=$?
want_eq "restart: the wait reconnects and exits with the task's code (7)" "$r" 7
check "restart: it said it reconnects" grep -q "was lost; reconnecting" "$T/wr.err"
check "restart: the end line" grep -q "^$R restart failed, exit 7" "$T/wr.out"

# ---- lost: the worker dies with the task (max_attempts = 1)
wait_for "worker_ready w-proc" 30
L=$(submit dispatch w-proc $IMG -name lostone -mem 64m -cmd 'sleep 60')
wait_for "[ \"\$(tfield $L status)\" = running ]" 30
cai wait "$L" >"$T/wl.out" 2>&1 &
WP=$!
kill -KILL "$WPROC"; stop_pid "$WPROC"
wait "$WP"; r=$?
want_eq "lost: wait exits 123 when the task is given up after its worker was lost" "$r" 123
check "lost: the end line says why" grep -q "^$L lostone failed, exit -: worker w-proc lost; gave up" "$T/wl.out"
finish
