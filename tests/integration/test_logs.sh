#!/bin/sh
# test_logs.sh — live logs (proto.txt 9.1, issue 13), on the process runtime
# and on Docker (the test image of services.sh):
#  - `logs -f` prints the first line while the task still runs: proved by
#    ordering, not timing (the task waits for a gate file the test creates
#    only after the follower printed its first line), then follows to the
#    end and exits with the task's exit code; stdout and stderr both there,
#    every line once, in order, the same as `logs` afterwards;
#  - a 5 MiB log is kept whole (byte for byte; on Docker each stream, as
#    the daemon copies stdout and stderr apart); a 7 MiB one is cut at the
#    cap ([storage] max_log_bytes = 6 MiB), marked at the end of the log and
#    in the task's notes;
#  - a master restart while a task writes (the worker reconnects and resumes
#    by offset): every line once, in order; a `logs -f` across the restart
#    dials again and resumes too;
#  - `logs -f` of a finished task prints it and ends at once;
#  - GET /api/tasks/ID/log?follow=1: server-sent events while the task
#    runs, its exit code at the end, resumed by Last-Event-ID; ?tail=N.
. tests/integration/lib.sh
IMG=cloudai-test:latest

write_config "$T/cfg.ini"
cat >>"$T/cfg.ini" <<EOF
[storage]
max_log_bytes = 6MiB
[http]
listen = 127.0.0.1:0
EOF

# The live task: 15 lines (and 15 on stderr) at 0.2 s, then waits (at most
# 60 s) for the gate file in its output directory, then exits 7.
LIVE_CMD='i=0; while [ $i -lt 15 ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); sleep 0.2; done; n=0; while [ ! -f "$OUTPUT_DIR/go" ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n+1)); done; rm -f "$OUTPUT_DIR/go"; echo done; exit 7'
# 5 MiB: 81920 lines of 64 bytes, then a line on stderr.
LINE=abcdefghij0123456789abcdefghij0123456789abcdefghij0123456789abc
BIG_CMD="yes $LINE | head -n 81920; echo big-end >&2"
HUGE_CMD="yes $LINE | head -n 114688; echo huge-end >&2"

live_test() { # RUNTIME WORKER
    rt=$1; w=$2
    id=$(submit task $IMG -name "live-$rt" -cmd "$LIVE_CMD") || { not_ok "$rt: live task submitted"; return; }
    cai logs -f "$id" >"$T/$rt.follow" 2>"$T/$rt.follow.err" &
    fpid=$!
    if wait_for "grep -q '^out 0\$' '$T/$rt.follow'" 60; then
        st=$(tfield "$id" status)
        # The task cannot end before the gate exists: the line came first.
        want_eq "$rt: logs -f prints the first line while the task runs" "$st" running
    else
        not_ok "$rt: logs -f prints the first line"; diag "$(cat "$T/$rt.follow.err")"
    fi
    gate=$(for d in "$T/$w.outputs/$id".*; do [ -d "$d" ] && echo "$d"; done | head -n 1)
    [ -n "$gate" ] && touch "$gate/go" || diag "no output dir for $id under $T/$w.outputs"
    n=0; while kill -0 "$fpid" 2>/dev/null && [ $n -lt 600 ]; do sleep 0.1; n=$((n + 1)); done
    wait "$fpid"; frc=$?
    want_eq "$rt: logs -f ends with the task's exit code" "$frc" 7
    want_eq "$rt: followed log has all 15 stdout lines in order" \
        "$(grep '^out ' "$T/$rt.follow" | tr '\n' ' ')" "$(i=0; while [ $i -lt 15 ]; do printf 'out %d ' $i; i=$((i+1)); done)"
    want_eq "$rt: followed log has all 15 stderr lines in order" \
        "$(grep '^err ' "$T/$rt.follow" | tr '\n' ' ')" "$(i=0; while [ $i -lt 15 ]; do printf 'err %d ' $i; i=$((i+1)); done)"
    want_eq "$rt: followed log ends with the task's last line" "$(tail -n 1 "$T/$rt.follow")" done
    wait_final "$id" 60
    cai logs "$id" >"$T/$rt.whole" 2>/dev/null
    if cmp -s "$T/$rt.whole" "$T/$rt.follow"; then ok "$rt: logs after the end = what -f printed"
    else not_ok "$rt: logs after the end = what -f printed"; diag "$(diff "$T/$rt.whole" "$T/$rt.follow" | head -5)"; fi
    # A finished task: -f prints it and ends at once, with its code.
    cai logs -f "$id" >"$T/$rt.again" 2>/dev/null; arc=$?
    want_eq "$rt: logs -f of a finished task exits with its code" "$arc" 7
    check "$rt: logs -f of a finished task prints the whole log" cmp -s "$T/$rt.again" "$T/$rt.whole"
    # By name: the newest run of that name, whatever its state.
    cai logs -name "live-$rt" >"$T/$rt.byname" 2>"$T/$rt.byname.err"
    check "$rt: logs -name NAME prints the newest run's log" cmp -s "$T/$rt.byname" "$T/$rt.whole"
    check "$rt: logs -name NAME says which run it is" \
        grep -q "^cloudai: $id is the newest run named 'live-$rt'\$" "$T/$rt.byname.err"
}

