"""Secrets via the Parameters and Secrets extension (and the boto3 fallback), and the cold path
of $connect/$disconnect, which must never import boto3."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.events import load_event
from tests.functional.helpers import body_of, connect_event, invoke
from tests.functional.http_servers import RecordingServer
from websocket_service.secrets import SecretFetchError, get_secret_string
from websocket_service.tokens import mint_token

TOKEN_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:connect-token-AbCdEf"
TOKEN_SECRET = "secret-from-the-extension"


@pytest.fixture
def extension(monkeypatch) -> RecordingServer:
    """A local server on the extension's HTTP API, holding the connect-token secret."""
    server = RecordingServer({"/secretsmanager/get": (200, {"ARN": TOKEN_ARN, "SecretString": TOKEN_SECRET})})
    monkeypatch.setenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", str(server.port))
    yield server
    server.stop()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_token_secret_is_read_through_the_extension(service_env, store, extension, capsys):
    service_env.setenv("CONNECT_TOKEN_SECRET_ARN", TOKEN_ARN)
    assert invoke(connect_event("c0", email="a@example.com", type="general"))["statusCode"] == 401
    token = mint_token(TOKEN_SECRET, "a@example.com", "general")
    assert invoke(connect_event("c1", email="a@example.com", type="general", token=token))["statusCode"] == 200
    (request,) = extension.requests  # fetched once per container
    assert request.raw_path == "/secretsmanager/get?secretId=" + TOKEN_ARN.replace(":", "%3A")
    assert request.headers["x-aws-parameters-secrets-token"] == "test-session-token"
    assert TOKEN_SECRET not in capsys.readouterr().out


def test_extension_error_is_a_config_error_without_the_value(service_env, monkeypatch):
    server = RecordingServer({"/secretsmanager/get": (400, {"message": "AccessDeniedException"})})
    try:
        monkeypatch.setenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", str(server.port))
        service_env.setenv("CONNECT_TOKEN_SECRET_ARN", TOKEN_ARN)
        response = invoke(load_event("connect"))
    finally:
        server.stop()
    assert response["statusCode"] == 500
    body = body_of(response)
    assert body["error"] == "config_error" and "HTTP 400" in body["message"] and TOKEN_ARN in body["message"]


def test_boto3_fallback_when_the_extension_is_absent(monkeypatch):
    secrets_manager = RecordingServer({"/": (200, {"ARN": TOKEN_ARN, "Name": "connect-token",
                                                   "SecretString": "from-boto3"})})
    try:
        monkeypatch.setenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", str(_closed_port()))
        monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", secrets_manager.base_url)
        assert get_secret_string(TOKEN_ARN) == "from-boto3"
        (request,) = secrets_manager.requests
    finally:
        secrets_manager.stop()
    assert request.headers["x-amz-target"] == "secretsmanager.GetSecretValue"
    assert json.loads(request.body) == {"SecretId": TOKEN_ARN}


def test_boto3_fallback_failure_is_a_secret_fetch_error(monkeypatch):
    secrets_manager = RecordingServer({"/": (400, {"__type": "ResourceNotFoundException", "message": "nope"})})
    try:
        monkeypatch.setenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", str(_closed_port()))
        monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", secrets_manager.base_url)
        with pytest.raises(SecretFetchError, match="could not read secret .*ResourceNotFoundException"):
            get_secret_string(TOKEN_ARN)
    finally:
        secrets_manager.stop()


def test_database_secret_missing_keys_is_a_config_error(monkeypatch, capsys):
    server = RecordingServer({"/secretsmanager/get": (200, {"SecretString": json.dumps({"username": "u",
                                                                                       "password": "p4ss"})})})
    try:
        monkeypatch.setenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", str(server.port))
        monkeypatch.setenv("DATABASE_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-XyZ")
        result = invoke({"action": "migrate"})
    finally:
        server.stop()
    assert result["error"] == "config_error" and "host" in result["message"]
    assert "p4ss" not in json.dumps(result) and "p4ss" not in capsys.readouterr().out


COLD_PATH_SCRIPT = """
import json, sys
from websocket_service.handler import handler
events = json.load(sys.stdin)
results = [handler(event, None) for event in events]
print(json.dumps({"results": results, "modules": sorted(m for m in ("boto3", "botocore", "psycopg")
                                                          if m in sys.modules)}))
"""


def _run_cold(events: list[dict], env: dict[str, str]) -> dict:
    completed = subprocess.run(
        [sys.executable, "-c", COLD_PATH_SCRIPT], input=json.dumps(events), capture_output=True, text=True,
        env={**os.environ, **env}, cwd=Path(__file__).parent, timeout=120, check=True,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_connect_and_disconnect_cold_path_never_imports_boto3(store, store_url, extension):
    token = mint_token(TOKEN_SECRET, "a@example.com", "email-verification")
    connect = load_event("connect")
    connect["queryStringParameters"]["token"] = token
    outcome = _run_cold([connect, load_event("disconnect")], {
        "DATABASE_URL": store_url, "CONNECT_TOKEN_SECRET_ARN": TOKEN_ARN,
        "AWS_WEBSOCKET_API_GATEWAY_ENDPOINT": "https://abc123.execute-api.us-east-1.amazonaws.com/prod"})
    assert outcome["results"] == [{"statusCode": 200}, {"statusCode": 200}]
    assert "boto3" not in outcome["modules"] and "botocore" not in outcome["modules"]
    expected_driver = ["psycopg"] if store_url.startswith("postgresql") else []
    assert outcome["modules"] == expected_driver
    assert store.get("BFHPhfCWIAMCKlQ=").disconnect_status_code == 1001


def test_empty_token_secret_refuses_connects_instead_of_disabling_tokens(service_env, store, monkeypatch):
    server = RecordingServer({"/secretsmanager/get": (200, {"ARN": TOKEN_ARN, "SecretString": ""})})
    try:
        monkeypatch.setenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", str(server.port))
        service_env.setenv("CONNECT_TOKEN_SECRET_ARN", TOKEN_ARN)
        response = invoke(load_event("connect"))
    finally:
        server.stop()
    assert response["statusCode"] == 500 and "is empty" in body_of(response)["message"]
    assert store.list_connections() == []
