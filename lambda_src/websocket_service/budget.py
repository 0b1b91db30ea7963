"""The current invocation's time budget, from the Lambda context, for calls that wait on the network.

The handler calls :func:`start` with the Lambda context at the top of every invocation; code that
waits on the database or the Management API bounds its own timeouts with :func:`bound`, so an
invocation ends with a logged answer before Lambda's timeout kills it. The budget is the context's
remaining time minus :data:`SAFETY_MARGIN_S` (time to log and answer). Without a context (tests,
``wsctl``) there is no invocation budget and :func:`bound` returns its argument. The deadline is a
context variable, so worker threads of the local gateway each keep their own.
"""
from __future__ import annotations

import time
from contextvars import ContextVar
from typing import Any

SAFETY_MARGIN_S = 1.0
"""Time kept back from the invocation's remaining time to log and answer."""
MINIMUM_S = 0.05
"""The least :func:`bound` returns (a wait of zero would mean "no limit" to some clients)."""

_deadline: ContextVar[float | None] = ContextVar("invocation_deadline", default=None)


def start(context: Any) -> None:
    """Set this invocation's deadline from ``context.get_remaining_time_in_millis()`` (or none)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    try:
        remaining_ms = float(remaining()) if callable(remaining) else None
    except (TypeError, ValueError):
        remaining_ms = None
    _deadline.set(None if remaining_ms is None else time.monotonic() + remaining_ms / 1000 - SAFETY_MARGIN_S)


def deadline() -> float | None:
    """The ``time.monotonic()`` instant this invocation's work must end by (its remaining time minus
    :data:`SAFETY_MARGIN_S`), or None without a Lambda context. Notify stops posting there."""
    return _deadline.get()


def remaining_s() -> float | None:
    """Seconds left of the invocation's budget (may be negative), or None without a budget."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


def bound(seconds: float) -> float:
    """``seconds``, shortened to what is left of the invocation's budget (at least :data:`MINIMUM_S`)."""
    left = remaining_s()
    return seconds if left is None else max(MINIMUM_S, min(seconds, left))
