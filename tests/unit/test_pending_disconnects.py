"""The container's queue of unrecorded $disconnect calls (service.PendingDisconnects)."""
from __future__ import annotations

from datetime import datetime, timezone

from websocket_service.service import PendingDisconnect, PendingDisconnects

AT = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


def record(connection_id: str) -> PendingDisconnect:
    return PendingDisconnect(connection_id, AT, 1001, "Going away")


def test_take_empties_the_queue_oldest_first():
    queue = PendingDisconnects()
    for cid in ("a", "b", "c"):
        queue.add(record(cid))
    assert [r.connection_id for r in queue.take()] == ["a", "b", "c"]
    assert len(queue) == 0 and queue.take() == []


def test_records_put_back_go_ahead_of_newer_ones():
    queue = PendingDisconnects()
    queue.add(record("a"))
    queue.add(record("b"))
    taken = queue.take()
    queue.add(record("c"))  # arrived while the others were being applied
    queue.put_back(taken[1:])  # "a" was applied, "b" failed
    assert [r.connection_id for r in queue.take()] == ["b", "c"]


def test_the_queue_is_bounded_and_drops_the_oldest():
    queue = PendingDisconnects(maxlen=2)
    for cid in ("a", "b", "c"):
        queue.add(record(cid))
    assert [r.connection_id for r in queue.take()] == ["b", "c"]
