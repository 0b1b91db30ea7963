"""SQLite-only behaviour: the file on disk, WAL, locking and path errors."""
from __future__ import annotations

import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import pytest

from websocket_service.store import (
    ConnectionStore,
    NewConnection,
    StoreConfigError,
    StoreConnectError,
    StoreError,
    open_store,
)
from websocket_service.store.schema import load_migrations

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
ALL_VERSIONS = [m.version for m in load_migrations("sqlite")]


def new(connection_id: str) -> NewConnection:
    return NewConnection(
        connection_id=connection_id, user_email="ada@example.com", connection_type="general", connected_at=T0
    )


def db_path(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


def test_database_file_uses_wal_journaling(sqlite_store: ConnectionStore, sqlite_database_url: str) -> None:
    with sqlite3.connect(db_path(sqlite_database_url)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_datetimes_are_stored_as_fixed_width_utc_text(sqlite_store: ConnectionStore, sqlite_database_url: str) -> None:
    sqlite_store.add(new("c1"), active_limit=5)  # T0 has no microseconds: still six digits
    with sqlite3.connect(db_path(sqlite_database_url)) as conn:
        row = conn.execute("SELECT connected_at, is_active FROM websocket_connections").fetchone()
    assert row == ("2026-11-25T12:00:00.000000Z", 1)


def test_missing_folders_of_the_database_file_are_created(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "connections.db"
    store = open_store(f"sqlite:///{target}")
    try:
        assert store.migrate() == ALL_VERSIONS
    finally:
        store.close()
    assert target.is_file()


def test_relative_path_is_relative_to_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store("sqlite:///data/connections.db")
    try:
        store.migrate()
    finally:
        store.close()
    assert (tmp_path / "data" / "connections.db").is_file()


def test_path_below_a_regular_file_gives_a_config_error_naming_the_path(tmp_path: Path) -> None:
    (tmp_path / "not-a-folder").write_text("x")
    bad = tmp_path / "not-a-folder" / "connections.db"
    store = open_store(f"sqlite:///{bad}")
    with pytest.raises(StoreConfigError, match="cannot create the folder of the SQLite database") as caught:
        store.migrate()
    assert str(bad) in str(caught.value) and "DATABASE_URL" in str(caught.value)


def test_path_that_is_a_folder_gives_a_config_error(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}")
    with pytest.raises(StoreConfigError, match="cannot open the SQLite database .* names a file") as caught:
        store.migrate()
    assert isinstance(caught.value, StoreConnectError)  # a failed open: the handler rebuilds its service


def test_in_memory_database_works_and_is_private_to_the_store() -> None:
    store = open_store("sqlite:///:memory:")
    assert store.migrate() == ALL_VERSIONS
    assert store.add(new("c1"), active_limit=5) is True
    assert store.get("c1") is not None
    store.close()
    with pytest.raises(StoreError, match="run the migrate action"):  # a new, empty database
        store.get("c1")


def test_a_writer_holding_the_lock_too_long_gives_a_clear_error(sqlite_database_url: str) -> None:
    store = open_store(sqlite_database_url, statement_timeout_ms=200)
    store.migrate()
    holder = sqlite3.connect(db_path(sqlite_database_url), isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreError, match="waited 200 ms for the write lock"):
            store.add(new("c1"), active_limit=5)
        holder.execute("ROLLBACK")
        assert store.add(new("c1"), active_limit=5) is True
    finally:
        holder.close()
        store.close()


def test_an_add_waiting_for_the_write_lock_counts_the_row_the_holder_commits(sqlite_database_url: str) -> None:
    # add is one INSERT that takes the write lock before it counts. Counting first (a read, which
    # never waits in WAL mode) would miss the holder's row and exceed the cap. The pause only makes
    # the add start while the lock is held; a correct add returns False whenever it starts.
    store = open_store(sqlite_database_url)
    store.migrate()
    holder = sqlite3.connect(db_path(sqlite_database_url), isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        holder.execute(
            "INSERT INTO websocket_connections (connection_id, user_email, connection_type, connected_at, "
            "last_activity_at) VALUES ('held', 'ada@example.com', 'general', ?, ?)",
            ("2026-11-25T12:00:00.000000Z",) * 2,
        )
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(store.add, new("waiting"), active_limit=1)
            time.sleep(0.2)
            holder.execute("COMMIT")
            assert waiting.result() is False
        assert store.active_connection_ids("ada@example.com", "general") == ["held"]
    finally:
        holder.close()
        store.close()
