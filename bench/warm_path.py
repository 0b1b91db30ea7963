"""Warm ``$connect`` + ``$disconnect`` through the handler, against the raw driver doing the same writes.

The baseline runs the same INSERT and UPDATE on the same database with the bare driver, so the
ratio is what the handler adds (event parsing, validation, the atomic cap check, logging) per
connection. The two alternate in several rounds and the median round is reported, so a burst of
load from another process on this shared machine skews one round, not the result.
"""
from __future__ import annotations

import contextlib
import copy
import json
import statistics
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

from . import pg
from .figures import Figure, Section, Size, Target, profile_call
from .procs import environment

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "tests" / "events"
PG_SCHEMA = "bench_warm"
ROUNDS = 9
SIZES = {"tiny": 50, "full": 1000}
"""Connections per store, split over :data:`ROUNDS` rounds."""
PROFILE_ITERATIONS = 100
TARGET = Target(1.3)

Execute = Callable[[str, tuple], Any]

_INSERT = (
    "INSERT INTO websocket_connections (connection_id, user_email, connection_type, is_active, "
    "connected_at, last_activity_at, source_ip, user_agent, domain_name, stage) "
    "VALUES ({p}, {p}, {p}, TRUE, {p}, {p}, {p}, {p}, {p}, {p})"
)
_UPDATE = (
    "UPDATE websocket_connections SET is_active = FALSE, disconnected_at = {p}, "
    "disconnect_status_code = {p}, disconnect_reason = {p} WHERE connection_id = {p}"
)


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


def _raw_round(execute: Execute, placeholder: str, round_no: int, iterations: int) -> float:
    insert, update = _INSERT.format(p=placeholder), _UPDATE.format(p=placeholder)
    start = time.perf_counter()
    for i in range(iterations):
        now = datetime.now(timezone.utc)
        cid = f"r{round_no}-{i:07d}="
        execute(insert, (cid, "a@example.com", "general", now, now, "203.0.113.9", "bench", "h", "prod"))
        execute(update, (now, 1001, "bench", cid))
    return time.perf_counter() - start


@contextlib.contextmanager
def _sqlite_driver(path: str) -> Iterator[tuple[Execute, str]]:
    import sqlite3

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # what the store sets
    try:
        yield (lambda sql, args: conn.execute(sql, tuple(a.isoformat() if isinstance(a, datetime) else a for a in args))), "?"
    finally:
        conn.close()


@contextlib.contextmanager
def _pg_driver(url: str) -> Iterator[tuple[Execute, str]]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        yield conn.execute, "%s"


def _measure(url: str, driver: contextlib.AbstractContextManager, iterations: int) -> tuple[float, float, float, str]:
    """(median handler s/connection, median driver s/connection, median per-round ratio, profile)."""
    from websocket_service import handler as module
    from websocket_service.store import open_store

    store = open_store(url)
    store.migrate()
    store.close()
    per_round = max(1, iterations // ROUNDS)
    rounds = []
    with environment(DATABASE_URL=url, LOG_LEVEL="ERROR"), driver as (execute, placeholder):
        module.reset()
        try:
            for round_no in range(ROUNDS):
                handler_s = _handler_round(round_no, per_round)
                raw_s = _raw_round(execute, placeholder, round_no, per_round)
                rounds.append((handler_s / per_round, raw_s / per_round))
            events = _events(ROUNDS, PROFILE_ITERATIONS)
            profile = profile_call(lambda: _handle(events))
        finally:
            module.reset()
    return (
        statistics.median(h for h, _ in rounds),
        statistics.median(r for _, r in rounds),
        statistics.median(h / r for h, r in rounds),
        profile,
    )


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
        "through `handler()`; the baseline is the bare driver running the same INSERT and UPDATE on the "
        "same database. Medians over the rounds (the figure is median handler / median driver).",
        "",
        "| store | handler µs per connection | bare driver µs | median per-round ratio | connections/s |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for key, name, handler_s, raw_s, ratio, profile in rows:
        figure = Figure(f"warm_connect_disconnect_{key}", handler_s * 1e6, "µs per connect+disconnect",
                        raw_s * 1e6, TARGET)
        figures.append(figure)
        if not figure.met:
            profiles[figure.name] = profile
        lines.append(f"| {name} | {handler_s * 1e6:.0f} | {raw_s * 1e6:.0f} | {ratio:.2f} | {1 / handler_s:.0f} |")
    lines.append("")
    return Section("warm_path", figures, "\n".join(lines), profiles)
