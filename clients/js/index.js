// @websocket-notifications/client: a dependency-free client of the notification WebSocket service,
// for browsers and Node 20+ (pass the `ws` package's WebSocket as `WebSocket` there).
//
// It follows clients/PROTOCOL.md: a fresh token per attempt, a heartbeat under the gateway's idle
// limit, a planned reconnect before its 2-hour limit, reconnects with exponential backoff and full
// jitter after any close the app did not ask for, replay after every (re)connect, and
// de-duplication by messageId so the app sees each message exactly once.

export const VERSION = "0.1.0";

/** Defaults of every option (milliseconds). */
export const DEFAULTS = Object.freeze({
  type: "email-verification",
  heartbeatMs: 5 * 60 * 1000, // API Gateway closes a connection after 10 minutes of silence
  pongTimeoutMs: 15 * 1000, // no answer to a ping within this: the connection is dead (lid, network)
  connectTimeoutMs: 15 * 1000, // a handshake not done within this is abandoned and retried
  maxConnectionMs: 115 * 60 * 1000, // API Gateway closes every connection at 2 hours
  backoff: Object.freeze({ baseMs: 500, maxMs: 30 * 1000 }),
  fallbackAfter: 5,
  replay: true,
  dedupWindow: 10000,
});

/** Handshake statuses the client cannot fix by retrying: the connection ends in state "failed". */
export const REFUSED_STATUSES = Object.freeze({
  400: "the server refused the address or connection type in the link",
  401: "the server refused the connection: the connect token is missing or malformed",
  403: "the server refused the connect token: it has expired or was minted for another address, type or key",
});

const CONTROL_ERRORS = new Set(["replay_disabled", "invalid_after", "unknown_connection"]);
const PLANNED_RECONNECT = 4000; // close code the client uses for its own planned reconnects
const HEARTBEAT_TIMEOUT = 4001; // close code the client uses when a ping went unanswered
const CONNECT_TIMEOUT = 4002; // close code the client uses when a handshake did not finish in time

/**
 * The words for a close code (never a bare number: UIs show this).
 * @param {number} code
 * @param {boolean} opened whether the connection had opened
 */
export function describeClose(code, opened) {
  if (code === CONNECT_TIMEOUT) return "the server did not answer the connection in time";
  if (!opened) return "could not reach the server, or it refused the connection";
  switch (code) {
    case 1000: return "the server closed the connection";
    case 1001: return "the server closed the connection (idle, too long open, or going away)";
    case 1006: return "the connection dropped (network lost or server unreachable)";
    case 1009: return "a message was too large for the server";
    case 1011: return "the server had an internal error";
    case 1012: return "the server is restarting";
    case 1013: return "the server is overloaded; try again later";
    case PLANNED_RECONNECT: return "planned reconnect before the connection time limit";
    case HEARTBEAT_TIMEOUT: return "the server stopped answering (connection lost)";
    case CONNECT_TIMEOUT: return "the server did not answer the connection in time";
    default: return "the connection closed unexpectedly";
  }
}

/**
 * The backoff delay before attempt `attempt` (1 = first retry): full jitter, a random delay in
 * [0, min(maxMs, baseMs * 2^(attempt-1))).
 */
export function backoffDelay(attempt, { baseMs, maxMs }, random = Math.random) {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * ceiling);
}

function refusedStatus(event) {
  // Node's `ws` reports a refused handshake as an error "Unexpected server response: 403";
  // browsers hide the status (the close is a plain 1006).
  const text = String((event && (event.message || (event.error && event.error.message))) || "");
  const match = /Unexpected server response: (\d{3})/.exec(text);
  return match ? Number(match[1]) : null;
}

