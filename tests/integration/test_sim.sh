#!/bin/sh
# test_sim.sh — cloudai-sim end to end: an SWF trace with unknown (-1)
# fields, a job no worker can hold, gzip input, -json keys, the synthetic
# Lublin generator, and the starvation the policies differ on (a wide job
# behind a stream of narrow ones: greedy delays it, easy and learned keep
# its reservation).
. tests/integration/lib.sh
SIM=$CLOUDAI_BIN/cloudai-sim

# fields: id submit wait run alloc cpu mem reqprocs reqtime reqmem status user group exe queue part prec think
{
    echo "; a tiny trace"
    echo "1 0 -1 100 1 -1 -1 -1 200 -1 1 1 1 1 -1 -1 -1 -1"     # no requested procs: allocated (1)
    echo "2 5 -1 300 -1 -1 -1 4 -1 -1 1 2 2 -1 -1 -1 -1 -1"     # no estimate: the default limit
    echo "3 6 -1 50 64 -1 -1 64 100 -1 1 1 1 1 -1 -1 -1 -1"    # never fits 2 x 4 CPUs
    echo "4 7 -1 -1 1 -1 -1 1 100 -1 0 1 1 1 -1 -1 -1 -1"      # unknown runtime: unusable
    echo "garbage line"
} >"$T/t.swf"
gzip -c "$T/t.swf" >"$T/t.swf.gz"
"$SIM" -trace "$T/t.swf.gz" -workers 2 -cpu 4 -policy easy -json >"$T/o.json" 2>"$T/o.err"
check "sim: -json runs on a gzip'ed SWF" test -s "$T/o.json"
diag "$(cat "$T/o.json" "$T/o.err")"
L=$(head -n 1 "$T/o.json")
want_eq "sim: two usable jobs" "$(echo "$L" | jget jobs)" 2
want_eq "sim: one never fits" "$(echo "$L" | jget never_fit_jobs)" 1
want_eq "sim: no waits on an empty cluster" "$(echo "$L" | jget max_wait_s)" 0.0
for k in mean_wait_s mean_bounded_slowdown p99_wait_s max_wait_s utilisation offered_load; do
    check "sim: -json has $k" grep -q "\"$k\":" "$T/o.json"
done
want_eq "sim: bounded slowdown 1 without waits" "$(echo "$L" | jget mean_bounded_slowdown)" 1.000

# A 4-CPU job at t=10 behind 1-CPU jobs arriving every 25 s, 100 s each,
# on one 4-CPU worker: greedy keeps filling the free CPUs until the stream
# ends (5,000 s); easy and learned start it by t=100 (the first narrow
# job's end), so no job waits more than its limit plus one run (250 s).
{
    i=0; s=0
    while [ $i -lt 200 ]; do
        echo "$((i + 2)) $s -1 100 1 -1 -1 1 150 -1 1 1 1 1 -1 -1 -1 -1"
        i=$((i + 1)); s=$((s + 25))
    done
    echo "1 10 -1 100 4 -1 -1 4 150 -1 1 2 2 2 -1 -1 -1 -1"
} >"$T/s.swf"
"$SIM" -trace "$T/s.swf" -workers 1 -cpu 4 -policy all -json >"$T/s.json"
for p in easy learned; do
    mw=$(grep "\"policy\":\"$p\"" "$T/s.json" | jget max_wait_s)
    check "sim: $p starts the wide job in time ($mw s)" awk -v w="$mw" 'BEGIN { exit !(w != "" && w <= 250) }'
done
mg=$(grep '"policy":"greedy"' "$T/s.json" | jget max_wait_s)
check "sim: greedy starves it ($mg s)" awk -v w="$mg" 'BEGIN { exit !(w > 1000) }'

"$SIM" -gen lublin -jobs 2000 -seed 7 -workers 8 -cpu 32 -time-scale 0.7 -json >"$T/g.json"
want_eq "sim: lublin, four policies" "$(grep -c '"policy"' "$T/g.json")" 4
"$SIM" -gen lublin -jobs 50 -seed 7 -cpu 32 -write "$T/g.swf"
want_eq "sim: -write writes the jobs" "$(grep -vc '^;' "$T/g.swf")" 50
"$SIM" -trace "$T/g.swf" -workers 8 -cpu 32 -policy fifo -json >"$T/g2.json"
want_eq "sim: the written trace reads back" "$(jget jobs <"$T/g2.json")" 50
check "sim: a bad option fails" sh -c "! '$SIM' -trace '$T/t.swf' -workers x -cpu 4 2>/dev/null"

