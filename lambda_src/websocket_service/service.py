"""The service object: settings + store + messenger, built once per Lambda container.

:func:`get_service` builds it lazily on first use and caches it per thread (the handler and
:func:`send_email_verification_notification` share it; Lambda runs one thread per instance);
:func:`reset_service` drops it (tests, local gateway) and :func:`use_service` installs a given one. Building opens the store from ``DATABASE_URL`` or, when ``DATABASE_SECRET_ARN``
is set, from that RDS secret, and reads the connect-token secret from ``CONNECT_TOKEN_SECRET`` or
``CONNECT_TOKEN_SECRET_ARN``. The messenger is created only when the first notification is sent,
so a bad or missing management endpoint never blocks connects and disconnects.

No ghost connections (a row left active although its socket is closed would count against the
per-email cap): a ``$disconnect`` the store cannot record is kept in this container's
:data:`pending_disconnects` and applied before the next store use of a ``$connect`` or
``$disconnect`` here; and when the cap refuses a ``$connect``, the counted connections are checked
with the Management API's GetConnection (if ``MANAGEMENT_API_METHODS`` allows GET): those that
answer 410 are marked gone and the add is retried once. The queue lives in memory, so it dies with
the container; the GetConnection check and cleanup's TTL expiry cover what it loses.
"""
from __future__ import annotations

import contextlib
import json
import threading
from collections import deque
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterator, Mapping

from . import observability as obs
from .config import FAILED_DELIVERIES_METRIC, Settings
from .messenger import ManagementEndpointError, Messenger, check_payload_size
from .secrets import get_secret_string
from .store.base import MIGRATION_TIMEOUT_MS, ConnectionStore, NewConnection, StoreError
from .tokens import read_token_secret
from .validation import ValidationError, normalize_email, validate_connection_type

EMAIL_VERIFICATION_TYPE = "email-verification"
EMAIL_VERIFIED_MESSAGE_TYPE = "email-verified"
MAX_PENDING_DISCONNECTS = 1000
"""How many unrecorded ``$disconnect`` calls one container keeps (the oldest are dropped first)."""


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """How a notification went: connections reached, gone (410, now inactive), failed (an error
    answer or a timeout, logged) and undelivered (not attempted or not answered before the
    deadline). ``complete`` is False when anything is undelivered."""

    sent: int = 0
    gone: int = 0
    failed: int = 0
    undelivered: int = 0

    @property
    def complete(self) -> bool:
        """True when every connection got an answer (sent, gone or failed) in time."""
        return self.undelivered == 0

    def to_dict(self) -> dict[str, int | bool]:
        """The counts and ``complete`` as a plain dict (for handler results)."""
        return {**asdict(self), "complete": self.complete}


def encode_message(message: Any) -> bytes:
    """A message as sent on the wire: strings as UTF-8, anything else as compact JSON.

    Raises :class:`~websocket_service.validation.ValidationError` (``invalid_message``, a client
    error) for a message nested too deeply to encode (about 1,000 levels exhaust the encoder's stack).
    """
    if isinstance(message, bytes):
        return message
    if isinstance(message, str):
        return message.encode("utf-8")
    try:
        return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    except RecursionError:
        raise ValidationError("invalid_message", "message nests JSON arrays/objects too deeply; "
                              "send a flatter message") from None


@dataclass(frozen=True, slots=True)
class PendingDisconnect:
    """A ``$disconnect`` the store could not record yet."""

    connection_id: str
    at: datetime
    status_code: int | None
    reason: str | None


class PendingDisconnects:
    """A bounded, thread-safe queue of :class:`PendingDisconnect` records (one per container)."""

    def __init__(self, maxlen: int = MAX_PENDING_DISCONNECTS) -> None:
        self._items: deque[PendingDisconnect] = deque(maxlen=maxlen)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def add(self, item: PendingDisconnect) -> None:
        """Queue one record (the oldest is dropped when the queue is full)."""
        with self._lock:
            self._items.append(item)

    def take(self) -> list[PendingDisconnect]:
        """Remove and return every queued record, oldest first."""
        with self._lock:
            items = list(self._items)
            self._items.clear()
            return items

    def put_back(self, items: list[PendingDisconnect]) -> None:
        """Return records :meth:`take` gave out but that could not be applied (ahead of newer ones)."""
        with self._lock:
            self._items.extendleft(reversed(items))


pending_disconnects = PendingDisconnects()
"""This container's unrecorded disconnects; module-level so it survives a rebuilt service."""


