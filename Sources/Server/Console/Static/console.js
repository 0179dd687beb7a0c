// The management console at /console. Every change goes through the REST API behind the session
// (/console/api/apps/<appkey>/rest/v1/...), so it has the REST API's rules and error codes.
// Every string from the network or the user is shown as text (dom.js), never as HTML.
import { el, replace, svg, formValues, wireTime } from './dom.js';
import { usersFromCSV } from './csv.js';

const root = document.getElementById('app');
const state = { session: null, apps: [], appkey: null };
const screens = [
  ['dashboard', 'Dashboard'], ['apps', 'Apps'], ['users', 'Users'], ['groups', 'Groups'], ['chatrooms', 'Chatrooms'],
  ['messages', 'Messages'], ['words', 'Sensitive words'], ['bots', 'Bots'], ['bridge', 'Bridge'],
];

// MARK: calls

class CallError extends Error {
  constructor(status, body) {
    const e = body && body.error;
    super(e ? `${e.code}: ${e.message}` : `HTTP ${status}`);
    this.status = status;
    this.code = e && e.code;
    this.body = body;
  }
}

async function call(method, path, body) {
  const headers = {};
  if (method !== 'GET') headers['X-CSRF-Token'] = (state.session && state.session.csrf) || '';
  let payload;
  if (body !== undefined) { headers['Content-Type'] = 'application/json'; payload = JSON.stringify(body); }
  const response = await fetch(path, { method, headers, body: payload, credentials: 'same-origin' });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!response.ok) {
    if (response.status === 401 && state.session && !path.endsWith('/session')) { signedOut('Your session ended; sign in again.'); }
    throw new CallError(response.status, data);
  }
  return data;
}

/** A REST API call as the selected app: rest('GET', '/v1/users?start=0&count=20'). */
function rest(method, path, body) {
  return call(method, `/console/api/apps/${encodeURIComponent(state.appkey)}/rest${path}`, body);
}

const isOperator = () => state.session && state.session.kind === 'operator';

// MARK: small widgets

function status(id) {
  return el('p', { class: 'result', role: 'status', id });
}

function show(node, text, ok = true) {
  node.textContent = text;
  node.className = ok ? 'result ok' : 'result error';
}

/** Runs an async action from a form or button, showing its error in `out`. */
function action(out, fn) {
  return async (event) => {
    if (event) event.preventDefault();
    try {
      await fn(event);
    } catch (e) {
      if (out) show(out, e.message, false);
    }
  };
}

function field(label, props) {
  return el('label', {}, label, el('input', props));
}

