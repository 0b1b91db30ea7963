"""PostgreSQL backend (psycopg 3): one lazily opened connection per store, reused across calls.

Importing this module imports psycopg (about 0.25 s); :func:`websocket_service.store.open_store`
imports it only when the URL is a PostgreSQL one.

Two protocols, picked by ``pooler`` (``DB_POOLER``; ``auto`` treats a URL on port
:data:`PGBOUNCER_PORT` or an RDS Proxy endpoint host as pooled, anything else as direct):

* **pooled** (``pgbouncer``, ``rds-proxy``): pool-safe for transaction pooling. No startup
  ``options`` are added (pgbouncer and RDS Proxy refuse them; the URL's own ``options`` are passed
  on untouched); no session state: every operation is ONE simple-protocol query string,
  ``SET LOCAL statement_timeout = ...; <statement>`` (pgbouncer) or
  ``SELECT set_config('statement_timeout', ..., true); <statement>`` (RDS Proxy), which PostgreSQL
  runs as one implicit transaction, so the timeout is transaction-local and gone when the query
  ends (no ``TimeZone``: datetimes are converted to UTC on read). ``SET LOCAL`` is the cheaper
  form (a utility statement the server neither plans nor answers with a row); RDS Proxy pins a
  session on ``SET`` unless the proxy excludes variable sets from pinning, which the stack's proxy
  does but one of your own may not, so there the function form keeps sessions unpinned; no server-side
  prepared statements: parameters are bound client-side (``ClientCursor``) and
  ``prepare_threshold`` is off, so transaction pooling never mixes statements up across clients.
* **direct** (``none``): the connection is the server session, so the statement timeout is set
  ONCE right after connecting (a plain ``SET``, not a startup option) and each operation is a
  normal extended-protocol query with server-side binding and psycopg's automatic prepared
  statements (after ``prepare_threshold`` runs of a statement): no per-statement ``SET LOCAL``,
  no re-planning on the hot path.

Deadlines: ``connect_timeout`` bounds connecting; the server's ``statement_timeout`` bounds a
statement that runs; a client-side deadline (the statement timeout plus
:data:`CLIENT_DEADLINE_MARGIN_MS`; both shortened to the invocation's remaining time, see
:mod:`websocket_service.budget`) bounds a server that stops answering (a frozen backend, a
black-holed network), where neither of those nor TCP keepalives help: a watchdog thread shuts the
socket down, the wait ends with an error, and the store reconnects on its next use.

Saturation: a server (or pooler) refusing the connection for lack of slots raises
:class:`~.base.StoreSaturatedError` and the store backs off (exponential, full jitter, bounded),
failing fast with the same error until the backoff ends, instead of re-dialling on every call.
Connections idle for longer than ``idle_release_s`` are closed before their next use.
"""
from __future__ import annotations

import os
import random
import re
import socket
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict

from .. import budget
from .base import (
    MIGRATION_TIMEOUT_MS,
    MissingFunctionError,
    NewMessage,
    StoreConfigError,
    StoreConnectError,
    StoreError,
    StoreSaturatedError,
    pooler_setting,
)
from .sql import MESSAGES_TABLE, TABLE, SqlConnectionStore, missing_schema_hint

DEFAULT_APPLICATION_NAME = "websocket_service"
CLIENT_DEADLINE_MARGIN_MS = 1000
"""How much longer than the statement timeout the client waits for any answer before it gives
the connection up (network round trip and commit)."""
KEEPALIVE_IDLE_S = 30
"""TCP keepalive: seconds of silence before the first probe (a peer that vanished is noticed)."""

PGBOUNCER_PORT = "6432"
"""pgbouncer's default port: ``DB_POOLER=auto`` treats a URL on it as pooled."""
RDS_PROXY_HOST = r"\.proxy-[a-z0-9]+\.[a-z0-9-]+\.rds\.amazonaws\.com(\.cn)?$"
"""An RDS Proxy endpoint (``NAME.proxy-ID.REGION.rds.amazonaws.com``, custom endpoints
``NAME.endpoint.proxy-ID...``): ``DB_POOLER=auto`` treats it as pooled. A pattern string, compiled
(and cached by :mod:`re`) on first use: an explicit ``DB_POOLER`` never pays for it."""

