#!/usr/bin/env bash
# tests/bench/run.sh — `make bench`: CloudAI against the machine's limits and
# the tools people use instead, measured side by side in one run. Prints a
# table and writes bench-results.json: a list of {name, value, unit,
# baseline, baseline_value, ratio, samples, value_min, value_max,
# baseline_min, baseline_max, load_before, load_after, steal_pct,
# foreign_cpu_pct, busy}; ratio > 1 means better than the baseline
# (times: baseline/ours; throughputs: ours/baseline).
#
# Comparisons are interleaved (ours, baseline, ours, baseline, ...: at
# least 5 pairs for the big transfers, BENCH_PAIRS to change) and reported
# as median (min-max) of each side; the ratio is the ratio of medians. A
# ratio from a busy machine is meaningless, so every row records the load
# average before and after, the CPU steal, and the CPU time used by
# processes that are not this bench's ("foreign"); a row is flagged busy
# when the 1-minute load was over 0.5 when the bench started, foreign work
# took over 10% of a core, or steal over 2%.
#
#   BENCH_QUICK=1     smaller data (128 MiB, 2,000 files/tasks), < 3 minutes
#   BENCH_ONLY=LIST   comma list of: transfer,memory,sched,docker,netns,meta,web,s3
#   BENCH_JSON=FILE   where the results go (default ./bench-results.json)
#   BENCH_PAIRS=N     interleaved pairs per transfer comparison (default 5, quick 3)
#   BENCH_CASES=LIST  which transfer rows: random,text,small,durable (default all)
#   BENCH_BIN=DIR     the master, worker and cloudai to measure (default build/rel):
#                     another build's, to compare two builds run by run
#
# Everything lives in one temp dir (removed at exit); the receivers of every
# transfer (master store, rsync daemon module, tar -x target) write to the
# same tmpfs so all tools compete on the same thing; one extra row shows the
# master storing onto the real disk, durably (it syncfs's before FILE_ACK).
set -u
# A session of its own, so "ours" below is exactly this bench's process tree
# (its daemons included, whatever process group they make) and anything
# else on the machine is foreign.
if [ "$(ps -o sid= -p $$ | tr -d ' ')" != "$$" ] && command -v setsid >/dev/null 2>&1 &&
   [ -z "${BENCH_SETSID:-}" ]; then
    BENCH_SETSID=1 exec setsid -w "$BASH" "$0" "$@"
fi
cd "$(dirname "$0")/../.."
ROOT=$PWD
BIN=${BENCH_BIN:-$ROOT/build/rel}
QUICK=${BENCH_QUICK:-0}
ONLY=${BENCH_ONLY:-transfer,memory,sched,docker,netns,meta,web,s3}
JSON=${BENCH_JSON:-$ROOT/bench-results.json}
IMAGE=cloudai-test:latest
MiB=$((1024 * 1024))
if [ "$QUICK" = 1 ]; then
    BIG=$((128 * MiB)); NSMALL=2000; NTASKS=2000; NDOCKER=5; BIGMEM=0; NET_BIG=$((128 * MiB))
    PAIRS=${BENCH_PAIRS:-3}
else
    BIG=$((1024 * MiB)); NSMALL=10000; NTASKS=10000; NDOCKER=20; BIGMEM=$((4096 * MiB))
    NET_BIG=$((1024 * MiB))
    PAIRS=${BENCH_PAIRS:-5}
fi
BIGNAME="$((BIG / MiB)) MiB"

TMP=$(mktemp -d /var/tmp/cloudai-bench.XXXXXX) || exit 1
PIDS=""
NS_M=cab-m-$$ NS_W=cab-w-$$
NETNS_UP=0
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    for p in $PIDS; do wait "$p" 2>/dev/null; done
    if [ "$NETNS_UP" = 1 ]; then
        ip netns del "$NS_M" 2>/dev/null
        ip netns del "$NS_W" 2>/dev/null
    fi
    mountpoint -q "$TMP/store" 2>/dev/null && umount "$TMP/store"
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

want() { case ",$ONLY," in *",$1,"*) return 0 ;; esac; return 1; }
log() { printf '%s\n' "$*" >&2; }
now_ns() { date +%s%N; }
secs_since() { echo "$(( $(now_ns) - $1 ))" | awk '{printf "%.4f", $1 / 1e9}'; }
mbps() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.1f\n", (s > 0 ? b / s / 1e6 : 0) }'; }

# --- the machine's state, so a noisy row is flagged, not believed ----------
HZ=$(getconf CLK_TCK 2>/dev/null || echo 100)
NCPU=$(nproc 2>/dev/null || echo 1)
load1() { cut -d' ' -f1 /proc/loadavg; }
START_LOAD=$(load1)
# "busy_jiffies steal_jiffies total_jiffies" from /proc/stat (all CPUs).
# Busy is user+nice+system: interrupt time is not attributed to processes.
cpu_snap() { awk '/^cpu / { print $2+$3+$4, $9, $2+$3+$4+$5+$6+$7+$8+$9 }' /proc/stat; }
# CPU used by this bench, as a snapshot, one line a process: "PID PPID
# SECONDS" for the processes of its session (the daemons of a running
# cluster, with the tasks they reaped: utime + stime + cutime + cstime),
# and "T 0 SECONDS" for this shell and every child it has waited for
# (bash's `times`). OWN_COMM (an awk regex of process names) also counts
# daemons that work for both sides of a row alike (the Docker row:
# dockerd, containerd and its shims, runc), which would otherwise flag
# every run of it as busy; with it, the children PID 1 reaped count too
# (each container's shim is orphaned and reaped there).
own_snap() {
    local sid
    sid=$(ps -o sid= -p $$ | tr -d ' ')
    awk -v sid="$sid" -v hz="$HZ" -v re="${OWN_COMM:-}" '{
        comm = $0; sub(/^[^(]*\(/, "", comm); sub(/\) [^)]*$/, "", comm)
        line = $0; sub(/^.*\) /, "", line); split(line, f, " ")
        # after "(comm) ": f[2] ppid, f[4] session, f[12..15] utime stime
        # cutime cstime (the tasks a worker reaped are in its cutime;
        # zombies still count)
        if (f[4] == sid || (re != "" && comm ~ re))
            printf "%s %s %.3f\n", $1, f[2], (f[12] + f[13] + f[14] + f[15]) / hz
        else if (re != "" && $1 == 1)      # orphans it reaped: the shims
            printf "1 0 %.3f\n", (f[14] + f[15]) / hz
    }' /proc/[0-9]*/stat 2>/dev/null
    times | awk '{ for (i = 1; i <= NF; i++) { split($i, a, "m"); sub("s", "", a[2]); t += a[1] * 60 + a[2] } }
                 END { printf "T 0 %.3f\n", t }'
}
# CPU seconds this bench used between two snapshots. A process alive in
# both counts its difference; one started since, all of it; one gone since
# counts nothing of its own, because its CPU went on into whoever reaped it:
# this shell (in `times`, if it was its child) or a process still listed
# (a worker's cutime). A process of the session reaped by someone else (an
# orphaned server, reaped by PID 1) takes its CPU out of sight: its share
# of the span is then counted as foreign, not the whole life it had before
# the span (that made a quiet row read "foreign 603%").
own_between() {
    awk -v me=$$ 'NR == FNR { b[$1] = $3; bp[$1] = $2; next }
        { seen[$1] = 1; t += $3 - ($1 in b ? b[$1] : 0) }
        END { for (p in b) if (!(p in seen) && bp[p] == me) t -= b[p]; printf "%.3f", t }' "$1" "$2"
}
mark_begin() {
    MB_LOAD=$(load1); MB_CPU=$(cpu_snap); own_snap > "$TMP/own.begin"; MB_T=$(now_ns)
}
# Sets ML_* for the span since mark_begin.
mark_end() {
    local now own
    now=$(cpu_snap); own_snap > "$TMP/own.end"; own=$(own_between "$TMP/own.begin" "$TMP/own.end")
    read -r ML_FOREIGN ML_STEAL < <(awk -v a="$MB_CPU" -v b="$now" -v own="$own" \
        -v hz="$HZ" -v t0="$MB_T" -v t1="$(now_ns)" 'BEGIN {
        split(a, x, " "); split(b, y, " ")
        wall = (t1 - t0) / 1e9; if (wall <= 0) wall = 1
        busy = (y[1] - x[1]) / hz
        f = (busy - own) / wall * 100; if (f < 0) f = 0
        tot = y[3] - x[3]; st = (tot > 0 ? (y[2] - x[2]) / tot * 100 : 0)
        printf "%.0f %.1f\n", f, st }')
    ML_LOAD0=$MB_LOAD; ML_LOAD1=$(load1)
    ML_BUSY=$(awk -v l="$START_LOAD" -v f="$ML_FOREIGN" -v s="$ML_STEAL" \
        'BEGIN { print (l > 0.5 || f > 10 || s > 2) ? "true" : "false" }')
}
mark_begin; mark_end   # defaults for rows that are not comparisons