function table(headers, rows, props = {}) {
  return el('table', props, el('thead', {}, el('tr', {}, headers.map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, rows));
}

function section(title, ...children) {
  return el('section', { class: 'card' }, el('h2', {}, title), children);
}

// MARK: sign-in and frame

function signedOut(message) {
  state.session = null;
  showSignIn(message);
}

function showSignIn(message) {
  const error = el('p', { class: 'error', role: 'alert', id: 'signin-error' }, message || '');
  const appForm = el('form', { id: 'signin-app', class: 'card signin' },
    el('h2', {}, 'Sign in as an app'),
    field('AppKey', { name: 'appkey', required: true, autocomplete: 'username' }),
    field('Master secret', { name: 'master_secret', type: 'password', required: true, autocomplete: 'current-password' }),
    el('button', { type: 'submit' }, 'Sign in'));
  const operatorForm = el('form', { id: 'signin-operator', class: 'card signin' },
    el('h2', {}, 'Sign in as an operator'),
    field('Name', { name: 'operator', required: true, autocomplete: 'username' }),
    field('Password', { name: 'password', type: 'password', required: true, autocomplete: 'current-password' }),
    el('button', { type: 'submit' }, 'Sign in'));
  const submit = (form) => action(error, async () => {
    error.textContent = '';
    const values = formValues(form);
    if (form.elements.password) values.password = form.elements.password.value;
    if (form.elements.master_secret) values.master_secret = form.elements.master_secret.value;
    state.session = await call('POST', '/console/api/session', values);
    await enter();
  });
  appForm.addEventListener('submit', submit(appForm));
  operatorForm.addEventListener('submit', submit(operatorForm));
  replace(root, el('div', { class: 'signin-page' }, el('h1', {}, 'Mynah console'), error,
    el('div', { class: 'signin-forms' }, appForm, operatorForm)));
  appForm.elements.appkey.focus();
}

async function loadApps() {
  const { apps } = await call('GET', '/console/api/apps');
  state.apps = apps;
  if (!apps.some((a) => a.appkey === state.appkey)) state.appkey = apps.length ? apps[0].appkey : null;
}

async function enter() {
  await loadApps();
  const who = state.session.kind === 'operator' ? `operator ${state.session.name}` : `app ${state.session.appkey}`;
  const select = el('select', { id: 'app-select', 'aria-label': 'App' });
  const fillSelect = () => replace(select, state.apps.map((a) =>
    el('option', { value: a.appkey, selected: a.appkey === state.appkey }, `${a.name || a.appkey} (${a.appkey})`)));
  fillSelect();
  select.addEventListener('change', () => { state.appkey = select.value; route(); });
  state.refreshApps = async () => { await loadApps(); fillSelect(); };
  const nav = el('nav', { class: 'tabs', 'aria-label': 'Screens' },
    screens.map(([id, label]) => el('a', { href: `#${id}`, id: `nav-${id}`, onclick: (e) => {
      // The current screen's tab shows it again, with fresh numbers.
      if (location.hash === `#${id}`) { e.preventDefault(); route(); }
    } }, label)));
  const signOut = el('button', { type: 'button', id: 'sign-out' }, 'Sign out');
  signOut.addEventListener('click', action(null, async () => {
    try { await call('DELETE', '/console/api/session'); } finally { signedOut('Signed out.'); }
  }));
  state.main = el('div', { id: 'screen', class: 'screen', tabindex: '-1' });
  replace(root,
    el('header', { class: 'topbar' }, el('strong', {}, 'Mynah console'), el('span', { id: 'who' }, who), select, signOut),
    nav, state.main);
  if (!location.hash) location.hash = '#dashboard';
  route();
}

window.addEventListener('hashchange', () => { if (state.session) route(); });

async function route() {
  const id = (location.hash || '#dashboard').slice(1).split('/')[0];
  const known = screens.find(([name]) => name === id) ? id : 'dashboard';
  for (const [name] of screens) {
    const link = document.getElementById(`nav-${name}`);
    if (link) link.setAttribute('aria-current', name === known ? 'page' : 'false');
  }
  const render = { dashboard, apps, users, groups, chatrooms, messages, words, bots, bridge }[known];
  // Each visit renders into its own box, shown once ready and only if no later visit started meanwhile: a slow
  // screen left for another cannot overwrite it when its answers finally come.
  const visit = (state.visit || 0) + 1;
  state.visit = visit;
  replace(state.main, el('p', {}, 'Loading…'));
  const box = el('div', { class: 'screen-box' });
  try {
    if (!state.appkey && !['apps', 'bots', 'bridge'].includes(known)) {
      replace(box, section('No app', el('p', {}, 'There is no app yet. Create one on the Apps screen.')));
    } else {
      await render(box);
    }
  } catch (e) {
    replace(box, el('p', { class: 'error', role: 'alert' }, e.message));
  }
  if (state.visit === visit) replace(state.main, box);
}

// MARK: Dashboard

async function dashboard(main) {
  const s = await call('GET', `/console/api/apps/${encodeURIComponent(state.appkey)}/stats?days=14`);
  const cards = [
    ['Users', s.users], ['Active today', s.active_today], ['Active in 7 days', s.active_7d], ['Groups', s.groups],
    ['Sessions online', s.sessions_online], ['Bots connected', `${s.bots_connected} of ${s.bots}`],
  ];
  if (s.bridge_receipts) {
    cards.push(['Pushes received', s.bridge_receipts.received], ['Pushes not yet received', s.bridge_receipts.not_yet_received]);
  }
  replace(main,
    el('div', { class: 'stats', id: 'stats' }, cards.map(([label, value]) =>
      el('div', { class: 'stat card' }, el('span', { class: 'label' }, label), el('span', { class: 'value' }, String(value))))),
    section('Messages per day by type', chart(s.messages_per_day)));
}

const typeColors = { text: '#2f6fde', image: '#d9822b', voice: '#3aa35b', file: '#8e5cc2', location: '#c2485c',
  video: '#1f9aa6', custom: '#777777' };

function chart(days) {
  const types = [...new Set(days.flatMap((d) => Object.keys(d.counts)))].sort();
  const max = Math.max(1, ...days.map((d) => Object.values(d.counts).reduce((a, b) => a + b, 0)));
  const width = 640, height = 220, left = 36, bottom = 30, top = 10;
  const barWidth = (width - left) / days.length;
  const graph = svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img',
    'aria-label': 'Messages per day by type' });
  const plot = height - bottom - top;
  graph.append(svg('line', { x1: left, y1: top + plot, x2: width, y2: top + plot, class: 'axis' }));
  graph.append(svg('text', { x: left - 6, y: top + 8, 'text-anchor': 'end', class: 'tick' }, String(max)));
  graph.append(svg('text', { x: left - 6, y: top + plot, 'text-anchor': 'end', class: 'tick' }, '0'));
  days.forEach((d, i) => {
    let y = top + plot;
    for (const type of types) {
      const n = d.counts[type] || 0;
      if (!n) continue;
      const h = (n / max) * plot;
      y -= h;
      graph.append(svg('rect', { x: left + i * barWidth + 2, y, width: Math.max(1, barWidth - 4), height: h,
        fill: typeColors[type] || '#999' }, svg('title', {}, `${d.day}: ${n} ${type}`)));
    }
    if (i % 2 === 0) {
      graph.append(svg('text', { x: left + i * barWidth + barWidth / 2, y: height - 10, 'text-anchor': 'middle',
        class: 'tick' }, d.day.slice(5)));
    }
  });
  const legend = el('ul', { class: 'legend' }, (types.length ? types : ['text']).map((t) =>
    el('li', {}, el('span', { class: `swatch swatch-${typeColors[t] ? t : 'other'}` }), t)));
  const total = days.reduce((sum, d) => sum + Object.values(d.counts).reduce((a, b) => a + b, 0), 0);
  return el('figure', { class: 'chart-box' }, graph, legend,
    el('figcaption', {}, `${total} messages in ${days.length} days (UTC)`));
}

// MARK: Apps

