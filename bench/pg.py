"""The benchmarks' PostgreSQL: the tests' server, in a schema of the benchmark's own.

The server URL and the search_path rewriting are the test suite's (``tests/conftest.py``), so the
benchmarks measure against exactly the database the tests use.
"""
from __future__ import annotations

import os

from tests.conftest import DEFAULT_TEST_POSTGRES_URL, with_search_path


def base_url() -> str:
    """DATABASE_URL when it names a PostgreSQL server, else the local one the tests use."""
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgresql://", "postgres://")) else DEFAULT_TEST_POSTGRES_URL


def fresh_schema_url(base: str, schema: str) -> str:
    """Drop and recreate ``schema``; return a URL whose connections use it (search_path)."""
    import psycopg

    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.execute(f"CREATE SCHEMA {schema}")
    return with_search_path(base, schema)
