"""The SQL both backends share: every query, the migration runner and the retry discipline.

:class:`SqlConnectionStore` implements the whole :class:`~.base.ConnectionStore` protocol once,
so PostgreSQL and SQLite cannot drift apart. A backend supplies the driver: how to open its one
connection, how to run a statement (:class:`Session`), how to open a write transaction, how to run
the capped ``add`` as one atomic statement, and how to describe driver errors.

Queries are written with psycopg's named placeholders (``%(name)s``); the SQLite session rewrites
them to ``:name``. Queries avoid ``%`` literals and ``::`` casts so the rewrite stays trivial.
"""
from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timezone
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from .base import (
    GONE_REASON,
    IDLE_EXPIRED_REASON,
    Connection,
    KeptMessage,
    MissingTableError,
    NewConnection,
    NewMessage,
    StoreError,
)

T = TypeVar("T")
RawConnection = TypeVar("RawConnection")

TABLE = "websocket_connections"
COLUMNS = (
    "connection_id, user_email, connection_type, is_active, connected_at, last_activity_at, "
    "disconnected_at, disconnect_status_code, disconnect_reason, source_ip, user_agent, "
    "domain_name, stage"
)
_DATETIME_COLUMNS = (4, 5, 6)  # connected_at, last_activity_at, disconnected_at in COLUMNS