SATURATION_MARKERS = (
    "too many clients",  # PostgreSQL max_connections (SQLSTATE 53300)
    "remaining connection slots are reserved",  # reserved superuser slots (53300)
    "too many connections",  # per role / per database limits (53300), RDS Proxy
    "no more connections allowed",  # pgbouncer max_client_conn
    "timed-out waiting to acquire database connection",  # RDS Proxy borrow timeout
)
"""Fragments of the refusals that mean "no connection slot free", in lower case."""
SATURATION_SQLSTATES = frozenset({"53300"})
BACKOFF_BASE_S = 0.5
"""First backoff after a saturation refusal; doubles with each refusal in a row."""
BACKOFF_MAX_S = 15.0
"""Upper bound of one backoff (a frozen Lambda container keeps its state, so keep this short)."""

# Advisory-lock namespace (first key of the two-int form) "WSM1". ws_add_connection (migration
# 0001) locks emails in the namespace "WSE1" (0x57534531).
_MIGRATION_LOCK_CLASS = 0x57534D31
MIGRATION_LOCK = (
    f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_CLASS}, hashtext(coalesce(current_schema(), '')))"
)
"""What ``migrate`` runs first in its transaction: the migration lock of the session's schema (the
first schema of its ``search_path`` that exists). Per schema, because the migrations and their
``schema_migrations`` table are per schema: stages or tenants sharing one database in schemas of
their own migrate independently, and a migrator stuck in one schema never blocks another's."""

ADD_FUNCTION = "ws_add_connection"
"""The function migration 0001 creates: advisory lock on the email, then the shared capped INSERT."""
_ADD_CALL = (
    f"SELECT {ADD_FUNCTION}(%(connection_id)s, %(user_email)s, %(connection_type)s, %(connected_at)s, "
    "%(source_ip)s, %(user_agent)s, %(domain_name)s, %(stage)s, %(active_limit)s)"
)
KEEP_FUNCTION = "ws_keep_message"
"""The function migration 0002 creates: advisory lock on the email and type, then KEEP_MESSAGE."""
_KEEP_CALL = (
    f"SELECT {KEEP_FUNCTION}(%(user_email)s, %(connection_type)s, %(body)s, %(is_json)s, "
    "%(created_at)s, %(expires_at)s)"
)
KEEP_AND_LIST_FUNCTION = "ws_keep_and_list"
"""The function migration 0004 creates: ws_keep_message's lock and INSERT, then ACTIVE_IDS."""
KEEP_AND_LIST_MIGRATION = "0004_keep_and_list"
_KEEP_AND_LIST_CALL = (
    f"SELECT kept_id, connection_ids FROM {KEEP_AND_LIST_FUNCTION}(%(user_email)s, %(connection_type)s, "  # nosec B608 # only constants are formatted in; values are bound parameters
    "%(body)s, %(is_json)s, %(created_at)s, %(expires_at)s)"
)
MISSING_FUNCTION_RECHECK_S = 60.0
"""After finding no ``ws_keep_and_list`` (migration 0004 not run yet), how long the store uses the
two-call path without asking the database again (so notify costs two round trips, not three)."""
_MESSAGE_LOCK_CLASS = 1465078321  # "WSR1": the namespace ws_keep_message (migration 0002) locks (email, type) in
_MIGRATED_OBJECTS = (TABLE, ADD_FUNCTION, MESSAGES_TABLE, KEEP_FUNCTION, KEEP_AND_LIST_FUNCTION)
_EMAIL_LOCK_CLASS = 0x57534531  # "WSE1": the namespace ws_add_connection (migration 0001) locks emails in
_LOCK_EMAIL_OF = (
    f"SELECT pg_advisory_xact_lock({_EMAIL_LOCK_CLASS}, hashtext(user_email)) FROM {TABLE} "  # nosec B608 # only constants are formatted in; values are bound parameters
    "WHERE connection_id = %(connection_id)s"
)
_IDLE = psycopg.pq.TransactionStatus.IDLE
_UNDEFINED_RELATION = r'relation "(?P<name>[^"]+)" does not exist'  # compiled on first use (an error path)
_SET_TIMEOUT = {
    "pgbouncer": "SET LOCAL statement_timeout = {ms}",
    "rds-proxy": "SELECT set_config('statement_timeout', '{ms}', true)",
}
"""The pooled protocol's transaction-local timeout, per pooler (module docstring: why two forms)."""


