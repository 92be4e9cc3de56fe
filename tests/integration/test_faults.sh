#!/bin/sh
# test_faults.sh — fault injection with real processes (process runtime,
# so no Docker is needed and a stopped worker's task keeps running):
#  1. SIGKILL a worker mid-task: the task completes on the other worker.
#  2. SIGSTOP a worker mid-task: lost after the heartbeat timeout, re-queued
#     on the other; SIGCONT: it reconnects, the master cancels its duplicate
#     run, exactly one completion is recorded.
#  3. SIGKILL the master mid-upload (300 MiB), restart it on the same port
#     and dirs: the worker re-uploads by itself, files intact (sha256).
#  4. Store full (a 2 MiB tmpfs as files dir): the upload fails with a clear
#     error, the task says why, the worker keeps the output.
#  5. A task over its -timeout is stopped and failed with that reason.
. tests/integration/lib.sh

cat >"$T/cfg.ini" <<EOF
[master]
heartbeat_interval_s = 1
heartbeat_timeout_s = 3
max_attempts = 3
EOF
start_master m -config "$T/cfg.ini" || { not_ok "master starts"; exit 1; }
FILES=$T/m/files
start_worker w-a -runtime process -cpu 1 -mem 1g -config "$T/cfg.ini" &&
    WA=$WPID && start_worker w-b -runtime process -cpu 1 -mem 1g -config "$T/cfg.ini" && WB=$WPID ||
    { not_ok "workers register"; exit 1; }

pid_of() { [ "$1" = w-a ] && echo "$WA" || echo "$WB"; }
other_of() { [ "$1" = w-a ] && echo w-b || echo w-a; }
running_on() { # ID — the worker once the task runs
    [ "$(tfield "$1" status)" = running ] && tfield "$1" worker_id
}

# ---- 1. SIGKILL a worker mid-task
K=$(submit task busybox -name killme -cmd 'sleep 12; echo survived > k.txt')
if [ -n "$K" ] && wait_for "[ -n \"\$(running_on $K)\" ]" 20; then
    V=$(running_on "$K"); O=$(other_of "$V")
    kill -KILL "$(pid_of "$V")"
    if wait_final "$K" 45 && [ "$(tfield "$K" status)" = completed ]; then
        want_eq "SIGKILL worker: task completes on the other worker" "$(tfield "$K" worker_id)" "$O"
        want_eq "SIGKILL worker: attempts counted" "$(tfield "$K" attempts)" 2
        [ -n "$(find "$FILES" -path "*/$K/k.txt")" ] && ok "SIGKILL worker: output stored" ||
            not_ok "SIGKILL worker: output stored"
    else
        not_ok "SIGKILL worker: task completes on the other worker"; diag "$(task_json "$K")"
    fi
    grep -q "worker $V lost" "$T/m.log" && ok "SIGKILL worker: master marks it lost" ||
        not_ok "SIGKILL worker: master marks it lost"
    # Bring the killed worker back (same id, same outputs) for what follows.
    start_worker "$V" -runtime process -cpu 1 -mem 1g -config "$T/cfg.ini" ||
        not_ok "killed worker restarts"
    if [ "$V" = w-a ]; then WA=$WPID; else WB=$WPID; fi
else
    not_ok "SIGKILL worker: task starts"
fi

# ---- 2. SIGSTOP / SIGCONT
S=$(submit task busybox -name stopme -cmd 'sleep 12; echo "$OUTPUT_DIR" > s.txt')
if [ -n "$S" ] && wait_for "[ -n \"\$(running_on $S)\" ]" 20; then
    V=$(running_on "$S"); O=$(other_of "$V"); VP=$(pid_of "$V")
    kill -STOP "$VP"
    if wait_for "[ \"\$(tfield $S worker_id)\" = $O ]" 20; then
        ok "SIGSTOP worker: lost after the heartbeat timeout, task re-queued on $O"
    else
        not_ok "SIGSTOP worker: lost after the heartbeat timeout, task re-queued on $O"; diag "$(task_json "$S")"
    fi
    kill -CONT "$VP"
    if wait_for "grep -q 'worker $V still runs task $S, which now belongs elsewhere' '$T/m.log'" 20; then
        ok "SIGCONT: the worker reconnects and the master cancels its duplicate run"
    else
        not_ok "SIGCONT: the worker reconnects and the master cancels its duplicate run"
    fi
    wait_for "grep -q 'task $S attempt 1: cancel requested by the master' '$T/$V.log'" 10 &&
        ok "SIGCONT: the stale worker stops its copy" || not_ok "SIGCONT: the stale worker stops its copy"
    if wait_final "$S" 40; then
        want_eq "SIGSTOP: task completed" "$(tfield "$S" status)" completed
        want_eq "SIGSTOP: by the other worker" "$(tfield "$S" worker_id)" "$O"
        want_eq "SIGSTOP: exactly one completion recorded" "$(grep -c "task $S completed" "$T/m.log")" 1
        out=$(cat "$(find "$FILES" -path "*/$S/s.txt" | head -n 1)" 2>/dev/null)
        case $out in *"/$O.outputs/"*) ok "SIGSTOP: the stored output is the other worker's run" ;;
            *) not_ok "SIGSTOP: the stored output is the other worker's run"; diag "s.txt: $out" ;; esac
    else
        not_ok "SIGSTOP: task completed"
    fi
    wait_for "worker_ready $V" 15 && ok "SIGCONT: the stopped worker is ready again" ||
        not_ok "SIGCONT: the stopped worker is ready again"
