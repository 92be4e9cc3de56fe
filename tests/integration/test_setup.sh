#!/bin/sh
# test_setup.sh — configuration as the docs say: section.key=value overrides
# on the command line of master and worker, `master --dev` serving the web
# browser on 127.0.0.1 and printing its URL, and config.example.ini's
# change-me placeholders refused with a clear message.
. tests/integration/lib.sh

# Overrides reach the master: http.listen turns the HTTP API on.
if start_master bad heartbeat.nothing=1 >/dev/null 2>&1; then not_ok "unknown override key refused"
else check "unknown override key refused with its name" grep -q "unknown key 'nothing' in \[heartbeat\]" "$T/bad.log"; fi
start_master m http.listen=127.0.0.1:0 master.heartbeat_timeout_s=30 ||
    { not_ok "master starts with overrides"; finish; }
HADDR=$(sed -n 's/^master http on \([^ ]*\).*/\1/p' "$T/m.out" | head -n 1)
check "http.listen=127.0.0.1:0 serves the HTTP API" sh -c "curl -sf http://$HADDR/api/workers | grep -q workers"

# ... and the worker: worker.cpu / worker.memory / worker.runtime.
start_worker w1 worker.cpu=3 worker.memory=1g worker.runtime=process ||
    not_ok "worker starts with overrides"
W=$(cai workers --json | grep '"worker_id":"w1"')
want_eq "worker.cpu=3 is what the worker offers" "$(echo "$W" | jget cpu)" 3
ID=$(submit task cloudai-test:latest -name over -cmd 'echo hi > $OUTPUT_DIR/hi.txt')
wait_final "$ID" 60 && want_eq "task runs on the overridden worker" "$(tfield "$ID" status)" completed
stop_pid "$WPID"

# A bad value stops the worker with the key and the reason.
out=$(ASAN_OPTIONS=$DAEMON_ASAN "$CLOUDAI_BIN/worker" -master "$MADDR" worker.cpu=lots 2>&1); rc=$?
want_eq "bad override exits 2" "$rc" 2
printf '%s\n' "$out" >"$T/bad-worker.txt"
check "bad override names key and reason" grep -qF "[worker] cpu: 'lots' is not a number" "$T/bad-worker.txt"

# The example configuration as a starting point: placeholders refused.
out=$(ASAN_OPTIONS=$DAEMON_ASAN "$CLOUDAI_BIN/master" -config config.example.ini -listen 127.0.0.1:0 \
      -files "$T/x/files" -meta "$T/x/meta" --no-console 2>&1 </dev/null); rc=$?
want_eq "master refuses change-me tokens (exit 2)" "$rc" 2
printf '%s\n' "$out" >"$T/refused.txt"
check "master says which token is a placeholder" grep -q 'cluster_token is still the example placeholder' "$T/refused.txt"
out=$(ASAN_OPTIONS=$DAEMON_ASAN "$CLOUDAI_BIN/worker" -config config.example.ini 2>&1 </dev/null); rc=$?
want_eq "worker refuses change-me tokens (exit 2)" "$rc" 2
if start_master ex -config config.example.ini auth.cluster_token=7f3a9c auth.user.alice=a1 \
        auth.user.bob=b2; then
    ok "example config with real tokens given as overrides starts"
    stop_pid "$MPID"
else
    not_ok "example config with real tokens given as overrides starts"
fi

# --dev: master + worker + web browser on 127.0.0.1, its URL printed.
start_master d --dev worker.outputs_dir="$T/dev-outputs" worker.runtime=process ||
    { not_ok "master --dev starts"; finish; }
wait_for "grep -q '^web browser: http://127.0.0.1:' '$T/d.out'" 20
URL=$(sed -n 's/^web browser: \(http:[^ ]*\).*/\1/p' "$T/d.out" | head -n 1)
case $URL in http://127.0.0.1:*/) ok "--dev prints the web browser's URL on 127.0.0.1 ($URL)" ;;
    *) not_ok "--dev prints the web browser's URL"; diag "$(cat "$T/d.out")" ;; esac
check "--dev web browser answers" sh -c "curl -sf '$URL' | grep -qi '<html'"
wait_for "worker_ready dev-worker" 30
ID=$(submit task cloudai-test:latest -name devrun -cmd 'echo dev > $OUTPUT_DIR/d.txt')
wait_final "$ID" 60 && want_eq "--dev runs a task" "$(tfield "$ID" status)" completed
check "--dev lists its file over HTTP" sh -c "curl -sf '${URL}api/files?task_id=$ID' | grep -q d.txt"
finish
