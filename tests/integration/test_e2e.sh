#!/bin/sh
# test_e2e.sh — the end-to-end flow on Docker: a master and two Docker
# workers; Example 3 (status.txt, a 50 MiB models/model.pkl, result.txt)
# stored at the layout path with the container's own sha256, indexed and
# downloadable; task names; dispatch; failures (no outputs, exit 3, missing
# image); 20 submissions in one second; cancel.
. tests/integration/lib.sh
IMG=cloudai-test:latest

if ! docker_ok; then
    for c in example3 names dispatch failures burst cancel; do
        skip "e2e $c: Docker unavailable"
    done
    exit 0
fi

# lib.sh's 5 s loss timeout: a worker busy enough under ASan to be marked
# lost mid-burst has its tasks placed again, and a stale attempt stopped
# never touches the new one (test_attempts), so every task still completes.
write_config "$T/cfg.ini"
start_master m -config "$T/cfg.ini" || { not_ok "master starts"; exit 1; }
start_worker w-a -runtime docker -cpu 4 -mem 4g -config "$T/cfg.ini" &&
    start_worker w-b -runtime docker -cpu 4 -mem 4g -config "$T/cfg.ini" ||
    { not_ok "docker workers register"; exit 1; }
FILES=$T/m/files
U=$CLOUDAI_USER

# ---- submit everything that does not depend on anything else, then check.
before=$(date +%s)
EX3=$(submit task $IMG -cmd "cd /output && $EX3_CMD")
AUTO=$(submit task $IMG -cmd 'echo auto > /output/a.txt')
after=$(date +%s)
NAMED=$(submit task $IMG -name experiment-001 -cmd 'echo named > /output/n.txt')
DISP=$(submit dispatch w-b $IMG -name disp -cmd 'echo on-b > /output/b.txt')
EMPTY=$(submit task $IMG -name empty -cmd 'echo nothing to keep')
EXIT3=$(submit task $IMG -name exit3 -cmd 'echo partial > /output/partial.txt; echo about to fail; exit 3')
NOIMG=$(submit task no-such-image:1 -name noimg -cmd true)
SLEEP=$(submit task $IMG -name sleeper -cmd 'sleep 60')

# ---- 1. Example 3
check_example3 example3 "$EX3" "$FILES"

