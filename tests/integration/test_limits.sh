#!/bin/sh
# test_limits.sh — connection limits from [limits]: a silent peer before
# HELLO is closed after frame_timeout_s; an authenticated client that says
# nothing after idle_timeout_s; a slowloris (a header, then a byte a second)
# after frame_timeout_s although bytes keep arriving; max_connections
# refuses the extra connections with ERROR LIMIT, and the master serves
# normally once they are gone.
. tests/integration/lib.sh
EVIL=$CLOUDAI_BIN/tests/tools/evil
[ -x "$EVIL" ] || { not_ok "evil test client built ($EVIL)"; exit 1; }

cat >"$T/cfg.ini" <<EOF
[limits]
idle_timeout_s = 2
frame_timeout_s = 4
max_connections = 4
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
within "silent peer before HELLO closed after frame_timeout_s" "$(evil idle)" 3 7
within "idle authenticated client closed after idle_timeout_s" "$(evil idle-auth)" 1 4
within "slowloris (1 byte/s) closed after frame_timeout_s" "$(evil slowloris)" 3 7
grep -q 'idle or stalled past the timeout' "$T/m.log" && ok "master logs the timeouts" ||
    not_ok "master logs the timeouts"

o=$(evil hold 7)
want_eq "max_connections = 4: four accepted, three refused with ERROR LIMIT" "$o" "challenge=4 limit=3 other=0"
grep -q 'refused, 4 connections open' "$T/m.log" && ok "master logs refused connections" ||
    not_ok "master logs refused connections"
# The held connections are closed now: a normal client gets in again.
if wait_for "cai workers" 10; then ok "after the burst a normal client is served"
else not_ok "after the burst a normal client is served"; fi
# No daemon may have hit a sanitizer report on the way.
if grep -l -E 'AddressSanitizer|runtime error:' "$T"/*.log >/dev/null 2>&1; then
    not_ok "no sanitizer reports in the daemon logs"; grep -h -A5 -E 'AddressSanitizer|runtime error:' "$T"/*.log | head -20 | sed 's/^/# /'
else ok "no sanitizer reports in the daemon logs"; fi
exit 0
