"""SECURITY.md, "The service": hardening of the handler itself (in AWS as well as locally).

Real handler, real SQLite store, a real HTTP server standing in for CloudFormation's bucket.
* ``ResponseURL`` is pinned to CloudFormation's response bucket hosts: anything else is refused
  with a WARNING, nothing runs and nothing is PUT (a loopback responder only with the test-only
  ``CFN_RESPONSE_ALLOW_LOOPBACK``).
* Emails (and tokens) are lower-cased in ASCII only: U+212A KELVIN SIGN is not ``k``.
* A notify message nested too deeply to encode is the caller's error, not a ``ServiceFailures``.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.functional.helpers import connect_event, invoke, log_lines
from tests.functional.http_servers import RecordingServer
from tests.events import load_event
from websocket_service import handler as handler_module
from websocket_service.handler import CFN_LOOPBACK_ENV, CfnResponseError, _response_url
from websocket_service.tokens import mint_token
from websocket_service.validation import normalize_email

SECRET = "k" * 40  # nosec B105 # a test key


@pytest.fixture(autouse=True)
def service_env(monkeypatch: pytest.MonkeyPatch, sqlite_database_url: str, sqlite_store: Any) -> Iterator[None]:
    """The handler on this test's migrated SQLite store, no token secret, a fresh service."""
    for name in ("CONNECT_TOKEN_SECRET", "CONNECT_TOKEN_SECRET_ARN", "DATABASE_SECRET_ARN", CFN_LOOPBACK_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", sqlite_database_url)
    monkeypatch.setenv("AWS_WEBSOCKET_API_GATEWAY_ENDPOINT", "http://127.0.0.1:9/prod")
    handler_module.reset()
    yield
    handler_module.reset()


# --- CloudFormation ResponseURL ------------------------------------------------------------------
@pytest.mark.parametrize("url", [
    "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/arn%3Aaws?X-Amz-Signature=x",
    "https://cloudformation-custom-resource-response-uswest2.s3-us-west-2.amazonaws.com/x",
    "https://cloudformation-custom-resource-response-euwest1.s3.eu-west-1.amazonaws.com/x",
    "https://cloudformation-custom-resource-response-usgovwest1.s3-us-gov-west-1.amazonaws.com/x",
    "https://cloudformation-custom-resource-response-cnnorth1.s3.cn-north-1.amazonaws.com.cn/x",
])
def test_cloudformation_response_bucket_urls_are_accepted(url: str) -> None:
    assert _response_url(url) == url


@pytest.mark.parametrize("url", [
    "https://example.com/cfn-response",
    "https://attacker.example/cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x",
    "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com.attacker.example/x",
    "https://my-bucket.s3.amazonaws.com/x",
    "http://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x",
    "https://user:pw@cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x",
    "http://127.0.0.1:8080/cfn-response",
    "https://localhost/cfn-response",
    "http://169.254.169.254/latest/meta-data/",
])
def test_response_urls_off_cloudformations_bucket_are_refused(url: str) -> None:
    with pytest.raises(CfnResponseError, match="CloudFormation's response bucket"):
        _response_url(url)


def test_a_forged_custom_resource_event_puts_nothing_and_runs_nothing(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    server = RecordingServer()  # loopback: accepted only with the test-only setting, which is unset
    try:
        monkeypatch.setenv("DATABASE_URL", "mysql://nowhere/db")  # would fail if the migration ran
        event = load_event("cfn_create_migrate")
        event["ResponseURL"] = f"{server.base_url}/cfn-response?X-Amz-Signature=abc"
        result = invoke(event)
    finally:
        server.stop()
    assert result["ok"] is False and result["error"] == "cfn_response_refused"
    assert server.requests == []
    (line,) = [line for line in log_lines(capsys) if line.get("message") == "invocation"]
    assert (line["level"], line["outcome"]) == ("WARNING", "cfn_response_refused")


def test_the_loopback_responder_needs_the_explicit_test_only_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CFN_LOOPBACK_ENV, "true")
    assert _response_url("http://127.0.0.1:8080/cfn-response") == "http://127.0.0.1:8080/cfn-response"
    with pytest.raises(CfnResponseError):
        _response_url("http://example.com/cfn-response")  # only loopback, never another host


# --- ASCII-only lower-casing ---------------------------------------------------------------------
def test_emails_are_lower_cased_in_ascii_only() -> None:
    assert normalize_email(" Kate@Example.COM ") == "kate@example.com"
    assert normalize_email("\u212aATE@Example.com") == "\u212aate@example.com"  # KELVIN SIGN stays itself
    assert normalize_email("\u212aate@example.com") != normalize_email("kate@example.com")


def test_a_token_minted_for_the_kelvin_sign_does_not_connect_as_kate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONNECT_TOKEN_SECRET", SECRET)
    handler_module.reset()
    token = mint_token(SECRET, "\u212aate@example.com", "general")
    refused = invoke(connect_event("kelvin1", email="kate@example.com", type="general", token=token))
    assert refused["statusCode"] == 403
    own = mint_token(SECRET, "KATE@example.com", "general")  # ASCII case still does not matter
    assert invoke(connect_event("kate1", email="kate@example.com", type="general", token=own))["statusCode"] == 200


# --- deeply nested notify messages ---------------------------------------------------------------
def test_a_notify_message_nested_990_deep_is_a_client_error(capsys: pytest.CaptureFixture[str]) -> None:
    message: list[Any] = []
    inner = message
    for _ in range(989):
        inner.append([])
        inner = inner[0]
    result = invoke({"action": "notify", "email": "kate@example.com", "type": "general", "message": message})
    assert result["ok"] is False and result["error"] == "invalid_message"
    lines = log_lines(capsys)
    (line,) = [line for line in lines if line.get("message") == "invocation"]
    assert line["level"] == "WARNING"
    assert not [line for line in lines if "ServiceFailures" in line]
