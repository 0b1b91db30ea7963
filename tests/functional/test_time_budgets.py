"""Notify ends inside the invocation's time budget, against a Management API that never answers.

The Lambda context is an INPUT (Lambda hands it to the handler): :class:`BudgetContext` is a
context object whose ``get_remaining_time_in_millis()`` says how long the invocation has left.
What is real: the handler, the store, and a TCP server that accepts posts and never answers.
"""
from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.events import load_event
from tests.functional.helpers import connect_event, invocation_lines, invoke, log_lines, metric_lines
from tests.functional.http_servers import HangingServer
from websocket_service import handler as handler_module
from websocket_service.budget import SAFETY_MARGIN_S
from websocket_service.messenger import Messenger


@dataclass
class BudgetContext:
    """A Lambda context with a fixed amount of time left when the handler starts."""

    remaining_ms: int
    aws_request_id: str = "req-budget"
    log_stream_name: str = "2026/12/02/[$LATEST]budget"

    def __post_init__(self) -> None:
        self._ends = time.monotonic() + self.remaining_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._ends - time.monotonic()) * 1000))


@pytest.fixture
def hanging_api() -> Iterator[HangingServer]:
    server = HangingServer()
    yield server
    server.stop()


@pytest.fixture
def hanging_env(monkeypatch, sqlite_database_url, hanging_api):
    monkeypatch.setenv("DATABASE_URL", sqlite_database_url)
    monkeypatch.setenv("AUTO_MIGRATE", "true")
    monkeypatch.setenv("MAX_CONNECTIONS_PER_EMAIL", "100")
    monkeypatch.setenv("AWS_WEBSOCKET_API_GATEWAY_ENDPOINT", hanging_api.endpoint)
    return monkeypatch


def _open(count: int) -> list[str]:
    ids = [f"hang{i:03d}=" for i in range(count)]
    for cid in ids:
        assert invoke(connect_event(cid, email="a@example.com", type="email-verification"))["statusCode"] == 200
    return ids


@pytest.mark.parametrize("connections", [1, 30])
def test_notify_to_a_hanging_api_ends_inside_the_remaining_time_and_reports_what_is_left(
        hanging_env, hanging_api, capsys, connections):
    _open(connections)
    capsys.readouterr()
    remaining_ms = 2500
    context = BudgetContext(remaining_ms)
    started = time.monotonic()
    result = handler_module.handler(load_event("direct_notify"), context)
    elapsed = time.monotonic() - started

    # The contract is the budget itself: the answer comes before Lambda would kill the invocation.
    assert elapsed < remaining_ms / 1000
    assert result["ok"] is True and result["complete"] is False and result["sent"] == 0
    assert result["failed"] + result["undelivered"] == connections and result["undelivered"] >= 1
    assert hanging_api.accepted >= 1  # posts really went out and hung
    lines = log_lines(capsys)
    (line,) = invocation_lines(lines)
    assert (line["level"], line["outcome"], line["undelivered"]) == ("WARNING", "incomplete", result["undelivered"])
    (metric,) = metric_lines(lines, "FailedDeliveries")
    assert metric["FailedDeliveries"] == connections
    assert not metric_lines(lines, "ServiceFailures")


def test_no_post_starts_when_the_margin_eats_the_remaining_time(hanging_env, hanging_api, capsys):
    _open(3)
    context = BudgetContext(int(SAFETY_MARGIN_S * 1000) - 100)
    result = handler_module.handler(load_event("direct_notify"), context)
    assert (result["sent"], result["failed"], result["undelivered"], result["complete"]) == (0, 0, 3, False)
    assert hanging_api.accepted == 0


def test_eventbridge_notify_honours_the_context_too(hanging_env, hanging_api):
    _open(2)
    result = handler_module.handler(load_event("eventbridge_notify"), BudgetContext(1500))
    assert result["complete"] is False and result["sent"] == 0


def test_each_post_has_a_read_timeout(hanging_api, capsys):
    """Without any deadline, a post to an API that never answers still ends: read timeout."""
    messenger = Messenger(hanging_api.endpoint, read_timeout_s=0.3)
    try:
        assert messenger.post("abc=", b"x") == "failed"
    finally:
        messenger.close()
    (line,) = log_lines(capsys)
    assert line["error"] == "ReadTimeoutError" and line["attempts"] == 1


def test_each_post_has_a_connect_timeout(capsys):
    """A listener whose accept queue is full drops new SYNs: the connect itself hangs and must time out."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    try:
        for _ in range(4):  # fill the (kernel-rounded) backlog; later connects then hang in SYN_SENT
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(listener.getsockname())
            fillers.append(filler)
        messenger = Messenger(f"http://127.0.0.1:{listener.getsockname()[1]}/prod", connect_timeout_s=0.3,
                              read_timeout_s=0.3)
        try:
            assert messenger.post("abc=", b"x") == "failed"
        finally:
            messenger.close()
    finally:
        for sock in [*fillers, listener]:
            sock.close()
    (line,) = log_lines(capsys)
    assert line["error"] == "ConnectTimeoutError"
