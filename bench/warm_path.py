"""Warm ``$connect`` + ``$disconnect`` through the handler, against the raw driver doing the same writes.

The baseline runs the same INSERT and UPDATE on the same database with the bare driver, so the
ratio is what the handler adds (event parsing, validation, the cap check, logging) per connection.
"""
from __future__ import annotations

import copy
import json
import os
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from . import pg

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "tests" / "events"
PG_SCHEMA = "bench_warm"


def _handler_loop(url: str, iterations: int) -> float:
    from websocket_service import handler as module
    from websocket_service.store import open_store

    store = open_store(url)
    store.migrate()
    store.close()
    os.environ["DATABASE_URL"] = url
    os.environ["LOG_LEVEL"] = "ERROR"
    module.reset()
    connect = json.loads((EVENTS / "connect.json").read_text())
    disconnect = json.loads((EVENTS / "disconnect.json").read_text())
    events = []
    for i in range(iterations):
        c, d = copy.deepcopy(connect), copy.deepcopy(disconnect)
        cid = f"bench{i:08d}="
        c["requestContext"]["connectionId"] = d["requestContext"]["connectionId"] = cid
        events.append((c, d))
    start = time.perf_counter()
    for c, d in events:
        assert module.handler(c, None)["statusCode"] == 200
        assert module.handler(d, None)["statusCode"] == 200
    elapsed = time.perf_counter() - start
    module.reset()
    return elapsed


_INSERT = (
    "INSERT INTO websocket_connections (connection_id, user_email, connection_type, is_active, "
    "connected_at, last_activity_at, source_ip, user_agent, domain_name, stage) "
    "VALUES ({p}, {p}, {p}, TRUE, {p}, {p}, {p}, {p}, {p}, {p})"
)
_UPDATE = (
    "UPDATE websocket_connections SET is_active = FALSE, disconnected_at = {p}, "
    "disconnect_status_code = {p}, disconnect_reason = {p} WHERE connection_id = {p}"
)


def _raw_loop(execute: Callable[[str, tuple], None], placeholder: str, iterations: int) -> float:
    insert, update = _INSERT.format(p=placeholder), _UPDATE.format(p=placeholder)
    start = time.perf_counter()
    for i in range(iterations):
        now = datetime.now(timezone.utc)
        cid = f"raw{i:08d}="
        execute(insert, (cid, "a@example.com", "general", now, now, "203.0.113.9", "bench", "h", "prod"))
        execute(update, (now, 1001, "bench", cid))
    return time.perf_counter() - start


def _raw_sqlite(path: str, iterations: int) -> float:
    import sqlite3

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    try:
        return _raw_loop(lambda sql, args: conn.execute(sql, tuple(a.isoformat() if isinstance(a, datetime) else a for a in args)), "?", iterations)
    finally:
        conn.close()


def _raw_pg(url: str, iterations: int) -> float:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        return _raw_loop(lambda sql, args: conn.execute(sql, args), "%s", iterations)


def run(*, iterations: int) -> str:
    """Measure and return a markdown section."""
    pg_base = pg.base_url()
    saved = {k: os.environ.get(k) for k in ("DATABASE_URL", "LOG_LEVEL")}
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/warm.db"
            handler_s = _handler_loop(url, iterations)
            raw_s = _raw_sqlite(f"{tmp}/warm.db", iterations)
            rows.append(("SQLite (WAL file)", handler_s, raw_s))
        url = pg.fresh_schema_url(pg_base, PG_SCHEMA)
        handler_s = _handler_loop(url, iterations)
        raw_s = _raw_pg(url, iterations)
        rows.append(("PostgreSQL (127.0.0.1)", handler_s, raw_s))
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    lines = [
        "## Warm connect + disconnect (`bench/warm_path.py`)",
        "",
        f"{iterations} connections, each a `$connect` then a `$disconnect` through `handler()`; the "
        "baseline is the bare driver running the same INSERT and UPDATE on the same database.",
        "",
        "| store | handler µs per connection | bare driver µs | ratio handler / driver | connections/s |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, handler_s, raw_s in rows:
        lines.append(
            f"| {name} | {handler_s / iterations * 1e6:.0f} | {raw_s / iterations * 1e6:.0f} | "
            f"{handler_s / raw_s:.2f} | {iterations / handler_s:.0f} |"
        )
    lines.append("")
    return "\n".join(lines)