async function apps(main) {
  await state.refreshApps();
  const rows = state.apps.map((a) => el('tr', { 'data-appkey': a.appkey },
    el('td', {}, a.name || ''), el('td', {}, el('code', {}, a.appkey)),
    el('td', {}, a.source === 'bots.yaml' ? 'bots.yaml' : 'created here'),
    el('td', {}, a.offline_messages ? 'yes' : 'no'), el('td', {}, a.friend_mode ? 'yes' : 'no'),
    el('td', {}, String(a.max_group_members))));
  const children = [section('Apps', table(['Name', 'AppKey', 'From', 'Offline messages', 'Friend mode', 'Group size'], rows,
    { id: 'apps-table' }))];
  if (isOperator()) {
    const out = status('create-app-result');
    const form = el('form', { id: 'create-app', class: 'inline-form' },
      field('Name', { name: 'name', required: true, maxlength: 64 }),
      field('Largest group', { name: 'max_group_members', type: 'number', min: 1, max: 100000, value: 500 }),
      el('label', { class: 'check' }, el('input', { type: 'checkbox', name: 'offline_messages', checked: true }), 'Offline messages'),
      el('label', { class: 'check' }, el('input', { type: 'checkbox', name: 'friend_mode' }), 'Friend mode'),
      el('button', { type: 'submit' }, 'Create app'));
    form.addEventListener('submit', action(out, async () => {
      const v = formValues(form);
      const created = await call('POST', '/console/api/apps', { name: v.name, offline_messages: v.offline_messages,
        friend_mode: v.friend_mode, max_group_members: Number(v.max_group_members) });
      await apps(main);
      const result = document.getElementById('create-app-result');
      replace(result, 'Created ', el('strong', {}, created.name), '. AppKey ', el('code', { id: 'new-appkey' }, created.appkey),
        ', master secret ', el('code', { id: 'new-secret' }, created.master_secret),
        ' (shown only now: keep it).');
      result.className = 'result ok';
    }));
    children.push(section('Create an app', form, out));
  }
  replace(main, children);
}

// MARK: Users

async function users(main, start = 0) {
  const count = 20;
  const page = await rest('GET', `/v1/users?start=${start}&count=${count}`);
  const out = status('users-result');
  const detail = el('div', { id: 'user-detail' });
  const row = (u) => {
    const name = u.username;
    const buttons = [
      ['Edit', () => editUser(detail, u, out)],
      ['Status', () => userStat(detail, name)],
      ['Forbid', async () => { await rest('PUT', `/v1/users/${encodeURIComponent(name)}/forbidden?disable=true`); show(out, `${name} is forbidden`); }],
      ['Allow', async () => { await rest('PUT', `/v1/users/${encodeURIComponent(name)}/forbidden?disable=false`); show(out, `${name} may log in`); }],
      ['Reset password', () => resetPassword(detail, name, out)],
      ['Delete', async () => {
        if (!confirm(`Delete ${name}?`)) return;
        await rest('DELETE', `/v1/users/${encodeURIComponent(name)}`);
        await users(main, start);
        show(document.getElementById('users-result'), `${name} deleted`);
      }],
    ];
    return el('tr', { 'data-username': name }, el('td', {}, name), el('td', { class: 'nickname' }, u.nickname || ''),
      el('td', {}, u.ctime || ''),
      el('td', { class: 'actions' }, buttons.map(([label, fn]) =>
        el('button', { type: 'button', onclick: action(out, fn) }, label))));
  };
  const search = el('form', { id: 'user-search', class: 'inline-form', role: 'search' },
    field('Username', { name: 'username', required: true }), el('button', { type: 'submit' }, 'Find'));
  const list = el('tbody', {}, page.users.map(row));
  search.addEventListener('submit', action(out, async () => {
    const name = formValues(search).username;
    const u = await rest('GET', `/v1/users/${encodeURIComponent(name)}`);
    replace(list, row(u));
    show(out, `found ${u.username}`);
  }));
  const pager = el('div', { class: 'pager' },
    el('button', { type: 'button', disabled: start === 0, onclick: () => users(main, Math.max(0, start - count)) }, 'Previous'),
    el('span', { id: 'users-count' }, `${page.total ? start + 1 : 0}–${start + page.users.length} of ${page.total}`),
    el('button', { type: 'button', disabled: start + count >= page.total, onclick: () => users(main, start + count) }, 'Next'));

  const one = el('form', { id: 'register-user', class: 'inline-form' },
    field('Username', { name: 'username', required: true }), field('Password', { name: 'password', type: 'password', required: true }),
    field('Nickname', { name: 'nickname' }), el('button', { type: 'submit' }, 'Register'));
  one.addEventListener('submit', action(out, async () => {
    const v = formValues(one);
    const user = { username: v.username, password: one.elements.password.value };
    if (v.nickname) user.nickname = v.nickname;
    const [result] = await rest('POST', '/v1/users', [user]);
    if (result.error) throw new Error(`${result.error.code}: ${result.error.message}`);
    await users(main, start);
    show(document.getElementById('users-result'), `registered ${result.username}`);
  }));

  const csvText = el('textarea', { name: 'csv', id: 'csv-text', rows: 5, 'aria-label': 'CSV rows',
    placeholder: 'username,password,nickname' });
  const csvFile = el('input', { type: 'file', id: 'csv-file', accept: '.csv,text/csv,text/plain', 'aria-label': 'CSV file' });
  csvFile.addEventListener('change', async () => { if (csvFile.files[0]) csvText.value = await csvFile.files[0].text(); });
  const csvResult = el('div', { id: 'csv-result' });
  const many = el('form', { id: 'register-csv' },
    el('p', {}, 'One user a row: username,password,nickname (a first row naming the columns is skipped).'),
    csvText, el('div', { class: 'inline-form' }, csvFile, el('button', { type: 'submit' }, 'Register all')), csvResult);
  many.addEventListener('submit', action(out, async () => {
    const { users: batch, problems } = usersFromCSV(csvText.value);
    const results = problems.map((p) => ({ line: p.line, username: p.username, error: p.message }));
    for (let i = 0; i < batch.length; i += 500) {
      const slice = batch.slice(i, i + 500);
      const answers = await rest('POST', '/v1/users', slice.map((b) => b.user));
      answers.forEach((a, j) => results.push({ line: slice[j].line, username: slice[j].user.username,
        error: a.error ? `${a.error.code}: ${a.error.message}` : null }));
    }
    results.sort((a, b) => a.line - b.line);
    const failed = results.filter((r) => r.error).length;
    replace(csvResult,
      el('p', { class: failed ? 'result error' : 'result ok', id: 'csv-summary' },
        `${results.length - failed} registered, ${failed} failed`),
      table(['Line', 'Username', 'Result'], results.map((r) => el('tr', { class: r.error ? 'failed' : 'ok', 'data-line': r.line },
        el('td', {}, String(r.line)), el('td', {}, r.username), el('td', {}, r.error || 'registered'))), { id: 'csv-rows' }));
    const fresh = await rest('GET', `/v1/users?start=${start}&count=${count}`);
    replace(list, fresh.users.map(row));
    document.getElementById('users-count').textContent =
      `${fresh.total ? start + 1 : 0}–${start + fresh.users.length} of ${fresh.total}`;
  }));

  replace(main,
    section('Users', search, out, table(['Username', 'Nickname', 'Registered (UTC)', ''], [], { id: 'users-table' }), pager, detail),
    section('Register a user', one),
    section('Register many (CSV)', many));
  main.querySelector('#users-table').replaceChild(list, main.querySelector('#users-table tbody'));
}

