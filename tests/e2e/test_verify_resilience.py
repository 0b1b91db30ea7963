"""End to end: the verification page (and the JS client inside it) survives what closes sockets.

Headless Chromium opens ``/verify?email=...&token=...`` on an in-process gateway with connect
tokens on and short limits; the test lets the gateway close the page's socket (idle timeout, the
maximum duration, ``DELETE @connections``, a gateway restart), then runs ``wsctl notify`` and
waits for the page to say "verified". A link the page cannot use, or a token the server refuses,
is named in words with a retry button, never a bare close code.
"""
from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
import pytest
from websockets.asyncio.client import connect

from browser_support import WAIT_S, DevToolsPage
from local_gateway.background import BackgroundGateway
from local_gateway.server import DUMMY_AWS_ENV, GatewayLimits, LocalGateway
from websocket_service.config import ENV_CONNECT_TOKEN_SECRET, ENV_DATABASE_URL, ENV_MANAGEMENT_ENDPOINT
from websocket_service.service import reset_service
from websocket_service.store.base import ConnectionStore
from websocket_service.tokens import MAX_TTL_SECONDS, mint_token

pytestmark = pytest.mark.e2e

WSCTL = Path(sys.executable).with_name("wsctl")
SECRET = "an-e2e-secret-of-at-least-32-characters"
TYPE = "email-verification"
BARE_CODE = re.compile(r"\b1\d{3}\b")


class Gateways:
    """A gateway with tokens on that a test can restart on the same port and store."""

    def __init__(self, database_url: str, limits: GatewayLimits) -> None:
        self.database_url = database_url
        self.limits = limits
        self.port = 0
        self._stack = ExitStack()
        self.current: LocalGateway | None = None

    def start(self) -> LocalGateway:
        gateway = LocalGateway(port=self.port, database_url=self.database_url, limits=self.limits,
                               management_methods=("POST", "GET", "DELETE"))  # the test deletes connections
        self._stack = ExitStack()
        self.current = self._stack.enter_context(BackgroundGateway(gateway))
        self.port = self.current.port
        return self.current

    def stop(self) -> None:
        self._stack.close()


@pytest.fixture
def gateways(monkeypatch: pytest.MonkeyPatch, sqlite_database_url: str, sqlite_store: ConnectionStore,
             request: pytest.FixtureRequest) -> Iterator[Gateways]:
    """A gateway with connect tokens on, on a migrated SQLite store (``request.param``: its limits)."""
    monkeypatch.setenv(ENV_CONNECT_TOKEN_SECRET, SECRET)
    monkeypatch.setenv(ENV_DATABASE_URL, sqlite_database_url)
    monkeypatch.setenv(ENV_MANAGEMENT_ENDPOINT, "http://127.0.0.1:9/replaced-by-the-gateway")
    for name, value in DUMMY_AWS_ENV.items():
        monkeypatch.setenv(name, value)
    limits = getattr(request, "param", GatewayLimits(idle_timeout_s=3))
    running = Gateways(sqlite_database_url, limits)
    running.start()
    yield running
    running.stop()
    reset_service()


def page_url(gateway: LocalGateway, email: str, token: str | None) -> str:
    query = f"email={quote(email)}" + (f"&token={quote(token)}" if token is not None else "")
    return f"{gateway.page_url}?{query}"


