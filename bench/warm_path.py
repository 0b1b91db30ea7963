"""Warm ``$connect`` + ``$disconnect`` through the handler, against the raw driver doing the same writes.

The baseline runs the SAME capped statement the store runs (PostgreSQL: ``ws_add_connection(...)``,
the advisory lock plus capped INSERT; SQLite: the capped ``INSERT ... SELECT ... WHERE count < limit``)
and the same disconnect UPDATE, with the bare driver on the same database; the handler runs at
production's ``LOG_LEVEL=INFO`` (its log lines are written, as in Lambda). So the ratio is what the
handler adds per connection: event parsing, validation, logging, the store's session discipline.
The sides alternate in :data:`~bench.figures.ROUNDS` rounds (:func:`~bench.figures.alternate`).
"""
from __future__ import annotations

import contextlib
import copy
import json
import re
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

from . import pg
from .figures import ROUNDS, Figure, Section, Size, Target, alternate, profile_call
from .procs import PRODUCTION_LOG_LEVEL, environment

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "tests" / "events"
PG_SCHEMA = "bench_warm"
SIZES = {"tiny": 50, "full": 1000}
"""Connections per store, split over :data:`~bench.figures.ROUNDS` rounds."""
PROFILE_ITERATIONS = 100
TARGET = Target(1.25)
LOG_LEVEL = PRODUCTION_LOG_LEVEL
ACTIVE_LIMIT = 10
"""The cap the baseline's capped statement checks (the events use one email per connection id)."""

Execute = Callable[[str, dict], Any]


def _statements(placeholder_style: str) -> tuple[str, str]:
    """(capped add, disconnect UPDATE) exactly as the store sends them, for the bare driver."""
    from websocket_service.store import sql
    from websocket_service.store.postgres import ADD_FUNCTION

    disconnect = sql._MARK_DISCONNECTED  # noqa: SLF001 - the very statement, not a copy that could drift
    if placeholder_style == "pg":
        add = (f"SELECT {ADD_FUNCTION}(%(connection_id)s, %(user_email)s, %(connection_type)s, %(connected_at)s, "
               "%(source_ip)s, %(user_agent)s, %(domain_name)s, %(stage)s, %(active_limit)s)")
        return add, disconnect
    named = lambda text: re.sub(r"%\((\w+)\)s", r":\1", text)  # noqa: E731 - the SQLite session's rewrite
    return named(sql.ADD_CAPPED), named(disconnect)


def _events(round_no: int, iterations: int) -> list[tuple[dict, dict]]:
    connect = json.loads((EVENTS / "connect.json").read_text())
    disconnect = json.loads((EVENTS / "disconnect.json").read_text())
    events = []
    for i in range(iterations):
        c, d = copy.deepcopy(connect), copy.deepcopy(disconnect)
        c["requestContext"]["connectionId"] = d["requestContext"]["connectionId"] = f"h{round_no}-{i:07d}="
        events.append((c, d))
    return events


def _handle(events: list[tuple[dict, dict]]) -> None:
    from websocket_service import handler as module

    for c, d in events:
        assert module.handler(c, None)["statusCode"] == 200
        assert module.handler(d, None)["statusCode"] == 200


def _handler_round(round_no: int, iterations: int) -> float:
    events = _events(round_no, iterations)
    start = time.perf_counter()
    _handle(events)
    return time.perf_counter() - start


def _raw_round(execute: Execute, style: str, round_no: int, iterations: int) -> float:
    add, disconnect = _statements(style)
    start = time.perf_counter()
    for i in range(iterations):
        now = datetime.now(timezone.utc)
        cid = f"r{round_no}-{i:07d}="
        execute(add, {"connection_id": cid, "user_email": f"raw{round_no}-{i}@example.com",
                      "connection_type": "general", "connected_at": now, "source_ip": "203.0.113.9",
                      "user_agent": "bench", "domain_name": "h", "stage": "prod", "active_limit": ACTIVE_LIMIT})
        execute(disconnect, {"at": now, "status_code": 1001, "reason": "bench", "connection_id": cid})
    return time.perf_counter() - start


@contextlib.contextmanager
def _sqlite_driver(path: str) -> Iterator[tuple[Execute, str]]:
    import sqlite3

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # what the store sets
    try:
        yield (lambda sql, args: conn.execute(sql, {k: v.isoformat() if isinstance(v, datetime) else v
                                                     for k, v in args.items()})), "sqlite"
    finally:
        conn.close()


@contextlib.contextmanager
def _pg_driver(url: str) -> Iterator[tuple[Execute, str]]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        yield conn.execute, "pg"


def _measure(url: str, driver: contextlib.AbstractContextManager, iterations: int) -> tuple[Any, str]:
    """(the rounds, in µs per connection; a profile of the handler)."""
    from websocket_service import handler as module
    from websocket_service.store import open_store

    store = open_store(url)
    store.migrate()
    store.close()
    per_round = max(1, iterations // ROUNDS)
    with environment(DATABASE_URL=url, LOG_LEVEL=LOG_LEVEL), driver as (execute, style):
        module.reset()
        try:
            _handle(_events(-1, 5))  # warm: the first call opens the store's connection
            rounds = alternate(lambda i: _handler_round(i, per_round) / per_round * 1e6,
                               lambda i: _raw_round(execute, style, i, per_round) / per_round * 1e6)
            events = _events(ROUNDS, PROFILE_ITERATIONS)
            profile = profile_call(lambda: _handle(events))
        finally:
            module.reset()
    return rounds, profile


def run(size: Size) -> Section:
    """Measure both stores; figures ``warm_connect_disconnect_sqlite`` and ``..._postgres``."""
    iterations = SIZES[size]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/warm.db"
        rows.append(("sqlite", "SQLite (WAL file)", *_measure(f"sqlite:///{path}", _sqlite_driver(path), iterations)))
    with pg.scratch_schema(PG_SCHEMA) as url:
        rows.append(("postgres", "PostgreSQL (127.0.0.1)", *_measure(url, _pg_driver(url), iterations)))
    figures, profiles = [], {}
    lines = [
        "## Warm connect + disconnect (`bench/warm_path.py`)",
        "",
        f"{iterations} connections in {ROUNDS} alternating rounds, each a `$connect` then a `$disconnect` "
        f"through `handler()` at `LOG_LEVEL={LOG_LEVEL}` (production's); the baseline is the bare driver running "
        "the same capped statement (PostgreSQL: `ws_add_connection(...)`; SQLite: the capped INSERT) and the "
        "same disconnect UPDATE on the same database. The figure is the median round's ratio.",
        "",
        "| store | handler µs per connection | bare driver µs | median ratio (min-max) | connections/s |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for key, name, rounds, profile in rows:
        figure = Figure(f"warm_connect_disconnect_{key}", "µs per connect+disconnect", rounds, TARGET)
        figures.append(figure)
        if not figure.met:
            profiles[figure.name] = profile
        lines.append(f"| {name} | {figure.value:.0f} | {figure.baseline:.0f} | {figure.ratio:.2f} "
                     f"({figure.ratio_min:.2f}-{figure.ratio_max:.2f}) | {1e6 / figure.value:.0f} |")
    lines.append("")
    return Section("warm_path", figures, "\n".join(lines), profiles)
