"""End to end: the verification page in headless Chromium gets the push ``wsctl notify`` sends.

The gateway runs in-process on an ephemeral port with the real handler and a SQLite store;
Chromium (Debian's package) opens ``/verify?email=...``; the test reads the page's state through
the Chrome DevTools Protocol (over a ``websockets`` client), runs ``wsctl notify`` as a real
subprocess, and waits for the page to say "verified" and close its socket, which the handler
records as a ``$disconnect`` with status 1000.
"""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from websockets.asyncio.client import connect

from browser_support import WAIT_S, DevToolsPage
from local_gateway.server import LocalGateway
from websocket_service.store.base import ConnectionStore

pytestmark = pytest.mark.e2e

WSCTL = Path(sys.executable).with_name("wsctl")
EMAIL = "new.user@example.com"


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
