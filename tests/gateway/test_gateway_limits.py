"""API Gateway's quotas as the gateway enforces them: idle timeout, duration, frame and message size."""
from __future__ import annotations

import json
from typing import Callable

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from gateway_support import Recorder, run
from local_gateway.server import GatewayError, GatewayLimits, LocalGateway

URL_QUERY = "?email=limits@example.com&type=general"
KB = 1024


async def closed_by_server(url: str, send: list[str | list[str]] | None = None) -> tuple[int, str]:
    """Connect, send each item (a list is sent as one fragmented message), wait to be closed."""
    async with connect(url) as ws:
        with pytest.raises(ConnectionClosed):  # raised by a send or a recv, whichever sees the close
            for item in send or []:
                await ws.send(item)
            while True:
                await ws.recv()  # route responses, until the server closes
    return ws.close_code, ws.close_reason  # type: ignore[return-value]


def disconnect_status(recorder: Recorder) -> tuple[int, str]:
    event = recorder.wait_for_route("$disconnect")
    return event["requestContext"]["disconnectStatusCode"], event["requestContext"]["disconnectReason"]


def test_defaults_are_api_gateway_quotas() -> None:
    limits = GatewayLimits()
    assert (limits.idle_timeout_s, limits.max_duration_s) == (600, 7200)
    assert (limits.max_frame_bytes, limits.max_message_bytes) == (32 * KB, 128 * KB)
    assert limits.integration_timeout_s == 29


@pytest.mark.parametrize(
    "kwargs",
    [{"idle_timeout_s": 0}, {"max_duration_s": -1}, {"max_frame_bytes": 64 * KB, "max_message_bytes": 32 * KB}],
)
def test_invalid_limits_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(GatewayError):
        GatewayLimits(**kwargs)  # type: ignore[arg-type]


def test_idle_connection_is_closed_going_away(start_gateway: Callable[..., LocalGateway], recorder: Recorder) -> None:
    gateway = start_gateway(handler=recorder, limits=GatewayLimits(idle_timeout_s=0.3))
    code, reason = run(closed_by_server(gateway.url + URL_QUERY))
    assert (code, reason) == (1001, "Idle timeout")
    assert disconnect_status(recorder) == (1001, "Idle timeout")


def test_connection_is_closed_after_maximum_duration(
    start_gateway: Callable[..., LocalGateway], recorder: Recorder
) -> None:
    gateway = start_gateway(handler=recorder, limits=GatewayLimits(max_duration_s=0.3))
    code, reason = run(closed_by_server(gateway.url + URL_QUERY))
    assert (code, reason) == (1001, "Maximum connection duration exceeded")
    assert disconnect_status(recorder)[0] == 1001


def test_frame_over_32_kb_closes_with_1009(gateway: LocalGateway, recorder: Recorder) -> None:
    code, _ = run(closed_by_server(gateway.url + URL_QUERY, ["x" * (32 * KB + 1)]))
    assert code == 1009
    assert disconnect_status(recorder)[0] == 1009
    assert "MESSAGE" not in [e["requestContext"]["eventType"] for e in recorder.events]


def test_message_over_128_kb_in_small_frames_closes_with_1009(gateway: LocalGateway, recorder: Recorder) -> None:
    fragments = ["y" * (30 * KB)] * 5  # every frame is within 32 KB; the message is 150 KB
    code, _ = run(closed_by_server(gateway.url + URL_QUERY, [fragments]))
    assert code == 1009
    assert disconnect_status(recorder)[0] == 1009


def test_messages_within_limits_reach_the_handler(gateway: LocalGateway, recorder: Recorder) -> None:
    async def scenario() -> list[dict[str, str]]:
        async with connect(gateway.url + URL_QUERY) as ws:
            await ws.send("a" * (32 * KB))  # one full frame
            first = json.loads(await ws.recv())
            await ws.send(["b" * (32 * KB)] * 4)  # exactly 128 KB in four frames
            return [first, json.loads(await ws.recv())]

    replies = run(scenario())
    assert [r["error"] for r in replies] == ["invalid_json", "invalid_json"]  # handled, not closed
    bodies = [e["body"] for e in recorder.events if e["requestContext"]["eventType"] == "MESSAGE"]
    assert [len(b) for b in bodies] == [32 * KB, 128 * KB]


def test_limits_are_configurable(start_gateway: Callable[..., LocalGateway], recorder: Recorder) -> None:
    gateway = start_gateway(handler=recorder, limits=GatewayLimits(max_frame_bytes=100, max_message_bytes=200))
    code, _ = run(closed_by_server(gateway.url + URL_QUERY, ["z" * 101]))
    assert code == 1009


@pytest.mark.parametrize("settle_s", [0.0, 0.5], ids=["connected-just-before-stop", "accepted-well-before-stop"])
def test_shutdown_drops_a_connection_that_never_sent_a_request(
    gateway_env: None, sqlite_database_url: str, settle_s: float
) -> None:
    """Browsers open spare connections they may never use (headless Chromium does: stopping
    ``wsctl local`` took about 32 s). Shutdown drops such a silent connection at once instead of
    waiting its whole opening timeout, whether the gateway had accepted it long before the stop
    (``settle_s`` 0.5) or only just (0: it may still be in the listen backlog or be accepted
    while the stop runs)."""
    import socket
    import threading
    import time
    from urllib.parse import urlsplit

    from local_gateway.background import BackgroundGateway

    background = BackgroundGateway(LocalGateway(port=0, database_url=sqlite_database_url))
    gateway = background.__enter__()
    open_timeout_s = gateway.limits.integration_timeout_s + 5
    address = urlsplit(gateway.url)
    silent = socket.create_connection((address.hostname, address.port), timeout=open_timeout_s * 2)
    time.sleep(settle_s)
    stopper = threading.Thread(target=background.__exit__, args=(None, None, None))
    started = time.monotonic()
    stopper.start()
    stopper.join(timeout=open_timeout_s / 2)  # well inside the opening timeout the old code waited out
    try:
        assert not stopper.is_alive(), "the gateway waited for a connection that never sent a byte"
        assert time.monotonic() - started < open_timeout_s / 2
        try:
            assert silent.recv(1) == b""  # dropped by the gateway
        except ConnectionResetError:
            pass  # dropped with a reset (an abort, or the listen backlog closing): just as closed
    finally:
        silent.close()
        stopper.join()
