#!/bin/sh
# test_after.sh — -after ID[,ID...] and -after-any (README "Dependencies"),
# on the process runtime and on Docker (cloudai-test:latest): a dependent
# waits (its reason names what for), starts only after its dependencies
# completed; a failed or cancelled dependency fails it with that reason
# (and its own dependents in turn) instead of leaving it queued;
# -after-any runs after any end; an unknown id is refused at submit; a
# dependency that failed before the submit fails the dependent at once;
# a master restart keeps the dependencies (journal, and MongoDB when
# services.sh started one).
. tests/integration/lib.sh
IMG=cloudai-test:latest

write_config "$T/cfg.ini"
start_master m -config "$T/cfg.ini" || { not_ok "master starts"; exit 1; }
start_worker w-proc -runtime process -cpu 4 -mem 2g -config "$T/cfg.ini" ||
    { not_ok "process worker registers"; exit 1; }
RUNTIMES=w-proc
if docker_ok; then
    start_worker w-dock -runtime docker -cpu 4 -mem 2g -config "$T/cfg.ini" &&
        RUNTIMES="w-proc w-dock" || not_ok "docker worker registers"
else
    skip "after on docker: no Docker or no image"
fi
st() { tfield "$1" status; }

for W in $RUNTIMES; do
    A=$(submit dispatch "$W" $IMG -name a-$W -mem 64m -cmd 'sleep 3; echo a > a.txt')
    B=$(submit dispatch "$W" $IMG -name b-$W -mem 64m -after "$A" -cmd 'echo b > b.txt')
    want_eq "$W: the dependent waits while its dependency runs" "$(st "$B")" queued
    check "$W: its reason names the dependency" \
        sh -c "$CLOUDAI_BIN/cloudai -master $MADDR tasks -task $B | grep -q 'waiting for $A to complete'"
    if wait_final "$B" 90; then
        want_eq "$W: the dependent completes after its dependency" "$(st "$A") $(st "$B")" "completed completed"
        a_end=$(tfield "$A" completed_at); b_start=$(tfield "$B" started_at)
        check "$W: it started after the dependency ended ($b_start >= $a_end)" [ "$b_start" -ge "$a_end" ]
    else
        not_ok "$W: the dependent completes"
    fi
    F=$(submit dispatch "$W" $IMG -name f-$W -mem 64m -cmd 'sleep 2; exit 3')
    G=$(submit dispatch "$W" $IMG -name g-$W -mem 64m -after "$F" -cmd 'echo never')
    G2=$(submit dispatch "$W" $IMG -name g2-$W -mem 64m -after "$G" -cmd 'echo never')
    H=$(submit dispatch "$W" $IMG -name h-$W -mem 64m -after-any "$F" -cmd 'echo h > h.txt')
    wait_final "$G2" 60
    want_eq "$W: a failed dependency fails the dependent, which never ran" \
        "$(st "$G") $(tfield "$G" attempts)" "failed 0"
    e=$(tfield "$G" error)
    case $e in *"dependency $F failed"*"exit code 3; not run"*) ok "$W: with the reason" ;;
        *) not_ok "$W: with the reason"; diag "$e" ;; esac
    want_eq "$W: and its own dependent in turn" "$(st "$G2")" failed
    check "$W: which names the failed one" sh -c "$CLOUDAI_BIN/cloudai -master $MADDR tasks -task $G2 --json | grep -q 'dependency $G failed'"
    wait_final "$H" 60
    want_eq "$W: -after-any runs after a failure" "$(st "$H")" completed
done

# ---- cancelled, unknown, already failed, -wait on a dependent
C=$(submit task $IMG -name c -mem 64m -cmd 'sleep 30')
D=$(submit task $IMG -name d -mem 64m -after "$C" -cmd true)
cai cancel "$C" >/dev/null
wait_final "$D" 30
check "a cancelled dependency fails the dependent with that reason" \
    sh -c "$CLOUDAI_BIN/cloudai -master $MADDR tasks -task $D --json | grep -q '\"status\":\"failed\".*dependency $C cancelled'"
cai task $IMG -after task-nope -cmd true >"$T/o" 2>"$T/e"; r=$?
want_eq "an unknown dependency is refused at submit (exit 1)" "$r" 1
check "with 'no task task-nope'" grep -q "no task task-nope" "$T/e"
cai task $IMG -after "$A,,x" -cmd true >"$T/o" 2>"$T/e"; r=$?
check "a malformed list is refused" [ "$r" -ne 0 ]
F1=$(submit task $IMG -name f1 -mem 64m -cmd 'exit 2')
wait_final "$F1" 30
r=$(cai task $IMG -name late -mem 64m -after "$F1" -wait -cmd true >"$T/o" 2>&1; echo $?)
want_eq "a dependency failed before the submit: the dependent fails at once (-wait: 121)" "$r" 121
check "and says so" grep -q "dependency $F1 failed" "$T/o"
# Another user's task is not a dependency one can name.
CLOUDAI_USER=mallory cai task $IMG -after "$A" -cmd true >"$T/o" 2>"$T/e"; r=$?
want_eq "another user's task is refused as a dependency" "$r" 1

# ---- a master restart keeps the dependencies (journal)
P=$(submit task $IMG -name p -mem 64m -cmd 'sleep 6')
Q=$(submit task $IMG -name q -mem 64m -after "$P" -cmd 'echo q > q.txt')
Q2=$(submit task $IMG -name q2 -mem 64m -after "$F1" -after-any "$P" -cmd true)
stop_pid "$MPID"
LISTEN=$MADDR start_master m -config "$T/cfg.ini" || { not_ok "master restarts"; finish; }
check "restart: the dependent still waits for its dependency" \
    sh -c "$CLOUDAI_BIN/cloudai -master $MADDR tasks -task $Q | grep -q 'waiting for $P to complete'"
wait_final "$Q" 60
want_eq "restart: the dependent ran after its dependency" "$(st "$P") $(st "$Q")" "completed completed"
wait_final "$Q2" 30
want_eq "restart: a broken -after is still failed after the restart" "$(st "$Q2")" failed

# ---- MongoDB backend: the same across a restart
if [ -n "$CLOUDAI_TEST_MONGO_URI" ]; then
    stop_pid "$MPID"
    cat >"$T/mongo.ini" <<EOF
[master]
heartbeat_interval_s = 1
heartbeat_timeout_s = 5
[mongodb]
uri = "$CLOUDAI_TEST_MONGO_URI"
database = cloudai_after_$$_$(date +%s)
server_selection_timeout_ms = 5000
EOF
    LISTEN=$MADDR MDATA=mg start_master mg -config "$T/mongo.ini" || { not_ok "mongo master starts"; finish; }
    wait_for "worker_ready w-proc" 30
    P=$(submit dispatch w-proc $IMG -name mp -mem 64m -cmd 'sleep 6')
    Q=$(submit dispatch w-proc $IMG -name mq -mem 64m -after "$P" -cmd true)
    stop_pid "$MPID"
    LISTEN=$MADDR MDATA=mg start_master mg -config "$T/mongo.ini" || { not_ok "mongo master restarts"; finish; }
    check "mongodb: the dependent still waits after a restart" \
        sh -c "$CLOUDAI_BIN/cloudai -master $MADDR tasks -task $Q | grep -q 'waiting for $P to complete'"
    wait_final "$Q" 60
    want_eq "mongodb: it ran after its dependency" "$(st "$P") $(st "$Q")" "completed completed"
else
    skip "after on MongoDB: no server (tests/integration/services.sh starts one)"
fi
finish
