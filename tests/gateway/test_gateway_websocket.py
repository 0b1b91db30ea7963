"""Real WebSocket clients against the local gateway and the real handler."""
from __future__ import annotations

import asyncio
import json
import os
import re
import threading
import urllib.error
import urllib.request
from typing import Any, Callable
from urllib.parse import urlencode

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from local_gateway.server import GatewayError, LocalGateway
from websocket_service.config import ENV_CONNECT_TOKEN_SECRET, ENV_MANAGEMENT_ENDPOINT, ENV_MAX_CONNECTIONS_PER_EMAIL
from websocket_service.store.base import ConnectionStore
from websocket_service.tokens import mint_token

from gateway_support import Recorder, run

EMAIL = "dialog@example.com"
ID_PATTERN = r"[A-Za-z0-9_-]{15}="


def client_url(gateway: LocalGateway, **query: str) -> str:
    """The gateway URL with ``query`` (no ``?`` at all when empty)."""
    return f"{gateway.url}?{urlencode(query)}" if query else gateway.url


def verification_url(gateway: LocalGateway, email: str = EMAIL, **extra: str) -> str:
    return client_url(gateway, email=email, type="email-verification", **extra)


async def rejection_status(url: str) -> tuple[int, bytes]:
    """Connect expecting the handshake to be refused; return the HTTP status and body."""
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url):
            pass
    return refused.value.response.status_code, refused.value.response.body


def test_connect_event_reaches_handler_with_aws_fields(gateway: LocalGateway, recorder: Recorder,
                                                      sqlite_store: ConnectionStore) -> None:
    async def scenario() -> None:
        async with connect(verification_url(gateway), user_agent_header="FlutterTest/1.0") as ws:
            event = recorder.wait_for_route("$connect")
            context = event["requestContext"]
            assert re.fullmatch(ID_PATTERN, context["connectionId"])
            assert re.fullmatch(r"\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0000", context["requestTime"])
            assert context["connectedAt"] <= context["requestTimeEpoch"]
            assert (context["stage"], context["apiId"], context["eventType"]) == ("prod", "local", "CONNECT")
            assert context["domainName"] == f"127.0.0.1:{gateway.port}"
            assert context["identity"] == {"sourceIp": "127.0.0.1", "userAgent": "FlutterTest/1.0"}
            assert event["queryStringParameters"] == {"email": EMAIL, "type": "email-verification"}
            assert event["multiValueQueryStringParameters"] == {"email": [EMAIL], "type": ["email-verification"]}
            assert event["headers"]["Sec-WebSocket-Version"] == "13"
            assert event["multiValueHeaders"]["User-Agent"] == ["FlutterTest/1.0"]
            trace_id = event["headers"]["X-Amzn-Trace-Id"]
            assert re.fullmatch(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24}", trace_id)
            assert event["multiValueHeaders"]["X-Amzn-Trace-Id"] == [trace_id]
            row = sqlite_store.get(context["connectionId"])
            assert row is not None and row.is_active and row.user_email == EMAIL
            assert (row.source_ip, row.user_agent, row.stage) == ("127.0.0.1", "FlutterTest/1.0", "prod")
            await ws.send('{"action":"ping"}')
            assert json.loads(await ws.recv()) == {"type": "pong"}
            assert gateway.open_connection_ids == [context["connectionId"]]  # postable once open

    run(scenario())
    context = recorder.contexts[0]
    assert context.aws_request_id and context.function_name
    assert 0 < context.get_remaining_time_in_millis() <= 29_000


def test_connect_without_query_string_is_rejected_400(gateway: LocalGateway, recorder: Recorder) -> None:
    status, body = run(rejection_status(gateway.url))
    assert status == 400
    assert b"missing_email" not in body  # the $connect body never reaches the client
    assert "queryStringParameters" not in recorder.wait_for_route("$connect")


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({"email": "not-an-email", "type": "email-verification"}, 400),
        ({"email": EMAIL, "type": "no-such-type"}, 400),
        ({"email": EMAIL, "type": "email-verification"}, 401),  # token required, none given
        ({"email": EMAIL, "type": "email-verification", "token": "v1.1.x"}, 401),  # malformed
        ({"email": EMAIL, "type": "email-verification", "token": "OTHER"}, 403),  # minted for another email
    ],
    ids=["bad-email", "bad-type", "token-missing", "token-malformed", "token-other-email"],
)
def test_connect_rejections_use_the_handlers_status(
    start_gateway: Callable[..., LocalGateway], monkeypatch: pytest.MonkeyPatch, query: dict[str, str], status: int
) -> None:
    monkeypatch.setenv(ENV_CONNECT_TOKEN_SECRET, "s3cret")
    gateway = start_gateway()
    if query.get("token") == "OTHER":
        query = {**query, "token": mint_token("s3cret", "someone-else@example.com", "email-verification")}
    assert run(rejection_status(client_url(gateway, **query)))[0] == status


