"""PostgreSQL-only behaviour: reconnects, timeouts, locking and error messages, on a real server."""
from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest

from websocket_service.store import (
    MissingFunctionError,
    NewConnection,
    NewMessage,
    StoreConfigError,
    StoreConnectError,
    StoreError,
    open_store,
)
from websocket_service.store.postgres import (
    ADD_FUNCTION,
    KEEP_AND_LIST_FUNCTION,
    KEEP_FUNCTION,
    MIGRATION_LOCK,
    MIGRATION_TIMEOUT_MS,
    MISSING_FUNCTION_RECHECK_S,
    PostgresConnectionStore,
    connect_kwargs,
    pooler_kind,
)
from websocket_service.store.schema import load_migrations

from tests.commit_modes import commit_modes_since, record_commit_modes

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
PASSWORD = "s3cret-Pa55"
ALL_VERSIONS = [m.version for m in load_migrations("postgres")]


EMAIL = "ada@example.com"


def new(connection_id: str, email: str = EMAIL) -> NewConnection:
    return NewConnection(connection_id=connection_id, user_email=email, connection_type="general", connected_at=T0)


@pytest.fixture
def admin(postgres_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A separate superuser connection, as another client of the same server."""
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def app_name() -> str:
    """A unique application_name to find the store's backend in pg_stat_activity."""
    return f"wst-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def pg_store_with_name(pg_database_url: str, app_name: str) -> Iterator[tuple[Any, str]]:
    """A migrated store whose backend shows ``app_name`` in pg_stat_activity."""
    store = open_store(f"{pg_database_url}&application_name={app_name}", statement_timeout_ms=300)
    store.migrate()
    try:
        yield store, app_name
    finally:
        store.close()


def backend_pids(admin: psycopg.Connection[Any], app_name: str) -> list[int]:
    rows = admin.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s", (app_name,)).fetchall()
    return [row[0] for row in rows]


def kill_backends(admin: psycopg.Connection[Any], app_name: str) -> None:
    """Terminate the store's server process and wait (up to 5 s) until it is gone."""
    killed = admin.execute(
        "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE application_name = %s", (app_name,)
    ).fetchall()
    assert killed == [(True,)]


def test_reconnects_transparently_after_the_server_kills_the_connection(
    pg_database_url: str, admin: psycopg.Connection[Any], app_name: str
) -> None:
    store = open_store(f"{pg_database_url}&application_name={app_name}")
    try:
        store.migrate()
        store.add(new("c1"), active_limit=5)
        [first_pid] = backend_pids(admin, app_name)

        kill_backends(admin, app_name)
        assert store.get("c1") is not None  # a read re-runs on a fresh connection

        [second_pid] = backend_pids(admin, app_name)
        assert second_pid != first_pid

        kill_backends(admin, app_name)
        assert store.add(new("c2"), active_limit=5) is True  # so does a write
        assert [c.connection_id for c in store.list_connections()] == ["c2", "c1"]
    finally:
        store.close()


def test_the_store_keeps_one_connection_across_calls(
    pg_store_with_name: tuple[Any, str], admin: psycopg.Connection[Any]
) -> None:
    store, app_name = pg_store_with_name
    store.add(new("c1"), active_limit=5)
    pids = backend_pids(admin, app_name)
    for _ in range(3):
        store.get("c1")
        store.touch("c1", at=T0)
    assert backend_pids(admin, app_name) == pids and len(pids) == 1


ROUNDS = 8
"""Rounds of every hot-path operation: more than psycopg's prepare threshold (5)."""


def hot_path_rounds(store: Any) -> None:
    """``$connect`` / ``$disconnect`` / notify operations, :data:`ROUNDS` times each."""
    for round_ in range(ROUNDS):
        cid = f"c{round_}"
        assert store.add(new(cid), active_limit=100) is True
        assert store.get(cid).is_active
        assert store.touch(cid, at=T0) is True
        assert cid in store.active_connection_ids(EMAIL, "general")
        assert store.mark_disconnected(cid, at=T0, status_code=1000, reason=None) is True


def prepared_statements(store: Any) -> list[str]:
    conn = store._conn  # the store's live connection (nothing public exposes it; the view is per session)
    return [row[0] for row in conn.execute("SELECT statement FROM pg_prepared_statements", prepare=False)]


def test_pooled_mode_adds_no_options_leaves_no_session_state_and_prepares_nothing(
    pg_database_url: str, admin: psycopg.Connection[Any], app_name: str
) -> None:
    kwargs = connect_kwargs(pg_database_url, connect_timeout_s=3)
    assert (kwargs["connect_timeout"], kwargs["tcp_user_timeout"]) == (3, 3000)  # dead links fail fast
    assert kwargs["keepalives"] == 1
    assert kwargs["options"] == psycopg.conninfo.conninfo_to_dict(pg_database_url)["options"]  # the URL's, untouched
    assert "options" not in connect_kwargs("postgresql://u@127.0.0.1/db", connect_timeout_s=3)

    # The shared server is on 5432 (auto: direct); DB_POOLER=pgbouncer forces the pool-safe protocol.
    store = open_store(f"{pg_database_url}&application_name={app_name}", statement_timeout_ms=300, pooler="pgbouncer")
    try:
        store.migrate()
        assert store.pooled is True
        hot_path_rounds(store)
        [pid] = backend_pids(admin, app_name)
        # Between operations the session is back to the server's defaults: nothing for a pooler to pin.
        row = admin.execute(
            "SELECT state, backend_xid FROM pg_stat_activity WHERE pid = %s", (pid,)
        ).fetchone()
        assert row == ("idle", None)
        conn = store._conn
        assert conn.execute("SHOW statement_timeout").fetchone() == ("0",)
        assert conn.execute("SHOW application_name").fetchone() == (app_name,)
        assert prepared_statements(store) == []  # nothing a transaction pooler could hand to another client
    finally:
        store.close()


def test_direct_mode_sets_the_timeout_once_and_uses_prepared_statements(
    pg_store_with_name: tuple[Any, str]
) -> None:
    store, _ = pg_store_with_name  # statement_timeout_ms=300, on port 5432: auto picks direct
    assert store.pooled is False
    hot_path_rounds(store)
    prepared = prepared_statements(store)
    assert any(ADD_FUNCTION in statement for statement in prepared), prepared  # the $connect call
    assert any(statement.lstrip().startswith("UPDATE websocket_connections SET is_active = FALSE")
               for statement in prepared), prepared  # the $disconnect update
    assert not any("statement_timeout" in statement for statement in prepared)  # no per-statement timeout

    conn = store._conn
    assert conn.execute("SHOW statement_timeout", prepare=False).fetchone() == ("300ms",)  # the session's
    with pytest.raises(psycopg.errors.QueryCanceled, match="statement timeout"):
        conn.execute("SELECT pg_sleep(2)", prepare=False)  # longer than the timeout: cancelled at 300 ms
    # migrate's SET LOCAL (the migration timeout) ends with its transaction: the session keeps 300 ms.
    assert store.migrate() == []
    assert conn.execute("SHOW statement_timeout", prepare=False).fetchone() == ("300ms",)
    assert store.get("c0") is not None  # the same connection goes on


@pytest.mark.parametrize(
    ("url", "pooler", "kind"),
    [
        ("postgresql://u@127.0.0.1:5432/db", "auto", "none"),
        ("postgresql://u@db.example.com/db", "auto", "none"),  # default port
        ("postgresql://u@127.0.0.1:6432/db", "auto", "pgbouncer"),  # pgbouncer's port
        ("postgresql://u@ws.proxy-abc123def456.eu-west-1.rds.amazonaws.com:5432/db", "auto", "rds-proxy"),
        ("postgresql://u@ro.endpoint.proxy-abc123def456.us-east-1.rds.amazonaws.com/db", "auto", "rds-proxy"),
        ("postgresql://u@ws.proxy-abc123def456.cn-north-1.rds.amazonaws.com.cn/db", "auto", "rds-proxy"),
        ("postgresql://u@ws.cluster-abc123def456.eu-west-1.rds.amazonaws.com/db", "auto", "none"),  # Aurora, no proxy
        ("postgresql://u@proxy-host.example.com/db", "auto", "none"),
        ("postgresql://u@a:5432,b:6432/db", "auto", "pgbouncer"),  # any host of a multi-host URL
        ("postgresql://u@127.0.0.1:6432/db", "none", "none"),  # an explicit setting wins
        ("postgresql://u@127.0.0.1:5432/db", "pgbouncer", "pgbouncer"),
        ("postgresql://u@127.0.0.1:5432/db", "rds-proxy", "rds-proxy"),
    ],
)
def test_pooler_auto_detects_pgbouncer_port_and_rds_proxy_hosts(url: str, pooler: str, kind: str) -> None:
    assert pooler_kind(connect_kwargs(url, connect_timeout_s=3), pooler) == kind
    assert PostgresConnectionStore(url, pooler=pooler).pooled is (kind != "none")  # no connection is opened


@pytest.mark.parametrize(
    ("pooler", "timeout_statement"),
    [
        ("pgbouncer", "SET LOCAL statement_timeout = 300; "),
        # RDS Proxy pins a session on SET unless the proxy excludes variable sets: a function call.
        ("rds-proxy", "SELECT set_config('statement_timeout', '300', true); "),
    ],
)
def test_pooled_statements_carry_their_poolers_form_of_the_timeout_and_it_holds(
    pg_database_url: str, admin: psycopg.Connection[Any], app_name: str, pooler: str, timeout_statement: str
) -> None:
    store = open_store(f"{pg_database_url}&application_name={app_name}", statement_timeout_ms=300, pooler=pooler)
    try:
        store.migrate()
        assert store.add(new("c1"), active_limit=5) is True
        [query] = admin.execute(
            "SELECT query FROM pg_stat_activity WHERE application_name = %s", (app_name,)
        ).fetchone()
        assert query.startswith(timeout_statement) and ADD_FUNCTION in query, query
        with psycopg.connect(pg_database_url) as locker:  # holds the lock until rollback
            locker.execute("LOCK TABLE websocket_connections IN ACCESS EXCLUSIVE MODE")
            with pytest.raises(StoreError, match=r"cancelled by statement_timeout \(300 ms"):
                store.get("c1")
            locker.rollback()
        assert store.get("c1") is not None
    finally:
        store.close()


@pytest.mark.parametrize(("env", "pooled"), [({}, False), ({"DB_POOLER": "pgbouncer"}, True)])
def test_the_service_opens_its_store_with_the_db_pooler_setting(pg_database_url: str, env: dict, pooled: bool) -> None:
    from websocket_service.config import Settings
    from websocket_service.service import open_service

    service = open_service(Settings.from_env({"DATABASE_URL": pg_database_url, **env}))
    try:
        assert service.store.pooled is pooled  # type: ignore[attr-defined]
    finally:
        service.store.close()


@pytest.mark.parametrize("bad", ["PGBOUNCER", "pgpool", "", "direct"])
def test_an_unknown_pooler_is_refused_naming_the_setting_and_the_choices(bad: str) -> None:
    with pytest.raises(StoreConfigError, match=r"DB_POOLER \(pooler\) is .*expected one of auto, none, pgbouncer, rds-proxy"):
        open_store("postgresql://u@127.0.0.1:5432/db", pooler=bad)
    with pytest.raises(StoreConfigError, match="DB_POOLER"):
        open_store("sqlite:///:memory:", pooler=bad)  # checked for every backend, not just PostgreSQL


def test_statement_timeout_cancels_a_blocked_statement_with_a_clear_error(
    pg_store_with_name: tuple[Any, str], pg_database_url: str, admin: psycopg.Connection[Any]
) -> None:
    store, app_name = pg_store_with_name
    store.add(new("c1"), active_limit=5)
    [pid] = backend_pids(admin, app_name)
    with psycopg.connect(pg_database_url) as locker:  # not autocommit: holds the lock until rollback
        locker.execute("LOCK TABLE websocket_connections IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(StoreError, match=r"cancelled by statement_timeout \(300 ms, DB_STATEMENT_TIMEOUT_MS\)") as info:
            store.get("c1")
        locker.rollback()
    assert not isinstance(info.value, StoreConnectError)  # the connection is fine: callers keep it

    assert store.get("c1") is not None
    assert backend_pids(admin, app_name) == [pid]  # a timeout is not a lost connection: no reconnect


def test_expire_idle_skips_rows_locked_by_a_concurrent_cleanup(
    pg_store_with_name: tuple[Any, str], pg_database_url: str
) -> None:
    store, _ = pg_store_with_name
    for i in range(3):
        store.add(new(f"idle-{i}", email=f"u{i}@example.com"), active_limit=5)
    cutoff = T0 + timedelta(hours=2)
    with psycopg.connect(pg_database_url) as other_cleanup:
        other_cleanup.execute("SELECT 1 FROM websocket_connections WHERE connection_id = 'idle-0' FOR UPDATE")
        # Waiting for the locked row would hit the 300 ms statement_timeout; SKIP LOCKED does not wait.
        assert store.expire_idle(idle_before=cutoff, at=cutoff, batch_size=10) == 2
        other_cleanup.rollback()
    assert store.expire_idle(idle_before=cutoff, at=cutoff, batch_size=10) == 1


@pytest.mark.parametrize(("pooler", "trip"), [("none", "Sync"), ("pgbouncer", "Query")])
def test_add_is_one_round_trip_to_the_server(pg_database_url: str, pooler: str, trip: str, tmp_path: Path) -> None:
    store = open_store(pg_database_url, pooler=pooler)
    try:
        store.migrate()
        store.add(new("c0"), active_limit=5)  # connected: only the adds below are traced
        trace = tmp_path / "libpq.trace"
        pgconn = store._conn.pgconn  # the store's live connection (nothing public exposes it)
        with trace.open("w") as out:
            pgconn.trace(out.fileno())
            pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
            try:
                assert store.add(new("c1"), active_limit=5) is True
                assert store.add(new("c2"), active_limit=2) is False  # refused by the cap: also one trip
            finally:
                pgconn.untrace()
    finally:
        store.close()
    sent = [line.split("\t")[2] for line in trace.read_text().splitlines() if line.startswith("F\t")]
    # Each Sync (extended protocol) or Query (simple protocol) waits for the server's ReadyForQuery.
    # Direct: one extended-protocol call per add. Pooled: one simple-protocol query per add (timeout
    # + call), never a server-side prepared statement.
    assert [m for m in sent if m in ("Sync", "Query")] == [trip, trip], sent
    assert ("Parse" in sent) is (pooler == "none"), sent


def wait_for_lock_wait(admin: psycopg.Connection[Any], app_name: str, timeout_s: float = 10.0) -> None:
    """Return once the backend of ``app_name`` waits for an advisory lock; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    query = "SELECT 1 FROM pg_stat_activity WHERE application_name = %s AND wait_event = 'advisory'"
    while admin.execute(query, (app_name,)).fetchone() is None:
        if time.monotonic() > deadline:
            pytest.fail(f"the add of {app_name} never waited for the email's advisory lock")
        time.sleep(0.01)


def test_an_add_waiting_for_the_email_lock_counts_the_row_the_holder_commits(
    pg_database_url: str, admin: psycopg.Connection[Any], app_name: str
) -> None:
    # Deterministic form of the race: a statement whose snapshot predates the lock wait (one INSERT
    # taking the lock in a CTE) would miss the holder's row and exceed the cap.
    store = open_store(f"{pg_database_url}&application_name={app_name}")
    store.migrate()
    try:
        with psycopg.connect(pg_database_url) as holder, ThreadPoolExecutor(1) as pool:
            # Not autocommit: the holder keeps the email's lock and its row uncommitted until commit().
            held = holder.execute(
                f"SELECT {ADD_FUNCTION}('held', %s, 'general', %s, NULL, NULL, NULL, NULL, 1)", (EMAIL, T0)
            ).fetchone()
            assert held == (True,)
            waiting = pool.submit(store.add, new("waiting"), active_limit=1)
            wait_for_lock_wait(admin, app_name)
            holder.commit()
            assert waiting.result() is False
        assert store.active_connection_ids(EMAIL, "general") == ["held"]
    finally:
        store.close()


def test_a_keep_waits_for_an_earlier_uncommitted_keep_of_the_same_email_and_type(
    pg_database_url: str, admin: psycopg.Connection[Any], app_name: str
) -> None:
    # Ids must commit in id order per (email, type): a reader that saw id N must never find a
    # smaller id later (replay "after N" would miss it). A bare identity insert would not wait here.
    store = open_store(f"{pg_database_url}&application_name={app_name}")
    store.migrate()
    message = NewMessage(EMAIL, "general", "m", False, T0, T0 + timedelta(minutes=15))
    other_store = open_store(pg_database_url)
    try:
        with psycopg.connect(pg_database_url) as holder, ThreadPoolExecutor(1) as pool:
            (held,) = holder.execute(
                f"SELECT {KEEP_FUNCTION}(%s, 'general', 'held'::bytea, false, %s, %s)",
                (EMAIL, T0, T0 + timedelta(minutes=15)),
            ).fetchone()
            waiting = pool.submit(store.keep_message, message)
            wait_for_lock_wait(admin, app_name)
            bob = NewMessage("bob@example.com", "general", "b", False, T0, T0 + timedelta(minutes=1))
            assert other_store.keep_message(bob) > held  # another email does not wait for that lock
            # (A replay of EMAIL would now wait for the holder's commit: see the replay test below.)
            holder.commit()
            assert waiting.result() > held
        assert [m.body for m in store.messages_after(EMAIL, "general", after_id=0, unexpired_at=T0, limit=10)] == [
            "held", "m"]
    finally:
        store.close()
        other_store.close()


@pytest.mark.parametrize("pooler", ["none", "pgbouncer"])
def test_a_replay_waits_for_an_uncommitted_keep_and_list_and_sees_its_message(
    pg_database_url: str, admin: psycopg.Connection[Any], app_name: str, pooler: str
) -> None:
    # The race migration 0004 closes: ws_keep_and_list lists the connections BEFORE its insert
    # commits. A page whose $connect commits in between is not in the list, so its replay (which
    # runs after its connect) must wait for that commit and then see the message.
    replayer = open_store(f"{pg_database_url}&application_name={app_name}", pooler=pooler)
    replayer.migrate()
    page = open_store(pg_database_url)
    try:
        with psycopg.connect(pg_database_url) as keeper, ThreadPoolExecutor(1) as pool:
            # Not autocommit: the keep stays uncommitted, holding its lock, until commit().
            kept, listed = keeper.execute(
                f"SELECT kept_id, connection_ids FROM {KEEP_AND_LIST_FUNCTION}(%s, 'general', 'held'::bytea, "
                "false, %s, %s)", (EMAIL, T0, T0 + timedelta(minutes=15)),
            ).fetchone()
            assert listed == []
            assert page.add(new("late"), active_limit=5) is True  # a $connect does not wait for the keep
            waiting = pool.submit(replayer.messages_after, EMAIL, "general", after_id=0, unexpired_at=T0, limit=10)
            wait_for_lock_wait(admin, app_name)
            assert not waiting.done()
            # Other (email, type) pairs do not wait for that lock.
            assert page.messages_after("bob@example.com", "general", after_id=0, unexpired_at=T0, limit=10) == []
            keeper.commit()
            assert [(m.id, m.body) for m in waiting.result(timeout=10)] == [(kept, "held")]
    finally:
        replayer.close()
        page.close()


def test_before_migration_0004_keep_and_list_says_so_and_then_does_not_ask_again_for_a_while(
    pg_database_url: str, app_name: str
) -> None:
    from tests.functional.helpers import migrate_up_to

    now = [0.0]
    store = PostgresConnectionStore(f"{pg_database_url}&application_name={app_name}", monotonic=lambda: now[0])
    try:
        assert migrate_up_to(store, 3) == [1, 2, 3]
        message = NewMessage(EMAIL, "general", "m", False, T0, T0 + timedelta(minutes=15))
        with pytest.raises(MissingFunctionError, match=f"{KEEP_AND_LIST_FUNCTION}.*run the migrate action") as first:
            store.keep_message_and_list(message)
        assert first.value.function == KEEP_AND_LIST_FUNCTION
        store.close()  # no connection: a second check would have to dial, which the next call must not do
        opens = []
        real_open = store._open
        store._open = lambda: opens.append(1) or real_open()  # type: ignore[method-assign]
        now[0] += MISSING_FUNCTION_RECHECK_S - 1
        with pytest.raises(MissingFunctionError, match="less than 60 s ago"):
            store.keep_message_and_list(message)
        assert opens == []
        assert store.messages_after(EMAIL, "general", after_id=0, unexpired_at=T0, limit=10) == []  # no lock function needed
        store.migrate()
        now[0] += 2  # the recheck is due: the migrated function is found
        kept, ids = store.keep_message_and_list(message)
        assert ids == [] and [m.id for m in store.messages_after(EMAIL, "general", after_id=0, unexpired_at=T0,
                                                                  limit=10)] == [kept]
    finally:
        store.close()


@pytest.mark.parametrize("pooler", ["none", "pgbouncer"])
def test_a_keep_commits_without_waiting_for_the_wal_flush_and_nothing_after_it_does(
    pg_database_url: str, pooler: str
) -> None:
    """Notify must not wait a fsync per message before it pushes: ws_keep_message sets
    ``synchronous_commit`` off for its own transaction (a statement trigger records the setting
    each write runs under); the next statement on the same connection runs with the default."""
    store = open_store(pg_database_url, pooler=pooler)
    store.migrate()
    try:
        with psycopg.connect(pg_database_url, autocommit=True) as admin:
            server_default = admin.execute("SHOW synchronous_commit").fetchone()[0]
            assert server_default != "off"
            record_commit_modes(admin, ("websocket_messages", "websocket_connections"), ops="INSERT")
            store.keep_message(NewMessage(EMAIL, "general", "m", False, T0, T0 + timedelta(minutes=15)))
            assert store.add(new("c1"), active_limit=5) is True
            modes = [(tab, mode) for tab, _, mode in commit_modes_since(admin)]
        assert modes == [("websocket_messages", "off"), ("websocket_connections", server_default)]
    finally:
        store.close()


def test_add_before_the_function_exists_says_to_run_migrate(pg_store: Any, pg_database_url: str) -> None:
    with psycopg.connect(pg_database_url, autocommit=True) as conn:  # as if the code were deployed before migrate
        conn.execute(f"DROP FUNCTION {ADD_FUNCTION}")
    with pytest.raises(StoreError, match=f"have not created {ADD_FUNCTION} yet: run the migrate action first"):
        pg_store.add(new("c1"), active_limit=5)


def test_unreachable_server_gives_a_store_error_without_the_password() -> None:
    store = open_store(f"postgresql://postgres:{PASSWORD}@127.0.0.1:1/test", connect_timeout_s=2)
    assert PASSWORD not in repr(store)
    with pytest.raises(StoreError) as caught:
        store.get("c1")
    message = str(caught.value)
    assert "could not connect to PostgreSQL at postgres@127.0.0.1:1/test" in message
    assert "Check DATABASE_URL" in message
    assert PASSWORD not in message


def test_unknown_database_gives_a_store_error_naming_it(postgres_url: str) -> None:
    host = psycopg.conninfo.conninfo_to_dict(postgres_url).get("host", "127.0.0.1")
    store = open_store(f"postgresql://postgres:{PASSWORD}@{host}/no_such_db_wst")
    with pytest.raises(StoreError, match='database "no_such_db_wst" does not exist') as caught:
        store.migrate()
    assert PASSWORD not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://postgres:{PASSWORD}@127.0.0.1/test?no_such_option=1",
        f"postgresql://postgres:{PASSWORD}@[::1/test",
        f"postgresql://postgres:{PASSWORD}%zz@127.0.0.1/test",
    ],
)
def test_unparsable_url_is_a_config_error_without_the_password(url: str) -> None:
    with pytest.raises(StoreConfigError, match="DATABASE_URL is not a valid PostgreSQL URL") as caught:
        open_store(url)
    assert PASSWORD not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__  # libpq's text echoes the URL


def test_bad_port_fails_on_first_use_with_a_store_error_without_the_password() -> None:
    store = open_store(f"postgresql://postgres:{PASSWORD}@127.0.0.1:notaport/test")
    with pytest.raises(StoreError, match="could not connect to PostgreSQL") as caught:
        store.get("c1")
    assert PASSWORD not in str(caught.value)



LAMBDA_TIMEOUT_MS = 30_000
"""The shortest timeout the ops function (which runs migrate) may have: ``opsFunctionTimeoutSeconds`` minimum."""


def test_migration_lock_wait_fits_in_the_function_timeout() -> None:
    # Connecting (DB_CONNECT_TIMEOUT_SECONDS, default 5 s) plus the lock wait must leave time to answer.
    assert MIGRATION_TIMEOUT_MS + 5_000 < LAMBDA_TIMEOUT_MS


def test_migrate_blocked_by_another_migrator_gives_up_with_a_clear_error(pg_database_url: str) -> None:
    store = PostgresConnectionStore(pg_database_url, migration_timeout_ms=300)
    try:
        with psycopg.connect(pg_database_url) as other_migrator:  # not autocommit: holds the lock until rollback
            other_migrator.execute(MIGRATION_LOCK)
            with pytest.raises(StoreError, match="another migration holds the lock; retry") as info:
                store.migrate()
            other_migrator.rollback()
        assert "300 ms" in str(info.value)
        assert store.migrate() == ALL_VERSIONS  # nothing was half-applied; the same store recovers
    finally:
        store.close()


def test_a_migrator_in_another_schema_of_the_database_does_not_block_migrate(
    pg_database_url: str, postgres_url: str
) -> None:
    """The lock is per schema: stages sharing one database (and test runs sharing one server)
    migrate independently, while a migrator in the same schema still blocks (test above)."""
    store = PostgresConnectionStore(pg_database_url, migration_timeout_ms=300)
    try:
        with psycopg.connect(postgres_url) as elsewhere:  # the public schema's migration lock
            assert elsewhere.execute("SELECT current_schema()").fetchone()[0] == "public"
            elsewhere.execute(MIGRATION_LOCK)
            assert store.migrate() == ALL_VERSIONS
            elsewhere.rollback()
    finally:
        store.close()


def test_a_migration_statement_cancelled_by_the_migration_timeout_reports_that_timeout(
    pg_store: Any, pg_database_url: str
) -> None:
    # pg_store applied everything; a table lock held elsewhere blocks migrate's read of
    # schema_migrations (after it got the migration lock), until the migration timeout fires.
    store = open_store(pg_database_url, statement_timeout_ms=5000, migration_timeout_ms=300)
    try:
        with psycopg.connect(pg_database_url) as other:  # not autocommit: holds the lock until rollback
            other.execute("LOCK TABLE schema_migrations IN ACCESS EXCLUSIVE MODE")
            with pytest.raises(StoreError) as info:
                store.migrate()
            other.rollback()
        message = str(info.value)
        assert "cancelled by the migration timeout (300 ms" in message
        assert "DB_STATEMENT_TIMEOUT_MS" not in message and "5000 ms" not in message
        assert "wsctl migrate --timeout" in message
        assert store.migrate() == []  # the same store still works
    finally:
        store.close()


def test_open_store_passes_the_migration_timeout_to_postgres(pg_database_url: str) -> None:
    store = open_store(pg_database_url, migration_timeout_ms=250)
    try:
        with psycopg.connect(pg_database_url) as other_migrator:
            other_migrator.execute(MIGRATION_LOCK)
            with pytest.raises(StoreError, match="migrate waited 250 ms for the migration lock"):
                store.migrate()
            other_migrator.rollback()
    finally:
        store.close()



def test_failing_to_open_the_connection_is_a_store_connect_error(postgres_url: str) -> None:
    refused = open_store(f"postgresql://postgres:{PASSWORD}@127.0.0.1:1/test", connect_timeout_s=2)
    with pytest.raises(StoreConnectError, match="could not connect to PostgreSQL"):
        refused.get("c1")
    host = psycopg.conninfo.conninfo_to_dict(postgres_url).get("host", "127.0.0.1")
    with pytest.raises(StoreConnectError, match='role "no_such_role_wst" does not exist'):
        open_store(f"postgresql://no_such_role_wst@{host}/test").get("c1")
