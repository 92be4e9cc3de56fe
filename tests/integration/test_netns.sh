#!/bin/sh
# test_netns.sh — the multi-host set-up of README "Across machines", with
# network namespaces as hosts: the master and three workers each in their
# own namespace, joined by veth links to a bridge (as a switch would join
# machines), TLS and tokens on, tasks submitted from a fourth namespace.
# One worker's link is taken down (`ip link set down`) while it uploads a
# 12 MiB output through a rate-limited link, long enough for the master to
# drop the stalled connection; once the link is back the worker resumes
# the upload. Every output is then downloaded from the client namespace and
# checked against the SHA-256 its task computed where it ran.
. tests/integration/lib.sh

if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null 2>&1 || ! ip netns list >/dev/null 2>&1; then
    skip "netns multi-host: needs root and iproute2 (ip netns)"; finish
fi
if ! command -v tc >/dev/null 2>&1; then skip "netns multi-host: needs tc (iproute2)"; finish; fi

P="cai$$"                                  # namespace name prefix
NET="10.$((200 + $$ % 50)).$(($$ % 250))"  # a private /24 nobody else uses
HOSTS="m w1 w2 w3 c"
NSLIST=""
netns_cleanup() {
    for h in $NSLIST; do ip netns del "$P-$h" 2>/dev/null; done
}
# lib.sh's EXIT trap stops the daemons; the namespaces go after it.
trap 'cleanup; netns_cleanup' EXIT

ip netns add "$P-hub" && NSLIST="hub" || { not_ok "create namespaces"; finish; }
ip -n "$P-hub" link add br0 type bridge && ip -n "$P-hub" link set br0 up
ip -n "$P-hub" link set lo up
n=1
for h in $HOSTS; do
    ip netns add "$P-$h" || { not_ok "create namespace $h"; finish; }
    NSLIST="$NSLIST $h"
    ip link add "$P$h" type veth peer name "${P}b$h" || { not_ok "veth for $h"; finish; }
    ip link set "$P$h" netns "$P-$h"
    ip link set "${P}b$h" netns "$P-hub"
    ip -n "$P-$h" link set "$P$h" name eth0
    ip -n "$P-$h" addr add "$NET.$n/24" dev eth0
    ip -n "$P-$h" link set eth0 up
    ip -n "$P-$h" link set lo up
    ip -n "$P-hub" link set "${P}b$h" master br0
    ip -n "$P-hub" link set "${P}b$h" up
    eval "IP_$h=$NET.$n"
    n=$((n + 1))
done
check "the client namespace has only its veth address" sh -c "ip -n '$P-c' -4 addr show eth0 | grep -q 'inet $IP_c/24'"

# Certificates for the master's address, tokens for workers and the user.
CERTS=$T/certs
scripts/cloudai-certs -d "$CERTS" all "$IP_m" >"$T/certs.log" 2>&1 || { not_ok "certificates"; finish; }
CTOK=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
UTOK=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
cat >"$T/cluster.ini" <<CFG
[master]
listen = $IP_m:7070
heartbeat_interval_s = 1
heartbeat_timeout_s = 30
[limits]
frame_timeout_s = 3
[auth]
cluster_token = $CTOK
user.alice = $UTOK
admins = alice
[tls]
cert = $CERTS/master.crt
key = $CERTS/master.key
CFG
cat >"$T/worker.ini" <<CFG
[worker]
master = $IP_m:7070
runtime = process
cpu = 1
memory = 1g
compress_level = 0
[master]
heartbeat_interval_s = 1
[auth]
cluster_token = $CTOK
[tls]
ca = $CERTS/ca.crt
CFG

ip netns exec "$P-m" env ASAN_OPTIONS="$DAEMON_ASAN" "$CLOUDAI_BIN/master" -config "$T/cluster.ini" \
    -files "$T/m/files" -meta "$T/m/meta" --no-console >"$T/m.out" 2>"$T/m.log" </dev/null &
MPID=$!; PIDS="$PIDS $MPID"; LOGS="$LOGS $T/m.log"
wait_for "grep -q 'master listening on' '$T/m.out' || ! kill -0 $MPID" 30
check "master listens on its own host's address with TLS" grep -q "TLS on $IP_m:7070" "$T/m.log"

# cai_c ARGS... — the client, from the client namespace, over TLS.
cai_c() {
    ip netns exec "$P-c" env CLOUDAI_TLS_CA="$CERTS/ca.crt" CLOUDAI_USER=alice CLOUDAI_TOKEN="$UTOK" \
        "$CLOUDAI_BIN/cloudai" -master "$IP_m:7070" "$@"
}
# w3 keeps the default (adaptive) compression: across a real link it still
# tries deflate (see the end).
grep -v '^compress_level' "$T/worker.ini" >"$T/worker3.ini"
for w in w1 w2 w3; do
    wini=$T/worker.ini; [ "$w" = w3 ] && wini=$T/worker3.ini
    ip netns exec "$P-$w" env ASAN_OPTIONS="$DAEMON_ASAN" "$CLOUDAI_BIN/worker" -config "$wini" \
        -id "$w" -outputs "$T/$w.outputs" >"$T/$w.log" 2>&1 </dev/null &
    eval "WP_$w=$!"; PIDS="$PIDS $!"; LOGS="$LOGS $T/$w.log"
