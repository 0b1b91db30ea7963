"""Runtime settings of the Lambda, read once per container from environment variables.

The names below are the whole contract with the CDK app (``cdk_app`` sets them; a test checks the
two sides agree). Every setting has a documented default so the handler runs locally with no
configuration at all (SQLite store, no token check).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from .errors import ServiceError

# --- environment variable names (the contract with cdk_app) -----------------------------------
ENV_MANAGEMENT_ENDPOINT = "AWS_WEBSOCKET_API_GATEWAY_ENDPOINT"
ENV_DATABASE_URL = "DATABASE_URL"
ENV_DATABASE_SECRET_ARN = "DATABASE_SECRET_ARN"  # nosec B105 # an environment variable's name, not a secret
ENV_DATABASE_HOST = "DATABASE_HOST"
ENV_DATABASE_PORT = "DATABASE_PORT"
ENV_DATABASE_NAME = "DATABASE_NAME"
ENV_CONNECTION_TTL_MINUTES = "CONNECTION_TTL_MINUTES"
ENV_ALLOWED_CONNECTION_TYPES = "ALLOWED_CONNECTION_TYPES"
ENV_MAX_CONNECTIONS_PER_EMAIL = "MAX_CONNECTIONS_PER_EMAIL"
ENV_INACTIVE_RETENTION_HOURS = "INACTIVE_RETENTION_HOURS"
ENV_CLEANUP_BATCH_SIZE = "CLEANUP_BATCH_SIZE"
ENV_CONNECT_TOKEN_SECRET = "CONNECT_TOKEN_SECRET"  # nosec B105 # an environment variable's name, not a secret
ENV_CONNECT_TOKEN_SECRET_ARN = "CONNECT_TOKEN_SECRET_ARN"  # nosec B105 # an environment variable's name, not a secret
ENV_DB_CONNECT_TIMEOUT_SECONDS = "DB_CONNECT_TIMEOUT_SECONDS"
ENV_DB_STATEMENT_TIMEOUT_MS = "DB_STATEMENT_TIMEOUT_MS"
ENV_METRICS_NAMESPACE = "METRICS_NAMESPACE"
ENV_LOG_LEVEL = "LOG_LEVEL"
ENV_AUTO_MIGRATE = "AUTO_MIGRATE"
ENV_DB_IDLE_RELEASE_SECONDS = "DB_IDLE_RELEASE_SECONDS"
ENV_CLEANUP_TIME_BUDGET_SECONDS = "CLEANUP_TIME_BUDGET_SECONDS"
ENV_CLEANUP_DUTY_CYCLE_PERCENT = "CLEANUP_DUTY_CYCLE_PERCENT"
ENV_MANAGEMENT_API_METHODS = "MANAGEMENT_API_METHODS"
ENV_DB_POOLER = "DB_POOLER"
ENV_REPLAY_WINDOW_MINUTES = "REPLAY_WINDOW_MINUTES"
ENV_REPLAY_WITHOUT_TOKENS = "REPLAY_WITHOUT_TOKENS"

ALL_ENV_NAMES = frozenset(v for k, v in dict(globals()).items() if k.startswith("ENV_"))

# --- documented defaults -----------------------------------------------------------------------
SHARED_DEFAULTS_FILE = Path(__file__).with_name("shared_defaults.json")
"""Default and bounds of each setting the CDK app can also set, written once (the CDK app reads
the same file by path); a few hundred bytes of JSON, so reading it costs microseconds at import."""
SHARED_DEFAULTS: dict[str, dict[str, Any]] = json.loads(SHARED_DEFAULTS_FILE.read_text(encoding="utf-8"))["settings"]


DEFAULT_DATABASE_URL = "sqlite:///websocket_connections.db"
DEFAULT_CONNECTION_TTL_MINUTES: int = SHARED_DEFAULTS[ENV_CONNECTION_TTL_MINUTES]["default"]
DEFAULT_ALLOWED_CONNECTION_TYPES: tuple[str, ...] = tuple(SHARED_DEFAULTS[ENV_ALLOWED_CONNECTION_TYPES]["default"])
DEFAULT_MAX_CONNECTIONS_PER_EMAIL: int = SHARED_DEFAULTS[ENV_MAX_CONNECTIONS_PER_EMAIL]["default"]
DEFAULT_INACTIVE_RETENTION_HOURS: int = SHARED_DEFAULTS[ENV_INACTIVE_RETENTION_HOURS]["default"]
DEFAULT_CLEANUP_BATCH_SIZE: int = SHARED_DEFAULTS[ENV_CLEANUP_BATCH_SIZE]["default"]
DEFAULT_DB_CONNECT_TIMEOUT_SECONDS: int = SHARED_DEFAULTS[ENV_DB_CONNECT_TIMEOUT_SECONDS]["default"]
DEFAULT_DB_STATEMENT_TIMEOUT_MS: int = SHARED_DEFAULTS[ENV_DB_STATEMENT_TIMEOUT_MS]["default"]
DEFAULT_DB_IDLE_RELEASE_SECONDS: int = SHARED_DEFAULTS[ENV_DB_IDLE_RELEASE_SECONDS]["default"]
"""Close a PostgreSQL connection unused this long before reusing it (0: never). Below the
``idle_session_timeout`` the README recommends for the server (300 s)."""
DEFAULT_CLEANUP_TIME_BUDGET_SECONDS: int = SHARED_DEFAULTS[ENV_CLEANUP_TIME_BUDGET_SECONDS]["default"]
"""Wall-clock time one cleanup run may spend on batches; well inside the ops function's timeout."""
DEFAULT_CLEANUP_DUTY_CYCLE_PERCENT: int = SHARED_DEFAULTS[ENV_CLEANUP_DUTY_CYCLE_PERCENT]["default"]
"""Share of a cleanup run's wall time spent in batches: after each full batch cleanup pauses
``took * (100 - p) / p`` so ``$connect`` gets the database between batches (100: no pause)."""
DEFAULT_METRICS_NAMESPACE: str = SHARED_DEFAULTS[ENV_METRICS_NAMESPACE]["default"]
DEFAULT_LOG_LEVEL: str = SHARED_DEFAULTS[ENV_LOG_LEVEL]["default"]
LOG_LEVELS: tuple[str, ...] = tuple(SHARED_DEFAULTS[ENV_LOG_LEVEL]["choices"])
DEFAULT_MANAGEMENT_API_METHODS: tuple[str, ...] = tuple(SHARED_DEFAULTS[ENV_MANAGEMENT_API_METHODS]["default"])
"""@connections methods the function may call: POST to push, GET so the per-email cap can check that
counted connections are really open. The stack grants exactly these (``managementApiMethods``)."""
MANAGEMENT_API_METHOD_CHOICES: tuple[str, ...] = tuple(SHARED_DEFAULTS[ENV_MANAGEMENT_API_METHODS]["choices"])
REQUIRED_MANAGEMENT_API_METHODS: tuple[str, ...] = tuple(SHARED_DEFAULTS[ENV_MANAGEMENT_API_METHODS]["required"])
DEFAULT_DB_POOLER: str = SHARED_DEFAULTS[ENV_DB_POOLER]["default"]
"""``auto``: a URL on port 6432 (pgbouncer) or an RDS Proxy endpoint is pooled, anything else direct."""
DB_POOLERS: tuple[str, ...] = tuple(SHARED_DEFAULTS[ENV_DB_POOLER]["choices"])
DEFAULT_REPLAY_WINDOW_MINUTES: int = SHARED_DEFAULTS[ENV_REPLAY_WINDOW_MINUTES]["default"]
"""How long notify keeps each message for ``{"action": "replay"}`` (0: nothing is kept, replay is off)."""
DEFAULT_REPLAY_WITHOUT_TOKENS: bool = SHARED_DEFAULTS[ENV_REPLAY_WITHOUT_TOKENS]["default"]
"""Replay needs token-verified connections: with connect tokens off it is off unless this is true."""
FAILED_DELIVERIES_METRIC = "FailedDeliveries"
"""Name of the EMF metric the function emits; the CDK monitoring construct alarms on it."""
SERVICE_FAILURES_METRIC = "ServiceFailures"
"""EMF metric (count, no dimensions) emitted once per invocation that failed on our side (store,
configuration or unexpected error), whatever the trigger; the CDK monitoring construct alarms on it."""


