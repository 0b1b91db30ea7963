"""The handler end to end on the WebSocket routes, against both store backends."""
from __future__ import annotations

import base64
import json
from datetime import datetime, timezone

import pytest

from tests.events import load_event
from tests.functional.helpers import (
    UNAVAILABLE_CONNECT_BODY,
    UNAVAILABLE_MESSAGE_BODY,
    body_of,
    connect_event,
    invocation_lines,
    invoke,
    log_lines,
    message_event,
    metric_lines,
    namespace_of,
)
from websocket_service.routes import ActionError, actions
from websocket_service.tokens import mint_token

CID = "BFHPhfCWIAMCKlQ="
SECRET = "token-secret-for-tests"


def test_connect_records_the_connection(service_env, store, capsys):
    assert invoke(load_event("connect"), request_id="req-connect") == {"statusCode": 200}
    row = store.get(CID)
    assert (row.user_email, row.connection_type, row.is_active) == ("a@example.com", "email-verification", True)
    assert (row.source_ip, row.user_agent) == ("203.0.113.9", "Mozilla/5.0 (Flutter test)")
    assert (row.domain_name, row.stage) == ("abc123.execute-api.us-east-1.amazonaws.com", "prod")
    (line,) = log_lines(capsys)
    assert line["route"] == "$connect" and line["connection_id"] == CID and line["outcome"] == "connected"
    assert line["request_id"] == "req-connect" and isinstance(line["duration_ms"], float)
    assert line["email"] == "a***@example.com"


def test_connect_normalises_the_email(service_env, store):
    assert invoke(connect_event("c1", email="  Mixed.Case@Example.COM ", type="general"))["statusCode"] == 200
    assert store.get("c1").user_email == "mixed.case@example.com"


@pytest.mark.parametrize(
    ("query", "code", "fragment"),
    [
        (None, "missing_email", "email is required"),
        ({"type": "general"}, "missing_email", "email is required"),
        ({"email": "", "type": "general"}, "missing_email", "email is required"),
        ({"email": "not-an-address", "type": "general"}, "invalid_email", "exactly one '@'"),
        ({"email": "a@example.com"}, "missing_type", "email-verification, general"),
        ({"email": "a@example.com", "type": "admin"}, "invalid_type", "email-verification, general"),
    ],
)
def test_connect_rejects_bad_parameters_with_400_and_stores_nothing(service_env, store, query, code, fragment):
    event = load_event("connect_no_query") if query is None else connect_event("c400", **query)
    response = invoke(event)
    assert response["statusCode"] == 400
    assert body_of(response)["error"] == code and fragment in body_of(response)["message"]
    assert store.list_connections() == []


def test_repeated_query_parameter_is_rejected(service_env, store):
    event = connect_event("c1", email="a@example.com", type="general")
    event["multiValueQueryStringParameters"]["email"] = ["a@example.com", "b@example.com"]
    response = invoke(event)
    assert response["statusCode"] == 400 and "more than once" in body_of(response)["message"]
    assert store.get("c1") is None


@pytest.mark.parametrize(
    ("token_for", "status", "code"),
    [
        (None, 401, "token_missing"),
        ("garbage", 401, "token_malformed"),
        (("b@example.com", "general", 600, 0), 403, "token_signature"),
        (("a@example.com", "email-verification", 600, 0), 403, "token_signature"),
        (("a@example.com", "general", 60, -3600), 403, "token_expired"),
        (("a@example.com", "general", 900, 3600), 403, "token_scope"),
    ],
)
def test_connect_token_rejections_store_nothing(service_env, store, capsys, token_for, status, code):
    service_env.setenv("CONNECT_TOKEN_SECRET", SECRET)
    query = {"email": "a@example.com", "type": "general"}
    if isinstance(token_for, str):
        query["token"] = token_for
    elif token_for is not None:
        email, kind, ttl, offset = token_for
        query["token"] = mint_token(SECRET, email, kind, ttl_seconds=ttl,
                                    now=datetime.now(timezone.utc).timestamp() + offset)
    response = invoke(connect_event("ctok", **query))
    assert response["statusCode"] == status and body_of(response)["error"] == code
    assert store.get("ctok") is None
    output = capsys.readouterr().out
    assert SECRET not in output and (query.get("token") is None or query["token"] not in output)


