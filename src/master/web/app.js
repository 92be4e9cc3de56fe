// CloudAI web browser: task names -> runs -> files, a task table across
// names, and a comparison of the runs of one name. Every view has a route
// in the URL's hash (#/names/N, #/runs/ID, #/runs/ID/files/PATH,
// #/compare/N, #/tasks), so links can be shared and back/forward work.
// No framework, no build step; every string from the API goes through
// textContent (never innerHTML), previews render in a sandboxed iframe
// that may run no script, and charts are SVG built here.
'use strict';
const $ = (id) => document.getElementById(id);
const SVG = 'http://www.w3.org/2000/svg';
const FINAL = new Set(['completed', 'failed', 'cancelled']);
const coll = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });
let token = sessionStorage.getItem('cloudai-token') || '';
let me = null;               // /api/whoami once signed in
let state = { names: [], name: null, runs: [], run: null, task: null, files: null, open: new Set() };
let poller = null;           // the one live-refresh timer of the current view
let logFollow = null;        // AbortController of the live log being followed

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null) continue;
    if (k === 'class') e.className = v;
    else if (k === 'style') e.style.cssText = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids) if (k != null) e.append(k.nodeType ? k : String(k));
  return e;
}
function svg(tag, attrs, ...kids) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const k of kids) if (k != null) e.append(k.nodeType ? k : String(k));
  return e;
}
function size(n) {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return i ? n.toFixed(1) + ' ' + u[i] : n + ' B';
}
function when(ms) { return ms ? new Date(ms).toISOString().replace('T', ' ').slice(0, 19) : '-'; }
function dur(t) {
  const a = t.started_at || 0, b = t.completed_at || (FINAL.has(t.status) ? 0 : Date.now());
  if (!a || !b || b < a) return null;
  return b - a;
}
function durStr(ms) {
  if (ms == null) return '-';
  const s = Math.round(ms / 1000);
  return s < 60 ? s + ' s' : s < 3600 ? Math.floor(s / 60) + ' min ' + s % 60 + ' s'
    : Math.floor(s / 3600) + ' h ' + Math.floor(s % 3600 / 60) + ' min';
}
function enc(path) { return path.split('/').map(encodeURIComponent).join('/'); }
function badge(status) { return el('span', { class: 'badge st-' + status }, status); }
function fileHref(id, name) { return '/api/files/' + encodeURIComponent(id) + '/' + enc(name); }

// ---- API and sign-in ----------------------------------------------------------

function hdrs() { return token ? { Authorization: 'Bearer ' + token } : {}; }
async function api(path, opts) {
  const r = await fetch(path, Object.assign({ headers: hdrs() }, opts || {}));
  if (r.status === 401) { showSignin(token ? 'wrong token' : ''); throw new Error('sign in required'); }
  if (!r.ok) {
    let msg = r.statusText;
    try { msg = (await r.json()).error; } catch (e) { /* not JSON */ }
    throw new Error(msg);
  }
  return r;
}
// Conditional GET for polling: the server tags JSON with an ETag and
// answers If-None-Match with an empty 304; null = unchanged.
const etags = new Map();
async function apiIfChanged(path) {
  const h = hdrs();
  const old = etags.get(path);
  if (old) h['If-None-Match'] = old;
  const r = await fetch(path, { headers: h, cache: 'no-store' });
  if (r.status === 304) return null;
  if (r.status === 401) { showSignin(token ? 'wrong token' : ''); throw new Error('sign in required'); }
  if (!r.ok) throw new Error(r.statusText);
  const tag = r.headers.get('ETag');
  if (tag) etags.set(path, tag);
  return r.json();
}

function showSignin(msg) {
  me = null;
  for (const id of ['browse', 'tasks', 'compare']) $(id).hidden = true;
  $('signin').hidden = false;
  $('signinerr').textContent = msg || '';
  $('who').textContent = '';
  $('signout').hidden = true;
  $('userfilter').hidden = true;
  $('token').focus();
}
async function whoami() {
  const r = await fetch('/api/whoami', { headers: hdrs(), cache: 'no-store' });
  if (r.status === 401) return null;
  if (!r.ok) throw new Error(r.statusText);
  return r.json();
}
async function start() {
  try { me = await whoami(); } catch (e) { $('names').replaceChildren(el('p', { class: 'err' }, e.message)); return; }
  if (!me) { showSignin(token ? 'wrong token' : ''); return; }
  $('signin').hidden = true;
  $('who').textContent = me.open ? 'open mode (no tokens): everyone is an admin'
    : 'signed in as ' + me.user_id + (me.admin ? ' (admin)' : '');
  $('signout').hidden = !!me.open;
  $('userfilter').hidden = !me.admin;
  state.names = [];
  route();
}
$('signinform').addEventListener('submit', (ev) => {
  ev.preventDefault();
  token = $('token').value.trim();
  sessionStorage.setItem('cloudai-token', token);
  $('token').value = '';
  start();
});
$('signout').addEventListener('click', () => {
  token = '';
  sessionStorage.removeItem('cloudai-token');
  etags.clear();
  showSignin('signed out');
});

