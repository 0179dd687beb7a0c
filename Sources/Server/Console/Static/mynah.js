// mynah.js: a small client of Mynah's WebSocket gateway (docs/gateway.md) for browsers, with no dependencies.
//
//   import { MynahClient } from '/chat/assets/mynah.js';
//   const client = new MynahClient({ appkey, username, password });
//   client.addEventListener('message', (e) => show(e.detail));   // every inbox entry once, in seq order
//   await client.connect();                                       // resolves with the login_ok frame
//   const sent = await client.send({ targetId: 'echo_bot', body: { text: 'hi' } });  // resolves when stored
//
// What it does for you:
// - login as the first frame; `connect()` rejects with a GatewayError when the login is refused (not retried).
// - every send carries a request id (its idempotency key). A send that has not been answered when the
//   connection drops is sent again, with the same request id, after the next login: the hub stores it once.
// - acknowledgement: each delivered entry is acked (cumulatively) once its listeners have run.
// - resume: after a dropped connection it reconnects with capped exponential backoff and full jitter and logs
//   in with `since` = the highest seq received, so nothing is skipped; an entry already seen is dropped.
//
// Events (EventTarget): 'message' (detail: the `msg` frame: seq, msg_id, msg_ctime, message),
// 'event' (detail: the `event` frame: seq, event), 'state' (detail: 'connecting' | 'online' | 'offline' | 'closed'),
// 'error' (detail: a GatewayError for an error frame that answers no send).

/** An `error` frame of the gateway: `code` is the JMessage code, `fatal` whether the server closes. */
export class GatewayError extends Error {
  constructor(frame) {
    super(`${frame.code}: ${frame.message}`);
    this.name = 'GatewayError';
    this.code = frame.code;
    this.fatal = Boolean(frame.fatal);
    this.frame = frame;
  }
}

