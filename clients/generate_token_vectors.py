"""Write clients/token-vectors.json from the Python implementation (websocket_service.tokens).

The Java (clients/java/ConnectTokens.java) and Node (clients/js/server.js) minters must produce
exactly these tokens; ``verify_token`` must accept each ``valid`` case and refuse each ``refused``
spelling with the named error code. Run from the repository root::

    .venv/bin/python clients/generate_token_vectors.py          # rewrite the file
    .venv/bin/python clients/generate_token_vectors.py --check  # exit 1 if the file is stale
"""
from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lambda_src"))
from websocket_service.tokens import CLOCK_SKEW_SECONDS, MAX_TTL_SECONDS, mint_token  # noqa: E402

PATH = Path(__file__).with_name("token-vectors.json")
NOW = 1_767_225_600  # 2026-01-01T00:00:00Z: every vector is checked at this clock

VALID = [  # key, email, type, ttlSeconds
    ("a-test-secret-of-at-least-32-characters!", "new.user@example.com", "email-verification", 600),
    ("a-test-secret-of-at-least-32-characters!", "  New.User@Example.COM\t", "email-verification", 600),
    ("another key with spaces and symbols: %&=+/?#", "someone@example.org", "general", 1),
    ("clé secrète non ASCII — ключ — 鍵 (UTF-8)", "a.b+tag@sub.example.co.uk", "email-verification", MAX_TTL_SECONDS),
    ("k" * 200, "x@y.io", "order-status", 300),
    ("a-test-secret-of-at-least-32-characters!", "\u212aATE@Example.com", "email-verification", 600),  # Kelvin sign: only A-Z lower
]


def _flip_last_bits(sig: str) -> str:
    """The same 32 bytes, spelled with stray bits set in the last character (not canonical)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(sig[-1])
    return sig[:-1] + alphabet[last | 0b11 if last & 0b11 != 0b11 else last & ~0b01]


def refused(key: str, email: str, type_: str) -> list[dict[str, Any]]:
    """Spellings of (or around) a valid token that the verifier must refuse, with the error code."""
    token = mint_token(key, email, type_, ttl_seconds=600, now=NOW)
    _, exp, sig = token.split(".")
    standard = base64.b64encode(base64.urlsafe_b64decode(sig + "=")).decode().rstrip("=")
    cases = [
        ("padded signature", f"v1.{exp}.{sig}=", "token_malformed"),
        ("leading zero in exp", f"v1.0{exp}.{sig}", "token_malformed"),
        ("plus sign in exp", f"v1.+{exp}.{sig}", "token_malformed"),
        ("non-ASCII digits in exp", "v1." + exp.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")) + f".{sig}", "token_malformed"),
        ("stray bits in the last signature character", f"v1.{exp}.{_flip_last_bits(sig)}", "token_malformed"),
        ("upper-case version", f"V1.{exp}.{sig}", "token_malformed"),
        ("unknown version", f"v2.{exp}.{sig}", "token_malformed"),
        ("four parts", f"v1.{exp}.{sig}.x", "token_malformed"),
        ("whitespace around", f" {token} ", "token_malformed"),
        ("empty", "", "token_missing"),
        ("truncated signature", f"v1.{exp}.{sig[:-1]}", "token_malformed"),
        ("exp changed by one second", f"v1.{int(exp) + 1}.{sig}", "token_signature"),
        ("minted with another key", mint_token(key + "x", email, type_, ttl_seconds=600, now=NOW), "token_signature"),
        ("minted for another email", mint_token(key, "other@example.com", type_, ttl_seconds=600, now=NOW), "token_signature"),
        ("minted for another type", mint_token(key, email, type_ + "-other", ttl_seconds=600, now=NOW), "token_signature"),
        ("expired beyond the clock skew", mint_token(key, email, type_, ttl_seconds=1, now=NOW - CLOCK_SKEW_SECONDS - 2), "token_expired"),
        ("expiry too far ahead", f"v1.{NOW + MAX_TTL_SECONDS + CLOCK_SKEW_SECONDS + 1}."
         + mint_token(key, email, type_, ttl_seconds=1, now=NOW + MAX_TTL_SECONDS + CLOCK_SKEW_SECONDS).split(".")[2],
         "token_scope"),
    ]
    kelvin = mint_token(key, "kate@example.com", type_, ttl_seconds=600, now=NOW)
    cases.append(("minted for the ASCII look-alike of a Kelvin-sign address", kelvin, "token_signature"))
    if standard != sig:  # a signature with - or _ : the standard alphabet spells it with + or /
        cases.append(("standard base64 alphabet", f"v1.{exp}.{standard}", "token_malformed"))
    return [{"why": why, "key": key, "email": "\u212aate@example.com" if "Kelvin" in why else email, "type": type_,
             "now": NOW, "token": spelled, "error": error}
            for why, spelled, error in cases]


def vectors() -> dict[str, Any]:
    """The whole vector document."""
    valid = [
        {"key": key, "email": email, "type": type_, "now": NOW, "ttlSeconds": ttl, "exp": NOW + ttl,
         "token": mint_token(key, email, type_, ttl_seconds=ttl, now=NOW)}
        for key, email, type_, ttl in VALID
    ]
    refused_cases = refused(*VALID[0][:3])
    return {
        "about": "Connect-token vectors (clients/PROTOCOL.md, Tokens), generated by clients/generate_token_vectors.py "
                 "from websocket_service.tokens. valid: mint(key, email, type, ttlSeconds, now) must equal token, "
                 "and the verifier at `now` accepts it; refused: the verifier at `now` refuses token with error.",
        "valid": valid,
        "refused": refused_cases,
    }


def render() -> str:
    """The file's exact text."""
    return json.dumps(vectors(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv[1:]:
        if PATH.read_text("utf-8") != text:
            sys.exit(f"{PATH} is stale: run {sys.argv[0]} without --check")
        sys.exit(0)
    PATH.write_text(text, "utf-8")
    print(f"wrote {PATH}")