DATABASE_SATURATED_METRIC = "DatabaseSaturated"
"""EMF metric (count, no dimensions) emitted once per invocation refused because the database or
its pooler had no connection slot free (error code ``database_saturated``)."""


class ConfigError(ServiceError, ValueError):
    """An environment variable holds a value the service cannot use; the message names it."""

    code = "config_error"


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


def _shared_int(env: Mapping[str, str], name: str) -> int:
    """An integer setting whose default and bounds come from :data:`SHARED_DEFAULTS`."""
    spec = SHARED_DEFAULTS[name]
    return _int(env, name, spec["default"], minimum=spec["minimum"], maximum=spec["maximum"])


def _bool(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "false", "0", "no"):
        return False
    if raw in ("true", "1", "yes"):
        return True
    raise ConfigError(f"{name}={raw!r} is not a boolean; expected true or false")


def parse_management_api_methods(value: str | Iterable[str]) -> tuple[str, ...]:
    """Management API methods from ``"POST,GET"`` (or an iterable), upper-cased, in the given order.

    Raises :class:`ConfigError` naming ``MANAGEMENT_API_METHODS`` and the accepted values when a
    method is not one of POST, GET, DELETE, is listed twice, or when POST (needed to push) is missing.
    The function's settings and ``wsctl local --management-methods`` both read methods with it.
    """
    raw = value if isinstance(value, str) else ",".join(value)
    methods = tuple(m.strip().upper() for m in raw.split(",") if m.strip())
    accepted = ", ".join(MANAGEMENT_API_METHOD_CHOICES)
    bad = [m for m in methods if m not in MANAGEMENT_API_METHOD_CHOICES]
    if bad or not methods or len(set(methods)) != len(methods):
        raise ConfigError(
            f"{ENV_MANAGEMENT_API_METHODS}={raw!r}; expected a comma list of distinct {accepted} "
            f"(default {','.join(DEFAULT_MANAGEMENT_API_METHODS)})"
        )
    missing = [m for m in REQUIRED_MANAGEMENT_API_METHODS if m not in methods]
    if missing:
        raise ConfigError(f"{ENV_MANAGEMENT_API_METHODS}={raw!r} lacks {', '.join(missing)}; the function needs it to push")
    return methods


