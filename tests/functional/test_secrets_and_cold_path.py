"""Secrets via the Parameters and Secrets extension (and the boto3 fallback), and the cold path
of $connect/$disconnect, which must never import boto3."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.events import load_event
from tests.functional.helpers import (
    UNAVAILABLE_CONNECT_BODY,
    body_of,
    closed_port,
    connect_event,
    invocation_lines,
    invoke,
    log_lines,
)
from tests.functional.http_servers import RecordingServer
from websocket_service import handler as handler_module
from websocket_service.config import Settings
from websocket_service.handler import ServiceFailureError
from websocket_service.secrets import SecretFetchError, get_secret_string
from websocket_service.service import open_service
from websocket_service.store import NewConnection
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


def test_token_secret_is_read_through_the_extension(service_env, store, extension, capsys):
    service_env.setenv("CONNECT_TOKEN_SECRET_ARN", TOKEN_ARN)
    assert invoke(connect_event("c0", email="a@example.com", type="general"))["statusCode"] == 401
    token = mint_token(TOKEN_SECRET, "a@example.com", "general")
    assert invoke(connect_event("c1", email="a@example.com", type="general", token=token))["statusCode"] == 200
    (request,) = extension.requests  # fetched once per container
    assert request.raw_path == "/secretsmanager/get?secretId=" + TOKEN_ARN.replace(":", "%3A")
    assert request.headers["x-aws-parameters-secrets-token"] == "test-session-token"
    assert TOKEN_SECRET not in capsys.readouterr().out


def _connect_with_token_secret_answer(service_env, monkeypatch, status: int, document: dict) -> dict:
    """Invoke ``$connect`` while the extension answers ``status``/``document`` for the token secret."""
    server = RecordingServer({"/secretsmanager/get": (status, document)})
    try:
        monkeypatch.setenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", str(server.port))
        service_env.setenv("CONNECT_TOKEN_SECRET_ARN", TOKEN_ARN)
        return invoke(load_event("connect"))
    finally:
        server.stop()


def test_extension_error_is_a_config_error_logged_with_the_secret_id(service_env, monkeypatch, capsys):
    response = _connect_with_token_secret_answer(service_env, monkeypatch, 400, {"message": "AccessDeniedException"})
    assert response["statusCode"] == 500 and body_of(response) == UNAVAILABLE_CONNECT_BODY
    (line,) = invocation_lines(log_lines(capsys))
    assert line["outcome"] == "config_error"
    assert "HTTP 400" in line["error_message"] and TOKEN_ARN in line["error_message"]


def test_boto3_fallback_when_the_extension_is_absent(monkeypatch):
    secrets_manager = RecordingServer({"/": (200, {"ARN": TOKEN_ARN, "Name": "connect-token",
                                                   "SecretString": "from-boto3"})})
    try:
        monkeypatch.setenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", str(closed_port()))
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
        monkeypatch.setenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", str(closed_port()))
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
        with pytest.raises(ServiceFailureError) as info:
            invoke({"action": "migrate"})
    finally:
        server.stop()
    assert str(info.value).startswith("config_error: the database secret (DATABASE_SECRET_ARN) lacks host")
    assert "p4ss" not in str(info.value) and "p4ss" not in capsys.readouterr().out


WATCHED_MODULES = ("boto3", "botocore", "psycopg", "urllib3", "hashlib", "hmac", "websocket_service.messenger",
                   "websocket_service.cleanup", "websocket_service.secrets", "websocket_service.store.schema")
"""Modules whose import the cold-path tests check: ``$connect``/``$disconnect`` need only the driver,
and each of the others is imported only by the route or action that uses it (each costs a cold
start CPU time: boto3 hundreds of ms, the rest module code, dataclasses and OpenSSL's start)."""
COLD_PATH_SCRIPT = f"""
import json, sys
from websocket_service.handler import handler
events = json.load(sys.stdin)
results = [handler(event, None) for event in events]
print(json.dumps({{"results": results, "modules": sorted(m for m in {WATCHED_MODULES!r} if m in sys.modules)}}))
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
    expected = {"hashlib", "hmac", "websocket_service.secrets"}  # the token: read from its secret, verified
    expected |= {"psycopg"} if store_url.startswith("postgresql") else {"websocket_service.store.schema"}
    assert set(outcome["modules"]) == expected
    assert store.get("BFHPhfCWIAMCKlQ=").disconnect_status_code == 1001


def test_connect_and_disconnect_cold_path_without_tokens_imports_only_the_driver(store, store_url):
    """Without tokens and secrets, nothing but the store's driver (and SQLite's migration files
    reader, which its store module needs) joins the handler's own modules."""
    outcome = _run_cold([load_event("connect"), load_event("disconnect")], {
        "DATABASE_URL": store_url,
        "AWS_WEBSOCKET_API_GATEWAY_ENDPOINT": "https://abc123.execute-api.us-east-1.amazonaws.com/prod"})
    assert outcome["results"] == [{"statusCode": 200}, {"statusCode": 200}]
    expected = ["psycopg"] if store_url.startswith("postgresql") else ["websocket_service.store.schema"]
    assert outcome["modules"] == expected


