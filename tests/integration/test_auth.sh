#!/bin/sh
# test_auth.sh — [auth] end to end: workers prove the cluster token and
# clients a user token (HMAC challenge-response); wrong or missing tokens
# and unknown users are refused with an ERROR, a close, a log line and a
# non-zero exit; a user sees, fetches and cancels only their own tasks and
# an admin sees everyone's. Runs on the process runtime (no Docker needed).
. tests/integration/lib.sh
EVIL=$CLOUDAI_BIN/tests/tools/evil

cat >"$T/cfg.ini" <<EOF
[master]
heartbeat_interval_s = 1
heartbeat_timeout_s = 10
[auth]
cluster_token = cluster-secret-123
user.alice = alice-secret
user.bob = bob-secret
admins = alice
EOF
start_master m -config "$T/cfg.ini" || { not_ok "master starts"; exit 1; }
export CLOUDAI_USER=alice CLOUDAI_TOKEN=alice-secret   # for lib.sh helpers (cai)

# as USER TOKEN ARGS... — the client as someone (global flags).
as() { _u=$1 _t=$2; shift 2; "$CLOUDAI_BIN/cloudai" -master "$MADDR" -user "$_u" -token "$_t" "$@"; }

# ---- workers
ASAN_OPTIONS=$DAEMON_ASAN "$CLOUDAI_BIN/worker" -master "$MADDR" -id w-bad -runtime process \
    -outputs "$T/w-bad.outputs" -token wrong-token >"$T/w-bad.log" 2>&1 </dev/null &
BADPID=$!
PIDS="$PIDS $BADPID"
LOGS="$LOGS $T/w-bad.log"
if wait_for "grep -q \"auth refused for worker 'w-bad'\" '$T/m.log'" 20; then
    ok "worker with the wrong cluster token: refused, master logs it"
else
    not_ok "worker with the wrong cluster token: refused, master logs it"
fi
wait_for "grep -qi 'cluster token' '$T/w-bad.log'" 10 && ok "the refused worker says why (bad cluster token)" ||
    not_ok "the refused worker says why (bad cluster token)"
stop_pid "$BADPID"
as alice alice-secret workers --json >"$T/workers.json" 2>&1
if grep -q '"w-bad"' "$T/workers.json"; then not_ok "the refused worker is not registered"
else ok "the refused worker is not registered"; fi

if [ -x "$EVIL" ]; then
    o=$(EVIL_TOKEN=wrong EVIL_WORKER=w-evil ASAN_OPTIONS=$DAEMON_ASAN "$EVIL" "$MADDR" resume-other task-1-000000000000 2>&1)
    case $o in *AUTH-FAILED*) ok "a peer with the wrong token gets no further than the handshake" ;;
        *) not_ok "a peer with the wrong token gets no further than the handshake"; diag "$o" ;; esac
else
    skip "handshake refusal via evil: tool not built"
fi

# Good workers: token from the environment and from -token.
CLOUDAI_CLUSTER_TOKEN=cluster-secret-123 start_worker w-env -runtime process -cpu 2 -mem 1g \
    -config "$T/cfg.ini" 2>/dev/null || true
wait_for "worker_ready w-env" 20 &&
    ok "worker with CLOUDAI_CLUSTER_TOKEN registers" || not_ok "worker with CLOUDAI_CLUSTER_TOKEN registers"
ASAN_OPTIONS=$DAEMON_ASAN "$CLOUDAI_BIN/worker" -master "$MADDR" -id w-flag -runtime process \
    -cpu 2 -mem 1g -outputs "$T/w-flag.outputs" -token cluster-secret-123 >"$T/w-flag.log" 2>&1 </dev/null &
PIDS="$PIDS $!"
LOGS="$LOGS $T/w-flag.log"
wait_for "worker_ready w-flag" 20 &&
    ok "worker with -token registers" || not_ok "worker with -token registers"

# ---- clients
o=$(as alice wrong-token tasks 2>&1); rc=$?
if [ $rc -ne 0 ] && printf '%s' "$o" | grep -qi 'auth'; then ok "client with a wrong token: refused, non-zero exit, says auth"
else not_ok "client with a wrong token: refused, non-zero exit, says auth"; diag "rc=$rc: $o"; fi
o=$(as mallory whatever tasks 2>&1); rc=$?
case $o in *"tried as user 'mallory'"*) ok "the AUTH error names the user it tried" ;;
    *) not_ok "the AUTH error names the user it tried"; diag "$o" ;; esac
if [ $rc -ne 0 ] && printf '%s' "$o" | grep -qi 'auth'; then ok "unknown user: refused, non-zero exit, says auth"
else not_ok "unknown user: refused, non-zero exit, says auth"; diag "rc=$rc: $o"; fi
o=$(CLOUDAI_TOKEN= as alice "" tasks 2>&1); rc=$?
[ $rc -ne 0 ] && ok "client without a token: refused" || { not_ok "client without a token: refused"; diag "$o"; }
grep -q "auth refused for user 'alice': wrong token" "$T/m.log" && grep -q "unknown user 'mallory'" "$T/m.log" &&
    ok "master logs refused clients" || not_ok "master logs refused clients"