function validate(options) {
  if (!options || typeof options !== "object") throw new TypeError("connect(options): options is required");
  if (typeof options.url !== "string" || !/^wss?:\/\//.test(options.url)) {
    throw new TypeError("connect: url must be a ws:// or wss:// URL");
  }
  if (typeof options.email !== "string" || !options.email.trim()) throw new TypeError("connect: email is required");
  for (const name of ["heartbeatMs", "pongTimeoutMs", "connectTimeoutMs", "maxConnectionMs", "fallbackAfter"]) {
    if (options[name] !== undefined && !(Number.isFinite(options[name]) && options[name] > 0)) {
      throw new TypeError(`connect: ${name} must be a positive number`);
    }
  }
  const backoff = { ...DEFAULTS.backoff, ...(options.backoff || {}) };
  if (!(backoff.baseMs > 0 && backoff.maxMs >= backoff.baseMs)) {
    throw new TypeError("connect: backoff needs baseMs > 0 and maxMs >= baseMs");
  }
  const WebSocketClass = options.WebSocket || globalThis.WebSocket;
  if (typeof WebSocketClass !== "function") {
    throw new TypeError("connect: no global WebSocket here (Node 20): pass { WebSocket } from the 'ws' package");
  }
  return { ...DEFAULTS, ...options, backoff, WebSocket: WebSocketClass };
}

/**
 * Open a connection that reconnects by itself. See index.d.ts for the options and the returned
 * object.
 */
