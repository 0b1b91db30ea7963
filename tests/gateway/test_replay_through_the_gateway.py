"""Replay end to end through the local gateway (real WebSocket clients, the real handler, the
management API on the same port): a message notified while the page was away arrives after the
reconnect's replay, before the replay-complete answer, with the id the notify answered."""
from __future__ import annotations

import json
from typing import Any, Callable
from urllib.parse import quote

import pytest
from websockets.asyncio.client import connect

from gateway_support import Recorder, run
from local_gateway.server import LocalGateway
from websocket_service.service import get_service
from websocket_service.tokens import mint_token

SECRET = "replay-gateway-test-secret"
EMAIL = "away@example.com"


@pytest.fixture
def token_gateway(monkeypatch: pytest.MonkeyPatch, start_gateway: Callable[..., LocalGateway],
                  recorder: Recorder) -> LocalGateway:
    monkeypatch.setenv("CONNECT_TOKEN_SECRET", SECRET)
    return start_gateway(handler=recorder)


def url(gateway: LocalGateway, email: str = EMAIL) -> str:
    token = mint_token(SECRET, email, "email-verification")
    return f"{gateway.url}?email={quote(email)}&type=email-verification&token={token}"


def test_a_message_sent_while_away_is_replayed_after_the_reconnect(token_gateway: LocalGateway) -> None:
    async def scenario() -> tuple[Any, list[Any]]:
        async with connect(url(token_gateway)) as ws:  # the page is open, then goes away
            await ws.send(json.dumps({"action": "ping"}))
            assert json.loads(await ws.recv()) == {"type": "pong"}
        answer = get_service().notify(EMAIL, "email-verification", {"type": "email-verified"})
        async with connect(url(token_gateway)) as ws:
            await ws.send(json.dumps({"action": "replay"}))
            received = [json.loads(await ws.recv()), json.loads(await ws.recv())]
            await ws.send(json.dumps({"action": "replay", "after": answer.message_id}))
            received.append(json.loads(await ws.recv()))
        return answer, received

    answer, received = run(scenario())
    assert (answer.sent, answer.kept) == (0, True)
    assert received == [
        {"type": "email-verified", "messageId": answer.message_id},
        {"type": "replay-complete", "count": 1, "lastMessageId": answer.message_id, "complete": True},
        {"type": "replay-complete", "count": 0, "lastMessageId": None, "complete": True},
    ]


def test_another_users_messages_are_never_replayed(token_gateway: LocalGateway) -> None:
    async def scenario() -> list[Any]:
        secret_id = get_service().notify(EMAIL, "email-verification", {"type": "email-verified"}).message_id
        async with connect(url(token_gateway, "eve@example.com")) as ws:
            await ws.send(json.dumps({"action": "replay", "after": secret_id}))
            return [json.loads(await ws.recv())]

    assert run(scenario()) == [{"type": "replay-complete", "count": 0, "lastMessageId": None, "complete": True}]