big_test() { # RUNTIME
    rt=$1
    big=$(submit task $IMG -name "big-$rt" -cmd "$BIG_CMD") || { not_ok "$rt: 5 MiB task submitted"; return; }
    huge=$(submit task $IMG -name "huge-$rt" -cmd "$HUGE_CMD") || { not_ok "$rt: 7 MiB task submitted"; return; }
    { yes $LINE | head -n 81920; echo big-end; } >"$T/big.want"
    if wait_final "$big" 120; then
        cai logs "$big" >"$T/$rt.big" 2>"$T/$rt.big.err"
        if [ "$rt" = process ]; then
            want_eq "$rt: 5 MiB log kept whole (sha256)" "$(sha_of "$T/$rt.big")" "$(sha_of "$T/big.want")"
        else
            # Docker copies stdout and stderr separately: the stderr line
            # may come before the last stdout bytes; each stream is whole.
            want_eq "$rt: 5 MiB log kept whole (stdout sha256, size)" \
                "$(grep -v '^big-end$' "$T/$rt.big" | sha256sum | cut -d' ' -f1) $(wc -c <"$T/$rt.big")" \
                "$(grep -v '^big-end$' "$T/big.want" | sha256sum | cut -d' ' -f1) $(wc -c <"$T/big.want")"
            want_eq "$rt: 5 MiB log: the stderr line once" "$(grep -c '^big-end$' "$T/$rt.big")" 1
        fi
        check "$rt: 5 MiB log has no cut note" sh -c "! grep -q 'cut at' '$T/$rt.big.err'"
    else
        not_ok "$rt: 5 MiB task finishes"
    fi
    if wait_final "$huge" 120; then
        cai logs "$huge" >"$T/$rt.huge" 2>"$T/$rt.huge.err"
        # 6 MiB of log, then the marker line.
        want_eq "$rt: 7 MiB log: the first 6 MiB kept" \
            "$(head -c 6291456 "$T/$rt.huge" | sha256sum | cut -d' ' -f1)" \
            "$(yes $LINE | head -c 6291456 | sha256sum | cut -d' ' -f1)"
        check "$rt: 7 MiB log: the cut is marked in the log" \
            sh -c "tail -n 1 '$T/$rt.huge' | grep -q 'cloudai: log cut at 6291456 bytes'"
        check "$rt: 7 MiB log: logs says it was cut" grep -q 'cut at 6291456' "$T/$rt.huge.err"
        case $(tfield "$huge" notes) in
        *"log: 7340041 bytes written, the first 6291456 kept"*) ok "$rt: 7 MiB log: the task's notes say what was dropped" ;;
        *) not_ok "$rt: 7 MiB log: the task's notes say what was dropped"; diag "$(task_json "$huge")" ;;
        esac
    else
        not_ok "$rt: 7 MiB task finishes"
    fi
}

