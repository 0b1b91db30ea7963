"""The PostgreSQL store behind a transaction pooler, at its connection limit, and when idle.

Runs on the session's throwaway cluster (bench/cluster.py, via tests/conftest.py) with pgbouncer in TRANSACTION
mode in front (the stand-in for RDS Proxy), with ``DB_POOLER=pgbouncer`` as a user sets it (this
pgbouncer's port is not 6432, so ``auto`` would not detect it): no startup ``options``, no
prepared statements, no session state, and the statement timeout holds through the pooler. Then
saturation (a full server refuses a connection: its own error, a backoff that does not re-dial)
and idle release.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest

from tests.throwaway_pg import close_and_wait, take_all_slots, wait_until_gone
from websocket_service.store import NewConnection, NewMessage, StoreConnectError, StoreError, StoreSaturatedError, open_store
from websocket_service.store.postgres import BACKOFF_BASE_S, BACKOFF_MAX_S, PostgresConnectionStore

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


def new(connection_id: str, email: str) -> NewConnection:
    return NewConnection(connection_id=connection_id, user_email=email, connection_type="general", connected_at=T0)


class ManualClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_many_stores_share_a_small_pool_through_pgbouncer_in_transaction_mode(
    pgbouncer: Any, cluster_admin: psycopg.Connection[Any]
) -> None:
    # This pgbouncer refuses a startup `options` parameter, as RDS Proxy does: the store sends none.
    with pytest.raises(psycopg.OperationalError, match="unsupported startup parameter: options"):
        psycopg.connect(pgbouncer.url, options="-c statement_timeout=5000").close()

    migrator = open_store(pgbouncer.url, pooler="pgbouncer")
    assert migrator.pooled is True  # type: ignore[attr-defined]
    try:
        assert migrator.migrate() == []  # migrate's transaction (lock, SET LOCAL) works pooled too
    finally:
        migrator.close()
    stores = [open_store(pgbouncer.url, statement_timeout_ms=2000, pooler="pgbouncer") for _ in range(12)]
    errors: list[BaseException] = []

    def client(index: int, store: Any) -> None:
        try:
            for round_ in range(8):  # > psycopg's prepare threshold (5): nothing may get prepared
                cid = f"c{index}-{round_}"
                email = f"u{index}@example.com"
                assert store.add(new(cid, email), active_limit=100) is True
                assert store.get(cid).is_active
                assert cid in store.active_connection_ids(email, "general")
                # Notify's one round trip and replay's lock-then-read transaction, through the pooler.
                message = NewMessage(email, "general", cid, False, T0, T0 + timedelta(minutes=15))
                kept, ids = store.keep_message_and_list(message)
                assert ids == [cid]
                replayed = store.messages_after(email, "general", after_id=kept - 1, unexpired_at=T0, limit=1)
                assert [m.id for m in replayed] == [kept]
                assert store.mark_disconnected(cid, at=T0, status_code=1000, reason=None) is True
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(i, s)) for i, s in enumerate(stores)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for store in stores:
            store.close()
    assert errors == []
    rows = cluster_admin.execute(
        "SELECT count(*), count(*) FILTER (WHERE NOT is_active AND disconnect_status_code = 1000) "
        "FROM websocket_connections"
    ).fetchone()
    assert rows == (96, 96)  # every write landed whole
    assert cluster_admin.execute("SELECT count(*) FROM websocket_messages").fetchone() == (96,)
    # Twelve clients, yet the server only ever saw pgbouncer's pool of two.
    server_sessions = cluster_admin.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
    ).fetchone()
    assert server_sessions is not None and server_sessions[0] <= 2


def test_the_statement_timeout_holds_through_pgbouncer_and_does_not_leak_to_other_clients(
    pgbouncer: Any, throwaway_cluster: Any, cluster_admin: psycopg.Connection[Any]
) -> None:
    store = open_store(pgbouncer.url, statement_timeout_ms=300, pooler="pgbouncer")
    try:
        store.add(new("c1", "ada@example.com"), active_limit=5)
        with psycopg.connect(throwaway_cluster.url) as locker:  # direct; holds the lock until rollback
            locker.execute("LOCK TABLE websocket_connections IN ACCESS EXCLUSIVE MODE")
            with pytest.raises(StoreError, match=r"cancelled by statement_timeout \(300 ms") as info:
                store.get("c1")
            locker.rollback()
        assert not isinstance(info.value, StoreConnectError)
        assert store.get("c1") is not None  # the same store goes on
    finally:
        store.close()
    # The pooled server sessions carry no leftover setting: another client sees the default.
    with psycopg.connect(pgbouncer.url, prepare_threshold=None, autocommit=True) as other:
        for _ in range(3):  # whichever of the pool's server connections it lands on
            assert other.execute("SHOW statement_timeout").fetchone() == ("0",)


@pytest.fixture
def full_server(throwaway_cluster: Any, cluster_admin: psycopg.Connection[Any]) -> Iterator[list[Any]]:
    """Every connection slot of the throwaway cluster taken (the list holds the connections;
    close some to free slots). Closed afterwards."""
    held = take_all_slots(throwaway_cluster.url)
    try:
        yield held
    finally:
        close_and_wait(cluster_admin, [conn for conn in held if not conn.closed])


def test_a_full_server_gives_a_saturation_error_then_the_store_backs_off_without_dialling(
    throwaway_cluster: Any, full_server: list[Any], cluster_admin: psycopg.Connection[Any]
) -> None:
    clock = ManualClock()
    store = PostgresConnectionStore(throwaway_cluster.url, monotonic=clock)
    with pytest.raises(StoreSaturatedError) as first:
        store.get("c1")
    message = str(first.value)
    assert first.value.code == "database_saturated" and isinstance(first.value, StoreConnectError)
    for hint in ("too many clients", "max_connections", "reserved concurrency", "RDS Proxy or pgbouncer",
                 "idle_session_timeout"):
        assert hint in message
    assert "DATABASE_URL" not in message
    assert BACKOFF_BASE_S / 2 <= store.backoff_remaining_s <= BACKOFF_BASE_S

    close_and_wait(cluster_admin, full_server[:3])  # slots are free again, but the backoff has not ended:
    with pytest.raises(StoreSaturatedError, match="not dialling"):
        store.get("c1")  # fails fast with the same error; a dial would have succeeded

    clock.now += store.backoff_remaining_s + 0.001
    assert store.get("c1") is None  # the backoff ended: it dials, connects, and works
    store.close()


def test_the_saturation_backoff_grows_exponentially_with_jitter_up_to_its_bound(
    throwaway_cluster: Any, full_server: list[Any], cluster_admin: psycopg.Connection[Any]
) -> None:
    clock = ManualClock()
    store = PostgresConnectionStore(f"{throwaway_cluster.url}&application_name=backoff-test", monotonic=clock)
    backoffs = []
    for _ in range(8):
        with pytest.raises(StoreSaturatedError, match=r"refusal \d+ in a row"):
            store.get("c1")  # dials (the previous backoff has ended) and is refused
        backoffs.append(store.backoff_remaining_s)
        clock.now += store.backoff_remaining_s + 0.001
    ceilings = [min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2**n) for n in range(8)]
    assert all(ceiling / 2 <= backoff <= ceiling for backoff, ceiling in zip(backoffs, ceilings)), backoffs
    assert ceilings[-1] == BACKOFF_MAX_S  # bounded

    close_and_wait(cluster_admin, [full_server.pop()])
    assert store.get("c1") is None  # connected: the refusal count starts again
    store.close()
    wait_until_gone(cluster_admin, "application_name = %s", "backoff-test")  # then take its slot
    full_server.append(psycopg.connect(throwaway_cluster.url))
    with pytest.raises(StoreSaturatedError):
        store.get("c1")
    assert store.backoff_remaining_s <= BACKOFF_BASE_S


def test_a_connection_idle_past_the_release_period_is_replaced_before_use(
    throwaway_cluster: Any, cluster_admin: psycopg.Connection[Any]
) -> None:
    clock = ManualClock()
    store = PostgresConnectionStore(
        f"{throwaway_cluster.url}&application_name=idle-release-test", idle_release_s=60, monotonic=clock
    )

    def backends() -> list[int]:
        rows = cluster_admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'idle-release-test'"
        ).fetchall()
        return [row[0] for row in rows]

    try:
        store.add(new("c1", "ada@example.com"), active_limit=5)
        [first] = backends()
        clock.now += 59
        store.get("c1")
        assert backends() == [first]  # used within the period: kept
        clock.now += 61
        store.get("c1")
        wait_until_gone(cluster_admin, "pid = %s", first)  # closed: its server process exits
        [second] = backends()
        assert second != first  # idle too long: closed (its server slot freed) and replaced
    finally:
        store.close()
