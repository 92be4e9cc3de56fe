#!/bin/sh
# test_process.sh — the process runtime (no Docker needed): Example 3 with
# relative paths (cwd is the output directory), $OUTPUT_DIR with an exact
# argv, a task with no outputs, exit 3 after writing files, and cancel of
# a running `sleep 60`.
. tests/integration/lib.sh
IMG=cloudai-test:latest

write_config "$T/cfg.ini"
start_master m -config "$T/cfg.ini" || { not_ok "master starts"; exit 1; }
start_worker w-proc -runtime process -cpu 4 -mem 4g -config "$T/cfg.ini" ||
    { not_ok "process worker registers"; exit 1; }
FILES=$T/m/files
U=$CLOUDAI_USER
# libmongoc makes /dev/shm/mongoc-<pid> when it loads (journal backend
# too) and removes it only in mongoc_cleanup, which a master ending in
# _exit or killed never reaches: one file was left per run.
if [ -e "/dev/shm/mongoc-$MPID" ]; then
    not_ok "master: no libmongoc counters file left in /dev/shm"
else
    ok "master: no libmongoc counters file left in /dev/shm"
fi
nthreads() { ls "/proc/$WPID/task" 2>/dev/null | wc -l; }
THR0=$(nthreads)     # before any task: main, heartbeat, log shipping, signals

EX3=$(submit task $IMG -name proc-ex3 -cmd "$EX3_CMD")
ENV=$(submit task $IMG -name proc-env -- sh -c 'echo via-env > "$OUTPUT_DIR/env.txt"')
EMPTY=$(submit task $IMG -name proc-empty -cmd 'echo nothing to keep')
EXIT3=$(submit task $IMG -name proc-exit3 -cmd 'mkdir -p sub && echo partial > sub/partial.txt; echo about to fail; exit 3')
# Commands without shell syntax are exec'd directly (no /bin/sh); the
# shell still decides what it always did: builtins (its echo), programs
# not in PATH (127), paths that cannot be exec'd.
D_LS=$(submit task $IMG -name proc-direct -cmd 'ls -d .')
D_FALSE=$(submit task $IMG -name proc-false -cmd 'false')
D_ECHO=$(submit task $IMG -name proc-echo -cmd 'echo -e x')
D_NF=$(submit task $IMG -name proc-nf -cmd 'no-such-program-42 a')
D_ABS=$(submit task $IMG -name proc-abs -cmd '/no/such/program b')
SLP=60.0$$     # a unique argument, so pgrep finds only our sleep
SLEEP=$(submit task $IMG -name proc-sleep -cmd "sleep $SLP")

check_example3 process-example3 "$EX3" "$FILES"

if [ -n "$ENV" ] && wait_final "$ENV" 30; then
    want_eq "process: argv task completed" "$(tfield "$ENV" status)" completed
    d=$(task_dir "$FILES/$U/proc-env" "$ENV")
    want_eq "process: \$OUTPUT_DIR file stored" "$(cat "$d/env.txt" 2>/dev/null)" via-env
else
    not_ok "process: argv task finishes"
fi

if [ -n "$EMPTY" ] && wait_final "$EMPTY" 30; then
    want_eq "process no outputs: completed" "$(tfield "$EMPTY" status)" completed
    want_eq "process no outputs: output_files 0" "$(tfield "$EMPTY" output_files)" 0
    want_eq "process no outputs: no file records" "$(cai files -task "$EMPTY" --json | grep -c '"file_name"')" 0
else
    not_ok "process no outputs: task finishes"
fi

if [ -n "$EXIT3" ] && wait_final "$EXIT3" 30; then
    j=$(task_json "$EXIT3")
    want_eq "process exit 3: status failed" "$(echo "$j" | jget status)" failed
    want_eq "process exit 3: exit_code 3" "$(echo "$j" | jget exit_code)" 3
    check "process exit 3: log kept" sh -c "'$CLOUDAI_BIN/cloudai' -master $MADDR logs $EXIT3 | grep -q 'about to fail'"
    wait_for "cai files -task $EXIT3 --json | grep -q sub/partial.txt" 15
    check "process exit 3: its file is listed" sh -c "'$CLOUDAI_BIN/cloudai' -master $MADDR files -task $EXIT3 --json | grep -q '\"file_name\":\"sub/partial.txt\"'"
    d=$(task_dir "$FILES/$U/proc-exit3" "$EXIT3")
    want_eq "process exit 3: its file is stored" "$(cat "$d/sub/partial.txt" 2>/dev/null)" partial
else
    not_ok "process exit 3: task finishes"
fi

