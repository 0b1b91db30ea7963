// Chaos run: many JS clients (in this Node process, plus a sample in headless Chromium) against
// `wsctl local` with a short idle timeout, while connections are deleted through @connections, the
// gateway is restarted once, and notifies go out at random moments. Checks that every message
// reaches the app exactly once, and measures notify -> app latency against a bare `websockets`
// push (bench/bare_server.py) measured in the same run. Prints ONE JSON line with the figures.
//
//   node clients/js/chaos/run.js [--clients 200] [--browser 5] [--notifies 1000] [--seconds 30]
//        [--idle-timeout 3] [--deletes-per-second 2] [--drain-seconds 30] [--bare-samples 200 | --bare-only]
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import WebSocket from "ws";

import { connect } from "../index.js";
import { mintToken } from "../server.js";
import { ROOT, startLocal, until } from "../test-support/local.js";

const SECRET = "chaos-secret-of-at-least-32-characters!!";
const TYPE = "email-verification";
const CHROMIUM = "/usr/bin/chromium";

const { values: opts } = parseArgs({
  options: {
    clients: { type: "string", default: "200" },
    browser: { type: "string", default: "5" },
    notifies: { type: "string", default: "1000" },
    seconds: { type: "string", default: "30" },
    "idle-timeout": { type: "string", default: "3" },
    "deletes-per-second": { type: "string", default: "2" },
    "drain-seconds": { type: "string", default: "30" },
    "bare-samples": { type: "string", default: "200" },
    "bare-only": { type: "boolean", default: false },
  },
});
const N = Number(opts.clients);
const B = Number(opts.browser);
const NOTIFIES = Number(opts.notifies);
const SECONDS = Number(opts.seconds);
const IDLE = Number(opts["idle-timeout"]);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const percentile = (values, p) => {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
};
const log = (text) => process.stderr.write(`chaos: ${text}\n`);

// --- the bare baseline: a plain websockets server pushing to one plain client --------------------
async function bareBaseline(samples) {
  const child = spawn(join(ROOT, ".venv", "bin", "python"), ["-m", "bench.bare_server"], { cwd: ROOT, stdio: ["pipe", "pipe", "inherit"] });
  try {
    let buffer = "";
    const lines = [];
    child.stdout.on("data", (chunk) => {
      buffer += chunk;
      let i;
      while ((i = buffer.indexOf("\n")) >= 0) { lines.push(JSON.parse(buffer.slice(0, i))); buffer = buffer.slice(i + 1); }
    });
    const listening = await until(() => lines.find((l) => l.event === "listening"), "bare server listening");
    const ws = new WebSocket(listening.url);
    await new Promise((resolve, reject) => { ws.once("open", resolve); ws.once("error", reject); });
    let resolveNext = null;
    ws.on("message", () => { if (resolveNext) resolveNext(performance.now()); });
    const latencies = [];
    for (let i = 0; i < samples; i++) {
      const got = new Promise((r) => { resolveNext = r; });
      const started = performance.now();
      child.stdin.write("broadcast\n");
      latencies.push((await got) - started);
    }
    ws.close();
    return latencies;
  } finally {
    child.stdin.end("stop\n");
    child.kill("SIGTERM");
  }
}

