// The JS client against the real gateway and handler (`wsctl local`, started here).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createServer } from "node:net";
import WebSocket from "ws";

import { backoffDelay, connect, describeClose } from "../index.js";
import { mintToken } from "../server.js";
import { startLocal, until } from "../test-support/local.js";

const SECRET = "a-test-secret-of-at-least-32-characters!";
const TYPE = "email-verification";
let emails = 0;
const nextEmail = () => `client.${process.pid}.${++emails}@example.com`;

function recorder(options) {
  const states = [];
  const messages = [];
  const fallbacks = [];
  const client = connect({
    WebSocket, type: TYPE, backoff: { baseMs: 50, maxMs: 400 },
    onState: (e) => states.push(e), onMessage: (m) => messages.push(m), onFallback: (e) => fallbacks.push(e),
    ...options,
  });
  return { client, states, messages, fallbacks };
}

async function connectionIds(local, email) {
  return (await local.connections()).filter((c) => c.email === email).map((c) => c.connectionId);
}

describe("backoff and words (no server)", () => {
  test("full jitter: every delay in [0, min(maxMs, baseMs * 2^(n-1)))", () => {
    const b = { baseMs: 100, maxMs: 1000 };
    assert.equal(backoffDelay(1, b, () => 0), 0);
    assert.equal(backoffDelay(1, b, () => 0.999), 99);
    assert.equal(backoffDelay(3, b, () => 0.5), 200);
    assert.equal(backoffDelay(30, b, () => 0.999), 999); // capped at maxMs
  });

  test("close codes are described in words", () => {
    for (const code of [1000, 1001, 1006, 1011, 1012, 4999]) {
      assert.doesNotMatch(describeClose(code, true), /\d{4}/);
    }
    assert.match(describeClose(1006, false), /could not reach the server/);
  });

  test("options are checked", () => {
    assert.throws(() => connect({ url: "http://x", email: "a@b.c", WebSocket }), /ws:\/\/ or wss:\/\//);
    assert.throws(() => connect({ url: "ws://x", email: "", WebSocket }), /email is required/);
    assert.throws(() => connect({ url: "ws://x", email: "a@b.c", WebSocket, backoff: { baseMs: 0 } }), /backoff/);
  });
});

describe("with tokens (replay on)", () => {
  let local;
  before(async () => { local = await startLocal({ idleTimeout: 2, secret: SECRET }); });
  after(async () => { await local.stop(); });

  const freshToken = (email) => () => mintToken(SECRET, email, TYPE);

  test("a notify reaches the app once, with its messageId", async () => {
    const email = nextEmail();
    const { client, states } = recorder({ url: local.url, email, tokenProvider: freshToken(email), heartbeatMs: 500 });
    try {
      await until(() => client.state === "open", "open");
      assert.deepEqual(states.map((s) => s.state).slice(0, 2), ["connecting", "open"]);
      const waiting = client.waitFor((m) => m.type === "email-verified", { timeout: 20000 });
      const answer = await local.notify(email, { type: "email-verified" });
      assert.equal(answer.sent, 1);
      const message = await waiting;
      assert.equal(typeof message.messageId, "string");
      assert.equal(message.messageId, answer.messageId);
    } finally { client.close(); }
    assert.equal(client.state, "closed");
  });

  test("the heartbeat keeps a connection open past the idle timeout", async () => {
    const email = nextEmail();
    const { client, states } = recorder({ url: local.url, email, tokenProvider: freshToken(email), heartbeatMs: 400 });
    try {
      await until(() => client.state === "open", "open");
      const [id] = await connectionIds(local, email);
      // Three idle timeouts pass: the same connection is still open, and it never reconnected.
      await until(async () => {
        const row = (await local.connections()).find((c) => c.connectionId === id);
        assert.ok(row, "the heartbeat connection was closed");
        return row.ageSeconds > 6;
      }, "three idle timeouts pass");
      assert.deepEqual(states.map((s) => s.state), ["connecting", "open"]);
    } finally { client.close(); }
  });

  test("after an idle close (1001) it reconnects with a fresh token and gets the next notify", async () => {
    const email = nextEmail();
    let tokens = 0;
    const { client, states } = recorder({
      url: local.url, email, heartbeatMs: 3600000, tokenProvider: () => { tokens += 1; return mintToken(SECRET, email, TYPE); },
    });
    try {
      await until(() => states.filter((s) => s.state === "open").length >= 2, "reopened after the idle close");
      const reconnecting = states.find((s) => s.state === "reconnecting");
      assert.match(reconnecting.cause, /idle, too long open, or going away/);
      assert.ok(tokens >= 2, "one token per attempt");
      await until(async () => (await connectionIds(local, email)).length === 1, "one open connection");
      const waiting = client.waitFor((m) => m.n === 1, { timeout: 20000 });
      await local.notify(email, { n: 1 });
      await waiting;
    } finally { client.close(); }
  });

  test("a message sent while it was away is replayed, once", async () => {
    const email = nextEmail();
    let gate = null;
    const { client, messages } = recorder({
      url: local.url, email, heartbeatMs: 500,
      tokenProvider: async () => { if (gate) await gate.promise; return mintToken(SECRET, email, TYPE); },
    });
    try {
      await until(() => client.state === "open" && client.replays === 1, "open and first replay answered");
      await local.notify(email, { n: 1 });
      await until(() => messages.length === 1, "live message");
      let release;
      gate = { promise: new Promise((r) => { release = r; }) };
      const [id] = await connectionIds(local, email);
      assert.equal(await local.deleteConnection(id), 204);
      await until(() => client.state === "reconnecting", "reconnecting");
      const answer = await local.notify(email, { n: 2 });
      assert.equal(answer.sent, 0);
      assert.equal(answer.kept, true);
      const third = await local.notify(email, "plain text 3");
      release();
      await until(() => messages.length === 3, "both missed messages replayed");
      await until(() => client.replays === 2, "second replay answered");
      assert.deepEqual(messages.map((m) => (typeof m === "string" ? m : m.n)), [1, 2, "plain text 3"]);
      assert.equal(client.lastMessageId, third.messageId); // a text push has no id on the wire: replay-complete names it
    } finally { client.close(); }
  });

  test("a message replayed twice reaches the app once (de-duplication by messageId)", async () => {
    const email = nextEmail();
    const { client, messages } = recorder({ url: local.url, email, tokenProvider: freshToken(email), heartbeatMs: 500 });
    try {
      await until(() => client.replays === 1, "first replay answered");
      await local.notify(email, { n: 1 });
      await until(() => messages.length === 1, "live message");
      client.send({ action: "replay" }); // the whole window again: n=1 is posted a second time
      await until(() => client.replays === 2, "second replay answered");
      await local.notify(email, { n: 2 });
      await until(() => messages.length === 2, "next message");
      assert.deepEqual(messages.map((m) => m.n), [1, 2]);
    } finally { client.close(); }
  });

  test("a gateway restart: it reconnects and gets what was notified meanwhile", async () => {
    const email = nextEmail();
    const { client, messages, states } = recorder({ url: local.url, email, tokenProvider: freshToken(email), heartbeatMs: 500 });
    try {
      await until(() => client.replays === 1, "open");
      await local.restart();
      await local.notify(email, { n: 1 }); // may land before or after the client is back: once either way
      await until(() => messages.length === 1, "message after the restart");
      await until(() => client.state === "open", "open again");
      assert.ok(states.some((s) => s.state === "reconnecting"));
    } finally { client.close(); }
  });

  test("a refused token fails with the cause in words, and does not retry", async () => {
    const email = nextEmail();
    const { client, states, fallbacks } = recorder({
      url: local.url, email, tokenProvider: () => mintToken("another-secret-of-at-least-32-characters", email, TYPE),
    });
    await until(() => client.state === "failed", "failed");
    assert.equal(client.status, 403);
    assert.match(client.cause, /refused the connect token/);
    assert.deepEqual(states.map((s) => s.state), ["connecting", "failed"]);
    assert.deepEqual(fallbacks, []);
    await assert.rejects(client.waitFor(() => true), /refused the connect token/);
  });

  test("a missing token fails (401) with the cause in words", async () => {
    const { client } = recorder({ url: local.url, email: nextEmail() });
    await until(() => client.state === "failed", "failed");
    assert.equal(client.status, 401);
    assert.match(client.cause, /token is missing or malformed/);
  });
});

describe("unreachable server", () => {
  test("backs off, calls onFallback once after N failures, and close() stops it", async () => {
    const { client, fallbacks, states } = recorder({ url: "ws://127.0.0.1:9/prod", email: nextEmail(), fallbackAfter: 3 });
    await until(() => fallbacks.length === 1 && client.attempts >= 4, "fallback after 3 failures, then still trying");
    assert.equal(fallbacks[0].attempts, 3);
    assert.match(fallbacks[0].cause, /could not reach the server/);
    assert.ok(states.every((s) => s.state !== "failed"));
    client.close();
    const attempts = client.attempts;
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(client.attempts, attempts);
    assert.equal(client.state, "closed");
  });
});

describe("a server that accepts TCP but never answers the handshake", () => {
  test("the attempt is abandoned after connectTimeoutMs and retried, with the cause in words", async () => {
    const held = [];
    const server = createServer((socket) => held.push(socket)); // never answers the upgrade
    await new Promise((r) => server.listen(0, "127.0.0.1", r));
    const { client, states } = recorder({ url: `ws://127.0.0.1:${server.address().port}/prod`, email: nextEmail(),
      connectTimeoutMs: 300 });
    try {
      await until(() => client.attempts >= 2, "two abandoned attempts");
      assert.match(states.find((s) => s.state === "reconnecting").cause, /did not answer the connection in time/);
      assert.ok(held.length >= 2, "each attempt opened a new TCP connection");
    } finally {
      client.close();
      for (const socket of held) socket.destroy();
      server.close();
    }
  });
});