# stats FILE -> "median min max n" of one number per line
stats() {
    sort -g "$1" | awk '{ a[NR] = $1 } END {
        if (NR == 0) { print "0 0 0 0"; exit }
        m = (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2)
        printf "%s %s %s %d\n", m, a[1], a[NR], NR }'
}
fmt1() { awk -v v="$1" 'BEGIN { if (v >= 100) printf "%.0f", v; else if (v >= 10) printf "%.1f", v; else printf "%.3g", v }'; }

# Rows go to a TSV: name value unit baseline base_value ratio samples
# vmin vmax bmin bmax load0 load1 steal foreign busy
ROWS=$TMP/rows.tsv
: > "$ROWS"
emit_row() {
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >> "$ROWS"
    local spread="" bspread="" flag=""
    [ "$7" -gt 1 ] 2>/dev/null && spread="($(fmt1 "$8")-$(fmt1 "$9"))" &&
        [ -n "${10}" ] && bspread="($(fmt1 "${10}")-$(fmt1 "${11}"))"
    [ "${16}" = true ] && flag=" BUSY"
    printf '  %-52s %9s %-15s %-7s | %-24s %9s %-15s | %5s  n=%s load %s->%s%s\n' "$1" "$(fmt1 "$2")" \
        "$spread" "$3" "$4" "${5:+$(fmt1 "$5")}" "$bspread" "${6:--}" "$7" "${12}" "${13}" "$flag" >&2
}
ratio_of() { # value base higher_is_better
    awk -v v="$1" -v b="$2" -v up="$3" 'BEGIN {
        if (b == "" || b + 0 == 0 || v + 0 == 0) { print ""; exit }
        printf "%.2f", (up ? v / b : b / v) }'
}
# row NAME VALUE UNIT BASELINE BASELINE_VALUE HIGHER_IS_BETTER(1|0)
# (one measurement against a target or a single baseline value)
row() {
    emit_row "$1" "$2" "$3" "$4" "$5" "$(ratio_of "$2" "$5" "$6")" 1 "$2" "$2" "$5" "$5" \
        "$ML_LOAD0" "$ML_LOAD1" "$ML_STEAL" "$ML_FOREIGN" "$ML_BUSY"
}
# rowS NAME OURS_SAMPLES UNIT BASELINE BASE_SAMPLES HIGHER_IS_BETTER
# (interleaved samples, one per line; medians compared; call mark_end first)
rowS() {
    local o b
    read -r om omin omax on < <(stats "$2")
    if [ -n "$4" ] && [ -s "$5" ]; then
        read -r bm bmin bmax _ < <(stats "$5")
    else bm=""; bmin=""; bmax=""; fi
    emit_row "$1" "$om" "$3" "$4" "$bm" "$(ratio_of "$om" "$bm" "$6")" "$on" "$omin" "$omax" \
        "$bmin" "$bmax" "$ML_LOAD0" "$ML_LOAD1" "$ML_STEAL" "$ML_FOREIGN" "$ML_BUSY"
}

# --- build the bench programs with the Makefile's flags and objects ------
# Ask the Makefile itself, so the bench follows its flags and libraries.
MKVARS=$(printf 'bench-print-vars:\n\t@printf "%%s\\n%%s\\n%%s\\n%%s\\n" "$(CFLAGS_ALL)" "$(LDLIBS_ALL)" "$(LIB_OBJ)" "$(CC)"\n' |
         make --no-print-directory -s -f Makefile -f - bench-print-vars V=rel)
CFLAGS=$(echo "$MKVARS" | sed -n 1p | sed 's/-MMD -MP//')
LIBS=$(echo "$MKVARS" | sed -n 2p)
OBJS=$(echo "$MKVARS" | sed -n 3p)     # every object but the three main.o
CC=$(echo "$MKVARS" | sed -n 4p)
mkdir -p "$TMP/bin"
for src in tests/bench/*.c tests/tools/bench_submit.c tests/tools/s3tool.c; do
    b=$(basename "$src" .c)
    # shellcheck disable=SC2086
    if ! $CC $CFLAGS "$src" $OBJS -o "$TMP/bin/$b" $LIBS; then
        log "bench: cannot build $src"; exit 1
    fi
done
U=$TMP/bin/bench_util

# --- a cluster: master + N workers (optionally in network namespaces) ---
# start_cluster DIR NWORKERS RUNTIME [MASTER_NS WORKER_NS LISTEN_HOST]
start_cluster() {
    local dir=$1 n=$2 rt=$3 mns=${4:-} wns=${5:-} host=${6:-127.0.0.1} i
    local mrun="" wrun=""
    [ -n "$mns" ] && mrun="ip netns exec $mns"
    [ -n "$wns" ] && wrun="ip netns exec $wns"
    mkdir -p "$dir"
    $mrun "$BIN/master" -listen "$host:0" -files "${STORE:-$dir/files}" -meta "$dir/meta" \
        --no-console ${MCFG:+-config "$MCFG"} > "$dir/master.out" 2> "$dir/master.log" &
    MPID=$!; PIDS="$PIDS $MPID"
    for _ in $(seq 200); do
        MADDR=$(sed -n 's/^master listening on //p' "$dir/master.out" 2>/dev/null)
        [ -n "$MADDR" ] && break
        sleep 0.05
    done
    [ -n "$MADDR" ] || { log "bench: master did not start"; cat "$dir/master.log" >&2; return 1; }
    WPIDS=""
    for i in $(seq "$n"); do
        $wrun "$BIN/worker" -master "$MADDR" -id "w$i" -runtime "$rt" -outputs "$dir/out$i" \
            -cpu "${WCPU:-2}" -mem 64g > "$dir/w$i.log" 2>&1 &
        WPIDS="$WPIDS $!"; PIDS="$PIDS $!"
    done
    for i in $(seq "$n"); do
        for _ in $(seq 200); do grep -q "registered with master" "$dir/w$i.log" && break; sleep 0.05; done
    done
}
stop_cluster() {
    local p
    for p in $MPID $WPIDS; do kill "$p" 2>/dev/null; done
    for p in $MPID $WPIDS; do wait "$p" 2>/dev/null; done
    MPID=""; WPIDS=""
}
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# ours_upload DIR DATASET → "BYTES WIRE MS" from the worker's log line,
# cluster already running with one worker (w1).
ours_upload() {
    local dir=$1 ds=$2 line
    ${CLI_NS:+ip netns exec $CLI_NS} "$BIN/cloudai" -master "$MADDR" task "$IMAGE" \
        -cmd "cp -al $ds/. ." -storage 8g \
        -name "xfer" > /dev/null || return 1
    for _ in $(seq 6000); do
        line=$(grep -m1 ': uploaded ' "$dir/w1.log") && break
        sleep 0.05
    done
    [ -n "${line:-}" ] || { log "bench: upload did not finish"; tail -5 "$dir/w1.log" >&2; return 1; }
    echo "$line" | sed -E 's/.*uploaded ([0-9]+) bytes \(([0-9]+) on the wire.* in ([0-9]+) ms.*/\1 \2 \3/'
}

