"""Shared fixtures: real PostgreSQL and SQLite stores, each test in its own empty database space.

Fixtures (use them from any test folder):

``postgres_url`` (session)
    URL of the PostgreSQL server the tests use: ``$DATABASE_URL`` if it is a ``postgresql://`` URL,
    else ``postgresql://postgres@127.0.0.1:5432/test``. Fails (never skips) with instructions when
    the server does not answer within a few seconds.
``pg_database_url``
    A ``postgresql://`` URL whose connections land in a fresh, EMPTY schema of their own (via the
    ``options=-c search_path=...`` URL parameter); the schema is dropped after the test. Pass it to
    :func:`websocket_service.store.open_store`, put it in ``DATABASE_URL`` for the handler, or open
    several stores on it to test concurrency. Nothing is migrated yet.
``sqlite_database_url``
    ``sqlite:////...`` URL of a not-yet-created file under the test's ``tmp_path``.
``pg_store`` / ``sqlite_store``
    A migrated store on ``pg_database_url`` / ``sqlite_database_url``; closed after the test.
``store_backend`` / ``store_url`` / ``store_options`` / ``store``
    Parametrized over ``"postgres"`` and ``"sqlite"`` (``store_backend``): the URL of a fresh
    database space and a migrated store on it, so one test runs unchanged against both backends.
    Open more stores on ``store_url`` with ``open_store(store_url, **store_options)`` to share the
    data ``store`` sees, in the same mode. A module may override ``store_backend`` to add
    ``"postgres-pooled"``: PostgreSQL with ``DB_POOLER=pgbouncer`` (the pool-safe protocol) on the
    same server (tests/contract/test_store_contract.py does).

psycopg is imported inside the fixtures only, so tests that check what the handler imports are
not disturbed by this file.
"""
from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import pytest

from websocket_service.store import ConnectionStore, open_store

DEFAULT_TEST_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
BACKENDS = ("postgres", "sqlite")
_HOW_TO_START_POSTGRES = (
    "The tests need a real PostgreSQL. Start the local one:\n"
    "  pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\n"
    "(or run `make postgres`), or point the tests at one you have:\n"
    "  export DATABASE_URL=postgresql://USER@HOST:5432/DBNAME"
)


def with_search_path(url: str, schema: str) -> str:
    """``url`` with ``-c search_path=schema`` added to its libpq ``options`` query parameter."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query["options"] = f"{query.get('options', '')} -c search_path={schema}".strip()
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The test PostgreSQL server's URL, checked to answer (see the module docstring)."""
    import psycopg

    url = os.environ.get("DATABASE_URL", "").strip() or DEFAULT_TEST_POSTGRES_URL
    if not url.lower().startswith(("postgresql://", "postgres://")):
        pytest.fail(f"DATABASE_URL must be a postgresql:// URL for the tests.\n{_HOW_TO_START_POSTGRES}", pytrace=False)
    where = f"{urlsplit(url).hostname}:{urlsplit(url).port or 5432}"
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        pytest.fail(f"PostgreSQL does not answer at {where}: {exc}\n{_HOW_TO_START_POSTGRES}", pytrace=False)
    return url


@pytest.fixture(scope="session")
def _pg_admin(postgres_url: str) -> Iterator[Any]:
    """One autocommit connection for creating and dropping the per-test schemas."""
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        # If a test leaves a store holding locks, fail the schema drop instead of hanging the run.
        conn.execute("SET lock_timeout = '10s'")
        yield conn


@pytest.fixture
def pg_database_url(postgres_url: str, _pg_admin: Any) -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL schema of this test (dropped afterwards)."""
    schema = f"test_{uuid.uuid4().hex[:16]}"
    _pg_admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield with_search_path(postgres_url, schema)
    finally:
        _pg_admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def sqlite_database_url(tmp_path: Path) -> str:
    """URL of a SQLite file (not created yet) in this test's temporary folder."""
    return f"sqlite:///{tmp_path / 'connections.db'}"


def _migrated_store(url: str, **options: Any) -> Iterator[ConnectionStore]:
    store = open_store(url, **options)
    store.migrate()
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def pg_store(pg_database_url: str) -> Iterator[ConnectionStore]:
    """A migrated PostgreSQL store in this test's own schema."""
    yield from _migrated_store(pg_database_url)


@pytest.fixture
def sqlite_store(sqlite_database_url: str) -> Iterator[ConnectionStore]:
    """A migrated SQLite store on a file in this test's temporary folder."""
    yield from _migrated_store(sqlite_database_url)


@pytest.fixture(params=BACKENDS)
def store_backend(request: pytest.FixtureRequest) -> str:
    """The backend under test (``postgres``, ``sqlite``)."""
    return str(request.param)


@pytest.fixture
def store_url(store_backend: str, request: pytest.FixtureRequest) -> str:
    """URL of a fresh database space of ``store_backend``."""
    return request.getfixturevalue("sqlite_database_url" if store_backend == "sqlite" else "pg_database_url")


@pytest.fixture
def store_options(store_backend: str) -> dict[str, Any]:
    """``open_store`` keyword arguments of ``store_backend`` (``postgres-pooled``: ``DB_POOLER=pgbouncer``)."""
    return {"pooler": "pgbouncer"} if store_backend == "postgres-pooled" else {}


@pytest.fixture
def store(store_url: str, store_options: dict[str, Any]) -> Iterator[ConnectionStore]:
    """A migrated store on ``store_url``: every test using it runs against both backends."""
    yield from _migrated_store(store_url, **store_options)


@pytest.fixture(scope="session")
def throwaway_cluster() -> Iterator[Any]:
    """A PostgreSQL cluster of the test session's own (never the shared server), for fault, pooling
    and saturation tests that stop, restart, freeze or fill it (:mod:`bench.cluster`, helpers in
    tests/throwaway_pg.py). Durability is off (``fsync``): nothing here survives the session. Tests
    must leave it running and unfrozen."""
    import tempfile

    from bench.cluster import ThrowawayCluster

    base = Path(tempfile.mkdtemp(prefix="wst-pg-"))
    os.chmod(base, 0o755)  # the server runs as the postgres user when the tests run as root
    cluster = ThrowawayCluster(base / "pg", max_connections=12,
                               server_options="-c fsync=off -c full_page_writes=off")
    try:
        yield cluster.start()
    finally:
        cluster.destroy()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def cluster_admin(throwaway_cluster: Any) -> Iterator[Any]:
    """A direct autocommit connection to the throwaway cluster, whose table is fresh and migrated."""
    import psycopg

    with psycopg.connect(throwaway_cluster.url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS websocket_connections, websocket_messages, schema_migrations CASCADE")
        conn.execute("DROP FUNCTION IF EXISTS ws_add_connection, ws_keep_message, ws_keep_and_list CASCADE")
        store = open_store(throwaway_cluster.url)
        try:
            store.migrate()
        finally:
            store.close()
        yield conn


@pytest.fixture(scope="session")
def pgbouncer(throwaway_cluster: Any) -> Iterator[Any]:
    """pgbouncer in transaction pooling mode (pool of 2 server connections) in front of
    :func:`throwaway_cluster`; refuses startup ``options`` like RDS Proxy."""
    from bench.cluster import Pgbouncer

    bouncer = Pgbouncer(throwaway_cluster.base / "bouncer", throwaway_cluster, pool_size=2, max_clients=200)
    try:
        yield bouncer.start()
    finally:
        bouncer.stop()
