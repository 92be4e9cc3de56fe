#!/bin/sh
# test_catalog.sh — one catalog behind both fronts (src/master/catalog.c):
# a non-admin asking for another user's tasks or files is refused the same
# way over TCP (ERROR FORBIDDEN, the CLI exits non-zero) and HTTP (403);
# `cloudai workers` and /api/workers answer every user; LIST_TASKS honours
# WORKER_ID; every listing pages with a cursor and never stops silently: a
# 5,000-file run is listed whole by following next_cursor over HTTP and by
# the CLI (which follows CURSOR by itself), with no record twice.
. tests/integration/lib.sh
command -v curl >/dev/null 2>&1 || { skip "curl not installed"; exit 0; }

cat >"$T/cfg.ini" <<EOF
[master]
heartbeat_interval_s = 1
[auth]
cluster_token = cluster-secret
user.alice = alice-secret
user.bob = bob-secret
user.root = root-secret
admins = root
[http]
listen = 127.0.0.1:0
EOF
start_master m -config "$T/cfg.ini" || { not_ok "master starts"; exit 1; }
HADDR=$(sed -n 's/^master http on \([^ ]*\).*/\1/p' "$T/m.out" | head -n 1); H="http://$HADDR"
export CLOUDAI_USER=alice CLOUDAI_TOKEN=alice-secret
CLOUDAI_CLUSTER_TOKEN=cluster-secret start_worker w1 -runtime process -cpu 2 -mem 1g \
    -config "$T/cfg.ini" 2>/dev/null || { not_ok "worker starts"; exit 1; }
hc() { _u=$1 _p=$2; shift 2
    curl -s -o "$T/body" -w '%{http_code}' -H "Authorization: Bearer $_u-secret" "$@" "$H$_p"; }
asroot() { CLOUDAI_USER=root CLOUDAI_TOKEN=root-secret "$@"; }

# ---- one refusal on both fronts
B1=$(CLOUDAI_USER=bob CLOUDAI_TOKEN=bob-secret submit task cloudai-test:latest -name b -cmd "echo b > b.txt")
want_eq "HTTP: alice asking for bob's tasks: 403" "$(hc alice '/api/tasks?user_id=bob')" 403
grep -q "only admins may list other users' tasks" "$T/body" && ok "HTTP says why" || not_ok "HTTP says why"
if cai tasks -user bob >"$T/o" 2>"$T/e"; then not_ok "TCP: alice asking for bob's tasks fails"
else ok "TCP: alice asking for bob's tasks fails"; fi
grep -q "only admins may list other users' tasks (FORBIDDEN)" "$T/e" && ok "TCP says the same (FORBIDDEN)" ||
    { not_ok "TCP says the same (FORBIDDEN)"; diag "$(cat "$T/e")"; }
want_eq "HTTP: alice asking for bob's files: 403" "$(hc alice '/api/files?user_id=bob')" 403
cai files -user bob >/dev/null 2>"$T/e"
grep -q "only admins may list other users' files (FORBIDDEN)" "$T/e" && ok "TCP files: the same refusal" ||
    { not_ok "TCP files: the same refusal"; diag "$(cat "$T/e")"; }
asroot wait_final "$B1" 60 || not_ok "task $B1 finishes"
want_eq "an admin lists bob's tasks over TCP" \
    "$(asroot cai tasks -user bob --json | grep -c "\"task_id\":\"$B1\"")" 1
want_eq "an admin lists bob's tasks over HTTP" "$(hc root '/api/tasks?user_id=bob')" 200
want_eq "HTTP: a user lists workers (200)" "$(hc alice /api/workers)" 200
grep -q '"w1"' "$T/body" && ok "HTTP workers lists w1" || not_ok "HTTP workers lists w1"
cai workers | grep -q '^w1 ' && ok "TCP: a user lists workers" || not_ok "TCP: a user lists workers"
# WORKER_ID filter: bob's task ran on w1, none on w2.
hc root '/api/tasks?worker_id=w1' >/dev/null
grep -q "\"task_id\":\"$B1\"" "$T/body" && ok "worker_id=w1 lists the task that ran there" ||
    not_ok "worker_id=w1 lists the task that ran there"
hc root '/api/tasks?worker_id=w2' >/dev/null
grep -q '"tasks":\[\]' "$T/body" && ok "worker_id=w2: none" || not_ok "worker_id=w2: none"

# ---- a 5,000-file run, listed whole through cursors
A=$(submit task cloudai-test:latest -name many -cmd 'i=0; while [ $i -lt 5000 ]; do echo $i > f$i.txt; i=$((i+1)); done')
wait_final "$A" 180 || not_ok "task $A finishes"
want_eq "the run stored 5,000 files" "$(tfield "$A" output_files)" 5000
hc alice "/api/files?task_id=$A" >/dev/null
want_eq "HTTP: a first page without limit has 1,000 files" \
    "$(grep -o '"file_name"' "$T/body" | wc -l | tr -d ' ')" 1000
grep -q '"next_cursor":"' "$T/body" && ok "HTTP: and says more follow (next_cursor)" ||
    not_ok "HTTP: and says more follow (next_cursor)"
: >"$T/names"
C=""; pages=0
while [ $pages -lt 100 ]; do
    pages=$((pages + 1))
    if [ -n "$C" ]; then code=$(hc alice "/api/files" -G --data-urlencode "task_id=$A" \
                                   --data-urlencode limit=700 --data-urlencode "cursor=$C")
    else code=$(hc alice "/api/files?task_id=$A&limit=700"); fi
    [ "$code" = 200 ] || { not_ok "HTTP page $pages: 200"; diag "got $code: $(cat "$T/body")"; break; }
    grep -o '"file_name":"[^"]*"' "$T/body" >>"$T/names"
    C=$(sed -n 's/.*"next_cursor":"\([^"]*\)".*/\1/p' "$T/body")
    [ -n "$C" ] || break
done
want_eq "HTTP: 5,000 files over 8 pages of 700" "$(wc -l <"$T/names" | tr -d ' ') $pages" "5000 8"
want_eq "HTTP: no file twice" "$(sort -u "$T/names" | wc -l | tr -d ' ')" 5000
cai files -task "$A" --json >"$T/cli.json" 2>"$T/e"
want_eq "CLI: cloudai files follows the cursor to all 5,000" "$(grep -c '"file_name"' "$T/cli.json")" 5000
want_eq "CLI: no file twice" \
    "$(grep -o '"file_name":"[^"]*"' "$T/cli.json" | sort -u | wc -l | tr -d ' ')" 5000
want_eq "CLI: -limit 1234 shows 1,234" "$(cai files -task "$A" -limit 1234 --json | grep -c '"file_name"')" 1234
# Tasks page the same way, newest first on both fronts.
hc alice '/api/tasks?limit=1' >/dev/null
grep -q "\"task_id\":\"$A\"" "$T/body" && ok "HTTP tasks newest first" || not_ok "HTTP tasks newest first"
want_eq "CLI tasks newest first" "$(cai tasks --json | grep "\"task_id\"" | head -n 1 | jget task_id)" "$A"
finish
