#!/bin/sh
# test_output_edges.sh — outputs real tasks leave behind that are not plain
# files (issue 10, items 1 and 2), with real daemons on the process runtime
# (and Docker when it is here):
# - a 10,000-level directory tree (plus shallow files): the task completes,
#   the shallow files are stored, the part past the 4095-byte path limit is
#   named in the notes, and `cloudai get` and GET /api/tasks/{id}/archive
#   (tar.gz and zip) work, twice each, with the master alive after;
# - symlinks: `ln -s $OUTPUT_DIR/ckpt-10.txt latest` (and /output/... in
#   Docker) is stored as a relative link, a link to /etc/passwd, a FIFO and
#   a socket are skipped and named in the notes, every other file is stored,
#   and the status follows the exit code;
# - a sparse file (truncate -s) is stored with its bytes, in holes;
# - Docker: a task that leaves /output empty but wrote elsewhere in its
#   container is told so in its notes (which paths); one that wrote nothing
#   has no notes.
. tests/integration/lib.sh
command -v curl >/dev/null 2>&1 || { skip "curl not installed"; exit 0; }
IMG=cloudai-test:latest
cat >"$T/cfg.ini" <<EOF
[master]
heartbeat_interval_s = 1
heartbeat_timeout_s = 30
[http]
listen = 127.0.0.1:0
EOF
start_master m -config "$T/cfg.ini" || { not_ok "master starts"; exit 1; }
HADDR=$(sed -n 's/^master http on \([^ ]*\).*/\1/p' "$T/m.out" | head -n 1); H="http://$HADDR"
start_worker w-proc -runtime process -cpu 2 -mem 2g -config "$T/cfg.ini" ||
    { not_ok "process worker registers"; exit 1; }
FILES=$T/m/files
U=$CLOUDAI_USER

alive() { kill -0 "$MPID" 2>/dev/null && cai workers >/dev/null 2>&1; }

# ---- a 10,000-level tree
DEEP_CMD='echo top > top.txt; mkdir -p shallow && echo s > shallow/s.txt;
mkdir -p "$(printf "d/%.0s" $(seq 10000))" || exit 9; echo mid > "$(printf "d/%.0s" $(seq 100))mid.txt"; exit 0'
DEEP=$(submit task $IMG -name deep -cmd "$DEEP_CMD")
if [ -n "$DEEP" ] && wait_final "$DEEP" 300; then
    j=$(task_json "$DEEP")
    want_eq "deep tree: task completed" "$(echo "$j" | jget status)" completed
    d=$(task_dir "$FILES/$U/deep" "$DEEP")
    want_eq "deep tree: shallow file stored" "$(cat "$d/shallow/s.txt" 2>/dev/null)" s
    mid="$d/$(i=0; p=; while [ $i -lt 100 ]; do p="${p}d/"; i=$((i+1)); done; echo "$p")mid.txt"
    want_eq "deep tree: a file 100 levels down stored" "$(cat "$mid" 2>/dev/null)" mid
    n=$(echo "$j" | jget notes)
    case $n in "'d/d/d/"*"path over the 4095-byte limit"*) ok "deep tree: the deep part is named in the notes" ;;
        *) not_ok "deep tree: the deep part is named in the notes"; diag "notes: $n" ;; esac
    cai tasks -task "$DEEP" 2>/dev/null | grep -q -- "-> not stored: 'd/d/d" &&
        ok "deep tree: cloudai tasks shows the notes" || not_ok "deep tree: cloudai tasks shows the notes"
    for k in 1 2; do
        rm -rf "$T/get$k"
        if cai get "$DEEP" "$T/get$k" >"$T/get$k.out" 2>&1 && [ "$(cat "$T/get$k/top.txt" 2>/dev/null)" = top ] &&
            [ "$(cat "$T/get$k/shallow/s.txt" 2>/dev/null)" = s ]; then ok "deep tree: cloudai get #$k"
        else not_ok "deep tree: cloudai get #$k"; diag "$(tail -n 3 "$T/get$k.out")"; fi
        code=$(curl -s -o "$T/a$k.tgz" -w '%{http_code}' "$H/api/tasks/$DEEP/archive?format=tar.gz")
        if [ "$code" = 200 ] && tar -tzf "$T/a$k.tgz" >"$T/a$k.list" 2>/dev/null &&
            grep -q 'shallow/s.txt$' "$T/a$k.list"; then ok "deep tree: GET archive tar.gz #$k"
        else not_ok "deep tree: GET archive tar.gz #$k"; diag "HTTP $code"; fi
        code=$(curl -s -o "$T/a$k.zip" -w '%{http_code}' "$H/api/tasks/$DEEP/archive?format=zip")
        [ "$code" = 200 ] && [ "$(wc -c <"$T/a$k.zip")" -gt 1000 ] && ok "deep tree: GET archive zip #$k" ||
            { not_ok "deep tree: GET archive zip #$k"; diag "HTTP $code"; }
    done
    alive && ok "deep tree: the master is alive after the downloads" ||
        not_ok "deep tree: the master is alive after the downloads"
