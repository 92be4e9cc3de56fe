#!/bin/sh
# test_inputs.sh — task -input PATH[:DEST] and -input task:ID[/PATH], with
# real daemons on both runtimes (process; Docker with cloudai-test:latest):
# a file and a directory, DEST given and omitted, the task sees the same
# bytes (sha256) read-only at /input (a write fails), provenance in
# `tasks --json` and the HTTP API; a second submission of the same 20 MiB
# input sends nothing (the master's input counter stays put); task:ID and
# task:ID/PATH without a round trip through the client, another user's
# task refused; clear errors for a missing path, an unknown task, a path
# not in the outputs, an input over [limits] max_input_bytes; a worker
# killed in the middle of a fetch resumes it after its restart.
. tests/integration/lib.sh
IMG=cloudai-test:latest
command -v curl >/dev/null 2>&1 || { skip "curl not installed"; exit 0; }

cat >"$T/cfg.ini" <<EOF
[master]
heartbeat_interval_s = 1
heartbeat_timeout_s = 5
[auth]
cluster_token = cluster-secret
user.alice = alice-secret
user.bob = bob-secret
user.root = root-secret
admins = root
[limits]
max_input_bytes = 40m
input_keep_s = 2
[retention]
sweep_interval_s = 1
[http]
listen = 127.0.0.1:0
EOF
start_master m -config "$T/cfg.ini" || { not_ok "master starts"; exit 1; }
H="http://$(sed -n 's/^master http on \([^ ]*\).*/\1/p' "$T/m.out" | head -n 1)"
export CLOUDAI_USER=alice CLOUDAI_TOKEN=alice-secret CLOUDAI_CLUSTER_TOKEN=cluster-secret
start_worker w-proc -runtime process -cpu 2 -mem 2g -config "$T/cfg.ini" ||
    { not_ok "process worker registers"; exit 1; }
DOCKER=0
if docker_ok; then
    start_worker w-dock -runtime docker -cpu 2 -mem 2g -config "$T/cfg.ini" && DOCKER=1 ||
        not_ok "docker worker registers"
else
    skip "inputs on docker: no Docker or no image"
fi
FILES=$T/m/files
export XDG_CACHE_HOME=$T/xdg        # the client's remembered file hashes
metric() { curl -s -H "Authorization: Bearer root-secret" "$H/metrics" |
    sed -n "s/^$1 \([0-9]*\)$/\1/p"; }

# The data: a 20 MiB file, a directory with a sub-directory and an
# inside link, an empty file.
head -c 20971520 /dev/urandom >"$T/big.bin"
mkdir -p "$T/ds/sub"
printf 'a,b\n1,2\n' >"$T/ds/train.csv"
echo deep >"$T/ds/sub/x.txt"
: >"$T/ds/empty"
ln -s train.csv "$T/ds/latest.csv"
BIG=$(sha_of "$T/big.bin")
TRAIN=$(sha_of "$T/ds/train.csv")

# What the task reports about its inputs, written into its output.
CMD='cd "$INPUT_DIR" && { sha256sum cfg/big.bin ds/train.csv ds/sub/x.txt ds/latest.csv;
  readlink ds/latest.csv; [ -f ds/empty ] && echo empty-ok; echo "dir=$INPUT_DIR";
  if echo x > ds/new 2>/dev/null; then echo WROTE; else echo write-refused; fi;
  if echo x >> cfg/big.bin 2>/dev/null; then echo WROTE; else echo append-refused; fi;
  } > "$OUTPUT_DIR/seen.txt" 2>&1'

