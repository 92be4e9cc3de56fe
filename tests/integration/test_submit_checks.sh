#!/bin/sh
# test_submit_checks.sh — what can never run is refused at submit, on the
# process runtime: more CPUs, memory or GPUs than any registered worker has
# (the largest worker named), -cpu_cores below 0.01 and -mem without a
# unit; with [scheduler] queue_unsatisfiable = true the GPU task waits and
# its reason says no worker has any GPU.
. tests/integration/lib.sh
IMG=cloudai-test:latest

write_config "$T/cfg.ini"
start_master m -config "$T/cfg.ini" || { not_ok "master starts"; exit 1; }
# Before any worker registers, nothing is known: a big task waits.
EARLY=$(submit task $IMG -name early-big -cpu_cores 64 -mem 64m -cmd true)
check "submit: with no worker registered a 64-CPU task is queued" [ -n "$EARLY" ]
start_worker w-small -runtime process -cpu 1 -mem 1g -config "$T/cfg.ini" &&
    start_worker w-big -runtime process -cpu 2 -mem 2g -config "$T/cfg.ini" ||
    { not_ok "workers register"; exit 1; }

refused() { # DESC WANT-IN-STDERR ARGS...
    _d=$1; _w=$2; shift 2
    cai "$@" >"$T/r.out" 2>"$T/r.err"; _rc=$?
    if [ $_rc -ne 0 ] && grep -q -- "$_w" "$T/r.err" && ! grep -q task_id "$T/r.out"; then
        ok "$_d: $(head -n 1 "$T/r.err")"
    else
        not_ok "$_d (exit $_rc)"; diag "stdout: $(cat "$T/r.out")" "stderr: $(cat "$T/r.err")"
    fi
}
refused "submit: 64 CPUs refused, largest worker named" "the largest, w-big, has 2 CPUs" \
    task $IMG -name cpu64 -cpu_cores 64 -mem 64m -cmd true
refused "submit: 8 GiB memory refused" "w-big" task $IMG -name mem8 -mem 8g -cmd true
refused "submit: a GPU on a GPU-less cluster refused" "no worker has any GPU" \
    task $IMG -name gpu1 -gpu_cores 1 -mem 64m -cmd true
refused "submit: -cpu_cores 0.001 refused" "below 0.01" task $IMG -cpu_cores 0.001 -cmd true
refused "submit: -mem 512 (no unit) refused" "say 512m or 512g" task $IMG -mem 512 -cmd true
OK=$(submit task $IMG -name fits -cpu_cores 2 -mem 1g -cmd 'echo ok > o.txt')
if [ -n "$OK" ] && wait_final "$OK" 30; then
    want_eq "submit: a task the largest worker fits runs" "$(tfield "$OK" status)" completed
else
    not_ok "submit: a task that fits w-big is accepted and finishes"
fi
# -cpu and -gpu, the worker's own flag names, are the request's too.
AL=$(submit task $IMG -name alias -cpu 2 -gpu 0 -mem 64m -cmd true)
want_eq "submit: -cpu 2 is -cpu_cores 2" "$(tfield "$AL" req_cpu)" 2
AM=$(submit task $IMG -name aliasmem -memory 96m -cmd true)
want_eq "submit: -memory 96m is -mem 96m" "$(tfield "$AM" req_memory)" 100663296
refused "submit: -gpu 1 refused like -gpu_cores 1" "no worker has any GPU" \
    task $IMG -name gpu1b -gpu 1 -mem 64m -cmd true
refused "submit: a misspelt flag names the one meant" "unknown flag '-mems' (did you mean -mem?)" \
    task $IMG -mems 1g -cmd true
cai tasks -task nope >"$T/n.out" 2>"$T/n.err"; rc=$?
want_eq "tasks -task nope exits 1" "$rc" 1
check "tasks -task nope says 'no task nope'" grep -q 'no task nope' "$T/n.err"
check "cloudai --version" sh -c "$CLOUDAI_BIN/cloudai --version | grep -q '^cloudai [0-9]'"
[ -n "$EARLY" ] && cai cancel "$EARLY" >/dev/null 2>&1
n=$(cai tasks --json 2>/dev/null | grep -c '"task_id"')
want_eq "submit: refused tasks left no record (early + fits + the two aliases)" "$n" 4

# With the switch, the GPU task waits and says why.
stop_pid "$MPID"
write_config "$T/cfg2.ini"
printf '[scheduler]\nqueue_unsatisfiable = true\n' >>"$T/cfg2.ini"
start_master m2 -config "$T/cfg2.ini" || { not_ok "master m2 starts"; finish; }
start_worker w-two -runtime process -cpu 1 -mem 1g -config "$T/cfg2.ini" ||
    { not_ok "worker registers with m2"; finish; }
GPU=$(submit task $IMG -name gpu-wait -gpu_cores 1 -mem 64m -cmd true)
if [ -n "$GPU" ]; then
    want_eq "queue_unsatisfiable: GPU task queued" "$(tfield "$GPU" status)" queued
    check "queue_unsatisfiable: reason says no worker has any GPU" \
        wait_for "cai tasks -task $GPU 2>&1 | grep -q 'no worker has any GPU'" 10
    cai cancel "$GPU" >/dev/null 2>&1
else
    not_ok "queue_unsatisfiable: GPU task accepted"
fi
finish