else
    not_ok "deep tree: task finishes"
fi

# ---- links and special files, process runtime ($OUTPUT_DIR is a host path)
LINK_CMD='echo ten > ckpt-10.txt; ln -s "$OUTPUT_DIR/ckpt-10.txt" latest; ln -s ckpt-10.txt rel;
ln -s /etc/passwd pw; mkfifo pipe; python3 -c "import socket; s=socket.socket(socket.AF_UNIX); s.bind(\"sock\")" 2>/dev/null;
mkdir sub; ln -s "$OUTPUT_DIR/ckpt-10.txt" sub/up; echo keep > keep.txt; exit 0'
LNK=$(submit task $IMG -name links -cmd "$LINK_CMD")
FAIL=$(submit task $IMG -name links-fail -cmd 'echo x > x.txt; mkfifo p; exit 4')
if [ -n "$LNK" ] && wait_final "$LNK" 60; then
    j=$(task_json "$LNK")
    want_eq "links: task completed" "$(echo "$j" | jget status)" completed
    d=$(task_dir "$FILES/$U/links" "$LNK")
    want_eq "links: keep.txt stored" "$(cat "$d/keep.txt" 2>/dev/null)" keep
    want_eq "links: \$OUTPUT_DIR link stored relative" "$(readlink "$d/latest" 2>/dev/null)" ckpt-10.txt
    want_eq "links: nested \$OUTPUT_DIR link stored relative" "$(readlink "$d/sub/up" 2>/dev/null)" ../ckpt-10.txt
    want_eq "links: relative link kept" "$(readlink "$d/rel" 2>/dev/null)" ckpt-10.txt
    [ ! -e "$d/pw" ] && [ ! -L "$d/pw" ] && [ ! -e "$d/pipe" ] && ok "links: the link out and the FIFO are not stored" ||
        not_ok "links: the link out and the FIFO are not stored"
    n=$(echo "$j" | jget notes)
    for want in "'pipe': FIFO" "'pw': symlink to '/etc/passwd'"; do
        case $n in *"$want"*) ok "links: notes name $want" ;; *) not_ok "links: notes name $want"; diag "notes: $n" ;; esac
    done
    if command -v python3 >/dev/null 2>&1; then
        case $n in *"'sock': socket"*) ok "links: notes name the socket" ;; *) not_ok "links: notes name the socket"; diag "notes: $n" ;; esac
    fi
    rm -rf "$T/lget"
    cai get "$LNK" "$T/lget" >/dev/null 2>&1 && [ "$(cat "$T/lget/latest" 2>/dev/null)" = ten ] &&
        ok "links: cloudai get gives a working 'latest'" || not_ok "links: cloudai get gives a working 'latest'"
    curl -s "$H/api/tasks/$LNK" | grep -q '"notes":"' && ok "links: the API shows the notes" ||
        not_ok "links: the API shows the notes"
else
    not_ok "links: task finishes"
fi
if [ -n "$FAIL" ] && wait_final "$FAIL" 60; then
    j=$(task_json "$FAIL")
    want_eq "links, exit 4: status follows the exit code" "$(echo "$j" | jget status)" failed
    want_eq "links, exit 4: its file is stored" "$(echo "$j" | jget output_files)" 1
    case $(echo "$j" | jget notes) in *"'p': FIFO"*) ok "links, exit 4: the FIFO is in the notes" ;;
        *) not_ok "links, exit 4: the FIFO is in the notes"; diag "$j" ;; esac
else
    not_ok "links, exit 4: task finishes"
fi