run_on() { # WORKER NAME EXPECTED_INPUT_DIR ("" = the attempt's directory)
    _id=$(submit dispatch "$1" $IMG -name "$2" -mem 64m -input "$T/big.bin:cfg/big.bin" \
        -input "$T/ds" -cmd "$CMD")
    echo "$_id" >"$T/$1.id"
    if [ -n "$_id" ] && wait_final "$_id" 120; then
        want_eq "inputs on $1: task completed" "$(tfield "$_id" status)" completed
        _s=$(task_dir "$FILES/alice/$2" "$_id")/seen.txt
        check "inputs on $1: the 20 MiB file (DEST given) has its sha256 at /input/cfg/big.bin" \
            grep -q "^$BIG  cfg/big.bin" "$_s"
        check "inputs on $1: the directory (DEST omitted: its name) at /input/ds" \
            grep -q "^$TRAIN  ds/train.csv" "$_s"
        check "inputs on $1: sub-directory, empty file and inside link kept" \
            sh -c "grep -q '  ds/sub/x.txt' '$_s' && grep -q '^$TRAIN  ds/latest.csv' '$_s' &&
                   grep -qx train.csv '$_s' && grep -qx empty-ok '$_s'"
        _want=${3:-$T/$1.outputs/$_id.1.input}
        check "inputs on $1: INPUT_DIR is $_want" grep -qx "dir=$_want" "$_s"
        if grep -qx write-refused "$_s" && grep -qx append-refused "$_s" && ! grep -q WROTE "$_s"; then
            ok "inputs on $1: writing into the inputs fails (read-only)"
        else
            not_ok "inputs on $1: writing into the inputs fails (read-only)"; diag "$(cat "$_s")"
        fi
    else
        not_ok "inputs on $1: task finishes"; diag "$(task_json "$_id")"
    fi
}
B0=$(metric cloudai_input_bytes_received_total)
run_on w-proc in-proc ""
P=$(cat "$T/w-proc.id")
B1=$(metric cloudai_input_bytes_received_total)
check "inputs: the first submission stored them (input bytes counter grew by >= 20 MiB)" \
    test "$((B1 - B0))" -ge 20971520
[ $DOCKER = 1 ] && run_on w-dock in-dock /input
B2=$(metric cloudai_input_bytes_received_total)
want_eq "inputs: dedup: the same inputs again sent no input bytes (counter $B1 -> $B2)" "$B2" "$B1"
cai task $IMG -input "$T/big.bin:cfg/big.bin" -input "$T/ds" -cmd true >"$T/again.out" 2>"$T/again.err"
check "inputs: dedup: the client says nothing was sent" grep -q 'already on the master, nothing sent' "$T/again.err"
want_eq "inputs: dedup: still no input bytes received" "$(metric cloudai_input_bytes_received_total)" "$B1"
check "inputs: the master stored the 20 MiB input once (one 'stored' log line)" \
    test "$(grep -c "input $BIG stored" "$T/m.log")" = 1
check "inputs: the blob is content-addressed on the master" \
    test -f "$FILES/.inputs/sha256/$(echo "$BIG" | cut -c1-2)/$(echo "$BIG" | cut -c3-)"
check "inputs: the submit banner lists the inputs" grep -q 'Inputs:       /input/cfg/big.bin' "$T/again.out"
# Another user with the same bytes: not served on the hash alone (the store
# is no oracle of other users' data): bob sends them, they are checked and
# kept once.
BB0=$(metric cloudai_input_bytes_received_total)
(export CLOUDAI_USER=bob CLOUDAI_TOKEN=bob-secret XDG_CACHE_HOME=$T/xdg-bob
 cai task $IMG -input "$T/big.bin:cfg/big.bin" -cmd true) >"$T/bob.out" 2>"$T/bob.err"
check "inputs: another user's identical input is sent again, not taken on its hash" \
    grep -q "sending input $T/big.bin (20971520 bytes)" "$T/bob.err"
check "inputs: ... and received in full ($BB0 -> $(metric cloudai_input_bytes_received_total))" \
    test "$(($(metric cloudai_input_bytes_received_total) - BB0))" -ge 20971520
check "inputs: ... and stored once (one blob of that hash)" \
    test "$(ls "$FILES/.inputs/sha256/$(echo "$BIG" | cut -c1-2)" | grep -c "^$(echo "$BIG" | cut -c3-)\$")" = 1
check "inputs: the client remembers the 20 MiB file's hash (no re-read next time)" \
    grep -q " $BIG\$" "$T/xdg/cloudai/input-hashes"
# A changed file (same size, same second) is hashed again, never taken for the old one.
cp "$T/big.bin" "$T/big2.bin"
cai task $IMG -input "$T/big2.bin" -cmd true >/dev/null 2>&1
printf 'CHANGED' | dd of="$T/big2.bin" bs=1 seek=1000 conv=notrunc 2>/dev/null
B2S=$(sha_of "$T/big2.bin")
C2=$(submit dispatch w-proc $IMG -name changed -input "$T/big2.bin" -cmd 'sha256sum "$INPUT_DIR/big2.bin" | cut -d" " -f1 > "$OUTPUT_DIR/sum"')
if [ -n "$C2" ] && wait_final "$C2" 60; then
    want_eq "inputs: a file changed in place is sent as it is now" \
        "$(cat "$(task_dir "$FILES/alice/changed" "$C2")/sum" 2>/dev/null)" "$B2S"