// Downloads: a plain link in open mode; with a token, fetch then save the
// blob (a link cannot carry the Authorization header).
function download(href, label) {
  const a = el('a', { href, download: '' }, label);
  if (token) a.addEventListener('click', async (ev) => {
    ev.preventDefault();
    try {
      const r = await api(href);
      const name = (r.headers.get('Content-Disposition') || '').match(/filename="([^"]*)"/);
      const url = URL.createObjectURL(await r.blob());
      const t = el('a', { href: url, download: name ? name[1] : 'download' });
      document.body.append(t); t.click(); t.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
    } catch (e) { alert(e.message); }
  });
  return a;
}

// Every page of a listing: the API pages with next_cursor and never cuts
// silently, so the browser follows it (bounded, against a looping server).
async function listAll(path, key) {
  const out = [];
  let cursor = null;
  for (let i = 0; i < 1000; i++) {
    const sep = path.includes('?') ? '&' : '?';
    const r = await (await api(path + sep + 'limit=10000' +
                               (cursor ? '&cursor=' + encodeURIComponent(cursor) : ''))).json();
    out.push(...r[key]);
    if (!r.next_cursor) break;
    cursor = r.next_cursor;
  }
  return out;
}
function userParam(sep) {
  const u = me && me.admin ? $('userfilter').value.trim() : '';
  return u ? sep + 'user_id=' + encodeURIComponent(u) : '';
}

// ---- routing -------------------------------------------------------------------

