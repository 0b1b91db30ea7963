// Test support: run `wsctl local` (the real gateway and handler) as a subprocess, and talk to it the
// way a backend does (Lambda Invoke API, @connections). Shared by the client tests and the chaos run.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
export const WSCTL = join(ROOT, ".venv", "bin", "wsctl");
export const FAIL_AFTER_MS = 30000; // failure bound for "eventually" (never a timing assertion)

/** Poll `check` until it returns a truthy value; throw (naming `what`) after `ms`. */
export async function until(check, what, ms = FAIL_AFTER_MS) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`never happened within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

/**
 * Start `wsctl local` on a free port with a SQLite store in a temp folder. Options: idleTimeout,
 * maxDuration (seconds), secret (CONNECT_TOKEN_SECRET; tokens off when absent), env (extra).
 * Returns { url, managementEndpoint, invokeEndpoint, functionName, notify, connections, deleteConnection,
 * restart, stop }.
 */
export async function startLocal({ idleTimeout, maxDuration, secret, env = {} } = {}) {
  if (!existsSync(WSCTL)) throw new Error(`${WSCTL} is missing: run \`make setup\` first`);
  const dir = mkdtempSync(join(tmpdir(), "wsctl-local-"));
  const port = await freePort();
  const outputs = join(dir, "outputs.json");
  const args = ["local", "--port", String(port), "--database-url", `sqlite:///${join(dir, "store.db")}`,
    "--outputs-file", outputs, "--log-level", "WARNING", "--management-methods", "POST,GET,DELETE"];
  if (idleTimeout) args.push("--idle-timeout", String(idleTimeout));
  if (maxDuration) args.push("--max-duration", String(maxDuration));
  const childEnv = { ...process.env, ...env };
  delete childEnv.CONNECT_TOKEN_SECRET_ARN;
  if (secret) childEnv.CONNECT_TOKEN_SECRET = secret; else delete childEnv.CONNECT_TOKEN_SECRET;
  let child = null;
  let stderr = "";

  async function launch() {
    rmSync(outputs, { force: true });
    stderr = "";
    child = spawn(WSCTL, args, { env: childEnv, stdio: ["ignore", "ignore", "pipe"] });
    child.stderr.on("data", (chunk) => { stderr = (stderr + chunk).slice(-4000); });
    const started = child;
    await until(() => {
      if (started.exitCode !== null) throw new Error(`wsctl local exited with ${started.exitCode}: ${stderr}`);
      return existsSync(outputs);
    }, "wsctl local writes its outputs file");
  }

  async function stop() {
    if (!child || child.exitCode !== null) return;
    const running = child;
    const exited = new Promise((r) => running.once("exit", r));
    running.kill("SIGTERM");
    await exited;
  }

  await launch();
  const out = JSON.parse(readFileSync(outputs, "utf8")).LocalGateway;
  const base = `http://127.0.0.1:${port}`;
  const local = {
    url: out.WebSocketUrl,
    managementEndpoint: out.ManagementEndpoint,
    invokeEndpoint: base,
    functionName: out.FunctionName,
    pageUrl: `${base}/verify`,
    /** Direct-invoke notify through the Lambda Invoke API; returns the handler's answer. */
    async notify(email, message, type = "email-verification") {
      const answer = await fetch(`${base}/2015-03-31/functions/${out.FunctionName}/invocations`, {
        method: "POST", body: JSON.stringify({ action: "notify", email, type, message }),
      });
      const body = await answer.json();
      if (answer.status !== 200 || answer.headers.get("x-amz-function-error")) {
        throw new Error(`notify failed: ${answer.status} ${JSON.stringify(body)}`);
      }
      return body;
    },
    /** Open connections as the console lists them ({connectionId, email, type, ...}). */
    async connections() {
      const answer = await fetch(`${base}/console/api/connections`);
      return (await answer.json()).connections;
    },
    /** DELETE @connections/{id} (the client sees 1000). */
    async deleteConnection(id) {
      const answer = await fetch(`${out.ManagementEndpoint}/@connections/${encodeURIComponent(id)}`, { method: "DELETE" });
      return answer.status;
    },
    /** Stop (every client sees 1001) and start again on the same port and store. */
    async restart() { await stop(); await launch(); },
    async stop() { await stop(); rmSync(dir, { recursive: true, force: true }); },
  };
  return local;
}
