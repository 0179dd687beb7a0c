// The web chat at /chat: sign in as a user of an app, then chat over the gateway with mynah.js.
// Every string from the network or the user is shown as text (dom.js), never as HTML.
import { el, replace, formValues } from './dom.js';
import { MynahClient, randomId } from './mynah.js';

const app = document.getElementById('app');
const state = {
  me: null,            // { appkey, username }
  csrf: null,
  client: null,
  conversations: new Map(), // key -> { key, type, id, title, messages: [], unread, seen: Set(msg_id) }
  current: null,
  mediaURLs: new Map(),
};

async function api(method, path, body, { raw = false } = {}) {
  const headers = {};
  if (method !== 'GET') headers['X-CSRF-Token'] = state.csrf || '';
  let payload;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) { headers['Content-Type'] = 'application/json'; payload = JSON.stringify(body); }
  const response = await fetch(path, { method, headers, body: payload, credentials: 'same-origin' });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { error: { code: 0, message: text } }; }
  if (!response.ok) {
    const error = new Error(data && data.error ? `${data.error.code}: ${data.error.message}` : `HTTP ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return raw ? response : data;
}

function deviceID() {
  let id = localStorage.getItem('mynah.chat.device');
  if (!id) { id = `web-${randomId()}`; localStorage.setItem('mynah.chat.device', id); }
  return id;
}

// MARK: sign-in

function showSignIn(message) {
  const params = new URLSearchParams(location.search);
  const error = el('p', { class: 'error', role: 'alert', id: 'signin-error' }, message || '');
  const form = el('form', { id: 'signin', class: 'card signin' },
    el('h1', {}, 'Mynah chat'),
    el('label', {}, 'AppKey', el('input', { name: 'appkey', required: true, autocomplete: 'off',
      value: params.get('appkey') || localStorage.getItem('mynah.chat.appkey') || '' })),
    el('label', {}, 'Username', el('input', { name: 'username', required: true, autocomplete: 'username',
      value: localStorage.getItem('mynah.chat.username') || '' })),
    el('label', {}, 'Password', el('input', { name: 'password', type: 'password', required: true,
      autocomplete: 'current-password' })),
    el('button', { type: 'submit' }, 'Sign in'),
    error);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const values = formValues(form);
    error.textContent = '';
    try {
      const session = await api('POST', '/chat/api/session',
        { appkey: values.appkey, username: values.username, password: form.elements.password.value });
      localStorage.setItem('mynah.chat.appkey', values.appkey);
      localStorage.setItem('mynah.chat.username', values.username);
      state.csrf = session.csrf;
      state.me = { appkey: session.appkey, username: session.username };
      await start(form.elements.password.value);
    } catch (e) {
      error.textContent = `Sign-in failed: ${e.message}`;
    }
  });
  replace(app, form);
  form.elements[form.elements.appkey.value ? (form.elements.username.value ? 'password' : 'username') : 'appkey'].focus();
}

// MARK: the chat

const ui = {};

async function start(password) {
  const client = new MynahClient({ appkey: state.me.appkey, username: state.me.username, password, device: deviceID() });
  state.client = client;
  window.mynah = client; // for the console of the browser's developer tools (and the browser tests)
  buildChat();
  client.addEventListener('state', (e) => showState(e.detail));
  client.addEventListener('message', (e) => receive(e.detail));
  client.addEventListener('event', (e) => receiveEvent(e.detail));
  client.addEventListener('error', (e) => notice(`Error ${e.detail.code}: ${e.detail.message}`));
  try {
    await client.connect();
  } catch (e) {
    client.close();
    showSignIn(`Could not log in to the gateway: ${e.message}`);
    return;
  }
  loadConversations();
}

/** The conversations of the last 7 days and the user's groups (from the history API), listed with the ones the
 *  session received, so that a reload keeps the list. Their messages load when one is opened. */
async function loadConversations() {
  try {
    const { conversations } = await api('GET', '/chat/api/conversations');
    for (const item of conversations) {
      const c = conversation(item.type, item.id);
      if (item.title) c.title = item.type === 'group' ? `${item.title} (group ${item.id})` : `${item.title} (${item.id})`;
      c.lastCtime = Math.max(c.lastCtime || 0, item.last_ctime || 0);
    }
    renderList();
  } catch (e) {
    notice(`Could not list older conversations: ${e.message}`);
  }
}

function buildChat() {
  ui.status = el('span', { id: 'status', class: 'status', 'data-state': 'connecting' }, 'connecting');
  ui.toggle = el('button', { type: 'button', id: 'toggle-connection', onclick: toggleConnection }, 'Go offline');
  ui.list = el('ul', { id: 'conversations', class: 'conversations', 'aria-label': 'Conversations' });
  const newChat = el('form', { id: 'new-chat', class: 'new-chat' },
    el('label', {}, 'Chat with', el('input', { name: 'id', placeholder: 'username or group id', required: true })),
    el('select', { name: 'type', 'aria-label': 'Conversation type' },
      el('option', { value: 'single' }, 'user'), el('option', { value: 'group' }, 'group')),
    el('button', { type: 'submit' }, 'Open'));
  newChat.addEventListener('submit', (event) => {
    event.preventDefault();
    const { id, type } = formValues(newChat);
    if (!id) return;
    open(conversation(type, id));
    newChat.reset();
  });
  ui.title = el('h2', { id: 'conversation-title' }, 'No conversation open');
  ui.messages = el('ol', { id: 'messages', class: 'messages', 'aria-live': 'polite' });
  ui.notice = el('p', { id: 'notice', class: 'notice', role: 'status' });
  ui.text = el('input', { name: 'text', id: 'text', autocomplete: 'off', placeholder: 'Message', 'aria-label': 'Message',
    disabled: true });
  ui.image = el('input', { type: 'file', id: 'image', accept: 'image/png,image/jpeg,image/gif', class: 'visually-hidden',
    disabled: true });
  ui.image.addEventListener('change', sendImage);
  ui.send = el('button', { type: 'submit', id: 'send', disabled: true }, 'Send');
  const composer = el('form', { id: 'composer', class: 'composer' }, ui.text,
    el('label', { for: 'image', class: 'button', tabindex: '0', id: 'image-label' }, 'Image'), ui.image, ui.send);
  composer.querySelector('#image-label').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); ui.image.click(); }
  });
  composer.addEventListener('submit', sendText);
  replace(app,
    el('header', { class: 'topbar' }, el('strong', {}, 'Mynah chat'),
      el('span', { id: 'me' }, `${state.me.username} @ ${state.me.appkey}`), ui.status, ui.toggle,
      el('button', { type: 'button', onclick: signOut }, 'Sign out')),
    el('div', { class: 'chat-layout' },
      el('nav', { class: 'sidebar', 'aria-label': 'Conversations' }, newChat, ui.list),
      el('section', { class: 'conversation', 'aria-label': 'Conversation' }, ui.title, ui.messages, ui.notice, composer)));
}

function showState(value) {
  ui.status.dataset.state = value;
  ui.status.textContent = value;
  ui.toggle.textContent = state.client && state.client._paused ? 'Go online' : 'Go offline';
}

function toggleConnection() {
  if (state.client._paused) state.client.resume().catch((e) => notice(e.message));
  else state.client.pause();
  showState(state.client.state);
}

async function signOut() {
  state.client.close();
  try { await api('DELETE', '/chat/api/session'); } catch { /* signed out anyway */ }
  state.conversations.clear();
  state.current = null;
  showSignIn('Signed out.');
}

function notice(text) {
  if (ui.notice) ui.notice.textContent = text;
}

function conversation(type, id) {
  const key = `${type}:${id}`;
  let c = state.conversations.get(key);
  if (!c) {
    c = { key, type, id: String(id), title: type === 'group' ? `group ${id}` : String(id), messages: [], unread: 0,
      seen: new Set() };
    state.conversations.set(key, c);
  }
  return c;
}

function conversationOf(message) {
  if (message.target_type === 'group') return conversation('group', message.target_id);
  if (message.target_type === 'chatroom') return conversation('chatroom', message.target_id);
  const other = message.from_id === state.me.username ? message.target_id : message.from_id;
  const c = conversation('single', other);
  if (message.from_id !== state.me.username && message.from_name) c.title = `${message.from_name} (${other})`;
  return c;
}

function receive(frame) {
  const message = frame.message;
  const c = conversationOf(message);
  if (c.seen.has(frame.msg_id)) return;
  c.seen.add(frame.msg_id);
  const entry = { msgID: frame.msg_id, seq: frame.seq, ctime: frame.msg_ctime, message,
    mine: message.from_id === state.me.username };
  c.messages.push(entry);
  if (state.current === c) ui.messages.append(renderMessage(entry));
  else if (!entry.mine) c.unread += 1;
  renderList();
  if (state.current === c) scrollDown();
}

function receiveEvent(frame) {
  const event = frame.event;
  if (event.gid !== undefined && event.kind.startsWith('group_')) {
    const c = conversation('group', event.gid);
    const who = (event.usernames || []).join(', ');
    const entry = { msgID: `e${frame.seq}`, seq: frame.seq, ctime: event.ctime, event: `${event.kind.replaceAll('_', ' ')}${who ? `: ${who}` : ''}` };
    c.messages.push(entry);
    if (state.current === c) ui.messages.append(renderMessage(entry));
    renderList();
  }
}

function renderList() {
  const items = [...state.conversations.values()].sort((a, b) => lastTime(b) - lastTime(a));
  replace(ui.list, items.map((c) => {
    const button = el('button', { type: 'button', class: c === state.current ? 'current' : '', onclick: () => open(c) },
      el('span', { class: 'name' }, c.title),
      c.unread ? el('span', { class: 'unread', 'aria-label': `${c.unread} unread` }, String(c.unread)) : null);
    return el('li', { 'data-conversation': c.key }, button);
  }));
}

function lastTime(c) {
  if (c.messages.length) return Math.max(c.messages[c.messages.length - 1].ctime || 0, c.lastCtime || 0);
  return c.lastCtime !== undefined ? c.lastCtime : Number.MAX_SAFE_INTEGER; // just opened: on top
}

function open(c) {
  state.current = c;
  c.unread = 0;
  ui.title.textContent = c.title;
  replace(ui.messages, c.messages.map(renderMessage));
  for (const control of [ui.text, ui.send, ui.image]) control.disabled = false;
  renderList();
  scrollDown();
  ui.text.focus();
  if (!c.history && (c.type === 'single' || c.type === 'group')) loadHistory(c);
}

/** Older messages of a conversation (the last 7 days, from the history API): the ones this page has not seen are
 *  merged in by time, so a conversation opened after a reload shows what came before this session. */
async function loadHistory(c) {
  c.history = 'loading';
  try {
    const { messages } = await api('GET', `/chat/api/history?type=${c.type}&id=${encodeURIComponent(c.id)}`);
    let added = 0;
    for (const m of messages) {
      if (c.seen.has(m.msgid)) continue;
      c.seen.add(m.msgid);
      c.messages.push({ msgID: m.msgid, ctime: m.msg_ctime, message: m, mine: m.from_id === state.me.username,
        history: true });
      if (m.from_id !== state.me.username && m.from_name && c.type === 'single') c.title = `${m.from_name} (${c.id})`;
      added += 1;
    }
    c.history = 'loaded';
    if (!added) return;
    c.messages.sort((a, b) => (a.ctime || 0) - (b.ctime || 0) || (Number(a.msgID) || 0) - (Number(b.msgID) || 0));
    if (state.current === c) {
      ui.title.textContent = c.title;
      replace(ui.messages, c.messages.map(renderMessage));
      scrollDown();
    }
    renderList();
  } catch (e) {
    c.history = null;
    notice(`Could not load older messages: ${e.message}`);
  }
}

function scrollDown() {
  ui.messages.scrollTop = ui.messages.scrollHeight;
}

function renderMessage(entry) {
  if (entry.event) return el('li', { class: 'event', 'data-seq': entry.seq }, entry.event);
  const m = entry.message;
  const body = el('div', { class: 'body' });
  if (m.msg_type === 'text') body.textContent = m.msg_body.text;
  else if (m.msg_type === 'image') body.append(imageOf(m.msg_body));
  else body.textContent = `[${m.msg_type}]`;
  const time = entry.ctime ? new Date(entry.ctime).toLocaleTimeString() : '';
  const item = el('li', { class: `msg ${entry.mine ? 'mine' : 'theirs'}${entry.history ? ' history' : ''}`,
    'data-msgid': entry.msgID, 'data-seq': entry.seq },
    el('div', { class: 'meta' }, el('span', { class: 'from' }, m.from_name || m.from_id), ' ', el('time', {}, time)),
    body);
  if (entry.pending) item.classList.add('pending');
  if (entry.failed) item.append(el('div', { class: 'error' }, entry.failed));
  return item;
}

function imageOf(body) {
  const img = el('img', { alt: 'image', class: 'picture', width: body.width, height: body.height });
  mediaURL(body.media_id).then((url) => { img.src = url; }).catch(() => { img.alt = 'image (unavailable)'; });
  return img;
}

async function mediaURL(mediaID) {
  if (state.mediaURLs.has(mediaID)) return state.mediaURLs.get(mediaID);
  const { url } = await api('GET', `/chat/api/rest/v1/resource?mediaId=${encodeURIComponent(mediaID)}`);
  const parsed = new URL(url, location.href);
  if (parsed.origin !== location.origin || !parsed.pathname.startsWith('/media/')) throw new Error('unexpected media URL');
  state.mediaURLs.set(mediaID, parsed.pathname);
  return parsed.pathname;
}

async function sendText(event) {
  event.preventDefault();
  const text = ui.text.value;
  if (!text || !state.current) return;
  ui.text.value = '';
  await sendBody('text', { text });
}

async function sendImage() {
  const file = ui.image.files[0];
  ui.image.value = '';
  if (!file || !state.current) return;
  const form = new FormData();
  form.append('filename', file, file.name);
  try {
    notice('Uploading…');
    const up = await api('POST', '/chat/api/rest/v1/resource?type=image', form);
    notice('');
    await sendBody('image', { media_id: up.media_id, media_crc32: up.media_crc32, width: up.width, height: up.height,
      format: up.format, fsize: up.fsize });
  } catch (e) {
    notice(`Upload failed: ${e.message}`);
  }
}

async function sendBody(msgType, body) {
  const c = state.current;
  const entry = { msgID: `pending-${randomId()}`, pending: true, ctime: Date.now(), mine: true,
    message: { msg_type: msgType, msg_body: body, from_id: state.me.username, target_id: c.id, target_type: c.type } };
  c.messages.push(entry);
  let node = renderMessage(entry);
  ui.messages.append(node);
  scrollDown();
  try {
    const sent = await state.client.send({ targetType: c.type, targetId: c.id, msgType, body });
    entry.pending = false;
    entry.msgID = sent.msg_id;
    entry.ctime = sent.msg_ctime;
    c.seen.add(sent.msg_id);
  } catch (e) {
    entry.pending = false;
    entry.failed = `Not sent: ${e.message}`;
  }
  if (state.current === c && node.isConnected) {
    const updated = renderMessage(entry);
    node.replaceWith(updated);
    node = updated;
  }
  renderList();
}

async function boot() {
  showSignIn();
}

boot();
