#!/bin/sh
# test_tls.sh — TLS on the wire. With [tls] on the master and the CA on the
# worker and the client, a capture of the loopback traffic of a whole run
# (upload of an output, then its download) holds none of the output's
# bytes, while the same run in plain TCP does (so the capture can see them);
# an untrusted CA is refused with a message saying so; a plain client gets a
# hint; client certificates can be required; a relay terminating TLS cannot
# pass a token proof on (channel binding); a non-loopback listener without
# TLS logs a warning. Certificates come from scripts/cloudai-certs.
. tests/integration/lib.sh

CERTS=$T/certs
if scripts/cloudai-certs -d "$CERTS" all localhost 127.0.0.1 -- w1 tester >"$T/certs.log" 2>&1; then
    ok "cloudai-certs makes a CA, a master and client certificates"
else
    not_ok "cloudai-certs makes a CA, a master and client certificates"; diag "$(cat "$T/certs.log")"; finish
fi
scripts/cloudai-certs -d "$T/other" all localhost 127.0.0.1 >/dev/null 2>&1
check "master certificate verifies against the CA" openssl verify -CAfile "$CERTS/ca.crt" "$CERTS/master.crt"
check "keys are private (600)" sh -c "[ \"\$(stat -c %a '$CERTS/master.key')\" = 600 ]"

# A marker that is easy to find and not compressed away: the worker stores
# chunks as they are (compress_level=0), so in plain TCP it is on the wire.
MARK="cloudai-secret-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
CMD="i=0; while [ \$i -lt 2000 ]; do echo $MARK; i=\$((i+1)); done > \$OUTPUT_DIR/secret.txt"

can_capture=0
if [ "$(id -u)" = 0 ] && command -v tcpdump >/dev/null 2>&1; then can_capture=1; fi

