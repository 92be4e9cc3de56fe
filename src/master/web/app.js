// CloudAI web file browser: task names -> runs by time -> file tree.
// No framework, no build step; every string from the API goes through
// textContent (never innerHTML), and previews render in a sandboxed
// iframe that may run no script.
'use strict';
const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem('cloudai-token') || '';
let state = { names: [], runs: [], name: null, run: null };

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k === 'style') e.style.cssText = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
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
function enc(path) { return path.split('/').map(encodeURIComponent).join('/'); }

async function api(path, opts) {
  const headers = token ? { Authorization: 'Bearer ' + token } : {};
  const r = await fetch(path, Object.assign({ headers }, opts || {}));
  if (r.status === 401) { askToken(); throw new Error('sign in required'); }
  if (!r.ok) {
    let msg = r.statusText;
    try { msg = (await r.json()).error; } catch (e) { /* not JSON */ }
    throw new Error(msg);
  }
  return r;
}
function askToken() {
  $('login').hidden = false;
  const d = $('tokendlg');
  if (!d.open && d.showModal) d.showModal();
}
$('tokendlg').addEventListener('close', () => {
  token = $('token').value.trim();
  sessionStorage.setItem('cloudai-token', token);
  load();
});
$('login').addEventListener('click', askToken);

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

async function load() {
  const pat = $('filter').value.trim();
  try {
    const tasks = await listAll('/api/tasks' + (pat ? '?pattern=' + encodeURIComponent(pat) : ''), 'tasks');
    const by = new Map();
    for (const t of tasks) {
      if (!by.has(t.task_name)) by.set(t.task_name, []);
      by.get(t.task_name).push(t);
    }
    state.names = [...by.entries()].sort((a, b) => b[1][0].submitted_at - a[1][0].submitted_at);
    renderNames();
    if (!state.name && state.names.length) selectName(state.names[0][0]);
    else if (state.name) selectName(state.name, true);
  } catch (e) {
    $('names').replaceChildren(el('p', { class: 'err' }, e.message));
  }
}

function renderNames() {
  const ul = el('ul');
  for (const [name, runs] of state.names) {
    ul.append(el('li', { class: name === state.name ? 'sel' : '', onclick: () => selectName(name) },
      el('span', {}, name), el('span', { class: 'badge' }, runs.length)));
  }
  $('names').replaceChildren(state.names.length ? ul : el('p', { class: 'muted' }, 'No tasks yet.'));
}

function selectName(name, keepRun) {
  state.name = name;
  renderNames();
  const runs = (state.names.find((n) => n[0] === name) || [null, []])[1];
  state.runs = runs;
  const box = $('runs');
  box.replaceChildren(el('h2', {}, name));
  box.append(el('div', { class: 'actions' },
    download('/api/archive?task_name=' + encodeURIComponent(name) + '&format=zip', 'All runs (zip)'),
    download('/api/archive?task_name=' + encodeURIComponent(name) + '&format=tar.gz', 'All runs (tar.gz)')));
  box.append(timeline(runs));
  const ul = el('ul');
  for (const t of runs) {
    ul.append(el('li', { class: state.run === t.task_id ? 'sel' : '', onclick: () => selectRun(t.task_id) },
      el('span', {}, when(t.submitted_at)),
      el('span', { class: 'badge st-' + t.status }, t.status)));
  }
  box.append(ul);
  if (!keepRun || !runs.some((t) => t.task_id === state.run)) {
    if (runs.length) selectRun(runs[0].task_id);
  } else {
    selectRun(state.run);
  }
}

// Runs on one time axis: each bar spans submission to completion.
function timeline(runs) {
  const bar = el('div', { class: 'timeline', title: 'runs from submission to completion' });
  if (!runs.length) return bar;
  const now = Date.now();
  const t0 = Math.min(...runs.map((t) => t.submitted_at));
  const t1 = Math.max(...runs.map((t) => t.completed_at || now));
  const span = Math.max(t1 - t0, 1);
  for (const t of runs) {
    const a = (t.submitted_at - t0) / span * 100, b = ((t.completed_at || now) - t0) / span * 100;
    bar.append(el('span', { class: 'st-' + t.status, style: `left:${a}%;width:${Math.max(b - a, .5)}%`,
      title: t.task_id + ' ' + t.status + ' ' + when(t.submitted_at) }));
  }
  return bar;
}

