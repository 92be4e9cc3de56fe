#!/bin/sh
# test_retention.sh — [retention] end to end (the sweep itself runs with a
# fake clock in tests/unit/test_retention.c): a user over the soft quota
# is warned in the submit reply, at the hard quota refused with a clear
# message while other users go on; expiry is shown (expires_at) and a pin
# (POST /api/tasks/ID/pin) makes it "never"; deleting a run's files
# brings the user back under the hard limit.
. tests/integration/lib.sh
command -v curl >/dev/null 2>&1 || { skip "curl not installed"; exit 0; }

cat >"$T/cfg.ini" <<EOF
[master]
heartbeat_interval_s = 1
[http]
listen = 127.0.0.1:0
[retention]
max_age_days = 30
rule.keep-* = 0
quota_soft = 1k
quota_hard = 3k
quota.bob = 0,1g
sweep_interval_s = 1
EOF
start_master m -config "$T/cfg.ini" || { not_ok "master starts"; exit 1; }
H="http://$(sed -n 's/^master http on \([^ ]*\).*/\1/p' "$T/m.out" | head -n 1)"
start_worker w1 -runtime process -cpu 2 -mem 1g || true
export CLOUDAI_USER=alice

A1=$(submit task cloudai-test:latest -name exp -cmd 'head -c 2000 /dev/zero > out.bin')
wait_final "$A1" 60 || not_ok "first task finishes"
cai task cloudai-test:latest -name exp -cmd 'head -c 2000 /dev/zero > out.bin' >"$T/sub2.out" 2>"$T/sub2.err"
A2=$(sed -n 's/^ *Task ID: *//p' "$T/sub2.out")
grep -q 'soft quota' "$T/sub2.err" && ok "over the soft quota: accepted with a warning" ||
    { not_ok "over the soft quota: accepted with a warning"; sed 's/^/# /' "$T/sub2.err"; }
[ -n "$A2" ] && echo "$A2" >>"$T/task_ids"
wait_final "$A2" 60 || not_ok "second task finishes"
if cai task cloudai-test:latest -name exp -cmd 'true' >"$T/sub3.out" 2>"$T/sub3.err"; then
    not_ok "at the hard quota: refused"
else
    grep -q 'hard quota' "$T/sub3.err" && ok "at the hard quota: refused with a clear message" ||
        { not_ok "at the hard quota: refused with a clear message"; sed 's/^/# /' "$T/sub3.err"; }
fi
B1=$(CLOUDAI_USER=bob submit task cloudai-test:latest -name keep-b -cmd 'head -c 5000 /dev/zero > b.bin')
[ -n "$B1" ] && ok "another user is not blocked" || not_ok "another user is not blocked"
wait_final "$B1" 60 || true

# Expiry shown, pins make it never.
curl -s "$H/api/tasks/$A1" >"$T/a1.json"
EXP=$(jget expires_at <"$T/a1.json")
DONE=$(jget completed_at <"$T/a1.json")
want_eq "expires_at = completed_at + 30 days" "$EXP" "$((DONE + 30 * 86400000))"
curl -s "$H/api/tasks/$B1" >"$T/b1.json"
grep -q '"expires_at":null' "$T/b1.json" && ok "a rule of 0 days: never expires" || not_ok "a rule of 0 days: never expires"
curl -s -X POST "$H/api/tasks/$A1/pin" >"$T/pin.json"
grep -q '"pinned":true' "$T/pin.json" && grep -q '"expires_at":null' "$T/pin.json" &&
    ok "pinned run: never expires" || not_ok "pinned run: never expires"
grep -qx "$A1" "$T/m/meta/pins" && ok "pin is stored" || not_ok "pin is stored"
curl -s -X DELETE "$H/api/tasks/$A1/pin" >"$T/unpin.json"
grep -q '"pinned":false' "$T/unpin.json" && ok "unpin" || not_ok "unpin"

# Deleting a run's files frees the quota.
curl -s -o /dev/null -X DELETE "$H/api/tasks/$A2/files"
A3=$(submit task cloudai-test:latest -name exp -cmd 'true')
[ -n "$A3" ] && ok "after a delete, alice may submit again" || not_ok "after a delete, alice may submit again"
exit 0