function parseRoute() {
  const parts = location.hash.replace(/^#\/?/, '').split('/');
  const d = (s) => { try { return decodeURIComponent(s); } catch (e) { return s; } };
  if (parts[0] === 'tasks') return { view: 'tasks' };
  if (parts[0] === 'names' && parts[1]) return { view: 'name', name: d(parts[1]) };
  if (parts[0] === 'compare' && parts[1]) return { view: 'compare', name: d(parts[1]) };
  if (parts[0] === 'runs' && parts[1]) {
    const file = parts[2] === 'files' && parts.length > 3 ? parts.slice(3).map(d).join('/') : null;
    return { view: 'run', id: d(parts[1]), file };
  }
  return { view: 'home' };
}
function go(hash) { if (location.hash !== hash) location.hash = hash; else route(); }
function show(view) {
  $('browse').hidden = view !== 'browse';
  $('tasks').hidden = view !== 'tasks';
  $('compare').hidden = view !== 'compare';
  $('nav-tasks').classList.toggle('sel', view === 'tasks');
  $('nav-runs').classList.toggle('sel', view === 'browse');
}
async function route() {
  if (!me) return;
  clearTimeout(poller);
  poller = null;
  stopLog();
  const rt = parseRoute();
  try {
    if (rt.view === 'tasks') { show('tasks'); return await tasksView(); }
    if (rt.view === 'compare') { show('compare'); return await compareView(rt.name); }
    show('browse');
    if (!state.names.length) await loadNames();
    if (rt.view === 'run') {
      let t = state.runs.find((x) => x.task_id === rt.id);
      if (!t) t = await (await api('/api/tasks/' + encodeURIComponent(rt.id))).json();
      selectName(t.task_name);
      await selectRun(t.task_id, rt.file);
    } else if (rt.view === 'name') {
      selectName(rt.name);
      if (state.runs.length) await selectRun(state.runs[0].task_id, null);
      else $('run').replaceChildren();
    } else if (state.names.length) {
      selectName(state.names[0][0]);
      if (state.runs.length) await selectRun(state.runs[0].task_id, null);
    }
  } catch (e) {
    const box = rt.view === 'tasks' ? $('tasks') : rt.view === 'compare' ? $('compare') : $('run');
    box.replaceChildren(el('p', { class: 'err' }, e.message));
  }
}
window.addEventListener('hashchange', route);

// ---- names and runs ------------------------------------------------------------------

async function loadNames() {
  const pat = $('filter').value.trim();
  const q = (pat ? '?pattern=' + encodeURIComponent(pat) : '') ;
  const tasks = await listAll('/api/tasks' + q + userParam(q ? '&' : '?'), 'tasks');
  const by = new Map();
  for (const t of tasks) {
    if (!by.has(t.task_name)) by.set(t.task_name, []);
    by.get(t.task_name).push(t);
  }
  state.names = [...by.entries()].sort((a, b) => b[1][0].submitted_at - a[1][0].submitted_at);
  state.name = null;          // selectName redraws the runs from the new list
  renderNames();
}

function renderNames() {
  const ul = el('ul');
  for (const [name, runs] of state.names) {
    const live = runs.filter((t) => !FINAL.has(t.status)).length;
    const failed = runs[0].status === 'failed';
    ul.append(el('li', { class: name === state.name ? 'sel' : '' },
      el('a', { href: '#/names/' + encodeURIComponent(name) }, name),
      el('span', {}, live ? badge('running') : null, failed ? badge('failed') : null,
        el('span', { class: 'badge' }, runs.length))));
  }
  $('names').replaceChildren(state.names.length ? ul : el('p', { class: 'muted' }, 'No tasks yet.'));
}

function selectName(name) {
  if (state.name === name && $('runs').firstChild) return;
  state.name = name;
  renderNames();
  const runs = (state.names.find((n) => n[0] === name) || [null, []])[1];
  state.runs = runs;
  const box = $('runs');
  box.replaceChildren(el('h2', {}, name));
  box.append(el('div', { class: 'actions' },
    el('a', { href: '#/compare/' + encodeURIComponent(name) }, 'Compare runs'),
    download('/api/archive?task_name=' + encodeURIComponent(name) + '&format=zip', 'All runs (zip)'),
    download('/api/archive?task_name=' + encodeURIComponent(name) + '&format=tar.gz', 'All runs (tar.gz)')));
  box.append(timeline(runs));
  const ul = el('ul');
  for (const t of runs) {
    ul.append(el('li', { 'data-id': t.task_id },
      el('a', { href: '#/runs/' + encodeURIComponent(t.task_id) }, when(t.submitted_at),
        el('span', { class: 'muted small' }, ' ' + t.task_id.slice(-6))),
      el('span', {}, t.exit_code != null ? el('span', { class: 'muted small' }, 'exit ' + t.exit_code + ' ') : null,
        badge(t.status))));
  }
  box.append(ul);
}

// Runs on one time axis: each bar spans start (or submission) to completion.
function timeline(runs) {
  const bar = el('div', { class: 'timeline', title: 'runs from start to completion',
    style: `height:${Math.min(6, Math.max(1.6, runs.length * .5))}em` });
  if (!runs.length) return bar;
  const now = Date.now();
  const t0 = Math.min(...runs.map((t) => t.submitted_at));
  const t1 = Math.max(...runs.map((t) => t.completed_at || now));
  const span = Math.max(t1 - t0, 1);
  runs.forEach((t, i) => {
    const s = t.started_at || t.submitted_at;
    const a = (s - t0) / span * 100, b = ((t.completed_at || now) - t0) / span * 100;
    const h = 100 / runs.length;
    bar.append(el('span', { class: 'st-' + t.status,
      style: `left:${a}%;width:${Math.max(b - a, .5)}%;top:${i * h}%;height:${Math.max(h, 8)}%`,
      title: t.task_id + ' ' + t.status + ' ' + when(t.submitted_at) }));
  });
  return bar;
}

function runInfo(t) {
  const info = el('table', { class: 'info' });
  const row = (k, v) => info.append(el('tr', {}, el('th', {}, k), el('td', {}, v)));
  row('Status', badge(t.status));
  row('User', t.user_id);
  row('Command', el('code', {}, t.argv && t.argv.length ? t.argv.join(' ') : t.command || '-'));
  row('Image', t.docker_image);
  row('Resources', `${t.req_cpu} CPU, ${size(t.req_memory)} memory` +
    (t.req_gpu ? `, ${t.req_gpu} GPU` : '') + (t.req_storage ? `, ${size(t.req_storage)} storage` : ''));
  row('Worker', t.worker_id || '-');
  row('Submitted', when(t.submitted_at));
  row('Started', when(t.started_at));
  row('Completed', when(t.completed_at));
  row('Duration', durStr(dur(t)));
  row('Attempts', t.attempts);
  row('Exit code', t.exit_code == null ? '-' : t.exit_code);
  if (t.error) row('Note', t.error);
  if (t.notes) row('Notes', t.notes);
  // Provenance: what the run read, by content.
  if (t.inputs && t.inputs.length) row('Inputs', el('div', {}, ...t.inputs.map((i) =>
    el('div', { class: 'input' }, el('code', {}, i.path), ` ${i.kind}, ${size(i.size)}, from ${i.source}, sha256 `,
      el('code', { title: 'SHA-256 of the ' + (i.kind === 'dir' ? 'directory as ustar' : 'file') }, i.sha256)))));
  row('Outputs', `${t.output_files} files, ${size(t.output_bytes)}`);
  row('Expires', t.pinned ? 'never (pinned)' : t.expires_at ? when(t.expires_at) : 'never');
  return info;
}

async function selectRun(id, file) {
  for (const li of $('runs').querySelectorAll('li')) li.classList.toggle('sel', li.dataset.id === id);
  const box = $('run');
  if (state.run !== id || !state.files) {
    state.run = id;
    state.files = null;
    state.open = new Set();
    const t = await (await api('/api/tasks/' + encodeURIComponent(id))).json();
    state.task = t;
    box.replaceChildren(el('h2', {}, t.task_name + ' — ' + t.task_id), el('div', { id: 'info' }, runInfo(t)));
    box.append(el('div', { class: 'actions' },
      download('/api/tasks/' + encodeURIComponent(id) + '/archive?format=zip', 'Run (zip)'),
      download('/api/tasks/' + encodeURIComponent(id) + '/archive?format=tar.gz', 'Run (tar.gz)'),
      download('/api/tasks/' + encodeURIComponent(id) + '/log', 'Whole log')));
    const files = el('div', { id: 'files' }, el('p', { class: 'muted' }, 'Loading files…'));
    const preview = el('div', { id: 'preview' });
    const log = el('pre', { class: 'log', id: 'log' });
    box.append(el('h2', {}, 'Files'), el('div', { class: 'split' }, files, preview), el('h2', {}, 'Log'), log);
    try {
      state.files = await listAll('/api/files?task_id=' + encodeURIComponent(id), 'files');
      files.replaceChildren(state.files.length ? fileBrowser(id, state.files) : el('p', { class: 'muted' }, 'No stored files.'));
    } catch (e) { files.replaceChildren(el('p', { class: 'err' }, e.message)); state.files = []; }
    if (FINAL.has(t.status)) await loadLog(id);
  }
  // Also when only the file changed: a route change stopped both.
  if (!FINAL.has(state.task.status)) {
    if (!logFollow) followLog(id);
    if (!poller) pollRun(id);
  }
  state.file = file;
  if (state.vl) state.vl.refresh();
  const f = file ? state.files.find((x) => x.file_name === file)
    : state.files.find((x) => textExt.test(x.file_name) && x.file_size < 65536);   // something useful at once
  if (f) await showPreview($('preview'), fileHref(id, f.file_name), f.file_name, f.file_size);
  else if (file) $('preview').replaceChildren(el('p', { class: 'err' }, 'no file ' + file + ' in this run'));
}
// The log view keeps the last LOG_KEEP characters (the whole log is one
// click away, and `cloudai logs ID` has it all).
const LOG_KEEP = 512 * 1024;
function logShow(text, append) {
  const pre = $('log');
  if (!pre) return;
  const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
  let all = (append ? pre.dataset.text || '' : '') + text;
  if (all.length > LOG_KEEP) all = all.slice(all.indexOf('\n', all.length - LOG_KEEP) + 1);
  pre.dataset.text = all;
  pre.textContent = all || '(empty)';
  if (atEnd || !append) pre.scrollTop = pre.scrollHeight;
}
function stopLog() {
  if (logFollow) logFollow.abort();
  logFollow = null;
}
async function loadLog(id) {
  try {
    logShow(await (await api('/api/tasks/' + encodeURIComponent(id) + '/log?tail=' + LOG_KEEP)).text(), false);
  } catch (e) { $('log').textContent = e.message; }
}
// The log of a running task, pushed by the master as server-sent events
// (GET .../log?follow=1, with the bearer token like every API call, so
// fetch and a small parser rather than EventSource). Resumes from the
// last event's id if the stream breaks; ends with the task.
async function followLog(id) {
  stopLog();
  const ctl = new AbortController();
  logFollow = ctl;
  let last = null, ended = false;
  logShow('', false);
  $('log').classList.add('live');
  for (let tries = 0; !ended && !ctl.signal.aborted && tries < 20; tries++) {
    try {
      const h = hdrs();
      if (last !== null) h['Last-Event-ID'] = last;
      const r = await fetch('/api/tasks/' + encodeURIComponent(id) + '/log?follow=1',
        { headers: h, cache: 'no-store', signal: ctl.signal });
      if (!r.ok || !r.body) throw new Error(r.statusText);
      const rd = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await rd.read();
        if (done) break;
        buf += value;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const ev = { event: 'message', data: [], id: null };
          for (const line of buf.slice(0, i).split('\n')) {
            const c = line.indexOf(':');
            if (c === 0) continue;                       // a comment: keepalive
            const k = c < 0 ? line : line.slice(0, c), v = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
            if (k === 'data') ev.data.push(v); else if (k === 'event') ev.event = v; else if (k === 'id') ev.id = v;
          }
          buf = buf.slice(i + 2);
          if (ev.id !== null) last = ev.id;
          if (state.run !== id) return;
          if (ev.event === 'log') logShow(ev.data.join('\n') + '\n', true);
          else if (ev.event === 'restart') logShow('[the task started again]\n', true);
          else if (ev.event === 'end') ended = true;
        }
      }
    } catch (e) {
      if (ctl.signal.aborted) return;
      await new Promise((ok) => setTimeout(ok, 1000));
    }
  }
  if (logFollow === ctl) logFollow = null;
  const pre = $('log');
  if (pre && state.run === id) { pre.classList.remove('live'); pre.dataset.ended = '1'; }
}
// A running task updates by itself: its record by conditional GET (a 304
// costs nothing), its log as the master pushes it; when it finishes, its files.
function pollRun(id) {
  poller = setTimeout(async () => {
    if (state.run !== id) return;
    try {
      const t = await apiIfChanged('/api/tasks/' + encodeURIComponent(id));
      if (t && state.run === id) { state.task = t; $('info').replaceChildren(runInfo(t)); }
      if (t && FINAL.has(t.status)) { state.files = null; state.names = []; return route(); }
    } catch (e) { /* shown on the next full load */ }
    if (state.run === id) pollRun(id);
  }, 2000);
}

