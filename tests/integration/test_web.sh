#!/bin/sh
# test_web.sh — the web browser in a real browser: a master in open dev
# mode (no tokens) with a process-runtime worker runs tasks; headless
# Chromium loads http://.../ and each route (#/runs/ID, #/runs/ID/files/P,
# #/names/N, #/tasks, #/compare/N) opened directly, lets the page's script
# render, and the dumped DOM must show what the view is for; the run view of
# a running task follows its log live (web_drive.js livelog). Screenshots
# are kept under build/web-*.png for people to look at. A second master
# with tokens shows the sign-in form instead of any data.
. tests/integration/lib.sh
CHROME=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[ -n "$CHROME" ] || { skip "chromium not installed"; exit 0; }

cat >"$T/cfg.ini" <<EOF
[master]
heartbeat_interval_s = 1
[http]
listen = 127.0.0.1:0
EOF
start_master m -config "$T/cfg.ini" || { not_ok "master starts"; exit 1; }
HADDR=$(sed -n 's/^master http on \([^ ]*\).*/\1/p' "$T/m.out" | head -n 1)
start_worker w1 -runtime process -cpu 2 -mem 1g || true
# Two runs of one name, so the comparison has two lines with different values.
ID0=$(submit task cloudai-test:latest -name web-demo -cmd 'echo "{\"accuracy\": 0.81}" > metrics.json &&
printf "epoch,loss\n1,0.95\n2,0.77\n3,0.61\n" > metrics.csv && mkdir -p plots &&
echo iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg== | base64 -d > plots/curve.png && echo first')
wait_final "$ID0" 60 || not_ok "first task finishes"
ID=$(submit task cloudai-test:latest -name web-demo -cmd 'mkdir -p models plots &&
echo "{\"accuracy\": 0.93}" > metrics.json && printf "epoch,loss\n1,0.9\n2,0.4\n" > history.csv &&
printf "epoch,loss\n1,0.9\n2,0.4\n3,0.2\n" > metrics.csv &&
head -c 65536 /dev/urandom > models/weights.bin && echo done > plots/summary.txt &&
echo iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg== | base64 -d > plots/curve.png && echo trained')
wait_final "$ID" 60 || not_ok "task finishes"
# A run with 3,000 files at top level: natural order, and only the visible rows in the DOM.
BIG=$(submit task cloudai-test:latest -name web-big -cmd 'i=1; while [ $i -le 3000 ]; do echo $i > part-$i.txt; i=$((i+1)); done')
wait_final "$BIG" 180 || not_ok "big task finishes"

# chrome ARGS... — headless Chromium with a private profile, bounded time.
chrome() {
    timeout 90 "$CHROME" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
        --no-first-run --user-data-dir="$T/profile" --virtual-time-budget=5000 "$@" 2>"$T/chrome.err"
}
chrome --dump-dom "http://$HADDR/" >"$T/root.html"
grep -q 'web-big — ' "$T/root.html" && ok "/ opens the newest name's newest run" ||
    not_ok "/ opens the newest name's newest run"
chrome --dump-dom "http://$HADDR/#/names/web-demo" >"$T/dom.html"
[ -s "$T/dom.html" ] && ok "chromium renders the page" ||
    { not_ok "chromium renders the page"; sed 's/^/# /' "$T/chrome.err" | tail -20; }
for s in web-demo "$ID" metrics.json history.csv weights.bin summary.txt models/ plots/ completed trained; do
    grep -q "$s" "$T/dom.html" && ok "page shows $s" || not_ok "page shows $s"
done
grep -q 'class="hash"' "$T/dom.html" && ok "page shows file hashes" || not_ok "page shows file hashes"
grep -q "/api/tasks/$ID/archive?format=zip" "$T/dom.html" && ok "page links the run's archive" ||
    not_ok "page links the run's archive"
grep -q "/api/archive?task_name=web-demo" "$T/dom.html" && ok "page links all runs of the name" ||
    not_ok "page links all runs of the name"
grep -q 'class="timeline"' "$T/dom.html" && ok "page has a timeline" || not_ok "page has a timeline"
grep -q '<iframe class="preview" sandbox=""' "$T/dom.html" && grep -q 'epoch' "$T/dom.html" &&
    ok "a text file previews in a sandboxed frame" || not_ok "a text file previews in a sandboxed frame"
curl -s -D "$T/hdr" -o /dev/null "http://$HADDR/"
grep -qi "^content-security-policy: default-src 'none'; script-src 'self'" "$T/hdr" &&
    ok "the page is served with a strict CSP" || not_ok "the page is served with a strict CSP"

# JSON replies carry an ETag; the same one in If-None-Match is an empty 304.
ET=$(curl -s -D - -o /dev/null "http://$HADDR/api/tasks/$ID" | sed -n 's/^[Ee][Tt][Aa][Gg]: *\("[^"]*"\).*/\1/p')
[ -n "$ET" ] && ok "a task record has an ETag" || not_ok "a task record has an ETag"
want_eq "If-None-Match with it answers 304" \
    "$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $ET" "http://$HADDR/api/tasks/$ID")" 304
curl -s "http://$HADDR/api/whoami" | grep -q '"open":true' && ok "whoami says open mode" ||
    not_ok "whoami says open mode"

# shot NAME URL — a screenshot of a view, kept under build/.
mkdir -p "$ROOT/build"
shot() {
    rm -f "$ROOT/build/web-$1.png"
    chrome --window-size=1200,800 --screenshot="$ROOT/build/web-$1.png" "$2" >/dev/null
    if [ -s "$ROOT/build/web-$1.png" ]; then ok "screenshot at build/web-$1.png"
    else not_ok "screenshot at build/web-$1.png"; sed 's/^/# /' "$T/chrome.err" | tail -20; fi
}
# view NAME ROUTE — the DOM of a route opened directly, in $T/NAME.html.
view() {
    chrome --dump-dom "http://$HADDR/$2" >"$T/$1.html"
    [ -s "$T/$1.html" ] || { not_ok "chromium renders $2"; sed 's/^/# /' "$T/chrome.err" | tail -20; }
}
has() { grep -q -- "$3" "$T/$1.html" && ok "$2" || not_ok "$2"; }

view run "#/runs/$ID"
has run "#/runs/ID shows the run" "web-demo — $ID"
for s in Command Resources Worker Duration Attempts 'Exit code' w1 trained; do
    has run "#/runs/ID shows $s" "$s"
done
view file "#/runs/$ID/files/plots/summary.txt"
has file "#/runs/ID/files/P previews that file" 'title="preview of plots/summary.txt"'
has file "#/runs/ID/files/P marks the file selected" 'class="frow sel".*summary.txt'
view name "#/names/web-demo"
has name "#/names/N lists the first run" "$ID0"
has name "#/names/N lists the second run" "$ID"
has name "#/names/N links the comparison" 'href="#/compare/web-demo"'
view tasks "#/tasks"
has tasks "#/tasks is a task table" 'class="tasks"'
for s in "$ID0" "$ID" "$BIG" web-big st-completed; do has tasks "#/tasks shows $s" "$s"; done
view cmp "#/compare/web-demo"
cp "$T/cmp.html" "$ROOT/build/web-compare.html"
want_eq "#/compare/N draws one line per run" "$(grep -o 'class="series"' "$T/cmp.html" | wc -l)" 2
has cmp "the chart has the first run's line and values" "data-run=\"$ID0\".*$ID0: 0.95 0.77 0.61"
has cmp "the chart has the second run's line and values" "data-run=\"$ID\".*$ID: 0.9 0.4 0.2"
has cmp "metrics.json's accuracy is a column" '<th class="sortable">accuracy'
has cmp "with each run's value" '>0.81<'
view big "#/runs/$BIG"
n=$(grep -o 'class="frow' "$T/big.html" | wc -l)
[ "$n" -gt 5 ] && [ "$n" -lt 120 ] && ok "a 3,000-file run renders only visible rows ($n)" ||
    not_ok "a 3,000-file run renders only visible rows ($n)"
tr '>' '\n' <"$T/big.html" | grep -o 'part-[0-9]*\.txt<' | head -n 12 | tr -d '<' >"$T/order"
want_eq "files in natural order" "$(head -n 11 "$T/order" | tr '\n' ' ')" \
    "part-1.txt part-2.txt part-3.txt part-4.txt part-5.txt part-6.txt part-7.txt part-8.txt part-9.txt part-10.txt part-11.txt "

# drive SCENARIO ARGS... — what a dumped DOM cannot show (typing, back and
# forward), through the DevTools protocol (tests/integration/web_drive.js).
drive() {
    if ! command -v node >/dev/null 2>&1; then skip "node not installed: $1 not driven"; return 0; fi
    _sc=$1; shift
    timeout 120 node "$ROOT/tests/integration/web_drive.js" "$CHROME" "$_sc" "http://$HADDR" "$@" >"$T/drive.out" 2>&1
    while IFS= read -r l; do
        case $l in "ok - "*) ok "${l#ok - }" ;; "not ok - "*) not_ok "${l#not ok - }" ;; *) diag "$l" ;; esac
    done <"$T/drive.out"
    grep -q '^ok - ' "$T/drive.out" || not_ok "web_drive $_sc ran"
}
drive history "$ID"
drive compare web-demo 2