else
    not_ok "SIGSTOP worker: task starts"
fi

# ---- 3. SIGKILL the master mid-upload, restart it on the same port
BIG='head -c 314572800 /dev/urandom > big.bin && echo small > small.txt && sha256sum big.bin small.txt'
U=$(submit task busybox -name bigup -cmd "$BIG")
if [ -n "$U" ] && wait_for "[ -n \"\$(ls -A '$FILES/.staging' 2>/dev/null)\" ]" 90; then
    PORT_ADDR=$MADDR
    W=$(tfield "$U" worker_id)
    kill -KILL "$MPID"; wait "$MPID" 2>/dev/null
    ok "master SIGKILLed mid-upload (staging present)"
    LISTEN=$PORT_ADDR start_master m -config "$T/cfg.ini" || not_ok "master restarts on $PORT_ADDR"
    want_eq "master restarts on the same address" "$MADDR" "$PORT_ADDR"
    if wait_final "$U" 120; then
        want_eq "master restart: task completes" "$(tfield "$U" status)" completed
        d=$(dirname "$(find "$FILES" -path "*/$U/big.bin" | head -n 1)")
        cai logs "$U" >"$T/u.log" 2>&1
        for f in big.bin small.txt; do
            want=$(awk -v f="$f" '$2 == f { print $1 }' "$T/u.log" | head -n 1)
            got=$(sha_of "$d/$f" 2>/dev/null)
            if [ -n "$want" ] && [ "$want" = "$got" ]; then ok "master restart: $f intact (sha256 as computed by the task)"
            else not_ok "master restart: $f intact (sha256 as computed by the task)"; diag "want $want got $got"; fi
        done
        want_eq "master restart: two file records" "$(cai files -task "$U" --json | grep -c '"file_name"')" 2
        [ -z "$(ls -A "$FILES/.staging" 2>/dev/null)" ] && ok "master restart: no staging left" ||
            not_ok "master restart: no staging left"
        [ -z "$(ls "$T/$W.outputs" | grep "^$U")" ] && ok "master restart: the worker deleted its copy after the ack" ||
            not_ok "master restart: the worker deleted its copy after the ack"
    else
        not_ok "master restart: task completes"; diag "$(task_json "$U")"
    fi
else
    not_ok "master SIGKILLed mid-upload: upload never started"; diag "$(task_json "$U")"
fi

# ---- 5. time limit (before the store-full cluster replaces $MADDR)
TO=$(submit task busybox -name slow -timeout 2 -cmd 'sleep 60')
if [ -n "$TO" ] && wait_final "$TO" 40; then
    want_eq "timeout: task failed" "$(tfield "$TO" status)" failed
    case $(tfield "$TO" error) in *"time limit"*) ok "timeout: the task says it hit its time limit" ;;
        *) not_ok "timeout: the task says it hit its time limit"; diag "$(task_json "$TO")" ;; esac
else
    not_ok "timeout: task stopped"
fi

# ---- 4. store full: a 2 MiB tmpfs as the files dir of a second master
mkdir -p "$T/small"
if mount -t tmpfs -o size=2m tmpfs "$T/small" 2>/dev/null; then
    trap 'for _p in $PIDS; do stop_pid "$_p"; done; umount "$T/small" 2>/dev/null; cleanup' EXIT
    start_master s -config "$T/cfg.ini" -files "$T/small" || not_ok "small master starts"
    start_worker w-s -runtime process -cpu 1 -mem 1g -config "$T/cfg.ini" || not_ok "w-s registers"
    F=$(submit task busybox -name full -cmd 'head -c 5000000 /dev/urandom > five.bin')
    if [ -n "$F" ] && wait_for "tfield $F error | grep -q 'upload failed'" 40; then
        e=$(tfield "$F" error)
        case $e in *"store full"*|*"No space"*) ok "store full: the task says why ($e)" ;;
            *) not_ok "store full: the task says why"; diag "$e" ;; esac
        [ "$(tfield "$F" status)" != completed ] && ok "store full: the task is not completed" ||
            not_ok "store full: the task is not completed"
        [ -n "$(ls "$T/w-s.outputs/$F".*/five.bin 2>/dev/null)" ] && ok "store full: the worker keeps the output" ||
            not_ok "store full: the worker keeps the output"
        grep -q "task $F: upload attempt .* failed" "$T/w-s.log" && ok "store full: the worker retries later" ||
            not_ok "store full: the worker retries later"
        [ -z "$(find "$T/small" -name five.bin)" ] && ok "store full: nothing half-written in the store" ||
            not_ok "store full: nothing half-written in the store"
    else
        not_ok "store full: upload fails with a clear error"; diag "$(task_json "$F")"
    fi
else
    skip "store full: cannot mount a tmpfs here"
fi
# No daemon may have hit a sanitizer report on the way.
if grep -l -E 'AddressSanitizer|runtime error:' "$T"/*.log >/dev/null 2>&1; then
    not_ok "no sanitizer reports in the daemon logs"; grep -h -A5 -E 'AddressSanitizer|runtime error:' "$T"/*.log | head -20 | sed 's/^/# /'
else ok "no sanitizer reports in the daemon logs"; fi
exit 0
