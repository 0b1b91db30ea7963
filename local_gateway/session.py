"""An open WebSocket connection as the gateway tracks it (postable, timed, shown on the console)."""
from __future__ import annotations

import collections
from dataclasses import dataclass

from websockets.asyncio.server import ServerConnection

from .events import ConnectionInfo, now_ms

RECENT_MESSAGES = 5
"""How many of the last messages in each direction a session keeps for the console."""
PREVIEW_CHARS = 200
"""Messages are kept (for display only) cut to this many characters."""


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """One message as the console shows it: when, which way, how big, the start of its text."""

    at_ms: int
    direction: str  # "in" (client -> gateway) or "out" (gateway -> client)
    size: int
    preview: str


def _preview(data: str | bytes) -> str:
    text = data if isinstance(data, str) else f"<{len(data)} binary bytes>"
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "\u2026"


@dataclass
class Session:
    """An open connection: postable through the management API until it closes.

    ``email`` and ``connection_type`` are the ``$connect`` query parameters (for the console).
    ``server_close`` is the close code and ``disconnectReason`` when the gateway closed it.
    ``recent`` is empty until the first message (a connection that only listens keeps no deque).
    """

    info: ConnectionInfo
    connection: ServerConnection
    opened: float  # loop time
    last_active: float  # loop time
    last_active_ms: int
    email: str = ""
    connection_type: str = ""
    server_close: tuple[int, str] | None = None
    recent: collections.deque[MessageRecord] | tuple[()] = ()

    def touch(self, loop_time: float) -> None:
        """Record activity now (resets the idle timer)."""
        self.last_active = loop_time
        self.last_active_ms = now_ms()

    def record(self, direction: str, data: str | bytes) -> None:
        """Remember a message for the console (the last few each way)."""
        size = len(data.encode() if isinstance(data, str) else data)
        if not isinstance(self.recent, collections.deque):
            self.recent = collections.deque(maxlen=2 * RECENT_MESSAGES)
        self.recent.append(MessageRecord(now_ms(), direction, size, _preview(data)))