# exit_code and log of a finished task: "CODE|LOG"
code_log() { wait_final "$1" 30 && echo "$(tfield "$1" exit_code)|$(cai logs "$1" 2>&1 | tr '\n' ' ')"; }
want_eq "direct exec: ls -d . ran, exit 0" "$(code_log "$D_LS")" "0|. "
want_eq "direct exec: false exits 1" "$(code_log "$D_FALSE" | cut -d'|' -f1)" 1
want_eq "shell builtin kept: echo -e is the shell's (dash prints -e)" "$(code_log "$D_ECHO")" "0|-e x "
r=$(code_log "$D_NF")
case $r in 127\|*not\ found*) ok "program not in PATH: the shell's 127 and message" ;;
    *) not_ok "program not in PATH: the shell's 127 and message"; diag "$r" ;; esac
r=$(code_log "$D_ABS")
case $r in 127\|*not\ found*|127\|*No\ such*) ok "absolute path that cannot be exec'd: the shell's 127" ;;
    *) not_ok "absolute path that cannot be exec'd: the shell's 127"; diag "$r" ;; esac

if [ -n "$SLEEP" ] && wait_for "[ \"\$(tfield $SLEEP status)\" = running ]" 30; then
    t0=$(date +%s)
    cai cancel "$SLEEP" >"$T/c.out" 2>&1 || diag "cancel: $(cat "$T/c.out")"
    if wait_for "[ \"\$(tfield $SLEEP status)\" = cancelled ]" 15; then
        ok "process cancel: running sleep 60 cancelled in $(($(date +%s) - t0)) s"
    else
        not_ok "process cancel: running sleep 60 cancelled within 15 s"; diag "$(task_json "$SLEEP")"
    fi
    # The process group is gone, not just the shell.
    check "process cancel: no sleep process left behind" wait_for "! pgrep -f 'sleep $SLP'" 10
else
    not_ok "process cancel: sleep task reaches running"
fi

# To a master on the same host, adaptive compression (the default) deflates
# nothing: 24 MiB of log lines, past the 12th chunk where an exploration
# would start, go out as they are. (Across hosts it does: test_netns.)
TXT=$(submit task $IMG -name proc-text -cmd 'yes "a line of a log, repeated" | head -c 25165824 > log.txt')
if [ -n "$TXT" ] && wait_final "$TXT" 60; then
    up=$(grep "task $TXT: uploaded" "$T/w-proc.log" | sed -E 's/.*uploaded ([0-9]+) bytes \(([0-9]+) on the wire.*/\1 \2/')
    check "same host: a text output goes out stored ($up)" sh -c "set -- $up; [ \"\$1\" -gt 25165824 ] && [ \"\$2\" = \"\$1\" ]"
else
    not_ok "process: text output task finishes"
fi

# Task threads are kept for the next task (a new thread's stack costs TLB
# flushes on every core): an idle one remains after a task, tasks
# run one after another reuse them, and a stop does not wait for their
# idle timeout (30 s).
# settled: every task run here has had its output taken (no thread busy)
settled() { [ "$(grep -c ': running .* on process' "$T/w-proc.log")" = "$(grep -c 'output stored by the master' "$T/w-proc.log")" ]; }
# A task just before counting: its thread has been idle for far less than
# 30 s however slow the tests above were.
id=$(submit task $IMG -name proc-seq0 -cmd 'true')
wait_final "$id" 30
wait_for settled 30
THR1=$(nthreads)
if [ "$THR1" -gt "$THR0" ]; then ok "task threads: kept after their tasks ($THR0 -> $THR1)"
else not_ok "task threads: kept after their tasks ($THR0 -> $THR1)"; fi
seq_ok=1
for i in 1 2 3 4 5; do
    id=$(submit task $IMG -name "proc-seq$i" -cmd 'true')
    wait_final "$id" 30 || seq_ok=0
done
wait_for settled 30
THR2=$(nthreads)
# At most one more: a task may be assigned while the thread of the one
# before it is still tidying up after its acknowledgement.
if [ "$seq_ok" = 1 ] && [ "$THR2" -le $((THR1 + 1)) ]; then ok "task threads: 5 tasks in a row reuse them ($THR1 -> $THR2)"
else not_ok "task threads: 5 tasks in a row reuse them ($THR1 -> $THR2, all completed: $seq_ok)"; fi
t0=$(date +%s)
kill -TERM "$WPID"
if wait_for "! kill -0 $WPID" 8; then ok "worker with idle task threads stops in $(($(date +%s) - t0)) s"
else not_ok "worker with idle task threads stops within 8 s"; fi
finish
