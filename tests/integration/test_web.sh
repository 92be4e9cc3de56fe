#!/bin/sh
# test_web.sh — the web file browser in a real browser: a master in open
# dev mode (no tokens) with a process-runtime worker runs a task; headless
# Chromium loads http://.../ , lets the page's script render, and the
# dumped DOM must show the task name, its run and every file name. A
# screenshot is kept at build/web-screenshot.png for people to look at.
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
ID=$(submit task cloudai-test:latest -name web-demo -cmd 'mkdir -p models plots &&
echo "{\"accuracy\": 0.93}" > metrics.json && printf "epoch,loss\n1,0.9\n2,0.4\n" > history.csv &&
head -c 65536 /dev/urandom > models/weights.bin && echo done > plots/summary.txt && echo trained')
wait_final "$ID" 60 || not_ok "task finishes"

# chrome ARGS... — headless Chromium with a private profile, bounded time.
chrome() {
    timeout 90 "$CHROME" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
        --no-first-run --user-data-dir="$T/profile" --virtual-time-budget=5000 "$@" 2>"$T/chrome.err"
}
chrome --dump-dom "http://$HADDR/" >"$T/dom.html"
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

mkdir -p "$ROOT/build"
rm -f "$ROOT/build/web-screenshot.png"
chrome --window-size=1280,900 --screenshot="$ROOT/build/web-screenshot.png" "http://$HADDR/" >/dev/null
if [ -s "$ROOT/build/web-screenshot.png" ]; then ok "screenshot at build/web-screenshot.png"
else not_ok "screenshot at build/web-screenshot.png"; sed 's/^/# /' "$T/chrome.err" | tail -20; fi
exit 0
