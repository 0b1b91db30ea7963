"""``$connect`` latency while cleanup works through a large backlog, on PostgreSQL.

The table is seeded with :data:`SIZES` ``rows`` connections, half of them stale (idle past the
TTL, so cleanup must expire them), 4 rows per email. Then, through ``handler()``, in alternating
rounds (:func:`~bench.figures.alternate`), so the baseline sees the same table, vacuum debt and
machine load as the phases it is compared with:

* baseline: ``$connect`` p99 of new users with no cleanup running, for as long as the cleanup
  phase before it took (at least ``connects`` calls), so both p99s come from windows alike;
* measured: ``$connect`` p99 during one cleanup phase: another process runs ONE scheduled cleanup
  (a ``{"action": "cleanup"}`` direct invoke, what one EventBridge schedule does, bounded by its
  time budget). A phase that finds the backlog cleared first reseeds it (untimed), so every
  phase works through a backlog.

Figure ``cleanup_1m_connect_p99``: median round's p99 with cleanup / p99 without, target <= 1.5. RESULTS.md adds the
runs needed, total and longest run, and EXPLAIN of the cleanup statements (captured from
``pg_stat_activity`` as the store sent them, planned generically) and of the per-email count that
every ``$connect`` runs inside ``ws_add_connection``.
"""
from __future__ import annotations

import copy
import json
import os
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from . import pg
from .figures import Figure, Section, Size, Target, alternate, percentile, profile_call
from .procs import PRODUCTION_LOG_LEVEL, emit, environment, python_child

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "tests" / "events"
PG_SCHEMA = "bench_cleanup"
APPLICATION_NAME = "bench-cleanup"
SIZES = {  # rows seeded; baseline $connect calls per round; the longest one cleanup run may take
    "tiny": {"rows": 2_000, "connects": 40, "max_seconds": 60.0},
    "full": {"rows": 1_000_000, "connects": 400, "max_seconds": 300.0},
}
ROWS_PER_EMAIL = 4
SEED = """
INSERT INTO websocket_connections (connection_id, user_email, connection_type, is_active, connected_at,
                                   last_activity_at, source_ip, user_agent, domain_name, stage)
SELECT '{prefix}-' || g || '=', '{prefix}' || (g / {per_email}) || '@bench.example', 'general', TRUE, t, t,
       '203.0.113.9', 'bench', 'bench.example', 'prod'
FROM generate_series(1, {rows}) AS g,
     LATERAL (SELECT now() - CASE WHEN g % 2 = 0 THEN interval '3 hours' ELSE interval '5 minutes' END AS t) AS s
"""
PER_EMAIL_COUNT = (
    "SELECT count(*) FROM websocket_connections WHERE user_email = %s AND is_active AND connection_id <> %s"
)
"""The cap's count inside ``ws_add_connection`` (migration 0001), for EXPLAIN ANALYZE."""
CAPTURE_INTERVAL_S = 0.002
CHILD_TIMEOUT_S = 30


