"""run_cleanup against both stores: TTL expiry, retention purge, batch bounds, dry runs."""
from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest

from websocket_service.cleanup import run_cleanup
from websocket_service.config import Settings
from websocket_service.store import NewConnection, NewMessage

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
SETTINGS = Settings(connection_ttl_minutes=120, inactive_retention_hours=24, cleanup_batch_size=2,
                    cleanup_duty_cycle_percent=100)  # unpaced; the pacing tests below set their own


def _add(store, cid: str, connected_minutes_ago: int) -> None:
    at = NOW - timedelta(minutes=connected_minutes_ago)
    assert store.add(NewConnection(cid, f"{cid}@example.com", "general", at), active_limit=5)


class StepClock:
    """A monotonic clock that advances ``step`` seconds each time it is read (a batch takes time)."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 1000.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_expiry_respects_the_ttl_and_stops_when_the_time_budget_is_spent(store):
    for i in range(5):
        _add(store, f"idle{i}", 121)
    _add(store, "recent", 119)
    # Each clock read advances 1 s: a batch "takes" 1 s; a 4 s budget fits two batches of 2 rows.
    first = run_cleanup(store, SETTINGS, now=NOW, time_budget_s=4, monotonic=StepClock(1.0))
    assert (first.expired, first.purged, first.complete, first.batches) == (4, 0, False, 2)
    assert first.longest_batch_ms == 1000.0
    second = run_cleanup(store, SETTINGS, now=NOW, time_budget_s=60, monotonic=StepClock(1.0))
    assert (second.expired, second.complete) == (1, True)
    assert store.get("recent").is_active
    assert not any(store.get(f"idle{i}").is_active for i in range(5))


def test_a_backlog_clears_in_one_run_when_the_budget_allows(store):
    settings = Settings(connection_ttl_minutes=120, inactive_retention_hours=24, cleanup_batch_size=50)
    for i in range(120):
        _add(store, f"idle{i:03}", 121)
    for i in range(110):
        _add(store, f"left{i:03}", 60 * 48)
        store.mark_disconnected(f"left{i:03}", at=NOW - timedelta(hours=30), status_code=1001, reason=None)
    report = run_cleanup(store, settings, now=NOW)  # the default budget; no fixed row ceiling
    # Expiry: batches of 50, 50, 20 (short: done); purge: 50, 50, 10; replay messages: 0.
    assert (report.expired, report.purged, report.complete, report.batches) == (120, 110, True, 7)
    assert store.count_idle(idle_before=NOW) == 0
    assert len(store.list_connections(limit=1000)) == 120  # the expired rows stay for the retention


def _keep(store, body: str, *, kept_minutes_ago: int, window_minutes: int = 15) -> int:
    at = NOW - timedelta(minutes=kept_minutes_ago)
    return store.keep_message(NewMessage("a@example.com", "general", body, False, at, at + timedelta(minutes=window_minutes)))


def test_cleanup_purges_replay_messages_whose_window_has_ended_in_batches(store):
    ended = [_keep(store, f"old{i}", kept_minutes_ago=16) for i in range(3)]
    current = _keep(store, "current", kept_minutes_ago=14)
    assert run_cleanup(store, SETTINGS, now=NOW, dry_run=True).purged_messages == 3
    report = run_cleanup(store, SETTINGS, now=NOW)
    # Expiry: 0 (short); purge: 0 (short); messages: 2, 1 (short).
    assert (report.purged_messages, report.complete, report.batches) == (3, True, 4)
    assert [store.get_message(i) for i in ended] == [None, None, None]
    assert store.get_message(current) is not None
    assert run_cleanup(store, SETTINGS, now=NOW).purged_messages == 0


def test_purge_respects_the_retention(store):
    for cid, hours_ago in (("old", 25), ("young", 23)):
        _add(store, cid, 60 * hours_ago)
        assert store.mark_disconnected(cid, at=NOW - timedelta(hours=hours_ago), status_code=1000, reason=None)
    report = run_cleanup(store, SETTINGS, now=NOW)
    assert (report.expired, report.purged, report.complete) == (0, 1, True)
    assert store.get("old") is None and store.get("young") is not None


def test_dry_run_counts_and_changes_nothing(store):
    _add(store, "idle", 500)
    _add(store, "left", 60 * 48)
    store.mark_disconnected("left", at=NOW - timedelta(hours=30), status_code=1001, reason="Going away")
    report = run_cleanup(store, SETTINGS, now=NOW, dry_run=True)
    assert (report.expired, report.purged, report.dry_run) == (1, 1, True)
    assert store.get("idle").is_active and store.get("left") is not None


class FakeSleep:
    """Records the pauses cleanup asks for and moves ``clock`` on by them (nothing really waits)."""

    def __init__(self, clock: StepClock) -> None:
        self.clock, self.pauses = clock, []

    def __call__(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.clock.now += seconds


def _idle_rows(store, count: int) -> None:
    for i in range(count):
        _add(store, f"idle{i}", 121)


@pytest.mark.parametrize(("percent", "pause"), [(50, 1.0), (25, 3.0), (80, 0.25)])
def test_each_full_batch_is_followed_by_a_pause_in_proportion_to_its_duration(store, percent, pause):
    _idle_rows(store, 5)
    clock = StepClock(1.0)  # every batch "takes" 1 s
    sleep = FakeSleep(clock)
    settings = dataclasses.replace(SETTINGS, cleanup_duty_cycle_percent=percent)
    report = run_cleanup(store, settings, now=NOW, time_budget_s=600, monotonic=clock, sleep=sleep)
    # Expiry: 2, 2, 1 (short: done, no pause); purge: 0; messages: 0. Two full batches, two pauses.
    assert (report.expired, report.complete, report.batches) == (5, True, 5)
    assert sleep.pauses == [pause, pause]
    assert report.paused_ms == 2 * pause * 1000
    assert store.count_idle(idle_before=NOW) == 0


def test_a_duty_cycle_of_100_percent_never_pauses(store):
    _idle_rows(store, 5)
    clock = StepClock(1.0)
    sleep = FakeSleep(clock)
    settings = dataclasses.replace(SETTINGS, cleanup_duty_cycle_percent=100)
    report = run_cleanup(store, settings, now=NOW, time_budget_s=600, monotonic=clock, sleep=sleep)
    assert (report.expired, report.complete, report.batches, report.paused_ms) == (5, True, 5, 0.0)
    assert sleep.pauses == []


def test_pauses_count_against_the_time_budget_and_none_is_taken_without_room_for_a_batch(store):
    _idle_rows(store, 5)
    clock = StepClock(1.0)
    sleep = FakeSleep(clock)
    settings = dataclasses.replace(SETTINGS, cleanup_duty_cycle_percent=50)
    # Unpaced, a 6 s budget clears all 5 rows in 3 batches. Paced at 50 %: batch (1 s),
    # pause 1 s, batch; a second pause would leave no room for a third batch, so the run stops.
    report = run_cleanup(store, settings, now=NOW, time_budget_s=6, monotonic=clock, sleep=sleep)
    assert (report.expired, report.complete, report.batches) == (4, False, 2)
    assert sleep.pauses == [1.0]
    follow_up = run_cleanup(store, settings, now=NOW, time_budget_s=600, monotonic=clock, sleep=sleep)
    assert (follow_up.expired, follow_up.complete) == (1, True)


def test_postgres_cleanup_batches_commit_asynchronously_and_nothing_else_does(pg_store, pg_database_url):
    """Each batch sets ``synchronous_commit`` off for its own transaction only (a statement trigger
    records the setting every write to the table runs under)."""
    import psycopg

    from tests.commit_modes import commit_modes_since, last_commit_mode_id, record_commit_modes

    with psycopg.connect(pg_database_url, autocommit=True) as admin:
        server_default = admin.execute("SHOW synchronous_commit").fetchone()[0]
        assert server_default != "off"
        record_commit_modes(admin, ("websocket_connections",))

        def modes_since(last_id: int) -> list[tuple[str, str]]:
            return [(op, mode) for _, op, mode in commit_modes_since(admin, last_id)]

        _idle_rows(pg_store, 3)
        _add(pg_store, "left", 60 * 48)
        pg_store.mark_disconnected("left", at=NOW - timedelta(hours=30), status_code=1001, reason=None)
        before = last_commit_mode_id(admin)
        assert before > 0 and {mode for _, mode in modes_since(0)} == {server_default}

        report = run_cleanup(pg_store, SETTINGS, now=NOW)
        assert (report.expired, report.purged, report.complete) == (3, 1, True)
        during = modes_since(before)
        assert {op for op, _ in during} == {"UPDATE", "DELETE"} and {mode for _, mode in during} == {"off"}

        after = last_commit_mode_id(admin)
        _add(pg_store, "next", 1)  # the same store connection, after cleanup
        assert pg_store.mark_disconnected("next", at=NOW, status_code=1000, reason=None)
        assert {mode for _, mode in modes_since(after)} == {server_default}


def test_before_the_messages_migration_cleanup_skips_the_message_purge_with_a_warning(store_url, capsys):
    # A deploy runs the new code before its migrate step: the connection phases still run.
    from tests.functional.helpers import log_lines, migrate_up_to
    from websocket_service.store import open_store

    early = open_store(store_url)
    try:
        assert migrate_up_to(early, 1) == [1]
        _add(early, "idle", connected_minutes_ago=121)
        capsys.readouterr()

        assert dataclasses.astuple(run_cleanup(early, SETTINGS, now=NOW, dry_run=True))[:4] == (1, 0, True, 0)
        report = run_cleanup(early, SETTINGS, now=NOW)
        assert (report.expired, report.purged, report.purged_messages, report.complete) == (1, 0, 0, True)
        assert not early.get("idle").is_active
    finally:
        early.close()
    warnings = [line for line in log_lines(capsys) if line.get("message") == "message_purge_skipped"]
    assert [(w["level"], w["missing_migration"]) for w in warnings] == [("WARNING", "0002_create_messages")] * 2
    assert "websocket_messages" in warnings[0]["error_message"]


def test_cleanup_still_raises_any_other_store_error_of_the_message_purge(store, store_url):
    from tests.functional.helpers import execute_sql
    from websocket_service.store import StoreError

    execute_sql(store_url, "ALTER TABLE websocket_messages RENAME COLUMN expires_at TO ends_at")
    with pytest.raises(StoreError, match="ends_at|expires_at"):
        run_cleanup(store, SETTINGS, now=NOW)
