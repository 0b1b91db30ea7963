"""The gateway's per-socket connection: WebSocket clients go to websockets, plain HTTP stays here.

websockets parses only bodiless requests (a WebSocket handshake has no body) and answers exactly
one of them per TCP connection. The management API (and the other plain HTTP routes) need
request bodies -- ``Content-Length`` or ``Transfer-Encoding: chunked`` -- and keep-alive, since
SDKs reuse their connections. :class:`GatewayConnection` therefore reads the first request head
itself (:class:`~local_gateway.http.RequestReader`): a WebSocket upgrade is handed to websockets
byte for byte and every later byte too; anything else is served here, request after request on
the same connection, through the gateway's :class:`~local_gateway.http.HttpRoutes`.

websockets' own ``open_timeout`` is disabled by the gateway (it would also end idle keep-alive
connections); :meth:`GatewayConnection.handshake` applies :attr:`open_timeout_s` to the opening
handshake itself and :attr:`keep_alive_timeout_s` between HTTP requests.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Response

from . import lambda_api, responses
from .events import ConnectionInfo
from .http import HttpProtocolError, HttpRequest, HttpRoutes, RequestReader, serialize

logger = logging.getLogger("local_gateway")

DEFAULT_KEEP_ALIVE_TIMEOUT_S = 60.0
"""An idle plain-HTTP connection is closed after this long (SDK pools reconnect transparently)."""

_WEBSOCKET = "websocket"
_HTTP = "http"
_LOST = "lost"


class GatewayConnection(ServerConnection):
    """A ``ServerConnection`` that serves plain HTTP requests itself (see the module docstring).

    Attributes set by the gateway: :attr:`routes`, :attr:`open_timeout_s`,
    :attr:`keep_alive_timeout_s`, :attr:`on_http_open` / :attr:`on_http_close` (to track plain
    HTTP connections for shutdown), :attr:`info` (set once ``$connect`` accepted the connection),
    :attr:`session_started` and :attr:`on_lost_before_open` (called with :attr:`info` if the
    client vanished between ``$connect`` and the end of the handshake).
    """

    body_limit = lambda_api.MAX_PAYLOAD_BYTES
    """Bytes of a request body kept: Lambda's 6 MB Invoke payload (the management API refuses more
    than 131,072 itself, from the declared length)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.routes: HttpRoutes | None = None
        self.open_timeout_s = 34.0
        self.keep_alive_timeout_s = DEFAULT_KEEP_ALIVE_TIMEOUT_S
        self.on_http_open: Callable[[GatewayConnection], None] | None = None
        self.on_http_close: Callable[[GatewayConnection], None] | None = None
        self.info: ConnectionInfo | None = None
        self.query: dict[str, str] = {}
        self.session_started = False
        self.on_lost_before_open: Callable[[ConnectionInfo], None] | None = None
        self._reader: RequestReader | None = RequestReader(self.body_limit)
        self._kind: asyncio.Future[str] = self.loop.create_future()
        self._requests: asyncio.Queue[HttpRequest | None] = asyncio.Queue()

    # --- asyncio.Protocol callbacks --------------------------------------------------------
    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if not self._kind.done():
            self._kind.set_result(_LOST)
        self._requests.put_nowait(None)
        if self.info is not None and not self.session_started and self.on_lost_before_open is not None:
            self.on_lost_before_open(self.info)

    def data_received(self, data: bytes) -> None:
        if self._reader is None:
            super().data_received(data)
            return
        try:
            requests = self._reader.feed(data)
        except HttpProtocolError as exc:
            self._reader = None
            self._write(responses.text_response(400, f"Bad request: {exc}\n"), keep_alive=False)
            self.transport.close()
            return
        if self._reader.continue_needed:
            self._reader.continue_needed = False
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        for request in requests:
            self._set_kind(_HTTP)
            self._requests.put_nowait(request)
        upgrade = self._reader.upgrade
        if upgrade is not None:
            self._reader = None
            if self._set_kind(_WEBSOCKET):
                super().data_received(upgrade)
            else:  # an upgrade after plain requests on a keep-alive connection: not supported
                self._requests.put_nowait(None)

    def _set_kind(self, kind: str) -> bool:
        if not self._kind.done():
            self._kind.set_result(kind)
            return True
        return self._kind.result() == kind

    def _write(self, response: Response, *, keep_alive: bool) -> None:
        if not self.transport.is_closing():
            self.transport.write(serialize(response, keep_alive=keep_alive))

    # --- the connection's task ---------------------------------------------------------------
    async def handshake(self, *args: Any, **kwargs: Any) -> None:
        """Run the WebSocket opening handshake, or serve plain HTTP until the client leaves."""
        try:
            async with asyncio.timeout(self.open_timeout_s):
                kind = await asyncio.shield(self._kind)
        except TimeoutError:
            self.transport.abort()
            return
        if kind == _WEBSOCKET:
            async with asyncio.timeout(self.open_timeout_s):
                await super().handshake(*args, **kwargs)
        elif kind == _HTTP:
            await self._serve_http()

    async def _serve_http(self) -> None:
        if self.on_http_open is not None:
            self.on_http_open(self)
        try:
            while True:
                try:
                    async with asyncio.timeout(self.keep_alive_timeout_s):
                        request = await self._requests.get()
                except TimeoutError:
                    break
                if request is None or self.transport.is_closing():
                    break
                assert self.routes is not None  # nosec B101 # type narrowing: the gateway sets routes on every connection it creates
                try:
                    response = await self.routes.dispatch(request)
                except Exception:  # a bug in a route: answer like a server, keep serving others
                    logger.exception("%s %s failed", request.method, request.path)
                    response = responses.text_response(500, "Internal server error\n")
                keep_alive = request.keep_alive
                self._write(response, keep_alive=keep_alive)
                if not keep_alive:
                    break
        finally:
            if self.on_http_close is not None:
                self.on_http_close(self)
            self.transport.close()

    def close_idle_http(self) -> None:
        """End a plain HTTP connection after its current answer (gateway shutdown)."""
        self._requests.put_nowait(None)
