// The verification page: behaves like the app's EmailVerificationDialog. It connects with the
// client (/clients/js/index.js: heartbeat, reconnect with backoff, replay, de-duplication), waits
// for {"type":"email-verified"}, and then closes. Every state is shown in words, never a bare code.
import { connect } from "/clients/js/index.js";

const FALLBACK_AFTER = 4; // failed attempts in a row before "still waiting" and a retry button
const CLOCK_SKEW_SECONDS = 30; // the service's allowance (websocket_service.tokens)

const body = document.body;
const status = document.getElementById("status");
const detail = document.getElementById("detail");
const retry = document.getElementById("retry");

function show(state, text, more) {
  body.dataset.state = state;
  status.textContent = text;
  detail.textContent = more || "";
  retry.hidden = state !== "stalled";
}

/**
 * The WebSocket base URL: the page's own host and stage, or a `ws` parameter only when it points
 * at the page's own host (the page never sends an email and token to another server).
 */
function socketBase(params) {
  const own = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/" + body.dataset.stage;
  const given = params.get("ws");
  if (!given) return own;
  try {
    const url = new URL(given);
    if ((url.protocol === "ws:" || url.protocol === "wss:") && url.host === location.host) return given;
  } catch { /* not a URL: ignored */ }
  return own;
}

/** What is wrong with the link itself (words), or null. Checked before connecting. */
function linkProblem(email, token) {
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) {
    return `This link is not valid: "${email}" is not an email address. Open the link from the email again.`;
  }
  if (token === null) return null;
  const match = /^v1\.([1-9][0-9]{0,11})\.[A-Za-z0-9_-]{43}$/.exec(token);
  if (!match) return "This link is damaged (its sign-in token is incomplete). Open the link from the email again.";
  if (Number(match[1]) + CLOCK_SKEW_SECONDS < Date.now() / 1000) {
    return "This link has expired. Ask for a new verification email.";
  }
  return null;
}

function start() {
  const params = new URLSearchParams(location.search);
  const email = (params.get("email") || "").trim();
  const type = params.get("type") || "email-verification";
  const token = params.get("token");
  if (!email) {
    document.getElementById("form").hidden = false;
    return;
  }
  const problem = linkProblem(email, token);
  if (problem) {
    show("error", "Cannot wait for verification", problem);
    return;
  }
  let verified = false;
  let stalled = false;
  const client = connect({
    url: socketBase(params),
    email,
    type,
    // A real app asks its backend for a fresh token here (one per attempt); this page has the one in its link.
    tokenProvider: () => token,
    fallbackAfter: FALLBACK_AFTER,
    onFallback: () => {
      stalled = true;
      show("stalled", "Still waiting, but the server cannot be reached",
        "We keep trying. The link may be invalid or expired, or the network is down.");
    },
    onState: ({ state, cause }) => {
      if (verified) return;
      body.dataset.socket = state === "open" ? "open" : body.dataset.socket === "none" ? "none" : "closed";
      if (state === "connecting") show("connecting", "Connecting…");
      else if (state === "open") {
        stalled = false;
        show("waiting", `Waiting for you to verify ${email}…`, "Open the link in the email we sent you.");
      } else if (state === "reconnecting" && !stalled) {
        show("reconnecting", "Still waiting… reconnecting", cause ? `Reconnecting: ${cause}.` : "");
      } else if (state === "failed") show("error", "Could not connect", cause ? `${cause[0].toUpperCase()}${cause.slice(1)}.` : "");
    },
    onMessage: (message) => {
      if (message && message.type === "email-verified") {
        verified = true;
        client.close("verified");
        body.dataset.socket = "closed";
        show("verified", "Email verified", `${email} is verified. You can continue.`);
      }
    },
  });
  retry.addEventListener("click", () => {
    stalled = false;
    show("reconnecting", "Still waiting… reconnecting", "Trying again now.");
    client.retry();
  });
  window.verifyClient = client; // for the end-to-end tests and debugging
}

start();
