// The README's Node (AWS SDK v3) notify example, run against `wsctl local`'s Lambda Invoke API.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import { LambdaClient } from "@aws-sdk/client-lambda";

import { connect } from "../index.js";
import { notify } from "../examples/notify.js";
import { startLocal, until } from "../test-support/local.js";

let local;
before(async () => { local = await startLocal(); });
after(async () => { await local.stop(); });

const credentials = { accessKeyId: "local", secretAccessKey: "local" };

test("notify() through the SDK reaches an open client", async () => {
  const email = `sdk.${process.pid}@example.com`;
  const client = connect({ url: local.url, email, WebSocket });
  try {
    await until(() => client.state === "open", "open");
    const waiting = client.waitFor((m) => m.type === "order-shipped", { timeout: 20000 });
    const lambda = new LambdaClient({ region: "us-east-1", endpoint: local.invokeEndpoint, credentials });
    const result = await notify(lambda, local.functionName, email, "email-verification", { type: "order-shipped" });
    assert.equal(result.sent, 1);
    assert.deepEqual((await waiting).type, "order-shipped");
  } finally { client.close(); }
});

test("the example runs as a script with the endpoint from the environment", async () => {
  const email = `sdk.script.${process.pid}@example.com`;
  const client = connect({ url: local.url, email, WebSocket });
  try {
    await until(() => client.state === "open", "open");
    const waiting = client.waitFor((m) => m.type === "email-verified", { timeout: 20000 });
    const { stdout } = await promisify(execFile)(process.execPath, [fileURLToPath(new URL("../examples/notify.js", import.meta.url)), email], {
      env: { ...process.env, AWS_ENDPOINT_URL_LAMBDA: local.invokeEndpoint, FUNCTION_NAME: local.functionName,
        AWS_REGION: "us-east-1", AWS_ACCESS_KEY_ID: "local", AWS_SECRET_ACCESS_KEY: "local" },
    });
    assert.equal(JSON.parse(stdout).sent, 1);
    assert.equal((await waiting).email, email);
  } finally { client.close(); }
});

test("a refused notify is an error", async () => {
  const lambda = new LambdaClient({ region: "us-east-1", endpoint: local.invokeEndpoint, credentials });
  await assert.rejects(notify(lambda, local.functionName, "not-an-email", "email-verification", {}), /notify failed/);
});