function editUser(detail, u, out) {
  const form = el('form', { id: 'edit-user', class: 'inline-form' },
    field('Nickname', { name: 'nickname', value: u.nickname || '', maxlength: 64 }),
    field('Signature', { name: 'signature', value: u.signature || '' }),
    field('Region', { name: 'region', value: u.region || '' }),
    el('button', { type: 'submit' }, 'Save'));
  form.addEventListener('submit', action(out, async () => {
    const v = formValues(form);
    // JMessage answers the update with 204 No Content: read the user back for what was stored.
    await rest('PUT', `/v1/users/${encodeURIComponent(u.username)}`, v);
    const updated = await rest('GET', `/v1/users/${encodeURIComponent(u.username)}`);
    const cell = document.querySelector(`tr[data-username="${CSS.escape(u.username)}"] .nickname`);
    if (cell) cell.textContent = updated.nickname || '';
    show(out, `saved ${u.username}`);
  }));
  replace(detail, section(`Edit ${u.username}`, form));
  form.elements.nickname.focus();
}

function resetPassword(detail, name, out) {
  const form = el('form', { id: 'reset-password', class: 'inline-form' },
    field('New password', { name: 'new_password', type: 'password', required: true }), el('button', { type: 'submit' }, 'Set'));
  form.addEventListener('submit', action(out, async () => {
    await rest('PUT', `/v1/users/${encodeURIComponent(name)}/password`, { new_password: form.elements.new_password.value });
    show(out, `password of ${name} changed`);
    replace(detail);
  }));
  replace(detail, section(`New password for ${name}`, form));
  form.elements.new_password.focus();
}

async function userStat(detail, name) {
  const sessions = `/console/api/apps/${encodeURIComponent(state.appkey)}/users/${encodeURIComponent(name)}/sessions`;
  const stat = await call('GET', sessions);
  const devices = stat.devices || [];
  const out = status('sessions-result');
  const end = (device) => action(out, async () => {
    const { ended } = await call('DELETE', device ? `${sessions}?device=${encodeURIComponent(device)}` : sessions);
    await userStat(detail, name);
    show(document.getElementById('sessions-result'), `${ended} session${ended === 1 ? '' : 's'} of ${name} ended`);
  });
  replace(detail, section(`Devices and sessions of ${name}`, out, devices.length
    ? table(['Device', 'Platform', 'Logged in', 'Online', ''], devices.map((d) =>
      el('tr', { 'data-device': d.device || '' }, el('td', {}, d.device || ''), el('td', {}, d.platform),
        el('td', {}, d.login ? 'yes' : 'no'), el('td', { class: 'online' }, d.online ? 'yes' : 'no'),
        el('td', { class: 'actions' }, d.online && d.device
          ? el('button', { type: 'button', class: 'end-session', onclick: end(d.device) }, 'End session') : null))),
    { id: 'user-devices' })
    : el('p', {}, 'Never logged in.'),
  stat.online ? el('button', { type: 'button', id: 'end-all-sessions', onclick: end(null) }, 'End all sessions') : null));
}

// MARK: Groups

async function groups(main, start = 0) {
  const count = 20;
  const page = await rest('GET', `/v1/groups?start=${start}&count=${count}`);
  const out = status('groups-result');
  const detail = el('div', { id: 'group-detail' });
  const rows = page.groups.map((g) => el('tr', { 'data-gid': g.gid },
    el('td', {}, String(g.gid)), el('td', { class: 'group-name' }, g.name), el('td', { class: 'group-owner' }, g.owner_username),
    el('td', {}, g.desc || ''),
    el('td', { class: 'actions' },
      el('button', { type: 'button', onclick: action(out, () => groupMembers(detail, g, out)) }, 'Members'),
      el('button', { type: 'button', onclick: action(out, async () => {
        if (!confirm(`Delete group ${g.name}?`)) return;
        await rest('DELETE', `/v1/groups/${g.gid}`);
        await groups(main, start);
      }) }, 'Delete'))));
  const form = el('form', { id: 'create-group', class: 'inline-form' },
    field('Owner', { name: 'owner_username', required: true }), field('Name', { name: 'name', required: true }),
    field('Members (comma-separated)', { name: 'members' }), field('Description', { name: 'desc' }),
    el('button', { type: 'submit' }, 'Create group'));
  form.addEventListener('submit', action(out, async () => {
    const v = formValues(form);
    const members = v.members ? v.members.split(',').map((s) => s.trim()).filter(Boolean) : [];
    const g = await rest('POST', '/v1/groups', { owner_username: v.owner_username, name: v.name, members_username: members,
      desc: v.desc || undefined });
    await groups(main, start);
    show(document.getElementById('groups-result'), `created group ${g.gid} (${g.name})`);
  }));
  const pager = el('div', { class: 'pager' },
    el('button', { type: 'button', disabled: start === 0, onclick: () => groups(main, Math.max(0, start - count)) }, 'Previous'),
    el('span', {}, `${page.total ? start + 1 : 0}–${start + page.groups.length} of ${page.total}`),
    el('button', { type: 'button', disabled: start + count >= page.total, onclick: () => groups(main, start + count) }, 'Next'));
  replace(main, section('Groups', out, table(['Gid', 'Name', 'Owner', 'Description', ''], rows, { id: 'groups-table' }), pager,
    detail), section('Create a group', form));
}

