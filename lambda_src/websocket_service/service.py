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
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping

from . import observability as obs
from .config import FAILED_DELIVERIES_METRIC, Settings
from .store.base import (
    MIGRATION_TIMEOUT_MS,
    ConnectionStore,
    KeptMessage,
    MissingFunctionError,
    NewConnection,
    NewMessage,
    StoreError,
)
from .store.sql import MESSAGES_MIGRATION, messages_table_missing
from .tokens import read_token_secret
from .validation import ValidationError, normalize_email, validate_connection_type

if TYPE_CHECKING:
    from .messenger import Messenger

EMAIL_VERIFICATION_TYPE = "email-verification"
EMAIL_VERIFIED_MESSAGE_TYPE = "email-verified"
MAX_PENDING_DISCONNECTS = 1000
"""How many unrecorded ``$disconnect`` calls one container keeps (the oldest are dropped first)."""


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


MESSAGE_ID_FIELD = "messageId"
"""Key notify adds to a JSON-object push (and to the notify answer): the kept message's id."""
MESSAGE_ID_DIGITS = 12
"""Message ids are the store's sequence number, zero-padded to this many digits (so they also sort
as text); clients treat them as opaque strings."""
MAX_REPLAY_MESSAGES = 100
"""At most this many messages are posted by one ``replay`` (oldest first); the answer then says
``complete: false`` and the client asks again after ``lastMessageId``."""
_MAX_ID_TEXT = "9" * 20  # longer than any formatted id: sizes a JSON push before its id exists


def format_message_id(number: int) -> str:
    """The wire form of a kept message's store id (``42`` -> ``"000000000042"``)."""
    return f"{number:0{MESSAGE_ID_DIGITS}d}"


def parse_message_id(text: Any) -> int | None:
    """The store id a message id names, or None when ``text`` is not one (never raises)."""
    if not isinstance(text, str) or not text.isascii() or not text.isdigit() or len(text) > 19:
        return None
    number = int(text)
    return number if number > 0 else None


def message_body(message: Any) -> tuple[str, bool] | None:
    """How notify keeps ``message``: ``(text, True)`` for a JSON object (its text WITHOUT any
    ``messageId`` key: the service's id replaces it), ``(text, False)`` for anything else, sent as
    is (a string as its text, other JSON values compactly encoded); None for bytes that are not
    UTF-8 (sent, never kept)."""
    if isinstance(message, dict):
        fields = {k: v for k, v in message.items() if k != MESSAGE_ID_FIELD}
        return encode_message(fields).decode("utf-8"), True
    try:
        return encode_message(message).decode("utf-8"), False
    except UnicodeDecodeError:
        return None


def wire_payload(body: str, is_json: bool, message_id: str) -> bytes:
    """What is posted for a kept message: a JSON object's text with ``"messageId": message_id``
    added as its last key; any other body unchanged."""
    if not is_json:
        return body.encode("utf-8")
    separator = "" if body == "{}" else ","
    return f'{body[:-1]}{separator}"{MESSAGE_ID_FIELD}":{json.dumps(message_id)}}}'.encode("utf-8")


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """How a notification went: connections reached, gone (410, now inactive), failed (an error
    answer or a timeout, logged) and undelivered (not attempted or not answered before the
    deadline). ``complete`` is False when anything is undelivered. ``message_id`` and ``kept``:
    the id under which the message is kept for replay (None and False when the replay window is
    off or the store could not keep it)."""

    sent: int = 0
    gone: int = 0
    failed: int = 0
    undelivered: int = 0
    message_id: str | None = None
    kept: bool = False

    @property
    def complete(self) -> bool:
        """True when every connection got an answer (sent, gone or failed) in time."""
        return self.undelivered == 0

    def to_dict(self) -> dict[str, int | bool | str | None]:
        """The counts, ``complete``, ``messageId`` and ``kept`` as a plain dict (handler results)."""
        return {"sent": self.sent, "gone": self.gone, "failed": self.failed, "undelivered": self.undelivered,
                "complete": self.complete, MESSAGE_ID_FIELD: self.message_id, "kept": self.kept}


