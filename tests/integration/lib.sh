# tests/integration/lib.sh — shared helpers for the integration scripts.
# Sourced (not run) by tests/integration/test_*.sh, from the repo root.
#
# Every script gets a private temp dir ($T), starts real daemons on
# 127.0.0.1 port 0 and leaves nothing behind: the EXIT trap stops every
# process started through start_master/start_worker (TERM, bounded wait,
# then KILL), removes containers of the tasks it submitted, and the dir.
# Checks print "ok - ", "not ok - " or "skip - " lines (tests/run.sh counts
# them); diagnostics are "# " lines, and on any failure the tails of every
# daemon log are printed that way.
#
# JSON from `cloudai ... --json` has one object per line; jget reads a
# scalar field from such a line with sed, so the tests need no jq.

CLOUDAI_BIN=${CLOUDAI_BIN:-$PWD/build/asan}
case $CLOUDAI_BIN in /*) ;; *) CLOUDAI_BIN=$PWD/$CLOUDAI_BIN ;; esac
export CLOUDAI_USER=${CLOUDAI_USER:-tester}
unset CLOUDAI_TOKEN CLOUDAI_MASTER CLOUDAI_CLUSTER_TOKEN
# Daemons are killed, so their leak report is noise; the client keeps
# whatever the runner chose (leak detection on).
DAEMON_ASAN=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
ROOT=$PWD

T=$(mktemp -d /tmp/cloudai-it.XXXXXX) || exit 2
PIDS=""          # every daemon we started
FAILS=0
LOGS=""          # daemon logs to show on failure
: >"$T/task_ids"

ok()     { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; FAILS=$((FAILS + 1)); }
skip()   { echo "skip - $*"; }
diag()   { printf '%s\n' "$@" | sed 's/^/# /'; }

# check DESC CMD... — one check: ok when CMD succeeds.
# Its stdout is dropped; helpers keep their own variables, so locals here
# carry a prefix of their own (sh has no local scope).
check() {
    _ck_desc=$1; shift
    if "$@" >/dev/null; then ok "$_ck_desc"; else not_ok "$_ck_desc"; fi
}

# wait_for "shell command" SECONDS — polls every 0.1 s until the command
# succeeds; returns 1 when the deadline passes.
wait_for() {
    _end=$(( $(date +%s) + $2 ))
    while :; do
        if eval "$1" >/dev/null 2>&1; then return 0; fi
        [ "$(date +%s)" -ge "$_end" ] && return 1
        sleep 0.1
    done
}

dump_logs() {
    for _l in $LOGS; do
        [ -f "$_l" ] || continue
        echo "# ---- tail of ${_l#$T/}"
        tail -n 25 "$_l" | sed 's/^/# /'
    done
}

stop_pid() { # PID: TERM, wait up to 10 s, then KILL; reaps it and drops it
    # from PIDS, so a later cleanup never signals a recycled pid.
    _sp=""
    for _q in $PIDS; do [ "$_q" = "$1" ] || _sp="$_sp $_q"; done
    PIDS=$_sp
    kill -TERM "$1" 2>/dev/null || { wait "$1" 2>/dev/null; return 0; }
    _n=0
    while kill -0 "$1" 2>/dev/null && [ $_n -lt 100 ]; do sleep 0.1; _n=$((_n + 1)); done
    kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    return 0
}

# finish — the last line of a script: stops every daemon, then checks that
# none of them hit a sanitizer report (shutdown included), and exits.
finish() {
    for _p in $PIDS; do stop_pid "$_p"; done
    stop_s3
    # shellcheck disable=SC2086
    if grep -l -E 'AddressSanitizer|LeakSanitizer|runtime error:' $LOGS >/dev/null 2>&1; then
        not_ok "no sanitizer reports in the daemon logs"
        grep -h -A8 -E 'AddressSanitizer|LeakSanitizer|runtime error:' $LOGS | head -n 30 | sed 's/^/# /'
    else
        ok "no sanitizer reports in the daemon logs"
    fi
    exit 0
}

cleanup() {
    trap - EXIT INT TERM
    [ "$FAILS" -gt 0 ] && dump_logs
    for _p in $PIDS; do stop_pid "$_p"; done
    stop_s3
    if [ -s "$T/task_ids" ] && command -v docker >/dev/null 2>&1; then
        for _id in $(cat "$T/task_ids"); do
            # Containers are named cloudai-<id>.<attempt>: found by label.
            for _c in $(docker ps -aq --filter "label=cloudai.task_id=$_id" 2>/dev/null); do
                docker rm -f "$_c" >/dev/null 2>&1
            done
        done
    fi
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_master NAME [ARGS...] — starts a master (data under $T/NAME, or
# $T/$MDATA when set) and sets MADDR (127.0.0.1:PORT) and MPID. A LISTEN
# variable overrides the default 127.0.0.1:0 (used to restart on a port).
start_master() {
    _n=$1; shift
    mkdir -p "$T/$_n"
    : >"$T/$_n.out"
    ASAN_OPTIONS=$DAEMON_ASAN "$CLOUDAI_BIN/master" -listen "${LISTEN:-127.0.0.1:0}" \
        -files "$T/${MDATA:-$_n}/files" -meta "$T/${MDATA:-$_n}/meta" --no-console "$@" \
        >"$T/$_n.out" 2>"$T/$_n.log" </dev/null &
    MPID=$!
    PIDS="$PIDS $MPID"
    LOGS="$LOGS $T/$_n.log"
    # A master that dies at start fails at once, not at the deadline.
    wait_for "grep -q 'master listening on' '$T/$_n.out' || ! kill -0 $MPID" 30
    if ! grep -q 'master listening on' "$T/$_n.out"; then
        diag "master $_n did not report its address"
        cat "$T/$_n.out" "$T/$_n.log" | tail -n 20 | sed 's/^/# /'
        return 1
    fi
    MADDR=$(sed -n 's/^master listening on \([^ ]*\).*/\1/p' "$T/$_n.out" | head -n 1)
    export CLOUDAI_MASTER=$MADDR
}