# discard DIR...: removes a sample's copy. With KEEP_COPIES=1 (the many
# small files) it is moved aside and removed after the row instead: on
# ext4 without a journal (this VM's root) the inode allocator skips every
# inode freed in the last 60 s (360 s while its table block is dirty) at
# the cost of a buffer lookup each, so creating 10,000 files right after
# deleting 10,000 took 4.7 s instead of 0.27 s, and each sample paid for
# the deletes of the one before it.
discard() {
    local d
    for d in "$@"; do
        [ -e "$d" ] || continue
        if [ "${KEEP_COPIES:-0}" = 1 ]; then
            mkdir -p "$TMP/trash"
            mv "$d" "$TMP/trash/$(date +%s%N)"
        else
            rm -rf "$d"
        fi
    done
}
empty_trash() { rm -rf "$TMP/trash"; }

new_store() {
    STORE=$TMP/store/files.$RANDOM
    discard "$TMP"/store/files.* "$TMP"/store/dst.*
    mkdir -p "$STORE"
}

# rsync daemon serving $TMP/store/rsync (module "b") on PORT, in namespace $1
start_rsyncd() {
    local ns=${1:-} host=${2:-127.0.0.1} run=""
    [ -n "$ns" ] && run="ip netns exec $ns"
    RSYNC_PORT=$(free_port "$host" "$ns")
    mkdir -p "$TMP/store/rsync"
    cat > "$TMP/rsyncd.conf" <<EOF
pid file = $TMP/rsyncd.pid
use chroot = no
uid = root
gid = root
[b]
    path = $TMP/store/rsync
    read only = false
EOF
    $run rsync --daemon --no-detach --address="$host" --port="$RSYNC_PORT" \
        --config="$TMP/rsyncd.conf" --log-file="$TMP/rsyncd.log" &
    RSYNC_PID=$!; PIDS="$PIDS $RSYNC_PID"
    sleep 0.3
}
stop_rsyncd() { kill "$RSYNC_PID" 2>/dev/null; wait "$RSYNC_PID" 2>/dev/null; rm -rf "$TMP/store/rsync"; }

