// Node minting against the shared vectors generated from the Python implementation.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { mintToken } from "../server.js";

const vectors = JSON.parse(readFileSync(new URL("../../token-vectors.json", import.meta.url), "utf8"));

test("mintToken reproduces every valid vector", () => {
  assert.ok(vectors.valid.length >= 5);
  for (const v of vectors.valid) {
    assert.equal(mintToken(v.key, v.email, v.type, { ttlSeconds: v.ttlSeconds, now: v.now }), v.token, JSON.stringify(v));
  }
});

test("mintToken never produces a refused spelling", () => {
  const minted = new Set(vectors.valid.map((v) => mintToken(v.key, v.email, v.type, { ttlSeconds: v.ttlSeconds, now: v.now })));
  for (const r of vectors.refused) assert.ok(!minted.has(r.token), r.why);
});

test("mintToken refuses a blank secret and an out-of-range lifetime", () => {
  assert.throws(() => mintToken("  ", "a@b.c", "general"), /non-blank/);
  assert.throws(() => mintToken("k", "a@b.c", "general", { ttlSeconds: 901 }), /between 1 and 900/);
  assert.throws(() => mintToken("k", "a@b.c", "general", { ttlSeconds: 0 }), /between 1 and 900/);
});