done
ready3() { [ "$(cai_c workers --json 2>/dev/null | grep -c '"state":"ready"')" = 3 ]; }
if wait_for ready3 40; then ok "three workers in three namespaces register over TLS"
else not_ok "three workers in three namespaces register over TLS"; diag "$(cai_c workers 2>&1)"; finish; fi
check "the master sees each worker from its own address" sh -c "grep -q 'w1 registered from $IP_w1' '$T/m.log' && grep -q 'w3 registered from $IP_w3' '$T/m.log'"

# Slow w1's link (12 MiB at 6 Mbit/s: ~17 s of upload) so the cut lands mid-upload.
ip netns exec "$P-w1" tc qdisc add dev eth0 root tbf rate 6mbit burst 32kb latency 400ms ||
    not_ok "rate-limit w1's link"
CMD='head -c 12582912 /dev/urandom > big.bin && mkdir -p sub && echo "$(hostname 2>/dev/null) done" > sub/note.txt && sha256sum big.bin > big.sha256'
ids=""
for w in w1 w2 w3; do
    id=$(cai_c dispatch "$w" cloudai-test:latest -name "nn-$w" -cmd "$CMD" -json 2>"$T/sub.err" | jget task_id)
    [ -n "$id" ] || diag "dispatch to $w: $(cat "$T/sub.err")"
    eval "ID_$w=$id"; ids="$ids $id"
done
want_eq "three tasks submitted from the client namespace" "$(echo $ids | wc -w)" 3

# Cut w1's link once its upload is under way, long past frame_timeout_s.
st() { cai_c tasks -task "$1" --json 2>/dev/null | jget status; }
if wait_for "[ \"\$(st $ID_w1)\" = uploading ]" 60; then
    ok "w1 is uploading"
    ip -n "$P-w1" link set eth0 down && ok "ip link set down on w1 mid-upload"
    sleep 8
    ip -n "$P-w1" link set eth0 up
    ip netns exec "$P-w1" tc qdisc del dev eth0 root 2>/dev/null
else
    not_ok "w1 is uploading"; diag "$(cai_c tasks 2>&1)"
fi

for w in w1 w2 w3; do
    eval "id=\$ID_$w"
    if wait_for "[ \"\$(st $id)\" = completed ]" 120; then ok "$w: task completed"; else not_ok "$w: task completed"; diag "$(cai_c tasks -task "$id" --json 2>&1)"; continue; fi
    rm -rf "$T/get-$w"
    if cai_c get "$id" "$T/get-$w" >/dev/null 2>"$T/get-$w.err"; then
        ok "$w: outputs downloaded in the client namespace"
    else
        not_ok "$w: outputs downloaded in the client namespace"; diag "$(cat "$T/get-$w.err")"; continue
    fi
    check "$w: big.bin matches the SHA-256 computed where it ran" sh -c "cd '$T/get-$w' && sha256sum -c big.sha256"
    check "$w: sub-directory kept" test -f "$T/get-$w/sub/note.txt"
done
check "w1's upload was interrupted and resumed (or retried)" sh -c "grep -E -q 'resum|retry|retrying|offset [1-9]' '$T/w1.log'"
diag "$(grep -E 'upload|resum|retry' "$T/w1.log" | tail -n 5)"
check "the master stored every run once" sh -c "[ \$(find '$T/m/files' -name big.bin | wc -l) = 3 ]"

# Adaptive compression to a master on another host explores deflate: 24 MiB
# of log lines (past the 12th chunk, where the first exploration starts)
# go out smaller than they are. (To a master on the same host nothing is
# deflated: test_process.)
id=$(cai_c dispatch w3 cloudai-test:latest -name nn-text -cmd 'yes "a line of a log, repeated" | head -c 25165824 > log.txt' -json 2>"$T/sub.err" | jget task_id)
if [ -n "$id" ] && wait_for "[ \"\$(st $id)\" = completed ]" 120; then
    up=$(grep "task $id: uploaded" "$T/w3.log" | sed -E 's/.*uploaded ([0-9]+) bytes \(([0-9]+) on the wire.*/\1 \2/')
    check "across hosts, adaptive compression deflates some of a text output ($up)" \
        sh -c "set -- $up; [ \"\$2\" -lt \"\$1\" ]"
else
    not_ok "a text output from w3 completes"; diag "$(cat "$T/sub.err"; cai_c tasks 2>&1 | tail -3)"
fi
finish
