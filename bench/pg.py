"""The benchmarks' PostgreSQL: the tests' server, in a schema of the benchmark's own."""
from __future__ import annotations

import os


def base_url() -> str:
    """DATABASE_URL when it names a PostgreSQL server, else the local one the tests use."""
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgresql://", "postgres://")) else "postgresql://postgres@127.0.0.1:5432/test"


def fresh_schema_url(base: str, schema: str) -> str:
    """Drop and recreate ``schema``; return a URL whose connections use it (search_path)."""
    import psycopg

    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}"
