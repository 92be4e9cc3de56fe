#!/bin/sh
# test_client.sh — the client side of issue 7 against a real master and a
# process-runtime worker (no Docker needed): pin/unpin (owner or admin
# only), `get -path` for one file and for a sub-directory (bytes equal to
# the stored files), refused and missing paths, the progress line (only
# when asked for a terminal), `files -latest NAME`, and the EXPIRES
# column from a [retention] max age.
. tests/integration/lib.sh

cat >"$T/cfg.ini" <<EOF
[master]
heartbeat_interval_s = 1
[auth]
cluster_token = cluster-tok
user.alice = alice-tok
user.bob = bob-tok
user.root = root-tok
admins = root
[retention]
max_age_days = 30
rule.keep-* = 0
sweep_interval_s = 3600
EOF
start_master m -config "$T/cfg.ini" || { not_ok "master starts"; exit 1; }
export CLOUDAI_USER=alice CLOUDAI_TOKEN=alice-tok
start_worker w1 -runtime process -cpu 2 -mem 1g -token cluster-tok ||
    { not_ok "process worker registers"; exit 1; }
FILES=$T/m/files
as() { _u=$1 _t=$2; shift 2; "$CLOUDAI_BIN/cloudai" -master "$MADDR" -user "$_u" -token "$_t" "$@"; }

MK='mkdir -p models/deep && echo top > a.txt && head -c 3000000 /dev/urandom > models/m.bin &&
echo deep > models/deep/d.txt'
R1=$(submit task cloudai-test:latest -name run -cmd "$MK && echo v1 > v.txt")
wait_final "$R1" 60 || not_ok "first run finishes"
R2=$(submit task cloudai-test:latest -name run -cmd "echo v2 > v.txt")
K1=$(submit task cloudai-test:latest -name keep-x -cmd "echo k > k.txt")
wait_final "$R2" 60 || not_ok "second run finishes"
wait_final "$K1" 60 || not_ok "keep run finishes"
D1=$(task_dir "$FILES/alice/run" "$R1")
[ -n "$D1" ] && ok "first run stored" || not_ok "first run stored"

# ---- EXPIRES
cai files -task "$R1" >"$T/f1.txt" 2>&1
head -n 1 "$T/f1.txt" | grep -q 'EXPIRES$' && ok "files: EXPIRES column" ||
    { not_ok "files: EXPIRES column"; sed 's/^/# /' "$T/f1.txt"; }
DONE=$(tfield "$R1" completed_at)
WANT=$((DONE + 30 * 86400000))
cai files -task "$R1" --json >"$T/f1.json"
want_eq "files --json: expires_at = completed_at + 30 days" \
    "$(grep '"file_name":"a.txt"' "$T/f1.json" | jget expires_at)" "$WANT"
HUMAN=$(date -u -d "@$((WANT / 1000))" '+%Y-%m-%d %H:%M:%S')
grep 'a\.txt' "$T/f1.txt" | grep -q "$HUMAN\$" && ok "files: EXPIRES shows $HUMAN" ||
    { not_ok "files: EXPIRES shows $HUMAN"; sed 's/^/# /' "$T/f1.txt"; }
cai files -task "$K1" >"$T/k1.txt" 2>&1
grep 'k\.txt' "$T/k1.txt" | grep -q ' never$' && ok "files: a rule of 0 days shows never" ||
    { not_ok "files: a rule of 0 days shows never"; sed 's/^/# /' "$T/k1.txt"; }

# ---- pin / unpin
cai pin "$R1" >"$T/pin.out" 2>&1 && grep -q "Pinned task $R1" "$T/pin.out" &&
    ok "pin: owner pins" || { not_ok "pin: owner pins"; sed 's/^/# /' "$T/pin.out"; }
grep -qx "$R1" "$T/m/meta/pins" && ok "pin: stored in <meta>/pins" || not_ok "pin: stored in <meta>/pins"
cai files -task "$R1" >"$T/f1p.txt" 2>&1
grep 'a\.txt' "$T/f1p.txt" | grep -q ' never$' && ok "pinned run: EXPIRES never" ||
    { not_ok "pinned run: EXPIRES never"; sed 's/^/# /' "$T/f1p.txt"; }
cai files -task "$R1" --json | grep '"file_name":"a.txt"' | grep -q '"expires_at":null' &&
    ok "pinned run: expires_at null in --json" || not_ok "pinned run: expires_at null in --json"
