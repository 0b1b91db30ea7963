"""Short-lived signed connect tokens: ``v1.{exp}.{sig}``.

``exp`` is the expiry in unix seconds; ``sig`` is the unpadded base64url of
``HMAC-SHA256(secret as UTF-8, "v1\\n{email}\\n{type}\\n{exp}")`` where ``email`` is stripped and
lower-cased. Any backend that knows the secret can mint one (see README). A token is accepted
only for the email and connection type it was minted for, until ``exp`` (with
:data:`CLOCK_SKEW_SECONDS` of allowance), and only if ``exp`` is at most
:data:`MAX_TTL_SECONDS` ahead.

Exactly one spelling of a token is accepted: ``exp`` in canonical decimal (no sign, no leading
zero, ASCII digits) and ``sig`` in canonical unpadded base64url (43 characters whose last one
carries no stray bits), so a token cannot be replayed under another spelling.

Missing or malformed tokens map to HTTP 401; expired, forged, other-scope or too-long-lived tokens
map to 403 (the ``status`` of each error class).

:func:`read_token_secret` is the ONE reader of the token secret, for the service and ``wsctl token``:
a secret that is set but empty or blank is a configuration error, never "tokens off".
"""
from __future__ import annotations

import base64
import re
import time
from typing import TYPE_CHECKING

from .errors import ClientError
from .validation import ascii_lower

if TYPE_CHECKING:
    from .config import Settings

VERSION = "v1"
MAX_TTL_SECONDS = 15 * 60
CLOCK_SKEW_SECONDS = 30
DEFAULT_TTL_SECONDS = 600
_SIGNATURE_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")  # 32 bytes, unpadded base64url
_EXP_PATTERN = re.compile(r"[1-9][0-9]{0,11}")  # canonical decimal unix seconds


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


def read_token_secret(settings: "Settings") -> str | None:
    """The connect-token secret ``settings`` point at, or None when tokens are off (neither
    ``CONNECT_TOKEN_SECRET`` nor ``CONNECT_TOKEN_SECRET_ARN`` set).

    Raises :class:`~websocket_service.config.ConfigError` when the secret is empty or blank (the
    setting itself or the value stored under the ARN) and
    :class:`~websocket_service.secrets.SecretFetchError` when the ARN cannot be read.
    """
    from .config import ENV_CONNECT_TOKEN_SECRET, ENV_CONNECT_TOKEN_SECRET_ARN, ConfigError

    if settings.connect_token_secret is not None:
        secret, source = settings.connect_token_secret, ENV_CONNECT_TOKEN_SECRET
    elif settings.connect_token_secret_arn is not None:
        from .secrets import get_secret_string

        secret = get_secret_string(settings.connect_token_secret_arn)
        source = f"the secret {settings.connect_token_secret_arn!r} ({ENV_CONNECT_TOKEN_SECRET_ARN})"
    else:
        return None
    if not secret.strip():
        raise ConfigError(f"{source} is empty or blank; connect tokens cannot be checked: store a random "
                          "secret of at least 32 characters there")
    return secret


def _canonical_email(email: str) -> str:
    return ascii_lower(email.strip())  # the same normalisation as the service's emails


def _digest(secret: str, email: str, connection_type: str, exp: int) -> bytes:
    import hashlib  # deferred (with hmac): with tokens off, no route signs anything
    import hmac

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
    if not secret or not secret.strip():
        raise ValueError("token secret must be a non-empty, non-blank string")
    if not 1 <= ttl_seconds <= MAX_TTL_SECONDS:
        raise ValueError(f"ttl_seconds={ttl_seconds} must be between 1 and {MAX_TTL_SECONDS}")
    exp = int(time.time() if now is None else now) + ttl_seconds
    sig = base64.urlsafe_b64encode(_digest(secret, email, connection_type, exp)).rstrip(b"=")
    return f"{VERSION}.{exp}.{sig.decode('ascii')}"


def _decode_signature(sig: str) -> bytes:
    if not _SIGNATURE_PATTERN.fullmatch(sig):
        raise TokenMalformedError("token signature must be 43 base64url characters (no padding)")
    decoded = base64.urlsafe_b64decode(sig + "=")
    if base64.urlsafe_b64encode(decoded).rstrip(b"=").decode("ascii") != sig:  # stray bits in the last char
        raise TokenMalformedError("token signature is not in canonical base64url form")
    return decoded


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
    import hmac  # deferred: with tokens off, no route verifies anything

    if not token:
        raise TokenMissingError("a connect token is required (query parameter 'token')")
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != VERSION:
        raise TokenMalformedError(f"token must look like '{VERSION}.{{exp}}.{{signature}}'")
    exp_text, sig = parts[1], parts[2]
    if not _EXP_PATTERN.fullmatch(exp_text):
        raise TokenMalformedError("token expiry must be unix seconds in plain decimal (no sign, no leading zero)")
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
