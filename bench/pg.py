"""The benchmarks' PostgreSQL: the tests' server, in a scratch schema of the benchmark's own.

The server URL and the search_path rewriting are the test suite's (``tests/conftest.py``), so the
benchmarks measure against exactly the database the tests use. Schema names are unique per run
(several people may run the smoke test on one server at once) and dropped afterwards.
"""
from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

from tests.conftest import DEFAULT_TEST_POSTGRES_URL, with_search_path

DROP_LOCK_TIMEOUT = "10s"


def base_url() -> str:
    """DATABASE_URL when it names a PostgreSQL server, else the local one the tests use."""
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgresql://", "postgres://")) else DEFAULT_TEST_POSTGRES_URL


@contextlib.contextmanager
def scratch_schema(stem: str) -> Iterator[str]:
    """Create an empty schema named after ``stem``; yield a URL whose connections use it (search_path);
    drop it afterwards."""
    import psycopg

    base = base_url()
    schema = f"{stem}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield with_search_path(base, schema)
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"SET lock_timeout = '{DROP_LOCK_TIMEOUT}'")
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