# The same over HTTP: server-sent events while the task runs (ordering by
# a gate, as above), resumed by Last-Event-ID without duplicates; ?tail=N.
sse_test() {
    id=$(submit task $IMG -name sse -cmd 'echo "s 1"; echo "s 2" >&2; n=0; while [ ! -f "$OUTPUT_DIR/go" ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n+1)); done; rm -f "$OUTPUT_DIR/go"; echo "s 3"; exit 4') ||
        { not_ok "sse: task submitted"; return; }
    curl -sN --max-time 120 "http://$HADDR/api/tasks/$id/log?follow=1" >"$T/sse.out" 2>/dev/null &
    cpid=$!
    if wait_for "grep -q '^data: s 2\$' '$T/sse.out'" 60; then
        want_eq "sse: lines arrive while the task runs" "$(tfield "$id" status)" running
    else
        not_ok "sse: lines arrive while the task runs"
    fi
    for d in "$T/w-proc.outputs/$id".*; do [ -d "$d" ] && touch "$d/go"; done
    wait "$cpid"
    want_eq "sse: every line once, in order" "$(sed -n 's/^data: \(s [0-9]\)$/\1/p' "$T/sse.out" | tr '\n' ' ')" "s 1 s 2 s 3 "
    check "sse: log events carry their offset as id" grep -q '^id: 8$' "$T/sse.out"
    check "sse: the stream ends with the task's exit code" grep -q '^data: {"status":"[a-z]*","exit_code":4,' "$T/sse.out"
    curl -sN --max-time 30 -H 'Last-Event-ID: 8' "http://$HADDR/api/tasks/$id/log?follow=1" >"$T/sse2.out" 2>/dev/null
    want_eq "sse: Last-Event-ID resumes after what was seen" "$(sed -n 's/^data: \(s [0-9]\)$/\1/p' "$T/sse2.out" | tr '\n' ' ')" "s 3 "
    want_eq "http: the whole log" "$(curl -s "http://$HADDR/api/tasks/$id/log" | tr '\n' ' ')" "s 1 s 2 s 3 "
    want_eq "http: ?tail=4 is its last 4 bytes" "$(curl -s "http://$HADDR/api/tasks/$id/log?tail=4")" "s 3"
    want_eq "http: a bad follow value is 400" \
        "$(curl -s -o /dev/null -w '%{http_code}' "http://$HADDR/api/tasks/$id/log?follow=yes")" 400
}

start_master m -config "$T/cfg.ini" || { not_ok "master starts"; exit 1; }
ADDR=$MADDR
HADDR=$(sed -n 's/^master http on \([^ ]*\).*/\1/p' "$T/m.out" | head -n 1)
# Before any worker: a queued task has no log yet; a follower waits, and
# ends with the cancel (exit 122, as wait).
qid=$(submit task $IMG -name queued -cmd 'echo never')
if [ -n "$qid" ]; then
    timeout 30 "$CLOUDAI_BIN/cloudai" -master "$MADDR" logs "$qid" >"$T/q.out" 2>"$T/q.err"; qrc=$?
    want_eq "queued: logs answers at once, exit 0" "$qrc" 0
    check "queued: logs says there is no log yet" grep -q 'has no log yet (queued)' "$T/q.err"
    timeout 60 "$CLOUDAI_BIN/cloudai" -master "$MADDR" logs -f "$qid" >/dev/null 2>&1 &
    qf=$!
    sleep 1    # not a timed assertion: the follower may start before or after the cancel
    cai cancel "$qid" >/dev/null 2>&1
    wait "$qf"; qfrc=$?
    want_eq "queued: logs -f ends with the cancel, exit 122" "$qfrc" 122
    # Ended without a line: there will never be a log, and it says so.
    cai logs "$qid" >/dev/null 2>"$T/q2.err"
    check "cancelled without a line: logs says it printed nothing" \
        grep -q "task $qid printed nothing (cancelled)" "$T/q2.err"
    cai logs -name queued >/dev/null 2>"$T/q3.err"
    check "logs -name of a run that never started: found, printed nothing" \
        grep -q "printed nothing (cancelled)" "$T/q3.err"
    cai logs -name queued "$qid" >/dev/null 2>&1; want_eq "logs -name NAME TASK_ID: usage error" "$?" 2
    cai logs -name 'q*' >/dev/null 2>&1; want_eq "logs -name GLOB: usage error" "$?" 2
else
    not_ok "queued: task submitted"
fi

start_worker w-proc -runtime process -cpu 4 -mem 4g -config "$T/cfg.ini" ||
    { not_ok "process worker registers"; exit 1; }
live_test process w-proc
big_test process
sse_test

