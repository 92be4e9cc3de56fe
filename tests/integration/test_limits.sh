#!/bin/sh
# test_limits.sh — connection limits from [limits]: a silent peer before
# HELLO is closed after handshake_timeout_s; an authenticated client that
# says nothing after idle_timeout_s; a slowloris (a header, then a byte a
# second) after frame_timeout_s although bytes keep arriving;
# max_connections refuses the extra authenticated connections with ERROR
# LIMIT. Sockets that never send HELLO have their own budget
# (max_handshakes, max_handshakes_per_addr): 64 of them, from one address
# or from sixteen, never keep a worker or a client out. A refusal followed
# by input the master never reads reaches the peer (no reset: the master
# shuts down its write side and drains before it closes).
. tests/integration/lib.sh
EVIL=$CLOUDAI_BIN/tests/tools/evil
[ -x "$EVIL" ] || { not_ok "evil test client built ($EVIL)"; exit 1; }

cat >"$T/cfg.ini" <<EOF
[limits]
idle_timeout_s = 2
frame_timeout_s = 4
handshake_timeout_s = 2
max_connections = 4
max_handshakes = 8
max_handshakes_per_addr = 4
EOF
start_master m -config "$T/cfg.ini" || { not_ok "master starts"; exit 1; }
evil() { ASAN_OPTIONS=$DAEMON_ASAN "$EVIL" "$MADDR" "$@" 2>>"$T/evil.err"; }
secs() { sed -n 's/^closed after \([0-9]*\)\..*/\1/p'; }

# within DESC OUTPUT LO HI — "closed after N s" with LO <= N <= HI
within() {
    n=$(printf '%s\n' "$2" | secs)
    if [ -n "$n" ] && [ "$n" -ge "$3" ] && [ "$n" -le "$4" ]; then ok "$1 ($n s)"
    else not_ok "$1"; diag "evil said: $2" "wanted between $3 and $4 s"; fi
}
within "silent peer before HELLO closed after handshake_timeout_s" "$(evil idle)" 1 5
within "idle authenticated client closed after idle_timeout_s" "$(evil idle-auth)" 1 4
within "slowloris (1 byte/s) closed after frame_timeout_s" "$(evil slowloris)" 3 7
grep -q 'idle or stalled past the timeout' "$T/m.log" && ok "master logs the timeouts" ||
    not_ok "master logs the timeouts"

o=$(evil hold-auth 7)
want_eq "max_connections = 4: four clients in, three refused with ERROR LIMIT" "$o" "accepted=4 limit=3 other=0"
grep -q 'refused, 4 connections open' "$T/m.log" && ok "master logs refused connections" ||
    not_ok "master logs refused connections"
# The held connections are closed now: a normal client gets in again.
if wait_for "cai workers" 10; then ok "after the burst a normal client is served"
else not_ok "after the burst a normal client is served"; fi

# closed_at_least DESC OUTPUT MIN — "client=ok worker=ok closed=K", K >= MIN
closed_at_least() {
    k=$(printf '%s\n' "$2" | sed -n 's/^client=ok worker=ok closed=\([0-9]*\)$/\1/p')
    if [ -n "$k" ] && [ "$k" -ge "$3" ]; then ok "$1 ($2)"
    else not_ok "$1"; diag "evil said: $2" "wanted client=ok worker=ok closed >= $3"; fi
}
# 64 silent sockets from 127.0.0.1: sockets younger than a second may stay
# over the budget (a burst of real clients looks the same), but never more
# than 4 x max_handshakes_per_addr (4 x 4) of them.
closed_at_least "64 silent sockets from one address: a client lists and a worker registers" \
    "$(EVIL_WORKER=flood-w1 evil flood 64)" 48
# From sixteen addresses (4 each): at most 4 x max_handshakes (4 x 8) stay.
closed_at_least "64 silent sockets from 16 addresses: a client lists and a worker registers" \
    "$(EVIL_WORKER=flood-w2 evil flood 64 16)" 32
grep -q 'closed before its HELLO to make room' "$T/m.log" && ok "master logs the sockets it closed" ||
    not_ok "master logs the sockets it closed"
if wait_for "cai workers | grep -q flood-w2" 10; then ok "the worker that came through the flood is listed"
else not_ok "the worker that came through the flood is listed"; fi

# A refusal with unread input behind it: the verdict arrives, no reset.
o=$(evil unread-body raw 5)
want_eq "oversized frame before HELLO + 4 MiB unread: every verdict read, no reset" \
    "$(printf '%s\n' "$o" | head -1)" "verdicts=5/5 writes=5/5"
o=$(evil unread-body client 5)
want_eq "client FILE_CHUNK (FORBIDDEN) + 4 MiB unread: every verdict read, no reset" \
    "$(printf '%s\n' "$o" | head -1)" "verdicts=5/5 writes=5/5"
printf '%s\n' "$o" | grep -q '^ERROR 7 FORBIDDEN' && ok "the verdict is FORBIDDEN" ||
    { not_ok "the verdict is FORBIDDEN"; diag "$o"; }
# A handshake the master cuts short (over its budget it closes the oldest
# pending ones: a burst of ASan clients on a busy machine lost 2 of 20
# submissions so) is tried again by the client: the first 3 connections
# through the proxy are cut after the client's HELLO, or before the
# greeting, and `status` still answers; 4 cut ones are too many (4 tries).
cut_status() {   # MODE CUT -> "RC|proxy's count|client's stderr"
    rm -f "$T/cut.port"
    python3 tests/integration/cutproxy.py "$T/cut.port" "$MADDR" "$2" "$1" >"$T/cut.out" 2>&1 &
    cp=$!
    for _ in $(seq 100); do [ -s "$T/cut.port" ] && break; sleep 0.05; done
    "$CLOUDAI_BIN/cloudai" -master "127.0.0.1:$(cat "$T/cut.port")" status >/dev/null 2>"$T/cut.err"
    rc=$?
    kill "$cp"; wait "$cp" 2>/dev/null
    echo "$rc|$(cat "$T/cut.out")|$(head -c 300 "$T/cut.err")"
}
if command -v python3 >/dev/null 2>&1; then
    o=$(cut_status hello 3)
    want_eq "3 handshakes cut after HELLO: status answers on the 4th try" "$o" "0|cut 3 relayed 1|"
    o=$(cut_status greeting 3)
    want_eq "3 connections closed before the greeting: status answers on the 4th try" "$o" "0|cut 3 relayed 1|"
    o=$(cut_status hello 4)
    case $o in
        "1|cut 4 relayed 0|cloudai: master at 127.0.0.1:"*"closed the connection during the handshake (tried 4 times)"*)
            ok "4 cut handshakes: the client gives up and says why" ;;
        *) not_ok "4 cut handshakes: the client gives up and says why"; diag "$o" ;;
    esac
else
    skip "cut handshakes: python3 not installed (make deps installs it)"
fi

# No daemon may have hit a sanitizer report on the way.
if grep -l -E 'AddressSanitizer|runtime error:' "$T"/*.log >/dev/null 2>&1; then
    not_ok "no sanitizer reports in the daemon logs"; grep -h -A5 -E 'AddressSanitizer|runtime error:' "$T"/*.log | head -20 | sed 's/^/# /'
else ok "no sanitizer reports in the daemon logs"; fi
exit 0
