#!/bin/sh
# test_hostile.sh — hostile input against a live master, through the test
# client tests/tools/evil: broken frames (truncated, 4 GiB length, unknown
# type, random bytes, a lying field length), frames out of order (FILE_CHUNK
# before HELLO, a chunk of someone else's task) and hostile archives ("..",
# absolute path, symlink then a file through it, hard link to /etc/passwd,
# device node, FIFO, deflate bombs, 100,000 files over a 1,000-file limit, a
# 4 KiB path). A stream that fails integrity or limits gets a clear
# refusal; an unsafe entry in a sound stream is skipped and named in the
# task's notes while the rest is stored (issue 10, item 2). Either way
# nothing appears outside the store, no staging is left, the task shows
# why, and the master keeps serving.
. tests/integration/lib.sh
EVIL=$CLOUDAI_BIN/tests/tools/evil
[ -x "$EVIL" ] || { not_ok "evil test client built ($EVIL)"; exit 1; }

cat >"$T/cfg.ini" <<EOF
[master]
heartbeat_interval_s = 1
heartbeat_timeout_s = 60
[auth]
cluster_token = hostile-cluster-secret
user.alice = alice-secret
admins = alice
[limits]
max_output_files = 1000
EOF
start_master m -config "$T/cfg.ini" || { not_ok "master starts"; exit 1; }
export CLOUDAI_USER=alice CLOUDAI_TOKEN=alice-secret
export EVIL_TOKEN=hostile-cluster-secret EVIL_USER=alice EVIL_USER_TOKEN=alice-secret
FILES=$T/m/files
OUT=$T/outside                 # what escapes aim at: must stay empty
mkdir -p "$OUT"
evil() { ASAN_OPTIONS=$DAEMON_ASAN "$EVIL" "$MADDR" "$@" 2>>"$T/evil.err"; }

serving() { # the master still answers a normal client
    timeout 20 "$CLOUDAI_BIN/cloudai" -master "$MADDR" workers >/dev/null 2>&1
}
alive() { kill -0 "$MPID" 2>/dev/null && serving; }

# expect DESC PATTERN OUTPUT — OUTPUT's first verdict line matches PATTERN
# (grep -E) and the master is alive and serving afterwards.
expect() {
    if printf '%s\n' "$3" | grep -Eq "$2" && alive; then ok "$1"
    else not_ok "$1"; diag "evil said: $3" "wanted: /$2/"; alive || diag "master is not serving"; fi
}

# ---- frames
expect "truncated frame: closed, master serving" '^(CLOSED|ERROR 1 )' "$(evil truncated)"
expect "4 GiB length: ERROR TOO_BIG, closed" '^ERROR 3 TOO_BIG' "$(evil huge)"
o=$(evil huge); printf '%s\n' "$o" | grep -q 'then CLOSED' && ok "4 GiB length: connection closed" ||
    { not_ok "4 GiB length: connection closed"; diag "$o"; }
expect "unknown type: ERROR UNKNOWN_TYPE" '^ERROR 2 UNKNOWN_TYPE' "$(evil unknown)"
expect "random bytes: an error frame or a close" '^(ERROR (1|2|3) |CLOSED)' "$(evil random)"
expect "field length beyond the payload: ERROR BAD_FRAME" '^ERROR 1 BAD_FRAME' "$(evil badpayload)"
expect "FILE_CHUNK before HELLO: ERROR STATE" '^ERROR 13 STATE' "$(evil chunk-before-hello)"
grep -q 'before HELLO' "$T/m.log" && ok "master logs the out-of-order frame" ||
    not_ok "master logs the out-of-order frame"

# ---- archives: a control first, so a refusal below means the archive.
o=$(EVIL_WORKER=evil-ok evil archive ok)
OKID=$(printf '%s\n' "$o" | sed -n 's/^task //p')
expect "benign archive through evil is stored (control)" '^FILE_ACK ok=1' "$(printf '%s\n' "$o" | tail -n 1)"
[ -n "$OKID" ] && [ -n "$(find "$FILES/alice" -path "*/$OKID/hello.txt" 2>/dev/null)" ] &&
    ok "control: hello.txt is in the store" || not_ok "control: hello.txt is in the store"