// --- a sample of clients in headless Chromium, driven through the DevTools Protocol ---------------
async function startBrowser(pageUrl) {
  if (!existsSync(CHROMIUM)) throw new Error("install Debian's chromium: apt-get install -y chromium");
  const profile = mkdtempSync(join(tmpdir(), "chaos-chromium-"));
  const chrome = spawn(CHROMIUM, ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--remote-debugging-port=0", `--user-data-dir=${profile}`, pageUrl],
  { stdio: "ignore" });
  const portFile = join(profile, "DevToolsActivePort");
  await until(() => existsSync(portFile) && readFileSync(portFile, "utf8").includes("\n"), "Chromium DevTools port");
  const port = readFileSync(portFile, "utf8").split("\n")[0];
  const target = await until(async () => {
    const list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
    return list.find((t) => t.type === "page" && t.url.startsWith(pageUrl));
  }, "Chromium page");
  const devtools = new WebSocket(target.webSocketDebuggerUrl, { maxPayload: 256 * 1024 * 1024 });
  await new Promise((resolve, reject) => { devtools.once("open", resolve); devtools.once("error", reject); });
  let ids = 0;
  const pending = new Map();
  devtools.on("message", (data) => {
    const reply = JSON.parse(data);
    if (pending.has(reply.id)) { pending.get(reply.id)(reply); pending.delete(reply.id); }
  });
  async function evaluate(expression) {
    const id = ++ids;
    const reply = await new Promise((resolve) => {
      pending.set(id, resolve);
      devtools.send(JSON.stringify({ id, method: "Runtime.evaluate", params: { expression, returnByValue: true, awaitPromise: true } }));
    });
    if (reply.error || reply.result.exceptionDetails) throw new Error(`page: ${JSON.stringify(reply.error || reply.result.exceptionDetails)}`);
    return reply.result.result.value;
  }
  const loaded = `location.href.startsWith(${JSON.stringify(pageUrl)}) && document.readyState === "complete"`;
  await until(async () => { try { return await evaluate(loaded); } catch { return false; } }, "page loaded");
  return {
    evaluate,
    async stop() {
      devtools.close();
      chrome.kill("SIGTERM");
      await new Promise((r) => (chrome.exitCode !== null ? r() : chrome.once("exit", r)));
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

const BROWSER_SETUP = (moduleUrl, url, emails, tokens) => `(async () => {
  const { connect } = await import(${JSON.stringify(moduleUrl)});
  window.chaos = { received: [], opens: {} };
  const emails = ${JSON.stringify(emails)};
  const tokens = ${JSON.stringify(tokens)};
  window.chaosClients = emails.map((email, i) => connect({
    url: ${JSON.stringify(url)}, email, type: ${JSON.stringify(TYPE)}, heartbeatMs: 3600000,
    backoff: { baseMs: 200, maxMs: 2000 }, connectTimeoutMs: 5000, tokenProvider: () => tokens[i],
    onState: (e) => { if (e.state === "open") (window.chaos.opens[email] ||= []).push(Date.now()); },
    onMessage: (m) => window.chaos.received.push({ email, seq: m.seq, at: Date.now() }),
  }));
  return emails.length;
})()`;

// --- the run ----------------------------------------------------------------------------------------
async function main() {
  const bare = Number(opts["bare-samples"]) > 0 ? await bareBaseline(Number(opts["bare-samples"])) : [];
  if (bare.length) log(`bare push p99 ${percentile(bare, 99).toFixed(2)} ms`);
  if (opts["bare-only"]) {
    process.stdout.write(`${JSON.stringify({ p99BareMs: percentile(bare, 99), p50BareMs: percentile(bare, 50) })}\n`);
    return;
  }
  const local = await startLocal({ idleTimeout: IDLE, secret: SECRET });
  const clients = [];
  const received = new Map(); // email -> [{seq, at}]
  const opens = new Map(); // email -> [open times]
  let browser = null;
  const browserEmails = Array.from({ length: B }, (_, i) => `chaos.browser.${i}@example.com`);
  try {
    for (let i = 0; i < N; i++) {
      const email = `chaos.${i}@example.com`;
      received.set(email, []);
      opens.set(email, []);
      clients.push(connect({
        url: local.url, email, type: TYPE, WebSocket,
        heartbeatMs: i % 2 === 0 ? IDLE * 1000 / 2 : 3600000, // half keep alive, half are closed idle again and again
        backoff: { baseMs: 200, maxMs: 2000 }, connectTimeoutMs: 5000,
        tokenProvider: () => mintToken(SECRET, email, TYPE),
        onState: (e) => { if (e.state === "open") opens.get(email).push(Date.now()); },
        onMessage: (m) => received.get(email).push({ seq: m.seq, at: Date.now() }),
      }));
    }
    if (B > 0) {
      browser = await startBrowser(local.pageUrl);
      const tokens = browserEmails.map((email) => mintToken(SECRET, email, TYPE, { ttlSeconds: 900 }));
      await browser.evaluate(BROWSER_SETUP(`${local.invokeEndpoint}/clients/js/index.js`, local.url, browserEmails, tokens));
    }
    await until(() => clients.every((c) => c.state === "open"), "every Node client open", 120000);
    if (browser) await until(() => browser.evaluate("window.chaosClients.every((c) => c.state === 'open')"), "every browser client open", 60000);
    log(`${N} Node + ${B} browser clients open`);

    const everyone = [...received.keys(), ...browserEmails];
    const sent = []; // {seq, email, at}
    const failedNotifies = [];
    let deletes = 0;
    let restarted = false;
    let restarting = null;
    let restartMs = null;
    let restartedAt = null;
    const start = Date.now();
    const schedule = Array.from({ length: NOTIFIES }, () => Math.random() * SECONDS * 1000).sort((a, b) => a - b);

    async function notifyOne(seq) {
      const email = everyone[Math.floor(Math.random() * everyone.length)];
      for (;;) {
        if (restarting) await restarting;
        const at = Date.now();
        try {
          const answer = await local.notify(email, { seq, email });
          sent.push({ seq, email, at, kept: answer.kept, live: answer.sent });
          return;
        } catch (error) {
          if (Date.now() - start > (SECONDS + 60) * 1000) { failedNotifies.push({ seq, error: String(error) }); return; }
          await sleep(100); // the gateway is restarting: a backend retries
        }
      }
    }

    const chaos = (async () => {
      const perSecond = Number(opts["deletes-per-second"]);
      while (Date.now() - start < SECONDS * 1000) {
        await sleep(1000 / Math.max(perSecond, 0.001));
        if (!restarted && Date.now() - start > (SECONDS * 1000) / 2) {
          restarted = true;
          log("restarting the gateway");
          const began = Date.now();
          restarting = local.restart().finally(() => { restarting = null; });
          await restarting;
          restartMs = Date.now() - began;
          restartedAt = began;
          log(`gateway restarted in ${restartMs} ms`);
          continue;
        }
        if (restarting || perSecond <= 0) continue;
        try {
          const open = await local.connections();
          if (open.length) {
            const victim = open[Math.floor(Math.random() * open.length)];
            if ((await local.deleteConnection(victim.connectionId)) === 204) deletes += 1;
          }
        } catch { /* the gateway was restarting */ }
      }
    })();

    const inFlight = new Set();
    for (let seq = 0; seq < schedule.length; seq++) {
      const wait = start + schedule[seq] - Date.now();
      if (wait > 0) await sleep(wait);
      while (inFlight.size >= 16) await Promise.race(inFlight);
      const p = notifyOne(seq).finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    await Promise.all(inFlight);
    await chaos;
    log(`sent ${sent.length} notifies (${failedNotifies.length} failed), ${deletes} deletes, restarted ${restarted}`);

    const browserReceived = async () => (browser ? browser.evaluate("window.chaos") : { received: [], opens: {} });
    const deliveredCount = async () => {
      let count = 0;
      for (const list of received.values()) count += list.length;
      return count + (await browserReceived()).received.length;
    };
    const drainDeadline = Date.now() + Number(opts["drain-seconds"]) * 1000;
    while (Date.now() < drainDeadline && (await deliveredCount()) < sent.length) await sleep(100);

    const fromBrowser = await browserReceived();
    for (const email of browserEmails) {
      received.set(email, fromBrowser.received.filter((r) => r.email === email));
      opens.set(email, fromBrowser.opens[email] || []);
    }
    // Exactly once: each sent seq seen once by its own recipient, nothing else seen.
    const bySeq = new Map(sent.map((s) => [s.seq, s]));
    let duplicates = 0;
    let strays = 0;
    const latencies = [];
    const afterBack = [];
    const slow = [];
    const browserLatencies = [];
    const seen = new Set();
    for (const [email, list] of received) {
      for (const r of list) {
        const s = bySeq.get(r.seq);
        if (!s || s.email !== email) { strays += 1; continue; }
        if (seen.has(r.seq)) { duplicates += 1; continue; }
        seen.add(r.seq);
        latencies.push(r.at - s.at);
        if (r.at - s.at > 10000) slow.push({ ...s, latency: r.at - s.at, opensAfter: opens.get(email).map((t) => t - s.at).filter((d) => d > -5000) });
        if (browserEmails.includes(email)) browserLatencies.push(r.at - s.at);
        const lastOpen = Math.max(...opens.get(email).filter((t) => t <= r.at), 0);
        afterBack.push(r.at - Math.max(s.at, lastOpen));
      }
    }
    const missing = sent.filter((s) => !seen.has(s.seq));
    const reconnects = [...opens.values()].reduce((n, list) => n + Math.max(0, list.length - 1), 0);
    const result = {
      clients: N, browserClients: B, seconds: SECONDS, idleTimeoutSeconds: IDLE,
      sent: sent.length, notifyFailures: failedNotifies.length, delivered: seen.size, duplicates, strays,
      missing: missing.length,
      missingSample: missing.slice(0, 5).map((m) => ({ ...m, opensAfter: (opens.get(m.email) || []).map((t) => t - m.at).filter((d) => d > -5000) })),
      keptWhileAway: sent.filter((s) => s.live === 0).length,
      browserSent: sent.filter((s) => browserEmails.includes(s.email)).length, browserDelivered: browserLatencies.length,
      deletes, restarted, restartMs, reconnects, slowSample: slow.slice(0, 4),
      // from the start of the restart until the last client had opened again (null: one never did)
      backAfterRestartMs: percentile([...opens.values()].map((list) => (list.find((t) => t > restartedAt) ?? Infinity) - restartedAt), 100),
      p50NotifyToAppMs: percentile(latencies, 50), p99NotifyToAppMs: percentile(latencies, 99),
      p99AfterBackMs: percentile(afterBack, 99), maxAfterBackMs: afterBack.length ? Math.max(...afterBack) : null,
      p99BareMs: percentile(bare, 99), p50BareMs: percentile(bare, 50),
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    for (const c of clients) c.close();
    if (browser) await browser.stop();
    await local.stop();
  }
}

main().then(() => process.exit(0), (error) => { process.stderr.write(`chaos: FAILED ${error.stack || error}\n`); process.exit(1); });
