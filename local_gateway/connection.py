"""The gateway's per-socket connection: WebSocket clients go to websockets, plain HTTP stays here.

websockets parses only bodiless requests (a WebSocket handshake has no body) and answers exactly
one of them per TCP connection. The management API (and the other plain HTTP routes) need
request bodies -- ``Content-Length`` or ``Transfer-Encoding: chunked`` -- and keep-alive, since
SDKs reuse their connections. :class:`GatewayConnection` therefore reads the first request head
itself (:class:`~local_gateway.http.RequestReader`): a WebSocket upgrade is handed to websockets
byte for byte and every later byte too; anything else is served here, request after request on
the same connection, through the gateway's :class:`~local_gateway.http.HttpRoutes`. A request
whose route answers without awaiting (a management API POST) is answered from the read callback
itself when it came alone and no earlier request is still owed its answer.

websockets' own ``open_timeout`` is disabled by the gateway (it would also end idle keep-alive
connections); :meth:`GatewayConnection.handshake` applies :attr:`open_timeout_s` to the opening
handshake itself and :attr:`keep_alive_timeout_s` between HTTP requests.

Memory per plain HTTP connection is bounded: at most :data:`MAX_PIPELINED_REQUESTS` parsed
requests wait (then the socket is not read until answers go out), each answer is written only
after the previous one drained to the client (write backpressure), a body keeps at most
:func:`body_limit_for` bytes, and a request must be complete within :data:`REQUEST_TIMEOUT_S`
(else 408). A request that cannot be parsed gets a one-line 400 and the connection closes.
"""
from __future__ import annotations

import asyncio
from typing import Any, Callable

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Response

from . import lambda_api, responses
from .logs import get_logger
from .events import ConnectionInfo
from .http import DEFAULT_BODY_LIMIT, HttpProtocolError, HttpRequest, HttpRoutes, RequestReader, serialize

logger = get_logger("local_gateway")

DEFAULT_KEEP_ALIVE_TIMEOUT_S = 60.0
"""An idle plain-HTTP connection is closed after this long (SDK pools reconnect transparently)."""
REQUEST_TIMEOUT_S = 10.0
"""A request whose head and body have not all arrived this long after its first byte gets 408
and the connection is closed (a slow body cannot hold its buffer for long)."""
MAX_PIPELINED_REQUESTS = 8
"""Parsed requests waiting for their turn on one connection; beyond this the gateway stops
reading from the socket until answers are written (pipelined requests cannot pile up)."""


def body_limit_for(request: HttpRequest) -> int:
    """Bytes of body kept for ``request``: Lambda's 6 MB Invoke payload on the Invoke API,
    the management API's 131,072 bytes everywhere else (longer bodies are counted, not kept)."""
    if lambda_api.LambdaInvokeApi.handles(request.target):
        return lambda_api.MAX_PAYLOAD_BYTES
    return DEFAULT_BODY_LIMIT

class UnopenedConnections:
    """Connections whose client has not sent a whole request yet, and whether the gateway stops.

    Browsers open spare connections they may never use (headless Chromium does); waiting for their
    first byte would hold a gateway's shutdown for the whole :attr:`GatewayConnection.open_timeout_s`.
    :meth:`drop` aborts every such connection, and any whose handshake starts afterwards (accepted
    just before the listening socket closed) aborts itself. All of it runs on the event loop's
    thread, so no connection can slip between the two.
    """

    def __init__(self) -> None:
        self.waiting: set[GatewayConnection] = set()
        self.stopping = False

    def drop(self) -> None:
        """The gateway stops: abort every connection still waiting for its first request."""
        self.stopping = True
        for connection in list(self.waiting):
            connection.transport.abort()


_WEBSOCKET = "websocket"
_HTTP = "http"
_LOST = "lost"