# A version-1 worker (CRC32 chunks, the stream's SHA256) is still served.
o=$(EVIL_VERSION=1 EVIL_WORKER=evil-v1 evil archive ok)
V1ID=$(printf '%s\n' "$o" | sed -n 's/^task //p')
expect "protocol version 1 upload is stored" '^FILE_ACK ok=1' "$(printf '%s\n' "$o" | tail -n 1)"
[ -n "$V1ID" ] && [ -n "$(find "$FILES/alice" -path "*/$V1ID/hello.txt" 2>/dev/null)" ] &&
    ok "version 1: hello.txt is in the store" || not_ok "version 1: hello.txt is in the store"

# A version-2 worker (CRC32C chunks, FILES_SHA256) is still served.
o=$(EVIL_VERSION=2 EVIL_WORKER=evil-v2 evil archive ok)
V2ID=$(printf '%s\n' "$o" | sed -n 's/^task //p')
expect "protocol version 2 upload is stored" '^FILE_ACK ok=1' "$(printf '%s\n' "$o" | tail -n 1)"
[ -n "$V2ID" ] && [ -n "$(find "$FILES/alice" -path "*/$V2ID/hello.txt" 2>/dev/null)" ] &&
    ok "version 2: hello.txt is in the store" || not_ok "version 2: hello.txt is in the store"

