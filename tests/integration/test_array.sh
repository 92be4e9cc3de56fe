#!/bin/sh
# test_array.sh — -array A-B[%P] (README "Arrays"), on the process runtime
# and on Docker (cloudai-test:latest): one submission makes B-A+1 tasks,
# each with CLOUDAI_ARRAY_INDEX set and its own outputs; `tasks -array ID`
# lists them; `wait ARRAY_ID` waits for all and exits with the first
# failure's code; %P: at most P run at once (from the tasks' own start and
# end stamps, process runtime); a bad range is refused.
. tests/integration/lib.sh
IMG=cloudai-test:latest

write_config "$T/cfg.ini"
start_master m -config "$T/cfg.ini" || { not_ok "master starts"; exit 1; }
start_worker w-proc -runtime process -cpu 8 -mem 4g -config "$T/cfg.ini" ||
    { not_ok "process worker registers"; exit 1; }
RUNTIMES=w-proc
if docker_ok; then
    start_worker w-dock -runtime docker -cpu 4 -mem 2g -config "$T/cfg.ini" &&
        RUNTIMES="w-proc w-dock" || not_ok "docker worker registers"
else
    skip "array on docker: no Docker or no image"
fi
FILES=$T/m/files/$CLOUDAI_USER

for W in $RUNTIMES; do
    cai dispatch "$W" $IMG -name arr-$W -mem 64m -cpu_cores 0.5 -array 3-7 -json \
        -cmd 'echo "$CLOUDAI_ARRAY_INDEX" > "$OUTPUT_DIR/index.txt"' >"$T/sub.json" 2>"$T/sub.err"
    AID=$(jget array_id <"$T/sub.json")
    check "$W: -array 3-7 is accepted and names its array" [ -n "$AID" ]
    r=$(cai wait "$AID" >"$T/wait.out" 2>&1; echo $?)
    want_eq "$W: wait ARRAY_ID waits for every task (exit 0)" "$r $(wc -l <"$T/wait.out")" "0 5"
    [ "$r" = 0 ] || diag "$(cat "$T/wait.out")"
    cai tasks -array "$AID" --json >"$T/list.json"
    want_eq "$W: tasks -array lists its 5 tasks" "$(grep -c '"task_id"' "$T/list.json")" 5
    want_eq "$W: with their indices" \
        "$(sed -n 's/.*"array_index":\([0-9]*\).*/\1/p' "$T/list.json" | sort -n | tr '\n' ' ')" "3 4 5 6 7 "
    got=""
    for id in $(sed -n 's/.*"task_id":"\([^"]*\)".*/\1/p' "$T/list.json"); do
        echo "$id" >>"$T/task_ids"
        d=$(task_dir "$FILES/arr-$W" "$id")
        got="$got $(cat "$d/index.txt" 2>/dev/null)"
    done
    want_eq "$W: each task saw its own CLOUDAI_ARRAY_INDEX, in its own output" \
        "$(echo $got | tr ' ' '\n' | sort -n | tr '\n' ' ')" "3 4 5 6 7 "
done

# ---- %P: at most P at once (process runtime: each task notes when it ran)
mkdir -p "$T/stamps"
cai dispatch w-proc $IMG -name capped -mem 64m -cpu_cores 0.5 -array 1-6%2 -json \
    -cmd "s=\$(date +%s%N); sleep 1; e=\$(date +%s%N); echo \"\$s \$e\" > $T/stamps/\$CLOUDAI_ARRAY_INDEX" \
    >"$T/sub.json" 2>&1
AID=$(jget array_id <"$T/sub.json")
check "%P: the capped array waits: a task says why" \
    sh -c "$CLOUDAI_BIN/cloudai -master $MADDR tasks -array $AID | grep -q 'tasks of $AID run (-array %2)'"
r=$(cai wait "$AID" >/dev/null 2>&1; echo $?)
want_eq "%P: all 6 complete" "$r $(ls "$T/stamps" | wc -l)" "0 6"
# Most overlapping runs, from the tasks' own stamps.
maxrun=$(cat "$T/stamps"/* | awk '{ print $1, 1; print $2, -1 }' | sort -n -k1,1 -k2,2n |
    awk '{ n += $2; if (n > m) m = n } END { print m }')
check "%P: never more than 2 ran at once (saw $maxrun)" [ "$maxrun" -le 2 ]

# ---- a failing member: wait exits with the first (by index) failure
cai task $IMG -name mixed -mem 64m -cpu_cores 0.5 -array 0-3 -json \
    -cmd '[ "$CLOUDAI_ARRAY_INDEX" != 2 ] || exit 9' >"$T/sub.json" 2>&1
AID=$(jget array_id <"$T/sub.json")
r=$(cai wait "$AID" >/dev/null 2>&1; echo $?)
want_eq "a failing task of the array: wait exits with its code (9)" "$r" 9
# -after ARRAY_ID: after all of its tasks (the client names them).
D=$(submit task $IMG -name after-arr -mem 64m -after "$AID" -cmd true)
DA=$(submit task $IMG -name after-any-arr -mem 64m -after-any "$AID" -cmd true)
wait_final "$D" 30; wait_final "$DA" 30
want_eq "-after ARRAY_ID: failed, since index 2 failed; -after-any: completed" \
    "$(tfield "$D" status) $(tfield "$DA" status)" "failed completed"
r=$(cai task $IMG -name w -mem 64m -cpu_cores 0.5 -array 1-2 -wait -cmd true >"$T/o" 2>&1; echo $?)
want_eq "task -array -wait waits for the whole array" "$r $(grep -c ' w\[[12]\] completed, exit 0' "$T/o")" "0 2"

bad() { # DESC SPEC
    cai task $IMG -array "$2" -cmd true >"$T/o" 2>"$T/e"; _r=$?
    if [ $_r -ne 0 ] && [ -s "$T/e" ]; then ok "$1: $(head -n 1 "$T/e")"
    else not_ok "$1 (exit $_r)"; fi
}
bad "a reversed range is refused" 5-1
bad "a cap of 0 is refused" 1-3%0
bad "too many tasks are refused" 1-20000
bad "garbage is refused" 1-x
r=$(cai tasks -array array-nope >/dev/null 2>"$T/e"; echo $?)
want_eq "tasks -array of an unknown array exits 1" "$r" 1
finish
