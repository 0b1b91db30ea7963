"""The local gateway behaves like API Gateway where AWS documents (or real clients show) the behaviour.

Each test names the page it follows. Real clients only: boto3's management API client, raw
``http.client`` for what SDKs do on the wire (chunked bodies, keep-alive), ``websockets`` clients.
"""
from __future__ import annotations

import asyncio
import http.client
import json
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from gateway_support import Recorder, management_client, run
from local_gateway.server import LocalGateway
from websocket_service.handler import handler as real_handler
from websocket_service.store.base import ConnectionStore

EMAIL = "aws.fidelity@example.com"



def client_url(gateway: LocalGateway, email: str = EMAIL) -> str:
    return f"{gateway.url}?email={quote(email)}&type=email-verification"


async def open_client(gateway: LocalGateway, recorder: Recorder, **kwargs: Any) -> tuple[ClientConnection, str]:
    """A connected client and its connection id (as the handler saw it)."""
    seen = {e["requestContext"]["connectionId"] for e in recorder.events}
    ws = await connect(client_url(gateway), **kwargs)
    event = await asyncio.to_thread(
        recorder.wait_for,
        lambda e: e["requestContext"]["routeKey"] == "$connect" and e["requestContext"]["connectionId"] not in seen,
    )
    return ws, event["requestContext"]["connectionId"]


