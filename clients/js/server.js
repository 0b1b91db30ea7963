// Server side of @websocket-notifications/client: mint connect tokens in a Node backend
// (node:crypto only). The format is clients/PROTOCOL.md's "Tokens"; clients/token-vectors.json
// pins it against the Python implementation (websocket_service.tokens).
import { createHmac } from "node:crypto";

export const TOKEN_VERSION = "v1";
/** Longest lifetime the service accepts (seconds). */
export const MAX_TTL_SECONDS = 15 * 60;
/** Default lifetime (seconds). */
export const DEFAULT_TTL_SECONDS = 600;

/**
 * Mint a connect token `v1.{exp}.{sig}` for one email and connection type: `sig` is the unpadded
 * base64url HMAC-SHA256 (key: the secret as UTF-8) of `v1\n{email trimmed, A-Z lower-cased}\n{type}\n{exp}`.
 * Mint one per connect attempt (the client's tokenProvider), never reuse one across users.
 */
export function mintToken(secret, email, type, { ttlSeconds = DEFAULT_TTL_SECONDS, now } = {}) {
  if (typeof secret !== "string" || !secret.trim()) throw new TypeError("token secret must be a non-empty, non-blank string");
  if (typeof email !== "string" || typeof type !== "string") throw new TypeError("email and type must be strings");
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > MAX_TTL_SECONDS) {
    throw new RangeError(`ttlSeconds=${ttlSeconds} must be an integer between 1 and ${MAX_TTL_SECONDS}`);
  }
  const nowSeconds = Math.floor(now === undefined ? Date.now() / 1000 : now);
  const exp = nowSeconds + ttlSeconds;
  return `${TOKEN_VERSION}.${exp}.${signature(secret, email, type, exp)}`;
}

/** The signature part for an explicit expiry (unix seconds). */
export function signature(secret, email, type, exp) {
  // Only A-Z are lower-cased (the service's ASCII rule for emails): a Unicode lower-casing maps, e.g., the
  // Kelvin sign to "k" and let a token minted for one address open another.
  const canonical = email.trim().replace(/[A-Z]/g, (c) => c.toLowerCase());
  const message = `${TOKEN_VERSION}\n${canonical}\n${type}\n${exp}`;
  return createHmac("sha256", Buffer.from(secret, "utf8")).update(message, "utf8").digest("base64url");
}
