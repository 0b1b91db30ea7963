"""Record the ``synchronous_commit`` setting every write runs under, for tests that check which
transactions commit asynchronously (``ws_keep_message``, cleanup batches) and that nothing after
them does.

:func:`record_commit_modes` adds a statement trigger to each table that appends ``(table, op,
mode)`` to a ``commit_modes`` table in the store's schema; read it back with
:func:`commit_modes_since`.
"""
from __future__ import annotations

from typing import Any


def record_commit_modes(admin: Any, tables: tuple[str, ...], ops: str = "INSERT OR UPDATE OR DELETE") -> None:
    """On the autocommit psycopg connection ``admin``: record every ``ops`` statement on ``tables``."""
    admin.execute("CREATE TABLE commit_modes (id serial PRIMARY KEY, tab text, op text, mode text)")
    admin.execute(
        "CREATE FUNCTION record_commit_mode() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO commit_modes (tab, op, mode) "
        "VALUES (TG_TABLE_NAME, TG_OP, current_setting('synchronous_commit')); "
        "RETURN NULL; END $$"
    )
    for table in tables:
        admin.execute(f"CREATE TRIGGER record_commit_mode AFTER {ops} ON {table} "
                      "FOR EACH STATEMENT EXECUTE FUNCTION record_commit_mode()")


def commit_modes_since(admin: Any, last_id: int = 0) -> list[tuple[str, str, str]]:
    """``(table, op, mode)`` of each recorded statement after row ``last_id``, in order."""
    return admin.execute(
        "SELECT tab, op, mode FROM commit_modes WHERE id > %s ORDER BY id", (last_id,)
    ).fetchall()


def last_commit_mode_id(admin: Any) -> int:
    """The id of the last recorded statement (0 when none)."""
    return admin.execute("SELECT coalesce(max(id), 0) FROM commit_modes").fetchone()[0]
