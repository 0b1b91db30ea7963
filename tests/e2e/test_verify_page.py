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
import queue
import re
import shlex
import subprocess
import sys
import threading
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


def _start_wsctl_local(*args: str, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """``wsctl local ARGS`` as a real process; returns it and its banner (up to "Press Ctrl+C")."""
    process = subprocess.Popen([str(WSCTL), "local", "--port", "0", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env={**os.environ, **env})
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()  # type: ignore[union-attr]
    banner: list[str] = []
    while not banner or not banner[-1].startswith("Press Ctrl+C"):
        try:
            banner.append(lines.get(timeout=WAIT_S).rstrip("\n"))
        except queue.Empty:
            process.kill()
            pytest.fail(f"wsctl local printed no banner; stderr: {process.communicate()[1]}")
    return process, "\n".join(banner)


def test_the_banners_page_url_and_notify_hint_work_as_printed(chromium: Any, tmp_path: Path) -> None:
    """Issue 14: with a token secret and a non-default store, a newcomer who opens the printed page
    and runs the printed notify command sees "verified" (the page had no token, and the hint no
    --database-url, so the page failed and notify reported "nothing sent")."""
    database_url = f"sqlite:///{tmp_path / 'banner.db'}"
    without_venv = os.pathsep.join(entry for entry in os.environ.get("PATH", "").split(os.pathsep)
                                   if entry and Path(entry).resolve() != WSCTL.parent.resolve())
    process, banner = _start_wsctl_local("--database-url", database_url,
                                         env={"CONNECT_TOKEN_SECRET": "banner-key", "PATH": without_venv})
    try:
        page_url = re.search(r"Verification page:\s+(\S+)", banner).group(1)  # type: ignore[union-attr]
        assert "&token=v1." in page_url and "(token valid 15 min" in banner
        (notify_line,) = [line.strip() for line in banner.splitlines() if " notify --email " in line]
        notify_command = shlex.split(notify_line)
        assert notify_command[0] == str(WSCTL)  # started by its path (no venv on PATH): the hint says so
        assert notify_command[-2:] == ["--database-url", database_url]
        devtools_url = chromium(page_url)

        async def scenario() -> tuple[dict[str, str], subprocess.CompletedProcess[str], dict[str, str]]:
            async with connect(devtools_url, max_size=None) as devtools:
                page = DevToolsPage(devtools)
                waiting = await page.wait_for_state("waiting")  # the handshake with the printed token passed
                notify = await asyncio.to_thread(
                    subprocess.run, notify_command, capture_output=True, text=True, timeout=120,
                    env={name: value for name, value in os.environ.items() if name != "DATABASE_URL"},
                )
                return waiting, notify, await page.wait_for_state("verified")

        waiting, notify, verified = asyncio.run(scenario())
        assert waiting["socket"] == "open"
        assert notify.returncode == 0, notify.stderr
        assert notify.stdout.startswith("you@example.com (email-verification): delivered to 1 connection via")
        assert verified["status"] == "Email verified"
    finally:
        process.terminate()
        process.communicate(timeout=WAIT_S * 2)


PHONE = (390, 844)
"""A common phone viewport in CSS pixels (iPhone 12 to 15)."""
LONG_EMAIL = "a.very.long.address.for.testing@subdomain.example.com"


@pytest.mark.parametrize(("query", "state"), [("", "start"), (f"?email={quote(LONG_EMAIL)}", "waiting")],
                         ids=["address-form", "waiting-long-address"])
def test_the_card_fits_a_390_px_phone(gateway: LocalGateway, chromium: Any, query: str, state: str) -> None:
    """Issue 14: the card overflowed a 390 px screen (width 90% plus 4rem of padding)."""
    devtools_url = chromium(f"{gateway.page_url}{query}")

    async def scenario() -> dict[str, float]:
        async with connect(devtools_url, max_size=None) as devtools:
            page = DevToolsPage(devtools)
            await page.command("Emulation.setDeviceMetricsOverride",
                               {"width": PHONE[0], "height": PHONE[1], "deviceScaleFactor": 3, "mobile": True})
            await page.wait_for_state(state)
            return await page.evaluate(
                "(() => { const r = document.querySelector('.dialog').getBoundingClientRect();"
                " return {viewport: window.innerWidth, scroll: document.documentElement.scrollWidth,"
                " left: r.left, right: r.right}; })()")

    layout = asyncio.run(scenario())
    assert layout["scroll"] <= PHONE[0], layout  # no horizontal overflow (before: 404 px, 531 with a long address)
    assert layout["viewport"] == PHONE[0], layout  # a mobile browser did not have to zoom out to fit the page
    assert 0 <= layout["left"] and layout["right"] <= PHONE[0], layout  # the whole card is on screen