async function groupMembers(detail, g, out) {
  const members = await rest('GET', `/v1/groups/${g.gid}/members`);
  const change = el('form', { id: 'group-members-form', class: 'inline-form' },
    field('Add (comma-separated)', { name: 'add' }), field('Remove (comma-separated)', { name: 'remove' }),
    el('button', { type: 'submit' }, 'Apply'));
  const split = (s) => (s ? s.split(',').map((x) => x.trim()).filter(Boolean) : []);
  change.addEventListener('submit', action(out, async () => {
    const v = formValues(change);
    await rest('POST', `/v1/groups/${g.gid}/members`, { add: split(v.add), remove: split(v.remove) });
    await groupMembers(detail, g, out);
    show(out, `members of ${g.gid} changed`);
  }));
  const owner = el('form', { id: 'group-owner-form', class: 'inline-form' },
    field('New owner', { name: 'username', required: true }), el('button', { type: 'submit' }, 'Transfer'));
  owner.addEventListener('submit', action(out, async () => {
    await rest('PUT', `/v1/groups/owner/${g.gid}`, { username: formValues(owner).username });
    const fresh = await rest('GET', `/v1/groups/${g.gid}`);
    const cell = document.querySelector(`#groups-table tr[data-gid="${g.gid}"] .group-owner`);
    if (cell) cell.textContent = fresh.owner_username;
    await groupMembers(detail, g, out);
  }));
  const silence = (m) => action(out, async () => {
    await rest('PUT', `/v1/groups/messages/${g.gid}/silence?status=${m.silenced ? 0 : 1}`, [m.username]);
    await groupMembers(detail, g, out);
    show(out, `${m.username} ${m.silenced ? 'may speak' : 'is silenced'} in ${g.gid}`);
  });
  replace(detail, section(`Members of ${g.name} (${g.gid})`,
    table(['Member', 'Role', 'Silenced', ''], members.map((m) => el('tr', { 'data-member': m.username },
      el('td', {}, m.username, m.nickname ? ` (${m.nickname})` : ''), el('td', {}, m.flag === 1 ? 'owner' : 'member'),
      el('td', { class: 'silenced' }, m.silenced ? 'yes' : 'no'),
      el('td', { class: 'actions' }, m.flag === 1 ? null
        : el('button', { type: 'button', class: 'silence', onclick: silence(m) }, m.silenced ? 'Let speak' : 'Silence')))),
    { id: 'group-members' }),
    change, owner));
}

// MARK: Chatrooms

async function chatrooms(main, start = 0) {
  const count = 20;
  const page = await rest('GET', `/v1/chatroom?start=${start}&count=${count}`);
  const out = status('rooms-result');
  const detail = el('div', { id: 'room-detail' });
  const rows = page.rooms.map((r) => el('tr', { 'data-room': r.id },
    el('td', {}, String(r.id)), el('td', { class: 'room-name' }, r.name), el('td', { class: 'room-owner' }, r.owner_username),
    el('td', { class: 'room-count' }, String(r.total_member_count)), el('td', {}, r.description || ''),
    el('td', { class: 'actions' },
      el('button', { type: 'button', onclick: action(out, () => roomMembers(detail, r, out)) }, 'Members'),
      el('button', { type: 'button', onclick: action(out, async () => {
        if (!confirm(`Delete chatroom ${r.name}?`)) return;
        await rest('DELETE', `/v1/chatroom/${r.id}`);
        await chatrooms(main, start);
        show(document.getElementById('rooms-result'), `chatroom ${r.id} deleted`);
      }) }, 'Delete'))));
  const form = el('form', { id: 'create-room', class: 'inline-form' },
    field('Owner', { name: 'owner_username', required: true }), field('Name', { name: 'name', required: true }),
    field('Members (comma-separated)', { name: 'members' }), field('Description', { name: 'description' }),
    el('button', { type: 'submit' }, 'Create chatroom'));
  form.addEventListener('submit', action(out, async () => {
    const v = formValues(form);
    const members = v.members ? v.members.split(',').map((x) => x.trim()).filter(Boolean) : [];
    const body = { owner_username: v.owner_username, name: v.name, members_username: members };
    if (v.description) body.description = v.description;
    const created = await rest('POST', '/v1/chatroom', body);
    await chatrooms(main, start);
    show(document.getElementById('rooms-result'), `created chatroom ${created.chatroom_id} (${v.name})`);
  }));
  const pager = el('div', { class: 'pager' },
    el('button', { type: 'button', disabled: start === 0, onclick: () => chatrooms(main, Math.max(0, start - count)) }, 'Previous'),
    el('span', {}, `${page.total ? start + 1 : 0}–${start + page.rooms.length} of ${page.total}`),
    el('button', { type: 'button', disabled: start + count >= page.total, onclick: () => chatrooms(main, start + count) }, 'Next'));
  replace(main, section('Chatrooms', out, table(['Id', 'Name', 'Owner', 'Members', 'Description', ''], rows,
    { id: 'rooms-table' }), pager, detail), section('Create a chatroom', form));
}