# The live log: the task prints a line, then waits (at most 60 s) for a gate
# file the test creates only once the page has shown that line, so the line
# was on screen while the task ran (ordering, not timing); then the page
# follows it to its last line.
LIVE=$(submit task cloudai-test:latest -name web-live -cmd 'echo "live line 1"; n=0; while [ ! -f "$OUTPUT_DIR/go" ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n+1)); done; rm -f "$OUTPUT_DIR/go"; echo "live line 2"')
if [ -n "$LIVE" ] && command -v node >/dev/null 2>&1 &&
   wait_for "[ \"\$(tfield $LIVE status)\" = running ]" 60; then
    timeout 180 node "$ROOT/tests/integration/web_drive.js" "$CHROME" livelog "http://$HADDR" "$LIVE" >"$T/live.out" 2>&1 &
    dpid=$!
    wait_for "grep -q 'the live log shows the first line' '$T/live.out'" 90
    want_eq "the task still runs when the page shows its first line" "$(tfield "$LIVE" status)" running
    for d in "$T/w1.outputs/$LIVE".*; do [ -d "$d" ] && touch "$d/go"; done
    wait "$dpid"
    while IFS= read -r l; do
        case $l in "ok - "*) ok "${l#ok - }" ;; "not ok - "*) not_ok "${l#not ok - }" ;; *) diag "$l" ;; esac
    done <"$T/live.out"
    grep -q '^ok - ' "$T/live.out" || not_ok "web_drive livelog ran"
