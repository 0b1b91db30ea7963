"""The connection-store protocol shared by every backend, and the records it stores.

Business rules (email validation, caps, TTLs) live above the store, in the service layer; a store
only persists and queries. Every backend passes the one contract suite in
``tests/contract/test_store_contract.py``. All datetimes are timezone-aware UTC.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from ..config import DB_POOLERS, DEFAULT_DB_POOLER, ENV_DB_POOLER
from ..errors import ServiceError


class StoreError(ServiceError):
    """A store could not complete an operation (unreachable database, bad URL, timeout)."""

    code = "store_error"


class StoreConfigError(StoreError):
    """The store settings (``DATABASE_URL`` or the database secret) are unusable."""

    code = "config_error"


def pooler_setting(value: str) -> str:
    """``value`` if it is one of :data:`~websocket_service.config.DB_POOLERS`, else
    :class:`StoreConfigError` naming ``DB_POOLER`` and the accepted values."""
    if value not in DB_POOLERS:
        raise StoreConfigError(
            f"{ENV_DB_POOLER} (pooler) is {value!r}; expected one of {', '.join(DB_POOLERS)} (default {DEFAULT_DB_POOLER})"
        )
    return value


class MissingTableError(StoreError):
    """A statement named a table that does not exist (PostgreSQL SQLSTATE 42P01 ``undefined_table``,
    SQLite ``no such table``): the migration that creates ``table`` has not run yet, e.g. while a
    deploy runs the new code before its migrate step (see :mod:`.schema`, expand/contract)."""

    def __init__(self, message: str, *, table: str) -> None:
        super().__init__(message)
        self.table = table


class MissingFunctionError(StoreError):
    """A database function the code calls does not exist yet: the migration that creates
    ``function`` has not run (a deploy runs the new code before its migrate step; see
    :mod:`.schema`, expand/contract). Callers fall back to the statements the function replaces."""

    def __init__(self, message: str, *, function: str) -> None:
        super().__init__(message)
        self.function = function


class StoreConnectError(StoreError):
    """A backend could not OPEN its connection (server unreachable, authentication failed, unknown
    database, a file that cannot be opened). Unlike a failed statement on a healthy connection,
    retrying with the same settings may not help: the caller should rebuild the store from freshly
    read settings (a rotated password, a moved host)."""


class StoreSaturatedError(StoreConnectError):
    """The database (or its pooler) refused a new connection because no slot is free (too many
    clients, a connection limit, SQLSTATE 53300). Not a settings problem: re-reading the database
    secret cannot help. The store backs off and raises this again, without dialling, until the
    backoff ends. ``code`` is the error code handlers report (``database_saturated``)."""

    code = "database_saturated"


MIGRATION_TIMEOUT_MS = 20_000
"""Default bound, per statement, of ``migrate`` on PostgreSQL (``statement_timeout`` and
``lock_timeout``, including the wait for a concurrent migrator). Sized for the Lambda function
(30 s): a blocked deploy-time migrate must give up in time to answer CloudFormation with a clear
error instead of being killed. Operators' tools (``wsctl migrate``) pass a longer one."""


IDLE_EXPIRED_REASON = "idle-expired"
"""``disconnect_reason`` written by :meth:`ConnectionStore.expire_idle`."""

GONE_REASON = "gone"
"""``disconnect_reason`` written by :meth:`ConnectionStore.mark_gone` (Management API 410)."""


@dataclass(frozen=True, slots=True)
class NewConnection:
    """What ``$connect`` records about a connection that has just been accepted."""

    connection_id: str
    user_email: str  # already normalised to lower case by the caller
    connection_type: str
    connected_at: datetime
    source_ip: str | None = None
    user_agent: str | None = None
    domain_name: str | None = None
    stage: str | None = None


