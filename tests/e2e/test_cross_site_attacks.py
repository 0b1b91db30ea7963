"""End to end: a web page on another origin, open in headless Chromium, attacks ``wsctl local``.

The attacks of issue 14, exactly as a browser makes them: a page served from another origin
(another port of 127.0.0.1) sends a ``no-cors`` ``text/plain`` POST to the Invoke API asking to
notify the victim ("email-verified"), runs ``cleanup``, and opens a WebSocket as the victim's
email; a link to ``/verify?ws=ws://other.host/...`` tries to make the page send the e-mail and
token to another server. The gateway must refuse all of it (SECURITY.md, "The local gateway").
"""
from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from browser_support import WAIT_S, DevToolsPage
from local_gateway.server import LocalGateway
from websocket_service.tokens import mint_token

pytestmark = pytest.mark.e2e

VICTIM = "victim@example.com"

ATTACK = """<!doctype html><html><body><script>
const gateway = "http://127.0.0.1:__PORT__";
const invoke = gateway + "/2015-03-31/functions/__FUNCTION__/invocations";
function post(action, extra) {
  return fetch(invoke, {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"},
                        body: JSON.stringify(Object.assign({action: action}, extra))});
}
Promise.all([
  post("notify", {email: "__VICTIM__", type: "email-verification", message: {type: "email-verified"}}),
  post("cleanup", {}),
]).then(() => { document.body.dataset.posted = "yes"; }, () => { document.body.dataset.posted = "failed"; });
const socket = new WebSocket("ws://127.0.0.1:__PORT__/__STAGE__?email=__VICTIM__&type=email-verification");
socket.onopen = () => { document.body.dataset.socket = "open"; };
socket.onerror = () => { document.body.dataset.socket = "refused"; };
</script></body></html>"""


@pytest.fixture
def attacker_site(gateway: LocalGateway) -> Iterator[str]:
    """A page on another origin (another port) that attacks ``gateway``; its URL."""
    page = (ATTACK.replace("__PORT__", str(gateway.port)).replace("__STAGE__", gateway.stage)
            .replace("__FUNCTION__", gateway.lambda_api.function_name).replace("__VICTIM__", VICTIM)).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/attack.html"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_a_page_on_another_origin_can_neither_notify_nor_connect_as_the_victim(
        gateway: LocalGateway, chromium: Any, attacker_site: str) -> None:
    async def scenario() -> tuple[dict[str, str], str]:
        async with connect(f"{gateway.url}?email={VICTIM}&type=email-verification") as victim:
            devtools_url = await asyncio.to_thread(chromium, attacker_site)
            async with connect(devtools_url, max_size=None) as devtools:
                page = DevToolsPage(devtools)
                await page.wait_until("document.body.dataset.posted && document.body.dataset.socket")
                outcome = await page.evaluate("({posted: document.body.dataset.posted,"
                                              " socket: document.body.dataset.socket})")
            await victim.send('{"action":"ping"}')
            first = await asyncio.wait_for(victim.recv(), WAIT_S)  # a forged push would arrive before the pong
            assert len(gateway.open_connection_ids) == 1  # only the victim's own connection
        return outcome, str(first)

    outcome, first = asyncio.run(asyncio.wait_for(scenario(), WAIT_S * 3))
    assert outcome == {"posted": "yes", "socket": "refused"}  # no-cors POSTs are sent; their answers are opaque
    assert json.loads(first) == {"type": "pong"}


def test_the_verify_page_never_sends_the_email_and_token_to_another_ws_host(
        gateway: LocalGateway, chromium: Any) -> None:
    async def scenario() -> tuple[list[str], dict[str, str], int]:
        received: list[str] = []

        async def impostor(connection: ServerConnection) -> None:  # would answer "verified" at once
            received.append(connection.request.path if connection.request else "")
            await connection.send('{"type":"email-verified"}')

        async with serve(impostor, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            token = mint_token("k" * 40, VICTIM, "email-verification")  # well formed; this gateway checks none
            page_url = (f"{gateway.page_url}?email={quote(VICTIM)}&token={token}"
                        f"&ws={quote(f'ws://127.0.0.1:{port}/{gateway.stage}')}")
            devtools_url = await asyncio.to_thread(chromium, page_url)
            async with connect(devtools_url, max_size=None) as devtools:
                state = await DevToolsPage(devtools).wait_for_state("waiting")  # connected to its own host
            return received, state, len(gateway.open_connection_ids)

    received, state, open_here = asyncio.run(asyncio.wait_for(scenario(), WAIT_S * 3))
    assert received == [] and open_here == 1
    assert state["socket"] == "open"