# Each baseline prints seconds. $1 source dir, $2 host, $3 ns of the sender
rsync_time() {
    local src=$1 host=$2 ns=${3:-} z=${4:-} run="" t0
    [ -n "$ns" ] && run="ip netns exec $ns"
    discard "$TMP/store/rsync"/*; sync
    t0=$(now_ns)
    $run timeout 600 rsync -a $z "$src/" "rsync://$host:$RSYNC_PORT/b/" || { echo 0; return; }
    secs_since "$t0"
}
# The port is free when asked; the listener takes it a moment later.
free_port() { ${2:+ip netns exec $2} "$U" free-port "$1"; }
# tarnc_time SRC HOST [SEND_NS RECV_NS -z durable]: "durable" ends the
# time after a syncfs of the destination (the store syncs before it acks).
tarnc_time() {
    local src=$1 host=$2 sns=${3:-} rns=${4:-} z=${5:-} durable=${6:-} srun="" rrun="" port t0 rp
    [ -n "$sns" ] && srun="ip netns exec $sns"
    [ -n "$rns" ] && rrun="ip netns exec $rns"
    port=$(free_port "$host" "$rns")
    discard "$TMP/store/dst"; mkdir -p "$TMP/store/dst"; sync
    ( $rrun timeout 600 nc -l "$host" "$port" | tar -x $z -f - -C "$TMP/store/dst" ) &
    rp=$!
    sleep 0.2
    t0=$(now_ns)
    tar -c $z -f - -C "$src" . | $srun timeout 600 nc -N "$host" "$port"
    wait "$rp"
    [ -n "$durable" ] && sync -f "$TMP/store/dst"
    secs_since "$t0"
    discard "$TMP/store/dst"
}
raw_tcp_time() {
    local host=$1 bytes=$2 sns=${3:-} rns=${4:-} srun="" rrun="" port sp
    [ -n "$sns" ] && srun="ip netns exec $sns"
    [ -n "$rns" ] && rrun="ip netns exec $rns"
    rm -f "$TMP/sink.port"
    $rrun timeout 300 "$U" tcp-sink "$host" > "$TMP/sink.port" &
    sp=$!
    port=""
    for _ in $(seq 250); do port=$(head -1 "$TMP/sink.port" 2>/dev/null); [ -n "$port" ] && break; sleep 0.02; done
    $srun timeout 300 "$U" tcp-send "$host" "$port" "$bytes" | awk '{print $2}'
    kill "$sp" 2>/dev/null; wait "$sp" 2>/dev/null
}

mkdir -p "$TMP/store"
# All receivers write into RAM so no tool waits on the disk (8 GiB bound).
mount -t tmpfs -o size=$((BIGMEM > 0 ? 6 * 1024 : 2 * 1024))m cloudai-bench "$TMP/store" 2>/dev/null ||
    log "bench: no tmpfs (not root?): receivers write to the disk"

log "CloudAI bench ($([ "$QUICK" = 1 ] && echo quick || echo full)); data in $TMP"
log "$(printf '  %-58s %12s %-8s | %-26s %12s | %s' name ours unit baseline value ratio)"

# --- 1. transfer over loopback -------------------------------------------
CASES=${BENCH_CASES:-random,text,small,durable}
has_case() { case ",$CASES," in *",$1,"*) return 0 ;; esac; return 1; }
gen_cases() {
    mkdir -p "$TMP/ds"
    if has_case random || has_case durable; then
        [ -d "$TMP/ds/random" ] || "$U" gen random "$TMP/ds/random" 16 $((BIG / 16)) 1
    fi
    if has_case text; then
        [ -d "$TMP/ds/text" ] || "$U" gen text "$TMP/ds/text" 16 $((BIG / 16)) 2
    fi
    if has_case small; then
        [ -d "$TMP/ds/small" ] || "$U" gen small "$TMP/ds/small" "$NSMALL" 4096 3
    fi
}
MEM_M=0 MEM_W=0
# ours_sample CASE_DIR DATASET -> MB/s of one upload on a fresh store and
# cluster (the cluster's start is not timed; the worker times its upload).
ours_sample() {
    local dir=$1 ds=$2 bytes abytes wire ms m w
    bytes=$(du -sb --apparent-size "$ds" | awk '{print $1}')
    new_store; sync
    rm -rf "$dir"
    start_cluster "$dir" 1 process || return 1
    read -r abytes wire ms < <(ours_upload "$dir" "$ds") || { stop_cluster; return 1; }
    m=$(hwm_kib "$MPID"); w=$(hwm_kib "${WPIDS# }")
    [ "$m" -gt "$MEM_M" ] && MEM_M=$m; [ "$w" -gt "$MEM_W" ] && MEM_W=$w
    stop_cluster
    log "    ours: $abytes archive bytes, $wire on the wire, $ms ms; RSS master $((m / 1024)) MiB, worker $((w / 1024)) MiB"
    mbps "$bytes" "$(awk -v ms="$ms" 'BEGIN{print ms/1000}')"
}
if want transfer; then
    gen_cases
    : > "$TMP/s.raw"
    mark_begin
    for _ in 1 2 3; do mbps $((4 * BIG)) "$(raw_tcp_time 127.0.0.1 $((4 * BIG)))" >> "$TMP/s.raw"; done
    mark_end
    rowS "raw TCP loopback (ceiling)" "$TMP/s.raw" MB/s "" "" 1
    start_rsyncd
    for c in random text small; do
        has_case "$c" || continue
        case $c in
            random) label="transfer lo: $BIGNAME incompressible, 16 files" ;;
            text) label="transfer lo: $BIGNAME text (log lines), 16 files" ;;
            small) label="transfer lo: $NSMALL files of 4 KiB" ;;
        esac
        bytes=$(du -sb --apparent-size "$TMP/ds/$c" | awk '{print $1}')
        : > "$TMP/s.ours"; : > "$TMP/s.rsync"; : > "$TMP/s.tar"; : > "$TMP/s.tarz"; : > "$TMP/s.tars"
        [ "$c" = small ] && KEEP_COPIES=1
        mark_begin
        for i in $(seq "$PAIRS"); do   # interleaved: ours, rsync, tar, (tar -z) ...
            ours_sample "$TMP/c-$c" "$TMP/ds/$c" >> "$TMP/s.ours" || exit 1
            mbps "$bytes" "$(rsync_time "$TMP/ds/$c" 127.0.0.1)" >> "$TMP/s.rsync"
            mbps "$bytes" "$(tarnc_time "$TMP/ds/$c" 127.0.0.1)" >> "$TMP/s.tar"
            # Ours is durable when it acks (one syncfs): for many small
            # files that is a fifth of the time, so tar with a syncfs too
            # shows what durability itself costs.
            [ "$c" = small ] && mbps "$bytes" "$(tarnc_time "$TMP/ds/$c" 127.0.0.1 "" "" "" durable)" >> "$TMP/s.tars"
            # tar -z is slow (~45 MB/s): three samples are enough to place it
            if { [ "$c" != random ] || [ "$QUICK" = 1 ]; } && [ "$i" -le 3 ]; then
                mbps "$bytes" "$(tarnc_time "$TMP/ds/$c" 127.0.0.1 "" "" -z)" >> "$TMP/s.tarz"
            fi
        done
        mark_end
        KEEP_COPIES=0; empty_trash
        rowS "$label" "$TMP/s.ours" MB/s "rsync -a (daemon)" "$TMP/s.rsync" 1
        rowS "$label" "$TMP/s.ours" MB/s "tar|nc|tar" "$TMP/s.tar" 1
        [ -s "$TMP/s.tars" ] && rowS "$label" "$TMP/s.ours" MB/s "tar|nc|tar + syncfs" "$TMP/s.tars" 1
        [ -s "$TMP/s.tarz" ] && rowS "$label" "$TMP/s.ours" MB/s "tar -z|nc|tar -z" "$TMP/s.tarz" 1
        rowS "$label" "$TMP/s.ours" MB/s "raw TCP loopback" "$TMP/s.raw" 1
    done
    stop_rsyncd
    # The incompressible case stored durably on the disk, vs rsync + syncfs,
    # interleaved.
    if has_case durable; then
    bytes=$(du -sb --apparent-size "$TMP/ds/random" | awk '{print $1}')
    : > "$TMP/s.ours"; : > "$TMP/s.rsync"
    mark_begin
    for i in $(seq "$PAIRS"); do
        STORE=$TMP/disk-store; rm -rf "$STORE"; mkdir -p "$STORE"; sync
        rm -rf "$TMP/c-disk"
        start_cluster "$TMP/c-disk" 1 process || exit 1
        read -r abytes wire ms < <(ours_upload "$TMP/c-disk" "$TMP/ds/random") || exit 1
        stop_cluster
        rm -rf "$STORE"; sync; STORE=""
        mbps "$bytes" "$(awk -v ms="$ms" 'BEGIN{print ms/1000}')" >> "$TMP/s.ours"
        mkdir -p "$TMP/disk-dst"; t0=$(now_ns)
        rsync -a "$TMP/ds/random/" "$TMP/disk-dst/" && sync -f "$TMP/disk-dst"
        mbps "$bytes" "$(secs_since "$t0")" >> "$TMP/s.rsync"
        rm -rf "$TMP/disk-dst"; sync
    done
    mark_end
    rowS "transfer lo to ext4, durable: $BIGNAME incompressible" "$TMP/s.ours" MB/s \
        "rsync -a local + syncfs" "$TMP/s.rsync" 1
    fi
    rm -rf "$TMP"/c-*
fi

# --- 2. memory ------------------------------------------------------------
if want memory; then
    mark_begin; mark_end
    [ "$MEM_M" -gt 0 ] && row "master peak RSS, $BIGNAME upload" "$((MEM_M / 1024))" MiB "target" 64 0
    [ "$MEM_W" -gt 0 ] && row "worker peak RSS, $BIGNAME upload" "$((MEM_W / 1024))" MiB "target" 64 0
    mkdir -p "$TMP/ds"    # BENCH_ONLY=memory runs without the transfer rows' data
    if [ "$BIGMEM" -gt 0 ]; then
        "$U" gen random "$TMP/ds/huge" 16 $((BIGMEM / 16)) 4 || exit 1
        new_store
        mark_begin
        start_cluster "$TMP/c-huge" 1 process || exit 1
        if read -r abytes wire ms < <(ours_upload "$TMP/c-huge" "$TMP/ds/huge"); then
            mark_end
            row "master peak RSS, $((BIGMEM / MiB)) MiB upload" "$(( $(hwm_kib "$MPID") / 1024 ))" MiB target 64 0
            row "worker peak RSS, $((BIGMEM / MiB)) MiB upload" "$(( $(hwm_kib "${WPIDS# }") / 1024 ))" MiB target 64 0
        fi
        stop_cluster
        rm -rf "$TMP/ds/huge" "$TMP/c-huge"
    fi
    # 8 workers uploading at once (each its own 1/8 of the big case)
    new_store
    mark_begin
    WCPU=2 start_cluster "$TMP/c-eight" 8 process || exit 1
    for i in $(seq 8); do
        "$U" gen random "$TMP/ds/eight$i" 4 $((BIG / 32)) $((10 + i)) || exit 1
        "$BIN/cloudai" -master "$MADDR" dispatch "w$i" "$IMAGE" -cmd "cp -al $TMP/ds/eight$i/. ." \
            > /dev/null
    done
    for _ in $(seq 1200); do
        [ "$(cat "$TMP"/c-eight/w*.log | grep -c ': uploaded ')" -ge 8 ] && break; sleep 0.1
    done
    mark_end
    row "master peak RSS, 8 workers uploading at once" "$(( $(hwm_kib "$MPID") / 1024 ))" MiB target 64 0
    stop_cluster
    rm -rf "$TMP"/ds/eight* "$TMP/c-eight"
fi

# --- 4. Docker latency -------------------------------------------------------
if want docker; then
    if docker image inspect "$IMAGE" > /dev/null 2>&1 || { [ -x ./mkimage.sh ] && ./mkimage.sh > /dev/null 2>&1; }; then
        new_store
        start_cluster "$TMP/c-docker" 1 docker || exit 1
        : > "$TMP/lat.ours"; : > "$TMP/lat.bare"
        OWN_COMM='^(dockerd|containerd|containerd-shim.*|runc|docker-init|docker-proxy)$'
        mark_begin
        for i in $(seq "$NDOCKER"); do
            # -wait: the master pushes the end (as `docker run` waits for
            # its container), where polling `tasks` added up to a poll's
            # process start and sleep to every sample.
            t0=$(now_ns)
            "$BIN/cloudai" -master "$MADDR" task "$IMAGE" -cmd true -name "lat$i" -wait > /dev/null ||
                log "  (docker: task lat$i did not complete)"
            # one sample a line (secs_since prints no newline: without
            # this the row read only the first sample of each side)
            echo "$(secs_since "$t0")" >> "$TMP/lat.ours"
            t0=$(now_ns)
            docker run --rm "$IMAGE" true
            echo "$(secs_since "$t0")" >> "$TMP/lat.bare"
        done
        stop_cluster
        mark_end
        OWN_COMM=""
        rowS "Docker trivial task latency, submit -> completed" "$TMP/lat.ours" s \
            "docker run --rm" "$TMP/lat.bare" 0
        rm -rf "$TMP/c-docker"
    else
        log "  (docker: no daemon or image; skipped)"
    fi
fi

# --- 5. 1 Gbit/s link between two network namespaces --------------------------
if want netns; then
    if ip netns add "$NS_M" 2>/dev/null && ip netns add "$NS_W"; then
        NETNS_UP=1
        ip link add "cabm$$" netns "$NS_M" type veth peer name "cabw$$" netns "$NS_W"
        ip -n "$NS_M" addr add 192.168.77.1/24 dev "cabm$$"
        ip -n "$NS_W" addr add 192.168.77.2/24 dev "cabw$$"
        for n in "$NS_M cabm$$" "$NS_W cabw$$"; do
            set -- $n
            ip -n "$1" link set lo up; ip -n "$1" link set "$2" up
            ip netns exec "$1" tc qdisc add dev "$2" root tbf rate 1gbit burst 256kb latency 50ms
        done
        mkdir -p "$TMP/dsn"
        "$U" gen random "$TMP/dsn/random" 16 $((NET_BIG / 16)) 5
        "$U" gen text "$TMP/dsn/text" 16 $((NET_BIG / 16)) 6
        NPAIRS=$((PAIRS < 3 ? PAIRS : 3))   # a link-bound transfer varies little
        : > "$TMP/s.link"
        mark_begin
        for _ in $(seq "$NPAIRS"); do
            mbps "$NET_BIG" "$(raw_tcp_time 192.168.77.1 $((NET_BIG)) "$NS_W" "$NS_M")" >> "$TMP/s.link"
        done
        mark_end
        echo 125.0 > "$TMP/s.rate"
        rowS "raw TCP over the 1 Gbit/s veth (ceiling)" "$TMP/s.link" MB/s "link rate" "$TMP/s.rate" 1
        start_rsyncd "$NS_M" 192.168.77.1
        for c in random text; do
            bytes=$(du -sb --apparent-size "$TMP/dsn/$c" | awk '{print $1}')
            : > "$TMP/s.ours"; : > "$TMP/s.rsync"; : > "$TMP/s.tarz"
            mark_begin
            for _ in $(seq "$NPAIRS"); do
                new_store; rm -rf "$TMP/n-$c"
                start_cluster "$TMP/n-$c" 1 process "$NS_M" "$NS_W" 192.168.77.1 || exit 1
                read -r abytes wire ms < <(CLI_NS=$NS_M ours_upload "$TMP/n-$c" "$TMP/dsn/$c") || exit 1
                stop_cluster
                log "    ours: $abytes archive bytes, $wire on the wire, $ms ms"
                mbps "$bytes" "$(awk -v ms="$ms" 'BEGIN{print ms/1000}')" >> "$TMP/s.ours"
                mbps "$bytes" "$(rsync_time "$TMP/dsn/$c" 192.168.77.1 "$NS_W" -z)" >> "$TMP/s.rsync"
                if [ $c = text ]; then
                    mbps "$bytes" "$(tarnc_time "$TMP/dsn/$c" 192.168.77.1 "$NS_W" "$NS_M" -z)" >> "$TMP/s.tarz"
                fi
            done
            mark_end
            label="transfer 1 Gbit/s: $((NET_BIG / MiB)) MiB $([ $c = random ] && echo incompressible || echo text)"
            rowS "$label" "$TMP/s.ours" MB/s "raw TCP on the link" "$TMP/s.link" 1
            rowS "$label" "$TMP/s.ours" MB/s "rsync -az (daemon)" "$TMP/s.rsync" 1
            [ -s "$TMP/s.tarz" ] && rowS "$label" "$TMP/s.ours" MB/s "tar -z|nc|tar -z" "$TMP/s.tarz" 1
        done
        stop_rsyncd
        rm -rf "$TMP/dsn" "$TMP"/n-*
    else
        log "  (netns: cannot create network namespaces; skipped)"
    fi
fi

# --- 6. metadata (tests/bench/meta_bench.c: one JSON line per figure) -------
if want meta; then
    if [ -x "$TMP/bin/meta_bench" ]; then
        mark_begin
        (cd "$TMP" && timeout 600 "$TMP/bin/meta_bench" -n "$NSMALL") > "$TMP/meta.out" 2> "$TMP/meta.err" ||
            { log "  (metadata: meta_bench failed)"; sed 's/^/    /' "$TMP/meta.err" >&2; }
        mark_end
        while read -r line; do
            n=$(printf '%s' "$line" | sed -n 's/.*"name": *"\([^"]*\)".*/\1/p')
            v=$(printf '%s' "$line" | sed -n 's/.*"value": *\([0-9.eE+-]*\).*/\1/p')
            u=$(printf '%s' "$line" | sed -n 's/.*"unit": *"\([^"]*\)".*/\1/p')
            [ -n "$n" ] && [ -n "$v" ] || continue
            case $n in
                *bulk_journal*) row "metadata: $n ($NSMALL files)" "$v" "$u" target 50000 1 ;;
                *) row "metadata: $n ($NSMALL files)" "$v" "$u" "" "" 1 ;;
            esac
        done < "$TMP/meta.out"
        # The embedded store at size (tests/bench/meta_bench.c -scale): 1M
        # tasks + 10M file records (BENCH_QUICK: 20k + 200k, with linear
        # projections to the full size), built, compacted, then opened by a
        # fresh process that measures its start, its RSS and paged listings
        # at random places (p50/p99 of 200; cpu99 = the CPU the listing
        # itself took, as a loaded machine's wall p99 is mostly time spent
        # descheduled). The load columns say how busy the machine was.
        NSCALE=$([ "$QUICK" = 1 ] && echo 20000 || echo 1000000)
        mark_begin
        (cd "$TMP" && timeout 3600 "$TMP/bin/meta_bench" -scale "$NSCALE" -files-per-task 10) \
            > "$TMP/scale.out" 2> "$TMP/scale.err" ||
            { log "  (metadata scale: meta_bench -scale failed)"; sed 's/^/    /' "$TMP/scale.err" >&2; }
        mark_end
        sv() { sed -n "s/.*\"name\":\"$1\",\"value\":\([0-9.eE+-]*\).*/\1/p" "$TMP/scale.out"; }
        F=$((NSCALE * 10))
        S="$NSCALE tasks + $F files"
        if [ -s "$TMP/scale.out" ]; then
            row "metadata: store RSS after start, $S" "$(sv meta_scale_rss)" MiB target 1024 0
            row "metadata: store RSS per task (journal)" "$(sv meta_scale_rss_per_task)" bytes "" "" 0
            row "metadata: store RSS per file record (journal)" "$(sv meta_scale_rss_per_file)" bytes "" "" 0
            row "metadata: peak RSS while starting, $S" "$(awk -v k="$(sv meta_scale_hwm_kib)" 'BEGIN { printf "%.1f", k / 1024 }')" MiB "" "" 0
            row "metadata: start (open) wall time, $S" "$(sv meta_scale_open_s)" s target 10 0
            row "metadata: start (open) CPU time, $S" "$(sv meta_scale_open_cpu)" s target 10 0
            row "metadata: start, snapshot checked in background, $S" "$(sv meta_scale_open_later_s)" s target 10 0
            row "metadata: that background check of the snapshot, $S" "$(sv meta_scale_check_s)" s "" "" 0
            if [ "$QUICK" = 1 ]; then
                row "metadata: RSS projected to 1M tasks + 10M files" "$(sv meta_scale_rss_at_10M_files)" MiB target 1024 0
                row "metadata: start CPU projected to 1M tasks + 10M files" "$(sv meta_scale_open_cpu_at_10M_files)" s target 10 0
                row "metadata: start (background check) projected to 1M + 10M" "$(sv meta_scale_open_later_wall_at_10M_files)" s target 10 0
            fi
            for q in "tasks_page:page of 100 tasks at a random cursor" \
                     "tasks_page_user:page of 100 tasks of one user (1%)" \
                     "files_page:page of 100 files at a random cursor" \
                     "files_page_user:page of 100 files of one user" \
                     "files_of_task:files of a random task (10)" \
                     "task_get:one task by id"; do
                k=${q%%:*}; what=${q#*:}
                row "metadata: $what, p50" "$(sv "meta_scale_${k}_p50_ms")" ms target 50 0
                row "metadata: $what, p99" "$(sv "meta_scale_${k}_p99_ms")" ms target 50 0
                row "metadata: $what, CPU p99" "$(sv "meta_scale_${k}_cpu99_ms")" ms target 50 0
            done
            row "metadata: compaction (in the background), $S" "$(sv meta_scale_compact_s)" s "" "" 0
            for k in p50 p99 max; do
                row "metadata: a durable write during that compaction, $k" \
                    "$(sv "meta_scale_write_during_compact_${k}_ms")" ms "the same writer, no compaction" \
                    "$(sv "meta_scale_write_idle_${k}_ms")" 0
            done
        fi
    else
        log "  (metadata: tests/bench/meta_bench.c not present; skipped)"
    fi
fi
# --- 7. the web page: a 50,000-file run opened in headless Chromium --------
# Chromium's own clock (tests/integration/web_drive.js perf): first
# contentful paint, and the first frame that shows the run's file rows
# (the run view fetched its 50,000 file records and rendered the visible
# part of its tree). Each sample is a fresh navigation.
if want web; then
    CHROME=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
    if [ -n "$CHROME" ] && command -v node >/dev/null 2>&1; then
        NWEB=50000
        d=$TMP/web; mkdir -p "$d"
        printf '[http]\nlisten = 127.0.0.1:0\n' > "$d/cfg.ini"
        "$BIN/master" -listen 127.0.0.1:0 -files "$d/files" -meta "$d/meta" -config "$d/cfg.ini" \
            --no-console > "$d/master.out" 2> "$d/master.log" &
        WMPID=$!; PIDS="$PIDS $WMPID"
        for _ in $(seq 200); do grep -q '^master http on' "$d/master.out" && break; sleep 0.05; done
        WMADDR=$(sed -n 's/^master listening on \([^ ]*\).*/\1/p' "$d/master.out")
        WHADDR=$(sed -n 's/^master http on \([^ ]*\).*/\1/p' "$d/master.out")
        "$BIN/worker" -master "$WMADDR" -id wweb -runtime process -outputs "$d/out" -cpu 2 -mem 8g \
            > "$d/w.log" 2>&1 &
        PIDS="$PIDS $!"
        for _ in $(seq 200); do grep -q "registered with master" "$d/w.log" && break; sleep 0.05; done
        # 50 directories of 1,000 files each.
        WID=$("$BIN/cloudai" -master "$WMADDR" task cloudai-test:latest -name web-50k -json -cmd \
            "awk 'BEGIN { for (i = 0; i < 50; i++) system(sprintf(\"mkdir -p d%02d\", i));
                          for (i = 1; i <= $NWEB; i++) { f = sprintf(\"d%02d/part-%d.txt\", i % 50, i); print i > f; close(f) } }'" |
            sed -n 's/.*"task_id":"\([^"]*\)".*/\1/p')
        for _ in $(seq 1200); do
            "$BIN/cloudai" -master "$WMADDR" tasks -task "$WID" --json 2>/dev/null | grep -q '"status":"completed"' && break
            sleep 0.25
        done
        nf=$("$BIN/cloudai" -master "$WMADDR" tasks -task "$WID" --json 2>/dev/null | sed -n 's/.*"output_files":\([0-9]*\).*/\1/p')
        if [ "${nf:-0}" -ge "$NWEB" ]; then
            mark_begin
            timeout 300 node "$ROOT/tests/integration/web_drive.js" "$CHROME" perf "http://$WHADDR" "$WID" 5 \
                > "$d/perf.out" 2>&1
            mark_end
            awk '$1 == "sample" { print $2 }' "$d/perf.out" > "$TMP/s.fcp"
            awk '$1 == "sample" { print $3 }' "$d/perf.out" > "$TMP/s.rows"
            if [ -s "$TMP/s.rows" ]; then
                rowS "web: first contentful paint, $NWEB-file run" "$TMP/s.fcp" ms "" "" 0
                rowS "web: run view with its files rendered, $NWEB-file run" "$TMP/s.rows" ms "" "" 0
            else
                log "  (web: no samples)"; sed 's/^/    /' "$d/perf.out" >&2
            fi
        else
            log "  (web: the $NWEB-file task did not complete: ${nf:-0} files)"; tail -5 "$d/w.log" >&2
        fi
        kill "$WMPID" 2>/dev/null
    else
        log "  (web: no chromium or node; skipped)"
    fi
fi
log "  (Slurm: not installed; the Slurm peer comparison is skipped)"

# --- 8. object store (SeaweedFS's S3 gateway on loopback) ---------------------
# Our S3 client (the master's, through tests/tools/s3tool: SigV4, SHA-256
# checksum sent on PUT and checked on GET, multipart in 16 MiB parts) vs
# curl --aws-sigv4 moving the same bytes (one PUT, no checksum), then the
# master's RSS while a large output goes to the bucket, that output's
# throughput into the bucket and back out with `cloudai get`.
if want s3; then
    WEED=${CLOUDAI_WEED:-}
    [ -n "$WEED" ] || WEED=$(sh tests/integration/s3srv.sh build 2>"$TMP/weed-build.log") || WEED=""
    if [ -n "$WEED" ] && sh tests/integration/s3srv.sh start "$TMP/s3" "$WEED" 2>"$TMP/s3.log"; then
        PIDS="$PIDS $(sed -n 's/^S3_PID=//p' "$TMP/s3/env")"
        set -a; . "$TMP/s3/env"; set +a
        S3B=$((QUICK == 1 ? 128 * MiB : 1024 * MiB))
        "$U" gen random "$TMP/s3ds" 1 "$S3B" 7
        f=$(find "$TMP/s3ds" -type f | head -1)
        sha=$(sha256sum "$f" | cut -d' ' -f1)
        sig=(--aws-sigv4 "aws:amz:us-east-1:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY")
        sum64=$(openssl dgst -sha256 -binary "$f" | base64)
        : > "$TMP/s.up"; : > "$TMP/s.cup"; : > "$TMP/s.cupsum"; : > "$TMP/s.down"; : > "$TMP/s.cdown"
        # Untimed warm-up: a fresh SeaweedFS grows its volumes on the first
        # writes (seconds), which would land on whichever side goes first.
        curl -sf "${sig[@]}" -T "$f" "$S3_ENDPOINT/$S3_BUCKET/b/warmup" -o /dev/null
        "$TMP/bin/s3tool" put b/warmup2 "$f" "$sha" > /dev/null 2>&1
        "$TMP/bin/s3tool" delete-prefix b/ > /dev/null 2>&1
        mark_begin
        for i in $(seq "$PAIRS"); do
            t0=$(now_ns); "$TMP/bin/s3tool" put "b/ours$i" "$f" "$sha" || break
            mbps "$S3B" "$(secs_since "$t0")" >> "$TMP/s.up"
            t0=$(now_ns); curl -sf "${sig[@]}" -T "$f" "$S3_ENDPOINT/$S3_BUCKET/b/curl$i" -o /dev/null || break
            mbps "$S3B" "$(secs_since "$t0")" >> "$TMP/s.cup"
            # the same integrity as ours: the server checks a SHA-256
            t0=$(now_ns); curl -sf "${sig[@]}" -H "x-amz-checksum-sha256: $sum64" -T "$f" \
                "$S3_ENDPOINT/$S3_BUCKET/b/sum$i" -o /dev/null || break
            mbps "$S3B" "$(secs_since "$t0")" >> "$TMP/s.cupsum"
            t0=$(now_ns); "$TMP/bin/s3tool" get "b/ours$i" 0 0 "$sha" > /dev/null || break
            mbps "$S3B" "$(secs_since "$t0")" >> "$TMP/s.down"
            t0=$(now_ns); curl -sf "${sig[@]}" "$S3_ENDPOINT/$S3_BUCKET/b/curl$i" -o /dev/null || break
            mbps "$S3B" "$(secs_since "$t0")" >> "$TMP/s.cdown"
            "$TMP/bin/s3tool" delete-prefix b/ > /dev/null 2>&1
        done
        mark_end
        rowS "S3 PUT $((S3B / MiB)) MiB (SHA-256 checksum, multipart)" "$TMP/s.up" MB/s \
            "curl --aws-sigv4 -T" "$TMP/s.cup" 1
        rowS "S3 PUT $((S3B / MiB)) MiB (SHA-256 checksum, multipart)" "$TMP/s.up" MB/s \
            "curl --aws-sigv4 -T + checksum" "$TMP/s.cupsum" 1
        rowS "S3 GET $((S3B / MiB)) MiB (SHA-256 checked)" "$TMP/s.down" MB/s \
            "curl --aws-sigv4" "$TMP/s.cdown" 1
        rm -rf "$TMP/s3ds"
        # The master's RSS while a large output goes to the bucket.
        S3RSS=$((QUICK == 1 ? 512 * MiB : 4096 * MiB))
        "$U" gen random "$TMP/s3huge" 4 $((S3RSS / 4)) 8
        printf '[store]\nbackend = s3\nendpoint = %s\nbucket = %s\nprefix = bench\n' \
            "$S3_ENDPOINT" "$S3_BUCKET" > "$TMP/s3.ini"
        STORE=$TMP/s3-files; rm -rf "$STORE"; mkdir -p "$STORE"
        mark_begin
        if MCFG=$TMP/s3.ini start_cluster "$TMP/c-s3" 1 process; then
            if read -r abytes wire ms < <(ours_upload "$TMP/c-s3" "$TMP/s3huge"); then
                for _ in $(seq 6000); do grep -q 'put in the object store' "$TMP/c-s3/master.log" && break; sleep 0.1; done
                mark_end
                pline=$(grep -m1 'put in the object store' "$TMP/c-s3/master.log")
                log "    $pline"
                row "master peak RSS, $((S3RSS / MiB)) MiB output to S3" "$(( $(hwm_kib "$MPID") / 1024 ))" MiB target 64 0
                # End to end through the master: its PUTs of the output
                # (4 files, 4 at a time), then `cloudai get` of the run
                # from the bucket (streamed, SHA-256 checked), each against
                # the median of curl's single PUT/GET above.
                pms=$(echo "$pline" | sed -nE 's/.* in ([0-9]+) ms.*/\1/p')
                [ -n "$pms" ] && row "output of $((S3RSS / MiB)) MiB, master -> bucket" \
                    "$(mbps "$S3RSS" "$(awk -v m="$pms" 'BEGIN { print m / 1000 }')")" MB/s \
                    "curl --aws-sigv4 -T (median)" "$(stats "$TMP/s.cup" | cut -d' ' -f1)" 1
                tid=$(echo "$pline" | sed -nE 's/.*task ([^:]+):.*/\1/p')
                rm -rf "$TMP/s3huge" "$TMP/s3get"   # room for the copy
                mark_begin
                t0=$(now_ns)
                if [ -n "$tid" ] && "$BIN/cloudai" -master "$MADDR" get "$tid" "$TMP/s3get" > /dev/null; then
                    gsec=$(secs_since "$t0")
                    mark_end
                    row "cloudai get $((S3RSS / MiB)) MiB run from the bucket" "$(mbps "$S3RSS" "$gsec")" MB/s \
                        "curl --aws-sigv4 (median)" "$(stats "$TMP/s.cdown" | cut -d' ' -f1)" 1
                    row "master peak RSS, the output to S3 and its get" "$(( $(hwm_kib "$MPID") / 1024 ))" MiB target 64 0
                else
                    mark_end
                    log "  (s3: cloudai get of $tid from the bucket failed)"
                fi
                rm -rf "$TMP/s3get"
            fi
            stop_cluster
        fi
        STORE=""
        rm -rf "$TMP/s3huge" "$TMP/c-s3" "$TMP/s3-files"
        sh tests/integration/s3srv.sh stop "$TMP/s3"
    else
        log "  (s3: SeaweedFS not available (no Go toolchain, or it did not build/start); skipped)"
    fi
fi

# --- 9. scheduling (last: its 10,000 tasks at once leave a load average
#     of tens for minutes, which would flag every row after it busy) -------
# sched_run N TPS_FILE SUB_FILE: N x true on a fresh 4-worker cluster,
# submitted on one connection, then waited for as a user would (WAIT: the
# master pushes each end; nothing polls logs or lists); appends tasks/s
# end to end and submissions/s.
# With a 4th argument, appends "master_ms workers_ms tasks_ms" there: each
# one's CPU a task (the daemons' own from /proc/PID/stat, the tasks' as the
# workers' reaped children), to set against the CPU a task may cost at the
# target rate.
sched_run() {
    local n=$1 subsecs t ok c0 c1
    new_store
    rm -rf "$TMP/c-sched"
    WCPU=64 start_cluster "$TMP/c-sched" 4 process || return 1
    c0=$(daemon_cpu)
    read -r _ subsecs t ok < <("$TMP/bin/bench_submit" "$MADDR" "$n" true "$IMAGE" 1 1) ||
        { stop_cluster; return 1; }
    c1=$(daemon_cpu)
    log "    $n submitted in ${subsecs}s; $ok completed, all ended after ${t}s"
    stop_cluster
    awk -v n="$ok" -v s="$t" 'BEGIN{printf "%.0f\n", n/s}' >> "$2"
    awk -v n="$n" -v s="$subsecs" 'BEGIN{printf "%.0f\n", n/s}' >> "$3"
    if [ -n "${4:-}" ]; then
        echo "$c0 $c1" | awk -v n="$n" -v hz="$HZ" '{
            printf "%.4f %.4f %.4f\n", ($4 - $1) * 1000 / hz / n, ($5 - $2) * 1000 / hz / n,
                ($6 - $3) * 1000 / hz / n }' >> "$4"
    fi
}
# "master workers tasks" CPU ticks of the running cluster (tasks: what the
# workers have reaped)
daemon_cpu() {
    local m w=0 c=0 p st
    m=$(awk '{print $14 + $15}' "/proc/$MPID/stat" 2>/dev/null || echo 0)
    for p in $WPIDS; do
        st=$(awk '{print $14 + $15, $16 + $17}' "/proc/$p/stat" 2>/dev/null || echo "0 0")
        w=$((w + ${st% *})); c=$((c + ${st#* }))
    done
    echo "$m $w $c"
}
if want sched; then
    mark_begin
    read -r dec secs placed < <("$TMP/bin/bench_sched" 1000 100000)
    mark_end
    row "placement decisions/s (1,000 workers, 100k tasks)" \
        "$(awk -v d="$dec" -v s="$secs" 'BEGIN{printf "%.0f", d/s}')" "1/s" target 100000 1
    : > "$TMP/s.tps"; : > "$TMP/s.sub"; : > "$TMP/s.spawn"; : > "$TMP/s.cpu"; : > "$TMP/s.spcpu"
    mark_begin
    for _ in $(seq "$([ "$QUICK" = 1 ] && echo 1 || echo 3)"); do
        # The ceiling on this machine, interleaved: the same command started
        # and reaped bare, as many at once as the 4 workers run (4 x 64).
        # Process creation moves several-fold with the VM's state (PVM page
        # tables, cpuid traps): 275-391 a second on 2026-12-02, well over
        # 1,000 the day before.
        "$U" spawn "$NTASKS" 256 true > "$TMP/s.one"
        awk '{printf "%.0f\n", $1 / $2}' "$TMP/s.one" >> "$TMP/s.spawn"
        awk '{printf "%.4f\n", ($3 + $4) * 1000 / $1}' "$TMP/s.one" >> "$TMP/s.spcpu"
        sched_run "$NTASKS" "$TMP/s.tps" "$TMP/s.sub" "$TMP/s.cpu" || exit 1
    done
    mark_end
    echo 2000 > "$TMP/s.target"
    rowS "tasks/s end to end ($NTASKS x true, 4 workers)" "$TMP/s.tps" "tasks/s" target "$TMP/s.target" 1
    rowS "tasks/s end to end ($NTASKS x true, 4 workers)" "$TMP/s.tps" "tasks/s" \
        "bare posix_spawn + wait of true (ceiling)" "$TMP/s.spawn" 1
    rowS "submissions/s (one client connection)" "$TMP/s.sub" "tasks/s" "" "" 1
    # Where a task's CPU goes, against the budget: at 2,000 tasks/s the
    # whole machine has NCPU/2000 s of CPU a task, the task's own process
    # included; the bare spawn row says what that process alone costs.
    awk -v c="$NCPU" 'BEGIN { printf "%.4f\n", c * 1000 / 2000 }' > "$TMP/s.budget"
    awk '{ print $1 }' "$TMP/s.cpu" > "$TMP/s.cpum"
    awk '{ print $2 }' "$TMP/s.cpu" > "$TMP/s.cpuw"
    awk '{ print $3 }' "$TMP/s.cpu" > "$TMP/s.cput"
    awk '{ print $1 + $2 + $3 }' "$TMP/s.cpu" > "$TMP/s.cpua"
    rowS "CPU a task, all of it (master + workers + the task)" "$TMP/s.cpua" ms \
        "budget at 2000 tasks/s on $NCPU CPUs" "$TMP/s.budget" 0
    rowS "CPU a task: the task's own process (reaped by the workers)" "$TMP/s.cput" ms \
        "bare posix_spawn + wait of true, spawner included" "$TMP/s.spcpu" 0
    rowS "CPU a task: master" "$TMP/s.cpum" ms "" "" 0
    rowS "CPU a task: the 4 workers" "$TMP/s.cpuw" ms "" "" 0
    # A deep queue: four times the tasks, all queued at once. A pass reads
    # the whole queue, so this row against the one above shows whether
    # the rate holds with depth (passes paced, 2026-12-03: it fell to 0.6x).
    if [ "$QUICK" != 1 ]; then
        DEEP=$((4 * NTASKS))
        : > "$TMP/s.deep"
        mark_begin
        sched_run "$DEEP" "$TMP/s.deep" /dev/null || exit 1
        mark_end
        rowS "tasks/s end to end ($DEEP x true queued at once)" "$TMP/s.deep" "tasks/s" \
            "$NTASKS at once (above)" "$TMP/s.tps" 1
    fi
    rm -rf "$TMP/c-sched"
fi

# --- results -------------------------------------------------------------
END_LOAD=$(load1)
awk -F'\t' 'function q(s) { gsub(/\\/, "\\\\", s); gsub(/"/, "\\\"", s); return "\"" s "\"" }
    function num(s) { return s == "" ? "null" : s }
    BEGIN { print "[" }
    { printf "%s  {\"name\": %s, \"value\": %s, \"unit\": %s, \"baseline\": %s, \"baseline_value\": %s, \"ratio\": %s, \"samples\": %s, \"value_min\": %s, \"value_max\": %s, \"baseline_min\": %s, \"baseline_max\": %s, \"load_before\": %s, \"load_after\": %s, \"steal_pct\": %s, \"foreign_cpu_pct\": %s, \"busy\": %s}",
        (NR > 1 ? ",\n" : ""), q($1), num($2), q($3), ($4 == "" ? "null" : q($4)), num($5), num($6),
        num($7), num($8), num($9), num($10), num($11), num($12), num($13), num($14), num($15), $16 }
    END { print "\n]" }' "$ROWS" > "$JSON"
nbusy=$(awk -F'\t' '$16 == "true"' "$ROWS" | wc -l)
echo "make bench $(date -u '+%Y-%m-%d %H:%M UTC'), $([ "$QUICK" = 1 ] && echo quick || echo full), $PAIRS interleaved pairs; load average $START_LOAD at start, $END_LOAD at end; $nbusy of $(wc -l < "$ROWS") rows taken on a busy machine"
echo
echo "| benchmark | ours: median (min-max) | unit | baseline | baseline: median (min-max) | ratio | n | busy |"
echo "|---|---:|---|---|---:|---:|---:|---|"
awk -F'\t' 'function f(v) { return v == "" ? "" : (v >= 100 ? sprintf("%.0f", v) : (v >= 10 ? sprintf("%.1f", v) : sprintf("%.3g", v))) }
    function cell(m, lo, hi, n) { if (m == "") return "-"; return (n > 1 && lo != hi) ? f(m) " (" f(lo) "-" f(hi) ")" : f(m) }
    { printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, cell($2, $8, $9, $7), $3, ($4 == "" ? "-" : $4),
        cell($5, $10, $11, $7), ($6 == "" ? "-" : $6), $7, ($16 == "true" ? "BUSY (load " $12 "->" $13 ", foreign " $15 "%)" : "quiet") }' "$ROWS"
log "results in $JSON"