o=$(CLOUDAI_USER=bob CLOUDAI_TOKEN=bob-secret "$CLOUDAI_BIN/cloudai" -master "$MADDR" tasks 2>&1) &&
    ok "client with CLOUDAI_USER/CLOUDAI_TOKEN gets in" || { not_ok "client with CLOUDAI_USER/CLOUDAI_TOKEN gets in"; diag "$o"; }

# ---- ownership
sub() { # USER TOKEN ARGS... — prints the task id
    _u=$1 _t=$2; shift 2
    _o=$(as "$_u" "$_t" "$@" -json 2>&1) || { diag "submit failed: $_o"; return 1; }
    printf '%s\n' "$_o" | jget task_id
}
A1=$(sub alice alice-secret task busybox -name alice-out -cmd 'echo secret-of-alice > a.txt')
A2=$(sub alice alice-secret task busybox -name alice-long -cmd 'sleep 30')
B1=$(sub bob bob-secret task busybox -name bob-out -cmd 'echo bob > b.txt')
[ -n "$A1" ] && [ -n "$A2" ] && [ -n "$B1" ] && ok "alice and bob submit" || not_ok "alice and bob submit"
fin() { case $(as alice alice-secret tasks -task "$1" --json 2>/dev/null | jget status) in
        completed|failed|cancelled) return 0 ;; esac; return 1; }
wait_for "fin $A1" 60 && wait_for "fin $B1" 60 || diag "tasks did not finish"

bt=$(as bob bob-secret tasks --json 2>&1)
if printf '%s\n' "$bt" | grep -q "$B1" && ! printf '%s\n' "$bt" | grep -q "$A1"; then
    ok "bob lists only his own tasks"
else not_ok "bob lists only his own tasks"; diag "$bt"; fi
bt=$(as bob bob-secret tasks -user alice --json 2>&1)
printf '%s\n' "$bt" | grep -q "$A1" && { not_ok "bob cannot list alice's tasks with -user alice"; diag "$bt"; } ||
    ok "bob cannot list alice's tasks with -user alice"
bt=$(as bob bob-secret tasks -task "$A1" --json 2>&1)
printf '%s\n' "$bt" | grep -q "\"task_id\":\"$A1\"" && not_ok "bob cannot look up alice's task by id" ||
    ok "bob cannot look up alice's task by id"
bf=$(as bob bob-secret files -task "$A1" --json 2>&1)
printf '%s\n' "$bf" | grep -q 'a.txt' && { not_ok "bob cannot list alice's files"; diag "$bf"; } ||
    ok "bob cannot list alice's files"
o=$(as bob bob-secret get "$A1" "$T/bob-dl" 2>&1); rc=$?
if [ $rc -ne 0 ] && printf '%s' "$o" | grep -q 'no task' && [ ! -f "$T/bob-dl/a.txt" ]; then
    ok "bob cannot download alice's files (no task)"
else not_ok "bob cannot download alice's files (no task)"; diag "rc=$rc: $o"; fi
o=$(as bob bob-secret logs "$A1" 2>&1); rc=$?
[ $rc -ne 0 ] && ! printf '%s' "$o" | grep -q secret-of-alice && ok "bob cannot read alice's logs" ||
    { not_ok "bob cannot read alice's logs"; diag "$o"; }
o=$(as bob bob-secret cancel "$A2" 2>&1); rc=$?
st=$(as alice alice-secret tasks -task "$A2" --json | jget status)
if [ $rc -ne 0 ] && printf '%s' "$o" | grep -q 'no task' && [ "$st" != cancelled ]; then
    ok "bob cannot cancel alice's task (no task)"
else not_ok "bob cannot cancel alice's task (no task)"; diag "rc=$rc status=$st: $o"; fi

at=$(as alice alice-secret tasks --json 2>&1)
printf '%s\n' "$at" | grep -q "$A1" && printf '%s\n' "$at" | grep -q "$B1" &&
    ok "alice (admin) sees everyone's tasks" || { not_ok "alice (admin) sees everyone's tasks"; diag "$at"; }
o=$(as alice alice-secret get "$B1" "$T/alice-dl" 2>&1) && [ -f "$T/alice-dl/b.txt" ] &&
    ok "alice (admin) downloads bob's files" || { not_ok "alice (admin) downloads bob's files"; diag "$o"; }
o=$(as alice alice-secret cancel "$A2" 2>&1) && ok "alice cancels her own task" ||
    { not_ok "alice cancels her own task"; diag "$o"; }
# No daemon may have hit a sanitizer report on the way.
if grep -l -E 'AddressSanitizer|runtime error:' "$T"/*.log >/dev/null 2>&1; then
    not_ok "no sanitizer reports in the daemon logs"; grep -h -A5 -E 'AddressSanitizer|runtime error:' "$T"/*.log | head -20 | sed 's/^/# /'
else ok "no sanitizer reports in the daemon logs"; fi
exit 0
