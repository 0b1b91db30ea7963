"""The event builders produce API Gateway's shapes, and the runtime reads them as AWS events."""
from __future__ import annotations

import base64
import json
import re
import time
from dataclasses import replace
from pathlib import Path

import pytest

from local_gateway.events import (
    ConnectionInfo,
    connect_event,
    disconnect_event,
    format_request_time,
    message_event,
    new_id,
    select_route,
)
from websocket_service.events import EventKind, WebSocketEvent, classify

AWS_EVENTS = Path(__file__).resolve().parents[1] / "events"
INFO = ConnectionInfo(
    connection_id="BFHPhfCWIAMCKlQ=",
    connected_at_ms=1731324924553,
    source_ip="203.0.113.9",
    user_agent="Mozilla/5.0 (Flutter test)",
    api_id="local",
    stage="prod",
    domain_name="127.0.0.1:8080",
)
HANDSHAKE_HEADERS = [
    ("Host", "127.0.0.1:8080"),
    ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ("Sec-WebSocket-Version", "13"),
    ("User-Agent", "Mozilla/5.0 (Flutter test)"),
]


def _aws(name: str) -> dict:
    return json.loads((AWS_EVENTS / f"{name}.json").read_text())


def test_ids_look_like_api_gateway_ids() -> None:
    """API Gateway's ids are 16 characters of base64url (``Jx-TaE0_GjQFvSw=`` in a captured
    ``$disconnect`` event): safe in a URL path even when a client forgets to encode them.
    Source: https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-websocket-api-integration-requests.html
    """
    ids = {new_id() for _ in range(500)}
    assert len(ids) == 500
    for value in ids:
        assert re.fullmatch(r"[A-Za-z0-9_-]{15}=", value)
        assert len(base64.urlsafe_b64decode(value)) == 11
    assert any(set(value) & set("-_") for value in ids)  # the URL-safe alphabet is really in use


def test_request_time_is_aws_format_regardless_of_locale() -> None:
    assert format_request_time(1731324924561) == "11/Nov/2024:11:35:24 +0000"


@pytest.mark.parametrize(
    ("built", "aws_fixture"),
    [
        (connect_event(INFO, HANDSHAKE_HEADERS, "email=a%40example.com&type=email-verification"), "connect"),
        (disconnect_event(INFO, 1001, "Going away"), "disconnect"),
        (message_event(INFO, '{"action":"ping"}', "$default"), "message_ping"),
    ],
    ids=["connect", "disconnect", "message"],
)
def test_events_have_exactly_the_fields_aws_sends(built: dict, aws_fixture: str) -> None:
    aws = _aws(aws_fixture)
    assert sorted(built) == sorted(aws)
    assert sorted(built["requestContext"]) == sorted(aws["requestContext"])
    assert sorted(built["requestContext"]["identity"]) == sorted(aws["requestContext"]["identity"])


def test_connect_event_carries_headers_query_and_identity() -> None:
    event = connect_event(INFO, HANDSHAKE_HEADERS, "email=a%40example.com&type=email-verification&tag=1&tag=2")
    context = event["requestContext"]
    assert (context["routeKey"], context["eventType"], context["messageDirection"]) == ("$connect", "CONNECT", "IN")
    assert context["requestId"] == context["extendedRequestId"]
    assert context["connectedAt"] == INFO.connected_at_ms <= context["requestTimeEpoch"]
    assert context["requestTime"] == format_request_time(context["requestTimeEpoch"])
    assert context["identity"] == {"sourceIp": "203.0.113.9", "userAgent": "Mozilla/5.0 (Flutter test)"}
    assert event["queryStringParameters"] == {"email": "a@example.com", "type": "email-verification", "tag": "2"}
    assert event["multiValueQueryStringParameters"]["tag"] == ["1", "2"]
    assert event["headers"]["X-Forwarded-For"] == "203.0.113.9"
    assert event["headers"]["X-Forwarded-Port"] == "8080"
    assert event["multiValueHeaders"]["Sec-WebSocket-Version"] == ["13"]
    assert event["isBase64Encoded"] is False

    parsed = WebSocketEvent(event)
    assert classify(event) is EventKind.CONNECT
    assert (parsed.query("email"), parsed.user_agent, parsed.source_ip) == (
        "a@example.com", "Mozilla/5.0 (Flutter test)", "203.0.113.9")