# ---- 2. names: IMAGE-based auto name vs -name
if [ -n "$AUTO" ] && wait_final "$AUTO" 60 && [ -n "$NAMED" ] && wait_final "$NAMED" 60; then
    an=$(tfield "$AUTO" task_name)
    secs=${an##cloudai-test-}
    if [ "$secs" != "$an" ] && [ "$secs" -ge "$before" ] 2>/dev/null && [ "$secs" -le "$after" ]; then
        ok "names: default name is cloudai-test-<unix seconds> ($an)"
    else
        not_ok "names: default name is cloudai-test-<unix seconds>"; diag "got '$an' (submitted $before..$after)"
    fi
    check "names: store directory uses the default name" task_dir "$FILES/$U/$an" "$AUTO"
    want_eq "names: -name is recorded" "$(tfield "$NAMED" task_name)" experiment-001
    check "names: store directory is experiment-001" task_dir "$FILES/$U/experiment-001" "$NAMED"
    ls "$FILES/$U" >"$T/names"
    diag "store dirs: $(tr '\n' ' ' <"$T/names")"
else
    not_ok "names: tasks complete"
fi

# ---- 3. dispatch
if [ -n "$DISP" ] && wait_final "$DISP" 60; then
    want_eq "dispatch: task ran on the named worker" "$(tfield "$DISP" worker_id)" w-b
    want_eq "dispatch: task completed" "$(tfield "$DISP" status)" completed
else
    not_ok "dispatch: task to w-b completes"
fi
cai dispatch no-such-worker $IMG -cmd true >"$T/d.out" 2>"$T/d.err"
rc=$?
if [ $rc -ne 0 ] && grep -q 'no-such-worker' "$T/d.err"; then
    ok "dispatch: unknown worker refused (exit $rc): $(head -n 1 "$T/d.err")"
else
    not_ok "dispatch: unknown worker refused with a clear message"
    diag "exit $rc" "stdout: $(cat "$T/d.out")" "stderr: $(cat "$T/d.err")"
fi

# ---- 5. failures
if [ -n "$EMPTY" ] && wait_final "$EMPTY" 60; then
    j=$(task_json "$EMPTY")
    want_eq "no outputs: task completed" "$(echo "$j" | jget status)" completed
    want_eq "no outputs: output_files 0" "$(echo "$j" | jget output_files)" 0
    want_eq "no outputs: no file records" "$(cai files -task "$EMPTY" --json | grep -c '"file_name"')" 0
else
    not_ok "no outputs: task completes"
fi
if [ -n "$EXIT3" ] && wait_final "$EXIT3" 60; then
    j=$(task_json "$EXIT3")
    want_eq "exit 3: status failed" "$(echo "$j" | jget status)" failed
    want_eq "exit 3: exit_code 3" "$(echo "$j" | jget exit_code)" 3
    check "exit 3: log kept" sh -c "'$CLOUDAI_BIN/cloudai' -master $MADDR logs $EXIT3 | grep -q 'about to fail'"
    # Output upload may finish just after the status turns final.
    wait_for "cai files -task $EXIT3 --json | grep -q '\"file_name\":\"partial.txt\"'" 15
    check "exit 3: its file is listed" sh -c "'$CLOUDAI_BIN/cloudai' -master $MADDR files -task $EXIT3 --json | grep -q '\"file_name\":\"partial.txt\"'"
    d=$(task_dir "$FILES/$U/exit3" "$EXIT3")
    want_eq "exit 3: its file is stored" "$(cat "$d/partial.txt" 2>/dev/null)" partial
else
    not_ok "exit 3: task finishes"
fi
if [ -n "$NOIMG" ] && wait_final "$NOIMG" 30; then
    j=$(task_json "$NOIMG")
    want_eq "missing image: status failed" "$(echo "$j" | jget status)" failed
    err=$(echo "$j" | jget error)
    if echo "$err" | grep -Eqi 'not present|no such image|not found|not available'; then
        ok "missing image: error says the image is not present ($err)"
    else
        not_ok "missing image: error says the image is not present"; diag "error: '$err'"
    fi
    fast=$(( $(echo "$j" | jget completed_at) - $(echo "$j" | jget created_at) ))
    diag "missing image: failed ${fast} ms after submission, attempts $(echo "$j" | jget attempts)"
else
    not_ok "missing image: task fails fast"
fi

# ---- cancel of a running sleep 60
if [ -n "$SLEEP" ] && wait_for "[ \"\$(tfield $SLEEP status)\" = running ]" 30; then
    t0=$(date +%s)
    cai cancel "$SLEEP" >"$T/c.out" 2>&1 || diag "cancel: $(cat "$T/c.out")"
    if wait_for "[ \"\$(tfield $SLEEP status)\" = cancelled ]" 15; then
        ok "cancel: running sleep 60 cancelled in $(($(date +%s) - t0)) s"
    else
        not_ok "cancel: running sleep 60 cancelled within 15 s"; diag "$(task_json "$SLEEP")"
    fi
else
    not_ok "cancel: sleep task reaches running"
fi

# ---- 6. 20 submissions within one second
t0=$(date +%s%N)
i=0; bpids=""
while [ $i -lt 20 ]; do
    cai task $IMG -name burst -cpu_cores 0.25 -mem 64m -cmd 'echo x > /output/x.txt' -json \
        >"$T/burst.$i" 2>&1 &
    bpids="$bpids $!"
    i=$((i + 1))
done
for p in $bpids; do wait "$p"; done   # a bare wait would wait for the daemons too
t1=$(date +%s%N)
for f in "$T"/burst.*; do jget task_id <"$f"; done >"$T/burst.ids"
for f in "$T"/burst.*; do   # a submission without an id: say what it printed
    [ -n "$(jget task_id <"$f")" ] || diag "submission ${f##*.}: $(head -c 300 "$f")"
done
cat "$T/burst.ids" >>"$T/task_ids"
diag "20 submissions took $(( (t1 - t0) / 1000000 )) ms (ASan clients in parallel)"
want_eq "burst: 20 distinct task ids" "$(sort -u "$T/burst.ids" | grep -c .)" 20
# Ids embed the submit second; show how many share one (the interesting case).
diag "largest group of ids in one second: $(cut -d- -f2 "$T/burst.ids" | sort | uniq -c | sort -rn | head -n 1)"
burst_done() { [ "$(cai tasks -name burst -status completed --json | grep -c '"task_id"')" -ge 20 ]; }
if wait_for burst_done 90; then
    ok "burst: 20 tasks completed"
else
    not_ok "burst: 20 tasks completed"; cai tasks -name burst | sed 's/^/# /'
fi
want_eq "burst: 20 task directories" "$(ls -d "$FILES/$U/burst"/*/* 2>/dev/null | grep -c .)" 20

finish
