"""Fixtures for the local gateway tests: a real gateway on an ephemeral port, real clients.

``start_gateway(**kwargs)`` starts a :class:`LocalGateway` (port 0, this test's SQLite store, the
real ``websocket_service.handler.handler`` unless ``handler=`` is given) on a background loop and
stops it after the test. ``recorder`` wraps the real handler and keeps every event it passes on,
so tests can check what the handler received. The environment the gateway sets for the in-process
handler is restored after each test.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gateway_support import Recorder
from local_gateway.background import BackgroundGateway
from local_gateway.server import DUMMY_AWS_ENV, LocalGateway
from websocket_service.config import (
    ENV_CONNECT_TOKEN_SECRET,
    ENV_CONNECT_TOKEN_SECRET_ARN,
    ENV_DATABASE_SECRET_ARN,
    ENV_DATABASE_URL,
    ENV_MANAGEMENT_ENDPOINT,
)
from websocket_service.service import reset_service


@pytest.fixture
def gateway_env(monkeypatch: pytest.MonkeyPatch, sqlite_database_url: str, sqlite_store: Any) -> Iterator[None]:
    """A clean handler environment on this test's migrated SQLite store, restored afterwards."""
    for name in (ENV_CONNECT_TOKEN_SECRET, ENV_CONNECT_TOKEN_SECRET_ARN, ENV_DATABASE_SECRET_ARN):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(ENV_DATABASE_URL, sqlite_database_url)
    monkeypatch.setenv(ENV_MANAGEMENT_ENDPOINT, "http://127.0.0.1:9/replaced-by-the-gateway")
    for name, value in DUMMY_AWS_ENV.items():
        monkeypatch.setenv(name, value)
    yield
    reset_service()


@pytest.fixture
def start_gateway(gateway_env: None, sqlite_database_url: str) -> Iterator[Callable[..., LocalGateway]]:
    """Factory: start a gateway with ``LocalGateway(**kwargs)`` (port 0, this test's store)."""
    with contextlib.ExitStack() as stack:

        def start(**kwargs: Any) -> LocalGateway:
            kwargs.setdefault("port", 0)
            kwargs.setdefault("database_url", sqlite_database_url)
            return stack.enter_context(BackgroundGateway(LocalGateway(**kwargs)))

        yield start


@pytest.fixture
def recorder() -> Recorder:
    """A recording wrapper around the real handler."""
    return Recorder()


@pytest.fixture
def gateway(start_gateway: Callable[..., LocalGateway], recorder: Recorder) -> LocalGateway:
    """A running gateway in front of the real handler, recorded."""
    return start_gateway(handler=recorder)