# start_worker ID ARGS... — starts a worker against $MADDR with outputs in
# $T/ID.out, sets WPID, and waits until the master lists it as ready.
start_worker() {
    _id=$1; shift
    ASAN_OPTIONS=$DAEMON_ASAN "$CLOUDAI_BIN/worker" -master "$MADDR" -id "$_id" \
        -outputs "$T/$_id.outputs" "$@" >"$T/$_id.log" 2>&1 </dev/null &
    WPID=$!
    echo "$WPID" >"$T/$_id.pid"
    PIDS="$PIDS $WPID"
    LOGS="$LOGS $T/$_id.log"
    wait_for "worker_ready $_id || ! kill -0 $WPID" 30
    if ! worker_ready "$_id"; then
        diag "worker $_id did not register"
        return 1
    fi
}

worker_ready() {
    cai workers --json 2>/dev/null | grep "\"worker_id\":\"$1\"" | grep -q '"state":"ready"'
}

# cai ARGS... — the client, against the current master.
cai() { "$CLOUDAI_BIN/cloudai" -master "$MADDR" "$@"; }

# jget FIELD — reads a one-line JSON object on stdin, prints FIELD's scalar
# value (strings without their quotes; null as empty).
jget() {
    sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p; t; s/.*\"$1\":\\([-0-9.eE+]*\\|true\\|false\\)[,}].*/\\1/p" | head -n 1
}

# submit ARGS... — `cloudai ARGS` (task or dispatch) with -json added
# before any `--`; prints the task id and remembers it for container
# cleanup. Fails (message on stderr) when no id comes back.
submit() {
    _sn=$#; _sj=0
    for _sa in "$@"; do
        if [ "$_sa" = -- ] && [ $_sj = 0 ]; then set -- "$@" -json; _sj=1; fi
        set -- "$@" "$_sa"
    done
    shift "$_sn"
    [ $_sj = 0 ] && set -- "$@" -json
    _so=$(cai "$@" 2>&1) || { diag "cloudai $* failed: $_so" >&2; return 1; }
    _sid=$(printf '%s\n' "$_so" | jget task_id)
    [ -n "$_sid" ] || { diag "no task id in: $_so" >&2; return 1; }
    echo "$_sid" >>"$T/task_ids"
    echo "$_sid"
}