// ---- files: a collapsible tree in a list that renders only visible rows ----------------

function buildTree(files) {
  const root = { name: '', path: '', dirs: new Map(), files: [], size: 0, count: 0 };
  for (const f of files) {
    const parts = f.file_name.split('/');
    let n = root;
    n.size += f.file_size; n.count++;
    let p = '';
    for (const part of parts.slice(0, -1)) {
      p += part + '/';
      if (!n.dirs.has(part)) n.dirs.set(part, { name: part, path: p, dirs: new Map(), files: [], size: 0, count: 0 });
      n = n.dirs.get(part);
      n.size += f.file_size; n.count++;
    }
    n.files.push(f);
  }
  return root;
}
// Rows now visible: the tree flattened through open directories, or with
// a search, every file whose path contains it.
function flatRows(root, q) {
  const rows = [];
  if (q) {
    const ql = q.toLowerCase();
    for (const f of state.files) if (f.file_name.toLowerCase().includes(ql)) rows.push({ f, depth: 0, label: f.file_name });
    rows.sort((a, b) => coll.compare(a.label, b.label));
    return rows;
  }
  const walk = (n, depth) => {
    for (const d of [...n.dirs.values()].sort((a, b) => coll.compare(a.name, b.name))) {
      rows.push({ d, depth });
      if (state.open.has(d.path)) walk(d, depth + 1);
    }
    for (const f of n.files.sort((a, b) => coll.compare(a.file_name, b.file_name)))
      rows.push({ f, depth, label: f.file_name.split('/').pop() });
  };
  walk(root, 0);
  return rows;
}
const ROW = 26;
function fileBrowser(id, files) {
  const root = buildTree(files);
  // Small runs open fully; large ones start with their top level.
  if (files.length <= 2000) {
    const all = (n) => { for (const d of n.dirs.values()) { state.open.add(d.path); all(d); } };
    all(root);
  }
  const search = el('input', { type: 'search', placeholder: `search ${files.length} files`, class: 'search', 'aria-label': 'search files' });
  const count = el('span', { class: 'muted small' });
  const head = el('div', { class: 'frow fhead' }, el('span', {}, 'Name'), el('span', { class: 'size' }, 'Size'),
    el('span', {}, 'SHA-256'), el('span', {}, ''));
  const inner = el('div', { class: 'vinner' });
  const view = el('div', { class: 'vlist' }, inner);
  let rows = [];
  const draw = () => {
    const first = Math.max(0, Math.floor(view.scrollTop / ROW) - 5);
    const last = Math.min(rows.length, first + Math.ceil((view.clientHeight || 500) / ROW) + 10);
    const out = [];
    for (let i = first; i < last; i++) out.push(fileRow(id, rows[i], i));
    inner.replaceChildren(...out);
  };
  const refresh = () => {
    rows = flatRows(root, search.value.trim());
    inner.style.height = rows.length * ROW + 'px';
    count.textContent = search.value.trim() ? `${rows.length} match` + (rows.length === 1 ? '' : 'es') : '';
    draw();
  };
  view.addEventListener('scroll', () => requestAnimationFrame(draw));
  search.addEventListener('input', refresh);
  state.vl = { refresh };
  refresh();
  return el('div', {}, el('div', { class: 'ftools' }, search, count), head, view);
}
function fileRow(id, r, i) {
  const style = `top:${i * ROW}px`;
  const pad = `padding-left:${r.depth * 1.1 + .3}em`;
  if (r.d) {
    const open = state.open.has(r.d.path);
    return el('div', { class: 'frow dirrow', style, onclick: () => { open ? state.open.delete(r.d.path) : state.open.add(r.d.path); state.vl.refresh(); } },
      el('span', { class: 'dir', style: pad }, (open ? '▾ ' : '▸ ') + r.d.name + '/'),
      el('span', { class: 'size' }, size(r.d.size)), el('span', { class: 'muted small' }, r.d.count + ' files'), el('span'));
  }
  const f = r.f;
  const href = fileHref(id, f.file_name);
  const route = '#/runs/' + encodeURIComponent(id) + '/files/' + enc(f.file_name);
  return el('div', { class: 'frow' + (state.file === f.file_name ? ' sel' : ''), style },
    el('a', { class: 'file', style: pad, href: route, title: f.file_name }, r.label),
    el('span', { class: 'size' }, size(f.file_size)),
    el('span', { class: 'hash', title: f.sha256 }, f.sha256.slice(0, 8)),
    el('span', {}, download(href, 'download')));
}