def test_repeated_token_is_a_401_and_stores_nothing(service_env, store, capsys):
    service_env.setenv("CONNECT_TOKEN_SECRET", SECRET)
    tokens = [mint_token(SECRET, "a@example.com", "general", ttl_seconds=ttl) for ttl in (600, 60)]
    event = connect_event("ctok", email="a@example.com", type="general", token=tokens[0])
    event["multiValueQueryStringParameters"]["token"] = tokens  # ?token=..&token=..: ambiguous
    response = invoke(event)
    assert response["statusCode"] == 401
    assert body_of(response) == {"error": "token_malformed",
                                 "message": "query parameter 'token' is given more than once"}
    assert store.list_connections() == []
    lines = log_lines(capsys)
    (line,) = invocation_lines(lines)
    assert (line["level"], line["outcome"]) == ("WARNING", "token_malformed")
    assert not any(token in json.dumps(lines) for token in tokens)


def test_connect_with_a_valid_token_is_accepted(service_env, store):
    service_env.setenv("CONNECT_TOKEN_SECRET", SECRET)
    token = mint_token(SECRET, "A@example.com", "general")
    assert invoke(connect_event("ctok", email="a@example.com", type="general", token=token)) == {"statusCode": 200}
    assert store.get("ctok").is_active


def test_connect_over_the_cap_is_429(service_env, store):
    service_env.setenv("MAX_CONNECTIONS_PER_EMAIL", "2")
    for cid in ("c1", "c2"):
        assert invoke(connect_event(cid, email="a@example.com", type="general"))["statusCode"] == 200
    response = invoke(connect_event("c3", email="A@example.com", type="email-verification"))
    assert response["statusCode"] == 429 and body_of(response)["error"] == "too_many_connections"
    assert store.get("c3") is None
    assert invoke(connect_event("other", email="b@example.com", type="general"))["statusCode"] == 200


def test_connect_never_posts_to_the_connection(service_env, management_api):
    assert invoke(load_event("connect"))["statusCode"] == 200
    assert management_api.requests == []


def test_disconnect_marks_inactive_and_is_idempotent(service_env, store, capsys):
    invoke(load_event("connect"))
    assert invoke(load_event("disconnect")) == {"statusCode": 200}
    row = store.get(CID)
    assert (row.is_active, row.disconnect_status_code, row.disconnect_reason) == (False, 1001, "Going away")
    assert row.disconnected_at is not None
    assert invoke(load_event("disconnect")) == {"statusCode": 200}
    outcomes = [line["outcome"] for line in log_lines(capsys)]
    assert outcomes == ["connected", "disconnected", "already_inactive"]


def test_disconnect_of_an_unknown_connection_is_fine(service_env, store):
    assert invoke(load_event("disconnect")) == {"statusCode": 200}
    assert store.get(CID) is None


def test_ping_answers_pong_and_refreshes_activity(service_env, store):
    invoke(connect_event("pinged", email="a@example.com", type="general"))
    invoke(connect_event("silent", email="a@example.com", type="general"))
    between = datetime.now(timezone.utc)
    response = invoke(message_event("pinged", '{"action":"ping"}'))
    assert response == {"statusCode": 200, "body": '{"type":"pong"}'}
    # Only the connection that spoke after `between` is still considered active.
    assert store.expire_idle(idle_before=between, at=datetime.now(timezone.utc), batch_size=10) == 1
    assert store.get("pinged").is_active and not store.get("silent").is_active


def test_ping_fixture_and_base64_body(service_env):
    assert body_of(invoke(load_event("message_ping"))) == {"type": "pong"}
    encoded = base64.b64encode(b'{"action": "ping"}').decode()
    assert body_of(invoke(message_event(CID, encoded, base64=True))) == {"type": "pong"}


@pytest.mark.parametrize(
    ("body", "is_b64", "code"),
    [
        ("hello there", False, "invalid_json"),
        ("", False, "invalid_json"),
        (None, False, "invalid_json"),
        ("[1, 2]", False, "invalid_body"),
        ('"ping"', False, "invalid_body"),
        ("{}", False, "missing_action"),
        ('{"action": 7}', False, "invalid_action"),
        ('{"action": "launch-rockets"}', False, "unknown_action"),
        ("%%%not-base64", True, "invalid_body"),
        (base64.b64encode(b"\xff\xfe").decode(), True, "invalid_body"),
    ],
)
def test_bad_messages_get_a_400_error_body(service_env, body, is_b64, code):
    response = invoke(message_event(CID, body, base64=is_b64))
    assert response["statusCode"] == 400
    error = body_of(response)
    assert (error["type"], error["error"]) == ("error", code) and error["message"]


def test_not_json_fixture(service_env):
    response = invoke(load_event("message_not_json"))
    assert (response["statusCode"], body_of(response)["error"]) == (400, "invalid_json")


def test_unknown_action_lists_the_known_ones(service_env):
    message = body_of(invoke(message_event(CID, '{"action":"nope"}')))["message"]
    assert "'nope'" in message and "ping" in message