def notify(gateways: Gateways, email: str) -> str:
    endpoint = f"http://127.0.0.1:{gateways.port}/prod"
    done = subprocess.run(
        [str(WSCTL), "notify", "--email", email, "--endpoint", endpoint, "--database-url", gateways.database_url],
        capture_output=True, text=True, timeout=120, env=dict(os.environ),
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def wait_until(condition: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened within {WAIT_S} s: {what}")
        time.sleep(0.05)


def run_page(chromium: Any, url: str, scenario: Any) -> Any:
    devtools_url = chromium(url)

    async def main() -> Any:
        async with connect(devtools_url, max_size=None) as devtools:
            return await scenario(DevToolsPage(devtools))

    return asyncio.run(asyncio.wait_for(main(), WAIT_S * 4))


@pytest.mark.parametrize("gateways", [GatewayLimits(idle_timeout_s=3), GatewayLimits(max_duration_s=3)],
                         ids=["idle-timeout", "max-duration"], indirect=True)
def test_page_is_verified_after_the_gateway_closed_its_first_socket(gateways: Gateways, chromium: Any) -> None:
    gateway = gateways.current
    assert gateway is not None
    email = "idle.user@example.com"

    async def scenario(page: DevToolsPage) -> dict[str, str]:
        await page.wait_for_state("waiting")
        first = gateway.open_connection_ids
        assert len(first) == 1
        # The gateway closes it (1001, idle or too long open); the page comes back on a new connection.
        await asyncio.to_thread(wait_until, lambda: gateway.open_connection_ids not in ([], first), "a new connection")
        await page.wait_for_state("waiting")
        assert await page.evaluate("window.verifyClient.attempts") == 0
        output = await asyncio.to_thread(notify, gateways, email)
        assert "delivered to 1 connection" in output
        return await page.wait_for_state("verified")

    verified = run_page(chromium, page_url(gateway, email, mint_token(SECRET, email, TYPE, ttl_seconds=MAX_TTL_SECONDS)),
                        scenario)
    assert verified["status"] == "Email verified"


def test_page_gets_a_push_sent_while_the_gateway_was_down(gateways: Gateways, chromium: Any) -> None:
    """Restart: the page's socket closes (1001), notify finds no connection and keeps the message;
    the page reconnects to the new gateway and replay delivers it."""
    gateway = gateways.current
    assert gateway is not None
    email = "restart.user@example.com"

    async def scenario(page: DevToolsPage) -> dict[str, str]:
        await page.wait_for_state("waiting")
        await asyncio.to_thread(gateways.stop)
        stopped = await page.wait_until("['reconnecting', 'stalled'].includes(document.body.dataset.state) && document.body.dataset.state")
        status = await page.evaluate("document.getElementById('status').textContent + ' ' + document.getElementById('detail').textContent")
        assert "Still waiting" in status and not BARE_CODE.search(status), (stopped, status)
        output = await asyncio.to_thread(notify, gateways, email)
        assert "nothing sent" in output or "kept" in output, output
        await asyncio.to_thread(gateways.start)
        return await page.wait_for_state("verified")

    verified = run_page(chromium, page_url(gateway, email, mint_token(SECRET, email, TYPE, ttl_seconds=MAX_TTL_SECONDS)),
                        scenario)
    assert verified["status"] == "Email verified"


def test_page_is_verified_once_after_its_connection_is_deleted(gateways: Gateways, chromium: Any) -> None:
    gateway = gateways.current
    assert gateway is not None
    email = "deleted.user@example.com"

    async def scenario(page: DevToolsPage) -> Any:
        await page.wait_for_state("waiting")
        await page.evaluate("window.seen = 0; window.verifyClient.onMessage(() => { window.seen += 1; }); null")
        (first,) = gateway.open_connection_ids
        management = boto3.client("apigatewaymanagementapi", endpoint_url=gateway.management_endpoint)
        await asyncio.to_thread(management.delete_connection, ConnectionId=first)  # the page sees 1000
        await asyncio.to_thread(notify, gateways, email)  # live or replayed: the page sees it once
        await page.wait_for_state("verified")
        return await page.evaluate("window.seen")

    assert run_page(chromium, page_url(gateway, email, mint_token(SECRET, email, TYPE, ttl_seconds=MAX_TTL_SECONDS)),
                    scenario) == 1


@pytest.mark.parametrize(("email", "token", "words"), [
    ("not-an-email", None, "is not an email address"),
    ("bad.link@example.com", "v1.123.short", "This link is damaged"),
    ("old.link@example.com", mint_token(SECRET, "old.link@example.com", TYPE, ttl_seconds=1, now=time.time() - 3600),
     "This link has expired"),
], ids=["bad-email", "malformed-token", "expired-token"])
def test_page_names_a_bad_link_in_words(gateways: Gateways, chromium: Any, email: str, token: str | None, words: str) -> None:
    gateway = gateways.current
    assert gateway is not None

    async def scenario(page: DevToolsPage) -> tuple[dict[str, str], str]:
        return await page.wait_for_state("error"), await page.evaluate("document.getElementById('detail').textContent")

    error, detail = run_page(chromium, page_url(gateway, email, token), scenario)
    assert error["status"] == "Cannot wait for verification"
    assert words in detail
    assert gateway.open_connection_ids == []  # it never tried with a link that cannot work


def test_page_refused_token_shows_still_waiting_words_and_a_retry_button(gateways: Gateways, chromium: Any) -> None:
    gateway = gateways.current
    assert gateway is not None
    email = "refused.user@example.com"
    forged = mint_token("another-key-of-at-least-32-characters!!", email, TYPE, ttl_seconds=MAX_TTL_SECONDS)

    async def scenario(page: DevToolsPage) -> tuple[dict[str, str], str, bool, str]:
        stalled = await page.wait_for_state("stalled")
        detail = await page.evaluate("document.getElementById('detail').textContent")
        retry_shown = await page.evaluate("!document.getElementById('retry').hidden")
        after_click = await page.evaluate("document.getElementById('retry').click(), document.body.dataset.state")
        await page.wait_for_state("stalled")  # tried again from a fresh backoff, and said so again
        return stalled, detail, retry_shown, after_click

    stalled, detail, retry_shown, after_click = run_page(chromium, page_url(gateway, email, forged), scenario)
    assert stalled["status"] == "Still waiting, but the server cannot be reached"
    assert "link may be invalid or expired" in detail and not BARE_CODE.search(stalled["status"] + detail)
    assert retry_shown is True
    assert after_click in ("connecting", "reconnecting")  # trying again at once
    assert gateway.open_connection_ids == []