const textExt = /\.(txt|log|md|json|jsonl|csv|tsv|yaml|yml|py|sh|ini|cfg|toml|xml)$/i;
const imgExt = /\.(png|jpe?g|gif|webp)$/i;
function esc(s) {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

// The preview document is built here from escaped text (or a data: URL
// for images) and shown with sandbox="" (no scripts, unique origin).
async function showPreview(box, href, name, bytes) {
  const limit = 256 * 1024;
  let body;
  try {
    if (imgExt.test(name)) {
      if (bytes > 8 * 1024 * 1024) throw new Error('image too large to preview');
      const blob = await (await api(href)).blob();
      const url = await new Promise((ok) => { const r = new FileReader(); r.onload = () => ok(r.result); r.readAsDataURL(blob); });
      body = `<img alt="" style="max-width:100%" src="${esc(url)}">`;
    } else if (!textExt.test(name)) {
      body = '<p>' + esc(name) + ': ' + esc(size(bytes)) + ', no preview for this type (download it).</p>';
    } else {
      const headers = hdrs();
      headers.Range = 'bytes=0-' + (limit - 1);
      const r = await fetch(href, { headers });
      if (!r.ok && r.status !== 206) throw new Error(r.statusText);
      let text = await r.text();
      const cut = bytes > limit ? `\n… (first ${size(limit)} of ${size(bytes)})` : '';
      if (/\.json$/i.test(name) && !cut) { try { text = JSON.stringify(JSON.parse(text), null, 2); } catch (e) { /* show as is */ } }
      if (/\.(csv|tsv)$/i.test(name)) {
        const sep = /\.tsv$/i.test(name) ? '\t' : ',';
        const rows = text.split('\n').filter((l) => l).slice(0, 500);
        body = '<table>' + rows.map((l, i) => '<tr>' + l.split(sep).map((c) =>
          (i ? '<td>' : '<th>') + esc(c) + (i ? '</td>' : '</th>')).join('') + '</tr>').join('') + '</table>' + esc(cut);
      } else {
        body = '<pre>' + esc(text + cut) + '</pre>';
      }
    }
  } catch (e) { body = '<p>' + esc(e.message) + '</p>'; }
  const doc = '<!doctype html><meta charset="utf-8"><style>body{font:13px monospace;margin:.5em}' +
    'table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}pre{white-space:pre-wrap}</style>' + body;
  const frame = el('iframe', { class: 'preview', sandbox: '', title: 'preview of ' + name });
  frame.srcdoc = doc;
  box.replaceChildren(el('h2', {}, 'Preview: ' + name), frame);
}

// ---- the task table across names ---------------------------------------------------------

let tsort = { key: 'submitted_at', dir: -1 };
const tcols = [
  ['status', 'Status', (t) => t.status], ['user_id', 'User', (t) => t.user_id],
  ['task_name', 'Name', (t) => t.task_name], ['task_id', 'Task', (t) => t.task_id],
  ['submitted_at', 'Submitted', (t) => t.submitted_at], ['duration', 'Duration', (t) => dur(t) ?? -1],
  ['worker_id', 'Worker', (t) => t.worker_id || ''], ['exit_code', 'Exit', (t) => t.exit_code ?? -999],
];
async function tasksView() {
  const box = $('tasks');
  if (!box.firstChild) {
    const st = el('select', { id: 'tf-status', 'aria-label': 'status' }, el('option', { value: '' }, 'any status'),
      ...['queued', 'assigned', 'running', 'uploading', 'completed', 'failed', 'cancelled'].map((s) => el('option', { value: s }, s)));
    const user = el('input', { id: 'tf-user', type: 'search', placeholder: 'user', 'aria-label': 'user' });
    const name = el('input', { id: 'tf-name', type: 'search', placeholder: 'name (glob)', 'aria-label': 'name' });
    let tm = null;
    const again = () => { clearTimeout(tm); tm = setTimeout(() => { clearTimeout(poller); tasksView(); }, 300); };
    st.addEventListener('change', again); user.addEventListener('input', again); name.addEventListener('input', again);
    box.append(el('h2', {}, 'Tasks'), el('div', { class: 'actions filters' }, st, user, name, el('span', { id: 'tf-count', class: 'muted' })),
      el('div', { id: 'tasktable' }, el('p', { class: 'muted' }, 'Loading…')));
  }
  const q = [];
  if ($('tf-status').value) q.push('status=' + $('tf-status').value);
  if ($('tf-user').value.trim()) q.push('user_id=' + encodeURIComponent($('tf-user').value.trim()));
  if ($('tf-name').value.trim()) q.push('pattern=' + encodeURIComponent($('tf-name').value.trim()));
  const path = '/api/tasks' + (q.length ? '?' + q.join('&') : '');
  const tasks = await listAll(path, 'tasks');
  renderTasks(tasks);
  // Live: while any task shown is not final, poll the first page with
  // If-None-Match; a 304 means nothing moved.
  const poll = () => {
    poller = setTimeout(async () => {
      if ($('tasks').hidden) return;
      try {
        const r = await apiIfChanged(path + (q.length ? '&' : '?') + 'limit=10000');
        if (r) return tasksView();
      } catch (e) { /* next round */ }
      poll();
    }, 3000);
  };
  if (tasks.some((t) => !FINAL.has(t.status))) poll();
}
function renderTasks(tasks) {
  const col = tcols.find((c) => c[0] === tsort.key) || tcols[4];
  const v = col[2];
  tasks.sort((a, b) => { const x = v(a), y = v(b); return (typeof x === 'string' ? coll.compare(x, y) : x - y) * tsort.dir; });
  $('tf-count').textContent = tasks.length + ' task' + (tasks.length === 1 ? '' : 's');
  const head = el('tr', {}, ...tcols.map(([k, label]) => el('th', { class: 'sortable', onclick: () => {
    tsort = { key: k, dir: tsort.key === k ? -tsort.dir : (k === 'submitted_at' || k === 'duration' ? -1 : 1) };
    renderTasks(tasks);
  } }, label + (tsort.key === k ? (tsort.dir > 0 ? ' ▲' : ' ▼') : ''))));
  const table = el('table', { class: 'tasks' }, head);
  for (const t of tasks.slice(0, 5000)) {
    table.append(el('tr', { class: 'row-' + t.status },
      el('td', {}, badge(t.status)), el('td', {}, t.user_id),
      el('td', {}, el('a', { href: '#/names/' + encodeURIComponent(t.task_name) }, t.task_name)),
      el('td', {}, el('a', { href: '#/runs/' + encodeURIComponent(t.task_id), class: 'mono' }, t.task_id)),
      el('td', {}, when(t.submitted_at)), el('td', { class: 'size' }, durStr(dur(t))),
      el('td', {}, t.worker_id || '-'), el('td', { class: 'size' }, t.exit_code == null ? '-' : t.exit_code)));
  }
  const more = tasks.length > 5000 ? el('p', { class: 'muted' }, `first 5000 of ${tasks.length} shown; narrow the filters`) : null;
  $('tasktable').replaceChildren(tasks.length ? table : el('p', { class: 'muted' }, 'No tasks match.'), more || '');
}

// ---- compare the runs of one name --------------------------------------------------------

// Numbers in a JSON document, flattened to dotted keys.
function scalars(obj, pre, out) {
  for (const [k, v] of Object.entries(obj || {})) {
    if (typeof v === 'number' && isFinite(v)) out[pre + k] = v;
    else if (v && typeof v === 'object' && !Array.isArray(v)) scalars(v, pre + k + '.', out);
  }
  return out;
}
async function fetchText(id, name) {
  try {
    const r = await fetch(fileHref(id, name), { headers: hdrs() });
    return r.ok ? await r.text() : null;
  } catch (e) { return null; }
}
function parseCsv(text) {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l);
  if (lines.length < 2) return null;
  const head = lines[0].split(',').map((s) => s.trim());
  const rows = lines.slice(1, 100001).map((l) => l.split(',').map(Number));
  return { head, rows };
}
let csort = { key: 'submitted', dir: -1 };
async function compareView(name) {
  const box = $('compare');
  box.replaceChildren(el('h2', {}, 'Compare runs of ' + name), el('p', { class: 'muted' }, 'Loading…'));
  const q = '?task_name=' + encodeURIComponent(name);
  const all = await listAll('/api/tasks' + q + userParam('&'), 'tasks');
  const runs = all.filter((t) => FINAL.has(t.status)).slice(0, 40);
  const files = new Map();
  const lists = await Promise.all(runs.map((t) => listAll('/api/files?task_id=' + encodeURIComponent(t.task_id), 'files')));
  runs.forEach((t, i) => files.set(t.task_id, new Set(lists[i].map((f) => f.file_name))));
  const data = await Promise.all(runs.map(async (t) => {
    const have = files.get(t.task_id), s = {};
    for (const f of ['result.json', 'metrics.json']) {
      if (!have.has(f)) continue;
      try { scalars(JSON.parse(await fetchText(t.task_id, f)), '', s); } catch (e) { /* not JSON */ }
    }
    const csv = have.has('metrics.csv') ? parseCsv((await fetchText(t.task_id, 'metrics.csv')) || '') : null;
    return { t, s, csv };
  }));
  const keys = [...new Set(data.flatMap((d) => Object.keys(d.s)))].sort(coll.compare);
  box.replaceChildren(el('h2', {}, 'Compare runs of ' + name),
    el('p', {}, el('a', { href: '#/names/' + encodeURIComponent(name) }, '← runs of ' + name),
      el('span', { class: 'muted' }, ` · ${runs.length} finished run${runs.length === 1 ? '' : 's'}; scalars from result.json and metrics.json, curves from metrics.csv`)));
  const tbl = el('div', { id: 'cmptable' });
  box.append(tbl);
  const draw = () => {
    const val = (d, k) => k === 'submitted' ? d.t.submitted_at : k === 'run' ? d.t.task_id : k === 'status' ? d.t.status : d.s[k];
    const rows = data.slice().sort((a, b) => {
      const x = val(a, csort.key), y = val(b, csort.key);
      if (x == null) return 1; if (y == null) return -1;
      return (typeof x === 'string' ? coll.compare(x, y) : x - y) * csort.dir;
    });
    const th = (k, label) => el('th', { class: 'sortable', onclick: () => { csort = { key: k, dir: csort.key === k ? -csort.dir : -1 }; draw(); } },
      label + (csort.key === k ? (csort.dir > 0 ? ' ▲' : ' ▼') : ''));
    const t = el('table', { class: 'cmp' }, el('tr', {}, th('run', 'Run'), th('submitted', 'Submitted'), th('status', 'Status'), ...keys.map((k) => th(k, k))));
    for (const d of rows) {
      t.append(el('tr', {}, el('td', {}, el('a', { href: '#/runs/' + encodeURIComponent(d.t.task_id), class: 'mono' }, d.t.task_id)),
        el('td', {}, when(d.t.submitted_at)), el('td', {}, badge(d.t.status)),
        ...keys.map((k) => el('td', { class: 'size' }, d.s[k] == null ? '-' : +d.s[k].toPrecision(6)))));
    }
    tbl.replaceChildren(keys.length ? t : el('p', { class: 'muted' }, 'No result.json or metrics.json with numbers in these runs.'));
  };
  draw();
  const withCsv = data.filter((d) => d.csv);
  if (withCsv.length) {
    const series = [...new Set(withCsv.flatMap((d) => d.csv.head.slice(1)))];
    const charts = el('div', { class: 'charts' });
    for (const s of series) charts.append(chart(s, withCsv));
    box.append(el('h2', {}, 'metrics.csv'), charts);
  }
  await compareImages(runs, files, box);
}