async function selectRun(id) {
  state.run = id;
  for (const li of $('runs').querySelectorAll('li')) li.classList.remove('sel');
  const idx = state.runs.findIndex((t) => t.task_id === id);
  const lis = $('runs').querySelectorAll('li');
  if (idx >= 0 && lis[idx]) lis[idx].classList.add('sel');
  const t = state.runs[idx] || (await (await api('/api/tasks/' + encodeURIComponent(id))).json());
  const box = $('run');
  box.replaceChildren(el('h2', {}, t.task_name + ' — ' + t.task_id));
  const info = el('table', { class: 'info' });
  const row = (k, v) => info.append(el('tr', {}, el('th', {}, k), el('td', {}, v)));
  row('Status', el('span', { class: 'badge st-' + t.status }, t.status));
  row('User', t.user_id);
  row('Image', t.docker_image);
  row('Submitted', when(t.submitted_at));
  row('Completed', when(t.completed_at));
  row('Exit code', t.exit_code == null ? '-' : t.exit_code);
  if (t.error) row('Note', t.error);
  if (t.notes) row('Not stored', t.notes);
  row('Expires', t.pinned ? 'never (pinned)' : t.expires_at ? when(t.expires_at) : 'never');
  box.append(info);
  box.append(el('div', { class: 'actions' },
    download('/api/tasks/' + encodeURIComponent(id) + '/archive?format=zip', 'Run (zip)'),
    download('/api/tasks/' + encodeURIComponent(id) + '/archive?format=tar.gz', 'Run (tar.gz)')));
  const files = el('div', { id: 'files' }, el('p', { class: 'muted' }, 'Loading files…'));
  const preview = el('div', { id: 'preview' });
  const log = el('pre', { class: 'log', id: 'log' });
  box.append(el('h2', {}, 'Files'), files, preview, el('h2', {}, 'Log'), log);
  try {
    const fl = await listAll('/api/files?task_id=' + encodeURIComponent(id), 'files');
    files.replaceChildren(fl.length ? tree(id, fl, preview) : el('p', { class: 'muted' }, 'No stored files.'));
    // Show something useful at once: the first small text file.
    const first = fl.find((f) => textExt.test(f.file_name) && f.file_size < 65536);
    if (first) showPreview(preview, '/api/files/' + encodeURIComponent(id) + '/' + enc(first.file_name),
      first.file_name.split('/').pop(), first.file_size);
  } catch (e) { files.replaceChildren(el('p', { class: 'err' }, e.message)); }
  try {
    log.textContent = await (await api('/api/tasks/' + encodeURIComponent(id) + '/log')).text() || '(empty)';
  } catch (e) { log.textContent = e.message; }
}

// Files as a tree: directories (with their total size) before files.
function tree(id, files, preview) {
  const root = { dirs: new Map(), files: [], size: 0 };
  for (const f of files) {
    const parts = f.file_name.split('/');
    let n = root;
    n.size += f.file_size;
    for (const p of parts.slice(0, -1)) {
      if (!n.dirs.has(p)) n.dirs.set(p, { dirs: new Map(), files: [], size: 0 });
      n = n.dirs.get(p);
      n.size += f.file_size;
    }
    n.files.push(f);
  }
  const table = el('table', { class: 'files' },
    el('tr', {}, el('th', {}, 'Name'), el('th', {}, 'Size'), el('th', {}, 'SHA-256'), el('th', {}, '')));
  const walk = (n, depth) => {
    for (const [name, d] of [...n.dirs.entries()].sort()) {
      table.append(el('tr', {}, el('td', { class: 'dir', style: `padding-left:${depth + .5}em` }, name + '/'),
        el('td', { class: 'size' }, size(d.size)), el('td'), el('td')));
      walk(d, depth + 1.2);
    }
    for (const f of n.files.sort((a, b) => a.file_name < b.file_name ? -1 : 1)) {
      const base = f.file_name.split('/').pop();
      const href = '/api/files/' + encodeURIComponent(id) + '/' + enc(f.file_name);
      table.append(el('tr', {},
        el('td', { class: 'file', style: `padding-left:${depth + .5}em` }, base),
        el('td', { class: 'size' }, size(f.file_size)),
        el('td', { class: 'hash', title: f.sha256 }, f.sha256.slice(0, 12)),
        el('td', {}, download(href, 'download'), ' ',
          previewable(base) ? el('button', { onclick: () => showPreview(preview, href, base, f.file_size) }, 'preview') : null)));
    }
  };
  walk(root, 0);
  return table;
}

const textExt = /\.(txt|log|md|json|jsonl|csv|tsv|yaml|yml|py|sh|ini|cfg|toml|xml)$/i;
const imgExt = /\.(png|jpe?g|gif|webp)$/i;
function previewable(name) { return textExt.test(name) || imgExt.test(name); }
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
    } else {
      const headers = token ? { Authorization: 'Bearer ' + token } : {};
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

let timer = null;
$('filter').addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(load, 300); });
load();
