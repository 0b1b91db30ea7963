"""The @connections management API on the gateway's port, driven by boto3's own client."""
from __future__ import annotations

import asyncio
import http.client
import json
import socket
from datetime import datetime
from typing import Any, Callable, Iterator
from urllib.parse import quote

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from gateway_support import Recorder, management_client, run
from local_gateway.server import LocalGateway
from websocket_service.handler import handler as real_handler
from websocket_service.routes import ActionRequest, actions
from websocket_service.store.base import ConnectionStore

EMAIL = "mgmt@example.com"
LIMIT = 131_072


def url(gateway: LocalGateway, email: str = EMAIL) -> str:
    return f"{gateway.url}?email={quote(email)}&type=email-verification"


async def open_client(gateway: LocalGateway, recorder: Recorder, email: str = EMAIL) -> tuple[ClientConnection, str]:
    """A connected client and its connection id (as the handler saw it)."""
    seen = {e["requestContext"]["connectionId"] for e in recorder.events}
    ws = await connect(url(gateway, email), max_size=None)
    event = await asyncio.to_thread(
        recorder.wait_for,
        lambda e: e["requestContext"]["routeKey"] == "$connect" and e["requestContext"]["connectionId"] not in seen,
    )
    return ws, event["requestContext"]["connectionId"]


def test_post_delivers_text_and_binary_data(gateway: LocalGateway, recorder: Recorder) -> None:
    client = management_client(gateway)

    async def scenario() -> None:
        ws, connection_id = await open_client(gateway, recorder)
        async with ws:
            await asyncio.to_thread(client.post_to_connection, ConnectionId=connection_id, Data=b'{"type":"hello"}')
            assert await ws.recv() == '{"type":"hello"}'
            await asyncio.to_thread(client.post_to_connection, ConnectionId=connection_id, Data=b"\xff\x00binary")
            assert await ws.recv() == b"\xff\x00binary"

    run(scenario())


def test_post_body_limit_is_131072_bytes(gateway: LocalGateway, recorder: Recorder) -> None:
    client = management_client(gateway)

    async def scenario() -> None:
        ws, connection_id = await open_client(gateway, recorder)
        async with ws:
            await asyncio.to_thread(client.post_to_connection, ConnectionId=connection_id, Data=b"x" * LIMIT)
            assert len(await ws.recv()) == LIMIT
            with pytest.raises(client.exceptions.PayloadTooLargeException) as too_large:
                await asyncio.to_thread(client.post_to_connection, ConnectionId=connection_id, Data=b"x" * (LIMIT + 1))
            assert too_large.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
            # The connection is unaffected and still postable.
            await asyncio.to_thread(client.post_to_connection, ConnectionId=connection_id, Data=b"after")
            assert await ws.recv() == "after"

    run(scenario())


def test_get_connection_reports_identity_and_activity(gateway: LocalGateway, recorder: Recorder) -> None:
    client = management_client(gateway)

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        ws, connection_id = await open_client(gateway, recorder)
        async with ws:
            first = await asyncio.to_thread(client.get_connection, ConnectionId=connection_id)
            await ws.send('{"action":"ping"}')
            await ws.recv()
            second = await asyncio.to_thread(client.get_connection, ConnectionId=connection_id)
        return first, second

    first, second = run(scenario())
    assert isinstance(first["ConnectedAt"], datetime) and isinstance(first["LastActiveAt"], datetime)
    assert first["Identity"]["SourceIp"] == "127.0.0.1"
    assert first["Identity"]["UserAgent"].startswith("Python/")
    assert first["ConnectedAt"] <= first["LastActiveAt"] <= second["LastActiveAt"]
    assert second["ConnectedAt"] == first["ConnectedAt"]


ALL_METHODS = ("POST", "GET", "DELETE")


@pytest.fixture
def granted_all(start_gateway: Callable[..., LocalGateway], recorder: Recorder) -> LocalGateway:
    """A gateway serving every @connections method, like a stack with managementApiMethods=[POST,GET,DELETE]."""
    return start_gateway(handler=recorder, management_methods=ALL_METHODS)