// Images at the same path in several runs, side by side (data: URLs, as
// the CSP allows no blob:), newest run first; at most 6 paths, 4 MiB each.
async function compareImages(runs, files, box) {
  const count = new Map();
  for (const t of runs) for (const f of files.get(t.task_id)) if (imgExt.test(f)) count.set(f, (count.get(f) || 0) + 1);
  const paths = [...count.entries()].filter((e) => e[1] > 1).map((e) => e[0]).sort(coll.compare).slice(0, 6);
  if (!paths.length) return;
  box.append(el('h2', {}, 'Images'));
  for (const pth of paths) {
    const row = el('div', { class: 'imgcmp', 'data-path': pth });
    box.append(el('h3', {}, pth), row);
    for (const t of runs) {
      if (!files.get(t.task_id).has(pth)) continue;
      try {
        const r = await api(fileHref(t.task_id, pth));
        const blob = await r.blob();
        if (blob.size > 4 * 1024 * 1024) throw new Error('too large to show');
        const url = await new Promise((ok) => { const fr = new FileReader(); fr.onload = () => ok(fr.result); fr.readAsDataURL(blob); });
        row.append(el('figure', {}, el('img', { src: url, alt: pth + ' of ' + t.task_id }),
          el('figcaption', {}, el('a', { href: '#/runs/' + encodeURIComponent(t.task_id) + '/files/' + enc(pth) }, t.task_id))));
      } catch (e) { row.append(el('figure', {}, el('p', { class: 'err' }, e.message), el('figcaption', {}, t.task_id))); }
    }
  }
}

