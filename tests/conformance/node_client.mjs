// The conformance suite's Node client: one operation per run, JSON in (argv[2]), JSON out (stdout).
// WebSocket operations use the `ws` package; management operations use the JS SDK v3
// (@aws-sdk/client-apigatewaymanagementapi), both pinned in package.json.
//   {"op": "ping", "url": ...}                    -> {"reply": ...}
//   {"op": "handshake-status", "url": ...}        -> {"status": <HTTP status of a refused handshake>}
//   {"op": "binary", "url": ...}                  -> {"closeCode": ...}
//   {"op": "listen", "url": ...}                  -> prints {"open": true}, then {"received": ...} per message
//   {"op": "post"|"get"|"delete", "endpoint": ..., "connectionId": ..., "data": ...}
//                                                 -> {"ok": true, ...} or {"error": name, "status": ..., "message": ...}
import WebSocket from "ws";
import {
  ApiGatewayManagementApiClient, DeleteConnectionCommand, GetConnectionCommand, PostToConnectionCommand,
} from "@aws-sdk/client-apigatewaymanagementapi";

const request = JSON.parse(process.argv[2]);
const print = (value) => process.stdout.write(JSON.stringify(value) + "\n");
const deadline = setTimeout(() => { print({error: "timeout"}); process.exit(3); }, 20000);

function open(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once("open", () => resolve(ws));
    ws.once("unexpected-response", (_req, res) => reject(Object.assign(new Error("refused"), {status: res.statusCode})));
    ws.once("error", reject);
  });
}

function client(endpoint) {
  const local = /^http:\/\/(127\.|localhost)/.test(endpoint);
  return new ApiGatewayManagementApiClient({
    endpoint,
    region: process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || "us-east-1",
    maxAttempts: 1,
    ...(local ? {credentials: {accessKeyId: "local", secretAccessKey: "local"}} : {}),
  });
}

async function manage(op, {endpoint, connectionId, data}) {
  const command = op === "post" ? new PostToConnectionCommand({ConnectionId: connectionId, Data: data})
    : op === "get" ? new GetConnectionCommand({ConnectionId: connectionId})
    : new DeleteConnectionCommand({ConnectionId: connectionId});
  try {
    const out = await client(endpoint).send(command);
    return {ok: true, status: out.$metadata.httpStatusCode, connectedAt: out.ConnectedAt ? out.ConnectedAt.toISOString() : undefined};
  } catch (e) {
    return {error: e.name, status: e.$metadata ? e.$metadata.httpStatusCode : undefined, message: e.message};
  }
}

async function main() {
  const {op} = request;
  if (op === "ping") {
    const ws = await open(request.url);
    ws.send(JSON.stringify({action: "ping"}));
    const reply = await new Promise((resolve) => ws.once("message", (data) => resolve(data.toString())));
    ws.close(1000);
    return {reply: JSON.parse(reply)};
  }
  if (op === "handshake-status") {
    try { (await open(request.url)).close(); return {status: 101}; } catch (e) { return {status: e.status}; }
  }
  if (op === "binary") {
    const ws = await open(request.url);
    const closed = new Promise((resolve) => ws.once("close", (code) => resolve(code)));
    ws.send(Buffer.from([0, 1, 2]), {binary: true});
    return {closeCode: await closed};
  }
  if (op === "listen") {
    clearTimeout(deadline);
    const ws = await open(request.url);
    print({open: true});
    ws.on("message", (data, isBinary) => print({received: isBinary ? null : data.toString()}));
    ws.on("close", (code) => { print({closed: code}); process.exit(0); });
    return null;
  }
  if (["post", "get", "delete"].includes(op)) return manage(op, request);
  throw new Error(`unknown op ${op}`);
}

main().then((result) => { if (result !== null) { print(result); clearTimeout(deadline); process.exit(0); } },
  (e) => { print({error: String(e && e.message || e)}); process.exit(2); });
