"""Helpers shared by the gateway tests (imported by conftest.py and the test modules)."""
from __future__ import annotations

import asyncio
import shutil
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from local_gateway.server import LocalGateway
from websocket_service.handler import handler as real_handler

WAIT_S = 15.0
"""How long to wait for something that must happen (a failure bound, not a timing assertion)."""


class Recorder:
    """A handler that delegates to the real one (or ``inner``) and records each event it handled."""

    def __init__(self, inner: Callable[[dict[str, Any], Any], Any] = real_handler) -> None:
        self.inner = inner
        self.events: list[dict[str, Any]] = []
        self.contexts: list[Any] = []
        self._changed = threading.Condition()

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        try:
            return self.inner(event, context)
        finally:  # recorded once handled, so waiting for an event also waits for its effects
            with self._changed:
                self.events.append(event)
                self.contexts.append(context)
                self._changed.notify_all()

    def routes(self) -> list[str]:
        """Route keys seen so far, in order."""
        return [e["requestContext"]["routeKey"] for e in self.events]

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The first event matching ``predicate``; fails after :data:`WAIT_S` without one."""
        deadline = time.monotonic() + WAIT_S
        with self._changed:
            while True:
                for event in self.events:
                    if predicate(event):
                        return event
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    pytest.fail(f"no matching event within {WAIT_S} s; routes seen: {self.routes()}")
                self._changed.wait(remaining)

    def wait_for_route(self, route_key: str, connection_id: str | None = None) -> dict[str, Any]:
        """The first event of ``route_key`` (for ``connection_id`` if given)."""
        return self.wait_for(
            lambda e: e["requestContext"]["routeKey"] == route_key
            and connection_id in (None, e["requestContext"]["connectionId"])
        )


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a client scenario on a fresh event loop (the gateway has its own, in its thread)."""
    return asyncio.run(asyncio.wait_for(coro, WAIT_S * 2))


def management_client(gateway_or_endpoint: LocalGateway | str) -> Any:
    """boto3's management API client pointed at the gateway (or an endpoint), dummy credentials."""
    endpoint = gateway_or_endpoint if isinstance(gateway_or_endpoint, str) else gateway_or_endpoint.management_endpoint
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="anything",
        aws_secret_access_key="anything",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )


def printed_wsctl(program: Path) -> str:
    """How ``wsctl local``'s hints name ``program`` when it was started by that path: ``wsctl``
    when PATH finds this very program, else the path (``wsctl.cli.wsctl_command``)."""
    found = shutil.which("wsctl")
    return "wsctl" if found is not None and Path(found).samefile(program) else str(program)
