"""Direct invokes, EventBridge events, CloudFormation custom resources and configuration errors."""
from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.events import load_event
from tests.functional.helpers import (
    UNAVAILABLE_CONNECT_BODY,
    body_of,
    connect_event,
    invocation_lines,
    invoke,
    log_lines,
    metric_lines,
    namespace_of,
)
from tests.functional.http_servers import RecordingServer
from websocket_service import handler as handler_module
from websocket_service.handler import ServiceFailureError
from websocket_service.messenger import MAX_PAYLOAD_BYTES
from websocket_service.service import get_service, send_email_verification_notification
from websocket_service.store import NewConnection, open_store

VERIFIED = {"type": "email-verified", "email": "a@example.com"}
FIRST_ID = "000000000001"  # the first message a fresh store keeps for replay


def _connect_all(*ids: str, email: str = "a@example.com", kind: str = "email-verification") -> None:
    for cid in ids:
        assert invoke(connect_event(cid, email=email, type=kind))["statusCode"] == 200


# --- notify -------------------------------------------------------------------------------------
def test_direct_notify_delivers_and_marks_gone(service_env, store, management_api):
    _connect_all("live=", "left=")
    management_api.set("left=", "gone")
    assert invoke(load_event("direct_notify")) == {"ok": True, "action": "notify", "sent": 1, "gone": 1, "failed": 0,
                                                 "undelivered": 0, "complete": True, "messageId": FIRST_ID,
                                                 "kept": True}
    (delivered,) = [r for r in management_api.posts_to("live=")]
    assert json.loads(delivered.body) == {**VERIFIED, "messageId": FIRST_ID}
    assert store.get("live=").is_active and not store.get("left=").is_active


