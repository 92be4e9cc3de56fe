// web_drive.js CHROME SCENARIO BASE [ARGS...] — drives the web page in
// headless Chromium over the DevTools protocol (--remote-debugging-pipe:
// NUL-separated JSON on fds 3/4, no WebSocket library needed) where a
// dumped DOM cannot: typing a token, signing out, back and forward.
// Prints "ok - ..." / "not ok - ..." lines; every wait is bounded.
'use strict';
const { spawn } = require('child_process');
const [chrome, scenario, base, ...args] = process.argv.slice(2);
const os = require('os'), fs = require('fs'), path = require('path');
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'cloudai-drive-'));
const p = spawn(chrome, ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
  '--no-first-run', '--user-data-dir=' + profile, '--remote-debugging-pipe', 'about:blank'],
  { stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'] });
const out = p.stdio[3], inp = p.stdio[4];
let seq = 0, buf = '', session = null;
const waiting = new Map();
inp.on('data', (d) => {
  buf += d.toString();
  let i;
  while ((i = buf.indexOf('\0')) >= 0) {
    const m = JSON.parse(buf.slice(0, i));
    buf = buf.slice(i + 1);
    if (m.id && waiting.has(m.id)) { waiting.get(m.id)(m); waiting.delete(m.id); }
  }
});
function send(method, params, sid) {
  const id = ++seq;
  out.write(JSON.stringify({ id, method, params: params || {}, sessionId: sid }) + '\0');
  return new Promise((ok, bad) => waiting.set(id, (m) => m.error ? bad(new Error(m.error.message)) : ok(m.result)));
}
async function js(expr) {
  const r = await send('Runtime.evaluate', { expression: expr, returnByValue: true, awaitPromise: true }, session);
  return r.result.value;
}
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
async function until(expr, ms) {
  for (let t = 0; t < (ms || 15000); t += 100) {
    try { if (await js(expr)) return true; } catch (e) { /* page loading */ }
    await sleep(100);
  }
  return false;
}
let failed = 0;
async function check(desc, expr, ms) {
  const good = await until(expr, ms);
  if (!good) failed++;
  console.log((good ? 'ok - ' : 'not ok - ') + desc);
}
const vis = (id) => `(document.getElementById('${id}') && !document.getElementById('${id}').hidden)`;
const text = (id) => `(document.getElementById('${id}') || {}).textContent`;

async function main() {
  const { targetId } = await send('Target.createTarget', { url: 'about:blank' });
  session = (await send('Target.attachToTarget', { targetId, flatten: true })).sessionId;
  await send('Page.enable', {}, session);
  if (scenario === 'perf') {
    // make bench: load #/runs/ID N times; Chromium's own clock (Paint
    // Timing's first-contentful-paint, and performance.now() at the first
    // animation frame that shows a file row) gives "sample FCP_MS ROWS_MS".
    const [id, n] = args;
    await send('Page.addScriptToEvaluateOnNewDocument', { source: `(() => {
      const tick = () => { if (document.querySelector('.frow')) window.__rows = performance.now(); else requestAnimationFrame(tick); };
      requestAnimationFrame(tick);
    })();` }, session);
    for (let i = 0; i < Number(n || 5); i++) {
      await send('Page.navigate', { url: 'about:blank' }, session);
      await send('Page.navigate', { url: base + '/#/runs/' + id }, session);
      const good = await until('window.__rows > 0', 60000);
      if (!good) { console.log('not ok - the run view rendered its files'); failed++; break; }
      const r = await js(`JSON.stringify({ fcp: (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime || 0, rows: window.__rows, n: document.querySelectorAll('.frow').length })`);
      const v = JSON.parse(r);
      console.log(`sample ${v.fcp.toFixed(1)} ${v.rows.toFixed(1)} ${v.n}`);
    }
    if (!failed) console.log('ok - the run view rendered its files each time');
  } else if (scenario === 'signin') {
    const [good] = args;
    await send('Page.navigate', { url: base + '/' }, session);
    await check('the sign-in form shows', vis('signin'));
    await js(`document.getElementById('token').value = 'not-a-token'; document.getElementById('signinform').requestSubmit(); 1`);
    await check('a wrong token is said so', `${text('signinerr')} === 'wrong token' && ${vis('signin')}`);
    await js(`document.getElementById('token').value = ${JSON.stringify(good)}; document.getElementById('signinform').requestSubmit(); 1`);
    await check('signed in: the header says "signed in as alice"', `${text('who')} === 'signed in as alice' && !${vis('signin')}`);
    await check('signed in: the runs view shows', `${vis('browse')} && ${vis('signout')}`);
    await check('a non-admin gets no user filter', `!${vis('userfilter')}`);
    await js(`document.getElementById('signout').click(); 1`);
    await check('sign-out shows the form again, without the token', `${vis('signin')} && !${vis('browse')} && !sessionStorage.getItem('cloudai-token')`);
  } else if (scenario === 'livelog') {
    // The task prints its first line, then waits for a gate the test opens
    // only after this first check passed (test_web.sh): the line was shown
    // while the task provably ran.
    const [id] = args;
    await send('Page.navigate', { url: base + '/#/runs/' + id }, session);
    await check('the live log shows the first line while the task runs',
      `(document.getElementById('log') || {}).textContent.includes('live line 1') && document.getElementById('log').classList.contains('live')`, 60000);
    await check('the live log follows the task to its last line',
      `(document.getElementById('log') || {}).textContent.includes('live line 2')`, 90000);
  } else if (scenario === 'compare') {
    // The images load one after another, each through a FileReader: a
    // dumped DOM (virtual time) can be taken between two of them, so this
    // waits, bounded, in real time.
    const [name, n] = args;
    await send('Page.navigate', { url: base + '/#/compare/' + encodeURIComponent(name) }, session);
    await check(`#/compare/N shows an image of each of the ${n} runs side by side`,
      `document.querySelectorAll('.imgcmp img[src^="data:image/png;base64,"][alt^="plots/curve.png of task-"]').length === ${Number(n)}`);
  } else if (scenario === 'history') {
    const [id] = args;
    await send('Page.navigate', { url: base + '/#/tasks' }, session);
    await check('#/tasks opens the task table', `${vis('tasks')} && !!document.querySelector('table.tasks')`);
    await js(`document.querySelector('a[href="#/runs/${id}"]').click(); 1`);
    await check('a click on a task opens its run', `${vis('browse')} && ${text('run')}.includes('${id}')`);
    await js(`history.back(); 1`);
    await check('back returns to the task table', `${vis('tasks')} && !${vis('browse')} && location.hash === '#/tasks'`);
    await js(`history.forward(); 1`);
    await check('forward opens the run again', `${vis('browse')} && ${text('run')}.includes('${id}')`);
  }
}
const killer = setTimeout(() => { console.log('not ok - web_drive timed out'); p.kill('SIGKILL'); process.exit(1); }, 170000);
main().catch((e) => { console.log('not ok - web_drive: ' + e.message); failed++; }).finally(() => {
  clearTimeout(killer);
  // Chromium may still write its profile while it exits: remove the
  // profile once it is gone (bounded), and never fail the run over it.
  const gone = new Promise((ok) => { if (p.exitCode !== null || p.signalCode) ok(); else p.once('exit', ok); });
  p.kill('SIGTERM');
  Promise.race([gone, sleep(5000)]).then(() => {
    try { fs.rmSync(profile, { recursive: true, force: true, maxRetries: 5 }); } catch (e) { /* a temp dir left behind */ }
    process.exit(failed ? 1 : 0);
  });
});