def test_notify_posts_without_ever_importing_boto3(store, store_url, management_api):
    """Fan-out signs with botocore's credentials on the messenger's own HTTP client: boto3 stays out of the process."""
    assert store.add(NewConnection("BFHPhfCWIAMCKlQ=", "a@example.com", "email-verification",
                                   datetime.now(timezone.utc)), active_limit=5)
    outcome = _run_cold([load_event("direct_notify")], {
        "DATABASE_URL": store_url, "AWS_WEBSOCKET_API_GATEWAY_ENDPOINT": management_api.endpoint,
        "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"})
    assert outcome["results"][0]["sent"] == 1
    assert "boto3" not in outcome["modules"] and "botocore" in outcome["modules"]
    (request,) = management_api.posts_to("BFHPhfCWIAMCKlQ=")
    assert request.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=test/")


def test_empty_token_secret_refuses_connects_instead_of_disabling_tokens(service_env, store, monkeypatch, capsys):
    response = _connect_with_token_secret_answer(service_env, monkeypatch, 200, {"ARN": TOKEN_ARN, "SecretString": ""})
    assert response["statusCode"] == 500 and body_of(response) == UNAVAILABLE_CONNECT_BODY
    (line,) = invocation_lines(log_lines(capsys))
    assert "is empty or blank" in line["error_message"] and line["level"] == "ERROR"
    assert store.list_connections() == []


@pytest.mark.parametrize("blank", ["", "   "])
def test_blank_token_secret_setting_fails_cold_start_with_500_not_tokens_off(service_env, store, blank, capsys):
    service_env.setenv("CONNECT_TOKEN_SECRET", blank)
    response = invoke(connect_event("c1", email="a@example.com", type="general"))  # unsigned
    assert response["statusCode"] == 500 and body_of(response) == UNAVAILABLE_CONNECT_BODY
    lines = log_lines(capsys)
    (line,) = invocation_lines(lines)
    assert (line["level"], line["outcome"]) == ("ERROR", "config_error")
    assert "CONNECT_TOKEN_SECRET is set but blank" in line["error_message"]
    assert any("ServiceFailures" in entry for entry in lines)
    assert store.list_connections() == []


# --- the database secret is re-read after a store failure (password rotation) --------------------
DB_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"


@pytest.fixture
def rotation_role(pg_database_url: str):
    """A login role whose connections land in ``pg_database_url``'s schema (the RDS secret format
    has no search_path), with the schema's tables migrated; dropped afterwards."""
    import uuid
    from urllib.parse import parse_qs, urlsplit

    import psycopg

    from websocket_service.store import open_store

    schema = parse_qs(urlsplit(pg_database_url).query)["options"][0].split("search_path=")[1]
    role = f"ws_rotation_{uuid.uuid4().hex[:12]}"
    migrator = open_store(pg_database_url)
    migrator.migrate()
    migrator.close()
    admin_url = pg_database_url.split("?")[0]
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{role}" LOGIN')
        admin.execute(f'ALTER ROLE "{role}" SET search_path = "{schema}"')
        admin.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"')
        admin.execute(f'GRANT ALL ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"')
        yield role, urlsplit(admin_url)
        handler_module.reset()  # the handler's connection logs in as the role
        admin.execute(f'DROP OWNED BY "{role}"')
        admin.execute(f'DROP ROLE "{role}"')


def _rds_secret(role: str, host: str, port: int, dbname: str) -> tuple[int, dict]:
    secret = {"username": role, "password": "rotated-pw-1", "host": host, "port": port, "dbname": dbname}
    return 200, {"ARN": DB_ARN, "SecretString": json.dumps(secret)}