def test_delete_closes_the_client_and_reaches_disconnect(
    granted_all: LocalGateway, recorder: Recorder, sqlite_store: ConnectionStore
) -> None:
    gateway = granted_all
    client = management_client(gateway)

    async def scenario() -> str:
        ws, connection_id = await open_client(gateway, recorder)
        answer = await asyncio.to_thread(client.delete_connection, ConnectionId=connection_id)
        assert answer["ResponseMetadata"]["HTTPStatusCode"] == 204
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 1000
        return connection_id

    connection_id = run(scenario())
    assert recorder.wait_for_route("$disconnect", connection_id)["requestContext"]["disconnectStatusCode"] == 1000
    assert not sqlite_store.get(connection_id).is_active  # type: ignore[union-attr]
    with pytest.raises(client.exceptions.GoneException):
        client.post_to_connection(ConnectionId=connection_id, Data=b"too late")


@pytest.mark.parametrize("operation", ["post_to_connection", "get_connection", "delete_connection"])
def test_unknown_connection_is_gone_410(granted_all: LocalGateway, operation: str) -> None:
    client = management_client(granted_all)
    kwargs: dict[str, Any] = {"ConnectionId": "AAAAAAAAAAAAAAA="}
    if operation == "post_to_connection":
        kwargs["Data"] = b"x"
    with pytest.raises(client.exceptions.GoneException) as gone:
        getattr(client, operation)(**kwargs)
    assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 410


def test_other_stage_is_forbidden(gateway: LocalGateway) -> None:
    """The classic wrong-endpoint mistake answers 403, as in AWS."""
    other = management_client(gateway.management_endpoint.replace("/prod", "/dev"))
    with pytest.raises(other.exceptions.ForbiddenException):
        other.post_to_connection(ConnectionId="AAAAAAAAAAAAAAA=", Data=b"x")


def test_post_with_expect_100_continue(gateway: LocalGateway, recorder: Recorder) -> None:
    """curl and some SDKs send ``Expect: 100-continue`` before a body; the gateway answers it."""

    async def scenario() -> None:
        ws, connection_id = await open_client(gateway, recorder)
        async with ws:
            def post() -> int:
                conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
                try:
                    conn.request("POST", f"/prod/@connections/{quote(connection_id, safe='')}", body=b"continued",
                                 headers={"Expect": "100-continue"})
                    return conn.getresponse().status
                finally:
                    conn.close()

            assert await asyncio.to_thread(post) == 200
            assert await ws.recv() == "continued"

    run(scenario())


def test_pipelined_posts_are_delivered_and_answered_in_order(gateway: LocalGateway, recorder: Recorder) -> None:
    """Posts alone on their connection are answered from the read callback; posts pipelined in one
    write (more than the gateway queues at once) still reach the client, and get their answers,
    in the order sent -- and so do posts sent one at a time on the same kept-alive connection."""
    count = 20

    async def scenario() -> None:
        ws, connection_id = await open_client(gateway, recorder)
        async with ws:
            def exchange() -> list[int]:
                path = f"/prod/@connections/{quote(connection_id, safe='')}"
                posts = [f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{gateway.port}\r\nContent-Length: "
                         f"{len(str(i))}\r\n\r\n{i}".encode() for i in range(count)]
                with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
                    answers = b""

                    def statuses(total: int) -> list[int]:  # the answers' statuses (bodiless 200s)
                        nonlocal answers
                        while answers.count(b"\r\n\r\n") < total:
                            answers += sock.recv(65536)
                        return [int(head.split(b" ", 2)[1]) for head in answers.split(b"\r\n\r\n")[:total]]

                    for number, post in enumerate(posts[:2], 1):  # one at a time: each alone on the connection
                        sock.sendall(post)
                        statuses(number)
                    sock.sendall(b"".join(posts[2:]))  # the rest pipelined in one write
                    return statuses(count)

            assert await asyncio.to_thread(exchange) == [200] * count
            assert [await ws.recv() for _ in range(count)] == [str(i) for i in range(count)]

    run(scenario())