@dataclass(frozen=True, slots=True)
class Connection:
    """One row of ``websocket_connections``."""

    connection_id: str
    user_email: str
    connection_type: str
    is_active: bool
    connected_at: datetime
    last_activity_at: datetime
    disconnected_at: datetime | None
    disconnect_status_code: int | None
    disconnect_reason: str | None
    source_ip: str | None
    user_agent: str | None
    domain_name: str | None
    stage: str | None


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message notify keeps for replay (migration 0002, ``websocket_messages``).

    ``body`` is the text posted to connections; when ``is_json`` it is the text of a JSON object
    WITHOUT the message id, and every post adds ``"messageId"`` to it (see
    :func:`websocket_service.service.wire_payload`). ``expires_at`` ends the replay window."""

    user_email: str  # already normalised to lower case by the caller
    connection_type: str
    body: str
    is_json: bool
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class KeptMessage:
    """One row of ``websocket_messages``: ``id`` is the store's sequence number (unique, never
    reused, increasing in commit order within one email and type)."""

    id: int
    user_email: str
    connection_type: str
    body: str
    is_json: bool
    created_at: datetime
    expires_at: datetime


@runtime_checkable
class ConnectionStore(Protocol):
    """Persistence for WebSocket connections. Implementations: PostgreSQL and SQLite."""

    def migrate(self) -> list[int]:
        """Apply pending numbered migrations idempotently; return the versions applied now."""

    def add(self, connection: NewConnection, *, active_limit: int) -> bool:
        """Record an active connection unless its email already has ``active_limit`` active ones.

        Returns False (and writes nothing) when the cap is reached. The check and the insert are
        atomic with respect to concurrent ``add`` calls for the same email. Re-adding an existing
        connection id replaces that row (API Gateway never reuses ids; this keeps retries safe).
        """

    def mark_disconnected(
        self, connection_id: str, *, at: datetime, status_code: int | None, reason: str | None
    ) -> bool:
        """Mark a connection inactive with the time, status code and reason.

        Idempotent: returns True only if an active row changed; unknown ids return False. On a row
        already made inactive by :meth:`mark_gone` or :meth:`expire_idle` the ``$disconnect`` is
        recorded too (returning False), so :meth:`reactivate` never brings that connection back.
        """

    def mark_gone(self, connection_ids: list[str], *, at: datetime) -> int:
        """Mark connections inactive because the Management API answered 410 Gone; return count.

        Only active rows change (``disconnect_reason`` becomes :data:`GONE_REASON`)."""

    def touch(self, connection_id: str, *, at: datetime) -> bool:
        """Set ``last_activity_at`` of an active connection; False if none is active with that id."""

    def reactivate(self, connection_id: str, *, at: datetime, active_limit: int) -> bool:
        """Make an inactive connection active again (``last_activity_at`` = ``at``, disconnect fields
        cleared) because it has just sent a message, so its socket is open; True if it changed.

        Only a row made inactive WITHOUT a recorded ``$disconnect`` comes back: one marked by
        :meth:`mark_gone` (a 410, e.g. a post that raced the handshake) or :meth:`expire_idle`.
        A row whose ``$disconnect`` was recorded, an active row and an unknown id give False (no row
        is created). Refused (False) when the email has ``active_limit`` other active rows; the
        check and the update are atomic with respect to concurrent ``add``/``reactivate`` calls
        for the same email, like :meth:`add`.
        """

    def get(self, connection_id: str) -> Connection | None:
        """Return one connection (active or not), or None."""

    def active_connection_ids(self, user_email: str, connection_type: str) -> list[str]:
        """Ids of the active connections of one (normalised) email and connection type."""

    def list_connections(
        self, *, user_email: str | None = None, active: bool | None = None, limit: int = 100
    ) -> list[Connection]:
        """Connections, newest first, optionally filtered by email and by active flag."""

    def expire_idle(self, *, idle_before: datetime, at: datetime, batch_size: int) -> int:
        """Mark at most ``batch_size`` active connections idle since before ``idle_before``
        inactive (one short transaction, ``disconnect_reason`` :data:`IDLE_EXPIRED_REASON`); return
        how many. Callers loop until it returns 0."""

    def count_idle(self, *, idle_before: datetime) -> int:
        """How many active connections have been idle since before ``idle_before`` (dry runs)."""

    def purge_inactive(self, *, disconnected_before: datetime, batch_size: int) -> int:
        """Delete at most ``batch_size`` inactive rows disconnected before the cutoff (one short
        transaction); return how many. Callers loop until it returns 0."""

    def count_purgeable(self, *, disconnected_before: datetime) -> int:
        """How many inactive rows were disconnected before the cutoff (dry runs)."""

    def keep_message(self, message: NewMessage) -> int:
        """Store ``message`` and return its id: unique, never reused, and within one email and type
        committed in increasing order (a reader that has seen id N never later finds a smaller new
        one)."""

    def keep_message_and_list(self, message: NewMessage) -> tuple[int, list[str]]:
        """:meth:`keep_message`, then :meth:`active_connection_ids` of the message's email and
        type, as one operation (one database round trip where the backend can): ``(id, ids)``.

        Replay's guarantee holds as with the two calls in that order: a connection committed
        after the list was read, and then reading :meth:`messages_after`, sees the message (the
        read waits for the message's commit if need be). Raises :class:`MissingFunctionError`
        when the database lacks what this needs (the caller then makes the two calls)."""

    def get_message(self, message_id: int) -> KeptMessage | None:
        """One kept message (expired or not, until purged), or None."""

    def messages_after(
        self, user_email: str, connection_type: str, *, after_id: int, unexpired_at: datetime, limit: int
    ) -> list[KeptMessage]:
        """At most ``limit`` messages of one email and type with an id above ``after_id`` (0: all)
        whose ``expires_at`` is after ``unexpired_at``, oldest (lowest id) first."""

    def purge_expired_messages(self, *, expired_before: datetime, batch_size: int) -> int:
        """Delete at most ``batch_size`` messages whose ``expires_at`` is before the cutoff (one
        short transaction); return how many. Callers loop until it returns less than the batch."""

    def count_expired_messages(self, *, expired_before: datetime) -> int:
        """How many messages ``purge_expired_messages`` would delete (dry runs)."""

    def close(self) -> None:
        """Release the underlying connection; the store may reconnect on next use."""
