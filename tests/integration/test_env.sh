#!/bin/sh
# test_env.sh — -env K=V (repeatable) and -env-file FILE: carried to the
# process runtime and to Docker (cloudai-test:latest), a later -env
# replacing the file's value, stored with the task (listed by `tasks
# --json`, still there after a master restart from the journal), bad
# entries refused.
. tests/integration/lib.sh
IMG=cloudai-test:latest

write_config "$T/cfg.ini"
start_master m -config "$T/cfg.ini" || { not_ok "master starts"; exit 1; }
start_worker w-proc -runtime process -cpu 2 -mem 2g -config "$T/cfg.ini" ||
    { not_ok "process worker registers"; exit 1; }
DOCKER=0
if docker_ok; then
    start_worker w-dock -runtime docker -cpu 2 -mem 2g -config "$T/cfg.ini" && DOCKER=1 ||
        not_ok "docker worker registers"
else
    skip "env on docker: no Docker or no image"
fi
FILES=$T/m/files
U=$CLOUDAI_USER
printf '# comment\nA=from-file\n\nC=three=3\n' >"$T/env.list"
CMD='printf "%s|%s|%s|%s\n" "$A" "$B" "$C" "${OUTPUT_DIR:+set}" > "$OUTPUT_DIR/env.txt"'
want='flag|two words|three=3|set'

run_on() { # WORKER NAME
    _id=$(submit dispatch "$1" $IMG -name "$2" -mem 64m -env-file "$T/env.list" -env A=flag \
        -env 'B=two words' -cmd "$CMD")
    if [ -n "$_id" ] && wait_final "$_id" 90; then
        want_eq "env on $1: task completed" "$(tfield "$_id" status)" completed
        _d=$(task_dir "$FILES/$U/$2" "$_id")
        want_eq "env on $1: the task saw its environment" "$(cat "$_d/env.txt" 2>/dev/null)" "$want"
    else
        not_ok "env on $1: task finishes"
    fi
    echo "$_id" >"$T/$1.id"
}
run_on w-proc env-proc
[ $DOCKER = 1 ] && run_on w-dock env-dock
P=$(cat "$T/w-proc.id")

check "env: tasks --json lists the environment" \
    sh -c "$CLOUDAI_BIN/cloudai -master $MADDR tasks -task $P --json | grep -q '\"env\":\[\"A=flag\",\"C=three=3\",\"B=two words\"\]'"
cai task $IMG -env A=1 -env 'B=x' -cmd true >"$T/banner.txt" 2>&1
check "env: the submit banner shows it" grep -q 'Environment:  A=1' "$T/banner.txt"

bad() { # DESC ARGS...
    _d=$1; shift
    cai task $IMG "$@" -cmd true >"$T/b.out" 2>"$T/b.err"; _rc=$?
    if [ $_rc -ne 0 ] && [ -s "$T/b.err" ]; then ok "$_d: $(head -n 1 "$T/b.err")"
    else not_ok "$_d (exit $_rc)"; diag "$(cat "$T/b.out" "$T/b.err")"; fi
}
bad "env: a key starting with a digit refused" -env 1X=2
bad "env: no = refused" -env JUSTKEY
bad "env: OUTPUT_DIR refused (the runtime sets it)" -env OUTPUT_DIR=/tmp
printf 'OK=1\nbad key=2\n' >"$T/bad.list"
bad "env: a bad -env-file line refused with its line number" -env-file "$T/bad.list"
bad "env: a missing -env-file refused" -env-file "$T/nope.list"

# Stored with the task: a master restarted from its journal still lists it.
stop_pid "$MPID"
LISTEN=$MADDR start_master m -config "$T/cfg.ini" || { not_ok "master restarts"; finish; }
check "env: still listed after a master restart (journal)" \
    sh -c "$CLOUDAI_BIN/cloudai -master $MADDR tasks -task $P --json | grep -q '\"env\":\[\"A=flag\",\"C=three=3\",\"B=two words\"\]'"
finish