/** Reads a chatroom again and shows its owner and member count in its row of the list. */
async function refreshRoomRow(r) {
  const [fresh] = await rest('POST', '/v1/chatroom/batch', [r.id]);
  if (!fresh) return;
  Object.assign(r, fresh);
  const row = document.querySelector(`#rooms-table tr[data-room="${r.id}"]`);
  if (!row) return;
  row.querySelector('.room-owner').textContent = fresh.owner_username;
  row.querySelector('.room-count').textContent = String(fresh.total_member_count);
}

async function roomMembers(detail, r, out) {
  const page = await rest('GET', `/v1/chatroom/${r.id}/members?start=0&count=500`);
  const split = (x) => (x ? x.split(',').map((y) => y.trim()).filter(Boolean) : []);
  const change = el('form', { id: 'room-members-form', class: 'inline-form' },
    field('Add (comma-separated)', { name: 'add' }), field('Remove (comma-separated)', { name: 'remove' }),
    el('button', { type: 'submit' }, 'Apply'));
  change.addEventListener('submit', action(out, async () => {
    const v = formValues(change);
    if (split(v.add).length) await rest('PUT', `/v1/chatroom/${r.id}/members`, split(v.add));
    if (split(v.remove).length) await rest('DELETE', `/v1/chatroom/${r.id}/members`, split(v.remove));
    await refreshRoomRow(r);
    await roomMembers(detail, r, out);
    show(out, `members of chatroom ${r.id} changed`);
  }));
  const owner = el('form', { id: 'room-owner-form', class: 'inline-form' },
    field('New owner', { name: 'owner_username', required: true }), el('button', { type: 'submit' }, 'Transfer'));
  owner.addEventListener('submit', action(out, async () => {
    const name = formValues(owner).owner_username;
    await rest('PUT', `/v1/chatroom/${r.id}`, { owner_username: name });
    await refreshRoomRow(r);
    await roomMembers(detail, r, out);
    show(out, `${name} owns chatroom ${r.id}`);
  }));
  const silence = (m) => action(out, async () => {
    await rest('PUT', `/v1/chatroom/${r.id}/forbidden/${encodeURIComponent(m.username)}?status=${m.silenced ? 0 : 1}`);
    await roomMembers(detail, r, out);
    show(out, `${m.username} ${m.silenced ? 'may speak' : 'is silenced'} in chatroom ${r.id}`);
  });
  replace(detail, section(`Members of ${r.name} (${r.id}), owner ${r.owner_username}`,
    table(['Member', 'Silenced', ''], page.users.map((m) => el('tr', { 'data-member': m.username },
      el('td', {}, m.username, m.nickname ? ` (${m.nickname})` : ''), el('td', { class: 'silenced' }, m.silenced ? 'yes' : 'no'),
      el('td', { class: 'actions' },
        el('button', { type: 'button', class: 'silence', onclick: silence(m) }, m.silenced ? 'Let speak' : 'Silence')))),
    { id: 'room-members' }),
    el('p', {}, `${page.total} members`), change, owner));
}

// MARK: Messages

async function messages(main) {
  const out = status('send-result');
  const send = el('form', { id: 'send-message', class: 'inline-form' },
    field('From admin', { name: 'from_id', required: true }),
    el('label', {}, 'To', el('select', { name: 'target_type' },
      el('option', { value: 'single' }, 'user'), el('option', { value: 'group' }, 'group'),
      el('option', { value: 'chatroom' }, 'chatroom'))),
    field('Username or id', { name: 'target_id', required: true }),
    field('Text', { name: 'text', required: true }),
    el('button', { type: 'submit' }, 'Send'));
  send.addEventListener('submit', action(out, async () => {
    const v = formValues(send);
    const sent = await rest('POST', '/v1/messages', { version: 1, target_type: v.target_type, target_id: v.target_id,
      from_type: 'admin', from_id: v.from_id, msg_type: 'text', msg_body: { text: v.text } });
    show(out, `sent: msg_id ${sent.msg_id}`);
  }));
  const adminOut = status('admin-result');
  const admin = el('form', { id: 'register-admin', class: 'inline-form' },
    field('Admin username', { name: 'username', required: true }),
    field('Password', { name: 'password', type: 'password', required: true }),
    el('button', { type: 'submit' }, 'Register admin'));
  admin.addEventListener('submit', action(adminOut, async () => {
    const r = await rest('POST', '/v1/admins', { username: formValues(admin).username, password: admin.elements.password.value });
    show(adminOut, `registered admin ${r.username}`);
  }));

  const now = new Date();
  const local = (d) => new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  const histOut = status('history-result');
  const list = el('div', { id: 'history' });
  const history = el('form', { id: 'history-form', class: 'inline-form' },
    el('label', {}, 'Of', el('select', { name: 'kind' }, el('option', { value: 'users' }, 'user'),
      el('option', { value: 'groups' }, 'group'), el('option', { value: 'app' }, 'the whole app'))),
    field('Username or gid', { name: 'id' }),
    field('From', { name: 'begin', type: 'datetime-local', value: local(new Date(now.getTime() - 86400000)) }),
    field('To', { name: 'end', type: 'datetime-local', value: local(new Date(now.getTime() + 3600000)) }),
    el('button', { type: 'submit' }, 'Show'));
  history.addEventListener('submit', action(histOut, async () => {
    const v = formValues(history);
    const q = `count=100&begin_time=${encodeURIComponent(wireTime(new Date(v.begin)))}&end_time=${encodeURIComponent(wireTime(new Date(v.end)))}`;
    const path = v.kind === 'app' ? `/v2/messages?${q}` : `/v2/${v.kind}/${encodeURIComponent(v.id)}/messages?${q}`;
    const page = await rest('GET', path);
    show(histOut, `${page.count} of ${page.total} messages`);
    replace(list, table(['Time (UTC)', 'From', 'To', 'Type', 'Content', ''], page.messages.map((m) => el('tr', { 'data-msgid': m.msgid },
      el('td', {}, wireTime(new Date(m.msg_ctime))), el('td', {}, `${m.from_id} (${m.from_type})`),
      el('td', {}, `${m.target_type} ${m.target_id}`), el('td', {}, m.msg_type),
      el('td', {}, m.msg_type === 'text' ? m.msg_body.text : JSON.stringify(m.msg_body)),
      el('td', {}, el('button', { type: 'button', onclick: action(histOut, async () => {
        await rest('POST', `/v1/messages/${encodeURIComponent(m.from_id)}/${m.msgid}/retract`);
        show(histOut, `message ${m.msgid} retracted`);
      }) }, 'Retract')))), { id: 'history-table' }));
  }));
  replace(main, section('Send as an admin', send, out), section('Admins', admin, adminOut),
    section('History', history, histOut, list));
}

