"""The migration files themselves: what the first release's schema must contain, and that the two
copies of the capped INSERT (``sql.ADD_CAPPED`` and the body of PostgreSQL's ``ws_add_connection``)
stay identical."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

import psycopg

from websocket_service.store import open_store
from websocket_service.store.postgres import ADD_FUNCTION, KEEP_AND_LIST_FUNCTION, KEEP_FUNCTION
from websocket_service.store.schema import load_migrations
from websocket_service.store.sql import ACTIVE_IDS, ADD_CAPPED, KEEP_MESSAGE

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")
_FUNCTION = re.compile(
    rf"CREATE (?:OR REPLACE )?FUNCTION {ADD_FUNCTION}\((?P<params>[^)]*)\).*?AS \$\$(?P<body>.*?)\$\$",
    re.DOTALL,
)
T0 = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


def _normalised(sql: str) -> str:
    return " ".join(sql.split())


def _latest_add_function() -> re.Match[str]:
    """The newest migration's definition of ``ws_add_connection`` (the one a migrated database has)."""
    for migration in reversed(load_migrations("postgres")):
        match = _FUNCTION.search(migration.sql)
        if match:
            return match
    raise AssertionError(f"no PostgreSQL migration creates {ADD_FUNCTION}()")


def test_add_capped_appears_verbatim_in_the_postgres_function_body() -> None:
    function = _latest_add_function()
    parameters = {line.split()[0] for line in function["params"].split(",") if line.strip()}
    placeholders = set(_PLACEHOLDER.findall(ADD_CAPPED))
    assert placeholders and {f"p_{name}" for name in placeholders} <= parameters, (
        f"every %(name)s of ADD_CAPPED needs a p_name parameter; function has {sorted(parameters)}"
    )
    as_in_function = _normalised(_PLACEHOLDER.sub(r"p_\1", ADD_CAPPED))
    assert as_in_function.startswith("INSERT INTO websocket_connections")
    assert as_in_function in _normalised(function["body"]), (
        "sql.ADD_CAPPED and the INSERT in ws_add_connection() differ; change them together"
    )


def test_the_first_migration_alone_gives_add_everything_it_needs(pg_database_url: str) -> None:
    # The first release's code calls ws_add_connection on every $connect, so the first migration
    # must create it: code is deployed before the deploy-time migrate runs (expand/contract).
    first = load_migrations("postgres")[0]
    assert first.version == 1
    with psycopg.connect(pg_database_url, autocommit=True) as conn:
        with conn.transaction():
            conn.execute(first.sql)
        row: Any = conn.execute(
            f"SELECT {ADD_FUNCTION}('c1', 'ada@example.com', 'general', %s, NULL, NULL, NULL, NULL, 1)", (T0,)
        ).fetchone()
        assert row == (True,)
    store = open_store(pg_database_url)
    try:
        assert store.active_connection_ids("ada@example.com", "general") == ["c1"]
    finally:
        store.close()



def test_keep_message_appears_verbatim_in_the_postgres_keep_function_body() -> None:
    pattern = re.compile(
        rf"CREATE (?:OR REPLACE )?FUNCTION {KEEP_FUNCTION}\((?P<params>[^)]*)\).*?AS \$\$(?P<body>.*?)\$\$", re.DOTALL
    )
    matches = [m for m in (pattern.search(mig.sql) for mig in load_migrations("postgres")) if m]
    assert matches, f"no PostgreSQL migration creates {KEEP_FUNCTION}()"
    function = matches[-1]
    parameters = {line.split()[0] for line in function["params"].split(",") if line.strip()}
    placeholders = set(_PLACEHOLDER.findall(KEEP_MESSAGE))
    assert {f"p_{name}" for name in placeholders} == parameters
    as_in_function = _normalised(_PLACEHOLDER.sub(r"p_\1", KEEP_MESSAGE))
    assert as_in_function.startswith("INSERT INTO websocket_messages")
    assert as_in_function in _normalised(function["body"]), (
        "sql.KEEP_MESSAGE and the INSERT in ws_keep_message() differ; change them together"
    )


def test_keep_message_and_active_ids_appear_verbatim_in_the_postgres_keep_and_list_function_body() -> None:
    pattern = re.compile(
        rf"CREATE (?:OR REPLACE )?FUNCTION {KEEP_AND_LIST_FUNCTION}\((?P<params>.*?)\)\s*LANGUAGE.*?AS \$\$(?P<body>.*?)\$\$",
        re.DOTALL,
    )
    matches = [m for m in (pattern.search(mig.sql) for mig in load_migrations("postgres")) if m]
    assert matches, f"no PostgreSQL migration creates {KEEP_AND_LIST_FUNCTION}()"
    function = matches[-1]
    parameters = {line.split()[0] for line in function["params"].split(",") if line.strip()}
    placeholders = set(_PLACEHOLDER.findall(KEEP_MESSAGE)) | set(_PLACEHOLDER.findall(ACTIVE_IDS))
    assert {f"p_{name}" for name in placeholders} | {"OUT"} == parameters
    body = _normalised(function["body"])
    for shared, name in ((KEEP_MESSAGE, "KEEP_MESSAGE"), (ACTIVE_IDS, "ACTIVE_IDS")):
        assert _normalised(_PLACEHOLDER.sub(r"p_\1", shared)) in body, (
            f"sql.{name} and its copy in {KEEP_AND_LIST_FUNCTION}() differ; change them together"
        )
    # The same lock as ws_keep_message, taken before the insert (ids commit in order; replay waits).
    lock = "PERFORM pg_advisory_xact_lock(1465078321, hashtext(p_user_email || ' ' || p_connection_type));"
    assert body.index(lock) < body.index("INSERT INTO websocket_messages") < body.index("SELECT connection_id")


def test_migrations_after_the_first_only_add_or_replace_objects() -> None:
    # Expand/contract: the code of the release before each one keeps working on a database migrated to it.
    for dialect in ("postgres", "sqlite"):
        for migration in load_migrations(dialect)[1:]:
            assert not re.search(r"\b(DROP|ALTER|RENAME|DELETE|UPDATE)\b", migration.sql.upper()), migration.name