ADD_CAPPED = f"""
INSERT INTO {TABLE} (connection_id, user_email, connection_type, is_active, connected_at,
                     last_activity_at, source_ip, user_agent, domain_name, stage)
SELECT %(connection_id)s, %(user_email)s, %(connection_type)s, TRUE, %(connected_at)s,
       %(connected_at)s, %(source_ip)s, %(user_agent)s, %(domain_name)s, %(stage)s
WHERE (SELECT count(*) FROM {TABLE}
       WHERE user_email = %(user_email)s AND is_active
         AND connection_id <> %(connection_id)s) < %(active_limit)s
ON CONFLICT (connection_id) DO UPDATE SET
    user_email = excluded.user_email, connection_type = excluded.connection_type,
    is_active = TRUE, connected_at = excluded.connected_at,
    last_activity_at = excluded.last_activity_at, disconnected_at = NULL,
    disconnect_status_code = NULL, disconnect_reason = NULL, source_ip = excluded.source_ip,
    user_agent = excluded.user_agent, domain_name = excluded.domain_name, stage = excluded.stage
"""  # nosec B608 # only constants are formatted in; values are bound parameters
"""Insert (or replace) a connection unless its email has ``active_limit`` other active rows; changes
one row or none. Atomic only where the statement is serialised per email before it reads: SQLite
runs it as is (a write statement takes the database write lock first); PostgreSQL runs a copy of it
inside ``ws_add_connection()`` after an advisory lock (migration 0001);
``tests/contract/test_migrations.py`` checks that the two copies match."""
MESSAGES_TABLE = "websocket_messages"
MESSAGES_MIGRATION = "0002_create_messages"
"""The migration that creates :data:`MESSAGES_TABLE` (named in the warnings of code that runs
before it, e.g. during a deploy)."""
MESSAGE_COLUMNS = "id, user_email, connection_type, body, is_json, created_at, expires_at"
_MESSAGE_DATETIME_COLUMNS = (5, 6)  # created_at, expires_at in MESSAGE_COLUMNS
KEEP_MESSAGE = f"""
INSERT INTO {MESSAGES_TABLE} (user_email, connection_type, body, is_json, created_at, expires_at)
VALUES (%(user_email)s, %(connection_type)s, %(body)s, %(is_json)s, %(created_at)s, %(expires_at)s)
"""  # nosec B608 # only constants are formatted in; values are bound parameters
"""Keep one message for replay. SQLite runs it as is plus ``RETURNING id`` (ids commit in order: the
write lock serialises writers); PostgreSQL runs a copy inside ``ws_keep_message()`` after an
advisory lock on the email and type (migration 0002), so ids of one email and type commit in order
there too; ``tests/contract/test_migrations.py`` checks that the two copies match."""
_GET_MESSAGE = f"SELECT {MESSAGE_COLUMNS} FROM {MESSAGES_TABLE} WHERE id = %(id)s"  # nosec B608 # only constants are formatted in; values are bound parameters
_MESSAGES_AFTER = f"""
SELECT {MESSAGE_COLUMNS} FROM {MESSAGES_TABLE}
WHERE user_email = %(user_email)s AND connection_type = %(connection_type)s AND id > %(after_id)s
  AND expires_at > %(unexpired_at)s
ORDER BY id LIMIT %(limit)s
"""  # nosec B608 # only constants are formatted in; values are bound parameters
_EXPIRED_MESSAGES = "expires_at < %(expired_before)s"
_MARK_DISCONNECTED = f"""
UPDATE {TABLE} SET is_active = FALSE, disconnected_at = %(at)s,
       disconnect_status_code = %(status_code)s, disconnect_reason = %(reason)s
WHERE connection_id = %(connection_id)s AND is_active
"""  # nosec B608 # only constants are formatted in; values are bound parameters
_REACTIVATABLE = (
    "NOT is_active AND disconnect_status_code IS NULL AND disconnect_reason IN (%(gone)s, %(idle_expired)s)"
)
"""Inactive without a recorded ``$disconnect``: marked by mark_gone (410) or expire_idle only. Both
leave ``disconnect_status_code`` NULL; a ``$disconnect`` from API Gateway always carries one."""
_RECORD_LATE_DISCONNECT = f"""
UPDATE {TABLE} SET is_active = FALSE, disconnected_at = %(at)s,
       disconnect_status_code = %(status_code)s, disconnect_reason = %(reason)s
WHERE connection_id = %(connection_id)s AND (is_active OR ({_REACTIVATABLE}))
"""  # nosec B608 # only constants are formatted in; values are bound parameters
_REACTIVATE = f"""
UPDATE {TABLE} SET is_active = TRUE, last_activity_at = %(at)s, disconnected_at = NULL,
       disconnect_reason = NULL
WHERE connection_id = %(connection_id)s AND {_REACTIVATABLE}
  AND (SELECT count(*) FROM {TABLE} other
       WHERE other.user_email = {TABLE}.user_email AND other.is_active
         AND other.connection_id <> %(connection_id)s) < %(active_limit)s
"""  # nosec B608 # only constants are formatted in; values are bound parameters
"""Reactivate one row inactive without a recorded ``$disconnect`` unless its email has
``active_limit`` other active rows. Atomic per email like :data:`ADD_CAPPED`: SQLite serialises
the statement by its write lock; PostgreSQL runs it after the same advisory lock on the email that
``ws_add_connection()`` takes (:meth:`SqlConnectionStore._lock_email_of`)."""
_TOUCH = f"UPDATE {TABLE} SET last_activity_at = %(at)s WHERE connection_id = %(connection_id)s AND is_active"  # nosec B608 # only constants are formatted in; values are bound parameters
_GET = f"SELECT {COLUMNS} FROM {TABLE} WHERE connection_id = %(connection_id)s"  # nosec B608 # only constants are formatted in; values are bound parameters
ACTIVE_IDS = f"""
SELECT connection_id FROM {TABLE}
WHERE user_email = %(user_email)s AND connection_type = %(connection_type)s AND is_active
ORDER BY connected_at, connection_id
"""  # nosec B608 # only constants are formatted in; values are bound parameters
"""The active connections of one email and type, oldest first. PostgreSQL also runs a copy inside
``ws_keep_and_list()`` (migration 0004); ``tests/contract/test_migrations.py`` checks that the two
copies match."""
_IDLE = "is_active AND last_activity_at < %(idle_before)s"
_PURGEABLE = "NOT is_active AND disconnected_at < %(disconnected_before)s"
_RECORD_MIGRATION = (
    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (%(version)s, %(name)s, %(applied_at)s)"
)