export function connect(options) {
  const o = validate(options);
  const stateListeners = new Set();
  const messageListeners = new Set();
  const waiters = new Set();
  const seen = new Set(); // messageIds delivered to the app (insertion order: oldest first)
  const history = []; // the last messages delivered, for waitFor()
  let state = "idle";
  let cause = null;
  let socket = null;
  let attempts = 0; // failed attempts since the last open
  let fallbackFired = false;
  let stopped = false;
  let cursor = null; // the messageId replay continues after
  let replayPending = false;
  let replayLatest = null; // the newest messageId seen while a replay was in flight
  let timers = { heartbeat: null, pong: null, lifetime: null, retry: null, handshake: null };
  let replayStatus = "unknown";
  let replays = 0; // replays the service answered

  if (typeof o.onState === "function") stateListeners.add(o.onState);
  // Browsers: when the network comes back, do not wait for the backoff timer.
  const onOnline = () => { if (state === "reconnecting" && timers.retry !== null) { clearTimeout(timers.retry); attempt(); } };
  const events = typeof globalThis.addEventListener === "function" && typeof globalThis.removeEventListener === "function";
  if (events) globalThis.addEventListener("online", onOnline);
  if (typeof o.onMessage === "function") messageListeners.add(o.onMessage);

  function setState(next, why) {
    state = next;
    cause = why || null;
    const event = { state: next, cause: cause, attempts: attempts };
    for (const listener of [...stateListeners]) callSafely(listener, event);
  }

  function callSafely(fn, arg) {
    try { fn(arg); } catch (error) { setTimeout(() => { throw error; }, 0); } // the app's bug, not ours
  }

  function clearTimers() {
    for (const name of Object.keys(timers)) {
      if (timers[name] !== null) { clearTimeout(timers[name]); clearInterval(timers[name]); }
    }
    timers = { heartbeat: null, pong: null, lifetime: null, retry: null, handshake: null };
  }

  function send(object) {
    if (socket && socket.readyState === 1) socket.send(JSON.stringify(object));
  }

  function requestReplay() {
    if (!o.replay) return;
    replayPending = true;
    replayLatest = null;
    send(cursor ? { action: "replay", after: cursor } : { action: "replay" });
  }

  function deliver(message, id) {
    if (id !== null) {
      if (seen.has(id)) return;
      seen.add(id);
      if (seen.size > o.dedupWindow) seen.delete(seen.values().next().value);
      if (replayPending) replayLatest = id; else cursor = id;
    }
    history.push(message);
    if (history.length > 100) history.shift();
    for (const listener of [...messageListeners]) callSafely(listener, message);
    for (const waiter of [...waiters]) waiter.check(message);
  }

  function onSocketMessage(raw) {
    if (timers.pong !== null) { clearTimeout(timers.pong); timers.pong = null; }
    const text = typeof raw === "string" ? raw : String(raw);
    let message = text;
    try { message = JSON.parse(text); } catch { /* a text push: delivered as is */ }
    if (message && typeof message === "object" && !Array.isArray(message)) {
      if (message.type === "pong") return;
      if (message.type === "replay-complete") {
        replayStatus = "on";
        replays += 1;
        replayPending = false;
        // Everything up to lastMessageId has been delivered; a live push that came meanwhile may be
        // newer, but ids are opaque: continuing after lastMessageId costs at most a duplicate.
        if (typeof message.lastMessageId === "string") cursor = message.lastMessageId;
        else if (replayLatest) cursor = replayLatest;
        if (message.complete === false && message.lastMessageId) requestReplay(); // capped: ask for the rest
        return;
      }
      const isError = message.ok === false || message.type === "error";
      if (isError && (CONTROL_ERRORS.has(message.error) || (replayPending && message.error === "unknown_action"))) {
        // The answer to our replay: refused (tokens off, window 0) or not offered (an older service).
        replayPending = false;
        if (replayLatest) cursor = replayLatest;
        if (message.error === "replay_disabled" || message.error === "unknown_action") replayStatus = "off";
        return;
      }
      deliver(message, typeof message.messageId === "string" ? message.messageId : null);
      return;
    }
    deliver(message, null);
  }

  async function attempt() {
    if (stopped) return;
    timers.retry = null;
    setState(attempts === 0 && !everOpened ? "connecting" : "reconnecting", cause);
    let token;
    try {
      token = o.tokenProvider ? await o.tokenProvider() : undefined;
    } catch (error) {
      return failedAttempt(`could not get a connect token: ${error && error.message ? error.message : error}`);
    }
    if (stopped) return;
    const query = new URLSearchParams({ email: o.email.trim(), type: o.type });
    if (token) query.set("token", token);
    const url = o.url + (o.url.includes("?") ? "&" : "?") + query.toString();
    let ws;
    try {
      ws = new o.WebSocket(url);
    } catch (error) {
      return fail(`the address cannot be opened: ${error && error.message ? error.message : error}`);
    }
    socket = ws;
    let opened = false;
    let refused = null;
    let finished = false;
    const finish = (code) => {
      if (finished || socket !== ws) return;
      finished = true;
      socket = null;
      clearTimers();
      if (stopped) return;
      if (refused !== null && REFUSED_STATUSES[refused]) return fail(REFUSED_STATUSES[refused], refused);
      if (code === PLANNED_RECONNECT) { attempts = 0; return attempt(); }
      const words = refused !== null ? `the server answered the handshake with HTTP ${refused}` : describeClose(code, opened);
      if (opened) { attempts = 0; }
      return failedAttempt(words);
    };
    // A handshake that hangs (a server stopping with connections queued, a dead route) is abandoned.
    timers.handshake = setTimeout(() => {
      if (socket !== ws || opened) return;
      try { ws.close(); } catch { /* never opened */ }
      finish(CONNECT_TIMEOUT);
    }, o.connectTimeoutMs);
    ws.onopen = () => {
      if (socket !== ws) return;
      clearTimeout(timers.handshake);
      timers.handshake = null;
      opened = true;
      everOpened = true;
      attempts = 0;
      fallbackFired = false;
      setState("open", null);
      timers.heartbeat = setInterval(heartbeat, o.heartbeatMs);
      timers.lifetime = setTimeout(() => {
        if (socket === ws) { try { ws.close(1000, "planned reconnect"); } catch { /* closing anyway */ } finish(PLANNED_RECONNECT); }
      }, o.maxConnectionMs);
      requestReplay();
    };
    ws.onmessage = (event) => { if (socket === ws) onSocketMessage(event.data); };
    ws.onerror = (event) => { const status = refusedStatus(event); if (status !== null) refused = status; };
    ws.onclose = (event) => finish(event.code);
    socket.__finish = finish;
  }

  let everOpened = false;

  function heartbeat() {
    if (!socket || socket.readyState !== 1) return;
    const ws = socket;
    // With replay on, the heartbeat IS a replay after the cursor: it keeps the connection alive and
    // also catches up on anything a live push missed (a post that failed, or a connection the service
    // wrongly marked gone), so such a message arrives at the next heartbeat instead of never.
    if (replayStatus === "on" && !replayPending) requestReplay();
    else send({ action: "ping" });
    if (timers.pong === null) {
      timers.pong = setTimeout(() => {
        if (socket !== ws) return;
        try { ws.close(1000, "no answer to ping"); } catch { /* dead anyway */ }
        ws.__finish(HEARTBEAT_TIMEOUT);
      }, o.pongTimeoutMs);
    }
  }

  function failedAttempt(words) {
    attempts += 1;
    replayPending = false;
    if (attempts >= o.fallbackAfter && !fallbackFired) {
      fallbackFired = true;
      if (typeof o.onFallback === "function") callSafely(o.onFallback, { attempts: attempts, cause: words });
    }
    const delay = backoffDelay(attempts, o.backoff);
    setState("reconnecting", words);
    timers.retry = setTimeout(attempt, delay);
  }

  function fail(words, status) {
    stopped = true;
    clearTimers();
    if (status !== undefined) connection.status = status;
    setState("failed", words);
    for (const waiter of [...waiters]) waiter.reject(new Error(`connection failed: ${words}`));
  }

  const connection = {
    /** The current state: connecting | open | reconnecting | closed | failed. */
    get state() { return state; },
    /** Why the connection is not open (words), or null. */
    get cause() { return cause; },
    /** Failed attempts since the last open. */
    get attempts() { return attempts; },
    /** "on" after a replay answered, "off" when the service refused it, "unknown" before. */
    get replay() { return replayStatus; },
    /** How many replays the service has answered (diagnostics and tests). */
    get replays() { return replays; },
    /** The messageId the next replay continues after. */
    get lastMessageId() { return cursor; },
    /** The HTTP status of a refused handshake (Node only; browsers hide it), or null. */
    status: null,
    onState(listener) { stateListeners.add(listener); return () => stateListeners.delete(listener); },
    onMessage(listener) { messageListeners.add(listener); return () => messageListeners.delete(listener); },
    send(object) {
      if (!socket || socket.readyState !== 1) throw new Error("not connected");
      socket.send(typeof object === "string" ? object : JSON.stringify(object));
    },
    waitFor(predicate, { timeout } = {}) {
      return new Promise((resolve, reject) => {
        for (const message of history) {
          if (safePredicate(predicate, message)) return resolve(message);
        }
        if (state === "failed" || state === "closed") return reject(new Error(`connection ${state}: ${cause || "closed by the app"}`));
        const waiter = {
          check(message) { if (safePredicate(predicate, message)) { done(); resolve(message); } },
          reject(error) { done(); reject(error); },
          timer: null,
        };
        const done = () => { waiters.delete(waiter); if (waiter.timer !== null) clearTimeout(waiter.timer); };
        if (timeout !== undefined) {
          waiter.timer = setTimeout(() => { done(); reject(new Error(`waitFor: no matching message within ${timeout} ms`)); }, timeout);
        }
        waiters.add(waiter);
      });
    },
    /** Reconnect now (a "retry" button): resets the backoff; also revives a failed connection. */
    retry() {
      if (state === "closed") return;
      stopped = false;
      attempts = 0;
      fallbackFired = false;
      if (socket) { const ws = socket; try { ws.close(1000, "retry"); } catch { /* */ } ws.__finish(PLANNED_RECONNECT); return; }
      clearTimers();
      attempt();
    },
    /** Close for good (code 1000 with `reason`): no reconnect. */
    close(reason = "closed by the app") {
      if (state === "closed") return;
      stopped = true;
      clearTimers();
      if (events) globalThis.removeEventListener("online", onOnline);
      const ws = socket;
      socket = null;
      if (ws) { try { ws.close(1000, String(reason).slice(0, 120)); } catch { /* */ } }
      setState("closed", null);
      for (const waiter of [...waiters]) waiter.reject(new Error("connection closed by the app"));
    },
  };

  function safePredicate(predicate, message) {
    try { return Boolean(predicate(message)); } catch { return false; }
  }

  attempt();
  return connection;
}
