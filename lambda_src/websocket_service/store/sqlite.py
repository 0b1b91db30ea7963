"""SQLite backend (stdlib ``sqlite3``): the embedded default for local runs and tests.

One connection per store, opened lazily, in autocommit mode with WAL journaling and a busy
timeout, so several processes (the local gateway, ``wsctl``, tests) can share one file. ``add`` is
one INSERT: SQLite takes the database write lock before a write statement reads anything (waiting
up to the busy timeout), so its count of active rows and its insert are atomic. ``migrate`` runs in
a ``BEGIN IMMEDIATE`` transaction, which takes the write lock up front. Datetimes are stored
as fixed-width ISO-8601 UTC text, so comparing the text compares the instants.
"""
from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from typing import Any

from .base import StoreConfigError, StoreConnectError, StoreError
from .schema import MigrationFileError
from .sql import ADD_CAPPED, KEEP_MESSAGE, MESSAGES_TABLE, TABLE, SqlConnectionStore, missing_schema_hint

MEMORY = ":memory:"
"""Path of an in-memory database (private to the store; it is empty again after ``close``)."""

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


class SqliteOpenError(StoreConnectError, StoreConfigError):
    """SQLite cannot open the database file: a connect failure, and a configuration one (the path
    in ``DATABASE_URL`` names a folder or a file this process may not write)."""


def encode_datetime(value: datetime) -> str:
    """``value`` (timezone-aware) as the stored text, e.g. ``2026-11-25T22:39:53.000000Z``."""
    utc = value if value.tzinfo is timezone.utc else value.astimezone(timezone.utc)
    return utc.isoformat(timespec="microseconds")[:-6] + "Z"  # minus "+00:00"


@cache
def _sqlite_sql(sql: str) -> str:
    """Rewrite psycopg's ``%(name)s`` placeholders to SQLite's ``:name``."""
    return _PLACEHOLDER.sub(r":\1", sql)


_AS_IS = frozenset({str, int, float, bool, bytes, type(None)})
"""Parameter types sqlite3 binds as they are (the common case: no :func:`_encode` call)."""


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return encode_datetime(value)
    if isinstance(value, (list, tuple)):
        return json.dumps(list(value))  # read back with json_each()
    return value


def _enable_wal(conn: sqlite3.Connection, attempts: int = 3) -> None:
    """Switch the file to WAL (a no-op once it is). Two connections switching a brand-new file
    at once can deadlock, and SQLite then answers SQLITE_BUSY without waiting; by the retry the
    winner has switched the file or holds a lock the busy timeout does wait for."""
    for attempt in range(1, attempts + 1):
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorname", "") != "SQLITE_BUSY" or attempt == attempts:
                raise


_NO_SUCH_TABLE = "no such table: "