def test_notify_survives_a_store_failure_after_the_posts_were_sent(monkeypatch, sqlite_database_url, sqlite_store,
                                                                  management_api, capsys):
    # Retrying a failed invocation would post the message to every recipient again, so a store
    # that cannot mark the gone connection (here: another process holds SQLite's write lock; WAL
    # readers are not blocked, so the posts still happen) must not fail the notify.
    monkeypatch.setenv("DATABASE_URL", sqlite_database_url)
    monkeypatch.setenv("AWS_WEBSOCKET_API_GATEWAY_ENDPOINT", management_api.endpoint)
    monkeypatch.setenv("DB_STATEMENT_TIMEOUT_MS", "200")  # SQLite's busy timeout
    _connect_all("live=", "left=")
    management_api.set("left=", "gone")
    capsys.readouterr()
    writer = sqlite3.connect(Path(sqlite_database_url.removeprefix("sqlite:///")), isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        result = invoke(load_event("direct_notify"))
        writer.execute("ROLLBACK")
    finally:
        writer.close()
    # Keeping the message for replay failed the same way: the push still went out, without an id.
    assert result == {"ok": True, "action": "notify", "sent": 1, "gone": 1, "failed": 0,
                      "undelivered": 0, "complete": True, "messageId": None, "kept": False}
    assert sorted(r.connection_id for r in management_api.requests) == ["left=", "live="]  # each once
    assert json.loads(management_api.requests[0].body) == VERIFIED
    lines = log_lines(capsys)
    (kept_warning,) = [line for line in lines if line.get("message") == "replay_keep_failed"]
    assert kept_warning["level"] == "WARNING" and "keep_message_and_list waited 200 ms" in kept_warning["error_message"]
    (warning,) = [line for line in lines if line.get("message") == "mark_gone_failed"]
    assert (warning["level"], warning["gone_connections"]) == ("WARNING", 1)
    assert "waited 200 ms for the write lock" in warning["error_message"]
    assert [line["outcome"] for line in invocation_lines(lines)] == ["ok"]
    assert metric_lines(lines, "ServiceFailures") == []
    assert sqlite_store.get("left=").is_active  # left for the next notify (410 again) or cleanup


def test_eventbridge_notify(service_env, store, management_api):
    _connect_all("c1")
    assert invoke(load_event("eventbridge_notify"))["sent"] == 1
    assert json.loads(management_api.posts_to("c1")[0].body) == {**VERIFIED, "messageId": FIRST_ID}


def test_notify_reports_failures_and_emits_the_metric(service_env, management_api, capsys):
    _connect_all("bad")
    management_api.set("bad", "forbidden")
    assert invoke(load_event("direct_notify"))["failed"] == 1
    metrics = [line for line in log_lines(capsys) if "_aws" in line]
    assert [m["FailedDeliveries"] for m in metrics] == [1]


def test_send_email_verification_notification(service_env, management_api):
    _connect_all("dialog")
    _connect_all("general-tab", kind="general")
    report = send_email_verification_notification(" A@Example.com ")
    assert (report.sent, report.gone, report.failed, report.message_id) == (1, 0, 0, FIRST_ID)
    assert [r.connection_id for r in management_api.requests] == ["dialog"]
    assert json.loads(management_api.requests[0].body) == {**VERIFIED, "messageId": FIRST_ID}


@pytest.mark.parametrize(
    ("change", "code", "fragment"),
    [
        ({"email": None}, "invalid_request", "'email'"),
        ({"type": 5}, "invalid_request", "'type'"),
        ({"message": None}, "invalid_request", "'message'"),
        ({"email": "nope"}, "invalid_email", "'@'"),
        ({"type": "admin"}, "invalid_type", "email-verification, general"),
        ({"message": "x" * (MAX_PAYLOAD_BYTES + 1)}, "payload_too_large", str(MAX_PAYLOAD_BYTES)),
    ],
)
def test_bad_notify_requests(service_env, management_api, capsys, change, code, fragment):
    _connect_all("c1")
    capsys.readouterr()
    event = {**load_event("direct_notify"), **change}
    result = invoke(event)  # bad input is returned, not raised: retrying cannot help
    assert result["ok"] is False and result["error"] == code and fragment in result["message"]
    assert management_api.requests == []
    lines = log_lines(capsys)
    (line,) = invocation_lines(lines)
    assert (line["level"], line["outcome"]) == ("WARNING", code)  # the caller's mistake, not ours
    assert metric_lines(lines, "ServiceFailures") == []


def test_notify_without_management_endpoint_is_a_config_error(service_env, management_api):
    _connect_all("c1")
    service_env.delenv("AWS_WEBSOCKET_API_GATEWAY_ENDPOINT")
    handler_module.reset()  # a new container reads the new environment
    assert invoke({"action": "migrate"})["ok"] is True  # unrelated invocations work
    with pytest.raises(ServiceFailureError) as info:
        invoke(load_event("direct_notify"))
    assert str(info.value).startswith("config_error: AWS_WEBSOCKET_API_GATEWAY_ENDPOINT is not set")


def test_unknown_direct_action(service_env):
    result = invoke({"action": "explode"})
    assert result["ok"] is False and result["error"] == "unknown_action"
    assert "['cleanup', 'connection_status', 'migrate', 'notify']" in result["message"]


# --- cleanup ------------------------------------------------------------------------------------
def _seed_stale_rows(store, *, idle: int, old_inactive: int) -> None:
    old = datetime.now(timezone.utc) - timedelta(days=3)
    for i in range(idle):
        assert store.add(NewConnection(f"idle{i}", f"u{i}@example.com", "general", old), active_limit=5)
    for i in range(old_inactive):
        assert store.add(NewConnection(f"gone{i}", f"g{i}@example.com", "general", old), active_limit=5)
        assert store.mark_disconnected(f"gone{i}", at=old, status_code=1000, reason="bye")


def test_cleanup_dry_run_counts_without_changing(service_env, store):
    _seed_stale_rows(store, idle=3, old_inactive=2)
    _connect_all("fresh")
    result = invoke({"action": "cleanup", "dry_run": True})
    assert result == {"ok": True, "action": "cleanup", "expired": 3, "purged": 2, "purged_messages": 0,
                      "dry_run": True, "complete": True}
    assert store.get("idle0").is_active and store.get("gone0") is not None


def test_cleanup_expires_and_purges_in_batches(service_env, store):
    service_env.setenv("CLEANUP_BATCH_SIZE", "2")
    _seed_stale_rows(store, idle=5, old_inactive=3)
    _connect_all("fresh")
    result = invoke({"action": "cleanup"})
    assert (result["expired"], result["purged"], result["dry_run"], result["complete"]) == (5, 3, False, True)
    # Expiry 2, 2, 1 and purge 2, 1 rows: five batches; a real run also reports its pacing.
    # ... and one (empty) batch of expired replay messages.
    assert result["batches"] == 6 and {"longest_batch_ms", "paused_ms", "elapsed_ms"} <= result.keys()
    assert not store.get("idle4").is_active and store.get("gone2") is None
    assert store.get("fresh").is_active


def test_scheduled_event_runs_cleanup(service_env, store):
    _seed_stale_rows(store, idle=1, old_inactive=1)
    result = invoke(load_event("scheduled_event"))
    assert (result["action"], result["expired"], result["purged"]) == ("cleanup", 1, 1)


def test_cleanup_rejects_non_boolean_dry_run(service_env):
    result = invoke({"action": "cleanup", "dry_run": "yes"})
    assert result["error"] == "invalid_request" and "dry_run" in result["message"]


# --- migrate ------------------------------------------------------------------------------------
def test_migrate_on_a_fresh_database_then_idempotent(monkeypatch, store_url):
    monkeypatch.setenv("DATABASE_URL", store_url)
    first = invoke({"action": "migrate"})
    assert first["ok"] is True and first["applied"] and first["applied"] == sorted(first["applied"])
    assert invoke({"action": "migrate"}) == {"ok": True, "action": "migrate", "applied": []}
    assert invoke(connect_event("c1", email="a@example.com", type="general"))["statusCode"] == 200
    check = open_store(store_url)
    try:
        assert check.get("c1").is_active
    finally:
        check.close()


def test_connect_on_an_unmigrated_database_logs_that_migrate_must_run(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/fresh.db")
    result = invoke(connect_event("c1", email="a@example.com", type="general"))
    assert result["statusCode"] == 500 and body_of(result) == UNAVAILABLE_CONNECT_BODY
    (line,) = invocation_lines(log_lines(capsys))
    assert line["outcome"] == "store_error" and "run the migrate action" in line["error_message"]
    with pytest.raises(ServiceFailureError, match="^store_error: .*run the migrate action"):
        invoke({"action": "cleanup"})  # operators see the detail


def test_auto_migrate_lets_a_fresh_container_store_accept_connections(monkeypatch, tmp_path):
    # The stack's demo mode: each new container starts with an empty SQLite file in /tmp.
    url = f"sqlite:///{tmp_path}/container.db"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("AUTO_MIGRATE", "true")
    assert invoke(connect_event("c1", email="a@example.com", type="general"))["statusCode"] == 200
    check = open_store(url)
    try:
        assert check.get("c1").is_active and check.migrate() == []
    finally:
        check.close()


# --- CloudFormation custom resource -------------------------------------------------------------
@pytest.fixture(autouse=True)
def _cfn_loopback_responder(monkeypatch):
    """The stand-in for CloudFormation's response bucket listens on loopback: allowed only through
    the handler's test-only setting (strict by default: tests/security/test_cfn_response_url.py)."""
    monkeypatch.setenv(handler_module.CFN_LOOPBACK_ENV, "true")


def _cfn_event(server: RecordingServer, request_type: str = "Create", **changes) -> dict:
    event = load_event("cfn_create_migrate")
    event["ResponseURL"] = f"{server.base_url}/cfn-response?X-Amz-Signature=abc"
    event["RequestType"] = request_type
    event.update(changes)
    return event


def _cfn_response(server: RecordingServer) -> dict:
    (request,) = server.requests
    assert request.method == "PUT" and request.raw_path == "/cfn-response?X-Amz-Signature=abc"
    assert request.headers.get("content-type", "") == ""
    return json.loads(request.body)


def test_cfn_create_migrates_and_reports_success(monkeypatch, store_url, recording_server):
    monkeypatch.setenv("DATABASE_URL", store_url)
    event = _cfn_event(recording_server)
    result = invoke(event)
    assert result["ok"] is True and result["applied"]
    response = _cfn_response(recording_server)
    assert response["Status"] == "SUCCESS"
    assert response["PhysicalResourceId"] == "websocket-migrations-DatabaseMigrations"
    for key in ("StackId", "RequestId", "LogicalResourceId"):
        assert response[key] == event[key]
    assert response["Data"] == {"Applied": ",".join(str(v) for v in result["applied"])}
    assert "2026/11/25/[$LATEST]abcdef" in response["Reason"]


def test_cfn_update_keeps_the_physical_id(service_env, recording_server):
    invoke(_cfn_event(recording_server, "Update", PhysicalResourceId="existing-id"))
    response = _cfn_response(recording_server)
    assert (response["Status"], response["PhysicalResourceId"]) == ("SUCCESS", "existing-id")
    assert response["Data"] == {"Applied": ""}  # already migrated by the store fixture


def test_cfn_delete_succeeds_without_touching_the_database(monkeypatch, recording_server):
    monkeypatch.setenv("DATABASE_URL", "mysql://nowhere/db")  # would fail if Delete opened the store
    result = invoke(_cfn_event(recording_server, "Delete", PhysicalResourceId="existing-id"))
    assert result == {"ok": True, "action": "none"}
    response = _cfn_response(recording_server)
    assert (response["Status"], response["PhysicalResourceId"]) == ("SUCCESS", "existing-id")


@pytest.mark.parametrize(
    ("env", "changes", "fragment"),
    [
        ({"DATABASE_URL": "mysql://nowhere/db"}, {}, "DATABASE_URL"),
        ({}, {"ResourceProperties": {"action": "drop-everything"}}, "ResourceProperties.action"),
    ],
)
def test_cfn_failures_are_reported_as_failed(monkeypatch, store_url, recording_server, env, changes, fragment):
    monkeypatch.setenv("DATABASE_URL", store_url)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = invoke(_cfn_event(recording_server, **changes))
    assert result["ok"] is False
    response = _cfn_response(recording_server)
    assert response["Status"] == "FAILED" and fragment in response["Reason"]


def test_cfn_unreachable_response_url_is_reported(monkeypatch, store_url, recording_server, capsys):
    monkeypatch.setenv("DATABASE_URL", store_url)
    event = _cfn_event(recording_server)
    recording_server.stop()
    result = invoke(event)
    assert result["error"] == "cfn_response_failed"
    assert log_lines(capsys)[-1]["outcome"] == "cfn_response_failed"


# --- configuration errors and odd events ----------------------------------------------------------
def test_bad_setting_gives_a_clear_error_and_recovers_when_fixed(service_env, capsys):
    service_env.setenv("CONNECTION_TTL_MINUTES", "forever")
    service_env.setenv("METRICS_NAMESPACE", " Custom ")  # read on its own despite the bad setting
    with pytest.raises(ServiceFailureError) as info:
        invoke({"action": "cleanup"})
    assert str(info.value).startswith("config_error: CONNECTION_TTL_MINUTES='forever' is not an integer")
    assert info.value.__suppress_context__  # the message says it all; no chained traceback
    connect = invoke(load_event("connect"))
    assert connect["statusCode"] == 500 and body_of(connect) == UNAVAILABLE_CONNECT_BODY
    lines = log_lines(capsys)
    assert [(line["level"], line["outcome"]) for line in invocation_lines(lines)] == [
        ("ERROR", "config_error"), ("ERROR", "config_error")]
    assert "CONNECTION_TTL_MINUTES='forever'" in invocation_lines(lines)[1]["error_message"]
    failures = metric_lines(lines, "ServiceFailures")
    assert [(namespace_of(m), m["ServiceFailures"]) for m in failures] == [("Custom", 1)] * 2
    service_env.delenv("CONNECTION_TTL_MINUTES")
    assert invoke({"action": "cleanup"})["ok"] is True  # the failure was not cached


@pytest.mark.parametrize("event", [None, "hello", [1], 42])
def test_non_object_events_are_malformed(event):
    result = invoke(event)
    assert result["ok"] is False and result["error"] == "malformed_event"


@pytest.mark.parametrize(
    "event",
    [{}, {"Records": [{"eventSource": "aws:sqs"}]},
     {"detail-type": "Object Created", "source": "aws.s3", "detail": {}}],
)
def test_unsupported_events(event):
    result = invoke(event)
    assert result["ok"] is False and result["error"] == "unsupported_event"
    assert "direct invoke" in result["message"]


@pytest.mark.parametrize("event", [
    {"requestContext": {"http": {"method": "GET"}}},  # an HTTP API event: not ours
    {"requestContext": {"connectionId": "abc=", "eventType": ["CONNECT"]}},  # a WebSocket one, mistyped
    {"requestContext": {"connectionId": "abc=", "eventType": {"CONNECT": 1}}},
    {"requestContext": "CONNECT"},
])
def test_unusable_events_with_a_request_context_get_a_400_status(event, capsys):
    """API Gateway reads ``statusCode``: an event it could have sent is answered with a status."""
    response = invoke(event)
    assert response["statusCode"] == 400
    assert body_of(response)["error"] in ("malformed_event", "unsupported_event")
    (line,) = invocation_lines(log_lines(capsys))
    assert line["level"] == "WARNING"


# --- failures on our side reach Lambda's error handling ------------------------------------------
UNREACHABLE_DATABASE_URL = "postgresql://svc_user:s3cret-pw@127.0.0.1:{port}/appdb"


@pytest.mark.parametrize(
    ("event", "route"),
    [({"action": "cleanup"}, "direct:cleanup"), ({"action": "migrate"}, "direct:migrate"),
     (load_event("direct_notify"), "direct:notify"), (load_event("eventbridge_notify"), "eventbridge:notify"),
     (load_event("scheduled_event"), "eventbridge:scheduled")],
)
def test_store_failure_is_raised_to_lambda_and_counted(monkeypatch, closed_port, capsys, event, route):
    monkeypatch.setenv("DATABASE_URL", UNREACHABLE_DATABASE_URL.format(port=closed_port))
    monkeypatch.setenv("AWS_WEBSOCKET_API_GATEWAY_ENDPOINT", "https://abc123.execute-api.us-east-1.amazonaws.com/prod")
    monkeypatch.setenv("METRICS_NAMESPACE", "Custom/Ns")
    with pytest.raises(ServiceFailureError) as info:
        invoke(event)
    message = str(info.value)
    assert message.startswith(f"store_error: could not connect to PostgreSQL at "
                              f"svc_user@127.0.0.1:{closed_port}/appdb")
    assert "s3cret-pw" not in message
    lines = log_lines(capsys)
    (line,) = invocation_lines(lines)
    assert (line["route"], line["level"], line["outcome"]) == (route, "ERROR", "store_error")
    assert "s3cret-pw" not in json.dumps(lines)
    (metric,) = metric_lines(lines, "ServiceFailures")
    assert (namespace_of(metric), metric["ServiceFailures"]) == ("Custom/Ns", 1)


def test_a_statement_timeout_keeps_the_cached_service_and_its_connection(monkeypatch, pg_store, pg_database_url,
                                                                         capsys):
    import psycopg

    monkeypatch.setenv("DATABASE_URL", pg_database_url)
    monkeypatch.setenv("DB_STATEMENT_TIMEOUT_MS", "300")
    assert invoke(connect_event("c1", email="a@example.com", type="general")) == {"statusCode": 200}
    service = get_service()
    store = service.store
    with psycopg.connect(pg_database_url) as locker:  # not autocommit: holds the lock until rollback
        locker.execute("LOCK TABLE websocket_connections IN ACCESS EXCLUSIVE MODE")
        blocked = invoke(connect_event("c2", email="a@example.com", type="general"))
        locker.rollback()
    assert blocked["statusCode"] == 500
    (line,) = [line for line in invocation_lines(log_lines(capsys)) if line["outcome"] != "connected"]
    assert line["outcome"] == "store_error" and "cancelled by statement_timeout (300 ms" in line["error_message"]
    assert get_service() is service and service.store is store  # nothing was thrown away
    assert invoke(connect_event("c2", email="a@example.com", type="general")) == {"statusCode": 200}
    assert pg_store.active_connection_ids("a@example.com", "general") == ["c1", "c2"]


def test_a_failure_to_connect_drops_the_cached_service(monkeypatch, closed_port):
    monkeypatch.setenv("DATABASE_URL", UNREACHABLE_DATABASE_URL.format(port=closed_port))
    service = get_service()  # building opens no connection yet
    failed = invoke(connect_event("c1", email="a@example.com", type="general"))
    assert failed["statusCode"] == 500
    assert get_service() is not service  # rebuilt from freshly read settings (a rotated secret)


def test_client_errors_are_returned_and_not_counted(service_env, capsys):
    service_env.setenv("METRICS_NAMESPACE", "Custom/Ns")
    result = invoke({"action": "cleanup", "dry_run": "yes"})
    assert result["ok"] is False and result["error"] == "invalid_request"
    lines = log_lines(capsys)
    assert [line["level"] for line in invocation_lines(lines)] == ["WARNING"]
    assert metric_lines(lines, "ServiceFailures") == []


def test_cfn_store_failure_answers_cloudformation_and_does_not_raise(monkeypatch, closed_port, recording_server,
                                                                       capsys):
    monkeypatch.setenv("DATABASE_URL", UNREACHABLE_DATABASE_URL.format(port=closed_port))
    result = invoke(_cfn_event(recording_server))
    assert result["ok"] is False and result["error"] == "store_error"
    response = _cfn_response(recording_server)
    assert response["Status"] == "FAILED" and f"127.0.0.1:{closed_port}" in response["Reason"]
    assert "s3cret-pw" not in response["Reason"]
    lines = log_lines(capsys)
    assert [line["level"] for line in invocation_lines(lines)] == ["ERROR"]
    assert metric_lines(lines, "ServiceFailures") == []  # the failed deploy is the signal


@pytest.mark.parametrize("response_url", [
    "not a url", "", "   ", None, 42, ["https://x"], {"url": "https://x"}, "ftp://example.com/x",
    "file:///etc/passwd", "http://example.com/cfn", "https://", "https://[::1/x", "//no-scheme/x",
])
def test_cfn_response_url_that_is_not_an_https_url_is_refused_before_anything_runs(
        monkeypatch, response_url, capsys):
    monkeypatch.setenv("DATABASE_URL", "mysql://nowhere/db")  # would fail if the migration ran
    event = load_event("cfn_create_migrate")
    event["ResponseURL"] = response_url
    result = invoke(event)
    assert result["ok"] is False and result["error"] == "cfn_response_refused"
    assert "ResponseURL" in result["message"] and "https" in result["message"]
    (line,) = invocation_lines(log_lines(capsys))
    assert (line["level"], line["outcome"]) == ("WARNING", "cfn_response_refused")


def test_cfn_response_url_answering_garbage_is_a_clear_outcome(monkeypatch, store_url, capsys):
    """A server that answers something that is not HTTP (http.client raises its own exception
    type, neither OSError nor ValueError): still a logged outcome, never an escaped exception."""
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def answer_garbage() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"NOT-HTTP garbage\r\n\r\n")

    thread = threading.Thread(target=answer_garbage, daemon=True)
    thread.start()
    monkeypatch.setenv("DATABASE_URL", store_url)
    event = load_event("cfn_create_migrate")
    event["ResponseURL"] = f"http://127.0.0.1:{listener.getsockname()[1]}/cfn-response"
    try:
        result = invoke(event)
    finally:
        thread.join(timeout=10)
        listener.close()
    assert result["error"] == "cfn_response_failed" and "BadStatusLine" in result["message"]
    assert invocation_lines(log_lines(capsys))[-1]["outcome"] == "cfn_response_failed"