def test_registered_actions_are_dispatched(service_env, store):
    @actions.register("echo")
    def echo(request):
        if "text" not in request.payload:
            raise ActionError("missing_text", "echo needs 'text'")
        return {"type": "echo", "text": request.payload["text"], "from": request.connection_id}

    try:
        with pytest.raises(ValueError, match="already registered"):
            actions.register("echo")(echo)
        assert body_of(invoke(message_event(CID, '{"action":"echo","text":"hi"}'))) == {
            "type": "echo", "text": "hi", "from": CID}
        failed = invoke(message_event(CID, '{"action":"echo"}'))
        assert failed["statusCode"] == 400 and body_of(failed)["error"] == "missing_text"
    finally:
        actions.unregister("echo")
    assert "echo" not in actions.names()


def test_malformed_websocket_event_is_a_400_not_an_exception(service_env, store):
    event = load_event("connect")
    event["queryStringParameters"] = "email=a@example.com"
    response = invoke(event)
    assert response["statusCode"] == 400 and body_of(response)["error"] == "malformed_event"
    assert "queryStringParameters" in body_of(response)["message"]
    assert store.list_connections() == []


def test_store_failure_answers_500_with_a_generic_body_and_logs_the_detail(monkeypatch, tmp_path, capsys):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{blocker}/db.sqlite")
    response = invoke(load_event("connect"))
    assert response["statusCode"] == 500 and body_of(response) == UNAVAILABLE_CONNECT_BODY
    (line,) = invocation_lines(log_lines(capsys))
    assert (line["level"], line["outcome"]) == ("ERROR", "config_error")
    assert "DATABASE_URL" in line["error_message"] and str(blocker) in line["error_message"]


UNREACHABLE_DATABASE_URL = "postgresql://svc_user:s3cret-pw@127.0.0.1:{port}/appdb"


@pytest.mark.parametrize(
    ("event", "status", "expected_body"),
    [
        (load_event("connect"), 500, UNAVAILABLE_CONNECT_BODY),
        (message_event(CID, '{"action":"ping"}'), 500, UNAVAILABLE_MESSAGE_BODY),
        (load_event("disconnect"), 500, {"error": "service_unavailable",
                                         "message": "the service could not record this disconnect; try again later"}),
    ],
    ids=["connect", "message", "disconnect"],
)
def test_database_details_never_reach_websocket_clients(monkeypatch, closed_port, capsys, event, status,
                                                        expected_body):
    monkeypatch.setenv("DATABASE_URL", UNREACHABLE_DATABASE_URL.format(port=closed_port))
    monkeypatch.setenv("METRICS_NAMESPACE", "Custom/Ns")
    response = invoke(event)
    assert response["statusCode"] == status and body_of(response) == expected_body
    for detail in ("svc_user", "127.0.0.1", str(closed_port), "appdb", "s3cret-pw", "PostgreSQL"):
        assert detail not in response["body"]
    lines = log_lines(capsys)
    (line,) = invocation_lines(lines)  # operators get the detail in the log, without the password
    assert (line["level"], line["outcome"]) == ("ERROR", "store_error")
    assert f"svc_user@127.0.0.1:{closed_port}/appdb" in line["error_message"]
    assert "s3cret-pw" not in json.dumps(lines)
    (metric,) = metric_lines(lines, "ServiceFailures")
    assert (namespace_of(metric), metric["ServiceFailures"]) == ("Custom/Ns", 1)


def test_a_validation_error_inside_an_action_is_the_senders_400(service_env, capsys):
    @actions.register("notify-someone")
    def notify_someone(request):
        return request.service.notify(request.payload.get("email"), "general", "hi").to_dict()

    try:
        response = invoke(message_event(CID, '{"action":"notify-someone","email":"nope"}'))
    finally:
        actions.unregister("notify-someone")
    assert response["statusCode"] == 400 and body_of(response)["error"] == "invalid_email"
    lines = log_lines(capsys)
    assert [line["level"] for line in invocation_lines(lines)] == ["WARNING"]
    assert metric_lines(lines, "ServiceFailures") == []


def test_a_crashing_action_answers_500_and_logs_the_traceback(service_env, capsys):
    @actions.register("crash")
    def crash(request):
        raise RuntimeError("bug in a team's action")

    try:
        response = invoke(message_event(CID, '{"action":"crash"}'))
    finally:
        actions.unregister("crash")
    assert response["statusCode"] == 500 and body_of(response) == UNAVAILABLE_MESSAGE_BODY
    lines = log_lines(capsys)
    (line,) = invocation_lines(lines)
    assert (line["level"], line["outcome"]) == ("ERROR", "internal_error")
    assert "bug in a team's action" in line["traceback"]
    assert [m["ServiceFailures"] for m in metric_lines(lines, "ServiceFailures")] == [1]
