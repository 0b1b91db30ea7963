"""The ConnectionStore contract: every test runs unchanged against PostgreSQL and SQLite.

The ``store`` fixture (tests/conftest.py) is parametrized over both backends, PostgreSQL in both of
its protocols (``postgres``: direct, prepared statements; ``postgres-pooled``: ``DB_POOLER=pgbouncer``,
the pool-safe protocol, on the same server); each test gets a fresh, migrated database space, and
``open_store(store_url, **store_options)`` opens more stores on the same data in the same mode.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import pytest

from websocket_service.store import (
    GONE_REASON,
    IDLE_EXPIRED_REASON,
    Connection,
    ConnectionStore,
    KeptMessage,
    NewConnection,
    NewMessage,
    StoreError,
    open_store,
)
from websocket_service.store.schema import load_migrations

T = TypeVar("T")
T0 = datetime(2026, 11, 25, 12, 0, 0, 123456, tzinfo=timezone.utc)
EMAIL = "ada@example.com"


def new(
    connection_id: str, *, email: str = EMAIL, kind: str = "general", at: datetime = T0, **extra: str
) -> NewConnection:
    """A NewConnection with sensible defaults."""
    return NewConnection(
        connection_id=connection_id, user_email=email, connection_type=kind, connected_at=at, **extra
    )


def add_all(store: ConnectionStore, *connections: NewConnection, limit: int = 100) -> None:
    for connection in connections:
        assert store.add(connection, active_limit=limit) is True


def active_ids(store: ConnectionStore) -> set[str]:
    return {c.connection_id for c in store.list_connections(active=True, limit=1000)}


@pytest.fixture(params=("postgres", "postgres-pooled", "sqlite"))
def store_backend(request: pytest.FixtureRequest) -> str:
    """Every backend, PostgreSQL direct and pooled (overrides tests/conftest.py's)."""
    return str(request.param)


def test_store_satisfies_the_protocol(store: ConnectionStore, store_backend: str) -> None:
    assert isinstance(store, ConnectionStore)
    # PostgreSQL runs in the protocol the parameter names (the shared server is on 5432: auto is direct).
    expected = {"postgres": False, "postgres-pooled": True, "sqlite": None}[store_backend]
    assert getattr(store, "pooled", None) is expected


# --- add / get --------------------------------------------------------------------------------
def test_add_then_get_round_trips_every_field(store: ConnectionStore) -> None:
    connection = new(
        "BFHPhfCWIAMCKlQ=",
        source_ip="203.0.113.9",
        user_agent="Mozilla/5.0 (X11; Linux) — ünïcode",
        domain_name="abc123.execute-api.us-east-1.amazonaws.com",
        stage="prod",
    )
    assert store.add(connection, active_limit=5) is True

    assert store.get("BFHPhfCWIAMCKlQ=") == Connection(
        connection_id="BFHPhfCWIAMCKlQ=",
        user_email=EMAIL,
        connection_type="general",
        is_active=True,
        connected_at=T0,
        last_activity_at=T0,
        disconnected_at=None,
        disconnect_status_code=None,
        disconnect_reason=None,
        source_ip="203.0.113.9",
        user_agent="Mozilla/5.0 (X11; Linux) — ünïcode",
        domain_name="abc123.execute-api.us-east-1.amazonaws.com",
        stage="prod",
    )


def test_datetimes_come_back_timezone_aware_utc_whatever_offset_went_in(store: ConnectionStore) -> None:
    in_berlin = T0.astimezone(timezone(timedelta(hours=1)))
    store.add(new("c1", at=in_berlin), active_limit=5)

    got = store.get("c1")
    assert got is not None
    assert got.connected_at == T0
    assert got.connected_at.utcoffset() == timedelta(0)
    assert got.connected_at.microsecond == 123456  # full precision kept


def test_optional_fields_may_be_none(store: ConnectionStore) -> None:
    store.add(new("c1"), active_limit=5)
    got = store.get("c1")
    assert got is not None
    assert (got.source_ip, got.user_agent, got.domain_name, got.stage) == (None, None, None, None)


def test_get_unknown_id_returns_none(store: ConnectionStore) -> None:
    assert store.get("nope=") is None


def test_naive_datetimes_are_refused_and_nothing_is_written(store: ConnectionStore) -> None:
    with pytest.raises(ValueError, match="connected_at must be a timezone-aware datetime"):
        store.add(new("c1", at=T0.replace(tzinfo=None)), active_limit=5)
    assert store.get("c1") is None
    with pytest.raises(ValueError, match="idle_before must be a timezone-aware"):
        store.count_idle(idle_before=T0.replace(tzinfo=None))


# --- the per-email cap ------------------------------------------------------------------------
def test_cap_reached_returns_false_and_writes_nothing(store: ConnectionStore) -> None:
    add_all(store, new("c1"), new("c2"), limit=2)

    assert store.add(new("c3"), active_limit=2) is False

    assert store.get("c3") is None
    assert active_ids(store) == {"c1", "c2"}


def test_cap_counts_every_connection_type_of_the_email_but_not_other_emails(store: ConnectionStore) -> None:
    add_all(store, new("c1", kind="general"), new("c2", kind="email-verification"), limit=2)

    assert store.add(new("c3", kind="general"), active_limit=2) is False
    assert store.add(new("b1", email="bob@example.com"), active_limit=2) is True


def test_cap_counts_only_active_rows(store: ConnectionStore) -> None:
    add_all(store, new("c1"), new("c2"), limit=2)
    assert store.mark_disconnected("c1", at=T0, status_code=1001, reason="going away") is True

    assert store.add(new("c3"), active_limit=2) is True
    assert active_ids(store) == {"c2", "c3"}


def test_zero_limit_admits_nobody(store: ConnectionStore) -> None:
    assert store.add(new("c1"), active_limit=0) is False
    assert store.get("c1") is None


def test_negative_limit_is_a_programming_error(store: ConnectionStore) -> None:
    with pytest.raises(ValueError, match="active_limit must be an integer >= 0"):
        store.add(new("c1"), active_limit=-1)


def run_concurrently(work: Callable[[int], T], count: int) -> list[T]:
    """Run ``work(0..count-1)`` in threads released together; re-raise the first error."""
    barrier = threading.Barrier(count)
    results: list[T | None] = [None] * count
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(i)
        except BaseException as exc:  # re-raised in the test's thread below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results  # type: ignore[return-value]


def test_concurrent_adds_racing_for_the_last_slots_never_exceed_the_cap(
    store: ConnectionStore, store_url: str, store_options: dict[str, Any]
) -> None:
    limit, racers = 3, 8
    add_all(store, new("existing"), limit=limit)  # two slots left
    stores = [open_store(store_url, **store_options) for _ in range(racers)]
    try:
        for s in stores:
            assert s.get("existing") is not None  # connect first, so the adds themselves race
        won = run_concurrently(lambda i: stores[i].add(new(f"r{i}"), active_limit=limit), racers)
    finally:
        for s in stores:
            s.close()

    winners = {f"r{i}" for i, ok in enumerate(won) if ok}
    assert len(winners) == limit - 1
    assert active_ids(store) == winners | {"existing"}


# --- re-adding an id --------------------------------------------------------------------------
def test_re_adding_an_id_replaces_the_row(store: ConnectionStore) -> None:
    store.add(new("c1", kind="general", source_ip="198.51.100.1"), active_limit=5)
    later = T0 + timedelta(minutes=5)

    assert store.add(new("c1", kind="email-verification", at=later, stage="prod"), active_limit=5) is True

    got = store.get("c1")
    assert got is not None
    assert (got.connection_type, got.connected_at, got.last_activity_at, got.source_ip, got.stage) == (
        "email-verification", later, later, None, "prod",
    )
    assert len(store.list_connections()) == 1


def test_re_adding_an_id_does_not_count_against_the_cap(store: ConnectionStore) -> None:
    add_all(store, new("c1"), new("c2"), limit=2)
    assert store.add(new("c2"), active_limit=2) is True
    assert active_ids(store) == {"c1", "c2"}


def test_re_adding_a_disconnected_id_reactivates_it_and_clears_the_disconnect(store: ConnectionStore) -> None:
    store.add(new("c1"), active_limit=5)
    store.mark_disconnected("c1", at=T0, status_code=1006, reason="abnormal")

    assert store.add(new("c1"), active_limit=5) is True

    got = store.get("c1")
    assert got is not None
    assert got.is_active is True
    assert (got.disconnected_at, got.disconnect_status_code, got.disconnect_reason) == (None, None, None)


# --- mark_disconnected / touch / mark_gone ----------------------------------------------------
def test_mark_disconnected_records_time_code_and_reason_and_is_idempotent(store: ConnectionStore) -> None:
    store.add(new("c1"), active_limit=5)
    at = T0 + timedelta(minutes=3)

    assert store.mark_disconnected("c1", at=at, status_code=1001, reason="Going away") is True
    assert store.mark_disconnected("c1", at=at + timedelta(minutes=1), status_code=1006, reason="again") is False

    got = store.get("c1")
    assert got is not None
    assert (got.is_active, got.disconnected_at, got.disconnect_status_code, got.disconnect_reason) == (
        False, at, 1001, "Going away",
    )


def test_mark_disconnected_accepts_missing_code_and_reason(store: ConnectionStore) -> None:
    store.add(new("c1"), active_limit=5)
    assert store.mark_disconnected("c1", at=T0, status_code=None, reason=None) is True
    got = store.get("c1")
    assert got is not None and not got.is_active
    assert (got.disconnect_status_code, got.disconnect_reason) == (None, None)


def test_mark_disconnected_unknown_id_returns_false(store: ConnectionStore) -> None:
    assert store.mark_disconnected("nope=", at=T0, status_code=1000, reason=None) is False
    assert store.get("nope=") is None


def test_touch_moves_last_activity_of_active_connections_only(store: ConnectionStore) -> None:
    add_all(store, new("c1"), new("c2"))
    store.mark_disconnected("c2", at=T0, status_code=1000, reason=None)
    later = T0 + timedelta(minutes=7)

    assert store.touch("c1", at=later) is True
    assert store.touch("c2", at=later) is False
    assert store.touch("nope=", at=later) is False

    c1, c2 = store.get("c1"), store.get("c2")
    assert c1 is not None and c2 is not None
    assert (c1.last_activity_at, c1.connected_at) == (later, T0)
    assert c2.last_activity_at == T0


def test_mark_gone_marks_only_active_known_ids_and_counts_them(store: ConnectionStore) -> None:
    add_all(store, new("c1"), new("c2"), new("c3"))
    store.mark_disconnected("c3", at=T0, status_code=1000, reason="bye")
    at = T0 + timedelta(seconds=30)

    assert store.mark_gone(["c1", "c3", "unknown=", "c1"], at=at) == 1

    c1, c3 = store.get("c1"), store.get("c3")
    assert c1 is not None and c3 is not None
    assert (c1.is_active, c1.disconnected_at, c1.disconnect_reason) == (False, at, GONE_REASON)
    assert c3.disconnect_reason == "bye"  # an already inactive row keeps its own disconnect
    assert active_ids(store) == {"c2"}


def test_mark_gone_with_no_ids_changes_nothing(store: ConnectionStore) -> None:
    store.add(new("c1"), active_limit=5)
    assert store.mark_gone([], at=T0) == 0
    assert active_ids(store) == {"c1"}


# --- queries ----------------------------------------------------------------------------------
def test_active_connection_ids_filter_by_email_type_and_state(store: ConnectionStore) -> None:
    add_all(
        store,
        new("match-1", kind="email-verification"),
        new("match-2", kind="email-verification", at=T0 + timedelta(seconds=1)),
        new("other-type", kind="general"),
        new("other-email", email="bob@example.com", kind="email-verification"),
        new("inactive", kind="email-verification"),
    )
    store.mark_disconnected("inactive", at=T0, status_code=1000, reason=None)

    assert store.active_connection_ids(EMAIL, "email-verification") == ["match-1", "match-2"]
    assert store.active_connection_ids(EMAIL, "general") == ["other-type"]
    assert store.active_connection_ids("nobody@example.com", "general") == []


def test_list_connections_is_newest_first_with_filters_and_limit(store: ConnectionStore) -> None:
    add_all(
        store,
        new("old", at=T0),
        new("mid", at=T0 + timedelta(minutes=1)),
        new("new", at=T0 + timedelta(minutes=2)),
        new("bob", email="bob@example.com", at=T0 + timedelta(minutes=3)),
    )
    store.mark_disconnected("mid", at=T0, status_code=1000, reason=None)

    def ids(**filters: object) -> list[str]:
        return [c.connection_id for c in store.list_connections(**filters)]  # type: ignore[arg-type]

    assert ids() == ["bob", "new", "mid", "old"]
    assert ids(user_email=EMAIL) == ["new", "mid", "old"]
    assert ids(active=True) == ["bob", "new", "old"]
    assert ids(active=False) == ["mid"]
    assert ids(user_email=EMAIL, active=True) == ["new", "old"]
    assert ids(limit=2) == ["bob", "new"]
    assert ids(user_email="nobody@example.com") == []


def test_list_connections_rejects_a_non_positive_limit(store: ConnectionStore) -> None:
    with pytest.raises(ValueError, match="limit must be an integer >= 1"):
        store.list_connections(limit=0)


# --- cleanup ----------------------------------------------------------------------------------
def _idle_fixture(store: ConnectionStore) -> datetime:
    """Five connections idle since T0, two active recently, one already inactive; returns the cutoff."""
    add_all(store, *(new(f"idle-{i}", email=f"u{i}@example.com") for i in range(5)))
    add_all(store, new("fresh-1"), new("fresh-2"), new("closed"))
    store.touch("fresh-1", at=T0 + timedelta(hours=3))
    store.touch("fresh-2", at=T0 + timedelta(hours=3))
    store.mark_disconnected("closed", at=T0, status_code=1000, reason="bye")
    return T0 + timedelta(hours=2)


def test_expire_idle_works_in_batches_until_none_is_left(store: ConnectionStore) -> None:
    cutoff = _idle_fixture(store)
    at = T0 + timedelta(hours=4)

    assert store.count_idle(idle_before=cutoff) == 5
    batches = []
    while (n := store.expire_idle(idle_before=cutoff, at=at, batch_size=2)) > 0:
        batches.append(n)
    assert batches == [2, 2, 1]
    assert store.count_idle(idle_before=cutoff) == 0

    assert active_ids(store) == {"fresh-1", "fresh-2"}
    expired = store.get("idle-3")
    assert expired is not None
    assert (expired.is_active, expired.disconnected_at, expired.disconnect_reason) == (False, at, IDLE_EXPIRED_REASON)
    closed = store.get("closed")
    assert closed is not None and closed.disconnect_reason == "bye"  # inactive rows untouched


def test_idle_cutoff_is_exclusive(store: ConnectionStore) -> None:
    store.add(new("c1"), active_limit=5)
    assert store.count_idle(idle_before=T0) == 0
    assert store.expire_idle(idle_before=T0, at=T0, batch_size=10) == 0
    assert store.count_idle(idle_before=T0 + timedelta(microseconds=1)) == 1


def test_purge_inactive_deletes_old_inactive_rows_in_batches(store: ConnectionStore) -> None:
    add_all(store, *(new(f"gone-{i}", email=f"u{i}@example.com") for i in range(5)), new("recent"), new("active"))
    for i in range(5):
        store.mark_disconnected(f"gone-{i}", at=T0, status_code=1000, reason=None)
    store.mark_disconnected("recent", at=T0 + timedelta(hours=30), status_code=1000, reason=None)
    cutoff = T0 + timedelta(hours=24)

    assert store.count_purgeable(disconnected_before=cutoff) == 5
    batches = []
    while (n := store.purge_inactive(disconnected_before=cutoff, batch_size=3)) > 0:
        batches.append(n)
    assert batches == [3, 2]
    assert store.count_purgeable(disconnected_before=cutoff) == 0

    assert sorted(c.connection_id for c in store.list_connections()) == ["active", "recent"]


def test_purge_never_deletes_active_rows(store: ConnectionStore) -> None:
    store.add(new("c1"), active_limit=5)
    far_future = T0 + timedelta(days=3650)
    assert store.count_purgeable(disconnected_before=far_future) == 0
    assert store.purge_inactive(disconnected_before=far_future, batch_size=100) == 0
    assert store.get("c1") is not None


@pytest.mark.parametrize("batch_size", [0, -5])
def test_cleanup_batch_size_must_be_positive(store: ConnectionStore, batch_size: int) -> None:
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        store.expire_idle(idle_before=T0, at=T0, batch_size=batch_size)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        store.purge_inactive(disconnected_before=T0, batch_size=batch_size)


# --- migrations and connection lifecycle --------------------------------------------------------
def test_migrate_on_a_fresh_database_applies_every_version_then_nothing(store_url: str, store_options: dict[str, Any]) -> None:
    fresh = open_store(store_url, **store_options)
    try:
        all_versions = [m.version for m in load_migrations("sqlite")]
        assert fresh.migrate() == all_versions
        assert fresh.migrate() == []
        assert fresh.add(new("c1"), active_limit=1) is True
    finally:
        fresh.close()


def test_concurrent_migrate_applies_each_version_once(store_url: str, store_options: dict[str, Any]) -> None:
    stores = [open_store(store_url, **store_options) for _ in range(2)]
    try:
        applied = run_concurrently(lambda i: stores[i].migrate(), 2)
        assert sorted(applied, key=len) == [[], [m.version for m in load_migrations("sqlite")]]
        assert stores[0].add(new("c1"), active_limit=1) is True
    finally:
        for s in stores:
            s.close()


def test_migrate_again_on_a_migrated_store_applies_nothing_and_keeps_data(store: ConnectionStore) -> None:
    store.add(new("c1"), active_limit=5)
    assert store.migrate() == []
    assert store.get("c1") is not None


def test_unmigrated_database_gives_a_store_error_that_says_to_migrate(store_url: str, store_options: dict[str, Any]) -> None:
    fresh = open_store(store_url, **store_options)
    try:
        with pytest.raises(StoreError, match="run the migrate action"):
            fresh.get("c1")
    finally:
        fresh.close()


def test_close_then_use_reconnects(store: ConnectionStore) -> None:
    store.add(new("c1"), active_limit=5)
    store.close()
    store.close()  # closing twice is harmless

    assert store.get("c1") is not None
    assert store.add(new("c2"), active_limit=5) is True


def test_a_second_store_on_the_same_database_sees_the_writes(store: ConnectionStore, store_url: str, store_options: dict[str, Any]) -> None:
    store.add(new("c1", stage="prod"), active_limit=5)
    other = open_store(store_url, **store_options)
    try:
        got = other.get("c1")
        assert got is not None and got.stage == "prod"
        assert other.mark_disconnected("c1", at=T0, status_code=1000, reason=None) is True
    finally:
        other.close()
    got = store.get("c1")
    assert got is not None and got.is_active is False



# --- messages kept for replay (migration 0002) --------------------------------------------------
def msg(body: str = "hello", *, email: str = EMAIL, kind: str = "general", is_json: bool = False,
        at: datetime = T0, ttl_minutes: int = 15) -> NewMessage:
    """A NewMessage kept at ``at`` for ``ttl_minutes``."""
    return NewMessage(user_email=email, connection_type=kind, body=body, is_json=is_json, created_at=at,
                      expires_at=at + timedelta(minutes=ttl_minutes))


def test_keep_message_round_trips_every_field(store: ConnectionStore) -> None:
    body = '{"type":"email-verified","note":"ünïcode — ok"}'
    message_id = store.keep_message(msg(body, is_json=True, at=T0.astimezone(timezone(timedelta(hours=2)))))

    assert isinstance(message_id, int) and message_id > 0
    assert store.get_message(message_id) == KeptMessage(
        id=message_id, user_email=EMAIL, connection_type="general", body=body, is_json=True,
        created_at=T0, expires_at=T0 + timedelta(minutes=15),
    )
    assert store.get_message(message_id + 1000) is None


def test_a_text_body_with_nul_and_any_code_point_round_trips(store: ConnectionStore) -> None:
    body = "nul \x00 here, bidi \u202e, emoji 😀, \U0010ffff"
    got = store.get_message(store.keep_message(msg(body)))
    assert got is not None and got.body == body and got.is_json is False


def test_message_ids_increase_and_are_never_reused_after_a_purge(store: ConnectionStore) -> None:
    first = store.keep_message(msg("a"))
    second = store.keep_message(msg("b", email="bob@example.com"))
    assert second > first
    assert store.purge_expired_messages(expired_before=T0 + timedelta(hours=1), batch_size=10) == 2
    third = store.keep_message(msg("c"))
    assert third > second  # a purged newest id is not handed out again (SQLite: AUTOINCREMENT)


def test_messages_after_returns_one_email_and_type_oldest_first(store: ConnectionStore) -> None:
    ids = [store.keep_message(msg(f"m{i}", at=T0 + timedelta(seconds=i))) for i in range(3)]
    store.keep_message(msg("other type", kind="email-verification"))
    store.keep_message(msg("other email", email="eve@example.com"))

    got = store.messages_after(EMAIL, "general", after_id=0, unexpired_at=T0, limit=10)
    assert [(m.id, m.body) for m in got] == [(ids[0], "m0"), (ids[1], "m1"), (ids[2], "m2")]
    after_first = store.messages_after(EMAIL, "general", after_id=ids[0], unexpired_at=T0, limit=10)
    assert [m.id for m in after_first] == ids[1:]
    assert store.messages_after(EMAIL, "general", after_id=ids[2], unexpired_at=T0, limit=10) == []
    assert [m.id for m in store.messages_after(EMAIL, "general", after_id=0, unexpired_at=T0, limit=2)] == ids[:2]


def test_keep_message_and_list_keeps_and_lists_the_active_connections_of_the_email_and_type(
    store: ConnectionStore,
) -> None:
    connections = (("c2", EMAIL, "general"), ("c1", EMAIL, "general"), ("other-type", EMAIL, "email-verification"),
                   ("other-email", "eve@example.com", "general"), ("left", EMAIL, "general"))
    for cid, email, kind in connections:
        at = T0 + timedelta(seconds=1) if cid == "c2" else T0
        assert store.add(new(cid, email=email, kind=kind, at=at), active_limit=10)
    store.mark_disconnected("left", at=T0, status_code=1000, reason=None)

    kept, ids = store.keep_message_and_list(msg("m", is_json=True))
    assert ids == store.active_connection_ids(EMAIL, "general") == ["c1", "c2"]  # oldest first
    assert store.get_message(kept) == KeptMessage(kept, EMAIL, "general", "m", True, T0, T0 + timedelta(minutes=15))
    assert store.keep_message_and_list(msg("n", email="nobody@example.com"))[1] == []
    later, _ = store.keep_message_and_list(msg("o"))
    assert later > kept
    assert [m.body for m in store.messages_after(EMAIL, "general", after_id=0, unexpired_at=T0, limit=10)] == ["m", "o"]


def test_messages_after_leaves_out_expired_messages(store: ConnectionStore) -> None:
    short = store.keep_message(msg("short", ttl_minutes=1))
    long = store.keep_message(msg("long", ttl_minutes=30))
    later = T0 + timedelta(minutes=5)

    assert [m.id for m in store.messages_after(EMAIL, "general", after_id=0, unexpired_at=later, limit=10)] == [long]
    assert [m.id for m in store.messages_after(EMAIL, "general", after_id=0, unexpired_at=T0, limit=10)] == [short, long]
    assert store.get_message(short) is not None  # expired but not purged yet: the service decides


def test_purge_expired_messages_deletes_in_batches_only_what_expired(store: ConnectionStore) -> None:
    expired = [store.keep_message(msg(f"old{i}", ttl_minutes=1)) for i in range(5)]
    fresh = store.keep_message(msg("fresh", ttl_minutes=60))
    cutoff = T0 + timedelta(minutes=10)

    assert store.count_expired_messages(expired_before=cutoff) == 5
    assert store.purge_expired_messages(expired_before=cutoff, batch_size=2) == 2
    assert store.purge_expired_messages(expired_before=cutoff, batch_size=2) == 2
    assert store.purge_expired_messages(expired_before=cutoff, batch_size=2) == 1
    assert store.purge_expired_messages(expired_before=cutoff, batch_size=2) == 0
    assert store.count_expired_messages(expired_before=cutoff) == 0
    assert all(store.get_message(i) is None for i in expired)
    assert store.get_message(fresh) is not None


def test_message_arguments_are_checked(store: ConnectionStore) -> None:
    with pytest.raises(ValueError, match="created_at must be a timezone-aware"):
        store.keep_message(msg(at=T0.replace(tzinfo=None)))
    with pytest.raises(ValueError, match="after_id must be an integer >= 0"):
        store.messages_after(EMAIL, "general", after_id=-1, unexpired_at=T0, limit=10)
    with pytest.raises(ValueError, match="message_id must be an integer"):
        store.get_message("1")  # type: ignore[arg-type]
    assert store.messages_after(EMAIL, "general", after_id=0, unexpired_at=T0, limit=10) == []


def test_concurrent_keeps_get_distinct_ids_in_order_of_commit(store: ConnectionStore, store_url: str, store_options: dict[str, Any]) -> None:
    stores = [open_store(store_url, **store_options) for _ in range(4)]
    try:
        ids = run_concurrently(lambda i: [stores[i].keep_message(msg(f"s{i}-{n}")) for n in range(10)], 4)
    finally:
        for s in stores:
            s.close()
    flat = [i for per_store in ids for i in per_store]
    assert len(set(flat)) == 40
    assert all(per_store == sorted(per_store) for per_store in ids)
    every = store.messages_after(EMAIL, "general", after_id=0, unexpired_at=T0, limit=100)
    assert sorted(m.id for m in every) == sorted(flat)


# --- reactivate: a message from a connection marked gone by a 410 proves it is open ---------------
def test_reactivate_brings_back_a_gone_or_idle_expired_row_and_clears_its_disconnect(store: ConnectionStore) -> None:
    add_all(store, new("gone"), new("idle", at=T0 - timedelta(hours=3)))
    store.mark_gone(["gone"], at=T0)
    assert store.expire_idle(idle_before=T0 - timedelta(hours=1), at=T0, batch_size=10) == 1
    later = T0 + timedelta(minutes=1)

    assert store.reactivate("gone", at=later, active_limit=5) is True
    assert store.reactivate("idle", at=later, active_limit=5) is True

    for cid in ("gone", "idle"):
        got = store.get(cid)
        assert got is not None
        assert (got.is_active, got.last_activity_at, got.disconnected_at, got.disconnect_status_code,
                got.disconnect_reason) == (True, later, None, None, None)
    assert store.active_connection_ids(EMAIL, "general") == ["idle", "gone"]  # oldest connected_at first
    assert store.reactivate("gone", at=later, active_limit=5) is False  # already active: nothing to do


def test_reactivate_never_brings_back_a_recorded_disconnect_nor_creates_a_row(store: ConnectionStore) -> None:
    add_all(store, new("closed"), new("no-code"))
    store.mark_disconnected("closed", at=T0, status_code=1001, reason="Going away")
    store.mark_disconnected("no-code", at=T0, status_code=None, reason=None)

    assert store.reactivate("closed", at=T0, active_limit=5) is False
    assert store.reactivate("no-code", at=T0, active_limit=5) is False
    assert store.reactivate("unknown=", at=T0, active_limit=5) is False
    assert store.get("unknown=") is None
    assert active_ids(store) == set()


def test_a_disconnect_after_mark_gone_is_recorded_so_the_row_never_comes_back(store: ConnectionStore) -> None:
    # $disconnect may be handled after a 410 marked the row gone, and a message sent just before the
    # close may be handled after both: the row must then stay inactive.
    store.add(new("c1"), active_limit=5)
    store.mark_gone(["c1"], at=T0)
    at = T0 + timedelta(seconds=5)

    assert store.mark_disconnected("c1", at=at, status_code=1001, reason="Going away") is False  # was inactive

    got = store.get("c1")
    assert got is not None
    assert (got.is_active, got.disconnected_at, got.disconnect_status_code, got.disconnect_reason) == (
        False, at, 1001, "Going away")
    assert store.reactivate("c1", at=at, active_limit=5) is False
    assert active_ids(store) == set()


def test_reactivate_is_refused_when_the_email_has_active_limit_other_active_rows(store: ConnectionStore) -> None:
    add_all(store, new("back"), new("a1"), new("a2"), new("other", email="bob@example.com"))
    store.mark_gone(["back"], at=T0)

    assert store.reactivate("back", at=T0, active_limit=2) is False  # a1, a2: the limit is reached
    assert store.reactivate("back", at=T0, active_limit=3) is True  # other emails do not count
    assert active_ids(store) == {"back", "a1", "a2", "other"}


def test_concurrent_reactivations_and_adds_of_one_email_never_exceed_the_limit(
    store: ConnectionStore, store_url: str, store_options: dict[str, Any]
) -> None:
    limit, racers = 3, 8
    add_all(store, *(new(f"g{i}") for i in range(racers // 2)))
    store.mark_gone([f"g{i}" for i in range(racers // 2)], at=T0)
    stores = [open_store(store_url, **store_options) for _ in range(racers)]
    try:
        for s in stores:
            assert s.get("g0") is not None  # connect first, so the writes themselves race
        won = run_concurrently(
            lambda i: stores[i].reactivate(f"g{i}", at=T0, active_limit=limit) if i < racers // 2
            else stores[i].add(new(f"n{i}"), active_limit=limit),
            racers,
        )
    finally:
        for s in stores:
            s.close()

    assert sum(won) == limit
    assert len(active_ids(store)) == limit


# --- before migration 0002 (a deploy runs the new code before its migrate step) ------------------
def test_before_the_messages_migration_message_reads_and_purges_raise_missing_table_error(
    store_url: str, store_options: dict[str, Any]
) -> None:
    from tests.functional.helpers import migrate_up_to
    from websocket_service.store import MissingTableError
    from websocket_service.store.sql import MESSAGES_MIGRATION, MESSAGES_TABLE, TABLE, messages_table_missing

    early = open_store(store_url, **store_options)
    try:
        with pytest.raises(MissingTableError) as no_connections:
            early.get("c1")
        assert no_connections.value.table == TABLE and not messages_table_missing(no_connections.value)
        assert migrate_up_to(early, 1) == [1]
        assert early.add(new("c1"), active_limit=5) is True
        calls = [
            lambda: early.get_message(1),
            lambda: early.messages_after(EMAIL, "general", after_id=0, unexpired_at=T0, limit=10),
            lambda: early.purge_expired_messages(expired_before=T0, batch_size=10),
            lambda: early.count_expired_messages(expired_before=T0),
        ]
        for call in calls:
            with pytest.raises(MissingTableError, match="websocket_messages") as missing:
                call()
            assert missing.value.table == MESSAGES_TABLE and messages_table_missing(missing.value)
        assert early.get("c1") is not None  # the connection is still usable after the failures

        assert early.migrate() == [m.version for m in load_migrations("sqlite") if m.version > 1]
        assert early.get_message(1) is None
        assert early.count_expired_messages(expired_before=T0) == 0
    finally:
        early.close()
    assert MESSAGES_MIGRATION in {f"{m.version:04d}_{m.name}" for m in load_migrations("postgres")}


def test_a_missing_column_is_a_plain_store_error_not_a_missing_table(store: ConnectionStore, store_url: str) -> None:
    from tests.functional.helpers import execute_sql
    from websocket_service.store import MissingTableError

    execute_sql(store_url, "ALTER TABLE websocket_messages RENAME COLUMN expires_at TO ends_at")
    with pytest.raises(StoreError) as error:
        store.count_expired_messages(expired_before=T0)
    assert not isinstance(error.value, MissingTableError)