// One SVG line chart: x = the CSV's first column, one polyline per run.
const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
function chart(series, data) {
  const W = 460, H = 260, L = 52, R = 12, T = 22, B = 34;
  const lines = [];
  for (const d of data) {
    const c = d.csv.head.indexOf(series);
    if (c < 1) continue;
    const pts = d.csv.rows.filter((r) => isFinite(r[0]) && isFinite(r[c])).map((r) => [r[0], r[c]]);
    if (pts.length) lines.push({ d, pts });
  }
  const xs = lines.flatMap((l) => l.pts.map((p) => p[0])), ys = lines.flatMap((l) => l.pts.map((p) => p[1]));
  let x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) { y0 -= 1; y1 += 1; }
  const X = (x) => L + (x - x0) / (x1 - x0) * (W - L - R), Y = (y) => H - B - (y - y0) / (y1 - y0) * (H - T - B);
  const g = svg('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', 'aria-label': series + ' per run' });
  g.append(svg('text', { x: L, y: 14, class: 'ctitle' }, series));
  g.append(svg('line', { x1: L, y1: H - B, x2: W - R, y2: H - B, class: 'axis' }), svg('line', { x1: L, y1: T, x2: L, y2: H - B, class: 'axis' }));
  for (let i = 0; i <= 4; i++) {
    const yv = y0 + (y1 - y0) * i / 4, xv = x0 + (x1 - x0) * i / 4;
    g.append(svg('text', { x: L - 4, y: Y(yv) + 4, class: 'tick', 'text-anchor': 'end' }, +yv.toPrecision(3)));
    g.append(svg('line', { x1: L, y1: Y(yv), x2: W - R, y2: Y(yv), class: 'grid' }));
    g.append(svg('text', { x: X(xv), y: H - B + 14, class: 'tick', 'text-anchor': 'middle' }, +xv.toPrecision(3)));
  }
  g.append(svg('text', { x: (L + W - R) / 2, y: H - 4, class: 'tick', 'text-anchor': 'middle' }, data[0].csv.head[0]));
  const legend = el('div', { class: 'legend' });
  lines.forEach((l, i) => {
    const color = PALETTE[i % PALETTE.length];
    g.append(svg('polyline', { class: 'series', 'data-run': l.d.t.task_id, fill: 'none', stroke: color, 'stroke-width': 2,
      points: l.pts.map((p) => X(p[0]).toFixed(1) + ',' + Y(p[1]).toFixed(1)).join(' ') },
      svg('title', {}, l.d.t.task_id + ': ' + l.pts.map((p) => p[1]).join(' '))));
    legend.append(el('span', {}, el('i', { style: 'background:' + color }), l.d.t.task_id.slice(-12)));
  });
  return el('figure', { class: 'chartbox', 'data-series': series }, g, legend);
}

let timer = null;
$('filter').addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(() => { state.names = []; state.name = null; route(); }, 300); });
$('userfilter').addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(() => { state.names = []; state.name = null; route(); }, 300); });
start();