class GatewayConnection(ServerConnection):
    """A ``ServerConnection`` that serves plain HTTP requests itself (see the module docstring).

    Attributes set by the gateway: :attr:`routes`, :attr:`open_timeout_s`,
    :attr:`keep_alive_timeout_s`, :attr:`on_http_open` / :attr:`on_http_close` (to track plain
    HTTP connections for shutdown), :attr:`unopened` (dropped at shutdown while silent), :attr:`info` (set once ``$connect`` accepted the connection),
    :attr:`session_started` and :attr:`on_lost_before_open` (called with :attr:`info` if the
    client vanished between ``$connect`` and the end of the handshake).
    """

    request_timeout_s = REQUEST_TIMEOUT_S
    max_pipelined = MAX_PIPELINED_REQUESTS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.routes: HttpRoutes | None = None
        self.open_timeout_s = 34.0
        self.keep_alive_timeout_s = DEFAULT_KEEP_ALIVE_TIMEOUT_S
        self.on_http_open: Callable[[GatewayConnection], None] | None = None
        self.on_http_close: Callable[[GatewayConnection], None] | None = None
        self.unopened: UnopenedConnections | None = None
        self.info: ConnectionInfo | None = None
        self.query: dict[str, str] = {}
        self.session_started = False
        self.on_lost_before_open: Callable[[ConnectionInfo], None] | None = None
        self._reader: RequestReader | None = RequestReader(limit_for=body_limit_for)
        self._request_timer: asyncio.TimerHandle | None = None
        self._reading_paused = False
        self._serving = False
        """A request is being answered by :meth:`_serve_http` (answers go out in order)."""
        self._kind: asyncio.Future[str] = self.loop.create_future()
        self._requests: asyncio.Queue[HttpRequest | None] | None = None  # made by the first plain HTTP request

    # --- asyncio.Protocol callbacks --------------------------------------------------------
    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_request_timer()
        super().connection_lost(exc)
        if not self._kind.done():
            self._kind.set_result(_LOST)
        if self._requests is not None:
            self._requests.put_nowait(None)
        if self.info is not None and not self.session_started and self.on_lost_before_open is not None:
            self.on_lost_before_open(self.info)

    def data_received(self, data: bytes) -> None:
        if self._reader is None:
            super().data_received(data)
            return
        self._parse(data)

    def _parse(self, data: bytes) -> None:
        """Feed the reader; queue the requests it completes, no more than the queue has room for."""
        assert self._reader is not None  # nosec B101 # type narrowing: only called while plain HTTP is read
        room = max(self.max_pipelined - self._queued, 0)
        try:
            requests = self._reader.feed(data, limit=room)
        except (HttpProtocolError, ValueError, LookupError) as exc:  # LookupError: a header given twice
            self._refuse(400, f"Bad request: {exc}")
            return
        if self._reader.continue_needed:
            self._reader.continue_needed = False
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        alone = len(requests) == 1 and self._reader.idle and self._reader.upgrade is None  # nothing pipelined behind
        for request in requests:
            self._set_kind(_HTTP)
            if not (alone and self._answered_now(request)):
                self._queue(request)
        upgrade = self._reader.upgrade
        if upgrade is None:
            self._flow_control()
        else:
            self._stop_request_timer()
            self._reader = None
            if self._set_kind(_WEBSOCKET):
                super().data_received(upgrade)
            else:  # an upgrade after plain requests on a keep-alive connection: not supported
                self._queue(None)

    def _answered_now(self, request: HttpRequest) -> bool:
        """Answer ``request`` (read alone, nothing buffered behind it) from the read callback when
        its route can without awaiting (:meth:`~local_gateway.http.HttpRoutes.answer_now`) and
        nothing is owed before it: no request in hand or waiting, the last answer drained, the
        connection kept alive. Pipelined requests take the queue, with its backpressure."""
        if (self._serving or self._queued or self.paused or self.routes is None
                or not request.keep_alive or self.transport.is_closing()):
            return False
        try:
            response = self.routes.answer_now(request)
        except Exception:  # a bug in a route: answer like a server, keep serving others
            logger.exception("%s %s failed", request.method, request.path)
            response = responses.text_response(500, "Internal server error\n")
        if response is None:
            return False
        self._write(response, keep_alive=True)
        return True

    def _refuse(self, status: int, reason: str) -> None:
        """Answer ``status`` with a one-line reason and close (the request cannot be served)."""
        self._reader = None
        self._stop_request_timer()
        logger.warning("HTTP %s from %s: %s", status, self.remote_address[0] if self.remote_address else "?", reason)
        self._write(responses.text_response(status, f"{reason}\n"), keep_alive=False)
        self.transport.close()
        self._set_kind(_HTTP)
        self._queue(None)

    def _flow_control(self) -> None:
        """Stop reading while answers are owed (resumed by :meth:`_serve_http`); time partial requests."""
        assert self._reader is not None  # nosec B101 # type narrowing: called right after a feed
        if self._queued >= self.max_pipelined and not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()
        if self._reader.idle or self._reading_paused:
            self._stop_request_timer()
        elif self._request_timer is None:
            self._request_timer = self.loop.call_later(self.request_timeout_s, self._request_timed_out)

    def _request_timed_out(self) -> None:
        self._request_timer = None
        self._refuse(408, f"Request Timeout: the request was not complete within {self.request_timeout_s:g} s")

    def _stop_request_timer(self) -> None:
        if self._request_timer is not None:
            self._request_timer.cancel()
            self._request_timer = None

    def _resume_reading(self) -> None:
        if not self._reading_paused or self.transport.is_closing() or self._queued >= self.max_pipelined:
            return
        if self._reader is not None:
            self._parse(b"")  # requests already buffered come first (may fill the queue again)
        if self._reader is not None and self._queued < self.max_pipelined:
            self._reading_paused = False
            self.transport.resume_reading()
            self._flow_control()

    @property
    def _queued(self) -> int:
        return 0 if self._requests is None else self._requests.qsize()

    def _queue(self, request: HttpRequest | None) -> None:
        """Queue a parsed request (None: no more will come) for :meth:`_serve_http`."""
        if self._requests is None:
            self._requests = asyncio.Queue()
        self._requests.put_nowait(request)

    def _set_kind(self, kind: str) -> bool:
        if not self._kind.done():
            self._kind.set_result(kind)
            return True
        return not self._kind.cancelled() and self._kind.result() == kind  # cancelled: the task was

    def _write(self, response: Response, *, keep_alive: bool) -> None:
        if not self.transport.is_closing():
            self.transport.write(serialize(response, keep_alive=keep_alive))

    # --- the connection's task ---------------------------------------------------------------
    async def handshake(self, *args: Any, **kwargs: Any) -> None:
        """Run the WebSocket opening handshake, or serve plain HTTP until the client leaves."""
        unopened = self.unopened
        if not self._kind.done() and unopened is not None:
            if unopened.stopping:
                self.transport.abort()
                return
            unopened.waiting.add(self)
        # A client silent for open_timeout_s is aborted; connection_lost then resolves the kind.
        timer = None if self._kind.done() else self.loop.call_later(self.open_timeout_s, self.transport.abort)
        try:
            kind = await self._kind
        finally:
            if timer is not None:
                timer.cancel()
            if unopened is not None:
                unopened.waiting.discard(self)
        if kind == _WEBSOCKET:
            async with asyncio.timeout(self.open_timeout_s):
                await super().handshake(*args, **kwargs)
        elif kind == _HTTP:
            await self._serve_http()

    async def _serve_http(self) -> None:
        if self._requests is None:  # the first request was answered from the read callback (_answered_now)
            self._requests = asyncio.Queue()
        queue = self._requests
        if self.on_http_open is not None:
            self.on_http_open(self)
        try:
            while True:
                try:
                    async with asyncio.timeout(self.keep_alive_timeout_s):
                        request = await queue.get()
                except TimeoutError:
                    break
                if request is None or self.transport.is_closing():
                    break
                self._serving = True
                self._resume_reading()
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
                await self.drain()  # write backpressure: a client that does not read gets no more answers
                self._serving = False
        finally:
            if self.on_http_close is not None:
                self.on_http_close(self)
            self.transport.close()

    def close_idle_http(self) -> None:
        """End a plain HTTP connection after its current answer (gateway shutdown); at once when
        its client is not reading its answers."""
        self._queue(None)
        if self.paused or self._reading_paused:
            self.transport.abort()
