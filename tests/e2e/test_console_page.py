"""End to end: the live console of ``wsctl local`` in headless Chromium, and a browser's subprotocol.

Real clients connect to an in-process gateway; Chromium opens ``/console``; the test reads the
page through the DevTools Protocol, clicks its Notify and Disconnect buttons, and checks what the
clients and the store saw.
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from browser_support import WAIT_S, DevToolsPage
from local_gateway.background import BackgroundGateway
from local_gateway.server import LocalGateway
from websocket_service.handler import handler as real_handler
from websocket_service.store.base import ConnectionStore

pytestmark = pytest.mark.e2e

DIALOG = "dialog.user@example.com"
OTHER = "other.user@example.com"


def url(gateway: LocalGateway, email: str, connection_type: str) -> str:
    return f"{gateway.url}?email={quote(email)}&type={connection_type}"


def test_console_shows_connections_and_its_buttons_notify_and_disconnect(
    gateway: LocalGateway, chromium: Any, sqlite_store: ConnectionStore
) -> None:
    async def scenario() -> None:
        async with connect(url(gateway, DIALOG, "email-verification")) as dialog, \
                connect(url(gateway, OTHER, "general")) as other:
            await other.send('{"action":"ping"}')
            assert json.loads(await other.recv()) == {"type": "pong"}
            devtools_url = await asyncio.to_thread(chromium, gateway.console_url)
            async with connect(devtools_url, max_size=None) as devtools:
                page = DevToolsPage(devtools)
                await page.wait_until("document.body.dataset.count === '2'")
                groups = await page.evaluate(
                    "[...document.querySelectorAll('section.group')].map(g => ({email: g.dataset.email, type: g.dataset.type,"
                    " rows: g.querySelectorAll('tbody tr').length, text: g.innerText}))")
                assert [(g["email"], g["type"], g["rows"]) for g in groups] == [
                    (DIALOG, "email-verification", 1), (OTHER, "general", 1)]
                assert '{"action":"ping"}' in groups[1]["text"] and '{"type":"pong"}' in groups[1]["text"]  # last in/out
                assert "none yet" in groups[0]["text"]
                assert "ago" in groups[0]["text"]  # last activity column

                # Notify: the dialog's group button pushes through the management API.
                await page.evaluate(
                    f"(() => {{ const g = document.querySelector('section[data-email=\"{DIALOG}\"]');"
                    " g.querySelector('input').value = '{\"type\":\"email-verified\"}';"
                    " g.querySelector('[data-action=notify]').click(); })()")
                pushed = json.loads(await dialog.recv())
                assert pushed == {"type": "email-verified", "messageId": pushed["messageId"]}  # kept for replay
                toast = await page.wait_until("!document.getElementById('toast').hidden && document.getElementById('toast').textContent")
                assert toast == f"notify {DIALOG} (email-verification): sent 1, gone 0, failed 0"

                # Disconnect: the other client's row button closes it (1000) and $disconnect runs.
                await page.evaluate(
                    f"document.querySelector('section[data-email=\"{OTHER}\"] [data-action=disconnect]').click()")
                with pytest.raises(ConnectionClosed):
                    await other.recv()
                assert other.close_code == 1000
                await page.wait_until("document.body.dataset.count === '1'")

    asyncio.run(asyncio.wait_for(scenario(), WAIT_S * 3))
    (row,) = sqlite_store.list_connections(user_email=OTHER)
    assert not row.is_active and row.disconnect_status_code == 1000


def test_console_api_refuses_cross_site_form_posts(gateway: LocalGateway) -> None:
    """A page on another origin can POST a form (text/plain) without a preflight; the console refuses it."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    try:
        conn.request("POST", "/console/api/notify", body=json.dumps({"email": DIALOG, "type": "email-verification"}),
                     headers={"Content-Type": "text/plain"})
        answer = conn.getresponse()
        assert (answer.status, json.loads(answer.read())) == (415, {"message": "send Content-Type: application/json"})
    finally:
        conn.close()


def test_console_notify_without_a_message_follows_wsctls_rule(gateway: LocalGateway) -> None:
    """Issue 14: an empty Notify on a ``general`` group sent the email-verified message, while
    ``wsctl notify --type general`` refuses without --message. One rule now: 400, nothing sent."""
    import http.client

    from websocket_service.service import default_notify_message
    from websocket_service.validation import ValidationError

    with pytest.raises(ValidationError) as refused:
        default_notify_message(OTHER, "general")

    async def scenario() -> tuple[int, Any, Any]:
        async with connect(url(gateway, OTHER, "general")) as client:
            def post() -> tuple[int, Any]:
                conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
                try:
                    conn.request("POST", "/console/api/notify", body=json.dumps({"email": OTHER, "type": "general"}),
                                 headers={"Content-Type": "application/json"})
                    answer = conn.getresponse()
                    return answer.status, json.loads(answer.read())
                finally:
                    conn.close()

            status, body = await asyncio.to_thread(post)
            await client.send('{"action":"ping"}')
            return status, body, await client.recv()  # the pong comes first: nothing was pushed

    status, body, first = asyncio.run(asyncio.wait_for(scenario(), WAIT_S))
    assert (status, body) == (400, {"message": str(refused.value)})
    assert "a message is required for type 'general'" in body["message"]
    assert first == '{"type":"pong"}'


def _subprotocol_handler(event: dict[str, Any], context: Any) -> Any:
    result = real_handler(event, context)
    if event["requestContext"]["eventType"] == "CONNECT" and result.get("statusCode") == 200:
        offered = {k.lower(): v for k, v in event["headers"].items()}.get("sec-websocket-protocol", "")
        if "myprotocol" in [p.strip() for p in offered.split(",")]:
            return {**result, "headers": {"Sec-WebSocket-Protocol": "myprotocol"}}
    return result


@pytest.fixture
def subprotocol_gateway(gateway: LocalGateway, sqlite_database_url: str) -> Iterator[LocalGateway]:
    with BackgroundGateway(LocalGateway(port=0, database_url=sqlite_database_url, handler=_subprotocol_handler)) as running:
        yield running


def test_browser_gets_the_subprotocol_connect_selects(subprotocol_gateway: LocalGateway, chromium: Callable[[str], str]) -> None:
    """https://docs.aws.amazon.com/apigateway/latest/developerguide/websocket-connect-route-subprotocol.html:
    the $connect integration returns Sec-WebSocket-Protocol; a browser that offered it gets it selected."""
    gateway = subprotocol_gateway
    target = url(gateway, DIALOG, "email-verification")

    async def scenario() -> Any:
        devtools_url = await asyncio.to_thread(chromium, gateway.console_url)
        async with connect(devtools_url, max_size=None) as devtools:
            page = DevToolsPage(devtools)
            await page.wait_until("document.body && document.body.dataset.ready === 'true'")  # navigation done
            await page.evaluate(
                f"window.result = null; const ws = new WebSocket({json.dumps(target)}, ['chat1', 'myprotocol']);"
                " ws.onopen = () => { window.result = {protocol: ws.protocol}; ws.close(1000); };"
                " ws.onerror = () => { window.result = {error: true}; }; null")
            return await page.wait_until("window.result")

    assert asyncio.run(asyncio.wait_for(scenario(), WAIT_S * 2)) == {"protocol": "myprotocol"}