# task_json ID — the task's record, one line.
task_json() { cai tasks -task "$1" --json 2>/dev/null | grep "\"task_id\":\"$1\"" | head -n 1; }
tfield() { task_json "$1" | jget "$2"; }

is_final() {
    case $(tfield "$1" status) in completed|failed|cancelled) return 0 ;; esac
    return 1
}
# wait_final ID SECONDS — until the task completed, failed or was cancelled.
wait_final() {
    wait_for "is_final $1" "${2:-60}" || { diag "task $1 not final: $(task_json "$1")"; return 1; }
}

# want_eq DESC GOT WANT — a check comparing two strings.
want_eq() {
    if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1"; diag "got:  '$2'" "want: '$3'"; fi
}

# docker_ok — Docker answers and the test image exists (built if needed).
docker_ok() {
    command -v docker >/dev/null 2>&1 || return 1
    docker info >/dev/null 2>&1 || return 1
    sh "$ROOT/tests/integration/mkimage.sh" >"$T/mkimage.log" 2>&1 || {
        diag "mkimage.sh failed:"; sed 's/^/# /' "$T/mkimage.log"; return 1; }
}

# write_config FILE — fast heartbeats so lost workers show up quickly.
write_config() {
    cat >"$1" <<EOF
[master]
heartbeat_interval_s = 1
heartbeat_timeout_s = 5
EOF
}

# ferret_start — a FerretDB of the script's own (SQLite under $T/fdb), for
# tests that stop or kill their database: on FPORT (picked at the first
# call, kept across restarts), sets FPID and FURI; 1 if it does not listen
# within 20 s. ferret_ok says whether a FerretDB binary is there.
ferret_ok() { [ -n "${CLOUDAI_FERRETDB:-}" ] && [ -x "$CLOUDAI_FERRETDB" ]; }
ferret_start() {
    [ -n "${FPORT:-}" ] ||
        FPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    mkdir -p "$T/fdb"
    DO_NOT_TRACK=1 "$CLOUDAI_FERRETDB" --handler=sqlite --sqlite-url="file:$T/fdb/" \
        --listen-addr=127.0.0.1:$FPORT --state-dir=- --debug-addr=- --telemetry=disable \
        --log-level=warn >>"$T/fdb.log" 2>&1 &
    FPID=$!
    PIDS="$PIDS $FPID"
    FURI="mongodb://127.0.0.1:$FPORT/?directConnection=true"
    wait_for "nc -z 127.0.0.1 $FPORT" 20
}