def raw_request(gateway: LocalGateway, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection; status, headers (lower-case names) and body."""
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        answer = conn.getresponse()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
    finally:
        conn.close()


# --- WebSocket side -------------------------------------------------------------------------------
def test_binary_frame_closes_with_1003_then_disconnect(gateway: LocalGateway, recorder: Recorder,
                                                        sqlite_store: ConnectionStore) -> None:
    """API Gateway rejects binary frames and disconnects the client with code 1003 (https://docs.aws.amazon.com/apigateway/latest/developerguide/websocket-api-develop-binary-media-types.html)."""

    async def scenario() -> str:
        ws, connection_id = await open_client(gateway, recorder)
        await ws.send(b"\x00\x01binary")
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 1003
        return connection_id

    connection_id = run(scenario())
    event = recorder.wait_for_route("$disconnect", connection_id)
    assert event["requestContext"]["disconnectStatusCode"] == 1003
    assert [e["requestContext"]["eventType"] for e in recorder.events
            if e["requestContext"]["connectionId"] == connection_id] == ["CONNECT", "DISCONNECT"]  # never a MESSAGE
    assert not sqlite_store.get(connection_id).is_active  # type: ignore[union-attr]


def test_close_frame_without_status_reports_awss_reason(gateway: LocalGateway, recorder: Recorder) -> None:
    """A close frame without a status code: 1005 and AWS's text "Client-side close frame status not set"
    (the ``$disconnect`` event format: https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-websocket-api-integration-requests.html; the text as in captured AWS events)."""

    async def scenario() -> str:
        ws, connection_id = await open_client(gateway, recorder)
        ws.transport.write(b"\x88\x80\x00\x00\x00\x00")  # a masked close frame with no payload (browsers send it)
        await asyncio.to_thread(recorder.wait_for_route, "$disconnect", connection_id)
        ws.transport.abort()
        return connection_id

    connection_id = run(scenario())
    context = recorder.wait_for_route("$disconnect", connection_id)["requestContext"]
    assert (context["disconnectStatusCode"], context["disconnectReason"]) == (1005, "Client-side close frame status not set")


def test_client_close_reason_names_code_and_custom_reason(gateway: LocalGateway, recorder: Recorder) -> None:
    async def scenario() -> str:
        ws, connection_id = await open_client(gateway, recorder)
        await ws.close(4001, "dialog dismissed")
        return connection_id

    connection_id = run(scenario())
    context = recorder.wait_for_route("$disconnect", connection_id)["requestContext"]
    assert context["disconnectStatusCode"] == 4001
    assert context["disconnectReason"] == "Client-side close frame status code '4001' (APPLICATION) - custom reason: dialog dismissed"


def _subprotocol_handler(event: dict[str, Any], context: Any) -> Any:
    """AWS's documented example: accept only clients offering ``myprotocol`` and select it."""
    if event["requestContext"]["eventType"] == "CONNECT":
        offered = {k.lower(): v for k, v in event["headers"].items()}.get("sec-websocket-protocol", "")
        if "myprotocol" not in [p.strip() for p in offered.split(",")]:
            return {"statusCode": 400}
        real_handler(event, context)
        return {"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": "myprotocol"}}
    return real_handler(event, context)


def test_connect_result_headers_select_the_subprotocol(start_gateway: Callable[..., LocalGateway]) -> None:
    """Headers returned by ``$connect`` go into the handshake response (https://docs.aws.amazon.com/apigateway/latest/developerguide/websocket-connect-route-subprotocol.html)."""
    gateway = start_gateway(handler=_subprotocol_handler)

    async def scenario() -> tuple[str | None, int]:
        async with connect(client_url(gateway), subprotocols=["chat1", "myprotocol"]) as ws:
            selected = ws.subprotocol
        with pytest.raises(InvalidStatus) as refused:
            await connect(client_url(gateway), subprotocols=["chat1"])
        return selected, refused.value.response.status_code

    assert run(scenario()) == ("myprotocol", 400)


@pytest.mark.parametrize(("query", "status", "outcome"), [
    ("type=email-verification", 400, "missing_email"),
    ("email=a%40example.com&type=no-such-type", 400, "invalid_type"),
])
def test_a_refused_handshake_shows_the_client_the_status_only(
    start_gateway: Callable[..., LocalGateway], query: str, status: int, outcome: str
) -> None:
    """API Gateway hands the client the $connect integration's status (wscat: "Unexpected server
    response: 400", https://docs.aws.amazon.com/apigateway/latest/developerguide/websocket-connect-route-subprotocol.html),
    never its body: a route response can be defined only for $default
    (https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-websocket-api-route-response.html).
    The field is named only in the function's answer, which goes to its log, not to the client."""
    results: list[dict[str, Any]] = []

    def recording(event: dict[str, Any], context: Any) -> Any:
        results.append(result := real_handler(event, context))
        return result

    gateway = start_gateway(handler=recording)

    async def scenario() -> Any:
        with pytest.raises(InvalidStatus) as refused:
            await connect(f"{gateway.url}?{query}")
        return refused.value.response

    response = run(scenario())
    (result,) = results
    assert (result["statusCode"], json.loads(result["body"])["error"]) == (status, outcome)
    assert response.status_code == status
    assert outcome.encode() not in response.body and b"email" not in response.body and b"type" not in response.body


# --- management API -------------------------------------------------------------------------------
def test_management_path_without_stage_is_forbidden_403(gateway: LocalGateway, recorder: Recorder) -> None:
    """The endpoint is https://{api-id}.execute-api.{region}.amazonaws.com/{stage} (https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-how-to-call-websocket-api-connections.html);
    without the stage API Gateway answers 403 {"message":"Forbidden"} (the seed's troubleshooting symptom)."""
    no_stage = management_client(gateway.management_endpoint.rsplit("/", 1)[0])

    async def scenario() -> None:
        ws, connection_id = await open_client(gateway, recorder)
        async with ws:
            with pytest.raises(no_stage.exceptions.ForbiddenException) as refused:
                await asyncio.to_thread(no_stage.post_to_connection, ConnectionId=connection_id, Data=b"x")
            assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
            status, headers, body = await asyncio.to_thread(
                raw_request, gateway, "POST", f"/@connections/{connection_id}", b"x")
            assert (status, json.loads(body), headers["x-amzn-errortype"]) == (403, {"message": "Forbidden"}, "ForbiddenException")

    run(scenario())


@pytest.mark.parametrize("connection_id", ["doesNotExist", "AAAAAAAAAAAAAAAA", "AAAA+AAAAAAAAAA=", "AAAAAAAAAAAAAAA=="])
def test_malformed_connection_id_is_bad_request_400(gateway: LocalGateway, connection_id: str) -> None:
    """An id that cannot be API Gateway's answers 400 BadRequestException "Invalid connectionId: ..." (the
    message real AWS sends; errors of https://docs.aws.amazon.com/apigatewaymanagementapi/latest/APIReference/API_PostToConnection.html); an unknown well-formed id is 410."""
    client = management_client(gateway)
    with pytest.raises(ClientError) as bad:  # botocore's model has no BadRequestException class
        client.post_to_connection(ConnectionId=connection_id, Data=b"x")
    assert bad.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert bad.value.response["Error"] == {"Code": "BadRequestException", "Message": f"Invalid connectionId: {connection_id}"}


def test_gone_is_the_error_header_with_an_empty_body(gateway: LocalGateway) -> None:
    """410 GoneException (https://docs.aws.amazon.com/apigatewaymanagementapi/latest/APIReference/API_PostToConnection.html): the exception name travels in ``x-amzn-ErrorType``;
    AWS's body is empty (Java SDK: null message, JS SDK v2: "410"), so SDKs all raise GoneException."""
    client = management_client(gateway)
    with pytest.raises(client.exceptions.GoneException):
        client.post_to_connection(ConnectionId="AAAAAAAAAAAAAAA=", Data=b"x")
    status, headers, body = raw_request(gateway, "POST", "/prod/@connections/AAAAAAAAAAAAAAA%3D", b"x")
    assert (status, headers["x-amzn-errortype"], body) == (410, "GoneException", b"")


def test_unencoded_id_in_the_path_works(gateway: LocalGateway, recorder: Recorder) -> None:
    """base64url ids (``-``/``_``, never ``/`` or ``+``) survive a client that does not URL-encode them
    (https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-websocket-api-integration-requests.html: ``connectionId`` is used as is in the callback URL)."""

    async def scenario() -> None:
        ws, connection_id = await open_client(gateway, recorder)
        async with ws:
            status, _, _ = await asyncio.to_thread(raw_request, gateway, "POST", f"/prod/@connections/{connection_id}", b"raw")
            assert status == 200
            assert await ws.recv() == "raw"

    run(scenario())


def test_chunked_request_body_is_accepted(gateway: LocalGateway, recorder: Recorder) -> None:
    """Streaming clients send ``Transfer-Encoding: chunked``; API Gateway accepts it like a sized body."""

    async def scenario() -> None:
        ws, connection_id = await open_client(gateway, recorder)
        async with ws:
            def post() -> int:
                conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
                try:
                    conn.request("POST", f"/prod/@connections/{quote(connection_id, safe='')}",
                                 body=iter([b'{"type":', b'"chunked"', b"}"]), encode_chunked=True,
                                 headers={"Transfer-Encoding": "chunked"})
                    return conn.getresponse().status
                finally:
                    conn.close()

            assert await asyncio.to_thread(post) == 200
            assert await ws.recv() == '{"type":"chunked"}'

    run(scenario())


def test_oversize_chunked_body_is_payload_too_large(gateway: LocalGateway, recorder: Recorder) -> None:
    async def scenario() -> None:
        ws, connection_id = await open_client(gateway, recorder)
        async with ws:
            def post() -> tuple[int, str]:
                conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
                try:
                    conn.request("POST", f"/prod/@connections/{quote(connection_id, safe='')}",
                                 body=iter([b"x" * 65_536] * 3), encode_chunked=True)
                    answer = conn.getresponse()
                    answer.read()
                    return answer.status, answer.getheader("x-amzn-ErrorType") or ""
                finally:
                    conn.close()

            assert await asyncio.to_thread(post) == (413, "PayloadTooLargeException")

    run(scenario())


def test_connections_are_kept_alive(gateway: LocalGateway, recorder: Recorder) -> None:
    """HTTP/1.1 keep-alive: one TCP connection carries many management calls (SDK connection pools)."""

    async def scenario() -> None:
        ws, connection_id = await open_client(gateway, recorder)
        async with ws:
            def post_three_times() -> list[tuple[int, str, Any]]:
                conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
                results = []
                try:
                    for n in range(3):
                        conn.request("POST", f"/prod/@connections/{quote(connection_id, safe='')}", body=f"m{n}".encode())
                        answer = conn.getresponse()
                        answer.read()
                        results.append((answer.status, answer.getheader("Connection") or "", conn.sock))
                finally:
                    conn.close()
                return results

            results = await asyncio.to_thread(post_three_times)
            assert [status for status, _, _ in results] == [200, 200, 200]
            assert {header for _, header, _ in results} == {"keep-alive"}
            assert len({id(sock) for _, _, sock in results}) == 1  # never reconnected
            assert [await ws.recv() for _ in range(3)] == ["m0", "m1", "m2"]

    run(scenario())


def test_malformed_http_is_a_400_not_a_hang(gateway: LocalGateway) -> None:
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        sock.sendall(b"POST /prod/@connections/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"malformed chunk size" in answer


# --- authorization mirrors the stack ---------------------------------------------------------------
def test_default_methods_are_the_stacks_post_and_get(gateway: LocalGateway, recorder: Recorder) -> None:
    """The stack grants execute-api:ManageConnections for POST and GET only (MANAGEMENT_API_METHODS);
    anything else is refused the way AWS refuses an ungranted call: 403 {"message":"Forbidden"}."""
    client = management_client(gateway)

    async def scenario() -> None:
        ws, connection_id = await open_client(gateway, recorder)
        async with ws:
            await asyncio.to_thread(client.post_to_connection, ConnectionId=connection_id, Data=b"ok")
            assert await ws.recv() == "ok"
            await asyncio.to_thread(client.get_connection, ConnectionId=connection_id)
            with pytest.raises(client.exceptions.ForbiddenException):
                await asyncio.to_thread(client.delete_connection, ConnectionId=connection_id)
            status, _, body = await asyncio.to_thread(raw_request, gateway, "PUT", f"/prod/@connections/{connection_id}", b"x")
            assert (status, json.loads(body)) == (403, {"message": "Forbidden"})
            assert connection_id in gateway.open_connection_ids  # the refused DELETE closed nothing

    run(scenario())


def test_methods_follow_the_setting(start_gateway: Callable[..., LocalGateway], recorder: Recorder) -> None:
    gateway = start_gateway(handler=recorder, management_methods=("POST",))
    client = management_client(gateway)

    async def scenario() -> None:
        ws, connection_id = await open_client(gateway, recorder)
        async with ws:
            with pytest.raises(client.exceptions.ForbiddenException):
                await asyncio.to_thread(client.get_connection, ConnectionId=connection_id)

    run(scenario())


@pytest.mark.parametrize(("methods", "problem"), [
    (("GET",), r"MANAGEMENT_API_METHODS='GET' lacks POST"),
    (("POST", "PATCH"), r"MANAGEMENT_API_METHODS='POST,PATCH'; expected a comma list of distinct POST, GET, DELETE"),
])
def test_bad_method_lists_are_refused_with_the_setting_name(methods: tuple[str, ...], problem: str) -> None:
    from local_gateway.server import GatewayError

    with pytest.raises(GatewayError, match=problem):
        LocalGateway(port=0, management_methods=methods)