def connect_kwargs(
    database_url: str,
    *,
    connect_timeout_s: int,
    application_name: str = DEFAULT_APPLICATION_NAME,
) -> dict[str, Any]:
    """The ``psycopg.connect`` keyword arguments the store uses for ``database_url``.

    Adds no ``options``. ``application_name`` from the URL wins over the default.
    ``tcp_user_timeout`` (the connect timeout) and TCP keepalives make a connection whose peer
    vanished (NAT, failover) fail instead of hanging. Raises :class:`StoreConfigError` (without
    echoing the URL, which may hold a password) when libpq cannot parse the URL.
    """
    try:
        params: dict[str, Any] = conninfo_to_dict(database_url)
    except psycopg.Error:
        raise StoreConfigError(
            "DATABASE_URL is not a valid PostgreSQL URL; expected postgresql://USER:PASSWORD@HOST:PORT/DBNAME "
            "(percent-encode special characters in the user name and password)"
        ) from None
    params.setdefault("application_name", application_name)
    params["connect_timeout"] = connect_timeout_s
    params.setdefault("tcp_user_timeout", connect_timeout_s * 1000)
    params.setdefault("keepalives", 1)
    params.setdefault("keepalives_idle", KEEPALIVE_IDLE_S)
    params.setdefault("keepalives_interval", max(1, connect_timeout_s))
    params.setdefault("keepalives_count", 3)
    return params


def pooler_kind(params: Mapping[str, Any], pooler: str) -> str:
    """The transaction pooler the connection described by ``params`` (:func:`connect_kwargs`) goes
    through: ``pooler`` as set (``pgbouncer``, ``rds-proxy``, ``none``), or, for ``auto``,
    ``rds-proxy`` when any of its hosts is an RDS Proxy endpoint, ``pgbouncer`` when any of its
    ports is 6432, else ``none``."""
    setting = pooler_setting(pooler)
    if setting != "auto":
        return setting
    hosts = str(params.get("host") or "").lower().split(",")
    if any(re.search(RDS_PROXY_HOST, h.strip()) for h in hosts):
        return "rds-proxy"
    ports = str(params.get("port") or "").split(",")
    return "pgbouncer" if PGBOUNCER_PORT in (p.strip() for p in ports) else "none"


def is_saturation(error: BaseException) -> bool:
    """True when ``error`` says the server or pooler has no connection slot free."""
    if getattr(error, "sqlstate", None) in SATURATION_SQLSTATES:
        return True
    text = str(error).lower()
    return any(marker in text for marker in SATURATION_MARKERS)


class Deadline:
    """One armed wait: the socket to shut down and when; :attr:`fired` tells whether it was."""

    __slots__ = ("fd", "at", "fired")

    def __init__(self, fd: int, at: float) -> None:
        self.fd, self.at, self.fired = fd, at, False