# ---- a sparse output (truncate -s, as a preallocated image): stored with
# its bytes, in holes, not at its full size on the store's disk
SP_CMD='head -c 5000 /dev/urandom > sparse && truncate -s 512M sparse && echo tail >> sparse &&
cp sparse copy.chk; exit 0'
SP=$(submit task $IMG -name sparse -cmd "$SP_CMD")
if [ -n "$SP" ] && wait_final "$SP" 300; then
    d=$(task_dir "$FILES/$U/sparse" "$SP")
    want_eq "sparse: task completed" "$(task_json "$SP" | jget status)" completed
    want_eq "sparse: size kept" "$(stat -c %s "$d/sparse" 2>/dev/null)" 536870917
    cmp -s "$d/sparse" "$d/copy.chk" && ok "sparse: bytes as written" || not_ok "sparse: bytes as written"
    kb=$(du -k "$d/sparse" 2>/dev/null | cut -f1)
    [ -n "$kb" ] && [ "$kb" -lt 1024 ] && ok "sparse: stored in holes" ||
        { not_ok "sparse: stored in holes"; diag "$kb KiB on disk for a 512 MiB file of 5 KB of data"; }
else
    not_ok "sparse: task finishes"
fi

# ---- Docker: links to /output/... are made relative by the master
if docker_ok; then
    start_worker w-dock -cpu 2 -mem 2g -config "$T/cfg.ini" || not_ok "docker worker registers"
    DL=$(submit dispatch w-dock $IMG -name dlinks -cmd 'echo ten > /output/ckpt-10.txt; ln -s /output/ckpt-10.txt /output/latest; ln -s /etc/passwd /output/pw; mkfifo /output/pipe; exit 0')
    if [ -n "$DL" ] && wait_final "$DL" 120; then
        j=$(task_json "$DL")
        want_eq "docker links: task completed" "$(echo "$j" | jget status)" completed
        d=$(task_dir "$FILES/$U/dlinks" "$DL")
        want_eq "docker links: /output link stored relative" "$(readlink "$d/latest" 2>/dev/null)" ckpt-10.txt
        n=$(echo "$j" | jget notes)
        case $n in *"'pipe': FIFO"*"'pw': symlink"*|*"'pw': symlink"*"'pipe': FIFO"*) ok "docker links: notes name the FIFO and the link out" ;;
            *) not_ok "docker links: notes name the FIFO and the link out"; diag "notes: $n" ;; esac
    else
        not_ok "docker links: task finishes"
    fi
    # Files written outside /output (a relative path from the image's
    # working directory, /) go with the container: the notes say which.
    SL=$(submit dispatch w-dock $IMG -name dstray -cmd 'echo a > result.txt; mkdir -p /work/r; echo b > /work/r/b.txt; echo c > /tmp/c; exit 0')
    NO=$(submit dispatch w-dock $IMG -name dnothing -cmd 'exit 0')
    if [ -n "$SL" ] && [ -n "$NO" ] && wait_final "$SL" 120 && wait_final "$NO" 120; then
        j=$(task_json "$SL")
        want_eq "docker stray: task completed" "$(echo "$j" | jget status)" completed
        n=$(echo "$j" | jget notes)
        case $n in *"/output is empty"*"3 paths"*"'/result.txt', '/tmp/c', '/work/r/b.txt'"*) ok "docker stray: notes name the files written outside /output" ;;
            *) not_ok "docker stray: notes name the files written outside /output"; diag "notes: $n" ;; esac
        cai tasks -task "$SL" 2>/dev/null | grep -q "/output is empty" &&
            ok "docker stray: cloudai tasks shows it" || not_ok "docker stray: cloudai tasks shows it"
        want_eq "docker stray: a task that wrote nothing has no notes" "$(task_json "$NO" | jget notes)" ""
    else
        not_ok "docker stray: tasks finish"
    fi
else
    skip "docker links: Docker or $IMG not available"
fi

alive && ok "master alive at the end" || not_ok "master alive at the end"
if grep -l -E 'AddressSanitizer|runtime error:' "$T"/*.log >/dev/null 2>&1; then
    not_ok "no sanitizer reports in the daemon logs"; grep -h -A5 -E 'AddressSanitizer|runtime error:' "$T"/*.log | head -20 | sed 's/^/# /'
else ok "no sanitizer reports in the daemon logs"; fi
exit 0
