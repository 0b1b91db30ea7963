"""The holes issue 10 reproduced, each as a regression test on BOTH stores: client input is the
client's fault (4xx, WARNING, no ``ServiceFailures``) and both stores answer the same way."""
from __future__ import annotations

import pytest

from tests.events import load_event
from tests.functional.helpers import (
    body_of,
    connect_event,
    invocation_lines,
    invoke,
    log_lines,
    message_event,
    metric_lines,
)
from websocket_service.errors import ClientError, ServiceError
from websocket_service.routes import ActionRequest, actions

MESSAGE_LIMIT = 131_072


def _only_client_fault(capsys, outcome: str) -> dict:
    lines = log_lines(capsys)
    (line,) = invocation_lines(lines)
    assert (line["level"], line["outcome"]) == ("WARNING", outcome)
    assert metric_lines(lines, "ServiceFailures") == []
    return line


@pytest.mark.parametrize("kind", ["[", '{"a":'])
def test_a_body_nested_deeply_within_128_kb_is_a_400_not_a_page(service_env, store, capsys, kind):
    _ = invoke(connect_event("deep=", email="a@example.com", type="general"))
    capsys.readouterr()
    depth = (MESSAGE_LIMIT - 10) // (len(kind) + 1)
    body = kind * depth + ("1" if kind != "[" else "") + ("]" if kind == "[" else "}") * depth
    assert len(body.encode()) <= MESSAGE_LIMIT
    response = invoke(message_event("deep=", body))
    assert response["statusCode"] == 400
    assert body_of(response)["error"] == "invalid_json" and "too deeply" in body_of(response)["message"]
    _only_client_fault(capsys, "invalid_json")


@pytest.mark.parametrize("value", [["CONNECT"], {"CONNECT": True}, 7, None, True])
def test_an_event_type_of_another_json_type_is_a_clean_400(service_env, store, capsys, value):
    event = connect_event("typed=", email="a@example.com", type="general")
    event["requestContext"]["eventType"] = value
    response = invoke(event)
    assert response["statusCode"] == 400
    assert store.get("typed=") is None
    lines = log_lines(capsys)
    assert metric_lines(lines, "ServiceFailures") == []


@pytest.mark.parametrize("connection_id", ["abc\x00def", "a" * 129, "id with space", "\ud800x", "é=", "a\nb"])
def test_a_bad_connection_id_is_refused_before_any_sql(service_env, store, capsys, connection_id):
    response = invoke(connect_event(connection_id, email="a@example.com", type="general"))
    assert response["statusCode"] == 400 and body_of(response)["error"] == "invalid_connection_id"
    assert store.list_connections() == []
    _only_client_fault(capsys, "invalid_connection_id")
    for event in (message_event(connection_id, '{"action":"ping"}'), _disconnect(connection_id)):
        assert invoke(event)["statusCode"] == 400


def _disconnect(connection_id: str) -> dict:
    event = load_event("disconnect")
    event["requestContext"]["connectionId"] = connection_id
    return event


@pytest.mark.parametrize("email", ["a\ud800@example.com", "a\x00b@example.com", "a\u202eb@example.com",
                                   "a\u200b@example.com", "a@exa\x00mple.com"])
def test_emails_with_nul_surrogates_or_format_characters_are_400_on_both_stores(service_env, store, capsys, email):
    response = invoke(connect_event("mail=", email=email, type="general"))
    assert response["statusCode"] == 400 and body_of(response)["error"] == "invalid_email"
    assert store.list_connections() == []
    _only_client_fault(capsys, "invalid_email")


def test_recorded_headers_are_cleaned_and_truncated_not_refused(service_env, store):
    event = connect_event("agent=", email="a@example.com", type="general")
    event["headers"]["User-Agent"] = "evil\x00agent\ud800/1.0\u202e" + "x" * 5000
    event["requestContext"]["identity"]["sourceIp"] = "203.0.113.9\x00"
    event["requestContext"]["stage"] = "prod\x1b[31m"
    assert invoke(event)["statusCode"] == 200
    row = store.get("agent=")
    assert row.user_agent.startswith("evilagent/1.0") and len(row.user_agent) == 512
    assert (row.source_ip, row.stage) == ("203.0.113.9", "prod[31m")


@pytest.mark.parametrize(("code", "recorded"), [(2**40, None), (-1, None), (True, None), ("1001", 1001), (4001, 4001)])
def test_disconnect_codes_outside_a_close_code_are_recorded_as_none(service_env, store, code, recorded):
    assert invoke(connect_event("close=", email="a@example.com", type="general"))["statusCode"] == 200
    event = _disconnect("close=")
    event["requestContext"]["disconnectStatusCode"] = code
    event["requestContext"]["disconnectReason"] = "bye\x00\ud800"
    assert invoke(event)["statusCode"] == 200
    row = store.get("close=")
    assert (row.is_active, row.disconnect_status_code, row.disconnect_reason) == (False, recorded, "bye")


def test_non_ascii_text_flagged_as_base64_is_a_400(service_env, store, capsys):
    response = invoke(message_event("b64=", "é not base64", base64=True))
    assert response["statusCode"] == 400 and body_of(response)["error"] == "invalid_body"
    _only_client_fault(capsys, "invalid_body")


# --- the handler classifies by type ---------------------------------------------------------------
class TeapotError(ClientError):
    status = 418
    code = "teapot"


class SaturatedLikeError(ServiceError):
    """Stands for i9-store's StoreSaturatedError: a server-side error with its own code."""

    code = "database_saturated"


@pytest.fixture
def raising_action():
    raised: list[Exception] = []

    @actions.register("raise-it")
    def raise_it(request: ActionRequest):
        raise raised[0]

    yield raised
    actions.unregister("raise-it")


def test_any_client_error_subclass_answers_its_own_status(service_env, store, capsys, raising_action):
    raising_action.append(TeapotError("short and stout"))
    response = invoke(message_event("pot=", '{"action":"raise-it"}'))
    assert response["statusCode"] == 418
    assert body_of(response) == {"type": "error", "error": "teapot", "message": "short and stout"}
    _only_client_fault(capsys, "teapot")


def test_a_server_side_error_keeps_its_code_in_logs_and_raised_errors(service_env, store, capsys, raising_action):
    raising_action.append(SaturatedLikeError("too many clients already"))
    response = invoke(message_event("sat=", '{"action":"raise-it"}'))
    assert response["statusCode"] == 500 and body_of(response)["error"] == "service_unavailable"
    lines = log_lines(capsys)
    (line,) = invocation_lines(lines)
    assert (line["level"], line["outcome"]) == ("ERROR", "database_saturated")
    assert "traceback" not in line
    (metric,) = metric_lines(lines, "ServiceFailures")
    assert metric["ServiceFailures"] == 1