# A runaway log past the master's cap (64 MiB against 6 MiB kept): the
# master tells the worker it wants no more, and the worker frees the file's
# disk space while the task still runs (it keeps the length for LOG_SIZE).
RUN_CMD="head -c 67108864 /dev/zero | tr '\\0' x; n=0; while [ ! -f \"\$OUTPUT_DIR/go\" ] && [ \$n -lt 600 ]; do sleep 0.1; n=\$((n+1)); done; echo runaway-end"
ra=$(submit task $IMG -name runaway -cmd "$RUN_CMD")
ralog="$T/w-proc.outputs/$ra.1.log"
if [ -n "$ra" ] && wait_for "[ \$(stat -c %s '$ralog' 2>/dev/null || echo 0) -ge 67108864 ]" 60; then
    # Blocks in use: at most the kept tail and one step (plus slack).
    wait_for "[ \$(du -k '$ralog' | cut -f1) -lt 4096 ]" 30
    used=$(du -k "$ralog" | cut -f1)
    check "runaway log: the worker gave its disk space back while the task runs ($used KiB)" [ "$used" -lt 4096 ]
    want_eq "runaway log: its length is kept" "$(stat -c %s "$ralog")" 67108864
    for d in "$T/w-proc.outputs/$ra".*; do [ -d "$d" ] && touch "$d/go"; done
    if wait_final "$ra" 60; then
        case $(tfield "$ra" notes) in
        *"log: 67108876 bytes written, the first 6291456 kept"*) ok "runaway log: the notes count every byte written" ;;
        *) not_ok "runaway log: the notes count every byte written"; diag "$(task_json "$ra")" ;;
        esac
        cai logs "$ra" >"$T/ra.log" 2>/dev/null
        want_eq "runaway log: the stored log is the cap and its mark" \
            "$(head -c 6291456 "$T/ra.log" | tr -d x | wc -c) $(tail -n 1 "$T/ra.log" | grep -c 'cloudai: log cut at 6291456 bytes')" "0 1"
    else
        not_ok "runaway log: the task ends"
    fi
else
    not_ok "runaway log: the task writes 64 MiB"
fi

# Resume after a reconnect: the master restarts while the task writes.
RES_CMD='i=0; while [ $i -lt 40 ]; do echo "n $i"; i=$((i+1)); sleep 0.1; done; n=0; while [ ! -f "$OUTPUT_DIR/go" ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n+1)); done; rm -f "$OUTPUT_DIR/go"; echo "n 40"'
rid=$(submit task $IMG -name resume -cmd "$RES_CMD")
if [ -n "$rid" ] && wait_for "cai logs $rid 2>/dev/null | grep -q '^n 5\$'" 60; then
    # A follower across the restart: it dials again and resumes by offset.
    cai logs -f "$rid" >"$T/res.follow" 2>"$T/res.follow.err" &
    rfpid=$!
    wait_for "grep -q '^n 5\$' '$T/res.follow'" 30
    kill -9 "$MPID"; stop_pid "$MPID"
    LISTEN=$ADDR MDATA=m start_master m2 -config "$T/cfg.ini" || { not_ok "master restarts"; exit 1; }
    wait_for "worker_ready w-proc" 30
    wait_for "cai logs $rid 2>/dev/null | grep -q '^n 39\$'" 60
    for d in "$T/w-proc.outputs/$rid".*; do [ -d "$d" ] && touch "$d/go"; done
    wait_final "$rid" 60
    want_eq "restart: every line once, in order (resumed by offset)" \
        "$(cai logs "$rid" 2>/dev/null | tr '\n' ' ')" "$(i=0; while [ $i -le 40 ]; do printf 'n %d ' $i; i=$((i+1)); done)"
    n=0; while kill -0 "$rfpid" 2>/dev/null && [ $n -lt 600 ]; do sleep 0.1; n=$((n + 1)); done
    wait "$rfpid"; rfrc=$?
    want_eq "restart: logs -f across it exits with the task's code" "$rfrc" 0
    want_eq "restart: logs -f across it printed every line once, in order" \
        "$(tr '\n' ' ' <"$T/res.follow")" "$(i=0; while [ $i -le 40 ]; do printf 'n %d ' $i; i=$((i+1)); done)"
    check "restart: logs -f said it reconnected" grep -q 'reconnecting' "$T/res.follow.err"
else
    not_ok "restart: resume task writes its first lines"
fi

if docker_ok; then
    # A worker id of its own: a Docker worker's start-up sweep removes the
    # containers labelled with its id, and tests may run side by side.
    WD=w-dock-logs-$$
    start_worker $WD -runtime docker -cpu 2 -mem 2g -config "$T/cfg.ini" ||
        { not_ok "docker worker registers"; finish; exit; }
    stop_pid "$(cat "$T/w-proc.pid")"
    live_test docker $WD
    big_test docker
else
    skip "docker: no Docker or no test image"
fi
finish