/** A random id for request ids and device ids. */
export function randomId() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export class MynahClient extends EventTarget {
  /**
   * @param {object} options
   * @param {string} options.appkey   the account's AppKey
   * @param {string} options.username the account's username
   * @param {string} options.password its password (kept in memory for reconnecting)
   * @param {string} [options.url]    the gateway, by default ws(s)://<this page's host>/gateway
   * @param {string} [options.device] a stable device id (one acknowledgement cursor per device); default 'web'
   * @param {string} [options.platform] 'web' by default
   * @param {boolean} [options.reconnect] reconnect after a dropped connection (default true)
   */
  constructor({ appkey, username, password, url, device = 'web', platform = 'web', reconnect = true }) {
    super();
    this.appkey = appkey;
    this.username = username;
    this.password = password;
    this.url = url || `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/gateway`;
    this.device = device;
    this.platform = platform;
    this.reconnect = reconnect;
    /** The highest inbox seq received; the next login resumes after it. */
    this.lastSeq = null;
    /** The last login_ok frame. */
    this.session = null;
    this.state = 'offline';
    this._ws = null;
    this._nextId = 1;
    this._pending = new Map(); // frame id -> { frame, resolve, reject }
    this._closed = false;
    this._attempt = 0;
    this._timer = null;
    this._paused = false;
  }

  /** Opens the connection and logs in; resolves with `login_ok`. */
  connect() {
    this._closed = false;
    return this._open();
  }

  /**
   * Sends a message; resolves with the `sent` frame once the hub stored it, rejects with a GatewayError when
   * the hub refuses it. `targetType` is 'single' (default) or 'group'; `msgType` 'text' (default), 'image', ...
   */
  send({ targetId, targetType = 'single', msgType = 'text', body, requestId = randomId(), extra = {} }) {
    const id = `s${this._nextId++}`;
    const frame = { ...extra, op: 'send', id, request_id: requestId, target_type: targetType,
      target_id: String(targetId), msg_type: msgType, msg_body: body };
    return new Promise((resolve, reject) => {
      this._pending.set(id, { frame, resolve, reject });
      if (this.state === 'online') this._write(frame);
      else if (this._closed) { this._pending.delete(id); reject(new Error('client closed')); }
    });
  }

  /** Acknowledges every entry up to `seq` (done automatically after each delivery). */
  ack(seq) {
    if (this.state === 'online') this._write({ op: 'ack', seq });
  }

  /** Goes offline on purpose: closes the socket and stops reconnecting until `resume()`; sends wait. */
  pause() {
    this._paused = true;
    clearTimeout(this._timer);
    if (this._ws) this._ws.close(1000, 'paused');
  }

  /** Comes back after `pause()`: logs in again with `since`, so what arrived meanwhile comes in order. */
  resume() {
    this._paused = false;
    if (!this._ws && !this._closed) return this._open();
    return Promise.resolve(this.session);
  }

  /** Closes the socket without closing the client, as a network change would; it reconnects and resumes. */
  dropConnection() {
    if (this._ws) this._ws.close(4000, 'dropped by the client');
  }

  /** Ends the client: no reconnect; unanswered sends are rejected. */
  close() {
    this._closed = true;
    clearTimeout(this._timer);
    if (this._ws) this._ws.close(1000, 'bye');
    for (const p of this._pending.values()) p.reject(new Error('client closed'));
    this._pending.clear();
    this._setState('closed');
  }

  _setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: state }));
  }

  _write(frame) {
    this._ws.send(JSON.stringify(frame));
  }

  _open() {
    this._setState('connecting');
    return new Promise((resolve, reject) => {
      let loggedIn = false;
      const ws = new WebSocket(this.url);
      this._ws = ws;
      ws.addEventListener('open', () => {
        const login = { op: 'login', id: 'login', appkey: this.appkey, username: this.username,
          password: this.password, platform: this.platform, device: this.device };
        if (this.lastSeq !== null) login.since = this.lastSeq;
        ws.send(JSON.stringify(login));
      });
      ws.addEventListener('message', (event) => {
        let frame;
        try { frame = JSON.parse(event.data); } catch { return; }
        if (!loggedIn) {
          if (frame.op === 'login_ok') {
            loggedIn = true;
            this.session = frame;
            this._attempt = 0;
            if (this.lastSeq === null) this.lastSeq = frame.last_ack;
            this._setState('online');
            for (const p of this._pending.values()) this._write(p.frame); // same request ids: stored once
            resolve(frame);
          } else if (frame.op === 'error') {
            this._closed = true; // a refused login is not retried
            reject(new GatewayError(frame));
          }
          return;
        }
        this._handle(frame);
      });
      ws.addEventListener('close', () => {
        if (this._ws !== ws) return;
        this._ws = null;
        if (!loggedIn) reject(new Error('connection closed before login'));
        if (this._closed || !this.reconnect) {
          for (const p of this._pending.values()) p.reject(new Error('connection closed'));
          this._pending.clear();
          this._setState(this._closed ? 'closed' : 'offline');
          return;
        }
        this._setState('offline');
        if (loggedIn && !this._paused) this._scheduleReconnect();
      });
    });
  }

  _scheduleReconnect() {
    this._attempt += 1;
    const cap = Math.min(10000, 100 * 2 ** (this._attempt - 1));
    this._timer = setTimeout(() => {
      if (this._closed || this._paused) return;
      this._open().catch(() => { if (!this._closed) this._scheduleReconnect(); });
    }, Math.random() * cap);
  }

  _handle(frame) {
    switch (frame.op) {
      case 'msg':
      case 'event': {
        if (this.lastSeq !== null && frame.seq <= this.lastSeq) { this.ack(frame.seq); return; }
        this.lastSeq = frame.seq;
        this.dispatchEvent(new CustomEvent(frame.op === 'msg' ? 'message' : 'event', { detail: frame }));
        this.ack(frame.seq);
        break;
      }
      case 'sent': {
        const p = this._pending.get(frame.id);
        if (p) { this._pending.delete(frame.id); p.resolve(frame); }
        break;
      }
      case 'error': {
        const p = frame.id && this._pending.get(frame.id);
        if (frame.fatal) this._closed = true; // the server ends the session (an administrator did): no reconnect
        if (p) { this._pending.delete(frame.id); p.reject(new GatewayError(frame)); }
        else this.dispatchEvent(new CustomEvent('error', { detail: new GatewayError(frame) }));
        break;
      }
      default:
        break;
    }
  }
}