else not_ok "inputs: a file changed in place is sent as it is now"; fi

# Provenance: tasks --json and the HTTP API list every input with its sha256.
task_json "$P" >"$T/p.json"
check "inputs: tasks --json lists the file with its sha256" \
    grep -q "\"dest\":\"cfg/big.bin\",\"path\":\"/input/cfg/big.bin\",\"sha256\":\"$BIG\",\"size\":20971520,\"kind\":\"file\"" "$T/p.json"
check "inputs: tasks --json lists the directory" \
    grep -q '"dest":"ds","path":"/input/ds","sha256":"[0-9a-f]\{64\}","size":[0-9]*,"kind":"dir"' "$T/p.json"
cai tasks -task "$P" >"$T/p.txt" 2>&1
check "inputs: tasks -task ID shows each input with its sha256" \
    grep -q "input /input/cfg/big.bin: file 20.0 MiB sha256 $BIG ($T/big.bin)" "$T/p.txt"
curl -s -H 'Authorization: Bearer alice-secret' "$H/api/tasks/$P" >"$T/api.json"
check "inputs: the HTTP API lists them too" grep -q "\"sha256\":\"$BIG\"" "$T/api.json"

# ---- task:ID and task:ID/PATH: the master takes them from its own store
PROD=$(submit dispatch w-proc $IMG -name producer -cmd 'mkdir -p model/w && echo weights > model/w/a.bin &&
  echo 0.93 > model/acc.txt && echo log > run.log')
wait_final "$PROD" 60 || not_ok "producer finishes"
CONS=$(submit dispatch w-proc $IMG -name consumer -input "task:$PROD" -input "task:$PROD/model:m" \
    -input "task:$PROD/model/acc.txt" \
    -cmd "cat \"\$INPUT_DIR/$PROD/run.log\" \"\$INPUT_DIR/m/w/a.bin\" \"\$INPUT_DIR/acc.txt\" > \"\$OUTPUT_DIR/got.txt\"")
if [ -n "$CONS" ] && wait_final "$CONS" 60; then
    _g=$(task_dir "$FILES/alice/consumer" "$CONS")/got.txt
    want_eq "task:ID whole output at /input/<ID>, task:ID/dir at :m, task:ID/file under its name" \
        "$(tr '\n' ' ' <"$_g" 2>/dev/null)" "log weights 0.93 "
else
    not_ok "task:ID consumer finishes"; diag "$(task_json "$CONS")"
fi
task_json "$CONS" >"$T/c.json"
check "task:ID: the inputs are listed with their source and sha256" \
    grep -q "\"dest\":\"acc.txt\",\"path\":\"/input/acc.txt\",\"sha256\":\"$(printf '0.93\n' | sha256sum | cut -d' ' -f1)\",\"size\":5,\"kind\":\"file\",\"source\":\"task:$PROD/model/acc.txt\"" "$T/c.json"

bad() { # DESC WANT_IN_STDERR ARGS...
    _d=$1 _w=$2; shift 2
    "$CLOUDAI_BIN/cloudai" -master "$MADDR" "$@" >"$T/b.out" 2>"$T/b.err"; _rc=$?
    if [ $_rc -ne 0 ] && grep -q -- "$_w" "$T/b.err"; then ok "$_d: $(head -n 1 "$T/b.err")"
    else not_ok "$_d (exit $_rc)"; diag "$(cat "$T/b.out" "$T/b.err")"; fi
}
BOBS=$(CLOUDAI_USER=bob CLOUDAI_TOKEN=bob-secret submit dispatch w-proc $IMG -name bobs -cmd 'echo secret > s.txt')
as_root() { (export CLOUDAI_USER=root CLOUDAI_TOKEN=root-secret; "$@"); }
as_root wait_final "$BOBS" 60 || not_ok "bob's task finishes"
bad "task:ID of another user's task is refused" "no task $BOBS" task $IMG -input "task:$BOBS" -cmd true
bad "task:ID/PATH of another user's task is refused" "no task $BOBS" task $IMG -input "task:$BOBS/s.txt" -cmd true
ROOTS=$(CLOUDAI_USER=root CLOUDAI_TOKEN=root-secret submit dispatch w-proc $IMG -input "task:$BOBS/s.txt" \
    -cmd 'cat "$INPUT_DIR/s.txt" > "$OUTPUT_DIR/o"')
if [ -n "$ROOTS" ] && as_root wait_final "$ROOTS" 60; then
    want_eq "an admin may use another user's output" "$(as_root tfield "$ROOTS" status)" completed
else not_ok "an admin may use another user's output"; fi
# -after A -input task:A/PATH: submitted while A runs, bound when the
# dependent starts (its SHA-256 recorded then); without -after refused.
A=$(submit dispatch w-proc $IMG -name slowprod -cmd 'sleep 2; echo late > late.txt')
bad "task:ID of a task still running, without -after, is refused naming -after" "add -after $A" \
    task $IMG -input "task:$A/late.txt" -cmd true
L=$(submit dispatch w-proc $IMG -name latecons -after "$A" -input "task:$A/late.txt" \
    -cmd 'cat "$INPUT_DIR/late.txt" > "$OUTPUT_DIR/got"')
check "-after + task:ID: accepted while the dependency runs, listed without a hash yet" \
    sh -c "'$CLOUDAI_BIN/cloudai' -master $MADDR tasks -task $L --json | grep -q '\"dest\":\"late.txt\",\"path\":\"/input/late.txt\",\"sha256\":null'"
if [ -n "$L" ] && wait_final "$L" 60; then
    want_eq "-after + task:ID: the dependent reads the dependency's output" \
        "$(cat "$(task_dir "$FILES/alice/latecons" "$L")/got" 2>/dev/null)" late
    check "-after + task:ID: its SHA-256 is recorded when bound (provenance)" \
        sh -c "'$CLOUDAI_BIN/cloudai' -master $MADDR tasks -task $L --json | grep -q '\"sha256\":\"$(printf 'late\n' | sha256sum | cut -d' ' -f1)\"'"
else not_ok "-after + task:ID: the dependent finishes"; diag "$(task_json "$L")"; fi
R0=$(metric cloudai_input_bytes_received_total)
bad "a missing local path: clear error" "nope.bin: No such file or directory" task $IMG -input "$T/nope.bin" -cmd true
bad "an unknown task: clear error" "no task task-000-nope" task $IMG -input task:task-000-nope -cmd true
bad "a path not in the task's outputs: clear error" "not in that task's outputs" task $IMG -input "task:$PROD/model/nope" -cmd true
bad "a '..' in task:ID/PATH is refused" "may not contain" task $IMG -input "task:$PROD/../x" -cmd true
bad "an absolute DEST is refused" "must be relative" task $IMG -input "$T/ds:/etc" -cmd true
bad "two inputs on one place are refused" "would overlap" task $IMG -input "$T/ds:d" -input "$T/big.bin:d/x" -cmd true
head -c 43000000 /dev/zero >"$T/huge.bin"
bad "an input over [limits] max_input_bytes is refused" "max_input_bytes" task $IMG -input "$T/huge.bin" -cmd true
mkdir -p "$T/leaky"; ln -s /etc/passwd "$T/leaky/pw"
bad "a directory with a link leaving it is refused, the link named" "'pw' is a link to '/etc/passwd'" task $IMG -input "$T/leaky" -cmd true
mkdir -p "$T/withfifo"; mkfifo "$T/withfifo/f"
bad "a directory with a FIFO is refused, the FIFO named" "'f' cannot be sent" task $IMG -input "$T/withfifo" -cmd true
want_eq "refused submissions stored no input bytes" "$(metric cloudai_input_bytes_received_total)" "$R0"

# An input sent for a submission that was then refused is referred to by no
# task: retention's sweep removes it after input_keep_s (2 s here); the
# inputs of stored runs stay.
head -c 100000 /dev/urandom >"$T/orphan.bin"
OS=$(sha_of "$T/orphan.bin")
OB=$FILES/.inputs/sha256/$(echo "$OS" | cut -c1-2)/$(echo "$OS" | cut -c3-)
cai task $IMG -input "$T/orphan.bin" -input task:task-000-nope -cmd true >/dev/null 2>&1
check "an orphan input (its submission refused) was stored" test -f "$OB"
if wait_for "[ ! -e '$OB' ]" 20; then ok "retention's sweep removes an input no task refers to"
else not_ok "retention's sweep removes an input no task refers to"; fi
check "the sweep keeps the inputs of stored runs" \
    test -f "$FILES/.inputs/sha256/$(echo "$BIG" | cut -c1-2)/$(echo "$BIG" | cut -c3-)"

# ---- a worker killed in the middle of a fetch resumes it after a restart
head -c 31457280 /dev/urandom >"$T/fetch.bin"
FS=$(sha_of "$T/fetch.bin")
CLOUDAI_TEST_FETCH_DELAY_MS=300 start_worker w-slow -runtime process -cpu 2 -mem 2g -config "$T/cfg.ini" ||
    not_ok "slow-fetch worker registers"
SLOWPID=$WPID
K=$(submit dispatch w-slow $IMG -name resume -input "$T/fetch.bin:f.bin" \
    -cmd 'sha256sum "$INPUT_DIR/f.bin" | cut -d" " -f1 > "$OUTPUT_DIR/sum"')
PART=$T/w-slow.outputs/.input-cache/$FS.part
if wait_for "[ \$(stat -c %s '$PART' 2>/dev/null || echo 0) -ge 5242880 ]" 60; then
    kill -9 "$SLOWPID"
    ok "the worker is killed mid-fetch ($(stat -c %s "$PART") of 31457280 bytes fetched)"
else
    not_ok "the fetch starts (a .part file grows)"
fi
start_worker w-slow -runtime process -cpu 2 -mem 2g -config "$T/cfg.ini" ||
    not_ok "the killed worker restarts"
if wait_final "$K" 120; then
    want_eq "after the restart the task completed" "$(tfield "$K" status)" completed
    want_eq "the task saw the whole input (sha256)" \
        "$(cat "$(task_dir "$FILES/alice/resume" "$K")/sum" 2>/dev/null)" "$FS"
else
    not_ok "the task whose fetch was interrupted finishes"
fi
check "the restarted worker resumed the fetch, not restarted it" \
    grep -q "input $(echo "$FS" | cut -c1-12): resuming its fetch at byte [1-9]" "$T/w-slow.log"
check "the master served the rest from that offset" grep -q "input $FS: worker w-slow resumes at byte [1-9]" "$T/m.log"

# ---- the worker's cache is bounded: least recently used inputs go first
stop_pid "$(cat "$T/w-slow.pid")"
start_worker w-slow -runtime process -cpu 2 -mem 2g -config "$T/cfg.ini" worker.input_cache_bytes=35m ||
    not_ok "worker restarts with a 35 MiB input cache"
head -c 10485760 /dev/urandom >"$T/ten.bin"
TS=$(sha_of "$T/ten.bin")
E=$(submit dispatch w-slow $IMG -name evict -input "$T/ten.bin" -cmd 'test -s "$INPUT_DIR/ten.bin"')
wait_final "$E" 60 && want_eq "a task with a new 10 MiB input completes" "$(tfield "$E" status)" completed
check "past input_cache_bytes the least recently used input left the cache" \
    sh -c "[ ! -e '$T/w-slow.outputs/.input-cache/$FS' ] && [ -f '$T/w-slow.outputs/.input-cache/$TS' ]"
K2=$(submit dispatch w-slow $IMG -name resume2 -input "$T/fetch.bin:f.bin" \
    -cmd 'sha256sum "$INPUT_DIR/f.bin" | cut -d" " -f1 > "$OUTPUT_DIR/sum"')
if wait_final "$K2" 60; then
    want_eq "an evicted input is fetched again when a task needs it" \
        "$(cat "$(task_dir "$FILES/alice/resume2" "$K2")/sum" 2>/dev/null)" "$FS"
else not_ok "an evicted input is fetched again when a task needs it"; fi

# ---- an input damaged in the master's store is never served as the input:
# the fetch fails clearly, the blob is set aside, its owner's next
# submission sends it again
head -c 3000000 /dev/urandom >"$T/dmg.bin"
DS=$(sha_of "$T/dmg.bin")
DB=$FILES/.inputs/sha256/$(echo "$DS" | cut -c1-2)/$(echo "$DS" | cut -c3-)
D1=$(submit dispatch w-proc $IMG -name dmg1 -input "$T/dmg.bin" -cmd true)
wait_final "$D1" 60 || not_ok "a task with a fresh input finishes"
printf 'X' | dd of="$DB" bs=1 seek=100 conv=notrunc 2>/dev/null
D2=$(submit dispatch w-slow $IMG -name dmg2 -input "$T/dmg.bin" -cmd true)
if [ -n "$D2" ] && wait_final "$D2" 60; then
    want_eq "a task whose input is damaged on the master fails" "$(tfield "$D2" status)" failed
    check "... saying so ($(tfield "$D2" error | cut -c1-150))" \
        sh -c "'$CLOUDAI_BIN/cloudai' -master $MADDR tasks -task $D2 --json | grep -q 'could not start: input .*damaged in the master'"
else not_ok "a task whose input is damaged on the master fails"; fi
check "the master logs the damage and sets the blob aside" \
    sh -c "grep -q 'input $DS is damaged in the store' '$T/m.log' && [ -f '$DB.damaged' ] && [ ! -e '$DB' ]"
DM0=$(metric cloudai_input_bytes_received_total)
D3=$(cai task $IMG -input "$T/dmg.bin" -cmd 'sha256sum "$INPUT_DIR/dmg.bin" | cut -d" " -f1 > "$OUTPUT_DIR/sum"' \
    -json 2>"$T/dmg.err" | jget task_id)
check "its owner's next submission sends it again" \
    test "$(($(metric cloudai_input_bytes_received_total) - DM0))" = 3000000
if [ -n "$D3" ] && wait_final "$D3" 60; then
    _n=$(tfield "$D3" task_name)
    want_eq "... and the task reads the intact bytes" "$(cat "$(task_dir "$FILES/alice/$_n" "$D3")/sum" 2>/dev/null)" "$DS"
else not_ok "... and the task reads the intact bytes"; fi

# ---- a master restart keeps the inputs and their records
stop_pid "$MPID"
LISTEN=$MADDR start_master m -config "$T/cfg.ini" || { not_ok "master restarts"; finish; }
task_json "$P" >"$T/p2.json"
check "after a master restart (journal) tasks --json still lists the inputs" \
    grep -q "\"sha256\":\"$BIG\"" "$T/p2.json"
cai task $IMG -input "$T/big.bin:cfg/big.bin" -cmd true >/dev/null 2>"$T/again2.err"
check "after a master restart the inputs are still held (nothing sent)" \
    grep -q 'already on the master, nothing sent' "$T/again2.err"

# ---- the MongoDB backend (FerretDB) keeps a task's inputs too
if [ -n "${CLOUDAI_TEST_MONGO_URI:-}" ]; then
    cat >"$T/mg.ini" <<EOF
[mongodb]
uri = "$CLOUDAI_TEST_MONGO_URI"
database = inputs_$$_$(date +%s)
[auth]
cluster_token = cluster-secret
user.alice = alice-secret
EOF
    stop_pid "$MPID"
    start_master mg -config "$T/mg.ini" || { not_ok "master on MongoDB starts"; finish; }
    start_worker w-mg -runtime process -cpu 1 -mem 1g -config "$T/mg.ini" || not_ok "worker w-mg registers"
    G=$(submit dispatch w-mg $IMG -name mongo-in -input "$T/ds/train.csv:t.csv" \
        -cmd 'sha256sum "$INPUT_DIR/t.csv" | cut -d" " -f1 > "$OUTPUT_DIR/sum"')
    if [ -n "$G" ] && wait_final "$G" 60; then
        want_eq "MongoDB: the task read its input" \
            "$(cat "$(task_dir "$T/mg/files/alice/mongo-in" "$G")/sum" 2>/dev/null)" "$TRAIN"
    else not_ok "MongoDB: the task read its input"; fi
    stop_pid "$MPID"
    LISTEN=$MADDR start_master mg -config "$T/mg.ini" || { not_ok "master on MongoDB restarts"; finish; }
    check "MongoDB: after a restart tasks --json lists the input with its sha256" \
        sh -c "'$CLOUDAI_BIN/cloudai' -master $MADDR tasks -task $G --json | grep -q '\"dest\":\"t.csv\",\"path\":\"/input/t.csv\",\"sha256\":\"$TRAIN\"'"
else
    skip "inputs on the MongoDB backend: no CLOUDAI_TEST_MONGO_URI (services.sh starts FerretDB)"
fi
finish
