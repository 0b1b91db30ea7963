"""Helpers of the browser tests: just enough of the Chrome DevTools Protocol to drive one page."""
from __future__ import annotations

import asyncio
import itertools
import json
import time
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection

CHROMIUM = Path("/usr/bin/chromium")
WAIT_S = 30.0
"""Failure bound for the browser to reach a state (never a timing assertion)."""


class DevToolsPage:
    """Just enough of the Chrome DevTools Protocol to evaluate expressions in one page."""

    def __init__(self, socket: ClientConnection) -> None:
        self._socket = socket
        self._ids = itertools.count(1)

    async def command(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Send one DevTools Protocol command and return its ``result`` (an error fails the test)."""
        call_id = next(self._ids)
        await self._socket.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            reply = json.loads(await self._socket.recv())
            if reply.get("id") == call_id:
                if "error" in reply:
                    raise AssertionError(f"DevTools error on {method}: {reply['error']}")
                return reply["result"]

    async def evaluate(self, expression: str, *, raise_errors: bool = True) -> Any:
        """``Runtime.evaluate`` the expression and return its value.

        An exception in the page fails the test, unless ``raise_errors`` is false (polling while
        the page may still be loading): then the value is None.
        """
        call_id = next(self._ids)
        await self._socket.send(json.dumps({
            "id": call_id, "method": "Runtime.evaluate", "params": {"expression": expression, "returnByValue": True}}))
        while True:
            reply = json.loads(await self._socket.recv())
            if reply.get("id") == call_id:
                if "error" in reply:
                    raise AssertionError(f"DevTools error: {reply['error']}")
                if "exceptionDetails" in reply["result"]:
                    if not raise_errors:
                        return None
                    raise AssertionError(f"the page raised: {reply['result']['exceptionDetails']}")
                return reply["result"]["result"].get("value")

    async def wait_for_state(self, state: str) -> dict[str, str]:
        """Poll the page's ``data-state`` until it is ``state``; return state, socket, status text and
        whether the address form is displayed."""
        deadline = time.monotonic() + WAIT_S
        snapshot: dict[str, str] = {}
        while time.monotonic() < deadline:
            snapshot = await self.evaluate(
                "({state: document.body.dataset.state, socket: document.body.dataset.socket,"
                " status: document.getElementById('status').textContent,"
                " formShown: getComputedStyle(document.getElementById('form')).display !== 'none'})",
                raise_errors=False,
            )
            if snapshot and snapshot["state"] == state:
                return snapshot
            await asyncio.sleep(0.1)
        raise AssertionError(f"the page never reached state {state!r}; last seen {snapshot}")

    async def wait_until(self, expression: str) -> Any:
        """Poll ``expression`` until it is truthy; return its value (fails after :data:`WAIT_S`)."""
        deadline = time.monotonic() + WAIT_S
        value: Any = None
        while time.monotonic() < deadline:
            value = await self.evaluate(expression, raise_errors=False)
            if value:
                return value
            await asyncio.sleep(0.1)
        raise AssertionError(f"{expression} stayed falsy for {WAIT_S} s (last {value!r})")
