"""Store backends: the ConnectionStore protocol, PostgreSQL and SQLite implementations.

Use :func:`open_store` with ``DATABASE_URL`` (or the URL :func:`database_url_from_secret` builds
from the RDS secret). Backend modules are imported only when a store of that kind is opened, so
importing this package never imports psycopg.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .base import (
    GONE_REASON,
    IDLE_EXPIRED_REASON,
    MIGRATION_TIMEOUT_MS,
    Connection,
    ConnectionStore,
    KeptMessage,
    MissingFunctionError,
    MissingTableError,
    NewConnection,
    NewMessage,
    StoreConfigError,
    StoreConnectError,
    StoreError,
    StoreSaturatedError,
    pooler_setting,
)

if TYPE_CHECKING:
    from .postgres import PostgresConnectionStore
    from .sqlite import SqliteConnectionStore

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
SQLITE_PREFIX = "sqlite:///"
ACCEPTED_URL_FORMS = (
    "postgresql://USER:PASSWORD@HOST:PORT/DBNAME (or postgres://...), sqlite:///relative/path.db, "
    "sqlite:////absolute/path.db or sqlite:///:memory:"
)
REQUIRED_SECRET_KEYS = ("username", "password", "host")
DEFAULT_SECRET_PORT = 5432
DEFAULT_SECRET_DBNAME = "postgres"  # nosec B105 # a database name, not a password
"""Database used when the RDS secret has no ``dbname`` (RDS PostgreSQL's default database)."""

__all__ = [
    "ACCEPTED_URL_FORMS",
    "GONE_REASON",
    "IDLE_EXPIRED_REASON",
    "MIGRATION_TIMEOUT_MS",
    "Connection",
    "ConnectionStore",
    "KeptMessage",
    "MissingFunctionError",
    "MissingTableError",
    "NewConnection",
    "NewMessage",
    "StoreConfigError",
    "StoreConnectError",
    "StoreError",
    "StoreSaturatedError",
    "database_url_from_secret",
    "open_store",
]


def _positive_setting(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise StoreConfigError(f"{name} must be a positive integer (got {value!r})")
    return value


def open_store(
    database_url: str,
    *,
    connect_timeout_s: int = 5,
    statement_timeout_ms: int = 5000,
    migration_timeout_ms: int = MIGRATION_TIMEOUT_MS,
    idle_release_s: int | None = None,
    pooler: str = "auto",
) -> ConnectionStore:
    """Build the store ``database_url`` names, without connecting (the first operation connects).

    ``postgresql://`` / ``postgres://`` give a :class:`PostgresConnectionStore` (libpq URL syntax,
    percent-encoded credentials, query parameters such as ``sslmode`` or ``options`` allowed);
    ``sqlite:///path`` gives a :class:`SqliteConnectionStore` (three slashes and a relative path,
    four for an absolute one, or ``sqlite:///:memory:``). ``statement_timeout_ms`` is
    PostgreSQL's ``statement_timeout`` and SQLite's busy timeout. ``migration_timeout_ms`` bounds
    each statement of PostgreSQL's ``migrate`` (lock waits included; default
    :data:`MIGRATION_TIMEOUT_MS`, sized for the Lambda function); SQLite ignores it (its
    ``migrate`` waits at most the busy timeout for the write lock). ``idle_release_s`` (PostgreSQL;
    None: never) closes a connection unused for that long before its next use. ``pooler``
    (PostgreSQL, ``DB_POOLER``: ``auto``, ``none``, ``pgbouncer``, ``rds-proxy``) picks the
    direct or the transaction-pooling protocol (see :mod:`.postgres`). Anything else raises
    :class:`StoreConfigError` naming ``DATABASE_URL`` and the accepted forms; the message never
    repeats the URL, which may hold a password.
    """
    _positive_setting(connect_timeout_s, "DB_CONNECT_TIMEOUT_SECONDS (connect_timeout_s)")
    _positive_setting(statement_timeout_ms, "DB_STATEMENT_TIMEOUT_MS (statement_timeout_ms)")
    _positive_setting(migration_timeout_ms, "the migration timeout (migration_timeout_ms)")
    if idle_release_s is not None:
        _positive_setting(idle_release_s, "DB_IDLE_RELEASE_SECONDS (idle_release_s)")
    pooler_setting(pooler)
    url = database_url.strip() if isinstance(database_url, str) else ""
    if not url:
        raise StoreConfigError(f"DATABASE_URL is empty; expected {ACCEPTED_URL_FORMS}")
    scheme, separator, rest = url.partition("://")
    url = f"{scheme.lower()}{separator}{rest}"  # libpq only knows the lower-case schemes
    if url.startswith(POSTGRES_SCHEMES):
        from .postgres import PostgresConnectionStore

        return PostgresConnectionStore(
            url,
            connect_timeout_s=connect_timeout_s,
            statement_timeout_ms=statement_timeout_ms,
            migration_timeout_ms=migration_timeout_ms,
            idle_release_s=idle_release_s,
            pooler=pooler,
        )
    if url.startswith(SQLITE_PREFIX):
        path = url[len(SQLITE_PREFIX) :]
        if not path or "?" in path:
            raise StoreConfigError(
                "DATABASE_URL sqlite:/// needs a file path and takes no query parameters; "
                f"expected {ACCEPTED_URL_FORMS}"
            )
        from .sqlite import SqliteConnectionStore

        return SqliteConnectionStore(path, busy_timeout_ms=statement_timeout_ms)
    what = f"scheme {scheme.lower()!r} is not supported" if separator and scheme.isalnum() else "is not a database URL"
    raise StoreConfigError(f"DATABASE_URL {what}; expected {ACCEPTED_URL_FORMS}")


def database_url_from_secret(
    secret_json: str, *, host: str | None = None, port: int | None = None, dbname: str | None = None
) -> str:
    """The PostgreSQL URL for a Secrets Manager secret in the RDS JSON format.

    ``{"username", "password", "host", "port", "dbname"}``; ``port`` defaults to 5432 and
    ``dbname`` to ``postgres``. ``host`` (``DATABASE_HOST``) replaces the secret's host (an RDS Proxy
    endpoint in front of the database the secret describes) or supplies it; ``port`` and ``dbname``
    (``DATABASE_PORT``, ``DATABASE_NAME``) fill in what the secret lacks: RDS-managed master-user
    secrets hold only ``username`` and ``password``. User name, password and database are
    percent-encoded. Raises :class:`StoreConfigError` naming missing or bad keys; messages never
    contain secret values.
    """
    try:
        secret: Any = json.loads(secret_json)
    except (TypeError, ValueError):
        raise StoreConfigError(
            "the database secret (DATABASE_SECRET_ARN) is not valid JSON; expected the RDS format "
            '{"username": ..., "password": ..., "host": ..., "port": 5432, "dbname": ...}'
        ) from None
    if not isinstance(secret, dict):
        raise StoreConfigError("the database secret (DATABASE_SECRET_ARN) must be a JSON object in the RDS format")
    fallbacks = {"host": host, "port": port, "dbname": dbname}
    secret = {**secret, **{k: v for k, v in fallbacks.items() if v is not None and secret.get(k) in (None, "")}}
    missing = [key for key in REQUIRED_SECRET_KEYS if not secret.get(key)]
    if missing:
        raise StoreConfigError(
            f"the database secret (DATABASE_SECRET_ARN) lacks {', '.join(missing)}; it has keys "
            f"{sorted(secret)} but needs {', '.join(REQUIRED_SECRET_KEYS)} (port and dbname optional): "
            "for an RDS-managed secret set DATABASE_HOST (stack setting databaseHost)"
        )
    dbname = secret.get("dbname") or DEFAULT_SECRET_DBNAME
    strings = {"username": secret["username"], "password": secret["password"], "host": secret["host"], "dbname": dbname}
    not_text = sorted(key for key, value in strings.items() if not isinstance(value, str))
    if not_text:
        raise StoreConfigError(f"the database secret (DATABASE_SECRET_ARN) has non-string {', '.join(not_text)}")
    port = secret.get("port", DEFAULT_SECRET_PORT)
    try:
        port_number = int(port)
    except (TypeError, ValueError):
        port_number = 0
    if isinstance(port, bool) or not 1 <= port_number <= 65535:
        raise StoreConfigError(f"the database secret (DATABASE_SECRET_ARN) has port {port!r}; expected 1..65535")
    host = host or secret["host"]
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # IPv6 literal
    user, password = quote(secret["username"], safe=""), quote(secret["password"], safe="")
    return f"postgresql://{user}:{password}@{host}:{port_number}/{quote(dbname, safe='')}"


def __getattr__(name: str) -> Any:
    """Import a backend class on first access (keeps ``import websocket_service.store`` light)."""
    if name == "PostgresConnectionStore":
        from .postgres import PostgresConnectionStore

        return PostgresConnectionStore
    if name == "SqliteConnectionStore":
        from .sqlite import SqliteConnectionStore

        return SqliteConnectionStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
