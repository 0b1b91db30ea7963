"""PostgreSQL backend (psycopg 3): one lazily opened connection per store, reused across calls.

Importing this module imports psycopg (about 0.25 s); :func:`websocket_service.store.open_store`
imports it only when the URL is a PostgreSQL one. The connection runs in autocommit mode; the
capped ``add`` of every ``$connect`` is one statement, one round trip (a call of the
``ws_add_connection`` function, migration 0001); ``migrate`` uses a short explicit transaction.
``statement_timeout`` and ``TimeZone=UTC`` are set at connect time through the
``options`` startup parameter, after any ``-c name=value`` settings the URL's own ``options``
carry. RDS Proxy refuses that parameter; the store then connects without it and applies the same
settings with ``set_config`` (which pins the proxy session: one per Lambda container).
"""
from __future__ import annotations

import re
from contextlib import AbstractContextManager
from datetime import datetime, timezone
from typing import Any, Mapping

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict

from .base import MIGRATION_TIMEOUT_MS, StoreConfigError, StoreConnectError, StoreError
from .sql import TABLE, SqlConnectionStore, missing_schema_hint

DEFAULT_APPLICATION_NAME = "websocket_service"
OPTIONS_REFUSED = "doesn't support command-line options"
"""Part of RDS Proxy's answer to a startup packet that carries ``options``."""

# Advisory-lock namespace (first key of the two-int form) "WSM1". ws_add_connection (migration
# 0001) locks emails in the namespace "WSE1" (0x57534531).
_MIGRATION_LOCK_CLASS = 0x57534D31

ADD_FUNCTION = "ws_add_connection"
"""The function migration 0001 creates: advisory lock on the email, then the shared capped INSERT."""
_ADD_CALL = (
    f"SELECT {ADD_FUNCTION}(%(connection_id)s, %(user_email)s, %(connection_type)s, %(connected_at)s, "
    "%(source_ip)s, %(user_agent)s, %(domain_name)s, %(stage)s, %(active_limit)s)"
)
_MIGRATED_OBJECTS = (TABLE, ADD_FUNCTION)

_OPTION = re.compile(r"(?:-c\s*|--)(?P<name>[A-Za-z_][\w.]*)=(?P<value>(?:\\.|[^\s\\])*)\s*")
_ESCAPED = re.compile(r"\\(.)")
_TO_ESCAPE = re.compile(r"([\s\\])")
_BACKSLASHED = r"\\\1"


def parse_options(options: str) -> dict[str, str]:
    """The settings of a libpq ``options`` string made of ``-c name=value`` / ``--name=value``."""
    settings: dict[str, str] = {}
    position, options = 0, options.strip()
    while position < len(options):
        match = _OPTION.match(options, position)
        if match is None:
            raise StoreConfigError(
                "the options parameter of DATABASE_URL may only hold '-c name=value' settings, "
                "e.g. options=-c%20search_path%3Dmyschema"
            )
        settings[match["name"]] = _ESCAPED.sub(r"\1", match["value"])
        position = match.end()
    return settings


def format_options(settings: Mapping[str, str]) -> str:
    """A libpq ``options`` string setting ``settings`` (spaces and backslashes escaped)."""
    return " ".join(f"-c {name}={_TO_ESCAPE.sub(_BACKSLASHED, value)}" for name, value in settings.items())


def connect_kwargs(
    database_url: str,
    *,
    connect_timeout_s: int,
    statement_timeout_ms: int,
    application_name: str = DEFAULT_APPLICATION_NAME,
) -> dict[str, Any]:
    """The ``psycopg.connect`` keyword arguments the store uses for ``database_url``.

    ``statement_timeout`` and ``TimeZone`` win over the same settings in the URL's ``options``;
    ``application_name`` from the URL wins over the default. ``tcp_user_timeout`` (the connect
    timeout) makes a connection that died silently (NAT, failover) fail fast instead of hanging,
    so the store can reconnect. Raises :class:`StoreConfigError` (without echoing the URL, which
    may hold a password) when libpq cannot parse the URL.
    """
    try:
        params: dict[str, Any] = conninfo_to_dict(database_url)
    except psycopg.Error:
        raise StoreConfigError(
            "DATABASE_URL is not a valid PostgreSQL URL; expected postgresql://USER:PASSWORD@HOST:PORT/DBNAME "
            "(percent-encode special characters in the user name and password)"
        ) from None
    settings = parse_options(params.get("options", ""))
    settings.update(statement_timeout=str(statement_timeout_ms), TimeZone="UTC")
    params["options"] = format_options(settings)
    params.setdefault("application_name", application_name)
    params["connect_timeout"] = connect_timeout_s
    params.setdefault("tcp_user_timeout", connect_timeout_s * 1000)
    return params


