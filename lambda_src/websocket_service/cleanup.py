"""Cleanup of stale connection rows (run every 15 minutes by EventBridge, or on demand).

Two phases, each in short batches of ``CLEANUP_BATCH_SIZE`` so no transaction holds locks for
long: (1) mark active connections idle for longer than ``CONNECTION_TTL_MINUTES`` inactive
(``$disconnect`` is best effort, so some never arrive); (2) delete inactive rows disconnected more
than ``INACTIVE_RETENTION_HOURS`` ago. Each phase runs at most ``max_batches`` batches per
invocation so the run stays well inside the Lambda timeout; ``complete`` is False when work is
left for the next run. ``dry_run`` only counts.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable

from .config import Settings
from .store.base import ConnectionStore

MAX_BATCHES_PER_PHASE = 20


@dataclass(frozen=True, slots=True)
class CleanupReport:
    """Rows expired (marked inactive) and purged (deleted), or that would be in a dry run."""

    expired: int
    purged: int
    dry_run: bool
    complete: bool = True


def _drain(run_batch: Callable[[], int], batch_size: int, max_batches: int) -> tuple[int, bool]:
    """Run batches until one comes back short; return (total, finished)."""
    total = 0
    for _ in range(max_batches):
        done = run_batch()
        total += done
        if done < batch_size:
            return total, True
    return total, False


def run_cleanup(
    store: ConnectionStore,
    settings: Settings,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    max_batches: int = MAX_BATCHES_PER_PHASE,
) -> CleanupReport:
    """Expire idle connections and purge old inactive rows; see the module docstring."""
    now = now or datetime.now(timezone.utc)
    idle_before = now - timedelta(minutes=settings.connection_ttl_minutes)
    disconnected_before = now - timedelta(hours=settings.inactive_retention_hours)
    if dry_run:
        return CleanupReport(
            expired=store.count_idle(idle_before=idle_before),
            purged=store.count_purgeable(disconnected_before=disconnected_before),
            dry_run=True,
        )
    size = settings.cleanup_batch_size
    expired, expire_done = _drain(
        lambda: store.expire_idle(idle_before=idle_before, at=now, batch_size=size), size, max_batches
    )
    purged, purge_done = _drain(
        lambda: store.purge_inactive(disconnected_before=disconnected_before, batch_size=size),
        size,
        max_batches,
    )
    return CleanupReport(expired=expired, purged=purged, dry_run=False, complete=expire_done and purge_done)
