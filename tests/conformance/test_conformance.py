"""The same scenarios through every client, against ``wsctl local`` or a deployed stack (see conftest).

Each scenario states what API Gateway does; the local gateway must do the same for every client.
"""
from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from conformance_support import WAIT_S, NodeListener, Target, node

WS_CLIENTS = ["python-websockets", "node-ws"]
MANAGEMENT_CLIENTS = ["boto3", "js-sdk-v3"]
UNKNOWN_ID = "AAAAAAAAAAAAAAA="  # well formed, never issued


def unique_email(tag: str) -> str:
    return f"conformance-{tag}-{uuid.uuid4().hex[:10]}@example.com"


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, WAIT_S))


# --- WebSocket clients ------------------------------------------------------------------------------
def ping(client: str, url: str) -> Any:
    if client == "node-ws":
        return node({"op": "ping", "url": url})["reply"]

    async def scenario() -> Any:
        import json

        async with connect(url) as ws:
            await ws.send('{"action":"ping"}')
            return json.loads(await ws.recv())

    return run(scenario())


def handshake_status(client: str, url: str) -> int:
    if client == "node-ws":
        return node({"op": "handshake-status", "url": url})["status"]

    async def scenario() -> int:
        try:
            async with connect(url):
                return 101
        except InvalidStatus as refused:
            return refused.response.status_code

    return run(scenario())


def binary_close_code(client: str, url: str) -> int:
    if client == "node-ws":
        return node({"op": "binary", "url": url})["closeCode"]

    async def scenario() -> int:
        async with connect(url) as ws:
            await ws.send(b"\x00\x01\x02")
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            assert ws.close_code is not None
            return ws.close_code

    return run(scenario())


@pytest.mark.parametrize("client", WS_CLIENTS)
def test_connect_and_ping(target: Target, client: str) -> None:
    assert ping(client, target.client_url(unique_email("ping"))) == {"type": "pong"}


@pytest.mark.parametrize("client", WS_CLIENTS)
def test_connect_without_query_is_refused_400(target: Target, client: str) -> None:
    """$connect answers 400 and the handshake fails with that status (its body never reaches the client)."""
    assert handshake_status(client, target.ws_url) == 400


@pytest.mark.parametrize("client", WS_CLIENTS)
def test_binary_frame_closes_with_1003(target: Target, client: str) -> None:
    """API Gateway refuses binary frames and disconnects the client with 1003."""
    assert binary_close_code(client, target.client_url(unique_email("binary"))) == 1003


# --- management API clients -------------------------------------------------------------------------
def manage(client: str, target: Target, op: str, connection_id: str, data: bytes = b"", endpoint: str | None = None) -> dict[str, Any]:
    """One management call; ``{"ok": True}`` or ``{"error": name, "status": ...}`` whatever the client."""
    endpoint = endpoint or target.management_endpoint
    if client == "js-sdk-v3":
        return node({"op": op, "endpoint": endpoint, "connectionId": connection_id, "data": data.decode()})
    boto = target.boto3_client(endpoint)
    call = {"post": lambda: boto.post_to_connection(ConnectionId=connection_id, Data=data),
            "get": lambda: boto.get_connection(ConnectionId=connection_id),
            "delete": lambda: boto.delete_connection(ConnectionId=connection_id)}[op]
    try:
        answer = call()
    except ClientError as error:
        return {"error": error.response["Error"]["Code"], "status": error.response["ResponseMetadata"]["HTTPStatusCode"],
                "message": error.response["Error"].get("Message")}
    return {"ok": True, "status": answer["ResponseMetadata"]["HTTPStatusCode"]}


@pytest.mark.parametrize("client", MANAGEMENT_CLIENTS)
def test_unknown_connection_is_gone(target: Target, client: str) -> None:
    answer = manage(client, target, "post", UNKNOWN_ID, b"x")
    assert (answer["error"], answer["status"]) == ("GoneException", 410)


@pytest.mark.parametrize("client", MANAGEMENT_CLIENTS)
def test_malformed_connection_id_is_bad_request(target: Target, client: str) -> None:
    answer = manage(client, target, "post", "not-a-connection-id", b"x")
    assert (answer["error"], answer["status"]) == ("BadRequestException", 400)
    assert answer["message"] == "Invalid connectionId: not-a-connection-id"


@pytest.mark.parametrize("client", MANAGEMENT_CLIENTS)
def test_endpoint_without_stage_is_forbidden(target: Target, client: str) -> None:
    """The seed's troubleshooting symptom: a management endpoint without the stage answers 403."""
    no_stage = target.management_endpoint.rsplit("/", 1)[0]
    answer = manage(client, target, "post", UNKNOWN_ID, b"x", endpoint=no_stage)
    assert (answer["error"], answer["status"]) == ("ForbiddenException", 403)


def _wait_for_id(target: Target, email: str) -> str:
    deadline = time.monotonic() + WAIT_S
    while not (ids := target.connection_ids(email)):
        assert time.monotonic() < deadline, f"no open connection for {email}"
        time.sleep(0.05)
    (connection_id,) = ids
    return connection_id


@pytest.mark.parametrize("listener", WS_CLIENTS)
@pytest.mark.parametrize("client", MANAGEMENT_CLIENTS)
def test_post_reaches_the_client_and_get_describes_it(target: Target, client: str, listener: str) -> None:
    email = unique_email("post")
    url = target.client_url(email)
    if listener == "node-ws":
        node_listener = NodeListener(url)
        try:
            connection_id = _wait_for_id(target, email)
            assert manage(client, target, "post", connection_id, b'{"type":"email-verified"}') == {"ok": True, "status": 200}
            assert node_listener.next() == {"received": '{"type":"email-verified"}'}
            assert manage(client, target, "get", connection_id)["status"] == 200
        finally:
            node_listener.close()
        return

    async def scenario() -> None:
        async with connect(url) as ws:
            connection_id = await asyncio.to_thread(_wait_for_id, target, email)
            answer = await asyncio.to_thread(manage, client, target, "post", connection_id, b'{"type":"email-verified"}')
            assert answer == {"ok": True, "status": 200}
            assert await ws.recv() == '{"type":"email-verified"}'
            assert (await asyncio.to_thread(manage, client, target, "get", connection_id))["status"] == 200

    run(scenario())