# capture_run NAME TLS(0|1) — master, worker, task, download; sets CAP.
capture_run() {
    _n=$1; _tls=$2
    unset CLOUDAI_TLS_CA
    if [ "$_tls" = 1 ]; then
        start_master "$_n" tls.cert="$CERTS/master.crt" tls.key="$CERTS/master.key" || return 1
    else
        start_master "$_n" || return 1
    fi
    _port=${MADDR##*:}
    CAP=$T/$_n.pcap
    if [ $can_capture = 1 ]; then
        tcpdump -i lo -U -s 0 -w "$CAP" "tcp port $_port" 2>"$T/$_n.tcpdump" &
        _tp=$!
        wait_for "grep -q 'listening on' '$T/$_n.tcpdump'" 10
    fi
    if [ "$_tls" = 1 ]; then
        export CLOUDAI_TLS_CA=$CERTS/ca.crt
        start_worker "$_n-w" -runtime process worker.compress_level=0 tls.ca="$CERTS/ca.crt" || return 1
    else
        start_worker "$_n-w" -runtime process worker.compress_level=0 || return 1
        unset CLOUDAI_TLS_CA
    fi
    _id=$(submit task cloudai-test:latest -name "$_n" -cmd "$CMD") || return 1
    wait_final "$_id" 60 || return 1
    [ "$(tfield "$_id" status)" = completed ] || return 1
    cai get "$_id" "$T/$_n.get" >/dev/null 2>&1 || return 1
    grep -q "$MARK" "$T/$_n.get/secret.txt" || return 1
    if [ $can_capture = 1 ]; then
        sleep 0.5
        kill -INT "$_tp" 2>/dev/null; wait "$_tp" 2>/dev/null
    fi
    stop_pid "$WPID"; stop_pid "$MPID"
    unset CLOUDAI_TLS_CA
    return 0
}

if capture_run plain 0; then ok "plain run: output stored and downloaded"; else not_ok "plain run: output stored and downloaded"; fi
if [ $can_capture = 1 ]; then
    n=$(grep -a -c "$MARK" "$T/plain.pcap")
    if [ "$n" -gt 0 ]; then ok "plain TCP: the capture holds the output's bytes ($n lines)"
    else not_ok "plain TCP: the capture holds the output's bytes"; diag "$(cat "$T/plain.tcpdump")"; fi
fi
if capture_run tls 1; then ok "TLS run: output stored and downloaded"; else not_ok "TLS run: output stored and downloaded"; fi
if [ $can_capture = 1 ]; then
    sz=$(stat -c %s "$T/tls.pcap")
    n=$(grep -a -c "$MARK" "$T/tls.pcap")
    diag "TLS capture: $sz bytes, marker found $n times"
    check "TLS: the capture saw the transfer (> 64 KiB)" test "$sz" -gt 65536
    want_eq "TLS: the capture holds none of the output's bytes" "$n" 0
    check "TLS: the capture holds no token or task name in clear" sh -c "! grep -a -q 'cloudai-test:latest' '$T/tls.pcap'"
else
    skip "no capture: needs root and tcpdump (apt-get install tcpdump)"
fi

# Wrong CA, plain client, client certificates.
start_master m tls.cert="$CERTS/master.crt" tls.key="$CERTS/master.key" tls.ca="$CERTS/ca.crt" \
    tls.require_client_cert=true || { not_ok "master with required client certs starts"; finish; }
out=$(CLOUDAI_TLS_CA=$T/other/ca.crt "$CLOUDAI_BIN/cloudai" -master "$MADDR" workers 2>&1); rc=$?
want_eq "wrong CA: client exits 1" "$rc" 1
printf '%s\n' "$out" >"$T/wrongca.txt"
check "wrong CA: says the master's certificate is not trusted" grep -q "the master's certificate is not trusted" "$T/wrongca.txt"
diag "$out"
ASAN_OPTIONS=$DAEMON_ASAN timeout 20 "$CLOUDAI_BIN/worker" -master "$MADDR" -id wbad -runtime process \
    -outputs "$T/wbad" tls.ca="$T/other/ca.crt" >"$T/wbad.log" 2>&1 &
WB=$!
wait_for "grep -q 'not trusted' '$T/wbad.log'" 15
check "wrong CA: the worker refuses the master and says why" grep -q "the master's certificate is not trusted" "$T/wbad.log"
kill "$WB" 2>/dev/null; wait "$WB" 2>/dev/null
out=$(CLOUDAI_TLS_CA=$CERTS/ca.crt "$CLOUDAI_BIN/cloudai" -master "$MADDR" workers 2>&1); rc=$?
want_eq "required client cert: a client without one is refused" "$rc" 1
out=$(CLOUDAI_TLS_CA=$CERTS/ca.crt CLOUDAI_TLS_CERT=$CERTS/tester.crt CLOUDAI_TLS_KEY=$CERTS/tester.key \
      "$CLOUDAI_BIN/cloudai" -master "$MADDR" workers 2>&1); rc=$?
want_eq "required client cert: a client with one gets in" "$rc" 0
out=$(CLOUDAI_TLS_CA=$CERTS/ca.crt CLOUDAI_TLS_CERT=$T/other/master.crt CLOUDAI_TLS_KEY=$T/other/master.key \
      "$CLOUDAI_BIN/cloudai" -master "$MADDR" workers 2>&1); rc=$?
want_eq "required client cert: one from another CA is refused" "$rc" 1
out=$("$CLOUDAI_BIN/cloudai" -master "$MADDR" workers 2>&1); rc=$?
printf '%s\n' "$out" >"$T/plain-client.txt"
want_eq "plain client against a TLS master fails" "$rc" 1
check "plain client gets a hint about TLS" grep -q "CLOUDAI_TLS_CA" "$T/plain-client.txt"
check "master logs the refused handshakes" grep -q "TLS" "$T/m.log"
stop_pid "$MPID"

# Channel binding: a relay that terminates TLS with a certificate the client
# trusts (same CA) and opens its own TLS session to the master forwards every
# byte faithfully, yet alice's correct token fails: her proof is bound to the
# client-relay session, the master checks it against the relay-master one.
start_master b tls.cert="$CERTS/master.crt" tls.key="$CERTS/master.key" auth.user.alice=alice-token ||
    { not_ok "master with tokens and TLS starts"; finish; }
out=$(CLOUDAI_TLS_CA=$CERTS/ca.crt "$CLOUDAI_BIN/cloudai" -master "$MADDR" -user alice -token alice-token workers 2>&1)
want_eq "direct TLS connection with alice's token works" "$?" 0
RP=""
for p in $(seq $((${MADDR##*:} + 1)) $((${MADDR##*:} + 40))); do
    ss -ltn 2>/dev/null | grep -q "[:.]$p " || { RP=$p; break; }
done
rm -f "$T/relay.fifo"; mkfifo "$T/relay.fifo"
(timeout 30 openssl s_server -quiet -naccept 1 -accept "127.0.0.1:$RP" -cert "$CERTS/master.crt" \
    -key "$CERTS/master.key" <"$T/relay.fifo" 2>"$T/relay-srv.err" |
 timeout 30 openssl s_client -quiet -connect "$MADDR" -CAfile "$CERTS/ca.crt" >"$T/relay.fifo" 2>"$T/relay-cli.err") &
RLY=$!
wait_for "ss -ltn | grep -q '127.0.0.1:$RP '" 10
out=$(CLOUDAI_TLS_CA=$CERTS/ca.crt timeout 20 "$CLOUDAI_BIN/cloudai" -master "127.0.0.1:$RP" -user alice \
      -token alice-token workers 2>&1); rc=$?
printf '%s\n' "$out" >"$T/relay.txt"
want_eq "through a TLS-terminating relay, alice's correct token is refused" "$rc" 1
check "the refusal is the token check (proof bound to the other session)" grep -q "bad token" "$T/relay.txt"
check "the master saw alice's HELLO through the relay and refused it" grep -q "auth refused for user 'alice'" "$T/b.log"
kill "$RLY" 2>/dev/null; wait "$RLY" 2>/dev/null
stop_pid "$MPID"

# A listener beyond loopback without TLS warns (nothing connects to it).
start_master wide -listen 0.0.0.0:0 || true
wait_for "grep -q 'without TLS' '$T/wide.log'" 10
check "non-loopback listener without TLS logs a warning" grep -q "without TLS" "$T/wide.log"
check "loopback listener without TLS does not" sh -c "! grep -q 'without TLS' '$T/plain.log'"
finish