def test_posts_to_a_client_that_stops_reading_wait_for_its_buffer_to_drain(
    gateway: LocalGateway, recorder: Recorder
) -> None:
    """Backpressure: once a client stops reading and its write buffer passes the high-water mark, a
    post is answered only when the buffer drains (as AWS holds a post to a slow client), so a
    stalled client cannot make the gateway buffer posts without bound."""
    body = b"x" * (LIMIT - 1)
    posts = 600  # 78 MB: far more than the kernel's socket buffers hold

    async def scenario() -> None:
        ws = await connect(url(gateway), max_size=None, max_queue=1, close_timeout=0.5)  # reads one frame ahead, then stops
        event = await asyncio.to_thread(recorder.wait_for, lambda e: e["requestContext"]["routeKey"] == "$connect")
        connection_id = event["requestContext"]["connectionId"]
        try:
            def answered_posts() -> int:
                head = (f"POST /prod/@connections/{quote(connection_id, safe='')} HTTP/1.1\r\n"
                        f"Host: 127.0.0.1:{gateway.port}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
                with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
                    sock.settimeout(2)
                    for number in range(posts):
                        sock.sendall(head + body)
                        try:
                            answer = sock.recv(65536)
                        except TimeoutError:
                            return number  # held: the buffer is full
                        assert answer.startswith(b"HTTP/1.1 200 "), answer
                return posts

            answered = await asyncio.to_thread(answered_posts)
            assert 0 < answered < posts
        finally:
            await ws.close()

    run(scenario())


def test_posting_during_own_connect_is_gone(start_gateway: Callable[..., LocalGateway]) -> None:
    """Like AWS: a connection is not postable until its $connect has returned."""
    outcomes: list[str] = []

    def post_to_self_then_connect(event: dict[str, Any], context: Any) -> Any:
        if event["requestContext"]["eventType"] == "CONNECT":
            client = management_client(gateway)
            try:
                client.post_to_connection(ConnectionId=event["requestContext"]["connectionId"], Data=b"early")
                outcomes.append("sent")
            except client.exceptions.GoneException:
                outcomes.append("gone")
        return real_handler(event, context)

    gateway = start_gateway(handler=post_to_self_then_connect)

    async def scenario() -> None:
        async with connect(url(gateway)) as ws:
            await ws.send('{"action":"ping"}')
            assert await ws.recv() == '{"type":"pong"}'  # "early" was never delivered

    run(scenario())
    assert outcomes == ["gone"]


@pytest.fixture
def notify_action() -> Iterator[str]:
    """A message action that makes the handler (inside the gateway) notify an email through boto3."""

    @actions.register("test-notify")
    def notify(request: ActionRequest) -> dict[str, Any]:
        report = request.service.notify(request.payload["email"], "email-verification", {"type": "email-verified"})
        return {"type": "notified", **report.to_dict()}

    yield "test-notify"
    actions.unregister("test-notify")


def test_handler_inside_gateway_posts_back_through_boto3(
    gateway: LocalGateway, recorder: Recorder, notify_action: str
) -> None:
    async def scenario() -> None:
        dialog, _ = await open_client(gateway, recorder, "dialog@example.com")
        backend, _ = await open_client(gateway, recorder, "backend@example.com")
        async with dialog, backend:
            await backend.send(json.dumps({"action": notify_action, "email": "dialog@example.com"}))
            pushed = json.loads(await dialog.recv())
            assert pushed == {"type": "email-verified", "messageId": pushed["messageId"]}  # kept for replay
            assert json.loads(await backend.recv()) == {"type": "notified", "sent": 1, "gone": 0, "failed": 0,
                                                          "undelivered": 0, "complete": True,
                                                          "messageId": pushed["messageId"], "kept": True}

    run(scenario())


def test_management_latency_delays_every_answer(start_gateway: Callable[..., LocalGateway]) -> None:
    """The emulated round trip is a floor on each @connections call (asyncio.sleep never returns early)."""
    import time

    gateway = start_gateway(management_latency_s=0.3)
    client = management_client(gateway)
    started = time.monotonic()
    with pytest.raises(client.exceptions.GoneException):
        client.get_connection(ConnectionId="AAAAAAAAAAAAAAA=")
    assert time.monotonic() - started >= 0.3


@pytest.mark.parametrize("latency", [-0.1, 10.5])
def test_management_latency_out_of_range_is_refused(latency: float) -> None:
    from local_gateway.server import GatewayError

    with pytest.raises(GatewayError, match=r"management latency .* expected 0\.\.10 seconds"):
        LocalGateway(port=0, management_latency_s=latency)
