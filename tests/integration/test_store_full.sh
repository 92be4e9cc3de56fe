#!/bin/sh
# test_store_full.sh — a store that fills up while extracting is a resource
# error, retried, never a verdict on the archive (issue 10, item 4).
# The master's files dir is an 8 MiB tmpfs. Two tasks write 5 MiB of random
# bytes each and end together while the master is SIGSTOPped, so both
# uploads pass the free-space check at once (nothing is written yet) and
# then do not fit together: ENOSPC while extracting. Neither task may fail;
# each says the upload failed for want of space; once space is freed (the
# tmpfs grows) the worker's retry stores both, and the completed tasks show
# no stale error.
. tests/integration/lib.sh
IMG=cloudai-test:latest

cat >"$T/cfg.ini" <<CFG
[master]
heartbeat_interval_s = 1
heartbeat_timeout_s = 60
CFG
mkdir -p "$T/small"
if ! mount -t tmpfs -o size=8m tmpfs "$T/small" 2>/dev/null; then
    skip "store full: cannot mount a tmpfs here (needs root)"
    finish
fi
trap 'for _p in $PIDS; do stop_pid "$_p"; done; umount "$T/small" 2>/dev/null; cleanup' EXIT
start_master m -config "$T/cfg.ini" -files "$T/small" || { not_ok "master starts"; exit 1; }
start_worker w -runtime process -cpu 2 -mem 2g -config "$T/cfg.ini" ||
    { not_ok "worker registers"; exit 1; }

CMD="n=0; while [ ! -f '$T/go' ] && [ \$n -lt 600 ]; do sleep 0.1; n=\$((n+1)); done;
head -c 5242880 /dev/urandom > big.bin && sha256sum big.bin"
A=$(submit task $IMG -name full-a -cmd "$CMD") && B=$(submit task $IMG -name full-b -cmd "$CMD") ||
    { not_ok "tasks submitted"; exit 1; }
both_running() { [ "$(tfield "$A" status)" = running ] && [ "$(tfield "$B" status)" = running ]; }
check "store full: both tasks run" wait_for both_running 30

# Both end while the master is stopped: their uploads connect and wait,
# and pass the free-space check together when it resumes.
kill -STOP "$MPID"
touch "$T/go"
wait_for "[ -f '$T/w.outputs/$A.1.result' ] && [ -f '$T/w.outputs/$B.1.result' ]" 30 ||
    ls "$T/w.outputs" | sed 's/^/# /'
sleep 1
kill -CONT "$MPID"

nospace() { grep -q "refused: store: .*No space left on device" "$T/m.log"; }
check "store full: ENOSPC while extracting is reported as a store error" wait_for nospace 60
grep -q "CODE\|archive refused" "$T/m.log" && grep "archive refused" "$T/m.log" | sed 's/^/# /'
# The note may already be the retry's: its free-space check now fails.
noted() { tfield "$1" error | grep -Eq 'upload failed: .*(No space left on device|store full)'; }
if wait_for "noted $A || noted $B" 30; then
    ok "store full: the task says the upload failed for want of space"
else
    not_ok "store full: the task says the upload failed for want of space"
    diag "$(task_json "$A")" "$(task_json "$B")"
fi
grep -q "upload attempt 1 failed: store: .*No space left on device; retrying" "$T/w.log" &&
    ok "store full: the worker was told to retry, not that its archive is bad" ||
    not_ok "store full: the worker was told to retry, not that its archive is bad"
sa=$(tfield "$A" status); sb=$(tfield "$B" status)
if [ "$sa" != failed ] && [ "$sb" != failed ]; then
    ok "store full: neither task failed ($sa, $sb)"
else
    not_ok "store full: neither task failed"; diag "$(task_json "$A")" "$(task_json "$B")"
fi

# Free space: the worker's next retry stores what is left.
mount -o remount,size=64m "$T/small" || not_ok "store full: tmpfs grows"
for id in $A $B; do
    if wait_final "$id" 120; then
        j=$(task_json "$id")
        want_eq "store full: $id completed after the retry" \
            "$(echo "$j" | jget status)/$(echo "$j" | jget exit_code)" completed/0
        want_eq "store full: $id shows no stale error" "$(echo "$j" | jget error)" ""
        f=$(cai files -task "$id" --json | grep '"file_name":"big.bin"')
        want_eq "store full: $id's big.bin stored intact" "$(echo "$f" | jget sha256)" \
            "$(cai logs "$id" 2>/dev/null | awk '$2 == "big.bin" { print $1 }')"
    else
        not_ok "store full: $id completed after the retry"
    fi
done
want_eq "store full: no staging left behind" "$(ls -A "$T/small/.staging" 2>/dev/null)" ""
finish