class _PgSession:
    """:class:`~.sql.Session` over a psycopg connection."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return self._conn.execute(sql, params).fetchall()  # type: ignore[arg-type]

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        return self._conn.execute(sql, params).rowcount  # type: ignore[arg-type]

    def script(self, sql: str) -> None:
        self._conn.execute(sql)  # type: ignore[arg-type]  # no parameters: several statements allowed


class PostgresConnectionStore(SqlConnectionStore[psycopg.Connection[Any]]):
    """:class:`~.base.ConnectionStore` on PostgreSQL.

    ``add`` calls ``ws_add_connection``, which takes a transaction-scoped advisory lock on a hash
    of the email before counting and inserting, so concurrent ``$connect`` calls for one email
    never exceed the cap; ``migrate`` takes one global advisory lock, so concurrent deploys apply
    each migration once.
    """

    dialect = "postgres"
    skip_locked = " FOR UPDATE SKIP LOCKED"
    id_in_list = "= ANY(%(ids)s)"
    schema_migrations_ddl = (
        "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
        "name text NOT NULL, applied_at timestamptz NOT NULL)"
    )
    driver_errors = (psycopg.Error,)

    def __init__(
        self,
        database_url: str,
        *,
        connect_timeout_s: int = 5,
        statement_timeout_ms: int = 5000,
        application_name: str = DEFAULT_APPLICATION_NAME,
        migration_timeout_ms: int = MIGRATION_TIMEOUT_MS,
    ) -> None:
        """Validate the settings; no connection is opened until the first operation.

        ``migration_timeout_ms`` bounds each statement of ``migrate``, including the wait for the
        migration lock another migrator holds.
        """
        super().__init__()
        self._kwargs = connect_kwargs(
            database_url,
            connect_timeout_s=connect_timeout_s,
            statement_timeout_ms=statement_timeout_ms,
            application_name=application_name,
        )
        self._statement_timeout_ms = statement_timeout_ms
        self._migration_timeout_ms = int(migration_timeout_ms)
        self._set_after_connect = False
        self._password = str(self._kwargs.get("password") or "")
        self.target = "{user}@{host}:{port}/{db}".format(
            user=self._kwargs.get("user", "(default user)"),
            host=self._kwargs.get("host", "(local socket)"),
            port=self._kwargs.get("port", 5432),
            db=self._kwargs.get("dbname", "(default database)"),
        )
        """Where the store connects, without the password (for messages and logs)."""

    def __repr__(self) -> str:
        return f"PostgresConnectionStore({self.target!r})"

    def _scrub(self, error: Exception) -> str:
        text = " ".join(str(error).split())
        return text.replace(self._password, "***") if self._password else text

    def _open(self) -> psycopg.Connection[Any]:
        try:
            if not self._set_after_connect:
                try:
                    return psycopg.connect(autocommit=True, **self._kwargs)
                except psycopg.OperationalError as exc:
                    if OPTIONS_REFUSED not in str(exc):
                        raise
                    self._set_after_connect = True  # an RDS Proxy: remember, don't ask again
            return self._connect_then_set()
        except psycopg.Error as exc:
            raise StoreConnectError(
                f"could not connect to PostgreSQL at {self.target} "
                f"(connect_timeout {self._kwargs['connect_timeout']} s): {self._scrub(exc)}. "
                "Check DATABASE_URL or the database secret, that the server is running, and that "
                "this network can reach it (VPC subnets, security group, RDS Proxy)."
            ) from exc

    def _connect_then_set(self) -> psycopg.Connection[Any]:
        """Connect without ``options`` and apply its settings with ``set_config`` instead."""
        kwargs = dict(self._kwargs)
        settings = parse_options(kwargs.pop("options"))
        conn = psycopg.connect(autocommit=True, **kwargs)
        try:
            conn.execute(
                "SELECT set_config(name, value, false) FROM unnest(%s::text[], %s::text[]) AS s(name, value)",
                (list(settings), list(settings.values())),
            )
        except BaseException:
            conn.close()
            raise
        return conn

    def _session(self, conn: psycopg.Connection[Any]) -> _PgSession:
        return _PgSession(conn)

    def _write_transaction(self, conn: psycopg.Connection[Any]) -> AbstractContextManager[Any]:
        return conn.transaction()

    def _add_capped(self, session: Any, params: Mapping[str, Any]) -> bool:
        # One statement in autocommit mode = one round trip (instead of BEGIN, lock, INSERT, COMMIT).
        # A single INSERT could not take the lock itself: under READ COMMITTED its snapshot predates
        # the lock wait. The function's statements each take a fresh snapshot, so its count, run
        # after the lock is granted, sees the rows of every earlier holder (see migration 0001).
        return bool(session.rows(_ADD_CALL, params)[0][0])

    def _lock_migrations(self, session: Any) -> None:
        timeout = self._migration_timeout_ms
        session.execute(f"SET LOCAL statement_timeout = {timeout}")
        session.execute(f"SET LOCAL lock_timeout = {timeout}")
        try:
            session.execute("SELECT pg_advisory_xact_lock(%(cls)s, 0)", {"cls": _MIGRATION_LOCK_CLASS})
        except (pg_errors.LockNotAvailable, pg_errors.QueryCanceled):
            raise StoreError(
                f"migrate waited {timeout} ms for the migration lock at {self.target}: another migration "
                "holds the lock; retry when it has finished (it applies the same migrations)."
            ) from None

    def _decode_datetime(self, value: datetime) -> datetime:
        return value.astimezone(timezone.utc)

    def _connection_lost(self, conn: psycopg.Connection[Any], error: Exception) -> bool:
        return conn.closed or conn.broken

    def _close_raw(self, conn: psycopg.Connection[Any]) -> None:
        conn.close()  # psycopg's close never raises, even on a broken connection

    def _error(self, operation: str, error: Exception, *, lost: bool) -> StoreError:
        message = self._scrub(error)
        if operation == "migrate" and isinstance(error, (pg_errors.QueryCanceled, pg_errors.LockNotAvailable)):
            # Inside migrate, statement_timeout and lock_timeout are the migration timeout (SET LOCAL).
            return StoreError(
                f"PostgreSQL migrate was cancelled by the migration timeout ({self._migration_timeout_ms} ms, "
                f"statement_timeout and lock_timeout of migrate) at {self.target}: {message}. A migration "
                "statement waited for a lock or ran too long; nothing was applied. Retry when the database "
                "is quieter, or run `wsctl migrate --timeout SECONDS` with a longer limit."
            )
        if isinstance(error, pg_errors.QueryCanceled):
            return StoreError(
                f"PostgreSQL {operation} was cancelled by statement_timeout ({self._statement_timeout_ms} ms, "
                f"DB_STATEMENT_TIMEOUT_MS) at {self.target}: {message}. The database is overloaded or a "
                "lock is held; retry later or raise DB_STATEMENT_TIMEOUT_MS."
            )
        if lost:
            return StoreError(
                f"lost the connection to PostgreSQL at {self.target} during {operation}, also after "
                f"reconnecting: {message}. Check that the server is up and reachable."
            )
        sqlstate = getattr(error, "sqlstate", None) or "no SQLSTATE"
        hint = missing_schema_hint(message, _MIGRATED_OBJECTS)
        return StoreError(f"PostgreSQL {operation} failed at {self.target} ({sqlstate}): {message}.{hint}")