# Content that is not what the worker read (FILES_CRC32C, version 3, or
# FILES_SHA256, version 2, one bit off) is refused and retryable (no
# ARCHIVE code), and not stored.
o=$(EVIL_WORKER=evil-digest evil archive bad-digest)
BDID=$(printf '%s\n' "$o" | sed -n 's/^task //p')
expect "FILES_CRC32C mismatch: refused, retryable" '^FILE_ACK ok=0 output files CRC32C mismatch' "$(printf '%s\n' "$o" | tail -n 1)"
[ -n "$BDID" ] && [ -z "$(find "$FILES/alice" -path "*/$BDID/*" 2>/dev/null)" ] &&
    ok "FILES_CRC32C mismatch: nothing stored" || not_ok "FILES_CRC32C mismatch: nothing stored"
o=$(EVIL_VERSION=2 EVIL_WORKER=evil-digest2 evil archive bad-digest)
BDID=$(printf '%s\n' "$o" | sed -n 's/^task //p')
expect "FILES_SHA256 mismatch: refused, retryable" '^FILE_ACK ok=0 output files SHA-256 mismatch' "$(printf '%s\n' "$o" | tail -n 1)"
[ -n "$BDID" ] && [ -z "$(find "$FILES/alice" -path "*/$BDID/*" 2>/dev/null)" ] &&
    ok "FILES_SHA256 mismatch: nothing stored" || not_ok "FILES_SHA256 mismatch: nothing stored"

# A byte damaged on the way inside a big file (the master checks such a
# chunk after the extractor saw it, from the file's own CRC32C) is a
# retryable failure, not a refused archive, and nothing is stored.
o=$(EVIL_WORKER=evil-crc evil archive bad-chunk)
BCID=$(printf '%s\n' "$o" | sed -n 's/^task //p')
expect "a damaged chunk: refused, retryable" '^FILE_ACK ok=0 chunk 2: CRC32C mismatch' "$(printf '%s\n' "$o" | tail -n 1)"
[ -n "$BCID" ] && [ -z "$(find "$FILES/alice" -path "*/$BCID/*" 2>/dev/null)" ] &&
    ok "a damaged chunk: nothing stored" || not_ok "a damaged chunk: nothing stored"

# An interrupted upload resumes at the last whole chunk (3 MiB) and completes.
o=$(EVIL_WORKER=evil-resume evil archive resume)
RID=$(printf '%s\n' "$o" | sed -n 's/^task //p')
want_eq "dropped upload resumes at the last whole chunk" "$(printf '%s\n' "$o" | sed -n 's/^resumed at //p')" 3145728
expect "resumed upload is stored" '^FILE_ACK ok=1' "$(printf '%s\n' "$o" | tail -n 1)"
[ -n "$RID" ] && [ "$(tfield "$RID" status)" = completed ] && [ "$(tfield "$RID" output_bytes)" = 5242880 ] &&
    ok "resumed upload: task completed with all 5 MiB" || { not_ok "resumed upload: task completed with all 5 MiB"; diag "$(task_json "$RID")"; }
grep -q "task $RID: upload resumes at byte 3145728" "$T/m.log" && ok "master logs the resume" ||
    not_ok "master logs the resume"
# A second upload of a completed task changes nothing.
before=$(find "$FILES/alice" -path "*/$OKID/*" -type f -exec stat -c '%n %s %Y' {} + | sort)
expect "repeated upload of a completed task: acknowledged as already stored" '^FILE_ACK ok=1 already stored' \
    "$(EVIL_WORKER=evil-ok evil resume-other "$OKID")"
after=$(find "$FILES/alice" -path "*/$OKID/*" -type f -exec stat -c '%n %s %Y' {} + | sort)
want_eq "repeated upload of a completed task: the store is unchanged" "$after" "$before"

staging_empty() { [ -z "$(ls -A "$FILES/.staging" 2>/dev/null)" ]; }

# hostile KIND PATTERN DESC — one hostile upload, judged on every count.
hostile() {
    _k=$1 _pat=$2 _desc=$3
    _o=$(EVIL_WORKER=evil-$_k evil archive "$_k" "$OUT")
    _id=$(printf '%s\n' "$_o" | sed -n 's/^task //p')
    _v=$(printf '%s\n' "$_o" | grep -v '^task ' | head -n 1)
    expect "$_desc: refused ($_pat)" "$_pat" "$_v"
    _bad=""
    [ -z "$(ls -A "$OUT")" ] || _bad="$_bad; files appeared in $OUT: $(ls -A "$OUT")"
    staging_empty || _bad="$_bad; staging left: $(ls -A "$FILES/.staging")"
    [ -n "$_id" ] && [ -z "$(find "$FILES/alice" -path "*/$_id" 2>/dev/null)" ] ||
        _bad="$_bad; a task directory was published for $_id"
    [ "$(stat -c %h /etc/passwd)" = "$PASSWD_LINKS" ] || _bad="$_bad; /etc/passwd gained a link"
    if [ -z "$_bad" ]; then ok "$_desc: nothing written outside the store, no staging left"
    else not_ok "$_desc: nothing written outside the store, no staging left"; diag "$_bad"; fi
    _e=$(tfield "$_id" error)
    case $_e in *"upload failed"*) ok "$_desc: the task shows the upload error" ;;
        *) not_ok "$_desc: the task shows the upload error"; diag "task: $(task_json "$_id")" ;; esac
    # A refused archive would be refused again: the task fails for good,
    # while a corrupt stream (CRC, lying RAW_LEN...) stays retryable.
    _st=$(tfield "$_id" status)
    case $_pat in
    *"archive refused"*|*limit*) [ "$_st" = failed ] && ok "$_desc: the task failed for good" ||
        { not_ok "$_desc: the task failed for good"; diag "status $_st"; } ;;
    *) [ "$_st" = uploading ] && ok "$_desc: the task waits for a retry" ||
        { not_ok "$_desc: the task waits for a retry"; diag "status $_st"; } ;;
    esac
    rm -rf "${OUT:?}"/* 2>/dev/null
    LAST_ID=$_id
}
# skipped KIND NOTE DESC [STORED] — an unsafe entry in a sound stream: the
# upload is acknowledged, the task completes (its exit code is 0), its
# notes match NOTE (grep -E), nothing escapes, STORED (a file name) is in
# the store.
skipped() {
    _k=$1 _pat=$2 _desc=$3 _keep=${4:-}
    _o=$(EVIL_WORKER=evil-$_k evil archive "$_k" "$OUT")
    _id=$(printf '%s\n' "$_o" | sed -n 's/^task //p')
    _v=$(printf '%s\n' "$_o" | grep -v '^task ' | head -n 1)
    expect "$_desc: entry skipped, upload acknowledged" '^FILE_ACK ok=1' "$_v"
    _bad=""
    [ -z "$(ls -A "$OUT")" ] || _bad="$_bad; files appeared in $OUT: $(ls -A "$OUT")"
    staging_empty || _bad="$_bad; staging left: $(ls -A "$FILES/.staging")"
    [ "$(stat -c %h /etc/passwd)" = "$PASSWD_LINKS" ] || _bad="$_bad; /etc/passwd gained a link"
    if [ -n "$_keep" ] && [ -z "$(find "$FILES/alice" -path "*/$_id/$_keep" 2>/dev/null)" ]; then
        _bad="$_bad; $_keep is not in the store"; fi
    if [ -z "$_bad" ]; then ok "$_desc: nothing written outside the store, the rest stored"
    else not_ok "$_desc: nothing written outside the store, the rest stored"; diag "$_bad"; fi
    _st=$(tfield "$_id" status) _n=$(tfield "$_id" notes)
    [ "$_st" = completed ] && ok "$_desc: the task completed (exit code 0)" ||
        { not_ok "$_desc: the task completed (exit code 0)"; diag "$(task_json "$_id")"; }
    printf '%s\n' "$_n" | grep -Eq "$_pat" && ok "$_desc: the notes name the entry" ||
        { not_ok "$_desc: the notes name the entry"; diag "notes: $_n" "wanted: /$_pat/"; }
    rm -rf "${OUT:?}"/* 2>/dev/null
    LAST_ID=$_id
}
PASSWD_LINKS=$(stat -c %h /etc/passwd)
skipped dotdot   "pwned-dotdot': path leaves the target" "../ escape" inside.txt
DOTDOT_ID=$LAST_ID
skipped abs      "pwned-abs': absolute path" "absolute path"
# The link is left out, so the file "through" it lands in a plain
# directory 'ln' inside the run, where it harms nothing.
skipped symlink  "^'ln': symlink to '$OUT': target must be relative" "symlink outside, then a file through it"
skipped symlink-rel "^'ln': symlink to '[./]*' leaves the target" "relative symlink up, then a file through it"
skipped hardlink "'passwd': hard link to '/etc/passwd'" "hard link to /etc/passwd"
skipped device   "'null': character device" "character device node"
skipped fifo     "'pipe': FIFO" "FIFO"
cai tasks -task "$LAST_ID" 2>/dev/null | grep -q "not stored: 'pipe': FIFO" &&
    ok "cloudai tasks shows the notes" || { not_ok "cloudai tasks shows the notes"; diag "$(cai tasks -task "$LAST_ID" 2>&1)"; }
hostile longpath '^FILE_ACK ok=0 .*archive refused' "4 KiB path"
hostile files    '^FILE_ACK ok=0 .*(limit|1000)' "100,000 files over max_output_files = 1000"
hostile bomb-lie '^FILE_ACK ok=0 ' "chunk whose RAW_LEN lies (1 MiB of zeros called 1000 bytes)"
hostile bomb-big '^FILE_ACK ok=0 ' "chunk that inflates past 1 MiB (64 MiB of zeros)"
hostile bomb-range '^ERROR 1 BAD_FRAME' "RAW_LEN above CHUNK_MAX"
hostile other-task '^FILE_ACK ok=0 ' "chunks labelled with someone else's task id"

# ---- a worker asking to upload a task that belongs to another worker
if [ -n "$DOTDOT_ID" ]; then
    expect "UPLOAD_RESUME for another worker's task: ERROR FORBIDDEN" '^ERROR 7 FORBIDDEN' \
        "$(EVIL_WORKER=evil-thief evil resume-other "$DOTDOT_ID")"
else
    not_ok "UPLOAD_RESUME for another worker's task: no task to steal"
fi
grep -q 'refused' "$T/m.log" && ok "master logs refused uploads" || not_ok "master logs refused uploads"
kill -0 "$MPID" 2>/dev/null && ok "master survived everything" || not_ok "master survived everything"
# No daemon may have hit a sanitizer report on the way.
if grep -l -E 'AddressSanitizer|runtime error:' "$T"/*.log >/dev/null 2>&1; then
    not_ok "no sanitizer reports in the daemon logs"; grep -h -A5 -E 'AddressSanitizer|runtime error:' "$T"/*.log | head -20 | sed 's/^/# /'
else ok "no sanitizer reports in the daemon logs"; fi
exit 0