class DeadlineWatchdog:
    """Shuts a socket down when its armed deadline passes: one daemon thread for the whole process,
    started on first use, serving every store.

    ``arm(fd, seconds)`` before waiting on the server, ``disarm(deadline)`` after; the returned
    :class:`Deadline` tells whether it ended the wait. Shutting the socket down (not closing the
    descriptor, which psycopg still owns) wakes psycopg's wait with an error; the connection is
    then broken and the store reopens it on its next use.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()  # arm/disarm take it directly: Condition's own with is Python code
        self._cond = threading.Condition(self._lock)
        self._armed: set[Deadline] = set()
        self._waking_at = float("inf")
        self._thread: threading.Thread | None = None
        self._last_seconds = 0.0  # the latest arm's length: the idle thread's tick while arms keep coming
        self._armed_since_wake = False

    def arm(self, fd: int, seconds: float) -> Deadline:
        """Start counting ``seconds`` for the socket ``fd``."""
        deadline = Deadline(fd, time.monotonic() + seconds)
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="db-deadline", daemon=True)
                self._thread.start()
            self._armed.add(deadline)
            self._last_seconds = seconds
            self._armed_since_wake = True
            if deadline.at < self._waking_at:  # the thread sleeps longer than this deadline: wake it
                self._cond.notify()
        return deadline

    def disarm(self, deadline: Deadline) -> None:
        """Stop counting (the wait ended on its own, or the deadline fired)."""
        with self._lock:
            self._armed.discard(deadline)

    def _watch(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                for deadline in [d for d in self._armed if d.at <= now]:
                    self._armed.discard(deadline)
                    deadline.fired = True
                    try:
                        with socket.socket(fileno=os.dup(deadline.fd)) as sock:
                            sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass  # already closed: the wait has ended anyway
                if self._armed:
                    self._waking_at = min(d.at for d in self._armed)
                elif self._armed_since_wake:
                    # Nothing armed, but waits keep coming (one per statement): tick one arm's
                    # length ahead, so the next arm of that length ends after this wake and needs no
                    # notify (a thread switch per statement); idle for a whole tick, sleep until armed.
                    self._waking_at = now + self._last_seconds
                else:
                    self._waking_at = float("inf")
                self._armed_since_wake = False
                self._cond.wait(None if self._waking_at == float("inf") else self._waking_at - now)


WATCHDOG = DeadlineWatchdog()
"""The process's one deadline watchdog."""


class _DeadlineGuard:
    """``with``: the store's :class:`Deadline` armed on ``fd`` for ``seconds``, disarmed after (a
    plain class: a generator-based context manager costs several calls per statement)."""

    __slots__ = ("_store", "_fd", "_seconds")

    def __init__(self, store: PostgresConnectionStore, fd: int, seconds: float) -> None:
        self._store, self._fd, self._seconds = store, fd, seconds

    def __enter__(self) -> None:
        self._store._deadline = WATCHDOG.arm(self._fd, self._seconds)  # noqa: SLF001 - the store's own guard

    def __exit__(self, *exc_info: object) -> None:
        WATCHDOG.disarm(self._store._deadline)  # noqa: SLF001


class _PgSession:
    """:class:`~.sql.Session` over a psycopg connection.

    Pooled (client-side binding) and outside a transaction, every statement is sent as
    ``prefix + statement`` in one query string (``prefix`` sets the transaction-local statement
    timeout), and the statement's result is read. Direct (or inside a transaction) ``prefix`` is
    empty and the statement runs as it is. Statements run on ``cursor``, the store's one cursor
    of ``conn`` (a new cursor per statement costs more than the statement's own Python work).
    """

    def __init__(self, conn: psycopg.Connection[Any], prefix: str, cursor: psycopg.Cursor[Any]) -> None:
        self._conn = conn
        self._prefix = prefix
        self._statement_cursor = cursor

    def _cursor(self, sql: str, params: Mapping[str, Any] | None) -> psycopg.Cursor[Any]:
        cursor = self._statement_cursor.execute(self._prefix + sql, params)  # type: ignore[arg-type]
        if self._prefix:
            cursor.nextset()  # past the SET's result, to the statement's
        return cursor

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return self._cursor(sql, params).fetchall()

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        return self._cursor(sql, params).rowcount

    def script(self, sql: str) -> None:
        # Several statements: one simple-protocol query (client-side cursor) in either mode, inside
        # migrate's transaction.
        psycopg.ClientCursor(self._conn).execute(sql)  # type: ignore[arg-type]


