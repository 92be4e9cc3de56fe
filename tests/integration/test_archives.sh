#!/bin/sh
# test_archives.sh — archives real tar implementations write, pushed through
# the real upload path (tests/tools/evil "archive file") on both metadata
# backends (the journal; MongoDB/FerretDB when CLOUDAI_TEST_MONGO_URI is
# set): GNU tar's four sparse formats are stored as the files GNU tar
# extracts (real names, same bytes, indexed with their sha256); names that
# are not UTF-8 (x\x80, x\x81) are stored and indexed under distinct
# encoded names and downloaded back, a name that meets another's encoding
# is skipped and named in the task's notes; archives bsdtar, Python's
# tarfile, busybox and GNU tar --format=posix write of one tree (pax times
# before 1970, after 2242, with a fraction; links; long and deep names) are
# stored as GNU tar extracts them; an archive without end blocks, a
# 1 KiB archive holding a file, and an appended duplicate (the later file
# wins) are stored; an archive cut inside a file, and one over
# max_output_bytes, fail the task for good (no endless retries).
. tests/integration/lib.sh
EVIL=$CLOUDAI_BIN/tests/tools/evil
[ -x "$EVIL" ] || { not_ok "evil test client built ($EVIL)"; exit 1; }
if ! tar --version 2>/dev/null | grep -q 'GNU tar'; then
    skip "archives: GNU tar not installed"; finish
fi

# ---- the archives, made once
S=$T/src
mkdir -p "$S/sp/d" "$S/nu" "$S/dup"
printf head >"$S/sp/hole_mid"
printf tail | dd of="$S/sp/hole_mid" bs=1 seek=1048579 conv=notrunc 2>/dev/null
printf start >"$S/sp/hole_end" && truncate -s 2097152 "$S/sp/hole_end"
truncate -s 300000 "$S/sp/all_hole"
printf 'data at the end' | dd of="$S/sp/d/hole_start" bs=1 seek=200000 2>/dev/null
k=0
while [ $k -lt 30 ]; do   # 30 extents: old-GNU extension blocks
    printf "x$k" | dd of="$S/sp/many" bs=1 seek=$((k * 65536)) conv=notrunc 2>/dev/null
    k=$((k + 1))
done
echo plain >"$S/sp/plain.txt"
for v in gnu 0.0 0.1 1.0; do
    case $v in gnu) f="--format=gnu" ;; *) f="--format=posix --sparse-version=$v" ;; esac
    # shellcheck disable=SC2086
    tar -C "$S/sp" --sparse $f -cf "$S/sparse-$v.tar" . || not_ok "tar --sparse $f"