@dataclass(frozen=True, slots=True)
class ReplayReport:
    """What one ``replay`` posted: ``count`` messages, the last one's id (None when none), and
    whether everything the window held after ``after`` was posted (False: the post cap, a failed
    post or the deadline stopped it; the client asks again after ``last_message_id``)."""

    count: int
    last_message_id: str | None
    complete: bool


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
                from .messenger import Messenger  # deferred: $connect and $disconnect never post

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
        from .messenger import ManagementEndpointError  # deferred: only a full email's $connect gets here

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

    def reactivate(self, connection_id: str) -> bool:
        """A message arrived from ``connection_id`` although the store does not count it as
        active: its socket is evidently open, so make it active again when it was marked gone by
        a 410 (e.g. a notify that posted before the handshake finished) or expired idle, never
        when its ``$disconnect`` was recorded; True if it was (logged at INFO).

        Cap choice: the connection may come back while its email has up to
        ``MAX_CONNECTIONS_PER_EMAIL`` OTHER active connections, so the email ends with at most the
        cap plus this one (its other sockets may have been accepted while it was not counted; the
        socket is open either way, and refusing would keep it deaf). A second such connection of a
        full email stays inactive; ``$connect`` refuses new ones until the count is under the cap.
        """
        changed = self.store.reactivate(connection_id, at=self.clock(),
                                        active_limit=self.settings.max_connections_per_email + 1)
        if changed:
            obs.log("INFO", "connection_reactivated")
        return changed

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

        With ``REPLAY_WINDOW_MINUTES`` on, the message is first kept for replay (also when no
        connection is open): a JSON object is then posted with ``"messageId"`` added (replacing
        its own), anything else as it is; the report carries the id and ``kept``. A store that
        cannot keep it costs only the replay (logged), never the push.
        """
        from .messenger import check_payload_size  # deferred: $connect and $disconnect never post

        email = normalize_email(email)
        connection_type = validate_connection_type(connection_type, self.settings.allowed_connection_types)
        payload = encode_message(message)
        check_payload_size(payload)
        kept_form = message_body(message) if self.settings.replay_window_minutes else None
        if kept_form is not None:
            check_payload_size(wire_payload(*kept_form, _MAX_ID_TEXT))  # room for the id it will carry
        messenger = self.messenger  # a bad endpoint setting fails every notify, not only busy ones
        message_id = None
        if kept_form is None:
            ids = self.store.active_connection_ids(email, connection_type)
        else:  # kept before the fan-out: a page connecting meanwhile can replay it
            message_id, ids = self._keep_and_list(email, connection_type, *kept_form)
            if message_id is not None:
                payload = wire_payload(*kept_form, message_id)
        if not ids:
            return DeliveryReport(message_id=message_id, kept=message_id is not None)
        outcomes = messenger.post_many(ids, payload, deadline=deadline)
        gone = [cid for cid, outcome in zip(ids, outcomes) if outcome == "gone"]
        if gone:
            self._mark_gone(gone)
        report = DeliveryReport(sent=outcomes.count("sent"), gone=len(gone), failed=outcomes.count("failed"),
                                undelivered=outcomes.count("undelivered"), message_id=message_id,
                                kept=message_id is not None)
        obs.emit_metric(self.settings.metrics_namespace, FAILED_DELIVERIES_METRIC, report.failed + report.undelivered)
        return report

    def _keep_and_list(self, email: str, connection_type: str, body: str, is_json: bool) -> tuple[str | None, list[str]]:
        """Keep a message for the replay window and list the connections to push it to: its id
        (None when the store cannot keep it, logged at WARNING ``replay_keep_failed``: the live
        push still goes out, only replay of this message is lost; the table may not exist yet
        while a deploy runs the new code before its migration) and the active ids.

        One store call (:meth:`~.store.base.ConnectionStore.keep_message_and_list`); before the
        migration it needs, a WARNING ``keep_and_list_unavailable`` and the two calls it replaces,
        keep then list, in that order (replay's guarantee needs the keep committed first)."""
        now = self.clock()
        message = NewMessage(email, connection_type, body, is_json, now,
                             now + timedelta(minutes=self.settings.replay_window_minutes))
        try:
            kept, ids = self.store.keep_message_and_list(message)
            return format_message_id(kept), ids
        except MissingFunctionError as error:
            obs.log("WARNING", "keep_and_list_unavailable", missing_function=error.function, error_message=str(error))
            message_id = self._keep(message)
        except StoreError as error:
            obs.log("WARNING", "replay_keep_failed", error_message=str(error))
            message_id = None
        return message_id, self.store.active_connection_ids(email, connection_type)

    def _keep(self, message: NewMessage) -> str | None:
        try:
            return format_message_id(self.store.keep_message(message))
        except StoreError as error:
            obs.log("WARNING", "replay_keep_failed", error_message=str(error))
            return None

    def replay_disabled_reason(self) -> str | None:
        """Why ``replay`` is refused on this service, or None when it is allowed."""
        if not self.settings.replay_window_minutes:
            return "replay is off: the service keeps no messages (REPLAY_WINDOW_MINUTES is 0)"
        if not self.token_secret and not self.settings.replay_without_tokens:
            return ("replay needs token-verified connections and connect tokens are off; the operator can "
                    "turn tokens on, or allow replay without them (REPLAY_WITHOUT_TOKENS=true)")
        return None

    def replay(self, connection_id: str, user_email: str, connection_type: str, after: str | None, *,
               deadline: float | None = None) -> ReplayReport:
        """Post to ``connection_id`` the kept, unexpired messages of ``user_email`` and
        ``connection_type`` newer than ``after``, oldest first, exactly as notify pushed them.

        An ``after`` that is not a message id, unknown, expired, or of another email or type counts
        as no ``after`` (all of the caller's own messages in the window): the answer never tells
        whether another user's message exists. Posting stops at the first post that is not
        ``sent`` (a closed connection is marked gone), at :data:`MAX_REPLAY_MESSAGES`, or at
        ``deadline``; the report is then not ``complete``. The caller checks
        :meth:`replay_disabled_reason` first.

        Before migration :data:`~.store.sql.MESSAGES_MIGRATION` has run (a deploy runs the new
        code first) there is nothing to replay: the report is empty and not ``complete`` (the
        client asks again later) and a WARNING ``replay_unavailable`` names the migration; any
        other store error propagates.
        """
        now = self.clock()
        after_id = parse_message_id(after) if after is not None else None
        try:
            if after_id is not None:
                anchor = self.store.get_message(after_id)
                if not (anchor and anchor.user_email == user_email and anchor.connection_type == connection_type
                        and anchor.expires_at > now):
                    after_id = None
            messages = self.store.messages_after(user_email, connection_type, after_id=after_id or 0,
                                                 unexpired_at=now, limit=MAX_REPLAY_MESSAGES + 1)
        except StoreError as error:
            if not messages_table_missing(error):
                raise
            obs.log("WARNING", "replay_unavailable", missing_migration=MESSAGES_MIGRATION, error_message=str(error))
            return ReplayReport(count=0, last_message_id=None, complete=False)
        complete = len(messages) <= MAX_REPLAY_MESSAGES
        sent: list[KeptMessage] = []
        for message in messages[:MAX_REPLAY_MESSAGES]:
            message_id = format_message_id(message.id)
            outcome = self.messenger.post(connection_id, wire_payload(message.body, message.is_json, message_id),
                                          deadline=deadline)
            if outcome != "sent":
                if outcome == "gone":
                    self._mark_gone([connection_id])
                complete = False
                break
            sent.append(message)
        return ReplayReport(count=len(sent), last_message_id=format_message_id(sent[-1].id) if sent else None,
                            complete=complete)

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
        from .secrets import get_secret_string  # deferred: only a database secret needs it
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