def _methods(env: Mapping[str, str]) -> tuple[str, ...]:
    raw = env.get(ENV_MANAGEMENT_API_METHODS, "").strip()
    return parse_management_api_methods(raw) if raw else DEFAULT_MANAGEMENT_API_METHODS


def _token_setting(env: Mapping[str, str], name: str) -> str | None:
    """A token-secret setting: None when unset; set but blank is an error, never "tokens off"."""
    raw = env.get(name)
    if raw is None:
        return None
    if not raw.strip():
        raise ConfigError(
            f"{name} is set but blank, which would switch connect-token checks off; set a secret "
            f"(or a secret ARN), or unset {name} to run without tokens"
        )
    return raw if name == ENV_CONNECT_TOKEN_SECRET else raw.strip()


@dataclass(frozen=True, slots=True)
class Settings:
    """Validated runtime settings. Build with :meth:`from_env`."""

    management_endpoint: str | None = None
    database_url: str = DEFAULT_DATABASE_URL
    database_secret_arn: str | None = None
    database_host: str | None = None
    """Host that replaces the database secret's ``host`` (an RDS Proxy endpoint) or supplies it (an
    RDS-managed secret holds only username and password); None keeps the secret's."""
    database_port: int | None = None
    database_name: str | None = None
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
    log_level: str = DEFAULT_LOG_LEVEL
    db_idle_release_seconds: int = DEFAULT_DB_IDLE_RELEASE_SECONDS
    cleanup_time_budget_seconds: int = DEFAULT_CLEANUP_TIME_BUDGET_SECONDS
    cleanup_duty_cycle_percent: int = DEFAULT_CLEANUP_DUTY_CYCLE_PERCENT
    """At most this share (1..100) of a cleanup run's wall time is spent in batches; see cleanup.py."""
    management_api_methods: tuple[str, ...] = DEFAULT_MANAGEMENT_API_METHODS
    """Management API methods the deployed role grants (``MANAGEMENT_API_METHODS``, e.g. ``POST,GET``)."""
    db_pooler: str = DEFAULT_DB_POOLER
    """What sits between the function and PostgreSQL (``DB_POOLER``): ``none`` (direct: session
    statement timeout, prepared statements), ``pgbouncer`` or ``rds-proxy`` (transaction pooling:
    no session state, no prepared statements), or ``auto`` (detected from the URL)."""
    replay_window_minutes: int = DEFAULT_REPLAY_WINDOW_MINUTES
    """Minutes notify keeps each message for replay (``REPLAY_WINDOW_MINUTES``; 0: off)."""
    replay_without_tokens: bool = DEFAULT_REPLAY_WITHOUT_TOKENS
    """Allow replay on connections no token verified (``REPLAY_WITHOUT_TOKENS``): anyone who knows
    an email could then read its recent messages, so only for tokens-off demos and tests."""
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
        log_level = env.get(ENV_LOG_LEVEL, "").strip().upper() or DEFAULT_LOG_LEVEL
        if log_level not in LOG_LEVELS:
            raise ConfigError(f"{ENV_LOG_LEVEL}={log_level!r}; expected one of {', '.join(LOG_LEVELS)}")
        db_pooler = env.get(ENV_DB_POOLER, "").strip().lower() or DEFAULT_DB_POOLER
        if db_pooler not in DB_POOLERS:
            raise ConfigError(
                f"{ENV_DB_POOLER}={db_pooler!r}; expected one of {', '.join(DB_POOLERS)} "
                f"(default {DEFAULT_DB_POOLER}: pooled when the URL's port is 6432 or its host an RDS Proxy endpoint)"
            )
        return cls(
            management_endpoint=env.get(ENV_MANAGEMENT_ENDPOINT, "").strip() or None,
            database_url=env.get(ENV_DATABASE_URL, "").strip() or DEFAULT_DATABASE_URL,
            database_secret_arn=env.get(ENV_DATABASE_SECRET_ARN, "").strip() or None,
            database_host=env.get(ENV_DATABASE_HOST, "").strip() or None,
            database_port=_int(env, ENV_DATABASE_PORT, None, minimum=1, maximum=65535),  # type: ignore[arg-type]
            database_name=env.get(ENV_DATABASE_NAME, "").strip() or None,
            connection_ttl_minutes=_shared_int(env, ENV_CONNECTION_TTL_MINUTES),
            allowed_connection_types=types,
            max_connections_per_email=_shared_int(env, ENV_MAX_CONNECTIONS_PER_EMAIL),
            inactive_retention_hours=_shared_int(env, ENV_INACTIVE_RETENTION_HOURS),
            cleanup_batch_size=_shared_int(env, ENV_CLEANUP_BATCH_SIZE),
            connect_token_secret=_token_setting(env, ENV_CONNECT_TOKEN_SECRET),
            connect_token_secret_arn=_token_setting(env, ENV_CONNECT_TOKEN_SECRET_ARN),
            db_connect_timeout_seconds=_shared_int(env, ENV_DB_CONNECT_TIMEOUT_SECONDS),
            db_statement_timeout_ms=_shared_int(env, ENV_DB_STATEMENT_TIMEOUT_MS),
            metrics_namespace=env.get(ENV_METRICS_NAMESPACE, "").strip() or DEFAULT_METRICS_NAMESPACE,
            log_level=log_level,
            db_idle_release_seconds=_shared_int(env, ENV_DB_IDLE_RELEASE_SECONDS),
            cleanup_time_budget_seconds=_shared_int(env, ENV_CLEANUP_TIME_BUDGET_SECONDS),
            cleanup_duty_cycle_percent=_shared_int(env, ENV_CLEANUP_DUTY_CYCLE_PERCENT),
            management_api_methods=_methods(env),
            db_pooler=db_pooler,
            replay_window_minutes=_shared_int(env, ENV_REPLAY_WINDOW_MINUTES),
            replay_without_tokens=_bool(env, ENV_REPLAY_WITHOUT_TOKENS),
            auto_migrate=_bool(env, ENV_AUTO_MIGRATE),
        )