AWS_ADDED_HEADERS = {"X-Amzn-Trace-Id", "X-Forwarded-For", "X-Forwarded-Port", "X-Forwarded-Proto"}


def test_connect_headers_are_the_clients_plus_the_ones_aws_adds() -> None:
    aws = _aws("connect")
    client_headers = [(name, value) for name, value in aws["headers"].items() if name not in AWS_ADDED_HEADERS]
    before_s = time.time_ns() // 1_000_000_000
    info = replace(INFO, connected_at_ms=time.time_ns() // 1_000_000)
    event = connect_event(info, client_headers, "")
    after_s = time.time_ns() // 1_000_000_000
    assert sorted(event["headers"]) == sorted(aws["headers"])
    assert sorted(event["multiValueHeaders"]) == sorted(aws["multiValueHeaders"])
    trace_id = event["headers"]["X-Amzn-Trace-Id"]
    assert re.fullmatch(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24}", aws["headers"]["X-Amzn-Trace-Id"])  # AWS's own form
    match = re.fullmatch(r"Root=1-([0-9a-f]{8})-([0-9a-f]{24})", trace_id)
    assert match, trace_id
    assert before_s <= int(match.group(1), 16) <= after_s  # the epoch seconds of the connection
    assert event["multiValueHeaders"]["X-Amzn-Trace-Id"] == [trace_id]
    assert connect_event(info, client_headers, "")["headers"]["X-Amzn-Trace-Id"] != trace_id  # random part


def test_client_supplied_trace_header_is_kept() -> None:
    event = connect_event(INFO, [*HANDSHAKE_HEADERS, ("X-Amzn-Trace-Id", "Root=1-00000001-000000000000000000000001")], "")
    assert event["multiValueHeaders"]["X-Amzn-Trace-Id"] == ["Root=1-00000001-000000000000000000000001"]


def test_connect_without_query_string_omits_query_maps() -> None:
    event = connect_event(INFO, HANDSHAKE_HEADERS, "")
    assert "queryStringParameters" not in event
    assert "multiValueQueryStringParameters" not in event
    assert WebSocketEvent(event).query_string_parameters is None


def test_empty_query_value_is_kept() -> None:
    event = connect_event(INFO, HANDSHAKE_HEADERS, "email=")
    assert event["queryStringParameters"] == {"email": ""}


def test_disconnect_event_carries_status_code_and_reason() -> None:
    event = disconnect_event(INFO, 4001, "bye")
    parsed = WebSocketEvent(event)
    assert classify(event) is EventKind.DISCONNECT
    assert (parsed.disconnect_status_code, parsed.disconnect_reason, parsed.connection_id) == (4001, "bye", INFO.connection_id)
    assert "queryStringParameters" not in event


def test_text_message_event() -> None:
    event = message_event(INFO, "héllo", "$default")
    assert (event["body"], event["isBase64Encoded"]) == ("héllo", False)
    assert re.fullmatch(r"[A-Za-z0-9_-]{15}=", event["requestContext"]["messageId"])
    assert classify(event) is EventKind.MESSAGE


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ('{"action":"subscribe"}', "subscribe"),
        ('{"action":"ping"}', "$default"),
        ('{"action":5}', "$default"),
        ('["subscribe"]', "$default"),
        ("subscribe", "$default"),
    ],
)
def test_route_selection_follows_request_body_action(data: str, expected: str) -> None:
    assert select_route(data, {"subscribe"}) == expected


@pytest.mark.parametrize(("domain", "port"), [("127.0.0.1:8080", "8080"), ("[::1]:9000", "9000"), ("localhost", "80"),
                                              ("host:not-a-port", "80")])
def test_forwarded_port_comes_from_the_host(domain: str, port: str) -> None:
    info = ConnectionInfo("BFHPhfCWIAMCKlQ=", 0, "203.0.113.9", None, "local", "prod", domain)
    assert connect_event(info, [], "")["headers"]["X-Forwarded-Port"] == port
