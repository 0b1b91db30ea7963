"""Helpers for tests on the session's throwaway PostgreSQL cluster (``tests/conftest.py``'s
``throwaway_cluster`` and ``pgbouncer`` fixtures, built on :mod:`bench.cluster`): fill its
connection slots, free them, and wait until server processes have left.
"""
from __future__ import annotations

import time

import pytest


def take_all_slots(url: str) -> list["object"]:
    """Open connections to ``url`` until the server refuses one for lack of slots; return them
    (the caller closes them, e.g. with :func:`close_and_wait`)."""
    import psycopg

    held = []
    while True:
        try:
            held.append(psycopg.connect(url, connect_timeout=3))
        except psycopg.OperationalError as exc:
            if "too many clients" not in str(exc):
                raise
            return held


def close_and_wait(admin: "object", conns: list["object"]) -> None:
    """Close ``conns`` and wait (bounded) until their server processes have left, so their slots
    are really free; ``admin`` is another connection to the same server."""
    pids = [conn.info.backend_pid for conn in conns]  # type: ignore[attr-defined]
    for conn in conns:
        conn.close()  # type: ignore[attr-defined]
    wait_until_gone(admin, "pid = ANY(%s)", pids)


def wait_until_gone(admin: "object", condition: str, value: object) -> None:
    """Wait (at most 5 s, then fail) until no row of pg_stat_activity matches ``condition``."""
    for _ in range(200):
        query = f"SELECT count(*) FROM pg_stat_activity WHERE {condition}"
        row = admin.execute(query, (value,)).fetchone()  # type: ignore[attr-defined]
        if row == (0,):
            return
        time.sleep(0.025)
    pytest.fail(f"server processes matching {condition} {value!r} did not exit")
