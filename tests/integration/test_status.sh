#!/bin/sh
# test_status.sh — operations views: `cloudai status` (workers, queue,
# finished tasks, store use, degraded backends; admins only) and the
# per-worker gauges of /metrics (free/total resources, running, last seen).
. tests/integration/lib.sh

cat >"$T/cfg.ini" <<CFG
[master]
heartbeat_interval_s = 1
heartbeat_timeout_s = 3
[http]
listen = 127.0.0.1:0
[scheduler]
queue_unsatisfiable = true
CFG
start_master m -config "$T/cfg.ini" || { not_ok "master starts"; finish; }
HADDR=$(sed -n 's/^master http on \([^ ]*\).*/\1/p' "$T/m.out" | head -n 1)
start_worker w1 -runtime process -cpu 2 -mem 1g -storage 2g || not_ok "worker w1 starts"
W1=$WPID
start_worker w2 -runtime process -cpu 1 -mem 512m -storage 1g || not_ok "worker w2 starts"
ID=$(submit task cloudai-test:latest -name st -cmd 'head -c 5000 /dev/zero > $OUTPUT_DIR/z.bin')
wait_final "$ID" 60
Q=$(submit task cloudai-test:latest -name big -cpu_cores 64 -cmd true)   # fits nowhere: stays queued

cai status >"$T/status.txt" 2>&1; rc=$?
want_eq "cloudai status exits 0" "$rc" 0
diag "$(cat "$T/status.txt")"
check "status: 2 ready workers" grep -q '^workers   2 ready, 0 lost' "$T/status.txt"
check "status: pooled free resources" grep -q 'cpu 3/3, memory 1.5 GiB/1.5 GiB' "$T/status.txt"
check "status: the queue holds the task that fits nowhere" grep -q '^queue     1 queued' "$T/status.txt"
check "status: one completed" grep -q '^finished  1 completed, 0 failed' "$T/status.txt"
check "status: store use (5000 bytes of outputs) and backend" grep -q '^store     4.9 KiB of outputs; .* free of .*; metadata: journal' "$T/status.txt"
check "status: all backends working" grep -q '^backends  all working' "$T/status.txt"
J=$(cai status --json)
check "status --json: queue_length 1" sh -c "echo '$J' | grep -q '\"queue_length\":1'"
check "status --json: store_bytes 5000" sh -c "echo '$J' | grep -q '\"store_bytes\":5000'"
check "status --json: degraded is empty" sh -c "echo '$J' | grep -q '\"degraded\":\[\]'"

# /metrics: per-worker gauges.
curl -s "http://$HADDR/metrics" >"$T/metrics.txt"
check "metrics: cpu total per worker" grep -q '^cloudai_worker_cpu_total{worker="w1",state="ready"} 2$' "$T/metrics.txt"
check "metrics: cpu free per worker" grep -q '^cloudai_worker_cpu_free{worker="w2",state="ready"} 1$' "$T/metrics.txt"
check "metrics: memory total per worker" grep -q '^cloudai_worker_memory_bytes_total{worker="w1",state="ready"} 1073741824$' "$T/metrics.txt"
check "metrics: storage free per worker" grep -q '^cloudai_worker_storage_bytes_free{worker="w2",state="ready"} 1073741824$' "$T/metrics.txt"
check "metrics: running per worker" grep -q '^cloudai_worker_running_tasks{worker="w1",state="ready"} 0$' "$T/metrics.txt"
check "metrics: last seen per worker (unix seconds)" grep -Eq '^cloudai_worker_last_seen_timestamp_seconds\{worker="w1",state="ready"\} 1[0-9]{9}' "$T/metrics.txt"
check "metrics: one TYPE line per gauge" sh -c "[ \$(grep -c '^# TYPE cloudai_worker_cpu_total gauge' '$T/metrics.txt') = 1 ]"

# A lost worker is named, and its gauges say so.
stop_pid "$W1"
wait_for "cai workers --json | grep '\"worker_id\":\"w1\"' | grep -q '\"state\":\"lost\"'" 30
cai status >"$T/status2.txt" 2>&1
check "status: lost worker counted" grep -q '^workers   1 ready, 1 lost' "$T/status2.txt"
check "status: lost worker named" grep -q '^worker    w1 is lost (last seen' "$T/status2.txt"
check "metrics: lost worker not ready" sh -c "curl -s 'http://$HADDR/metrics' | grep -q '^cloudai_worker_ready{worker=\"w1\",state=\"lost\"} 0$'"

# A degraded file store is reported (root ignores modes: skip then).
if [ "$(id -u)" != 0 ]; then
    chmod a-w "$T/m/files"
    cai status >"$T/status3.txt" 2>&1
    check "status: unwritable file store is degraded" grep -q '^DEGRADED  file store .*not writable' "$T/status3.txt"
    chmod u+w "$T/m/files"
else
    mv "$T/m/files" "$T/m/files.away"
    cai status >"$T/status3.txt" 2>&1
    check "status: missing file store is degraded" grep -q '^DEGRADED  file store .*not writable' "$T/status3.txt"
    mv "$T/m/files.away" "$T/m/files"
fi
cai cancel "$Q" >/dev/null
finish
