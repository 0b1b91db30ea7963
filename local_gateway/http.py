"""Plain HTTP/1.1 on the gateway's port: an incremental request reader and a small dispatch table.

API Gateway serves WebSocket clients and the ``@connections`` management API on one host; the
local gateway does the same on one port. A WebSocket upgrade goes to ``websockets``; every other
request is read here (``Content-Length`` or ``Transfer-Encoding: chunked`` bodies, ``Expect:
100-continue``), dispatched through :class:`HttpRoutes` and answered on a connection that stays
open for the next request (HTTP/1.1 keep-alive), as API Gateway's endpoints do.

A route is a regular expression over the decoded path plus an async handler; the first match
wins. Other modules (the management API, the console, a Lambda Invoke API) add their own routes::

    routes.add(r"/(?P<stage>[^/]+)/@connections/(?P<connection_id>[^/]*)", management.handle)

A route may also have a synchronous handler (``now=``) that :meth:`HttpRoutes.answer_now` tries
while the request is being read, when its connection has no earlier request in hand: it answers
without awaiting anything, or returns None to leave the request to the async handler. The
management API's POST writes its frame that way, a loop iteration and a stack of coroutines sooner.
"""
from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Awaitable, Callable
from urllib.parse import unquote, urlsplit

from websockets.datastructures import Headers
from websockets.exceptions import InvalidHeader
from websockets.http11 import Response

from .responses import http_date

MAX_HEAD_BYTES = 64 * 1024
"""A request head larger than this is refused with 431."""
DEFAULT_BODY_LIMIT = 131_072
"""Bytes of a body kept in memory; the rest is counted (``body_length``) and discarded."""

_HEAD_END = b"\r\n\r\n"
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")
SINGLETON_HEADERS = frozenset({
    "host", "content-length", "content-type", "transfer-encoding", "upgrade", "origin", "sec-fetch-site",
    "expect", "x-amz-invocation-type", "sec-websocket-key", "sec-websocket-version",
})
"""Headers a request may carry at most once: a second copy (request smuggling, a confused
parser) is refused with 400, never resolved by guessing which one counts."""


class HttpProtocolError(ValueError):
    """The request cannot be parsed; the message says what was wrong (answered with 400)."""


@dataclass
class HttpRequest:
    """One parsed HTTP request.

    ``body`` holds at most ``body_limit + 1`` bytes; ``body_length`` is the body's full length, so
    a handler can refuse an oversize body (413) without the gateway keeping it.
    """

    method: str
    target: str
    headers: Headers
    body: bytes = b""
    body_length: int = 0
    version: str = "HTTP/1.1"

    @property
    def path(self) -> str:
        """The raw (still percent-encoded) path of the target."""
        return urlsplit(self.target).path

    @property
    def query(self) -> str:
        """The raw query string of the target."""
        return urlsplit(self.target).query

    @property
    def keep_alive(self) -> bool:
        """Whether the client allows the connection to stay open after the answer."""
        tokens = {t.strip().lower() for value in self.headers.get_all("Connection") for t in value.split(",")}
        if self.version == "HTTP/1.0":
            return "keep-alive" in tokens
        return "close" not in tokens

    @property
    def is_websocket_upgrade(self) -> bool:
        """True for a WebSocket opening handshake (handled by ``websockets``, not here)."""
        return self.headers.get("Upgrade", "").lower() == "websocket"


class _State(enum.Enum):
    HEAD = "head"
    BODY = "body"
    CHUNK_SIZE = "chunk-size"
    CHUNK_DATA = "chunk-data"
    CHUNK_DATA_END = "chunk-data-end"
    TRAILER = "trailer"


def parse_head(head: bytes) -> HttpRequest:
    """The request line and headers of ``head`` (which ends with the blank line)."""
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
        raise HttpProtocolError("request head is not text") from None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise HttpProtocolError(f"malformed request line {lines[0][:80]!r}")
    method, target, version = parts
    headers = Headers()
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise HttpProtocolError(f"malformed header line {line[:80]!r}")
        if name.lower() in SINGLETON_HEADERS and name in headers:
            raise HttpProtocolError(f"duplicate {name} header")
        try:
            headers[name] = value.strip()
        except InvalidHeader:  # a value websockets refuses (control characters)
            raise HttpProtocolError(f"invalid {name[:40]} header value") from None
    return HttpRequest(method=method, target=target, headers=headers, version=version)


