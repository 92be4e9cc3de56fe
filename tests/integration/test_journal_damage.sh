#!/bin/sh
# test_journal_damage.sh — the embedded metadata store under damage, with a
# real master and worker (process runtime). Tasks run and store files; the
# master is stopped; then, one at a time: a byte flipped in the middle of
# the journal (inside one task's FILE records), the journal deleted, the
# snapshot damaged. Each time the master restarts, keeps every intact
# record (completed tasks stay completed), logs precisely what happened;
# `master --check` reports it and `master --repair` rebuilds what the
# damage took from the stored files, until the listing equals the one
# taken before any damage.
. tests/integration/lib.sh
IMG=cloudai-test:latest

# records — tasks and file records that must survive: one line each, sorted.
records() {
    cai tasks --json >"$T/rt.json" 2>&1 || return 1
    cai files --json >"$T/rf.json" 2>&1 || return 1
    while read -r l; do
        case $l in *'"task_id"'*) ;; *) continue ;; esac
        echo "task $(echo "$l" | jget task_id) $(echo "$l" | jget task_name) $(echo "$l" | jget status)"
    done <"$T/rt.json"
    while read -r l; do
        case $l in *'"file_name"'*) ;; *) continue ;; esac
        echo "file $(echo "$l" | jget task_id) $(echo "$l" | jget file_name) $(echo "$l" | jget sha256)" \
             "$(echo "$l" | jget file_size) $(echo "$l" | jget file_path)"
    done <"$T/rf.json"
}

stop_master() {
    kill -TERM "$MPID" 2>/dev/null
    wait_for "! kill -0 $MPID" 20 || not_ok "master exits on TERM within 20 s"
    stop_pid "$MPID"
}

N=0
restart() { # starts master m<N> on the same data and address
    N=$((N + 1))
    LISTEN=$ADDR MDATA=m1 start_master "m$N" -config "$T/cfg.ini" || { not_ok "master restarts ($1)"; finish; exit 1; }
    LOG=$T/m$N.log
}

# flip FILE OFFSET — xor one byte with 0x20.
flip() {
    _b=$(od -An -tu1 -j"$2" -N1 "$1" | tr -d ' ')
    printf "$(printf '\\%03o' $((_b ^ 32)))" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}

master_cmd() { ASAN_OPTIONS=$DAEMON_ASAN "$CLOUDAI_BIN/master" -files "$T/m1/files" -meta "$META" "$@"; }

write_config "$T/cfg.ini"
start_master m1 -config "$T/cfg.ini" || { not_ok "master starts"; exit 1; }
N=1; ADDR=$MADDR; META=$T/m1/meta
start_worker w1 -runtime process -cpu 2 -mem 2g -config "$T/cfg.ini" || { not_ok "worker registers"; exit 1; }
A=$(submit task $IMG -name dmg-a -cmd 'mkdir -p d && echo one > d/one.txt && echo two > two.txt')
wait_final "$A" 30
B=$(submit task $IMG -name dmg-b -cmd 'head -c 100000 /dev/urandom > b.bin')
C=$(submit task $IMG -name dmg-c -cmd 'echo c > c.txt')
for id in $B $C; do wait_final "$id" 30; done
records | sort >"$T/before"
want_eq "3 completed tasks and 4 files before any damage" \
    "$(grep -c ' completed$' "$T/before") $(grep -c '^file' "$T/before")" "3 4"
stop_pid "$(cat "$T/w1.pid")"
stop_master

# --check on an intact store.
master_cmd --check >"$T/check0" 2>&1
want_eq "--check on an intact store exits 0" "$?" 0
check "--check says intact" grep -q '^RESULT: intact$' "$T/check0"

# ---- 1. a flipped byte in the middle of the journal ----
master_cmd --check --records >"$T/recs" 2>&1
off=$(awk -v t="$A" '$1 == "record" && $2 == "journal" && $4 == "files" && $5 == t { print $3; exit }' "$T/recs")
last=$(awk '$1 == "record" && $2 == "journal" { o = $3 } END { print o }' "$T/recs")
if [ -z "$off" ] || [ "$off" -ge "$last" ]; then
    not_ok "task A's FILE records are in the middle of the journal"; diag "$(cat "$T/recs")"
else
    ok "task A's FILE records at offset $off, before the last record at $last"
fi
size=$(stat -c %s "$META/journal")
flip "$META/journal" $((off + 30))
master_cmd --check >"$T/check1" 2>&1
want_eq "--check exits 1 on a damaged journal" "$?" 1
check "--check names the damaged stretch by offset" grep -q "journal: .*damaged stretch.*offset $off\.\." "$T/check1"
check "--check finds A's files without FILE records" grep -q "file without a FILE record: task $A, d/one.txt" "$T/check1"
want_eq "--check changed nothing" "$(stat -c %s "$META/journal"); $(ls "$META" | grep -v '^logs$' | tr '\n' ' ')" "$size; journal "
restart "after a flipped byte"
records | sort >"$T/after1"
grep -v "^file $A " "$T/before" >"$T/want1"
if cmp -s "$T/want1" "$T/after1"; then
    ok "flipped byte: every record but A's FILE records is listed as before (completed tasks stay completed)"
