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


# --- exactly one spelling per token ----------------------------------------------------------------
def _respell_exp(token: str, exp_text: str) -> str:
    version, _, sig = token.split(".")
    return f"{version}.{exp_text}.{sig}"


@pytest.mark.parametrize("spelling", ["0{exp}", "00{exp}", "+{exp}", " {exp}", "{exp} ", "{exp}.0",
                                      "\uff11{rest}", "\u0661{rest}"])
def test_only_the_canonical_decimal_exp_is_accepted(spelling):
    """A leading zero, a sign, spaces or non-ASCII digits would be other spellings of one token
    (``int()`` accepts them all); each is refused as malformed, 401."""
    token = mint_token(SECRET, "a@example.com", "general", now=NOW)
    exp = token.split(".")[1]
    respelled = _respell_exp(token, spelling.format(exp=exp, rest=exp[1:]))
    with pytest.raises(TokenMalformedError) as info:
        verify_token(SECRET, respelled, "a@example.com", "general", now=NOW)
    assert info.value.status == 401
    assert verify_token(SECRET, token, "a@example.com", "general", now=NOW) == int(exp)


def _non_canonical_last_chars(sig: str) -> list[str]:
    """Other last characters that base64-decode to the same 32 bytes (they differ only in the two
    stray low bits the 43rd character carries)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    same = []
    for ch in alphabet:
        candidate = sig[:-1] + ch
        if candidate != sig and base64.urlsafe_b64decode(candidate + "=") == base64.urlsafe_b64decode(sig + "="):
            same.append(candidate)
    return same


def test_only_the_canonical_base64url_signature_is_accepted():
    token = mint_token(SECRET, "a@example.com", "general", now=NOW)
    version, exp, sig = token.split(".")
    respellings = _non_canonical_last_chars(sig)
    assert len(respellings) == 3  # 2 stray bits: 3 other characters decode to the same digest
    for other in respellings:
        with pytest.raises(TokenMalformedError, match="canonical"):
            verify_token(SECRET, f"{version}.{exp}.{other}", "a@example.com", "general", now=NOW)
    for padded in (f"{sig}=", sig.replace("-", "+").replace("_", "/")):
        if padded != sig:
            with pytest.raises(TokenMalformedError):
                verify_token(SECRET, f"{version}.{exp}.{padded}", "a@example.com", "general", now=NOW)


@pytest.mark.parametrize("secret", ["", " ", "\t\n"])
def test_mint_rejects_blank_secret(secret):
    with pytest.raises(ValueError, match="non-blank"):
        mint_token(secret, "a@example.com", "general")


# --- the one reader of the token secret -------------------------------------------------------------
@pytest.mark.parametrize("name", ["CONNECT_TOKEN_SECRET", "CONNECT_TOKEN_SECRET_ARN"])
@pytest.mark.parametrize("value", ["", "   ", "\n"])
def test_a_token_setting_that_is_set_but_blank_is_a_config_error(name, value):
    from websocket_service.config import ConfigError, Settings

    with pytest.raises(ConfigError, match=f"{name} is set but blank.*unset {name} to run without tokens"):
        Settings.from_env({name: value})


def test_read_token_secret_returns_none_only_when_tokens_are_unset():
    from websocket_service.config import Settings
    from websocket_service.tokens import read_token_secret

    assert read_token_secret(Settings.from_env({})) is None
    assert read_token_secret(Settings.from_env({"CONNECT_TOKEN_SECRET": " keep spaces "})) == " keep spaces "