def test_valid_token_is_accepted(start_gateway: Callable[..., LocalGateway], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_CONNECT_TOKEN_SECRET, "s3cret")
    gateway = start_gateway()

    async def scenario() -> None:
        token = mint_token("s3cret", EMAIL, "email-verification")
        async with connect(verification_url(gateway, token=token)) as ws:
            await ws.send('{"action":"ping"}')
            assert json.loads(await ws.recv()) == {"type": "pong"}

    run(scenario())


def test_connection_cap_rejects_with_429(start_gateway: Callable[..., LocalGateway], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_MAX_CONNECTIONS_PER_EMAIL, "1")
    gateway = start_gateway()

    async def scenario() -> None:
        async with connect(verification_url(gateway)):
            assert (await rejection_status(verification_url(gateway)))[0] == 429

    run(scenario())


def test_unknown_stage_is_forbidden(gateway: LocalGateway, recorder: Recorder) -> None:
    url = gateway.url.replace("/prod", "/staging") + "?" + urlencode({"email": EMAIL, "type": "email-verification"})
    assert run(rejection_status(url))[0] == 403
    assert recorder.events == []  # API Gateway never invokes $connect for another stage


def test_route_selection_uses_body_action_with_default_fallback(
    start_gateway: Callable[..., LocalGateway], recorder: Recorder
) -> None:
    gateway = start_gateway(handler=recorder, route_keys=["subscribe"])

    async def scenario() -> list[Any]:
        replies = []
        async with connect(verification_url(gateway)) as ws:
            await ws.send('{"action":"subscribe"}')  # a one-way route: no reply
            await asyncio.to_thread(recorder.wait_for_route, "subscribe")
            for message in ('{"action":"ping"}', "plain text"):
                await ws.send(message)
                replies.append(json.loads(await ws.recv()))
        return replies

    replies = run(scenario())
    messages = [e for e in recorder.events if e["requestContext"]["eventType"] == "MESSAGE"]
    assert [e["requestContext"]["routeKey"] for e in messages] == ["subscribe", "$default", "$default"]
    assert [(e["body"], e["isBase64Encoded"]) for e in messages] == [
        ('{"action":"subscribe"}', False), ('{"action":"ping"}', False), ("plain text", False)]
    assert all(re.fullmatch(ID_PATTERN, e["requestContext"]["messageId"]) for e in messages)
    # The route responses are the handler's returned bodies (two-way $default only).
    assert replies[0] == {"type": "pong"}
    assert replies[1]["error"] == "invalid_json"


def _echo_route_handler(event: dict[str, Any], context: Any) -> Any:
    """Accepts every connection and answers every message with a body naming its route."""
    if event["requestContext"]["eventType"] != "MESSAGE":
        return {"statusCode": 200}
    return {"statusCode": 200, "body": f"reply from {event['requestContext']['routeKey']}"}


@pytest.mark.parametrize(
    ("two_way_routes", "first_reply"),
    [
        ({"$default"}, "reply from $default"),  # the stack's setup: the custom route is one-way
        ({"$default", "subscribe"}, "reply from subscribe"),
    ],
    ids=["custom-route-one-way", "custom-route-two-way"],
)
def test_only_two_way_routes_send_the_handler_body_back(
    start_gateway: Callable[..., LocalGateway], two_way_routes: set[str], first_reply: str
) -> None:
    recorder = Recorder(_echo_route_handler)
    gateway = start_gateway(handler=recorder, route_keys=["subscribe"], two_way_routes=two_way_routes)

    async def scenario() -> list[str]:
        async with connect(gateway.url) as ws:
            await ws.send('{"action":"subscribe"}')
            await asyncio.to_thread(recorder.wait_for_route, "subscribe")  # handled before $default is sent
            await ws.send("to the default route")
            return [await ws.recv(), await ws.recv()] if len(two_way_routes) > 1 else [await ws.recv()]

    received = run(scenario())
    assert received[0] == first_reply
    assert received[-1] == "reply from $default"
    recorder.wait_for_route("$disconnect")
    assert recorder.routes() == ["$connect", "subscribe", "$default", "$disconnect"]


def test_default_two_way_route_is_only_default(start_gateway: Callable[..., LocalGateway]) -> None:
    gateway = start_gateway(handler=_echo_route_handler, route_keys=["subscribe"])
    assert gateway.two_way_routes == {"$default"}


def test_two_way_routes_must_be_routes_of_the_gateway() -> None:
    with pytest.raises(GatewayError, match=r"two-way routes \['subscribe'\]"):
        LocalGateway(two_way_routes={"$default", "subscribe"})


