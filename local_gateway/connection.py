"""The gateway's per-socket connection: a websockets ``ServerConnection`` that also reads bodies.

websockets parses only bodiless requests (a WebSocket handshake has no body) and drops any request
whose ``Content-Length`` is not 0. The management API is served on the same port, and
``POST @connections/{id}`` carries the message as its body. :class:`GatewayConnection` therefore
reads the body of the first request itself, before websockets sees the bytes: it keeps up to
``body_limit + 1`` bytes (enough to answer 413 for anything larger), counts the rest, and hands
websockets the request head without ``Content-Length``. Once the first request is complete every
byte goes to websockets untouched, so WebSocket frames are never inspected here.
"""
from __future__ import annotations

import enum
from typing import Any, Callable

from websockets.asyncio.server import ServerConnection

from . import lambda_api
from .events import ConnectionInfo

MAX_HEAD_BYTES = 64 * 1024
"""A request head larger than this is passed to websockets as is (it rejects it)."""

_HEAD_END = b"\r\n\r\n"


class _ReadState(enum.Enum):
    HEAD = "head"
    BODY = "body"
    PASS = "pass"  # nosec B105 # a state name, not a password


def _header_value(head: bytes, name: bytes) -> bytes | None:
    """The value of header ``name`` (lower case) in a raw request head, or None."""
    for line in head.split(b"\r\n")[1:]:
        key, sep, value = line.partition(b":")
        if sep and key.strip().lower() == name:
            return value.strip()
    return None


def _without_header(head: bytes, name: bytes) -> bytes:
    lines = head.split(b"\r\n")
    kept = [lines[0]] + [line for line in lines[1:] if line.partition(b":")[0].strip().lower() != name]
    return b"\r\n".join(kept)


class GatewayConnection(ServerConnection):
    """A ``ServerConnection`` that reads the first request's body (see the module docstring).

    Attributes set for the gateway: :attr:`request_body` (at most ``body_limit + 1`` bytes),
    :attr:`request_body_length` (the declared length), :attr:`info` (set once ``$connect``
    accepted the connection), :attr:`session_started` and :attr:`on_lost_before_open` (called
    with :attr:`info` if the client vanished between ``$connect`` and the end of the handshake).
    """

    body_limit = 131_072

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request_body = b""
        self.request_body_length = 0
        self.info: ConnectionInfo | None = None
        self.session_started = False
        self.on_lost_before_open: Callable[[ConnectionInfo], None] | None = None
        self._state = _ReadState.HEAD
        self._buffer = bytearray()
        self._head = b""
        self._body = bytearray()
        self._remaining = 0

    def connection_lost(self, exc: Exception | None) -> None:  # asyncio.Protocol callback
        super().connection_lost(exc)
        if self.info is not None and not self.session_started and self.on_lost_before_open is not None:
            self.on_lost_before_open(self.info)

    def data_received(self, data: bytes) -> None:  # asyncio.Protocol callback
        if self._state is _ReadState.PASS:
            super().data_received(data)
            return
        self._buffer += data
        if self._state is _ReadState.HEAD and not self._read_head():
            return
        self._read_body()

    def _read_head(self) -> bool:
        """Split off the request head; True when a body follows it."""
        end = self._buffer.find(_HEAD_END)
        if end < 0:
            if len(self._buffer) > MAX_HEAD_BYTES:
                self._forward(b"")
            return False
        head = bytes(self._buffer[: end + len(_HEAD_END)])
        del self._buffer[: end + len(_HEAD_END)]
        raw_length = _header_value(head, b"content-length")
        if raw_length is None or not raw_length.isdigit() or int(raw_length) == 0:
            self._forward(head)  # no body, or one websockets will refuse with a clear error
            return False
        if lambda_api.is_invoke_request(head):  # Lambda's Invoke API takes payloads up to 6 MB
            self.body_limit = lambda_api.MAX_PAYLOAD_BYTES
        self._head = _without_header(head, b"content-length")
        self._remaining = self.request_body_length = int(raw_length)
        self._state = _ReadState.BODY
        if (_header_value(head, b"expect") or b"").lower() == b"100-continue":
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return True

    def _read_body(self) -> None:
        take = min(self._remaining, len(self._buffer))
        room = self.body_limit + 1 - len(self._body)
        self._body += self._buffer[: min(take, max(room, 0))]
        del self._buffer[:take]
        self._remaining -= take
        if self._remaining == 0:
            self.request_body = bytes(self._body)
            self._forward(self._head)

    def _forward(self, head: bytes) -> None:
        """Hand the head and anything after the body to websockets; stop intercepting."""
        self._state = _ReadState.PASS
        rest = bytes(self._buffer)
        self._buffer.clear()
        super().data_received(head + rest)