done
printf a >"$S/nu/$(printf 'x\200')"
printf b >"$S/nu/$(printf 'x\201')"
mkdir "$S/nu/$(printf 'dir\377')" && printf c >"$S/nu/$(printf 'dir\377')/f"
printf L >"$S/nu/$(printf 'x\357\236\200')"   # U+F780 literally: meets x\x80's encoding
echo first >"$S/nu/dup.txt"
tar -C "$S/nu" --sort=name --format=gnu -b 1 -cf "$S/nu.tar" .
echo second, longer >"$S/nu/dup.txt"
tar -C "$S/nu" -b 1 -rf "$S/nu.tar" ./dup.txt          # appended: the later wins
# No end blocks at all (GNU tar and Go read such archives).
n=$(stat -c %s "$S/nu.tar")
head -c $((n - 1024)) "$S/nu.tar" >"$S/noend.tar"
# One 512-byte file without end blocks: exactly 1 KiB.
printf '%512s' '' | tr ' ' z >"$S/dup/z512"
tar -C "$S/dup" --format=ustar -b 1 -cf - z512 | head -c 1024 >"$S/small.tar"
# Cut inside a file's data: refused for good.
tar -C "$S/dup" --format=ustar -cf - z512 | head -c 700 >"$S/cut.tar"
# 12 MiB, over max_output_bytes = 8 MiB before the first chunk.
mkdir "$S/big" && truncate -s 12M "$S/big/zeros" && tar -C "$S/big" -cf "$S/big.tar" zeros
want_eq "the 1 KiB archive is 1 KiB" "$(stat -c %s "$S/small.tar")" 1024
# A tree other tar programs write as they do: times before 1970, after
# 2242 and with a fraction (pax mtime records), hard and symbolic links,
# names over 100 bytes, a deep path, UTF-8 names, a 0555 directory.
O=$T/other && mkdir -p "$O/d/sub" "$O/ro"
L100=$(printf 'n%.0s' $(seq 1 150))
DEEP=$(printf 'level%02dxxxxxxxxxxxxxxxxxxxxxxxx/' $(seq 1 9))
mkdir -p "$O/$DEEP"
echo deep >"$O/${DEEP}f.txt"; echo hello >"$O/a.txt"; echo uni >"$O/ünï 文件.txt"
printf x >"$O/$L100"; head -c 300000 /dev/urandom >"$O/d/rand.bin"
ln "$O/a.txt" "$O/d/hard.txt"; ln -s ../a.txt "$O/d/sym"; echo r >"$O/ro/f"
touch -d '1960-01-01 00:00:00' "$O/old.txt"; touch -d '2300-01-01 00:00:00' "$O/future.txt"
touch -d '2020-01-01 00:00:00.123456789' "$O/frac.txt"; chmod 555 "$O/ro"; chmod 750 "$O/d/rand.bin"
OTHERS="gnu-posix"
tar --format=posix -C "$O" -cf "$S/gnu-posix.tar" .
if command -v bsdtar >/dev/null 2>&1; then
    bsdtar -C "$O" -cf "$S/bsdtar.tar" . && OTHERS="$OTHERS bsdtar"
    bsdtar --format pax -C "$O" -cf "$S/bsdtar-pax.tar" . && OTHERS="$OTHERS bsdtar-pax"
else skip "archives: bsdtar not installed (libarchive-tools)"; fi
if command -v python3 >/dev/null 2>&1; then
    for f in PAX GNU; do
        python3 -c "import sys, tarfile
with tarfile.open(sys.argv[1], 'w', format=getattr(tarfile, sys.argv[2] + '_FORMAT')) as t: t.add(sys.argv[3], arcname='.')" \
            "$S/python-$f.tar" "$f" "$O" && OTHERS="$OTHERS python-$f"
    done
else skip "archives: python3 not installed"; fi
(cd "$O" && busybox tar -cf "$S/busybox.tar" .) 2>/dev/null && OTHERS="$OTHERS busybox" ||
    skip "archives: busybox tar not available"
# meta DIR — each regular file's name, permission bits and mtime to the ns.
meta() { (cd "$1" && find . -type f -printf '%P %m %T@\n' | LC_ALL=C sort); }

# push NAME FILE — uploads FILE as the output of a new task; sets ID, VERDICT.
push() {
    _o=$(EVIL_WORKER="w-$1-$BK" ASAN_OPTIONS=$DAEMON_ASAN "$EVIL" "$MADDR" archive file "$2" \
        2>>"$T/evil.err")
    ID=$(printf '%s\n' "$_o" | sed -n 's/^task //p')
    VERDICT=$(printf '%s\n' "$_o" | grep -v '^task ' | head -n 1)
}

# tf ID FIELD — tfield, asked again (up to 5 s) while the answer is empty
# (a listing may come back degraded while FerretDB is slow under load).
tf() {
    _i=0
    while [ $_i -lt 10 ]; do
        _v=$(tfield "$1" "$2")
        [ -n "$_v" ] && { printf '%s\n' "$_v"; return; }
        sleep 0.5; _i=$((_i + 1))
    done
}

# stored ID — the task's directory in the store.
stored() { find "$T/$BK/files/alice" -type d -name "$1" 2>/dev/null | head -n 1; }