# sha_of FILE — hex sha256 of FILE.
sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# task_dir NAME_DIR ID — prints NAME_DIR/<stamp>/ID (the layout's task
# directory under <files>/<user>/<name>) when it exists.
task_dir() {
    for _d in "$1"/*/"$2"; do [ -d "$_d" ] && { echo "$_d"; return 0; }; done
    return 1
}

# Example 3 of the issue, run in the task's output directory (cwd): the
# task prints the sha256 of what it wrote, so the checks compare the
# container's own hashes with the store, the index and a download.
EX3_CMD='mkdir -p models && echo running > status.txt &&
dd if=/dev/urandom of=models/model.pkl bs=1048576 count=50 2>/dev/null &&
echo accuracy=0.93 > result.txt && sha256sum status.txt models/model.pkl result.txt'

# check_example3 LABEL ID FILES_DIR — the Example 3 checks for task ID.
check_example3() {
    _l=$1; _id=$2; _fd=$3
    if [ -z "$_id" ] || ! wait_final "$_id" 90; then
        not_ok "$_l: task completes"; return
    fi
    _j=$(task_json "$_id")
    want_eq "$_l: task completed" "$(echo "$_j" | jget status)" completed
    want_eq "$_l: output_files is 3" "$(echo "$_j" | jget output_files)" 3
    _name=$(echo "$_j" | jget task_name)
    _ms=$(echo "$_j" | jget submitted_at)
    _stamp=$(date -u -d "@$((_ms / 1000))" +%Y%m%dT%H%M%SZ)
    _dir=$_fd/$(echo "$_j" | jget user_id)/$_name/$_stamp/$_id
    check "$_l: task directory at <files>/<user>/<name>/<stamp>/<id>" test -d "$_dir"
    cai files -task "$_id" --json >"$T/$_l.files"
    want_eq "$_l: three file records" "$(grep -c '"file_name"' "$T/$_l.files")" 3
    cai logs "$_id" >"$T/$_l.log" 2>&1
    rm -rf "$T/$_l.dl"
    cai get "$_id" "$T/$_l.dl" >"$T/$_l.get" 2>&1 ||
        { diag "get failed:"; sed 's/^/# /' "$T/$_l.get"; }
    want_eq "$_l: model.pkl is 50 MiB" "$(stat -c %s "$_dir/models/model.pkl" 2>/dev/null)" 52428800
    for _f in status.txt models/model.pkl result.txt; do
        _st=$(sha_of "$_dir/$_f" 2>/dev/null)
        _in=$(awk -v f="$_f" '$2 == f { print $1 }' "$T/$_l.log" | head -n 1)
        _rec=$(grep "\"file_name\":\"$_f\"" "$T/$_l.files" | jget sha256)
        _path=$(grep "\"file_name\":\"$_f\"" "$T/$_l.files" | jget file_path)
        _got=$(sha_of "$T/$_l.dl/$_f" 2>/dev/null)
        if [ -n "$_st" ] && [ "$_st" = "$_in" ] && [ "$_st" = "$_rec" ] &&
            [ "$_st" = "$_got" ] && [ "$_path" = "$_dir/$_f" ]; then
            ok "$_l: $_f stored, indexed and downloaded with the task's own sha256"
        else
            not_ok "$_l: $_f stored, indexed and downloaded with the task's own sha256"
            diag "task:   $_in" "store:  $_st" "record: $_rec ($_path)" "get:    $_got"
        fi
    done
    check "$_l: get gives identical bytes" cmp -s "$_dir/models/model.pkl" "$T/$_l.dl/models/model.pkl"
}

# start_s3 — a SeaweedFS S3 gateway of this script's own in $T/s3 (free
# 127.0.0.1 ports, bucket cloudai-test, one identity), stopped by finish
# or cleanup; exports its settings (S3_ENDPOINT S3_BUCKET AWS_* S3_PID,
# tests/integration/s3srv.sh). The binary is services.sh's CLOUDAI_WEED,
# else built once. 0 started; 2 no Go toolchain (skip); 1 failed.
start_s3() {
    _wb=${CLOUDAI_WEED:-}
    if [ -z "$_wb" ]; then
        _go=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
        [ -x "$_go" ] || return 2
        _wb=$(GO=$_go sh "$ROOT/tests/integration/s3srv.sh" build 2>"$T/s3build.log") ||
            { sed 's/^/# /' "$T/s3build.log" | tail -20; return 1; }
    fi
    S3D=$T/s3
    if ! sh "$ROOT/tests/integration/s3srv.sh" start "$S3D" "$_wb" 2>"$T/s3start.log"; then
        sed 's/^/# /' "$T/s3start.log" "$S3D/weed.log" 2>/dev/null | tail -20
        sh "$ROOT/tests/integration/s3srv.sh" stop "$S3D"
        return 1
    fi
    LOGS="$LOGS $S3D/weed.log"
    S3_STOP="$S3D"
    set -a; . "$S3D/env"; set +a
}
S3_STOP=""
stop_s3() { [ -n "$S3_STOP" ] && sh "$ROOT/tests/integration/s3srv.sh" stop "$S3_STOP"; S3_STOP=""; }
