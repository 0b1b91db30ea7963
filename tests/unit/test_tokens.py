"""Connect tokens: format, round trip, and each rejection with its status code."""
from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from websocket_service.tokens import (
    CLOCK_SKEW_SECONDS,
    MAX_TTL_SECONDS,
    TokenExpiredError,
    TokenMalformedError,
    TokenMissingError,
    TokenScopeError,
    TokenSignatureError,
    mint_token,
    verify_token,
)

SECRET = "s3cret-for-tests"
NOW = 1_800_000_000


def test_format_matches_the_documented_recipe():
    token = mint_token(SECRET, "  Alice@Example.COM ", "email-verification", ttl_seconds=600, now=NOW)
    version, exp, sig = token.split(".")
    digest = hmac.new(SECRET.encode(), f"v1\nalice@example.com\nemail-verification\n{NOW + 600}".encode(),
                      hashlib.sha256).digest()
    assert (version, exp) == ("v1", str(NOW + 600))
    assert sig == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert "=" not in sig


def test_round_trip_normalises_email_and_returns_expiry():
    token = mint_token(SECRET, "Alice@Example.com", "general", now=NOW)
    assert verify_token(SECRET, token, " alice@example.com ", "general", now=NOW + 1) == NOW + 600


@pytest.mark.parametrize("token", [None, ""])
def test_missing_token_is_401(token):
    with pytest.raises(TokenMissingError) as info:
        verify_token(SECRET, token, "a@example.com", "general", now=NOW)
    assert info.value.status == 401


@pytest.mark.parametrize(
    "token",
    ["garbage", "v2.1800000600.abc", "v1.notanumber." + "A" * 43, "v1.1800000600.short",
     "v1.1800000600." + "!" * 43, "v1.1800000600." + "A" * 42 + "=", "v1.1.2.3"],
)
def test_malformed_token_is_401(token):
    with pytest.raises(TokenMalformedError) as info:
        verify_token(SECRET, token, "a@example.com", "general", now=NOW)
    assert info.value.status == 401


def test_expired_token_is_403_after_the_skew_allowance():
    token = mint_token(SECRET, "a@example.com", "general", ttl_seconds=60, now=NOW)
    assert verify_token(SECRET, token, "a@example.com", "general", now=NOW + 60 + CLOCK_SKEW_SECONDS) == NOW + 60
    with pytest.raises(TokenExpiredError) as info:
        verify_token(SECRET, token, "a@example.com", "general", now=NOW + 61 + CLOCK_SKEW_SECONDS)
    assert info.value.status == 403


@pytest.mark.parametrize(
    ("secret", "email", "connection_type"),
    [("other-secret", "a@example.com", "general"), (SECRET, "b@example.com", "general"),
     (SECRET, "a@example.com", "email-verification")],
)
def test_wrong_secret_email_or_type_is_a_403_signature_error(secret, email, connection_type):
    token = mint_token(SECRET, "a@example.com", "general", now=NOW)
    with pytest.raises(TokenSignatureError) as info:
        verify_token(secret, token, email, connection_type, now=NOW)
    assert info.value.status == 403


def test_tampered_expiry_breaks_the_signature():
    _, exp, sig = mint_token(SECRET, "a@example.com", "general", now=NOW).split(".")
    with pytest.raises(TokenSignatureError):
        verify_token(SECRET, f"v1.{int(exp) + 100}.{sig}", "a@example.com", "general", now=NOW)


def test_expiry_too_far_ahead_is_a_403_scope_error():
    # A correctly signed token whose expiry a server with a 15 minute maximum never grants.
    token = mint_token(SECRET, "a@example.com", "general", ttl_seconds=MAX_TTL_SECONDS, now=NOW + 3600)
    with pytest.raises(TokenScopeError) as info:
        verify_token(SECRET, token, "a@example.com", "general", now=NOW)
    assert info.value.status == 403


@pytest.mark.parametrize("ttl", [0, -1, MAX_TTL_SECONDS + 1])
def test_mint_rejects_ttl_outside_the_window(ttl):
    with pytest.raises(ValueError, match="ttl_seconds"):
        mint_token(SECRET, "a@example.com", "general", ttl_seconds=ttl, now=NOW)


def test_mint_rejects_empty_secret():
    with pytest.raises(ValueError, match="secret"):
        mint_token("", "a@example.com", "general")
