#!/bin/sh
# test_pipeline.sh — submissions pipelined on one connection are answered
# in order after one shared store sync per burst (group commit), and every
# acknowledged task survives a crash: bench_submit sends 400 SUBMITs with a
# window of 16 on one connection, the master is killed with SIGKILL right
# after the last acknowledgement, restarted on the same data, and must list
# all 400 tasks.
. tests/integration/lib.sh
N=400
SUB=$CLOUDAI_BIN/tests/tools/bench_submit
[ -x "$SUB" ] || { not_ok "bench_submit tool built"; finish; }

start_master p || { not_ok "master starts"; finish; }
PORT=${MADDR##*:}
out=$("$SUB" "$MADDR" $N true cloudai-test:latest 1 2>&1)
case $out in "$N "*) ok "$N pipelined submissions acknowledged on one connection" ;;
    *) not_ok "$N pipelined submissions acknowledged on one connection"; diag "$out" ;; esac
kill -KILL "$MPID"; wait "$MPID" 2>/dev/null; stop_pid "$MPID"

LISTEN=127.0.0.1:$PORT MDATA=p start_master p2 || { not_ok "master restarts"; finish; }
n=$(cai tasks --json 2>/dev/null | grep -c '"task_id"')
[ "$n" = "$N" ] && ok "all $N acknowledged tasks survive SIGKILL" ||
    { not_ok "all $N acknowledged tasks survive SIGKILL"; diag "listed $n"; }
q=$(cai tasks -status queued --json 2>/dev/null | grep -c '"task_id"')
[ "$q" = "$N" ] && ok "they are queued again after the restart" ||
    { not_ok "they are queued again after the restart"; diag "queued $q"; }
finish
