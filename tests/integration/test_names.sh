#!/bin/sh
# test_names.sh — task names as users type them, on the process runtime:
# UTF-8 letters and digits survive (模型-训练 is stored as typed, its run
# directory and its HTTP listing too), what is not a letter or digit is
# normalised the same way at submit and in every filter (TCP and HTTP), the
# banner shows the stored name when it differs, a glob's '?' is one
# character, the 64-byte cap is refused rather than cut, `tasks` is newest
# first under -limit, `files -task nope` exits 1 like `tasks -task nope`, and
# `cancel -name` stops every open run of a name and nothing else.
. tests/integration/lib.sh
IMG=cloudai-test:latest
CJK='模型-训练'
RU='модель_1'

write_config "$T/cfg.ini"
printf '[auth]\ncluster_token = cluster-secret\nuser.tester = tester-secret\n' >>"$T/cfg.ini"
printf '[http]\nlisten = 127.0.0.1:0\n' >>"$T/cfg.ini"
start_master m -config "$T/cfg.ini" || { not_ok "master starts"; exit 1; }
export CLOUDAI_TOKEN=tester-secret
CLOUDAI_CLUSTER_TOKEN=cluster-secret start_worker w1 -runtime process -cpu 2 -mem 1g \
    -config "$T/cfg.ini" || { not_ok "worker registers"; finish; }
HADDR=$(sed -n 's/^master http on \([^ ]*\).*/\1/p' "$T/m.out" | head -n 1)

A=$(submit task $IMG -name "$CJK" -cmd 'echo a > a.txt')
B=$(submit task $IMG -name "$RU" -cmd 'echo b > b.txt')
C=$(submit task $IMG -name "my run" -cmd 'echo c > c.txt')
for id in $A $B $C; do wait_final "$id" 60 || not_ok "task $id ends"; done

want_eq "UTF-8 name stored as typed (CJK)" "$(tfield "$A" task_name)" "$CJK"
want_eq "UTF-8 name stored as typed (Cyrillic)" "$(tfield "$B" task_name)" "$RU"
want_eq "a space is normalised to '_'" "$(tfield "$C" task_name)" "my_run"
check "the CJK run directory carries the name" \
    test -f "$(task_dir "$T/m/files/tester/$CJK" "$A")/a.txt"

n=$(cai tasks -name "$CJK" --json | grep -c '"task_id"')
want_eq "tasks -name 模型-训练 finds exactly its task" "$n" 1
n=$(cai tasks -name '??-*' --json | grep -c '"task_id"')
want_eq "a glob '?' matches one character (??-* finds 模型-训练 only)" "$n" 1
n=$(cai tasks -name "my run" --json | grep -c "\"task_id\":\"$C\"")
want_eq "the filter is normalised as at submit ('my run' finds my_run)" "$n" 1
n=$(cai files -name "$CJK" --json | grep -c '"file_name":"a.txt"')
want_eq "files -name 模型-训练 lists its output" "$n" 1

# HTTP: the same name in a query string (percent-encoded by the client).
if [ -n "$HADDR" ] && command -v curl >/dev/null 2>&1; then
    body=$(curl -s -G -H "Authorization: Bearer tester-secret" --data-urlencode "task_name=$CJK" \
        "http://$HADDR/api/tasks")
    case $body in
        *"\"task_id\":\"$A\""*) ok "HTTP /api/tasks?task_name=模型-训练 finds it" ;;
        *) not_ok "HTTP /api/tasks?task_name=模型-训练 finds it"; diag "$body" ;;
    esac
    body=$(curl -s -G -H "Authorization: Bearer tester-secret" --data-urlencode "task_name=my run" \
        "http://$HADDR/api/tasks")
    case $body in
        *"\"task_id\":\"$C\""*) ok "HTTP filter normalised as at submit" ;;
        *) not_ok "HTTP filter normalised as at submit"; diag "$body" ;;
    esac
else
    skip "HTTP checks: no HTTP listener or no curl"