class _SqliteSession:
    """:class:`~.sql.Session` over a sqlite3 connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def _cursor(self, sql: str, params: Mapping[str, Any] | None) -> sqlite3.Cursor:
        encoded = dict(params) if params else {}
        for key, value in encoded.items():  # replacing values while iterating is fine: no key is added
            if type(value) not in _AS_IS:
                encoded[key] = _encode(value)
        return self._conn.execute(_sqlite_sql(sql), encoded)

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return self._cursor(sql, params).fetchall()

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        return self._cursor(sql, params).rowcount

    def script(self, sql: str) -> None:
        # executescript() would COMMIT the surrounding migration transaction, so run the
        # statements one by one.
        statement = ""
        for line in sql.splitlines(keepends=True):
            if not statement and (not line.strip() or line.lstrip().startswith("--")):
                continue
            statement += line
            if sqlite3.complete_statement(statement):
                self._conn.execute(statement)
                statement = ""
        if statement.strip():
            raise MigrationFileError(f"migration script ends with an incomplete statement: {statement.strip()[:80]!r}")


class SqliteConnectionStore(SqlConnectionStore[sqlite3.Connection]):
    """:class:`~.base.ConnectionStore` on a SQLite file (or ``:memory:``)."""

    dialect = "sqlite"
    skip_locked = ""  # writers are serialised by the database write lock
    cleanup_commit = ""  # one statement per batch, committed as any other
    replay_lock = ""  # keep_message_and_list holds the write lock, so no $connect commits meanwhile
    id_in_list = "IN (SELECT value FROM json_each(%(ids)s))"
    schema_migrations_ddl = (
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER NOT NULL PRIMARY KEY, "
        "name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    driver_errors = (sqlite3.Error,)

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = 5000) -> None:
        """Remember the settings; the file (and its folders) is created on first use."""
        super().__init__()
        self.path = str(path)
        """The database file, or :data:`MEMORY`."""
        self._busy_timeout_ms = busy_timeout_ms

    def __repr__(self) -> str:
        return f"SqliteConnectionStore({self.path!r})"

    def _open(self) -> sqlite3.Connection:
        if self.path != MEMORY:
            try:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreConfigError(
                    f"cannot create the folder of the SQLite database {self.path!r} from DATABASE_URL: "
                    f"{exc.strerror or exc}. Use sqlite:///relative/path.db or sqlite:////absolute/path.db "
                    "in a writable folder."
                ) from exc
        conn: sqlite3.Connection | None = None
        try:
            conn = sqlite3.connect(
                self.path, timeout=self._busy_timeout_ms / 1000, isolation_level=None, check_same_thread=False
            )
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
            if self.path != MEMORY:
                _enable_wal(conn)
                conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            raise SqliteOpenError(
                f"cannot open the SQLite database {self.path!r} from DATABASE_URL: {exc}. "
                "Check that the path names a file (not a folder) that this process may write."
            ) from exc
        return conn

    def _session(self, conn: sqlite3.Connection) -> _SqliteSession:
        return _SqliteSession(conn)

    @contextmanager
    def _write_transaction(self, conn: sqlite3.Connection) -> Iterator[None]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise

    def _add_capped(self, session: Any, params: Mapping[str, Any]) -> bool:
        # Atomic on its own: the statement holds the write lock from before its count to its commit.
        return session.execute(ADD_CAPPED, params) == 1

    def _keep_message(self, session: Any, params: Mapping[str, Any]) -> int:
        # Ids commit in order on their own: the insert holds the write lock until it commits.
        return int(session.rows(KEEP_MESSAGE + "RETURNING id", params)[0][0])

    def _lock_email_of(self, session: Any, connection_id: str) -> None:
        """Nothing to do: the write transaction (``BEGIN IMMEDIATE``) holds the database write lock."""

    def _missing_table(self, error: Exception) -> str | None:
        message = str(error)
        if not isinstance(error, sqlite3.OperationalError) or not message.startswith(_NO_SUCH_TABLE):
            return None
        return message.removeprefix(_NO_SUCH_TABLE).strip().rpartition(".")[2] or None

    def _lock_migrations(self, session: Any) -> None:
        """Nothing to do: ``BEGIN IMMEDIATE`` already holds the database write lock."""

    def _decode_datetime(self, value: str) -> datetime:
        return datetime.fromisoformat(value).astimezone(timezone.utc)

    def _connection_lost(self, conn: sqlite3.Connection, error: Exception) -> bool:
        return False  # a local file does not drop

    def _close_raw(self, conn: sqlite3.Connection) -> None:
        conn.close()

    def _error(self, operation: str, error: Exception, *, lost: bool) -> StoreError:
        if getattr(error, "sqlite_errorname", "") == "SQLITE_BUSY":
            return StoreError(
                f"SQLite {operation} waited {self._busy_timeout_ms} ms for the write lock on {self.path!r} "
                "and gave up: another process holds a long transaction on this file."
            )
        message = str(error)
        return StoreError(f"SQLite {operation} failed on {self.path!r}: {message}.{missing_schema_hint(message, (TABLE, MESSAGES_TABLE))}")