def _with_application_name(url: str, name: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query["application_name"] = name
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


def _connect_events(prefix: str, count: int) -> list[dict[str, Any]]:
    template = json.loads((EVENTS / "connect.json").read_text())
    events = []
    for i in range(count):
        event = copy.deepcopy(template)
        email = f"{prefix}{i}@bench.example"
        event["queryStringParameters"]["email"] = email
        event.setdefault("multiValueQueryStringParameters", {})["email"] = [email]
        event["requestContext"]["connectionId"] = f"{prefix}{i}="
        events.append(event)
    return events


def _connect_latencies(events: list[dict[str, Any]], keep_going: threading.Event | None = None) -> list[float]:
    """Run ``$connect`` events through the handler; with ``keep_going``, stop once it is cleared."""
    from websocket_service import handler as module

    samples = []
    for event in events:  # at least one: a phase that ends at once still has a sample
        started = time.perf_counter()
        result = module.handler(event, None)
        samples.append(time.perf_counter() - started)
        assert result["statusCode"] == 200, result
        if keep_going is not None and not keep_going.is_set():
            break
    return samples


class _Capture(threading.Thread):
    """Collects the distinct statements the cleanup process runs (``pg_stat_activity``)."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.queries: set[str] = set()
        self.done = threading.Event()

    def run(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.done.wait(CAPTURE_INTERVAL_S):
                for (query,) in conn.execute(
                    "SELECT query FROM pg_stat_activity WHERE application_name = %s AND state = 'active'",
                    (APPLICATION_NAME,),
                ):
                    if query.lstrip().upper().startswith(("UPDATE", "DELETE")):
                        self.queries.add(query)


def _generic_plan(conn: Any, query: str) -> str:
    """EXPLAIN of ``query`` (with ``$n`` parameters) as a generic plan, without running it."""
    params = max((int(n) for n in re.findall(r"\$(\d+)", query)), default=0)
    with conn.transaction():
        conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        conn.execute(f"PREPARE bench_plan AS {query}")
        try:
            args = ", ".join(["NULL"] * params)
            rows = conn.execute(f"EXPLAIN EXECUTE bench_plan{f'({args})' if params else ''}").fetchall()
        finally:
            conn.execute("DEALLOCATE bench_plan")
    return "\n".join(row[0] for row in rows)


def run(size: Size) -> Section:
    """Measure ``$connect`` p99 with and without cleanup; see the module docstring."""
    with pg.scratch_schema(PG_SCHEMA) as url:  # a million rows: the schema is dropped afterwards
        return _run(size, url)


def _run(size: Size, url: str) -> Section:
    import psycopg

    from websocket_service import handler as module
    from websocket_service.store import open_store

    cfg = SIZES[size]
    base = pg.base_url()
    store = open_store(url)
    store.migrate()
    store.close()
    started = time.perf_counter()
    _seed(url, cfg["rows"], "seed")
    seed_s = time.perf_counter() - started
    with environment(DATABASE_URL=url, LOG_LEVEL=PRODUCTION_LOG_LEVEL):
        module.reset()
        try:
            measured = _measure(cfg, url, base)
        finally:
            module.reset()
    return _report(cfg, seed_s, measured)


def _seed(url: str, rows: int, prefix: str) -> None:
    """Insert ``rows`` connections (half stale) with ids and emails starting with ``prefix``."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SEED.format(per_email=ROWS_PER_EMAIL, rows=rows, prefix=prefix))
        conn.execute("ANALYZE websocket_connections")


def _measure(cfg: dict[str, Any], url: str, base: str) -> dict[str, Any]:
    """Baseline and during-cleanup ``$connect`` latencies, cleanup runs, plans (handler env set)."""
    import psycopg

    _connect_latencies(_connect_events("warm", 20))
    baseline: list[float] = []
    during: list[float] = []
    runs: list[dict[str, Any]] = []
    capture = _Capture(base)
    capture.start()
    child_url = _with_application_name(url, APPLICATION_NAME)
    with python_child("bench.cleanup_load", child_url, env={**os.environ, "DATABASE_URL": child_url}) as child:
        child.event(timeout_s=CHILD_TIMEOUT_S)  # "ready": imported and connected

        phase_seconds: list[float] = []

        def quiet(index: int) -> float:
            # As long as the last cleanup phase (at least cfg["connects"] calls): a p99 of a few
            # hundred calls over half a second misses the machine's periodic stalls (checkpoints,
            # other tenants) that a 20 s phase cannot, which skewed the ratio against cleanup.
            seconds = phase_seconds[-1] if phase_seconds else 0.0
            started = time.perf_counter()
            samples = _connect_latencies(_connect_events(f"quiet{index}-", cfg["connects"]))
            batch = 0
            while time.perf_counter() - started < seconds:
                samples += _connect_latencies(_connect_events(f"quiet{index}-{batch}-", 200))
                batch += 1
            baseline.extend(samples)
            return percentile(samples, 0.99) * 1000

        def phase(index: int) -> float:
            if runs and runs[-1]["complete"]:
                _seed(url, cfg["rows"], f"reseed{index}")  # every phase works through a backlog
            running = threading.Event()
            running.set()

            def follow() -> None:
                try:
                    while True:
                        event = child.event(timeout_s=cfg["max_seconds"] + CHILD_TIMEOUT_S)
                        if event["event"] == "phase":
                            return
                        runs.append(event)
                finally:
                    running.clear()

            follower = threading.Thread(target=follow, daemon=True)
            started = time.perf_counter()
            child.send("go")
            follower.start()
            samples: list[float] = []
            batch = 0
            while running.is_set():
                samples += _connect_latencies(_connect_events(f"busy{index}-{batch}-", 200), running)
                batch += 1
            follower.join(timeout=CHILD_TIMEOUT_S)
            if not samples:
                raise RuntimeError(f"cleanup phase {index} finished before any $connect ran alongside it")
            phase_seconds.append(time.perf_counter() - started)
            during.extend(samples)
            return percentile(samples, 0.99) * 1000

        rounds = alternate(phase, quiet)
        child.send("stop")
    capture.done.set()
    capture.join(timeout=10)
    events = _connect_events("profile", 200)
    profile = ("200 `$connect` with no cleanup running: the handler's own cost. What cleanup adds is "
               "waiting in the database (compare p50 and p99 above), which no Python profile shows.\n"
               + profile_call(lambda: _connect_latencies(events)))
    with psycopg.connect(url, autocommit=True) as conn:
        plans = [(q, _generic_plan(conn, q)) for q in sorted(capture.queries)]
        lookup = "\n".join(r[0] for r in conn.execute(
            f"EXPLAIN (ANALYZE, BUFFERS) {PER_EMAIL_COUNT}", ("seed7@bench.example", "none=")).fetchall())
        left = conn.execute("SELECT count(*) FROM websocket_connections WHERE is_active "
                            "AND last_activity_at < now() - interval '2 hours'").fetchone()[0]
    return {"baseline": baseline, "during": during, "runs": runs, "profile": profile, "plans": plans,
            "lookup": lookup, "left": left, "rounds": rounds}


def _report(cfg: dict[str, Any], seed_s: float, m: dict[str, Any]) -> Section:
    """The figure and the markdown section from the measurements."""
    from websocket_service.config import Settings

    baseline, during, runs, plans = m["baseline"], m["during"], m["runs"], m["plans"]
    p99_base, p99_during = percentile(baseline, 0.99), percentile(during, 0.99)
    figure = Figure("cleanup_1m_connect_p99", "ms ($connect p99)", m["rounds"], Target(1.5))
    total = sum(r["seconds"] for r in runs)
    longest = max(runs, key=lambda r: r["seconds"]) if runs else {"seconds": 0.0, "expired": 0}
    batch_times = [r["longest_batch_ms"] for r in runs if r.get("longest_batch_ms") is not None]
    batch_size = Settings.from_env().cleanup_batch_size
    longest_batch = (f"longest batch {max(batch_times):.0f} ms" if batch_times else
                     f"longest batch not reported by the handler; longest run / its {batch_size}-row batches "
                     f"= {longest['seconds'] * 1000 / max(1, -(-longest['expired'] // batch_size)):.0f} ms on average")
    complete = bool(runs) and runs[-1]["complete"]
    expired = sum(r["expired"] for r in runs)
    plan_text = []
    for query, plan in plans:
        plan_text += ["```sql", " ".join(query.split()), "```", "", "```", plan, "```", ""]
    markdown = "\n".join([
        "## Cleanup over a large backlog (`bench/cleanup_load.py`)",
        "",
        f"{cfg['rows']:,} rows ({cfg['rows'] // 2:,} stale, {ROWS_PER_EMAIL} per email) seeded in {seed_s:.1f} s. "
        f"{len(figure.rounds)} alternating rounds of quiet `$connect` for as long as the cleanup phase before took "
        f"(the baseline, at least {cfg['connects']} calls) and one cleanup "
        "phase (one scheduled run in another process, the backlog reseeded first if a run had cleared it) while "
        "this process sends `$connect` for new users through `handler()`. The figure is the median round's p99 "
        f"ratio {figure.ratio:.2f} (rounds {figure.ratio_min:.2f}-{figure.ratio_max:.2f}); the table pools every "
        "round's samples.",
        "",
        "| | $connect samples | p50 ms | p99 ms |",
        "| --- | ---: | ---: | ---: |",
        f"| no cleanup (baseline) | {len(baseline)} | {percentile(baseline, 0.5) * 1000:.2f} | {p99_base * 1000:.2f} |",
        f"| during cleanup | {len(during)} | {percentile(during, 0.5) * 1000:.2f} | {p99_during * 1000:.2f} |",
        "",
        f"Cleanup: {len(runs)} runs, {expired:,} rows expired in {total:.1f} s in total; longest run "
        f"{longest['seconds']:.2f} s ({longest['expired']:,} rows); {longest_batch}. "
        + (f"The last run cleared its backlog." if complete else
           f"{m['left']:,} stale rows left after the last run (one run per schedule period)."),
        "",
        "EXPLAIN of the cleanup statements as the store sent them (generic plan, parameters `$n`):",
        "",
        *(plan_text or ["(no cleanup statement was caught in `pg_stat_activity`)", ""]),
        "EXPLAIN ANALYZE of the per-email count every `$connect` runs (inside `ws_add_connection`):",
        "",
        "```",
        m["lookup"],
        "```",
        "",
    ])
    return Section("cleanup", [figure], markdown, {figure.name: m["profile"]} if not figure.met else {})


def _child(url: str) -> None:
    """The cleanup process: one cleanup run (one event) per ``go`` line, then ``phase``; ``stop`` ends it."""
    os.environ.update(DATABASE_URL=url, LOG_LEVEL="ERROR")
    from websocket_service.handler import handler

    handler({"action": "cleanup", "dry_run": True})  # import, connect: the first run is not a cold one
    emit(event="ready")
    while sys.stdin.readline().strip() == "go":
        started = time.perf_counter()
        result = handler({"action": "cleanup"})
        emit(event="run", seconds=time.perf_counter() - started, expired=result["expired"],
             purged=result["purged"], complete=result["complete"],
             longest_batch_ms=result.get("longest_batch_ms"))  # reported by stores that time their batches
        emit(event="phase")


if __name__ == "__main__":
    _child(sys.argv[1])
