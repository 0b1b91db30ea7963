"""Event classification and the WebSocket event accessors."""
from __future__ import annotations

import pytest

from tests.events import load_event
from websocket_service.events import EventKind, MalformedEventError, WebSocketEvent, classify


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("connect", EventKind.CONNECT),
        ("connect_no_query", EventKind.CONNECT),
        ("disconnect", EventKind.DISCONNECT),
        ("message_ping", EventKind.MESSAGE),
        ("message_not_json", EventKind.MESSAGE),
        ("scheduled_event", EventKind.SCHEDULED),
        ("eventbridge_notify", EventKind.NOTIFY),
        ("direct_notify", EventKind.DIRECT_ACTION),
        ("cfn_create_migrate", EventKind.CFN_CUSTOM_RESOURCE),
    ],
)
def test_fixtures_classify(name, kind):
    assert classify(load_event(name)) is kind


@pytest.mark.parametrize(
    ("event", "kind"),
    [
        (None, EventKind.MALFORMED),
        ([1, 2], EventKind.MALFORMED),
        ("text", EventKind.MALFORMED),
        ({"requestContext": "nope"}, EventKind.MALFORMED),
        ({"requestContext": {"connectionId": "abc=", "eventType": "BOGUS"}}, EventKind.MALFORMED),
        ({"requestContext": {"http": {"method": "GET"}, "routeKey": "GET /"}}, EventKind.UNKNOWN),
        ({}, EventKind.UNKNOWN),
        ({"Records": [{"eventSource": "aws:sqs"}]}, EventKind.UNKNOWN),
        ({"detail-type": "Something Else", "detail": {"email": "a@example.com"}}, EventKind.UNKNOWN),
    ],
)
def test_other_shapes(event, kind):
    assert classify(event) is kind


def test_connect_accessors():
    event = WebSocketEvent(load_event("connect"))
    assert event.connection_id == "BFHPhfCWIAMCKlQ="
    assert (event.route_key, event.stage, event.request_id) == ("$connect", "prod", "BFHPhFe3IAMF95g=")
    assert event.domain_name == "abc123.execute-api.us-east-1.amazonaws.com"
    assert event.source_ip == "203.0.113.9"
    assert event.header("user-agent") == event.header("USER-AGENT") == "Mozilla/5.0 (Flutter test)"
    assert event.header("missing") is None
    assert event.query("email") == "a@example.com"


def test_query_absent_vs_empty():
    absent = WebSocketEvent(load_event("connect_no_query"))
    assert absent.query_string_parameters is None
    assert absent.query("email") is None
    raw = load_event("connect")
    raw["queryStringParameters"] = {"email": ""}
    raw.pop("multiValueQueryStringParameters")
    empty = WebSocketEvent(raw)
    assert empty.query("email") == ""
    assert empty.query_values("email") == [""]


def test_repeated_query_parameter_values_are_all_visible():
    raw = load_event("connect")
    raw["multiValueQueryStringParameters"]["email"] = ["a@example.com", "b@example.com"]
    assert WebSocketEvent(raw).query_values("email") == ["a@example.com", "b@example.com"]


def test_disconnect_accessors():
    event = WebSocketEvent(load_event("disconnect"))
    assert (event.disconnect_status_code, event.disconnect_reason) == (1001, "Going away")


def test_message_accessors():
    event = WebSocketEvent(load_event("message_ping"))
    assert (event.body, event.is_base64_encoded) == ('{"action":"ping"}', False)
    assert event.message_id == "BFHR5eMtIAMCKlQ="


@pytest.mark.parametrize(
    ("mutate", "accessor", "fragment"),
    [
        (lambda e: e["requestContext"].pop("connectionId"), "connection_id", "connectionId"),
        (lambda e: e["requestContext"].__setitem__("connectionId", 42), "connection_id", "connectionId"),
        (lambda e: e.__setitem__("queryStringParameters", ["email"]), "query_string_parameters",
         "queryStringParameters"),
        (lambda e: e.__setitem__("headers", {"Host": 1}), "headers", "headers"),
        (lambda e: e.__setitem__("body", {"action": "ping"}), "body", "body"),
    ],
)
def test_wrong_types_raise_malformed_event_error_naming_the_field(mutate, accessor, fragment):
    raw = load_event("connect")
    mutate(raw)
    with pytest.raises(MalformedEventError, match=fragment):
        getattr(WebSocketEvent(raw), accessor)


def test_disconnect_status_code_tolerates_odd_values():
    raw = load_event("disconnect")
    raw["requestContext"]["disconnectStatusCode"] = "1006"
    assert WebSocketEvent(raw).disconnect_status_code == 1006
    raw["requestContext"]["disconnectStatusCode"] = True
    assert WebSocketEvent(raw).disconnect_status_code is None