# index_ok LABEL ID DIR — every regular file under DIR has one index record
# under its relative name with its sha256, and there are no others.
index_ok() {
    cai files -task "$2" --json >"$T/idx.json" 2>&1
    _bad=""
    _n=0
    (cd "$3" && find . -type f | sed 's|^\./||') >"$T/idx.files"
    while IFS= read -r _f; do
        _n=$((_n + 1))
        _sha=$(sha_of "$3/$_f")
        grep -F "\"file_name\":\"$_f\"" "$T/idx.json" | grep -q "\"sha256\":\"$_sha\"" ||
            _bad="$_bad [$_f]"
    done <"$T/idx.files"
    _recs=$(grep -c '"file_name"' "$T/idx.json")
    if [ -z "$_bad" ] && [ "$_recs" = "$_n" ]; then ok "$1: $_n files indexed with their sha256"
    else not_ok "$1: $_n files indexed with their sha256"; diag "missing/wrong:$_bad" "records: $_recs"; sed 's/^/# /' "$T/idx.json" | head -n 20; fi
}

run_backend() {
    BK=$1
    cat >"$T/$BK.ini" <<EOC
[auth]
cluster_token = archives-secret
user.alice = alice-secret
[limits]
max_output_bytes = 8MiB
EOC
    if [ "$BK" = mongo ]; then
        cat >>"$T/$BK.ini" <<EOC
[mongodb]
uri = "$CLOUDAI_TEST_MONGO_URI"
database = cloudai_archives_$$_$(date +%s)
server_selection_timeout_ms = 5000
EOC
    fi
    start_master "$BK" -config "$T/$BK.ini" || { not_ok "$BK: master starts"; return; }
    export CLOUDAI_USER=alice CLOUDAI_TOKEN=alice-secret
    export EVIL_TOKEN=archives-secret EVIL_USER=alice EVIL_USER_TOKEN=alice-secret

    rm -rf "$T/ref" && mkdir "$T/ref" && tar -C "$T/ref" -xf "$S/sparse-gnu.tar"
    for v in gnu 0.0 0.1 1.0; do
        push "sp${v%%.*}${v#*.}" "$S/sparse-$v.tar"
        _l="$BK: sparse $v"
        expect_ok=$(printf '%s' "$VERDICT" | grep -c '^FILE_ACK ok=1')
        _d=$(stored "$ID")
        if [ "$expect_ok" = 1 ] && [ -n "$_d" ] && diff -r "$T/ref" "$_d" >/dev/null 2>&1; then
            ok "$_l: stored as GNU tar extracts it"
        else
            not_ok "$_l: stored as GNU tar extracts it"; diag "verdict: $VERDICT" "dir: $_d"
            [ -n "$_d" ] && diff -r "$T/ref" "$_d" 2>&1 | head -n 5 | sed 's/^/# /'
        fi
        [ -n "$_d" ] && index_ok "$_l" "$ID" "$_d"
        [ -n "$_d" ] && [ "$(stat -c %b "$_d/hole_end")" -lt 2048 ] && ok "$_l: holes stay holes" ||
            not_ok "$_l: holes stay holes"
    done

    for a in $OTHERS; do
        push "o-$a" "$S/$a.tar"
        _d=$(stored "$ID")
        rm -rf "$T/ref" && mkdir "$T/ref" && tar -C "$T/ref" -xf "$S/$a.tar"
        if printf '%s' "$VERDICT" | grep -q '^FILE_ACK ok=1' && [ -n "$_d" ] &&
            diff -r --no-dereference "$T/ref" "$_d" >/dev/null 2>&1 &&
            [ "$(meta "$T/ref")" = "$(meta "$_d")" ]; then
            ok "$BK: $a's archive stored as GNU tar extracts it (bytes, links, modes, mtimes to the ns)"
        else
            not_ok "$BK: $a's archive stored as GNU tar extracts it (bytes, links, modes, mtimes to the ns)"
            diag "verdict: $VERDICT" "dir: $_d"
            [ -n "$_d" ] && { diff -r --no-dereference "$T/ref" "$_d" 2>&1; meta "$T/ref" | diff - "$(meta "$_d" >"$T/m.ours"; echo "$T/m.ours")"; } | head -n 8 | sed 's/^/# /'
        fi
        [ -n "$_d" ] && index_ok "$BK: $a" "$ID" "$_d"
    done

    push nu "$S/noend.tar"
    _d=$(stored "$ID")
    want_eq "$BK: archive without end blocks stored" "$(printf '%s' "$VERDICT" | cut -c1-13)" "FILE_ACK ok=1"
    e80=$(printf 'x\357\236\200') e81=$(printf 'x\357\236\201') eff=$(printf 'dir\357\237\277')
    if [ -n "$_d" ] && [ "$(cat "$_d/$e80")" = a ] && [ "$(cat "$_d/$e81")" = b ] &&
        [ "$(cat "$_d/$eff/f")" = c ]; then ok "$BK: x\\x80, x\\x81 stored under distinct encoded names"
    else not_ok "$BK: x\\x80, x\\x81 stored under distinct encoded names"; ls -la "$_d" 2>&1 | sed 's/^/# /'; fi
    want_eq "$BK: the appended duplicate wins" "$(cat "$_d/dup.txt" 2>/dev/null)" "second, longer"
    case $(tf "$ID" notes) in *"another name in the archive is stored under this one"*)
        ok "$BK: the name colliding after encoding is skipped and named in the notes" ;;
        *) not_ok "$BK: the name colliding after encoding is skipped and named in the notes"
           diag "task: $(task_json "$ID")" ;; esac
    want_eq "$BK: ... and the task completed" "$(tf "$ID" status)" completed
    [ -n "$_d" ] && index_ok "$BK: non-UTF-8 names" "$ID" "$_d"
    want_eq "$BK: output_files counts the duplicate once" "$(tf "$ID" output_files)" 4
    rm -rf "$T/dl"
    if cai get "$ID" "$T/dl" >"$T/get.out" 2>&1 && [ "$(cat "$T/dl/$e80")" = a ] &&
        [ "$(cat "$T/dl/$e81")" = b ]; then ok "$BK: both files download"
    else not_ok "$BK: both files download"; sed 's/^/# /' "$T/get.out"; fi
    rm -rf "$T/one"
    if cai get "$ID" "$T/one" -path "$e81" >"$T/get.out" 2>&1 && [ "$(cat "$T/one/$e81")" = b ] &&
        [ ! -e "$T/one/$e80" ]; then ok "$BK: x\\x81's encoded name downloads that file alone"
    else not_ok "$BK: x\\x81's encoded name downloads that file alone"; sed 's/^/# /' "$T/get.out"; ls -la "$T/one" 2>&1 | sed 's/^/# /'; fi

    push small "$S/small.tar"
    _d=$(stored "$ID")
    if printf '%s' "$VERDICT" | grep -q '^FILE_ACK ok=1' && [ "$(cat "$_d/z512" 2>/dev/null | wc -c)" = 512 ]; then
        ok "$BK: a 1 KiB archive holding a file is stored"
    else not_ok "$BK: a 1 KiB archive holding a file is stored"; diag "verdict: $VERDICT"; fi

    push cut "$S/cut.tar"
    case $VERDICT in "FILE_ACK ok=0 CODE=ARCHIVE "*"archive refused"*) ok "$BK: an archive cut inside a file is refused (CODE=ARCHIVE)" ;;
        *) not_ok "$BK: an archive cut inside a file is refused (CODE=ARCHIVE)"; diag "verdict: $VERDICT" ;; esac
    want_eq "$BK: ... for good (no retry)" "$(tf "$ID" status)" failed

    push big "$S/big.tar"
    case $VERDICT in "FILE_ACK ok=0 CODE=ARCHIVE "*"exceeds the limit"*) ok "$BK: an output over max_output_bytes is refused (CODE=ARCHIVE)" ;;
        *) not_ok "$BK: an output over max_output_bytes is refused"; diag "verdict: $VERDICT" ;; esac
    want_eq "$BK: ... for good (no retry)" "$(tf "$ID" status)" failed
    stop_pid "$MPID"
}

run_backend journal
if [ -n "$CLOUDAI_TEST_MONGO_URI" ]; then run_backend mongo
else skip "archives on MongoDB: CLOUDAI_TEST_MONGO_URI not set"; fi
finish