else
    not_ok "flipped byte: every record but A's FILE records is listed as before"; diff "$T/want1" "$T/after1" | sed 's/^/# /'
fi
check "flipped byte: the log names the damaged stretch and the records kept" \
    grep -q "metadata store: journal: .*1 damaged stretch(es).*offset $off\.\." "$LOG"
check "flipped byte: the damaged journal is kept aside, byte for byte" \
    sh -c "ls '$META'/journal.damaged-* >/dev/null && grep -q 'kept as $META/journal.damaged-' '$LOG'"
check "flipped byte: the log says DAMAGED and points at --repair" grep -q "metadata store DAMAGED: .*--repair" "$LOG"
stop_master
master_cmd --repair >"$T/repair1" 2>&1
want_eq "--repair exits 0" "$?" 0
check "--repair rebuilds A's 2 FILE records from the files" grep -q "rebuilt 0 TASK records and 2 FILE records" "$T/repair1"
restart "after --repair"
records | sort >"$T/after1r"
if cmp -s "$T/before" "$T/after1r"; then
    ok "after --repair: the listing equals the one before any damage (hashes included)"
else
    not_ok "after --repair: the listing equals the one before any damage"; diff "$T/before" "$T/after1r" | sed 's/^/# /'
fi
check "after --repair: a clean start (no damage logged)" sh -c "! grep -q 'DAMAGED' '$LOG'"

# ---- 2. the journal deleted (changes after the snapshot) ----
start_worker w2 -runtime process -cpu 2 -mem 2g -config "$T/cfg.ini" || not_ok "worker w2 registers"
D=$(submit task $IMG -name dmg-d -cmd 'echo d > d.txt')
wait_final "$D" 30
records | sort >"$T/before2"
stop_pid "$(cat "$T/w2.pid")"
stop_master
rm -f "$META/journal"
restart "after the journal was deleted"
check "deleted journal: reported loudly" grep -q "metadata store: journal: MISSING (deleted?)" "$LOG"
records | sort >"$T/after2"
if cmp -s "$T/before" "$T/after2"; then
    ok "deleted journal: every record of the snapshot is there (D, made after it, is gone)"
else
    not_ok "deleted journal: the snapshot's records are there"; diff "$T/before" "$T/after2" | sed 's/^/# /'
fi
stop_master
master_cmd --check >"$T/check2" 2>&1
check "--check: D's output directory has no TASK record" grep -q "output directory without a TASK record: .*/$D (1 files)" "$T/check2"
master_cmd --repair >"$T/repair2" 2>&1
check "--repair rebuilds D's TASK and FILE records" grep -q "rebuilt 1 TASK records and 1 FILE records" "$T/repair2"
restart "after the second --repair"
want_eq "rebuilt task D is completed" "$(tfield "$D" status)" completed
case $(task_json "$D") in
*'rebuilt by master --repair'*) ok "rebuilt task D says where its record came from" ;;
*) not_ok "rebuilt task D says where its record came from"; diag "$(task_json "$D")" ;;
esac
records | grep -v "^task $D " | sort >"$T/after2r"
grep -v "^task $D " "$T/before2" >"$T/want2"
if cmp -s "$T/want2" "$T/after2r"; then
    ok "after --repair: every file record is back, D's included"
else
    not_ok "after --repair: every file record is back"; diff "$T/want2" "$T/after2r" | sed 's/^/# /'
fi
records | sort >"$T/before3"
stop_master

# ---- 3. a damaged snapshot: the previous generation takes over ----
check "a previous generation is kept" test -f "$META/snapshot.prev" -a -f "$META/journal.prev"
ssize=$(stat -c %s "$META/snapshot")
flip "$META/snapshot" $((ssize / 2))
restart "after the snapshot was damaged"
check "damaged snapshot: the log says so and falls back" \
    sh -c "grep -q 'metadata store: snapshot: DAMAGED' '$LOG' && grep -q 'falling back to snapshot.prev' '$LOG'"
records | sort >"$T/after3"
if cmp -s "$T/before3" "$T/after3"; then
    ok "damaged snapshot: every record is listed as before"
else
    not_ok "damaged snapshot: every record is listed as before"; diff "$T/before3" "$T/after3" | sed 's/^/# /'
fi
check "damaged snapshot kept aside" sh -c "ls '$META'/snapshot.damaged-* >/dev/null"
stop_master
master_cmd --check >"$T/check3" 2>&1
want_eq "--check after the fallback: intact" "$(tail -n 1 "$T/check3")" "RESULT: intact"
check "--check also reads the fallback generation" grep -q "snapshot.prev: generation [0-9]*, [0-9]* bytes, [0-9]* records: intact" "$T/check3"
finish