class RequestReader:
    """Turns the bytes of a connection into :class:`HttpRequest` objects, one call at a time.

    ``feed(data)`` returns the requests completed by ``data``. When a request head arrives whose
    body is still to come and which asks ``Expect: 100-continue``, :attr:`continue_needed` is set
    for the caller to answer ``100 Continue``. After a WebSocket upgrade head, reading stops and
    :attr:`upgrade` holds the raw bytes from that head on (for ``websockets``).
    """

    def __init__(self, body_limit: int = DEFAULT_BODY_LIMIT,
                 limit_for: Callable[[HttpRequest], int] | None = None) -> None:
        self.body_limit = body_limit
        self.limit_for = limit_for
        """Bytes of body kept for a given request head (e.g. by path); default ``body_limit``."""
        self._limit = body_limit
        self.continue_needed = False
        self.upgrade: bytes | None = None
        self._buffer = bytearray()
        self._state = _State.HEAD
        self._request: HttpRequest | None = None
        self._body = bytearray()
        self._remaining = 0

    @property
    def idle(self) -> bool:
        """True between requests: no partial head or body is buffered."""
        return self._state is _State.HEAD and not self._buffer

    def feed(self, data: bytes, limit: int | None = None) -> list[HttpRequest]:
        """Consume ``data``; return the requests it completed (in order), at most ``limit`` of them
        (the bytes of the rest stay buffered: ``feed(b"", ...)`` continues)."""
        self._buffer += data
        done: list[HttpRequest] = []
        while self.upgrade is None and (limit is None or len(done) < limit) and self._step(done):
            pass
        return done

    def _step(self, done: list[HttpRequest]) -> bool:
        """Advance by one state; False when more bytes are needed."""
        if self._state is _State.HEAD:
            return self._read_head(done)
        if self._state is _State.BODY:
            take = min(self._remaining, len(self._buffer))
            if take == 0 and self._remaining:
                return False
            self._keep(self._buffer[:take])
            del self._buffer[:take]
            self._remaining -= take
            if self._remaining == 0:
                self._finish(done)
            return True
        if self._state in (_State.CHUNK_SIZE, _State.CHUNK_DATA_END, _State.TRAILER):
            end = self._buffer.find(b"\r\n")
            if end < 0:
                if len(self._buffer) > MAX_HEAD_BYTES:
                    raise HttpProtocolError("chunk header too long")
                return False
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 2]
            if self._state is _State.CHUNK_DATA_END:
                if line:
                    raise HttpProtocolError("chunk data is not followed by CRLF")
                self._state = _State.CHUNK_SIZE
            elif self._state is _State.TRAILER:
                if not line:
                    self._finish(done)
            else:
                size_text = line.split(b";", 1)[0].strip()
                if not _CHUNK_SIZE.fullmatch(size_text):
                    raise HttpProtocolError(f"malformed chunk size {size_text[:20]!r}")
                size = int(size_text, 16)
                self._remaining = size
                self._state = _State.CHUNK_DATA if size else _State.TRAILER
            return True
        # CHUNK_DATA
        take = min(self._remaining, len(self._buffer))
        if take == 0:
            return False
        self._keep(self._buffer[:take])
        del self._buffer[:take]
        self._remaining -= take
        if self._remaining == 0:
            self._state = _State.CHUNK_DATA_END
        return True

    def _read_head(self, done: list[HttpRequest]) -> bool:
        end = self._buffer.find(_HEAD_END)
        if end < 0:
            if len(self._buffer) > MAX_HEAD_BYTES:
                raise HttpProtocolError(f"request head larger than {MAX_HEAD_BYTES} bytes")
            return False
        if end > MAX_HEAD_BYTES:
            raise HttpProtocolError(f"request head larger than {MAX_HEAD_BYTES} bytes")
        head = bytes(self._buffer[: end + len(_HEAD_END)])
        request = parse_head(head)
        if request.is_websocket_upgrade:
            self.upgrade = bytes(self._buffer)
            self._buffer.clear()
            return False
        del self._buffer[: end + len(_HEAD_END)]
        self._request = request
        self._body.clear()
        self._limit = self.limit_for(request) if self.limit_for is not None else self.body_limit
        request.body_length = 0
        chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
        length_text = request.headers.get("Content-Length")
        if chunked and length_text is not None:
            raise HttpProtocolError("both Content-Length and Transfer-Encoding: chunked")
        if chunked:
            self._state = _State.CHUNK_SIZE
        elif length_text is not None:
            if not (length_text.isascii() and length_text.isdigit()):  # not '²' or other Unicode digits
                raise HttpProtocolError(f"malformed Content-Length {length_text[:20]!r}")
            self._remaining = int(length_text)
            self._state = _State.BODY
        else:
            self._finish(done)
            return True
        if request.headers.get("Expect", "").lower() == "100-continue":
            self.continue_needed = True
        return True

    def _keep(self, data: bytes | bytearray) -> None:
        assert self._request is not None  # nosec B101 # type narrowing: only called while a request's body is read
        self._request.body_length += len(data)
        room = self._limit + 1 - len(self._body)
        if room > 0:
            self._body += data[:room]

    def _finish(self, done: list[HttpRequest]) -> None:
        assert self._request is not None  # nosec B101 # type narrowing: only called while a request's body is read
        self._request.body = bytes(self._body)
        done.append(self._request)
        self._request = None
        self._body.clear()
        self._state = _State.HEAD


