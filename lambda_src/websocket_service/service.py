"""The service object: settings + store + messenger, built once per Lambda container.

:func:`get_service` builds it lazily on first use and caches it at module level (the handler and
:func:`send_email_verification_notification` share it); :func:`reset_service` drops it (tests,
local gateway). Building opens the store from ``DATABASE_URL`` or, when ``DATABASE_SECRET_ARN``
is set, from that RDS secret, and reads the connect-token secret from ``CONNECT_TOKEN_SECRET`` or
``CONNECT_TOKEN_SECRET_ARN``. The messenger is created only when the first notification is sent,
so a bad or missing management endpoint never blocks connects and disconnects.
"""
from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

from . import observability as obs
from .config import FAILED_DELIVERIES_METRIC, Settings
from .messenger import MAX_PARALLEL_POSTS, Messenger, check_payload_size
from .secrets import SecretFetchError, get_secret_string
from .store.base import MIGRATION_TIMEOUT_MS, ConnectionStore, StoreError
from .validation import normalize_email, validate_connection_type

EMAIL_VERIFICATION_TYPE = "email-verification"
EMAIL_VERIFIED_MESSAGE_TYPE = "email-verified"


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """How a notification went: connections reached, gone (410, now inactive), failed."""

    sent: int = 0
    gone: int = 0
    failed: int = 0

    def to_dict(self) -> dict[str, int]:
        """The counts as a plain dict (for handler results)."""
        return asdict(self)


def encode_message(message: Any) -> bytes:
    """A message as sent on the wire: strings as UTF-8, anything else as compact JSON."""
    if isinstance(message, bytes):
        return message
    if isinstance(message, str):
        return message.encode("utf-8")
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


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

    def notify(self, email: str, connection_type: str, message: Any) -> DeliveryReport:
        """Post ``message`` to every active connection of ``email`` and ``connection_type``.

        Posts run in parallel; connections answering 410 are marked inactive; the number of failed
        deliveries is emitted as the ``FailedDeliveries`` EMF metric. Once the posts are sent, a
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
        from concurrent.futures import ThreadPoolExecutor  # deferred: only notify needs threads

        with ThreadPoolExecutor(max_workers=min(len(ids), MAX_PARALLEL_POSTS)) as pool:
            outcomes = list(pool.map(lambda cid: messenger.post(cid, payload), ids))
        gone = [cid for cid, outcome in zip(ids, outcomes) if outcome == "gone"]
        if gone:
            self._mark_gone(gone)
        report = DeliveryReport(sent=outcomes.count("sent"), gone=len(gone), failed=outcomes.count("failed"))
        obs.emit_metric(self.settings.metrics_namespace, FAILED_DELIVERIES_METRIC, report.failed)
        return report

    def _mark_gone(self, connection_ids: list[str]) -> None:
        try:
            self.store.mark_gone(connection_ids, at=self.clock())
        except StoreError as error:
            obs.log("WARNING", "mark_gone_failed", gone_connections=len(connection_ids),
                    error_message=str(error))

    def close(self) -> None:
        """Release the store connection."""
        self.store.close()


def _database_url(settings: Settings) -> str:
    if settings.database_secret_arn:
        from .store import database_url_from_secret

        return database_url_from_secret(get_secret_string(settings.database_secret_arn))
    return settings.database_url


def _token_secret(settings: Settings) -> str | None:
    if settings.connect_token_secret:
        return settings.connect_token_secret
    if settings.connect_token_secret_arn:
        secret = get_secret_string(settings.connect_token_secret_arn)
        if not secret:  # an empty secret must not silently switch token checks off
            raise SecretFetchError(f"secret {settings.connect_token_secret_arn!r} (CONNECT_TOKEN_SECRET_ARN) is empty")
        return secret
    return None


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
    )
    try:
        if settings.auto_migrate:
            store.migrate()
        return Service(settings, store, token_secret=_token_secret(settings))
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


def reset_service() -> None:
    """Close and forget every thread's cached service; the next :func:`get_service` rebuilds it."""
    global _generation
    with _service_lock:
        for service in _services:
            service.close()
        _services.clear()
        _generation += 1
        _local.service = None


def send_email_verification_notification(email: str) -> DeliveryReport:
    """Tell every open verification dialog of ``email`` that the address is verified.

    Python counterpart of the seed's ``AwsWebSocketService.sendEmailVerificationNotification``:
    posts ``{"type": "email-verified", "email": ...}`` to the active ``email-verification``
    connections of that address.
    """
    normalised = normalize_email(email)
    message = {"type": EMAIL_VERIFIED_MESSAGE_TYPE, "email": normalised}
    return get_service().notify(normalised, EMAIL_VERIFICATION_TYPE, message)
