"""The property-test corpus over REAL sockets: ``wsctl local``'s gateway in front of the real handler.

A smaller sample than the in-process run (:data:`tests.property.counts.GATEWAY_SAMPLE` inputs, each
a real WebSocket handshake plus one frame): what a client controls on the wire -- query string
(percent-encoded, hostile characters and lone surrogates included), User-Agent, and one text or
binary frame (JSON nested up to 128 KB, not-UTF-8 bytes). Invariants: the handshake is accepted or
refused with a 4xx (never 5xx); every handler answer is 200 or 4xx and never raises; no ERROR log
and no ``ServiceFailures``; a text message gets a reply that is not ``service_unavailable`` (or, over
128 KB, the gateway's 1009 close), a binary frame the gateway's 1003 close, as API Gateway does.
"""
from __future__ import annotations

import json
from typing import Any, Callable
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from gateway_support import run
from local_gateway.server import LocalGateway
from tests.property.counts import CASES, GATEWAY_SAMPLE
from tests.property.strategies import socket_inputs
from websocket_service.handler import handler as real_handler


class CheckingHandler:
    """The real handler; remembers every (event, result or exception) it produced."""

    def __init__(self) -> None:
        self.outcomes: list[tuple[dict[str, Any], Any]] = []

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        try:
            result = real_handler(event, context)
        except Exception as error:  # noqa: BLE001 - recorded, then asserted absent
            self.outcomes.append((event, error))
            raise
        self.outcomes.append((event, result))
        return result


def _encode(text: str) -> str:
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


async def _exchange(gateway: LocalGateway, inputs: dict[str, Any]) -> str:
    query = "&".join(f"{name}={_encode(value)}" for name, value in inputs["query"].items())
    frame = inputs["frame"]
    if isinstance(frame, str):
        try:
            frame.encode("utf-8")
        except UnicodeEncodeError:  # a text frame must be UTF-8: send the bytes as a binary frame
            frame = frame.encode("utf-8", "surrogatepass")
    try:
        async with connect(f"{gateway.url}?{query}", user_agent_header=inputs["user_agent"] or None,
                           max_size=None) as ws:
            await ws.send(frame)
            try:
                reply = json.loads(await ws.recv())
            except ConnectionClosed as closed:
                # API Gateway refuses frames over 32 KB and messages over 128 KB (1009) and binary frames (1003)
                binary = isinstance(frame, bytes) and len(frame) <= gateway.limits.max_frame_bytes
                expected = 1003 if binary else 1009
                assert closed.rcvd is not None and closed.rcvd.code == expected, f"closed unexpectedly: {closed}"
                return "binary" if expected == 1003 else "too_big"
            assert reply.get("error") != "service_unavailable", f"message answered {reply}"
            return "replied"
    except InvalidStatus as refused:
        status = refused.response.status_code
        assert 400 <= status < 500, f"handshake refused with {status}: {refused.response.body!r}"
        return "refused"


@pytest.fixture
def checked_gateway(start_gateway: Callable[..., LocalGateway]) -> tuple[LocalGateway, CheckingHandler]:
    """One gateway for all examples of the test, in front of a :class:`CheckingHandler`."""
    checker = CheckingHandler()
    return start_gateway(handler=checker), checker


@settings(max_examples=GATEWAY_SAMPLE)
@given(inputs=socket_inputs())
def test_corpus_over_real_sockets(checked_gateway, capsys, inputs):
    gateway, checker = checked_gateway
    CASES["gateway"] += 1
    seen = len(checker.outcomes)
    CASES[f"gateway:{run(_exchange(gateway, inputs))}"] += 1
    for event, result in checker.outcomes[seen:]:
        assert not isinstance(result, BaseException), f"{type(result).__name__} escaped for {event!r:.400}"
        assert result["statusCode"] == 200 or 400 <= result["statusCode"] < 500, f"{result} for {event!r:.400}"
    out = capsys.readouterr().out
    assert "ServiceFailures" not in out and '"level":"ERROR"' not in out, out[-2000:]