if as bob bob-tok unpin "$R1" >"$T/bob.out" 2>"$T/bob.err"; then
    not_ok "unpin: bob may not unpin alice's run"
else
    rc=$?
    want_eq "unpin by another user: exit 1" "$rc" 1
    grep -q "only its owner or an admin" "$T/bob.err" && ok "unpin by another user: clear error" ||
        { not_ok "unpin by another user: clear error"; sed 's/^/# /' "$T/bob.err"; }
fi
grep -qx "$R1" "$T/m/meta/pins" && ok "pin kept after bob's attempt" || not_ok "pin kept after bob's attempt"
as root root-tok unpin "$R1" >"$T/unpin.out" 2>&1 && grep -q "Unpinned task $R1: it expires $HUMAN" "$T/unpin.out" &&
    ok "unpin: an admin unpins; the reply says when it expires" ||
    { not_ok "unpin: an admin unpins; the reply says when it expires"; sed 's/^/# /' "$T/unpin.out"; }
grep -qx "$R1" "$T/m/meta/pins" && not_ok "unpin: removed from <meta>/pins" || ok "unpin: removed from <meta>/pins"
cai pin no-such-task >/dev/null 2>"$T/nt.err"; want_eq "pin of an unknown task: exit 1" "$?" 1

# ---- get -path: one file
cai get "$R1" "$T/g1" -path models/m.bin >"$T/g1.out" 2>"$T/g1.err" ||
    { diag "get -path file failed:"; sed 's/^/# /' "$T/g1.out" "$T/g1.err"; }
want_eq "get -path FILE: sha256 equals the stored file" \
    "$(sha_of "$T/g1/models/m.bin" 2>/dev/null)" "$(sha_of "$D1/models/m.bin")"
want_eq "get -path FILE: only that file" "$(find "$T/g1" -type f | wc -l)" 1
grep -q "^Downloaded 1 file (2.9 MiB) of task $R1, models/m.bin, into $T/g1\$" "$T/g1.out" &&
    ok "get -path FILE: summary line" || { not_ok "get -path FILE: summary line"; sed 's/^/# /' "$T/g1.out"; }
want_eq "get without a terminal: nothing on stderr" "$(cat "$T/g1.err")" ""

# ---- get -o DEST (as curl and tar spell it) is the DEST argument
cai get "$R1" -o "$T/go1" -path models/m.bin >"$T/go1.out" 2>&1 ||
    { diag "get -o failed:"; sed 's/^/# /' "$T/go1.out"; }
want_eq "get -o DEST: the file lands in DEST" \
    "$(sha_of "$T/go1/models/m.bin" 2>/dev/null)" "$(sha_of "$D1/models/m.bin")"
cai get "$R1" "$T/go2" -o "$T/go3" >"$T/go2.out" 2>&1; want_eq "get DEST -o DEST: usage error (exit 2)" "$?" 2
[ ! -e "$T/go2" ] && [ ! -e "$T/go3" ] && grep -q "give DEST or -o DEST, not both" "$T/go2.out" &&
    ok "get DEST -o DEST: says why, creates nothing" ||
    { not_ok "get DEST -o DEST: says why, creates nothing"; sed 's/^/# /' "$T/go2.out"; }

# ---- get -path: a sub-directory
cai get "$R1" "$T/g2" -path models >"$T/g2.out" 2>&1 ||
    { diag "get -path dir failed:"; sed 's/^/# /' "$T/g2.out"; }
ok2=1
for f in models/m.bin models/deep/d.txt; do
    [ "$(sha_of "$T/g2/$f" 2>/dev/null)" = "$(sha_of "$D1/$f")" ] || { ok2=0; diag "$f differs"; }
done
[ $ok2 = 1 ] && ok "get -path DIR: structure kept, sha256 equal to the stored files" ||
    not_ok "get -path DIR: structure kept, sha256 equal to the stored files"
want_eq "get -path DIR: only that sub-tree" "$(cd "$T/g2" && find . -type f | sort | tr '\n' ' ')" \
    "./models/deep/d.txt ./models/m.bin "
cai get "$R1" "$T/g3" -path models/deep/ >/dev/null 2>&1
want_eq "get -path DIR/ (trailing slash)" "$(cat "$T/g3/models/deep/d.txt" 2>/dev/null)" deep

