"""Runtime settings of the Lambda, read once per container from environment variables.

The names below are the whole contract with the CDK app (``cdk_app`` sets them; a test checks the
two sides agree). Every setting has a documented default so the handler runs locally with no
configuration at all (SQLite store, no token check).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Iterable, Mapping

# --- environment variable names (the contract with cdk_app) -----------------------------------
ENV_MANAGEMENT_ENDPOINT = "AWS_WEBSOCKET_API_GATEWAY_ENDPOINT"
ENV_DATABASE_URL = "DATABASE_URL"
ENV_DATABASE_SECRET_ARN = "DATABASE_SECRET_ARN"
ENV_CONNECTION_TTL_MINUTES = "CONNECTION_TTL_MINUTES"
ENV_ALLOWED_CONNECTION_TYPES = "ALLOWED_CONNECTION_TYPES"
ENV_MAX_CONNECTIONS_PER_EMAIL = "MAX_CONNECTIONS_PER_EMAIL"
ENV_INACTIVE_RETENTION_HOURS = "INACTIVE_RETENTION_HOURS"
ENV_CLEANUP_BATCH_SIZE = "CLEANUP_BATCH_SIZE"
ENV_CONNECT_TOKEN_SECRET = "CONNECT_TOKEN_SECRET"
ENV_CONNECT_TOKEN_SECRET_ARN = "CONNECT_TOKEN_SECRET_ARN"
ENV_DB_CONNECT_TIMEOUT_SECONDS = "DB_CONNECT_TIMEOUT_SECONDS"
ENV_DB_STATEMENT_TIMEOUT_MS = "DB_STATEMENT_TIMEOUT_MS"
ENV_METRICS_NAMESPACE = "METRICS_NAMESPACE"
ENV_LOG_LEVEL = "LOG_LEVEL"
ENV_AUTO_MIGRATE = "AUTO_MIGRATE"
ENV_MANAGEMENT_API_METHODS = "MANAGEMENT_API_METHODS"

ALL_ENV_NAMES = frozenset(v for k, v in dict(globals()).items() if k.startswith("ENV_"))

# --- documented defaults -----------------------------------------------------------------------
DEFAULT_DATABASE_URL = "sqlite:///websocket_connections.db"
DEFAULT_CONNECTION_TTL_MINUTES = 120
DEFAULT_ALLOWED_CONNECTION_TYPES = ("email-verification", "general")
DEFAULT_MAX_CONNECTIONS_PER_EMAIL = 5
DEFAULT_INACTIVE_RETENTION_HOURS = 24
DEFAULT_CLEANUP_BATCH_SIZE = 500
DEFAULT_DB_CONNECT_TIMEOUT_SECONDS = 5
DEFAULT_DB_STATEMENT_TIMEOUT_MS = 5000
DEFAULT_METRICS_NAMESPACE = "WebSocketNotifications"
DEFAULT_MANAGEMENT_API_METHODS = ("POST", "GET")
"""Methods the function's role is granted on ``@connections/*``: POST to push, GET so the per-email
cap can check that counted connections are really open. The local gateway serves exactly these."""
MANAGEMENT_API_METHOD_CHOICES = ("POST", "GET", "DELETE")
FAILED_DELIVERIES_METRIC = "FailedDeliveries"
"""Name of the EMF metric the function emits; the CDK monitoring construct alarms on it."""
SERVICE_FAILURES_METRIC = "ServiceFailures"
"""EMF metric (count, no dimensions) emitted once per invocation that failed on our side (store,
configuration or unexpected error), whatever the trigger; the CDK monitoring construct alarms on it."""


class ConfigError(ValueError):
    """An environment variable holds a value the service cannot use; the message names it."""


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int, maximum: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer; expected {minimum}..{maximum}") from None
    if not minimum <= value <= maximum:
        raise ConfigError(f"{name}={value} is out of range; expected {minimum}..{maximum}")
    return value


def _bool(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "false", "0", "no"):
        return False
    if raw in ("true", "1", "yes"):
        return True
    raise ConfigError(f"{name}={raw!r} is not a boolean; expected true or false")


def parse_management_api_methods(value: str | Iterable[str]) -> tuple[str, ...]:
    """Management API methods from ``"POST,GET"`` (or an iterable), upper-cased, duplicates dropped.

    Raises :class:`ConfigError` naming ``MANAGEMENT_API_METHODS`` and the accepted values when a
    method is not one of POST, GET, DELETE or when POST (needed to push) is missing.
    """
    items = value.split(",") if isinstance(value, str) else list(value)
    methods = tuple(dict.fromkeys(m.strip().upper() for m in items if m.strip()))
    unknown = [m for m in methods if m not in MANAGEMENT_API_METHOD_CHOICES]
    if unknown or "POST" not in methods:
        raise ConfigError(
            f"{ENV_MANAGEMENT_API_METHODS}={','.join(methods)!r}; expected a comma list of "
            f"{', '.join(MANAGEMENT_API_METHOD_CHOICES)} that includes POST (default {','.join(DEFAULT_MANAGEMENT_API_METHODS)})"
        )
    return methods


@dataclass(frozen=True, slots=True)
class Settings:
    """Validated runtime settings. Build with :meth:`from_env`."""

    management_endpoint: str | None = None
    database_url: str = DEFAULT_DATABASE_URL
    database_secret_arn: str | None = None
    connection_ttl_minutes: int = DEFAULT_CONNECTION_TTL_MINUTES
    allowed_connection_types: tuple[str, ...] = DEFAULT_ALLOWED_CONNECTION_TYPES
    max_connections_per_email: int = DEFAULT_MAX_CONNECTIONS_PER_EMAIL
    inactive_retention_hours: int = DEFAULT_INACTIVE_RETENTION_HOURS
    cleanup_batch_size: int = DEFAULT_CLEANUP_BATCH_SIZE
    connect_token_secret: str | None = field(default=None, repr=False)
    connect_token_secret_arn: str | None = None
    db_connect_timeout_seconds: int = DEFAULT_DB_CONNECT_TIMEOUT_SECONDS
    db_statement_timeout_ms: int = DEFAULT_DB_STATEMENT_TIMEOUT_MS
    metrics_namespace: str = DEFAULT_METRICS_NAMESPACE
    log_level: str = "INFO"
    management_api_methods: tuple[str, ...] = DEFAULT_MANAGEMENT_API_METHODS
    """Management API methods the deployed role grants (``MANAGEMENT_API_METHODS``, e.g. ``POST,GET``)."""
    auto_migrate: bool = False
    """Apply migrations when the container opens its store. Only for stores that live and die with
    one container (the stack's demo-only SQLite file in /tmp); shared databases use ``migrate``."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        """Read and validate settings; raises :class:`ConfigError` naming the bad variable."""
        env = os.environ if env is None else env
        types_raw = env.get(ENV_ALLOWED_CONNECTION_TYPES, "").strip()
        types = (
            tuple(t.strip() for t in types_raw.split(",") if t.strip())
            if types_raw
            else DEFAULT_ALLOWED_CONNECTION_TYPES
        )
        if not types:
            raise ConfigError(f"{ENV_ALLOWED_CONNECTION_TYPES} lists no type; e.g. 'email-verification,general'")
        log_level = env.get(ENV_LOG_LEVEL, "INFO").strip().upper() or "INFO"
        if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ConfigError(f"{ENV_LOG_LEVEL}={log_level!r}; expected DEBUG, INFO, WARNING or ERROR")
        return cls(
            management_endpoint=env.get(ENV_MANAGEMENT_ENDPOINT, "").strip() or None,
            database_url=env.get(ENV_DATABASE_URL, "").strip() or DEFAULT_DATABASE_URL,
            database_secret_arn=env.get(ENV_DATABASE_SECRET_ARN, "").strip() or None,
            connection_ttl_minutes=_int(
                env, ENV_CONNECTION_TTL_MINUTES, DEFAULT_CONNECTION_TTL_MINUTES, minimum=1, maximum=7 * 24 * 60
            ),
            allowed_connection_types=types,
            max_connections_per_email=_int(
                env, ENV_MAX_CONNECTIONS_PER_EMAIL, DEFAULT_MAX_CONNECTIONS_PER_EMAIL, minimum=1, maximum=1000
            ),
            inactive_retention_hours=_int(
                env, ENV_INACTIVE_RETENTION_HOURS, DEFAULT_INACTIVE_RETENTION_HOURS, minimum=0, maximum=24 * 365
            ),
            cleanup_batch_size=_int(
                env, ENV_CLEANUP_BATCH_SIZE, DEFAULT_CLEANUP_BATCH_SIZE, minimum=1, maximum=100_000
            ),
            connect_token_secret=env.get(ENV_CONNECT_TOKEN_SECRET, "") or None,
            connect_token_secret_arn=env.get(ENV_CONNECT_TOKEN_SECRET_ARN, "").strip() or None,
            db_connect_timeout_seconds=_int(
                env, ENV_DB_CONNECT_TIMEOUT_SECONDS, DEFAULT_DB_CONNECT_TIMEOUT_SECONDS, minimum=1, maximum=60
            ),
            db_statement_timeout_ms=_int(
                env, ENV_DB_STATEMENT_TIMEOUT_MS, DEFAULT_DB_STATEMENT_TIMEOUT_MS, minimum=100, maximum=28_000
            ),
            metrics_namespace=env.get(ENV_METRICS_NAMESPACE, "").strip() or DEFAULT_METRICS_NAMESPACE,
            log_level=log_level,
            auto_migrate=_bool(env, ENV_AUTO_MIGRATE),
            management_api_methods=parse_management_api_methods(
                env.get(ENV_MANAGEMENT_API_METHODS, "").strip() or DEFAULT_MANAGEMENT_API_METHODS
            ),
        )
