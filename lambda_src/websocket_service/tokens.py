"""Short-lived signed connect tokens: ``v1.{exp}.{sig}``.

``exp`` is the expiry in unix seconds; ``sig`` is the unpadded base64url of
``HMAC-SHA256(secret as UTF-8, "v1\\n{email}\\n{type}\\n{exp}")`` where ``email`` is stripped and
lower-cased. Any backend that knows the secret can mint one (see README). A token is accepted
only for the email and connection type it was minted for, until ``exp`` (with
:data:`CLOCK_SKEW_SECONDS` of allowance), and only if ``exp`` is at most
:data:`MAX_TTL_SECONDS` ahead.

Missing or malformed tokens map to HTTP 401; expired, forged, other-scope or too-long-lived tokens
map to 403 (the ``status`` of each error class).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time

from .errors import ClientError

VERSION = "v1"
MAX_TTL_SECONDS = 15 * 60
CLOCK_SKEW_SECONDS = 30
DEFAULT_TTL_SECONDS = 600
_SIGNATURE_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")  # 32 bytes, unpadded base64url


class TokenError(ClientError):
    """Base of token failures; ``code`` is the API error code, ``status`` the HTTP status."""

    code = "token_invalid"
    status = 403


class TokenMissingError(TokenError):
    """No token was given although the service requires one (401)."""

    code = "token_missing"
    status = 401


class TokenMalformedError(TokenError):
    """The token is not of the form ``v1.{exp}.{sig}`` (401)."""

    code = "token_malformed"
    status = 401


class TokenExpiredError(TokenError):
    """The token's expiry has passed (403)."""

    code = "token_expired"
    status = 403


class TokenSignatureError(TokenError):
    """The signature does not match: wrong secret, or minted for another email or type (403)."""

    code = "token_signature"
    status = 403


class TokenScopeError(TokenError):
    """The token claims a validity window this service does not grant (expiry too far ahead) (403)."""

    code = "token_scope"
    status = 403


def _canonical_email(email: str) -> str:
    return email.strip().lower()


def _digest(secret: str, email: str, connection_type: str, exp: int) -> bytes:
    message = f"{VERSION}\n{_canonical_email(email)}\n{connection_type}\n{exp}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()


def mint_token(
    secret: str,
    email: str,
    connection_type: str,
    *,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
    now: float | None = None,
) -> str:
    """Mint a token valid for ``ttl_seconds`` (1..900) for one email and connection type."""
    if not secret:
        raise ValueError("token secret must be a non-empty string")
    if not 1 <= ttl_seconds <= MAX_TTL_SECONDS:
        raise ValueError(f"ttl_seconds={ttl_seconds} must be between 1 and {MAX_TTL_SECONDS}")
    exp = int(time.time() if now is None else now) + ttl_seconds
    sig = base64.urlsafe_b64encode(_digest(secret, email, connection_type, exp)).rstrip(b"=")
    return f"{VERSION}.{exp}.{sig.decode('ascii')}"


def _decode_signature(sig: str) -> bytes:
    if not _SIGNATURE_PATTERN.fullmatch(sig):
        raise TokenMalformedError("token signature must be 43 base64url characters (no padding)")
    return base64.urlsafe_b64decode(sig + "=")


def verify_token(
    secret: str,
    token: str | None,
    email: str,
    connection_type: str,
    *,
    now: float | None = None,
) -> int:
    """Check ``token`` for ``email`` and ``connection_type``; return its expiry (unix seconds).

    Raises a :class:`TokenError` subclass saying what is wrong. The signature is compared in
    constant time.
    """
    if not token:
        raise TokenMissingError("a connect token is required (query parameter 'token')")
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != VERSION:
        raise TokenMalformedError(f"token must look like '{VERSION}.{{exp}}.{{signature}}'")
    exp_text, sig = parts[1], parts[2]
    if not exp_text.isascii() or not exp_text.isdigit() or len(exp_text) > 12:
        raise TokenMalformedError("token expiry must be unix seconds")
    given = _decode_signature(sig)
    exp = int(exp_text)
    expected = _digest(secret, email, connection_type, exp)
    if not hmac.compare_digest(given, expected):
        raise TokenSignatureError("token signature does not match this email and connection type")
    current = time.time() if now is None else now
    if exp + CLOCK_SKEW_SECONDS < current:
        raise TokenExpiredError("token has expired; mint a new one")
    if exp > current + MAX_TTL_SECONDS + CLOCK_SKEW_SECONDS:
        raise TokenScopeError(f"token expiry is more than {MAX_TTL_SECONDS // 60} minutes ahead")
    return exp