// MARK: Sensitive words

async function words(main) {
  const out = status('words-result');
  const page = await rest('GET', '/v1/sensitiveword?start=0&count=2000');
  const filter = await rest('GET', '/v1/sensitiveword/status');
  const toggle = el('button', { type: 'button', id: 'words-toggle', onclick: action(out, async () => {
    await rest('PUT', `/v1/sensitiveword/status?status=${filter.status ? 0 : 1}`);
    await words(main);
  }) }, filter.status ? 'Switch the filter off' : 'Switch the filter on');
  const add = el('form', { id: 'add-word', class: 'inline-form' }, field('Word', { name: 'word', required: true }),
    el('button', { type: 'submit' }, 'Add'));
  add.addEventListener('submit', action(out, async () => {
    await rest('POST', '/v1/sensitiveword', [formValues(add).word]);
    await words(main);
  }));
  const rows = page.words.map(({ word }) => el('tr', {}, el('td', {}, word), el('td', { class: 'actions' },
    el('button', { type: 'button', onclick: action(out, async () => {
      const next = prompt(`Replace "${word}" with`, word);
      if (!next || next === word) return;
      await rest('PUT', '/v1/sensitiveword', { old_word: word, new_word: next });
      await words(main);
    }) }, 'Edit'),
    el('button', { type: 'button', onclick: action(out, async () => {
      await rest('DELETE', '/v1/sensitiveword', { word });
      await words(main);
    }) }, 'Remove'))));
  replace(main, section('Sensitive words',
    el('p', { id: 'words-status' }, `The filter is ${filter.status ? 'on' : 'off'}. `, toggle), out, add,
    table(['Word', ''], rows, { id: 'words-table' }), el('p', {}, `${page.total} words`)));
}

// MARK: Bots

async function bots(main) {
  const { bots: list } = await call('GET', '/console/api/bots');
  const out = el('div', { id: 'reload-result', role: 'status' });
  const pluginCell = (b) => (b.plugin_states && b.plugin_states.length
    ? el('ul', { class: 'plugins' }, b.plugin_states.map((p) => el('li', { 'data-plugin': p.id, 'data-state': p.state },
      `${p.id}: `, el('span', { class: `plugin-state ${p.state === 'running' ? 'ok' : 'error'}` }, p.state),
      p.detail ? ` (${p.detail})` : '')))
    : b.plugins.join(', '));
  const children = [section('Bots', table(['Name', 'Robot', 'App', 'State', 'Events / min', 'Plugins'], list.map((b) =>
    el('tr', { 'data-bot': b.name }, el('td', {}, b.name), el('td', {}, b.username), el('td', {}, el('code', {}, b.appkey)),
      el('td', { class: `bot-state ${b.connected ? 'ok' : 'error'}` }, b.connected ? 'connected' : 'not connected',
        b.connected_since ? el('div', { class: 'since' }, `since ${b.connected_since} UTC`) : null),
      el('td', { class: 'events' }, String(b.events_per_minute ?? 0)),
      el('td', {}, pluginCell(b)))), { id: 'bots-table' }))];
  const failures = list.flatMap((b) => (b.failures || []).map((f) => ({ bot: b.name, ...f })));
  children.push(section('Recent failures', failures.length
    ? table(['Time (UTC)', 'Bot', 'Plugin', 'What'], failures.map((f) => el('tr', {}, el('td', {}, f.at), el('td', {}, f.bot),
      el('td', {}, f.plugin), el('td', { class: 'failure' }, f.message))), { id: 'bot-failures' })
    : el('p', { id: 'bot-failures-none' }, 'No plugin failed since the bots started.')));
  if (isOperator()) {
    const button = el('button', { type: 'button', id: 'reload' }, 'Reload bots.yaml');
    button.addEventListener('click', async () => {
      replace(out, el('p', {}, 'Reloading…'));
      const response = await fetch('/console/api/bots/reload', { method: 'POST', credentials: 'same-origin',
        headers: { 'X-CSRF-Token': state.session.csrf } });
      const r = await response.json();
      if (r.reloaded) {
        replace(out, el('p', { class: 'result ok' }, 'Reloaded: the bots now run as the file says.'));
      } else if (r.error && typeof r.error === 'string') {
        replace(out, el('div', { class: 'result error' },
          el('p', {}, 'The file does not validate; nothing changed.'),
          el('pre', { id: 'reload-error' }, r.error),
          r.line ? el('p', {}, `Line ${r.line}, column ${r.column} of ${r.file}`) : null));
      } else {
        replace(out, el('p', { class: 'result error' }, r.error ? `${r.error.code}: ${r.error.message}` : `HTTP ${response.status}`));
      }
    });
    children.push(section('Reload', el('p', {}, 'Re-reads the configuration file and applies its bots; a file with errors changes nothing.'),
      button, out));
  }
  replace(main, children);
}