# ---- get -path: refused and missing
cai get "$R1" "$T/g4" -path ../etc >/dev/null 2>"$T/g4.err"
want_eq "get -path ..: usage error (exit 2)" "$?" 2
cai get "$R1" "$T/g5" -path /etc/passwd >/dev/null 2>&1
want_eq "get -path /abs: usage error (exit 2)" "$?" 2
cai get "$R1" "$T/g6" -path models/nope >/dev/null 2>"$T/g6.err"
want_eq "get -path missing: exit 1" "$?" 1
grep -q "no file or directory 'models/nope'" "$T/g6.err" && ok "get -path missing: clear error" ||
    { not_ok "get -path missing: clear error"; sed 's/^/# /' "$T/g6.err"; }
check "get -path missing: DEST not created" test ! -e "$T/g6"
ln -s /etc "$D1/evil"
cai get "$R1" "$T/g7" -path evil/passwd >/dev/null 2>"$T/g7.err"
want_eq "get -path through a symlink: refused" "$?" 1
check "get -path through a symlink: nothing written" test ! -e "$T/g7"
rm -f "$D1/evil"

# ---- progress line (forced, as a terminal would get it)
CLOUDAI_PROGRESS=1 cai get "$R1" "$T/g8" >"$T/g8.out" 2>"$T/g8.err"
tr '\r' '\n' <"$T/g8.err" | grep -Eq '^[0-9.]+ [KMG]?i?B / [0-9.]+ [KMG]?i?B +[0-9]+%  [0-9.]+ [KMG]?i?B/s  ETA ' &&
    ok "progress: bytes, percent, rate and ETA on stderr" ||
    { not_ok "progress: bytes, percent, rate and ETA on stderr"; od -c "$T/g8.err" | head -n 5 | sed 's/^/# /'; }
grep -q '^Downloaded 4 files' "$T/g8.out" && ! grep -q 'ETA' "$T/g8.out" &&
    ok "progress: stdout stays clean" || { not_ok "progress: stdout stays clean"; sed 's/^/# /' "$T/g8.out"; }

# ---- files -latest
cai files -latest run --json >"$T/latest.json" 2>&1
want_eq "files -latest: the newest run's files only" \
    "$(jget task_id <"$T/latest.json")|$(grep -c '"file_name"' "$T/latest.json")|$(grep -c "$R1" "$T/latest.json")" "$R2|1|0"
cai files -latest run >"$T/latest.txt" 2>&1
awk 'NR == 2 { print $1, $3 }' "$T/latest.txt" | grep -qx "$R2 v.txt" && ok "files -latest: table" ||
    { not_ok "files -latest: table"; sed 's/^/# /' "$T/latest.txt"; }
as bob bob-tok files -latest run >/dev/null 2>"$T/bl.err"
want_eq "files -latest: another user's runs are not seen (exit 1)" "$?" 1
grep -q "no finished run named 'run'" "$T/bl.err" && ok "files -latest: clear error" ||
    { not_ok "files -latest: clear error"; sed 's/^/# /' "$T/bl.err"; }
cai files -latest 'r*' >/dev/null 2>&1
want_eq "files -latest GLOB: usage error" "$?" 2

# ---- get -latest NAME (and -name): the newest finished run, said on stderr
cai get -latest run "$T/gl" >"$T/gl.out" 2>"$T/gl.err"
want_eq "get -latest: the newest run's file" "$(cat "$T/gl/v.txt" 2>/dev/null)" v2
grep -q "$R2 is the newest finished run named 'run'" "$T/gl.err" && ok "get -latest: says which run" ||
    { not_ok "get -latest: says which run"; sed 's/^/# /' "$T/gl.err"; }
cai get -name run "$T/gn" -path v.txt >/dev/null 2>&1
want_eq "get -name: the same, with -path" "$(cat "$T/gn/v.txt" 2>/dev/null)" v2
as bob bob-tok get -latest run "$T/gb" >/dev/null 2>"$T/gb.err"
want_eq "get -latest: another user's runs are not seen (exit 1)" "$?" 1
check "get -latest: nothing created on failure" [ ! -e "$T/gb" ]
cai get -latest run "$R1" "$T/gx" >/dev/null 2>&1
want_eq "get -latest with a TASK_ID too: usage error" "$?" 2
finish