def test_store_failure_rereads_the_database_secret_on_the_next_invocation(monkeypatch, rotation_role,
                                                                          closed_port, capsys):
    role, admin = rotation_role
    dbname = admin.path.lstrip("/")
    server = RecordingServer({"/secretsmanager/get": _rds_secret(role, "127.0.0.1", closed_port, dbname)})
    try:
        monkeypatch.setenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", str(server.port))
        monkeypatch.setenv("DATABASE_SECRET_ARN", DB_ARN)
        first = invoke(connect_event("c1", email="a@example.com", type="general"))
        assert first["statusCode"] == 500 and body_of(first) == UNAVAILABLE_CONNECT_BODY
        (line,) = invocation_lines(log_lines(capsys))
        assert line["outcome"] == "store_error" and f"127.0.0.1:{closed_port}" in line["error_message"]
        # The secret now names the right server (as after a rotation); no manual reset in between.
        server.routes["/secretsmanager/get"] = _rds_secret(role, admin.hostname, admin.port or 5432, dbname)
        second = invoke(connect_event("c1", email="a@example.com", type="general"))
        assert second == {"statusCode": 200}
        assert invoke({"action": "cleanup", "dry_run": True})["ok"] is True
    finally:
        server.stop()
    assert len(server.requests) == 2  # read once per service build: the failure dropped the first
    assert "rotated-pw-1" not in capsys.readouterr().out


def test_open_service_closes_the_store_when_the_token_secret_fails(tmp_path, monkeypatch):
    database = tmp_path / "service.db"
    server = RecordingServer({"/secretsmanager/get": (400, {"message": "AccessDeniedException"})})
    try:
        settings = Settings.from_env({"DATABASE_URL": f"sqlite:///{database}", "AUTO_MIGRATE": "true",
                                      "CONNECT_TOKEN_SECRET_ARN": TOKEN_ARN,
                                      "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": str(server.port)})
        monkeypatch.setenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", str(server.port))
        with pytest.raises(SecretFetchError, match="HTTP 400") as info:
            open_service(settings)
        # The failure's frames (and the store in them) are still alive here, so only close()
        # can have released the file: SQLite removes the WAL file when the last connection closes.
        assert info.traceback and database.exists()
        assert not Path(f"{database}-wal").exists(), "open_service left the migrated store open"
    finally:
        server.stop()


def test_database_host_reaches_the_database_the_secret_describes_through_another_host(monkeypatch, rotation_role, capsys):
    """DATABASE_HOST (the stack sets it to the RDS Proxy endpoint) replaces only the secret's host."""
    role, admin = rotation_role
    secret = _rds_secret(role, "db-instance.unreachable.invalid", admin.port or 5432, admin.path.lstrip("/"))
    server = RecordingServer({"/secretsmanager/get": secret})
    try:
        monkeypatch.setenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", str(server.port))
        monkeypatch.setenv("DATABASE_SECRET_ARN", DB_ARN)
        monkeypatch.setenv("DATABASE_HOST", admin.hostname)
        assert invoke(connect_event("c1", email="a@example.com", type="general")) == {"statusCode": 200}
    finally:
        server.stop()
    assert "rotated-pw-1" not in capsys.readouterr().out


def test_rds_managed_secret_connects_with_host_port_and_dbname_from_the_environment(monkeypatch, rotation_role):
    """An RDS-managed master-user secret holds only username and password; the stack's
    databaseHost/databasePort/databaseName settings arrive as DATABASE_HOST/PORT/NAME."""
    role, admin = rotation_role
    secret = {"username": role, "password": "managed-pw"}
    server = RecordingServer({"/secretsmanager/get": (200, {"ARN": DB_ARN, "SecretString": json.dumps(secret)})})
    try:
        monkeypatch.setenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", str(server.port))
        monkeypatch.setenv("DATABASE_SECRET_ARN", DB_ARN)
        monkeypatch.setenv("DATABASE_HOST", admin.hostname)
        monkeypatch.setenv("DATABASE_PORT", str(admin.port or 5432))
        monkeypatch.setenv("DATABASE_NAME", admin.path.lstrip("/"))
        assert invoke(connect_event("c1", email="a@example.com", type="general")) == {"statusCode": 200}
    finally:
        server.stop()


def test_database_port_setting_is_validated() -> None:
    from websocket_service.config import ConfigError

    assert Settings.from_env({"DATABASE_PORT": "6432", "DATABASE_HOST": "db", "DATABASE_NAME": "n"}).database_port == 6432
    with pytest.raises(ConfigError, match="DATABASE_PORT"):
        Settings.from_env({"DATABASE_PORT": "postgres"})