def serialize(response: Response, *, keep_alive: bool) -> bytes:
    """The bytes of ``response``, with ``Date``, ``Content-Length`` and ``Connection`` set.

    The response's headers in their order (any ``Connection`` left out), then ``Date`` and
    ``Content-Length`` when missing, then ``Connection``. Written out directly: the headers were
    validated when ``response`` was built."""
    status = response.status_code
    body = response.body or b""
    lines = [f"HTTP/1.1 {status} {response.reason_phrase}\r\n"]
    has_date = has_length = False
    for name, value in response.headers.raw_items():
        lowered = name.lower()
        if lowered == "connection":
            continue
        has_date = has_date or lowered == "date"
        has_length = has_length or lowered == "content-length"
        lines.append(f"{name}: {value}\r\n")
    if not has_date:
        lines.append(f"Date: {http_date()}\r\n")
    bodiless = status in (204, 304)
    if not bodiless and not has_length:
        lines.append(f"Content-Length: {len(body)}\r\n")
    lines.append("Connection: keep-alive\r\n\r\n" if keep_alive else "Connection: close\r\n\r\n")
    head = "".join(lines).encode("latin-1")
    return head if bodiless else head + body


Handler = Callable[[HttpRequest, "re.Match[str]"], Awaitable[Response]]
NowHandler = Callable[[HttpRequest, "re.Match[str]"], "Response | None"]
"""A route's synchronous handler: the answer, or None when the async handler must answer."""
Check = Callable[[HttpRequest, bool], "Response | None"]
"""Called before every route with the request and whether the route is a page; a response
refuses the request (Host and cross-site checks, :mod:`local_gateway.guard`)."""


@dataclass
class HttpRoutes:
    """An ordered dispatch table: ``(compiled path pattern, handler, is a page, synchronous handler
    or None)``; the first full match wins.

    Patterns match the percent-decoded path; ``fallback`` answers anything unmatched. ``check``
    (when set) sees every request first, with ``page=True`` for routes added as pages (HTML a
    browser may navigate to from another site) and for the fallback.
    """

    fallback: Callable[[HttpRequest], Awaitable[Response]]
    routes: list[tuple[re.Pattern[str], Handler, bool, NowHandler | None]] = field(default_factory=list)
    check: Check | None = None

    def add(self, pattern: str, handler: Handler, *, page: bool = False, now: NowHandler | None = None) -> None:
        """Append a route (``pattern`` must match the whole decoded path); ``now``: its synchronous
        handler, if any (see the module docstring)."""
        self.routes.append((re.compile(pattern), handler, page, now))

    async def dispatch(self, request: HttpRequest) -> Response:
        """The response of the first matching route, else of ``fallback``."""
        path = unquote(request.path)
        for pattern, handler, page, _ in self.routes:
            match = pattern.fullmatch(path)
            if match is not None:
                refusal = self.check(request, page) if self.check is not None else None
                return refusal if refusal is not None else await handler(request, match)
        refusal = self.check(request, True) if self.check is not None else None
        return refusal if refusal is not None else await self.fallback(request)

    def answer_now(self, request: HttpRequest) -> Response | None:
        """The answer of the first matching route's synchronous handler (after ``check``), or None
        when that route has none or it leaves the request to :meth:`dispatch`."""
        path = unquote(request.path)
        for pattern, _, page, now in self.routes:
            match = pattern.fullmatch(path)
            if match is not None:
                if now is None:
                    return None
                refusal = self.check(request, page) if self.check is not None else None
                return refusal if refusal is not None else now(request, match)
        return None