def test_client_close_reaches_disconnect_with_status_code(
    gateway: LocalGateway, recorder: Recorder, sqlite_store: ConnectionStore
) -> None:
    async def scenario() -> str:
        async with connect(verification_url(gateway)) as ws:
            connection_id = recorder.wait_for_route("$connect")["requestContext"]["connectionId"]
            await ws.close(4001, "dialog dismissed")
        return connection_id

    connection_id = run(scenario())
    event = recorder.wait_for_route("$disconnect", connection_id)
    assert event["requestContext"]["disconnectStatusCode"] == 4001
    assert "dialog dismissed" in event["requestContext"]["disconnectReason"]
    assert event["requestContext"]["connectedAt"] == recorder.events[0]["requestContext"]["connectedAt"]
    row = sqlite_store.get(connection_id)
    assert row is not None and not row.is_active and row.disconnect_status_code == 4001
    assert gateway.open_connection_ids == []


def test_dropped_tcp_connection_reports_1006(gateway: LocalGateway, recorder: Recorder) -> None:
    async def scenario() -> str:
        ws = await connect(verification_url(gateway))
        connection_id = recorder.wait_for_route("$connect")["requestContext"]["connectionId"]
        ws.transport.abort()  # no close frame, like a phone losing its network
        return connection_id

    connection_id = run(scenario())
    assert recorder.wait_for_route("$disconnect", connection_id)["requestContext"]["disconnectStatusCode"] == 1006


def test_handler_endpoint_is_the_gateway(gateway: LocalGateway) -> None:
    assert os.environ[ENV_MANAGEMENT_ENDPOINT] == f"http://127.0.0.1:{gateway.port}/prod"


def _raising_handler(event: dict[str, Any], context: Any) -> Any:
    if event["requestContext"]["eventType"] == "MESSAGE" or "fail" in (event.get("queryStringParameters") or {}):
        raise RuntimeError("boom")
    return {"statusCode": 200}


def test_handler_errors_answer_like_api_gateway(start_gateway: Callable[..., LocalGateway]) -> None:
    gateway = start_gateway(handler=_raising_handler)

    async def scenario() -> None:
        assert (await rejection_status(client_url(gateway, fail="1")))[0] == 500
        async with connect(gateway.url) as ws:
            await ws.send("hello")
            reply = json.loads(await ws.recv())
            assert reply["message"] == "Internal server error"
            assert re.fullmatch(ID_PATTERN, reply["connectionId"])

    run(scenario())


def test_plain_http_get_on_the_stage_asks_for_an_upgrade(gateway: LocalGateway) -> None:
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(gateway.management_endpoint, timeout=10)
    answer.value.close()
    assert answer.value.code == 426


def test_verification_page_and_summary_are_served(gateway: LocalGateway) -> None:
    with urllib.request.urlopen(f"{gateway.page_url}?email={EMAIL}", timeout=10) as page:
        assert page.headers["Content-Type"] == "text/html; charset=utf-8"
        html = page.read().decode()
    assert 'data-stage="prod"' in html and '<script type="module" src="/verify.js">' in html
    # The page's script and the JS client it imports, served as JavaScript modules.
    for path, marker in (("/verify.js", 'from "/clients/js/index.js"'), ("/clients/js/index.js", "new o.WebSocket(url)")):
        with urllib.request.urlopen(f"http://127.0.0.1:{gateway.port}{path}", timeout=10) as script:
            assert script.headers["Content-Type"] == "text/javascript; charset=utf-8"
            assert marker in script.read().decode()
    with urllib.request.urlopen(f"http://127.0.0.1:{gateway.port}/", timeout=10) as summary:
        assert gateway.url in summary.read().decode()
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"http://127.0.0.1:{gateway.port}/nothing-here", timeout=10)
    missing.value.close()
    assert missing.value.code == 404


def test_client_leaving_during_connect_still_gets_disconnect(start_gateway: Callable[..., LocalGateway]) -> None:
    """If $connect accepted a client that already left, the handler still hears $disconnect (1006)."""
    connect_started, release = threading.Event(), threading.Event()

    def slow_connect(event: dict[str, Any], context: Any) -> Any:
        if event["requestContext"]["eventType"] == "CONNECT":
            connect_started.set()
            release.wait(30)
        return {"statusCode": 200}

    recorder = Recorder(inner=slow_connect)
    gateway = start_gateway(handler=recorder)

    async def scenario() -> None:
        attempt = asyncio.ensure_future(connect(verification_url(gateway)))
        assert await asyncio.to_thread(connect_started.wait, 30)
        attempt.cancel()  # the client gives up while $connect runs; its TCP connection is aborted
        with pytest.raises(asyncio.CancelledError):
            await attempt
        release.set()

    run(scenario())
    event = recorder.wait_for_route("$disconnect")
    assert event["requestContext"]["disconnectStatusCode"] == 1006
    assert event["requestContext"]["connectionId"] == recorder.wait_for_route("$connect")["requestContext"]["connectionId"]
