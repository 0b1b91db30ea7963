"""Cleanup of stale connection rows (run every 15 minutes by EventBridge, or on demand).

Two phases, each in short batches of ``CLEANUP_BATCH_SIZE`` rows (one short transaction each,
index-ordered, ``FOR UPDATE SKIP LOCKED`` on PostgreSQL so it never waits for a row another
cleanup or a ``$connect`` holds, committed with ``synchronous_commit`` off so ``$connect`` commits
do not queue behind a WAL fsync per batch; a batch lost in a crash is redone by the next run): (1) mark active connections idle for longer than
``CONNECTION_TTL_MINUTES`` inactive (``$disconnect`` is best effort, so some never arrive);
(2) delete inactive rows disconnected more than ``INACTIVE_RETENTION_HOURS`` ago; (3) delete messages
kept for replay whose window (``REPLAY_WINDOW_MINUTES``) has ended. Before the migration that creates
the messages table has run (a deploy runs the new code first), phase (3) is skipped with a WARNING
``message_purge_skipped``: there are no kept messages yet. Any other store error propagates.

A run is bounded by TIME, not by a row count: batches continue while the time spent plus the
longest batch so far fits in ``CLEANUP_TIME_BUDGET_SECONDS`` (shared by both phases; purging gets
what expiry leaves). A large backlog therefore clears in as few scheduled runs as the database
allows, and ``complete`` is False when work is left for the next run. ``dry_run`` only counts.

Batches are paced so a backlog does not starve ``$connect``: after each full batch that took ``t``
seconds, cleanup pauses ``t * (100 - p) / p`` (``p`` = ``CLEANUP_DUTY_CYCLE_PERCENT``), i.e. it keeps
the database busy at most ``p`` % of the run's wall time. The pause adapts to load (a batch slowed
by a busy database earns a longer pause), counts against the time budget, and is skipped when it
would leave no room for another batch (the run then ends ``complete: False``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, TypeVar

from . import observability as obs
from .config import Settings
from .store.base import ConnectionStore, StoreError
from .store.sql import MESSAGES_MIGRATION, messages_table_missing


@dataclass(frozen=True, slots=True)
class CleanupReport:
    """Rows expired (marked inactive) and purged (deleted), replay messages purged, or that would
    be in a dry run; how many batches ran, the longest one, the run's duration and how much of it
    was pacing pauses (zero for dry runs)."""

    expired: int
    purged: int
    dry_run: bool
    purged_messages: int = 0
    complete: bool = True
    batches: int = 0
    longest_batch_ms: float = 0.0
    elapsed_ms: float = 0.0
    paused_ms: float = 0.0


class _Budget:
    """The run's time budget and pacing: may another batch start, and after how long a pause?"""

    def __init__(
        self, seconds: float, duty_cycle_percent: int, monotonic: Callable[[], float], sleep: Callable[[float], None]
    ) -> None:
        self._monotonic = monotonic
        self._sleep = sleep
        self._idle_per_busy = (100 - duty_cycle_percent) / duty_cycle_percent
        self.started = monotonic()
        self._deadline = self.started + seconds
        self.batches = 0
        self.longest_s = 0.0
        self.paused_s = 0.0

    def drain(self, run_batch: Callable[[], int], batch_size: int) -> tuple[int, bool]:
        """Run paced batches until one comes back short (True) or the next might not fit (False)."""
        total = 0
        while True:
            before = self._monotonic()
            if before + self.longest_s > self._deadline:
                return total, False
            done = run_batch()
            after = self._monotonic()
            took = after - before
            self.batches += 1
            self.longest_s = max(self.longest_s, took)
            total += done
            if done < batch_size:
                return total, True
            pause = took * self._idle_per_busy
            if pause > 0:
                if after + pause + self.longest_s > self._deadline:
                    return total, False  # no room for a batch after the pause: leave it to the next run
                self._sleep(pause)
                self.paused_s += pause


_T = TypeVar("_T")


def _unless_messages_table_missing(work: Callable[[], _T], skipped: Any = 0) -> _T:
    """``work()``, or ``skipped`` (logged at WARNING) when the messages table does not exist yet."""
    try:
        return work()
    except StoreError as error:
        if not messages_table_missing(error):
            raise
        obs.log("WARNING", "message_purge_skipped", missing_migration=MESSAGES_MIGRATION, error_message=str(error))
        return skipped


def run_cleanup(
    store: ConnectionStore,
    settings: Settings,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    time_budget_s: float | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> CleanupReport:
    """Expire idle connections and purge old inactive rows; see the module docstring.

    ``time_budget_s`` defaults to ``settings.cleanup_time_budget_seconds``; ``monotonic`` is the
    clock it is measured with and ``sleep`` how pacing pauses (``settings.cleanup_duty_cycle_percent``).
    """
    now = now or datetime.now(timezone.utc)
    idle_before = now - timedelta(minutes=settings.connection_ttl_minutes)
    disconnected_before = now - timedelta(hours=settings.inactive_retention_hours)
    if dry_run:
        return CleanupReport(
            expired=store.count_idle(idle_before=idle_before),
            purged=store.count_purgeable(disconnected_before=disconnected_before),
            dry_run=True,
            purged_messages=_unless_messages_table_missing(lambda: store.count_expired_messages(expired_before=now)),
        )
    size = settings.cleanup_batch_size
    budget = _Budget(
        settings.cleanup_time_budget_seconds if time_budget_s is None else time_budget_s,
        settings.cleanup_duty_cycle_percent,
        monotonic,
        sleep,
    )
    expired, expire_done = budget.drain(
        lambda: store.expire_idle(idle_before=idle_before, at=now, batch_size=size), size
    )
    purged, purge_done = budget.drain(
        lambda: store.purge_inactive(disconnected_before=disconnected_before, batch_size=size), size
    )
    purged_messages, messages_done = _unless_messages_table_missing(
        lambda: budget.drain(lambda: store.purge_expired_messages(expired_before=now, batch_size=size), size),
        skipped=(0, True),  # no table, no kept messages: nothing left for the next run either
    )
    return CleanupReport(
        expired=expired,
        purged=purged,
        dry_run=False,
        purged_messages=purged_messages,
        complete=expire_done and purge_done and messages_done,
        batches=budget.batches,
        longest_batch_ms=round(budget.longest_s * 1000, 1),
        elapsed_ms=round((monotonic() - budget.started) * 1000, 1),
        paused_ms=round(budget.paused_s * 1000, 1),
    )