class Service:
    """Everything one invocation needs. Build with :func:`open_service` (or directly in tests)."""

    def __init__(
        self,
        settings: Settings,
        store: ConnectionStore,
        *,
        token_secret: str | None = None,
        messenger: Messenger | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.settings = settings
        self.store = store
        self.token_secret = token_secret
        self.clock = clock
        self._messenger = messenger
        self._lock = threading.Lock()

    @property
    def messenger(self) -> Messenger:
        """The management API messenger, created on first use.

        Raises :class:`~websocket_service.messenger.ManagementEndpointError` when the endpoint
        setting is missing or invalid.
        """
        with self._lock:
            if self._messenger is None:
                self._messenger = Messenger(self.settings.management_endpoint)
            return self._messenger

    def add_connection(self, connection: NewConnection) -> bool:
        """Record a ``$connect`` under the per-email cap; False when the cap refuses it.

        Applies this container's pending disconnects first. When the cap refuses, the email's
        counted connections are checked with GetConnection (see the module docstring); those
        gone are marked inactive and the add is retried once. Store errors propagate.
        """
        self.apply_pending_disconnects()
        limit = self.settings.max_connections_per_email
        if self.store.add(connection, active_limit=limit):
            return True
        if not self._release_ghosts(connection):
            return False
        return self.store.add(connection, active_limit=limit)

    def _release_ghosts(self, connection: NewConnection) -> bool:
        """Mark the counted connections of the email that the Management API says are gone; True
        if any were. Skipped (False) without GET permission or a management endpoint."""
        if "GET" not in self.settings.management_api_methods or not self.settings.management_endpoint:
            return False
        counted = self.store.list_connections(
            user_email=connection.user_email, active=True, limit=self.settings.max_connections_per_email + 1
        )
        candidates = [c.connection_id for c in counted if c.connection_id != connection.connection_id]
        try:
            gone = self.messenger.gone_connections(candidates)
        except ManagementEndpointError as error:
            obs.log("WARNING", "ghost_check_skipped", error_message=str(error))
            return False
        if not gone:
            return False
        self.store.mark_gone(gone, at=self.clock())
        obs.log("INFO", "ghost_connections_released", ghost_connections=len(gone), checked=len(candidates))
        return True

    def disconnect(self, connection_id: str, *, status_code: int | None, reason: str | None) -> bool:
        """Record a ``$disconnect``; True if an active row changed.

        If the store fails, the disconnect is queued in :data:`pending_disconnects` (applied on a
        later store use in this container) and the store error is raised.
        """
        record = PendingDisconnect(connection_id, self.clock(), status_code, reason)
        try:
            changed = self.store.mark_disconnected(
                connection_id, at=record.at, status_code=status_code, reason=reason
            )
        except StoreError:
            pending_disconnects.add(record)
            raise
        try:
            self.apply_pending_disconnects()
        except StoreError:
            pass  # kept queued and logged; this disconnect itself is recorded
        return changed

    def apply_pending_disconnects(self) -> int:
        """Record this container's queued disconnects; return how many were applied.

        Stops at the first store failure, keeps the rest queued (logged at WARNING) and raises
        that :class:`StoreError`.
        """
        if not len(pending_disconnects):
            return 0
        records = pending_disconnects.take()
        for index, item in enumerate(records):
            try:
                self.store.mark_disconnected(
                    item.connection_id, at=item.at, status_code=item.status_code, reason=item.reason
                )
            except StoreError as error:
                pending_disconnects.put_back(records[index:])
                obs.log("WARNING", "pending_disconnects_kept", pending=len(records) - index,
                        error_message=str(error))
                raise
        obs.log("INFO", "pending_disconnects_applied", applied=len(records))
        return len(records)

    def notify(
        self, email: str, connection_type: str, message: Any, *, deadline: float | None = None
    ) -> DeliveryReport:
        """Post ``message`` to every active connection of ``email`` and ``connection_type``.

        Posts run in parallel (inline for one connection); connections answering 410 are marked
        inactive; failed plus undelivered posts are emitted as the ``FailedDeliveries`` EMF metric.
        ``deadline`` (a ``time.monotonic()`` instant, e.g. the invocation's remaining time minus a
        safety margin) stops the fan-out: posts that could not be made or answered before it are
        counted as ``undelivered`` and the report is not ``complete``. Once the posts are sent, a
        store failure while marking the gone connections is only logged (WARNING): raising would
        make the caller's retry deliver the message to every recipient again, and the rows left
        active are marked by the next notify (410 again) or expired by cleanup. Raises
        :class:`~websocket_service.validation.ValidationError` for a bad email/type and
        :class:`~websocket_service.messenger.PayloadTooLargeError` before sending anything.
        """
        email = normalize_email(email)
        connection_type = validate_connection_type(connection_type, self.settings.allowed_connection_types)
        payload = encode_message(message)
        check_payload_size(payload)
        messenger = self.messenger  # a bad endpoint setting fails every notify, not only busy ones
        ids = self.store.active_connection_ids(email, connection_type)
        if not ids:
            return DeliveryReport()
        outcomes = messenger.post_many(ids, payload, deadline=deadline)
        gone = [cid for cid, outcome in zip(ids, outcomes) if outcome == "gone"]
        if gone:
            self._mark_gone(gone)
        report = DeliveryReport(sent=outcomes.count("sent"), gone=len(gone), failed=outcomes.count("failed"),
                                undelivered=outcomes.count("undelivered"))
        obs.emit_metric(self.settings.metrics_namespace, FAILED_DELIVERIES_METRIC, report.failed + report.undelivered)
        return report

    def _mark_gone(self, connection_ids: list[str]) -> None:
        try:
            self.store.mark_gone(connection_ids, at=self.clock())
        except StoreError as error:
            obs.log("WARNING", "mark_gone_failed", gone_connections=len(connection_ids),
                    error_message=str(error))

    def close(self) -> None:
        """Release the store connection and the messenger's pools."""
        with self._lock:
            messenger, self._messenger = self._messenger, None
        if messenger is not None:
            messenger.close()
        self.store.close()


def _database_url(settings: Settings) -> str:
    if settings.database_secret_arn:
        from .store import database_url_from_secret

        return database_url_from_secret(
            get_secret_string(settings.database_secret_arn),
            host=settings.database_host,
            port=settings.database_port,
            dbname=settings.database_name,
        )
    return settings.database_url


def open_service(settings: Settings, *, migration_timeout_ms: int = MIGRATION_TIMEOUT_MS) -> Service:
    """Open the store and read the token secret described by ``settings``.

    ``migration_timeout_ms`` bounds each statement of the store's ``migrate`` on PostgreSQL (the
    default fits the Lambda function's timeout; ``wsctl migrate`` passes a longer one).

    Raises :class:`~websocket_service.store.base.StoreError` (including ``StoreConfigError``) or
    :class:`~websocket_service.secrets.SecretFetchError` with an actionable message; the store is
    closed again when anything after opening it fails.
    """
    from .store import open_store

    store = open_store(
        _database_url(settings),
        connect_timeout_s=settings.db_connect_timeout_seconds,
        statement_timeout_ms=settings.db_statement_timeout_ms,
        migration_timeout_ms=migration_timeout_ms,
        idle_release_s=settings.db_idle_release_seconds or None,
        pooler=settings.db_pooler,
    )
    try:
        if settings.auto_migrate:
            store.migrate()
        return Service(settings, store, token_secret=read_token_secret(settings))
    except BaseException:
        store.close()
        raise


_local = threading.local()
_services: list[Service] = []  # every thread's service, so reset_service can close them all
_service_lock = threading.Lock()
_generation = 0  # bumped by reset_service; a thread's cached service from an older one is stale


def get_service(env: Mapping[str, str] | None = None) -> Service:
    """This thread's service, built from the environment on first call and then cached.

    In Lambda the handler runs in one thread, one invocation at a time: one service and one store
    connection per warm instance. The local gateway runs invocations in worker threads, each then
    behaving like a warm instance with its own store connection, so concurrent ``$connect``
    invocations do not queue on one connection. A failed build is not cached, so the next
    invocation retries (e.g. after a transient secret or database error). Raises
    :class:`~websocket_service.config.ConfigError` for bad settings.
    """
    service = getattr(_local, "service", None)
    if service is not None and getattr(_local, "generation", -1) == _generation:
        return service
    settings = Settings.from_env(env)
    obs.configure(settings.log_level)
    service = open_service(settings)
    with _service_lock:
        _services.append(service)
        _local.service, _local.generation = service, _generation
    return service


@contextlib.contextmanager
def use_service(service: Service) -> Iterator[Service]:
    """Make ``service`` this thread's service while the block runs (tests, embedding), then restore."""
    previous = getattr(_local, "service", None), getattr(_local, "generation", -1)
    _local.service, _local.generation = service, _generation
    try:
        yield service
    finally:
        _local.service, _local.generation = previous


def reset_service() -> None:
    """Close and forget every thread's cached service; the next :func:`get_service` rebuilds it."""
    global _generation
    with _service_lock:
        for service in _services:
            service.close()
        _services.clear()
        _generation += 1
        _local.service = None


def default_notify_message(email: str, connection_type: str) -> dict[str, str]:
    """The message a notify without one sends: ``{"type": "email-verified", "email": ...}`` for
    the ``email-verification`` type; any other type has no default and needs a message.

    The one rule for every notify front end (``wsctl notify``, the local console's Notify).
    :raises ValidationError: ``connection_type`` is not ``email-verification``.
    """
    if connection_type != EMAIL_VERIFICATION_TYPE:
        raise ValidationError(
            "message_required",
            f"a message is required for type {connection_type!r} (only {EMAIL_VERIFICATION_TYPE} has a default, "
            f'{{"type": "{EMAIL_VERIFIED_MESSAGE_TYPE}", "email": ...}})',
        )
    return {"type": EMAIL_VERIFIED_MESSAGE_TYPE, "email": email}


def send_email_verification_notification(email: str, *, deadline: float | None = None) -> DeliveryReport:
    """Tell every open verification dialog of ``email`` that the address is verified.

    Python counterpart of the seed's ``AwsWebSocketService.sendEmailVerificationNotification``:
    posts ``{"type": "email-verified", "email": ...}`` to the active ``email-verification``
    connections of that address.
    """
    normalised = normalize_email(email)
    message = default_notify_message(normalised, EMAIL_VERIFICATION_TYPE)
    return get_service().notify(normalised, EMAIL_VERIFICATION_TYPE, message, deadline=deadline)
