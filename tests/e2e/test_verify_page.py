"""End to end: the verification page in headless Chromium gets the push ``wsctl notify`` sends.

The gateway runs in-process on an ephemeral port with the real handler and a SQLite store;
Chromium (Debian's package) opens ``/verify?email=...``; the test reads the page's state through
the Chrome DevTools Protocol (over a ``websockets`` client), runs ``wsctl notify`` as a real
subprocess, and waits for the page to say "verified" and close its socket, which the handler
records as a ``$disconnect`` with status 1000.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from websockets.asyncio.client import ClientConnection, connect

from local_gateway.background import BackgroundGateway
from local_gateway.server import DUMMY_AWS_ENV, LocalGateway
from websocket_service.config import ENV_CONNECT_TOKEN_SECRET, ENV_DATABASE_URL, ENV_MANAGEMENT_ENDPOINT
from websocket_service.service import reset_service
from websocket_service.store.base import ConnectionStore

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
WSCTL = Path(sys.executable).with_name("wsctl")
EMAIL = "new.user@example.com"
WAIT_S = 30.0
"""Failure bound for the browser to reach a state (never a timing assertion)."""


class DevToolsPage:
    """Just enough of the Chrome DevTools Protocol to evaluate expressions in one page."""

    def __init__(self, socket: ClientConnection) -> None:
        self._socket = socket
        self._ids = itertools.count(1)

    async def evaluate(self, expression: str) -> Any:
        """``Runtime.evaluate`` the expression and return its value."""
        call_id = next(self._ids)
        await self._socket.send(json.dumps({
            "id": call_id, "method": "Runtime.evaluate", "params": {"expression": expression, "returnByValue": True}}))
        while True:
            reply = json.loads(await self._socket.recv())
            if reply.get("id") == call_id:
                if "error" in reply:
                    raise AssertionError(f"DevTools error: {reply['error']}")
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
                " formShown: getComputedStyle(document.getElementById('form')).display !== 'none'})"
            )
            if snapshot and snapshot["state"] == state:
                return snapshot
            await asyncio.sleep(0.1)
        raise AssertionError(f"the page never reached state {state!r}; last seen {snapshot}")


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[Any]:
    """Factory: start headless Chromium on a URL; return the page's DevTools WebSocket URL."""
    if not CHROMIUM.exists():
        pytest.fail("install Debian's chromium: apt-get install -y chromium")
    processes: list[subprocess.Popen[bytes]] = []

    def launch(url: str) -> str:
        profile = tmp_path / "chromium-profile"
        process = subprocess.Popen(
            [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--remote-debugging-port=0", f"--user-data-dir={profile}", url],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        processes.append(process)
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + WAIT_S
        while not (port_file.exists() and port_file.read_text().count("\n") >= 1):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"Chromium did not open its DevTools port (exit status {process.poll()})")
            time.sleep(0.05)
        port = port_file.read_text().splitlines()[0]
        while True:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:
                pages = [t for t in json.load(answer) if t["type"] == "page" and t["url"].startswith(url)]
            if pages:
                return pages[0]["webSocketDebuggerUrl"]
            if time.monotonic() > deadline:
                pytest.fail(f"Chromium has no page for {url}")
            time.sleep(0.05)

    yield launch
    for process in processes:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch, sqlite_database_url: str, sqlite_store: ConnectionStore) -> Iterator[LocalGateway]:
    """The local gateway with the real handler on this test's SQLite store (environment restored after)."""
    monkeypatch.delenv(ENV_CONNECT_TOKEN_SECRET, raising=False)
    monkeypatch.setenv(ENV_DATABASE_URL, sqlite_database_url)
    monkeypatch.setenv(ENV_MANAGEMENT_ENDPOINT, "http://127.0.0.1:9/replaced-by-the-gateway")
    for name, value in DUMMY_AWS_ENV.items():
        monkeypatch.setenv(name, value)
    with BackgroundGateway(LocalGateway(port=0, database_url=sqlite_database_url)) as running:
        yield running
    reset_service()


def test_page_shows_verified_when_wsctl_notify_pushes(
    gateway: LocalGateway, chromium: Any, sqlite_database_url: str, sqlite_store: ConnectionStore
) -> None:
    page_url = f"{gateway.page_url}?email={quote(EMAIL)}"
    devtools_url = chromium(page_url)

    async def scenario() -> tuple[dict[str, str], dict[str, str]]:
        async with connect(devtools_url, max_size=None) as devtools:
            page = DevToolsPage(devtools)
            waiting = await page.wait_for_state("waiting")
            notify = await asyncio.to_thread(
                subprocess.run,
                [str(WSCTL), "notify", "--email", EMAIL, "--endpoint", gateway.management_endpoint,
                 "--database-url", sqlite_database_url],
                capture_output=True, text=True, timeout=120, env=dict(os.environ),
            )
            assert notify.returncode == 0, notify.stderr
            assert notify.stdout.startswith(f"{EMAIL} (email-verification): delivered to 1 connection via")
            return waiting, await page.wait_for_state("verified")

    waiting, verified = asyncio.run(scenario())
    assert waiting["socket"] == "open" and "Waiting" in waiting["status"] and EMAIL in waiting["status"]
    assert waiting["formShown"] is False  # the address came in the URL: no form to fill in
    assert verified["status"] == "Email verified" and verified["formShown"] is False
    # The page closed its socket itself, and the close reached the handler as $disconnect 1000.
    deadline = time.monotonic() + WAIT_S
    while (row := sqlite_store.list_connections(user_email=EMAIL)[0]).is_active and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not row.is_active
    assert row.disconnect_status_code == 1000
    assert "verified" in (row.disconnect_reason or "")
    assert row.user_agent and "Chrome" in row.user_agent