if TYPE_CHECKING:
    _StoreBase = SqlConnectionStore[psycopg.Connection[Any]]
else:  # subscripting generics at import costs about 0.4 ms of typing machinery in every fresh process
    _StoreBase = SqlConnectionStore


class PostgresConnectionStore(_StoreBase):
    """:class:`~.base.ConnectionStore` on PostgreSQL, direct or pooled (see the module docstring).

    ``add`` calls ``ws_add_connection``, which takes a transaction-scoped advisory lock on a hash
    of the email before counting and inserting, so concurrent ``$connect`` calls for one email
    never exceed the cap; ``migrate`` takes an advisory lock on its schema (:data:`MIGRATION_LOCK`), so
    concurrent deploys apply each migration once.
    """

    dialect = "postgres"
    skip_locked = " FOR UPDATE SKIP LOCKED"
    cleanup_commit = "SELECT set_config('synchronous_commit', 'off', true)"
    replay_lock = (
        f"SELECT pg_advisory_xact_lock_shared({_MESSAGE_LOCK_CLASS}, "
        "hashtext(CAST(%(user_email)s AS text) || ' ' || CAST(%(connection_type)s AS text)))"
    )
    """The shared form of the (email, type) lock ``ws_keep_message``/``ws_keep_and_list`` hold
    until their insert commits (see migration 0004 for why replay waits for it)."""
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
        idle_release_s: float | None = None,
        pooler: str = "auto",
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """Validate the settings; no connection is opened until the first operation.

        ``migration_timeout_ms`` bounds each statement of ``migrate``, including the wait for the
        migration lock another migrator holds. ``idle_release_s`` (None: never) closes a
        connection unused for that long before its next use. ``pooler`` (``DB_POOLER``) picks the
        protocol (module docstring; :func:`pooler_kind`). ``monotonic`` is the clock of the idle
        release and the saturation backoff.
        """
        super().__init__(idle_release_s=idle_release_s, monotonic=monotonic)
        self._kwargs = connect_kwargs(
            database_url, connect_timeout_s=connect_timeout_s, application_name=application_name
        )
        self._statement_timeout_ms = int(statement_timeout_ms)
        self._migration_timeout_ms = int(migration_timeout_ms)
        kind = pooler_kind(self._kwargs, pooler)
        self.pooled = kind != "none"
        """True: the pool-safe protocol (no session state, no prepared statements); False: direct."""
        self._set_timeout = _SET_TIMEOUT[kind].format(ms=self._statement_timeout_ms) if self.pooled else ""
        self._prefix = self._set_timeout + "; " if self.pooled else ""
        self._deadline: Deadline | None = None
        self._keep_and_list_missing_until = float("-inf")
        self._statement_cursor: psycopg.Cursor[Any] | None = None
        self._saturated_refusals = 0
        self._backoff_until = 0.0
        self._saturation_message = ""
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

    @property
    def backoff_remaining_s(self) -> float:
        """Seconds left of the saturation backoff (0 when the store may dial)."""
        return max(0.0, self._backoff_until - self._monotonic())

    def _scrub(self, error: BaseException) -> str:
        text = " ".join(str(error).split())
        return text.replace(self._password, "***") if self._password else text

    def _open(self) -> psycopg.Connection[Any]:
        left = self.backoff_remaining_s
        if left > 0:
            raise StoreSaturatedError(f"{self._saturation_message} Backing off: {left:.1f} s left, not dialling.")
        kwargs = dict(self._kwargs)
        # Whole seconds, never 0 (which would mean no limit); libpq itself waits at least 2.
        kwargs["connect_timeout"] = max(1, int(budget.bound(kwargs["connect_timeout"])))
        pooled_kwargs = {"prepare_threshold": None, "cursor_factory": psycopg.ClientCursor} if self.pooled else {}
        try:
            conn = psycopg.connect(autocommit=True, **pooled_kwargs, **kwargs)
        except psycopg.Error as exc:
            if is_saturation(exc):
                raise self._saturated(exc) from exc
            raise StoreConnectError(
                f"could not connect to PostgreSQL at {self.target} "
                f"(connect_timeout {kwargs['connect_timeout']} s): {self._scrub(exc)}. "
                "Check DATABASE_URL or the database secret, that the server is running, and that "
                "this network can reach it (VPC subnets, security group, RDS Proxy)."
            ) from exc
        self._saturated_refusals = 0
        if not self.pooled:
            self._start_session(conn)
        return conn

    def _start_session(self, conn: psycopg.Connection[Any]) -> None:
        """Direct mode: set the session's statement timeout once, under the client deadline."""
        deadline = WATCHDOG.arm(
            conn.pgconn.socket, budget.bound((self._statement_timeout_ms + CLIENT_DEADLINE_MARGIN_MS) / 1000)
        )
        try:
            conn.execute(f"SET statement_timeout = {self._statement_timeout_ms}")
        except psycopg.Error as exc:
            conn.close()
            raise StoreConnectError(
                f"connected to PostgreSQL at {self.target} but setting its statement_timeout failed"
                f"{' (no answer within the client deadline)' if deadline.fired else ''}: {self._scrub(exc)}. "
                "Check that the server is healthy; behind a transaction pooler set DB_POOLER=pgbouncer or rds-proxy."
            ) from exc
        finally:
            WATCHDOG.disarm(deadline)

    def _saturated(self, error: psycopg.Error) -> StoreSaturatedError:
        """Start (or lengthen) the backoff after a refusal for lack of slots; the error to raise."""
        self._saturated_refusals += 1
        ceiling = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** (self._saturated_refusals - 1))
        delay = random.uniform(ceiling / 2, ceiling)  # nosec B311 # backoff jitter, not cryptography
        self._backoff_until = self._monotonic() + delay
        self._saturation_message = (
            f"PostgreSQL at {self.target} refused a new connection: no connection slot is free "
            f"({self._scrub(error)}). The database's max_connections (or the pooler's limit) is used up: keep "
            "the function's reserved concurrency at or below the connections reserved for it, put RDS Proxy "
            "or pgbouncer in front, and let idle sessions go (DB_IDLE_RELEASE_SECONDS, the server's "
            "idle_session_timeout)."
        )
        return StoreSaturatedError(
            f"{self._saturation_message} Backing off {delay:.1f} s (refusal {self._saturated_refusals} in a row)."
        )

    def _session(self, conn: psycopg.Connection[Any]) -> _PgSession:
        prefix = self._prefix  # direct: always "", no need to ask the connection
        if prefix and conn.pgconn.transaction_status != _IDLE:
            prefix = ""
        cursor = self._statement_cursor
        if cursor is None or cursor.connection is not conn:  # first use, or a reopened connection
            cursor = self._statement_cursor = conn.cursor()
        return _PgSession(conn, prefix, cursor)

    @contextmanager
    def _write_transaction(self, conn: psycopg.Connection[Any]) -> Iterator[None]:
        with conn.transaction():
            if self.pooled:  # direct: the session's statement timeout holds already
                conn.execute(self._set_timeout)
            yield

    def _guard(self, conn: psycopg.Connection[Any], operation: str) -> _DeadlineGuard:
        timeout_ms = self._migration_timeout_ms if operation == "migrate" else self._statement_timeout_ms
        return _DeadlineGuard(self, conn.pgconn.socket, budget.bound((timeout_ms + CLIENT_DEADLINE_MARGIN_MS) / 1000))

    @property
    def _deadline_fired(self) -> bool:
        return self._deadline is not None and self._deadline.fired

    def _may_retry(self, error: Exception) -> bool:
        # A server that stopped answering is not retried: the retry would wait as long again.
        return not self._deadline_fired

    def _keep_message(self, session: Any, params: Mapping[str, Any]) -> int:
        # One round trip, like _add_capped; the function's advisory lock makes ids of one email and
        # type commit in id order (a plain identity insert would not across concurrent callers).
        return int(session.rows(_KEEP_CALL, params)[0][0])

    def keep_message_and_list(self, message: NewMessage) -> tuple[int, list[str]]:
        """Keep ``message`` and list the active connections of its email and type in ONE round
        trip: ``ws_keep_and_list`` (migration 0004; its comment proves replay's guarantee, with
        :attr:`replay_lock` on the read side).

        Raises :class:`~.base.MissingFunctionError` when the function does not exist yet (the
        caller then keeps and lists in two calls); after that, for
        :data:`MISSING_FUNCTION_RECHECK_S`, without asking the database again."""
        if self._monotonic() < self._keep_and_list_missing_until:
            raise MissingFunctionError(
                f"{KEEP_AND_LIST_FUNCTION}() was missing at {self.target} less than "
                f"{MISSING_FUNCTION_RECHECK_S:.0f} s ago: run migration {KEEP_AND_LIST_MIGRATION}",
                function=KEEP_AND_LIST_FUNCTION,
            )
        params = self._message_params(message)
        try:
            kept, ids = self._run("keep_message_and_list", lambda s: s.rows(_KEEP_AND_LIST_CALL, params)[0])
        except StoreError as error:
            cause = error.__cause__
            if isinstance(cause, pg_errors.UndefinedFunction) and KEEP_AND_LIST_FUNCTION in str(cause):
                self._keep_and_list_missing_until = self._monotonic() + MISSING_FUNCTION_RECHECK_S
                raise MissingFunctionError(str(error), function=KEEP_AND_LIST_FUNCTION) from cause
            raise
        return int(kept), list(ids)

    def _add_capped(self, session: Any, params: Mapping[str, Any]) -> bool:
        # One round trip: pooled, the statement timeout and the function call run in one query string
        # (one implicit transaction); direct, the call is one (prepared) extended-protocol query. A single INSERT could not take the lock itself: under READ COMMITTED
        # its snapshot predates the lock wait. The function's statements each take a fresh snapshot,
        # so its count, run after the lock is granted, sees the rows of every earlier holder.
        return bool(session.rows(_ADD_CALL, params)[0][0])

    def _lock_email_of(self, session: Any, connection_id: str) -> None:
        session.rows(_LOCK_EMAIL_OF, {"connection_id": connection_id})

    def _missing_table(self, error: Exception) -> str | None:
        # SQLSTATE 42P01 undefined_table only; the table name is in the primary message.
        if not isinstance(error, pg_errors.UndefinedTable):
            return None
        match = re.search(_UNDEFINED_RELATION, error.diag.message_primary or "")
        return match["name"].rpartition(".")[2] if match else None

    def _lock_migrations(self, session: Any) -> None:
        timeout = self._migration_timeout_ms
        session.execute(f"SET LOCAL statement_timeout = {timeout}")
        session.execute(f"SET LOCAL lock_timeout = {timeout}")
        try:
            session.execute(MIGRATION_LOCK)
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
        self._statement_cursor = None
        conn.close()  # psycopg's close never raises, even on a broken connection

    def _error(self, operation: str, error: Exception, *, lost: bool) -> StoreError:
        message = self._scrub(error)
        if self._deadline_fired:
            timeout_ms = self._migration_timeout_ms if operation == "migrate" else self._statement_timeout_ms
            return StoreError(
                f"PostgreSQL at {self.target} did not answer {operation} within the client deadline "
                f"({timeout_ms + CLIENT_DEADLINE_MARGIN_MS} ms: the statement timeout plus "
                f"{CLIENT_DEADLINE_MARGIN_MS} ms, or less when the invocation had less time left); the "
                "connection was given up and is reopened on the next use. The server is frozen, "
                "overloaded or unreachable; if the statement reached it, it either committed whole or not at all."
            )
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
