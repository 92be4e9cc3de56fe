#!/bin/sh
# test_retries.sh — -retries N (README "Retries"), on the process runtime
# and on Docker (cloudai-test:latest), retry_backoff_s = 1: a task that
# fails twice then succeeds completes as attempt 3, with 2 retries used;
# every attempt's output is kept and indexed (<id>.attempt-1, -2: files,
# get), the last one is the task's own (files, get); one that keeps failing
# ends failed with its last exit code after N re-runs; exit 0 is never
# re-run; a cancelled run is not re-run; -retries out of range refused.
. tests/integration/lib.sh
IMG=cloudai-test:latest

write_config "$T/cfg.ini"
echo "retry_backoff_s = 1" >>"$T/cfg.ini"
start_master m -config "$T/cfg.ini" || { not_ok "master starts"; exit 1; }
start_worker w-proc -runtime process -cpu 2 -mem 2g -config "$T/cfg.ini" ||
    { not_ok "process worker registers"; exit 1; }
RUNTIMES=w-proc
if docker_ok; then
    start_worker w-dock -runtime docker -cpu 2 -mem 2g -config "$T/cfg.ini" &&
        RUNTIMES="w-proc w-dock" || not_ok "docker worker registers"
else
    skip "retries on docker: no Docker or no image"
fi

for W in $RUNTIMES; do
    # Fails on its first two runs (process runtime: it counts its runs in
    # a file outside its output, which a container could not see).
    mkdir -p "$T/cnt-$W"
    CMD="n=\$(cat $T/cnt-$W/n 2>/dev/null || echo 0); n=\$((n+1)); echo \$n > $T/cnt-$W/n; echo run \$n > out.txt; [ \$n -ge 3 ]"
    if [ "$W" = w-proc ]; then
        R=$(submit dispatch "$W" $IMG -name flaky-$W -mem 64m -retries 3 -cmd "$CMD")
        r=$(cai wait "$R" >/dev/null 2>&1; echo $?)
        want_eq "$W: fails twice, then completes (wait exits 0)" "$r" 0
        j=$(task_json "$R")
        want_eq "$W: attempt 3, 2 retries used" \
            "$(echo "$j" | jget status) $(echo "$j" | jget attempts) $(echo "$j" | jget retried)" "completed 3 2"
        want_eq "$W: the task's own output is the last attempt's" \
            "$(cai files -task "$R" --json | grep -c '"file_name":"out.txt"')" 1
        rm -rf "$T/dl"; cai get "$R" "$T/dl" >/dev/null 2>&1
        want_eq "$W: get gives the last attempt's file" "$(cat "$T/dl/out.txt" 2>/dev/null)" "run 3"
        for k in 1 2; do
            rm -rf "$T/dl$k"; cai get "$R.attempt-$k" "$T/dl$k" >/dev/null 2>&1
            want_eq "$W: attempt $k's output is kept and indexed ($R.attempt-$k)" \
                "$(cat "$T/dl$k/out.txt" 2>/dev/null) $(cai files -task "$R.attempt-$k" --json | grep -c '"file_name":"out.txt"')" "run $k 1"
        done
        check "$W: tasks shows the attempts" \
            sh -c "$CLOUDAI_BIN/cloudai -master $MADDR tasks -task $R | grep -q 'attempts 3; -retries 3, 2 used'"
    fi
    # Always fails: N re-runs, then failed with its exit code.
    A=$(submit dispatch "$W" $IMG -name always-$W -mem 64m -retries 2 -cmd 'echo x > "$OUTPUT_DIR/x.txt"; exit 4')
    r=$(cai wait "$A" >/dev/null 2>&1; echo $?)
    want_eq "$W: a task that keeps failing ends failed with its exit code (wait: 4)" "$r" 4
    j=$(task_json "$A")
    want_eq "$W: after 1 + 2 runs" "$(echo "$j" | jget attempts) $(echo "$j" | jget retried)" "3 2"
    for k in 1 2; do
        want_eq "$W: attempt $k of the failing task is indexed" \
            "$(cai files -task "$A.attempt-$k" --json | grep -c '"file_name":"x.txt"')" 1
    done
    want_eq "$W: its last attempt is the task's own" "$(cai files -task "$A" --json | grep -c '"file_name":"x.txt"')" 1
    # Exit 0 is never re-run.
    O=$(submit dispatch "$W" $IMG -name once-$W -mem 64m -retries 3 -cmd true)
    cai wait "$O" >/dev/null 2>&1
    want_eq "$W: a completed task is not re-run" "$(tfield "$O" attempts) $(tfield "$O" retried)" "1 0"
done

# A cancelled run is not re-run.
C=$(submit task $IMG -name cancelme -mem 64m -retries 3 -cmd 'sleep 30')
wait_for "[ \"\$(tfield $C status)\" = running ]" 30
cai cancel "$C" >/dev/null
wait_final "$C" 30
want_eq "a cancelled task is not re-run" "$(tfield "$C" status) $(tfield "$C" retried)" "cancelled 0"
cai task $IMG -retries 101 -cmd true >/dev/null 2>"$T/e"; r=$?
want_eq "-retries above 100 is refused" "$r" 2
cai get "$O.attempt-1" "$T/nope" >/dev/null 2>&1; r=$?
check "an attempt that was not re-run has no run of its own" [ "$r" -ne 0 ]
finish