fi

# The banner says when the stored name differs from the one typed.
cai task $IMG -name "odd name!" -cmd true >"$T/banner" 2>&1
check "the banner shows the stored name and says it is the stored one" \
    grep -q 'Task Name: *odd_name_ *(stored name' "$T/banner"
cai task $IMG -name "$CJK" -cmd true >"$T/banner2" 2>&1
check "no note when the name is stored as typed" \
    sh -c "grep -q 'Task Name: *$CJK\$' '$T/banner2'"

# One cap: 65 bytes refused (not cut), 64 bytes of CJK-free name kept.
long=$(printf 'a%.0s' $(seq 1 65))
cai task $IMG -name "$long" -cmd true >"$T/l.out" 2>"$T/l.err"; rc=$?
if [ $rc -ne 0 ] && grep -q 'at most 64 bytes' "$T/l.err"; then
    ok "a 65-byte name is refused: $(head -n 1 "$T/l.err")"
else
    not_ok "a 65-byte name is refused (exit $rc)"; diag "$(cat "$T/l.out" "$T/l.err")"
fi
ok64=$(submit task $IMG -name "$(printf 'b%.0s' $(seq 1 64))" -cmd true)
want_eq "a 64-byte name is kept whole" "$(tfield "$ok64" task_name | wc -c)" 65

# Newest first: -limit 3 shows the three newest submissions.
L1=$(submit task $IMG -name order -cmd true)
L2=$(submit task $IMG -name order -cmd true)
L3=$(submit task $IMG -name order -cmd true)
got=$(cai tasks -limit 3 --json | sed -n 's/.*"task_id":"\([^"]*\)".*/\1/p' | tr '\n' ' ')
want_eq "tasks -limit 3 shows the three newest, newest first" "$got" "$L3 $L2 $L1 "

cai files -task nope >"$T/f.out" 2>"$T/f.err"; rc=$?
want_eq "files -task nope exits 1" "$rc" 1
check "files -task nope says 'no task nope'" grep -q 'no task nope' "$T/f.err"
E=$(submit task $IMG -name empty -cmd true)
wait_final "$E" 30
cai files -task "$E" >"$T/e.out" 2>"$T/e.err"; rc=$?
want_eq "files -task of a task with no outputs exits 0" "$rc" 0

# cancel -name: every run of the name that has not ended, and only those
# (as scancel --name); a finished run of the name and another name untouched.
K0=$(submit task $IMG -name stopme -cmd true)
wait_final "$K0" 30
K1=$(submit task $IMG -name stopme -cmd 'sleep 60')
K2=$(submit task $IMG -name stopme -cmd 'sleep 60')
K3=$(submit task $IMG -name keepme -cmd 'sleep 60')
cai cancel -name "stopme" >"$T/c.out" 2>"$T/c.err"; rc=$?
want_eq "cancel -name exits 0" "$rc" 0
want_eq "cancel -name names each run it cancelled" "$(grep -c -E "^($K1|$K2): " "$T/c.out")" 2
for id in $K1 $K2; do wait_final "$id" 30; done
want_eq "cancel -name: the first open run cancelled" "$(tfield "$K1" status)" cancelled
want_eq "cancel -name: the second open run cancelled" "$(tfield "$K2" status)" cancelled
want_eq "cancel -name: the finished run kept its status" "$(tfield "$K0" status)" completed
case $(tfield "$K3" status) in queued|assigned|running) ok "cancel -name: another name's run goes on" ;;
    *) not_ok "cancel -name: another name's run goes on"; diag "status $(tfield "$K3" status)" ;; esac
cai cancel -name "stopme" >"$T/c2.out" 2>"$T/c2.err"; rc=$?
want_eq "cancel -name with nothing left to cancel exits 1" "$rc" 1
check "... and says so" grep -q "no queued or running run named 'stopme'" "$T/c2.err"
cai cancel "$K3" >/dev/null 2>&1
finish