class Session(Protocol):
    """One backend connection, as the shared queries use it."""

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Run a query and return all its rows."""

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """Run a statement and return the number of rows it changed."""

    def script(self, sql: str) -> None:
        """Run a migration script (several statements, no parameters)."""


def as_utc(value: datetime, name: str) -> datetime:
    """``value`` converted to UTC; naive datetimes are refused (they would be stored ambiguously)."""
    if value.tzinfo is timezone.utc:  # the service's clock: nothing to check or convert
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime (got naive {value.isoformat()})")
    return value.astimezone(timezone.utc)


def _positive(value: int, name: str, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum} (got {value!r})")
    return value


def _message_id(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"message_id must be an integer (got {value!r})")
    return value


class SqlConnectionStore(ABC, Generic[RawConnection]):
    """The :class:`~.base.ConnectionStore` protocol on top of one lazily opened DB-API connection.

    Thread-safe: one lock serialises the operations of an instance (the local gateway calls the
    handler from worker threads; in Lambda there is one request at a time anyway).
    """

    dialect: ClassVar[str]
    """Suffix of this backend's migration files (``NNNN_name.{dialect}.sql``)."""
    skip_locked: ClassVar[str]
    """Row-locking clause for the batched cleanup sub-selects ('' where writers are serialised)."""
    cleanup_commit: ClassVar[str]
    """Statement run first in each cleanup batch's own transaction so that its commit does not wait
    for the WAL flush ('' where there is no such setting: the batch then runs as one statement).
    A batch lost in a crash is redone by the next run, and ``$connect`` commits no longer queue
    behind a fsync per cleanup batch. Transaction-local: no other operation is affected."""
    replay_lock: ClassVar[str]
    """Statement run first in ``messages_after``'s own transaction: waits for every uncommitted
    :meth:`keep_message_and_list` of the email and type (see there); '' where a write transaction
    already excludes readers of what it has not committed from seeing a connection it has not
    listed (the read then runs as one statement)."""
    id_in_list: ClassVar[str]
    """SQL fragment testing ``connection_id`` against the ``%(ids)s`` parameter (a list)."""
    schema_migrations_ddl: ClassVar[str]
    """``CREATE TABLE IF NOT EXISTS schema_migrations (version, name, applied_at)``."""
    driver_errors: ClassVar[tuple[type[Exception], ...]]
    """The driver's base exception classes (wrapped into :class:`StoreError`)."""

    def __init__(
        self, *, idle_release_s: float | None = None, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._lock = threading.RLock()
        self._conn: RawConnection | None = None
        self._idle_release_s = idle_release_s
        self._monotonic = monotonic
        self._last_used = 0.0

    # --- what a backend provides ------------------------------------------------------------
    @abstractmethod
    def _open(self) -> RawConnection:
        """Open the connection; raise :class:`StoreError` with an actionable message on failure."""

    @abstractmethod
    def _session(self, conn: RawConnection) -> Session:
        """Wrap ``conn`` for the shared queries."""

    @abstractmethod
    def _write_transaction(self, conn: RawConnection) -> AbstractContextManager[None]:
        """A short transaction that commits on success and rolls back on error."""

    @abstractmethod
    def _add_capped(self, session: Session, params: Mapping[str, Any]) -> bool:
        """Do what :data:`ADD_CAPPED` does with ``params`` in ONE autocommit statement (one round
        trip on the hot path of every ``$connect``), atomically with respect to concurrent adds for
        the same email; True when the row was inserted or replaced."""

    @abstractmethod
    def _keep_message(self, session: Session, params: Mapping[str, Any]) -> int:
        """Do what :data:`KEEP_MESSAGE` does with ``params`` in ONE autocommit statement and return
        the new id, such that ids of one email and type commit in increasing order."""

    @abstractmethod
    def _lock_email_of(self, session: Session, connection_id: str) -> None:
        """Serialise, until the current transaction ends, with concurrent capped writes (``add``,
        ``reactivate``) for the email of ``connection_id`` (nothing where writers are serialised)."""

    def _missing_table(self, error: Exception) -> str | None:
        """The table ``error`` says does not exist, or None (default: never)."""
        return None

    @abstractmethod
    def _lock_migrations(self, session: Session) -> None:
        """Serialise concurrent ``migrate`` callers until the current transaction ends."""

    @abstractmethod
    def _decode_datetime(self, value: Any) -> datetime:
        """A stored datetime as a timezone-aware UTC datetime."""

    @abstractmethod
    def _connection_lost(self, conn: RawConnection, error: Exception) -> bool:
        """True when ``error`` left ``conn`` unusable, so a fresh connection may retry."""

    @abstractmethod
    def _error(self, operation: str, error: Exception, *, lost: bool) -> StoreError:
        """A :class:`StoreError` explaining a driver error (never containing a password).

        ``lost`` is True when the connection died again after one reconnect."""

    @abstractmethod
    def _close_raw(self, conn: RawConnection) -> None:
        """Close ``conn``, ignoring errors."""

    def _guard(self, conn: RawConnection, operation: str) -> AbstractContextManager[Any]:
        """Bound the wait for the server during one operation (default: nothing to bound, so the
        store's own lock, which :meth:`_run` holds already: entering it again does nothing, in C)."""
        return self._lock

    def _may_retry(self, error: Exception) -> bool:
        """Whether a lost connection may be reopened and the operation re-run once."""
        return True

    # --- connection management --------------------------------------------------------------
    def close(self) -> None:
        """Release the connection; the next operation opens a new one."""
        with self._lock:
            if self._conn is not None:
                conn, self._conn = self._conn, None
                self._close_raw(conn)

    def _run(self, operation: str, work: Callable[[Session], T], *, transaction: bool = False) -> T:
        """Run ``work`` on the instance's connection, opening it if needed.

        Every operation of this store is safe to run twice (upserts and conditional updates), so
        when the connection turns out to be dead (server restart, failover, idle kill by a proxy)
        it is reopened and ``work`` re-run once, unless :meth:`_may_retry` says no. Counts returned
        by a re-run cannot include rows a lost first attempt may already have committed. A
        connection unused for longer than ``idle_release_s`` is closed first and a fresh one
        opened (the server or proxy has likely dropped it already).
        """
        with self._lock:
            for attempt in (1, 2):
                if (
                    self._conn is not None
                    and self._idle_release_s is not None
                    and self._monotonic() - self._last_used > self._idle_release_s
                ):
                    self.close()
                if self._conn is None:
                    self._conn = self._open()
                conn = self._conn
                try:
                    with self._guard(conn, operation):
                        if not transaction:
                            result = work(self._session(conn))
                        else:
                            with self._write_transaction(conn):
                                result = work(self._session(conn))
                    return result
                except self.driver_errors as exc:
                    lost = self._connection_lost(conn, exc)
                    if lost:
                        self.close()
                    if lost and attempt == 1 and self._may_retry(exc):
                        continue
                    store_error = self._error(operation, exc, lost=lost)
                    missing = None if lost else self._missing_table(exc)
                    if missing:
                        raise MissingTableError(str(store_error), table=missing) from exc
                    raise store_error from exc
                finally:
                    self._last_used = self._monotonic()
            raise AssertionError("unreachable")  # pragma: no cover

    def _to_connection(self, row: Sequence[Any]) -> Connection:
        values = list(row)
        values[3] = bool(values[3])
        for i in _DATETIME_COLUMNS:
            if values[i] is not None:
                values[i] = self._decode_datetime(values[i])
        return Connection(*values)

    # --- the protocol -----------------------------------------------------------------------
    def migrate(self) -> list[int]:
        """Apply pending numbered migrations in one transaction; return the versions applied now."""
        from .schema import load_migrations  # deferred: the migration files matter to migrate only

        def work(session: Session) -> list[int]:
            self._lock_migrations(session)
            session.execute(self.schema_migrations_ddl)
            done = {row[0] for row in session.rows("SELECT version FROM schema_migrations")}
            applied = []
            for migration in load_migrations(self.dialect):
                if migration.version in done:
                    continue
                session.script(migration.sql)
                session.execute(
                    _RECORD_MIGRATION,
                    {"version": migration.version, "name": migration.name, "applied_at": datetime.now(timezone.utc)},
                )
                applied.append(migration.version)
            return applied

        return self._run("migrate", work, transaction=True)

    def add(self, connection: NewConnection, *, active_limit: int) -> bool:
        """Insert (or replace) an active row unless the email has ``active_limit`` active rows."""
        params = {
            "connection_id": connection.connection_id,
            "user_email": connection.user_email,
            "connection_type": connection.connection_type,
            "connected_at": as_utc(connection.connected_at, "connected_at"),
            "source_ip": connection.source_ip,
            "user_agent": connection.user_agent,
            "domain_name": connection.domain_name,
            "stage": connection.stage,
            "active_limit": _positive(active_limit, "active_limit", minimum=0),
        }

        return self._run("add", lambda s: self._add_capped(s, params))

    def mark_disconnected(
        self, connection_id: str, *, at: datetime, status_code: int | None, reason: str | None
    ) -> bool:
        """Mark an active connection inactive; False if unknown or already inactive."""
        params = {"connection_id": connection_id, "at": as_utc(at, "at"), "status_code": status_code,
                  "reason": reason, "gone": GONE_REASON, "idle_expired": IDLE_EXPIRED_REASON}

        def work(session: Session) -> bool:
            if session.execute(_MARK_DISCONNECTED, params) == 1:
                return True
            # Rare (a repeated or late $disconnect): record it on a row mark_gone/expire_idle made
            # inactive, so reactivate cannot bring it back; is_active in the condition also covers a
            # reactivate that ran between the two statements.
            session.execute(_RECORD_LATE_DISCONNECT, params)
            return False

        return self._run("mark_disconnected", work)

    def mark_gone(self, connection_ids: list[str], *, at: datetime) -> int:
        """Mark the active ones of ``connection_ids`` inactive (reason :data:`GONE_REASON`)."""
        params = {"ids": list(connection_ids), "at": as_utc(at, "at"), "reason": GONE_REASON}
        if not connection_ids:
            return 0
        sql = (
            f"UPDATE {TABLE} SET is_active = FALSE, disconnected_at = %(at)s, disconnect_reason = %(reason)s "  # nosec B608 # only constants are formatted in; values are bound parameters
            f"WHERE is_active AND connection_id {self.id_in_list}"
        )
        return self._run("mark_gone", lambda s: s.execute(sql, params))

    def touch(self, connection_id: str, *, at: datetime) -> bool:
        """Record activity on an active connection; False if none is active with that id."""
        params = {"connection_id": connection_id, "at": as_utc(at, "at")}
        return self._run("touch", lambda s: s.execute(_TOUCH, params) == 1)

    def reactivate(self, connection_id: str, *, at: datetime, active_limit: int) -> bool:
        """Reactivate a row inactive without a recorded ``$disconnect`` (see :data:`_REACTIVATE`)."""
        params = {"connection_id": connection_id, "at": as_utc(at, "at"), "gone": GONE_REASON,
                  "idle_expired": IDLE_EXPIRED_REASON, "active_limit": _positive(active_limit, "active_limit", minimum=0)}

        def work(session: Session) -> bool:
            self._lock_email_of(session, connection_id)
            return session.execute(_REACTIVATE, params) == 1

        return self._run("reactivate", work, transaction=True)

    def get(self, connection_id: str) -> Connection | None:
        """One connection, active or not, or None."""
        rows = self._run("get", lambda s: s.rows(_GET, {"connection_id": connection_id}))
        return self._to_connection(rows[0]) if rows else None

    def active_connection_ids(self, user_email: str, connection_type: str) -> list[str]:
        """Ids of the active connections of one email and type, oldest first."""
        params = {"user_email": user_email, "connection_type": connection_type}
        return [row[0] for row in self._run("active_connection_ids", lambda s: s.rows(ACTIVE_IDS, params))]

    def list_connections(
        self, *, user_email: str | None = None, active: bool | None = None, limit: int = 100
    ) -> list[Connection]:
        """Connections, newest ``connected_at`` first, optionally filtered by email and state."""
        clauses = ["TRUE"]
        if user_email is not None:
            clauses.append("user_email = %(user_email)s")
        if active is not None:
            clauses.append("is_active" if active else "NOT is_active")
        sql = (
            f"SELECT {COLUMNS} FROM {TABLE} WHERE {' AND '.join(clauses)} "  # nosec B608 # only constants are formatted in; values are bound parameters
            "ORDER BY connected_at DESC, connection_id DESC LIMIT %(limit)s"
        )
        params = {"user_email": user_email, "limit": _positive(limit, "limit")}
        return [self._to_connection(r) for r in self._run("list_connections", lambda s: s.rows(sql, params))]

    def expire_idle(self, *, idle_before: datetime, at: datetime, batch_size: int) -> int:
        """Mark up to ``batch_size`` idle active connections inactive; return how many."""
        sql = (
            f"UPDATE {TABLE} SET is_active = FALSE, disconnected_at = %(at)s, disconnect_reason = %(reason)s "  # nosec B608 # only constants are formatted in; values are bound parameters
            f"WHERE is_active AND connection_id IN (SELECT connection_id FROM {TABLE} WHERE {_IDLE} "
            f"ORDER BY last_activity_at LIMIT %(batch_size)s{self.skip_locked})"
        )
        params = {
            "idle_before": as_utc(idle_before, "idle_before"),
            "at": as_utc(at, "at"),
            "reason": IDLE_EXPIRED_REASON,
            "batch_size": _positive(batch_size, "batch_size"),
        }
        return self._cleanup_batch("expire_idle", sql, params)

    def count_idle(self, *, idle_before: datetime) -> int:
        """How many active connections are idle since before ``idle_before``."""
        params = {"idle_before": as_utc(idle_before, "idle_before")}
        return self._count("count_idle", _IDLE, params)

    def purge_inactive(self, *, disconnected_before: datetime, batch_size: int) -> int:
        """Delete up to ``batch_size`` inactive rows disconnected before the cutoff; return how many."""
        sql = (
            f"DELETE FROM {TABLE} WHERE connection_id IN (SELECT connection_id FROM {TABLE} "  # nosec B608 # only constants are formatted in; values are bound parameters
            f"WHERE {_PURGEABLE} ORDER BY disconnected_at LIMIT %(batch_size)s{self.skip_locked})"
        )
        params = {
            "disconnected_before": as_utc(disconnected_before, "disconnected_before"),
            "batch_size": _positive(batch_size, "batch_size"),
        }
        return self._cleanup_batch("purge_inactive", sql, params)

    def count_purgeable(self, *, disconnected_before: datetime) -> int:
        """How many inactive rows were disconnected before the cutoff."""
        params = {"disconnected_before": as_utc(disconnected_before, "disconnected_before")}
        return self._count("count_purgeable", _PURGEABLE, params)

    # --- messages kept for replay (migration 0002) -------------------------------------------
    def keep_message(self, message: NewMessage) -> int:
        """Store a message for replay; return its id (see :data:`KEEP_MESSAGE`)."""
        params = self._message_params(message)
        return int(self._run("keep_message", lambda s: self._keep_message(s, params)))

    @staticmethod
    def _message_params(message: NewMessage) -> dict[str, Any]:
        return {
            "user_email": message.user_email,
            "connection_type": message.connection_type,
            "body": message.body.encode("utf-8"),  # bytes: PostgreSQL text cannot hold a NUL
            "is_json": bool(message.is_json),
            "created_at": as_utc(message.created_at, "created_at"),
            "expires_at": as_utc(message.expires_at, "expires_at"),
        }

    def keep_message_and_list(self, message: NewMessage) -> tuple[int, list[str]]:
        """Keep ``message`` and return its id with the ids of the active connections of its email
        and type, oldest first (see :meth:`~.base.ConnectionStore.keep_message_and_list`).

        Here: one ``BEGIN IMMEDIATE`` transaction. It holds the write lock from before the insert
        until its commit, so a ``$connect`` commits either before the list is read (listed) or
        after the message is committed (its replay sees the message).
        """
        params = self._message_params(message)

        def work(session: Session) -> tuple[int, list[str]]:
            kept = self._keep_message(session, params)
            return kept, [row[0] for row in session.rows(ACTIVE_IDS, params)]

        return self._run("keep_message_and_list", work, transaction=True)

    def get_message(self, message_id: int) -> KeptMessage | None:
        """One kept message (expired or not, until purged), or None."""
        rows = self._run("get_message", lambda s: s.rows(_GET_MESSAGE, {"id": _message_id(message_id)}))
        return self._to_message(rows[0]) if rows else None

    def messages_after(
        self, user_email: str, connection_type: str, *, after_id: int, unexpired_at: datetime, limit: int
    ) -> list[KeptMessage]:
        """Unexpired messages of one email and type with an id above ``after_id``, lowest id first.

        Read after :attr:`replay_lock` (when there is one) in its own transaction, so a message
        kept by a :meth:`keep_message_and_list` still uncommitted when the read starts is waited
        for and seen."""
        params = {
            "user_email": user_email,
            "connection_type": connection_type,
            "after_id": _positive(after_id, "after_id", minimum=0),
            "unexpired_at": as_utc(unexpired_at, "unexpired_at"),
            "limit": _positive(limit, "limit"),
        }
        if not self.replay_lock:
            return [self._to_message(r) for r in self._run("messages_after", lambda s: s.rows(_MESSAGES_AFTER, params))]

        def work(session: Session) -> list[tuple[Any, ...]]:
            session.rows(self.replay_lock, params)
            return session.rows(_MESSAGES_AFTER, params)  # a fresh snapshot, taken after the lock

        return [self._to_message(r) for r in self._run("messages_after", work, transaction=True)]

    def purge_expired_messages(self, *, expired_before: datetime, batch_size: int) -> int:
        """Delete up to ``batch_size`` messages expired before the cutoff; return how many."""
        sql = (
            f"DELETE FROM {MESSAGES_TABLE} WHERE id IN (SELECT id FROM {MESSAGES_TABLE} "  # nosec B608 # only constants are formatted in; values are bound parameters
            f"WHERE {_EXPIRED_MESSAGES} ORDER BY expires_at LIMIT %(batch_size)s{self.skip_locked})"
        )
        params = {
            "expired_before": as_utc(expired_before, "expired_before"),
            "batch_size": _positive(batch_size, "batch_size"),
        }
        return self._cleanup_batch("purge_expired_messages", sql, params)

    def count_expired_messages(self, *, expired_before: datetime) -> int:
        """How many messages expired before the cutoff."""
        params = {"expired_before": as_utc(expired_before, "expired_before")}
        return self._count("count_expired_messages", _EXPIRED_MESSAGES, params, table=MESSAGES_TABLE)

    def _to_message(self, row: Sequence[Any]) -> KeptMessage:
        values = list(row)
        values[0] = int(values[0])
        values[3] = bytes(values[3]).decode("utf-8")
        values[4] = bool(values[4])
        for i in _MESSAGE_DATETIME_COLUMNS:
            values[i] = self._decode_datetime(values[i])
        return KeptMessage(*values)

    def _cleanup_batch(self, operation: str, sql: str, params: Mapping[str, Any]) -> int:
        """One cleanup batch in its own short transaction, committed as :attr:`cleanup_commit` says."""
        if not self.cleanup_commit:
            return self._run(operation, lambda s: s.execute(sql, params))

        def work(session: Session) -> int:
            session.rows(self.cleanup_commit)
            return session.execute(sql, params)

        return self._run(operation, work, transaction=True)

    def _count(self, operation: str, condition: str, params: Mapping[str, Any], *, table: str = TABLE) -> int:
        sql = f"SELECT count(*) FROM {table} WHERE {condition}"  # nosec B608 # only constants are formatted in; values are bound parameters
        return int(self._run(operation, lambda s: s.rows(sql, params))[0][0])


MIGRATE_ACTION_HINT = 'the migrate action first ({"action": "migrate"})'
"""How :func:`missing_schema_hint` says to migrate; ``wsctl`` replaces it with its own command."""


def messages_table_missing(error: StoreError) -> bool:
    """True when ``error`` says exactly that :data:`MESSAGES_TABLE` does not exist (migration
    :data:`MESSAGES_MIGRATION` has not run yet); any other store error is False."""
    return isinstance(error, MissingTableError) and error.table == MESSAGES_TABLE


def missing_schema_hint(message: str, names: Sequence[str] = (TABLE,)) -> str:
    """An extra hint when ``message`` says that one of ``names`` (tables or functions that the
    migrations create) does not exist yet."""
    for name in names:
        if name in message and ("does not exist" in message or "no such table" in message):
            return f" The migrations have not created {name} yet: run {MIGRATE_ACTION_HINT}."
    return ""