# -load picks the time scale that gives that offered load; not with -time-scale
"$SIM" -gen lublin -jobs 2000 -seed 7 -workers 8 -cpu 32 -load 0.85 -policy easy -json >"$T/l.json"
want_eq "sim: -load 0.85 gives offered load 0.85" "$(jget offered_load <"$T/l.json")" 0.8500
check "sim: -load with -time-scale is refused" sh -c "! '$SIM' -gen lublin -jobs 10 -workers 1 -cpu 4 -load 0.8 -time-scale 0.5 2>/dev/null"
check "sim: -load 3 is refused" sh -c "! '$SIM' -gen lublin -jobs 10 -workers 1 -cpu 4 -load 3 2>/dev/null"
# -slack: 0.0001 keeps learned close to arrival order; both run
"$SIM" -gen lublin -jobs 2000 -seed 7 -workers 8 -cpu 32 -load 0.9 -policy learned -slack 0.0001 -json >"$T/sl.json"
want_eq "sim: -slack runs" "$(jget policy <"$T/sl.json")" learned
check "sim: -slack 2 is refused" sh -c "! '$SIM' -gen lublin -jobs 10 -workers 1 -cpu 4 -slack 2 2>/dev/null"
# -guard: the wait guard's share of the longest wait; a huge one turns it
# off (and changes the schedule of this backlogged workload), a negative one is refused
"$SIM" -gen lublin -jobs 2000 -seed 7 -workers 8 -cpu 32 -load 0.95 -policy learned -json >"$T/g0.json"
"$SIM" -gen lublin -jobs 2000 -seed 7 -workers 8 -cpu 32 -load 0.95 -policy learned -guard 100 -json >"$T/g1.json"
want_eq "sim: -guard runs" "$(jget policy <"$T/g1.json")" learned
m0=$(jget max_wait_s <"$T/g0.json"); m1=$(jget max_wait_s <"$T/g1.json")
check "sim: -guard changes the schedule ($m0 s, off: $m1 s)" [ "$m0" != "$m1" ]
# -schedule: a line per job and policy; its waits give the printed longest wait
"$SIM" -gen lublin -jobs 300 -seed 7 -workers 2 -cpu 16 -load 0.9 -policy all -json \
    -schedule "$T/s.tsv" >"$T/s.json"
want_eq "sim: -schedule has a header and 4 x 300 lines" "$(wc -l <"$T/s.tsv" | tr -d ' ')" 1201
for p in easy learned; do
    mw=$(grep "\"policy\":\"$p\"" "$T/s.json" | jget max_wait_s)
    sw=$(awk -F'\t' -v p=$p '$1 == p { w = $4 - $3; if (w > m) m = w } END { printf "%.1f", m + 0 }' "$T/s.tsv")
    check "sim: -schedule's $p waits give max_wait_s ($sw against $mw)" awk -v a="$sw" -v b="$mw" 'BEGIN { d = a - b; exit !(d < 1.01 && d > -1.01) }'
done
check "sim: -schedule to an unwritable path fails" sh -c "! '$SIM' -gen lublin -jobs 10 -workers 1 -cpu 4 -schedule /nonexistent/s.tsv 2>/dev/null"
# a missing or wrong argument is named, not only the synopsis printed
for c in "-trace:-trace needs a value" "-gen lublin -workers 0 -cpu 4:at least one worker" \
         "-gen lublin -workers 1:-cpu C wants" "-workers 1 -cpu 4:one of -trace FILE and -gen"; do
    args=${c%%:*}; want=${c#*:}
    # shellcheck disable=SC2086  # args are words on purpose
    "$SIM" $args >"$T/u.out" 2>&1 && rc=0 || rc=$?
    want_eq "sim: '$args' exits 2" "$rc" 2
    check "sim: '$args' says '$want'" grep -q -- "$want" "$T/u.out"
done
# -exact-predictions: learned predicts each job's own runtime (a bound for
# predictors, labelled as such); easy does not predict and is unchanged
"$SIM" -gen lublin -jobs 300 -seed 7 -workers 2 -cpu 16 -load 0.9 -policy all -json \
    -exact-predictions -schedule "$T/x.tsv" >"$T/x.json"
want_eq "sim: -exact-predictions labels learned's line" \
    "$(grep -c '"policy":"learned","exact_predictions":true,' "$T/x.json")" 1
want_eq "sim: and no other line" "$(grep -c exact_predictions "$T/x.json")" 1
want_eq "sim: easy's figures are the same with it" \
    "$(grep '"policy":"easy"' "$T/x.json" | sed 's/"sim_seconds".*//')" \
    "$(grep '"policy":"easy"' "$T/s.json" | sed 's/"sim_seconds".*//')"
bad=$(awk -F'\t' '$1 == "learned" && $5 >= 1 && $8 != $5 { n++ } END { print n + 0 }' "$T/x.tsv")
want_eq "sim: learned's predictions are the runs" "$bad" 0
bad=$(awk -F'\t' '$1 == "learned" && $5 >= 1 && $8 != $5 { n++ } END { print n + 0 }' "$T/s.tsv")
check "sim: without it they are not ($bad differ)" [ "$bad" -gt 0 ]
check "sim: -guard -1 is refused" sh -c "! '$SIM' -gen lublin -jobs 10 -workers 1 -cpu 4 -guard -1 2>/dev/null"
finish