else
    skip "live log: no node, or the task did not start"
fi

shot screenshot "http://$HADDR/"
shot run "http://$HADDR/#/runs/$ID/files/metrics.csv"
shot tasks "http://$HADDR/#/tasks"
shot compare "http://$HADDR/#/compare/web-demo"
shot big "http://$HADDR/#/runs/$BIG"

# With tokens: the page asks for one with its own form and shows no data;
# whoami names the token's user; a wrong token is 401.
cat >"$T/auth.ini" <<EOF
[http]
listen = 127.0.0.1:0
[auth]
cluster_token = web-cluster
user.alice = alice-secret
user.bob = bob-secret
admins = bob
EOF
start_master ma -config "$T/auth.ini" || { not_ok "master with tokens starts"; exit 1; }
HADDR=$(sed -n 's/^master http on \([^ ]*\).*/\1/p' "$T/ma.out" | head -n 1)
view signin ""
has signin "with tokens the page shows its sign-in form" '<div id="signin">'
has signin "and no data" '<main id="browse" hidden'
curl -s -H 'Authorization: Bearer alice-secret' "http://$HADDR/api/whoami" | tr -d ' \n' |
    grep -q '"user_id":"alice","admin":false' &&
    ok "whoami names alice" || not_ok "whoami names alice"
want_eq "a wrong token is 401" \
    "$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer nope' "http://$HADDR/api/whoami")" 401
shot signin "http://$HADDR/"
drive signin alice-secret
exit 0