// MARK: Bridge

async function bridge(main) {
  const { rules } = await call('GET', '/console/api/bridge');
  const out = status('bridge-result');
  const ruleRows = rules.map((r) => el('tr', { 'data-rule': r.name }, el('td', {}, r.name), el('td', {}, el('code', {}, r.push_appkey)),
    el('td', {}, el('code', {}, r.accounts_appkey)), el('td', {}, r.alias), el('td', {}, r.robot), el('td', {}, r.message),
    el('td', {}, r.receipt_within_seconds ? `within ${r.receipt_within_seconds}s, then ${r.escalate.join(', ') || 'nothing'}` : 'none')));
  const children = [section('Rules', rules.length
    ? table(['Rule', 'Pushes of', 'Accounts of', 'Alias', 'Robot', 'Message', 'Receipt'], ruleRows, { id: 'bridge-rules' })
    : el('p', {}, 'No bridge rule for this app (bridge: in bots.yaml).'))];
  const receipts = el('form', { id: 'receipts-form', class: 'inline-form' },
    field('Push msg_ids (comma-separated)', { name: 'ids', required: true }), el('button', { type: 'submit' }, 'Show'));
  const receiptList = el('div', { id: 'receipts' });
  receipts.addEventListener('submit', action(out, async () => {
    const ids = formValues(receipts).ids.split(',').map((x) => x.trim()).filter(Boolean).join(',');
    const list = await rest('GET', `/v3/messages?msg_ids=${encodeURIComponent(ids)}`);
    const n = (v) => (v === null || v === undefined ? '—' : String(v));
    replace(receiptList, table(['msg_id', 'Target', 'Delivered', 'Received', 'Pending', 'Expired', 'Failed', 'Escalations'],
      list.map((m) => { const b = m.bridge || {}; return el('tr', {}, el('td', {}, String(m.msg_id)), el('td', {}, n(b.target)),
        el('td', {}, n(b.delivered)), el('td', {}, n(b.received)), el('td', {}, n(b.pending)), el('td', {}, n(b.expired)),
        el('td', {}, n(b.failed)), el('td', {}, n(b.escalations))); })));
  }));
  children.push(section('Pushes and receipts', receipts, receiptList));
  const { pushes, open } = await call('GET', `/console/api/apps/${encodeURIComponent(state.appkey)}/bridge/pushes?count=20`);
  const receiptOf = (p) => {
    const n = (s) => p.deliveries.filter((d) => d.status === s).length;
    return `${n('received')} received, ${n('delivered')} not yet, ${n('pending')} pending, ${n('expired')} expired, ${n('failed')} failed`;
  };
  children.push(section('Recent pushes', pushes.length
    ? table(['msg_id', 'Time (UTC)', 'Rule', 'Text', 'Accounts', 'Receipts', 'Escalations fired'], pushes.map((p) =>
      el('tr', { 'data-push': p.msg_id }, el('td', {}, String(p.msg_id)), el('td', {}, p.ctime), el('td', {}, p.rule),
        el('td', {}, p.text),
        el('td', {}, el('ul', { class: 'plain' }, p.deliveries.map((d) => el('li', { 'data-status': d.status },
          `${d.username}${d.alias && d.alias !== d.username ? ` (${d.alias})` : ''}: ${d.status}`, d.error ? ` — ${d.error}` : '')))),
        el('td', { class: 'receipts' }, receiptOf(p)),
        el('td', { class: 'escalations' }, p.escalations.length
          ? el('ul', { class: 'plain' }, p.escalations.map((e) => el('li', {}, `${e.at} step ${e.step + 1} ${e.action} for ${e.username}: ${e.outcome}`)))
          : 'none'))), { id: 'recent-pushes' })
    : el('p', { id: 'recent-pushes-none' }, 'No push to this app yet.')));
  children.push(section('Waiting for a receipt', open.length
    ? table(['msg_id', 'Account', 'Next deadline (UTC)', 'Escalation steps run'], open.map((d) => el('tr', { 'data-push': d.msg_id },
      el('td', {}, String(d.msg_id)), el('td', {}, d.username), el('td', {}, d.due_at || 'none: no step left'),
      el('td', {}, String(d.step)))), { id: 'open-deliveries' })
    : el('p', { id: 'open-deliveries-none' }, 'Nothing waits for a receipt.')));
  if (rules.some((r) => r.alias === 'table' && r.push_appkey === state.appkey)) {
    const { bindings } = await rest('GET', '/v3/bridge/bindings');
    const add = el('form', { id: 'binding-form', class: 'inline-form' }, field('Alias', { name: 'alias', required: true }),
      field('Username', { name: 'username', required: true }), el('button', { type: 'submit' }, 'Bind'));
    add.addEventListener('submit', action(out, async () => {
      const v = formValues(add);
      await rest('PUT', `/v3/bridge/bindings/${encodeURIComponent(v.alias)}`, { username: v.username });
      await bridge(main);
    }));
    children.push(section('Alias bindings', table(['Alias', 'Account', ''], bindings.map((b) => el('tr', {},
      el('td', {}, b.alias), el('td', {}, b.username), el('td', { class: 'actions' }, el('button', { type: 'button',
        onclick: action(out, async () => { await rest('DELETE', `/v3/bridge/bindings/${encodeURIComponent(b.alias)}`); await bridge(main); }) },
      'Remove')))), { id: 'bindings-table' }), add));
  }
  children.push(out);
  replace(main, children);
}

// MARK: start

async function boot() {
  try {
    const session = await call('GET', '/console/api/session');
    if (session && session.kind) {
      state.session = session;
      await enter();
      return;
    }
  } catch { /* not signed in */ }
  showSignIn();
}

boot();
