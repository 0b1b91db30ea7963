"""A reconnect storm: many warm Lambda instances on one small PostgreSQL, pooled and direct.

Each simulated instance is a separate process (forked from a parent that has imported the handler
and psycopg, as a warm container has) running ``handler.handler`` in a loop: a ``$connect`` then
a ``$disconnect`` of its own connection, every call an invocation. A throwaway cluster with
``max_connections=100`` serves both phases:

* pooled: :data:`SIZES` ``pooled`` instances through pgbouncer in transaction mode
  (``default_pool_size`` :data:`POOL_SIZE`, the RDS Proxy stand-in);
* direct: ``direct`` instances connecting straight to the cluster (the baseline: as many as fit).

Figure ``storm_200_lambdas_pooled``: successful invocations per second pooled vs direct, target
>= 1 with 0 failed invocations. The DATABASE_URL is the plain pgbouncer URL with ``DB_POOLER=pgbouncer``
(the pool-safe protocol: no startup ``options``, no server-side prepared statements); the direct phase
uses the default (``auto``: direct, prepared statements).
"""
from __future__ import annotations

import contextlib
import copy
import importlib
import io
import json
import multiprocessing
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from .cluster import Pgbouncer, ThrowawayCluster
from .figures import Figure, Section, Size, Target, percentile, profile_call
from .procs import environment

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "tests" / "events"
MAX_CONNECTIONS = 100
POOL_SIZE = 40
SIZES = {
    "tiny": {"pooled": 6, "direct": 3, "seconds": 2.0},
    "full": {"pooled": 200, "direct": 50, "seconds": 20.0},
}
START_TIMEOUT_S = 120
SAMPLE_INTERVAL_S = 0.25
RESULT_TIMEOUT_S = 120
FAILURE_SAMPLES = 3


def _events(instance: int) -> tuple[dict[str, Any], dict[str, Any]]:
    connect = json.loads((EVENTS / "connect.json").read_text())
    disconnect = json.loads((EVENTS / "disconnect.json").read_text())
    email = f"storm{instance}@bench.example"
    connect["queryStringParameters"]["email"] = email
    connect.setdefault("multiValueQueryStringParameters", {})["email"] = [email]
    return connect, disconnect


def _instance(instance: int, database_url: str, start: Any, stop_at: Any, results: Any) -> None:
    """One warm instance: wait for the start signal, then invoke until ``stop_at``; report counts."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # failed invocations log at ERROR; 200 processes would flood the run's output
    os.dup2(devnull, 2)
    os.environ.update(DATABASE_URL=database_url, LOG_LEVEL="ERROR")
    ok = failed = 0
    latencies: list[float] = []
    failures: dict[str, int] = {}
    try:
        from websocket_service import handler as module

        module.reset()
        connect, disconnect = _events(instance)
        start.wait(START_TIMEOUT_S)
        deadline = stop_at.value
        n = 0
        while time.time() < deadline:
            n += 1
            cid = f"s{instance}-{n}="
            for event in (connect, disconnect):
                event = copy.deepcopy(event)
                event["requestContext"]["connectionId"] = cid
                began = time.perf_counter()
                try:
                    result = module.handler(event, None)
                    status = result.get("statusCode")
                    key = f"{status} {result.get('body', '')[:120]}"
                except Exception as error:  # noqa: BLE001 - counted as a failed invocation
                    status, key = None, f"{type(error).__name__}: {str(error)[:120]}"
                latencies.append(time.perf_counter() - began)
                if status == 200:
                    ok += 1
                else:
                    failed += 1
                    failures[key] = failures.get(key, 0) + 1
        module.reset()
    except BaseException as error:  # noqa: BLE001 - a crashed instance is reported, not lost
        failed += 1
        key = f"instance crashed: {type(error).__name__}: {str(error)[:120]}"
        failures[key] = failures.get(key, 0) + 1
    finally:
        results.put({"ok": ok, "failed": failed, "latencies": latencies, "failures": failures})


def _phase(database_url: str, instances: int, seconds: float, *, cluster_url: str) -> dict[str, Any]:
    """Run ``instances`` processes for ``seconds``; totals, rate, latency percentiles and the peak
    number of client backends on the cluster (sampled through ``cluster_url``)."""
    for module in ("websocket_service.handler", "psycopg"):  # imported before forking: warm instances
        importlib.import_module(module)
    ctx = multiprocessing.get_context("fork")
    start = ctx.Event()
    stop_at = ctx.Value("d", 0.0)
    results = ctx.Queue()
    processes = [ctx.Process(target=_instance, args=(i, database_url, start, stop_at, results), daemon=True)
                 for i in range(instances)]
    for process in processes:
        process.start()
    time.sleep(0.5)  # let every child reach the start line
    sampler = _BackendSampler(cluster_url)
    stop_at.value = time.time() + seconds
    start.set()
    sampler.start()
    collected = []
    try:
        for _ in processes:
            collected.append(results.get(timeout=seconds + RESULT_TIMEOUT_S))
    finally:
        sampler.stop()
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join(timeout=10)
    latencies = [x for c in collected for x in c["latencies"]]
    failures: dict[str, int] = {}
    for c in collected:
        for key, count in c["failures"].items():
            failures[key] = failures.get(key, 0) + count
    ok = sum(c["ok"] for c in collected)
    return {
        "instances": instances, "ok": ok, "failed": sum(c["failed"] for c in collected),
        "rate": ok / seconds, "p50_ms": percentile(latencies, 0.5) * 1000 if latencies else 0.0,
        "p99_ms": percentile(latencies, 0.99) * 1000 if latencies else 0.0,
        "failures": sorted(failures.items(), key=lambda kv: -kv[1])[:FAILURE_SAMPLES],
        "peak_backends": sampler.peak,
    }


class _BackendSampler(threading.Thread):
    """Polls the cluster's number of client backends (its own connection excluded) until stopped."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.peak = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
            while not self._stop_event.wait(SAMPLE_INTERVAL_S):
                row = conn.execute("SELECT count(*) - 1 FROM pg_stat_activity WHERE backend_type = 'client backend'")
                self.peak = max(self.peak, int(row.fetchone()[0]))

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)


def _profile_one(database_url: str) -> str:
    """cProfile of one instance's first connect + disconnect through ``database_url`` (in-process),
    preceded by the first error the handler logged, if any (a failing storm is explained by it)."""
    from websocket_service import handler as module

    connect, disconnect = _events(99_999)
    logged = io.StringIO()
    with environment(DATABASE_URL=database_url, LOG_LEVEL="ERROR"):
        module.reset()
        try:
            with contextlib.redirect_stdout(logged):  # the handler's log lines are not the profile
                profile = profile_call(lambda: [module.handler(e, None) for e in (connect, disconnect)])
        finally:
            module.reset()
    errors = [json.loads(line).get("error_message") for line in logged.getvalue().splitlines()
              if line.startswith("{") and "error_message" in line]
    return (f"first error logged: {errors[0]}\n\n" if errors else "") + profile


def run(size: Size) -> Section:
    """Measure the pooled storm against the direct baseline; see the module docstring."""
    cfg = SIZES[size]
    from websocket_service.store import open_store

    with tempfile.TemporaryDirectory(prefix="bench-storm-") as tmp:
        os.chmod(tmp, 0o755)  # the cluster runs as the postgres user when we are root
        with ThrowawayCluster(Path(tmp) / "pg", max_connections=MAX_CONNECTIONS) as cluster:
            store = open_store(cluster.url)
            store.migrate()
            store.close()
            # DB_POOLER as a user would set it: this pgbouncer listens on a free port, not 6432.
            with Pgbouncer(Path(tmp) / "bouncer", cluster, pool_size=POOL_SIZE,
                           max_clients=cfg["pooled"] + 50) as bouncer, environment(DB_POOLER="pgbouncer"):
                pooled = _phase(bouncer.url, cfg["pooled"], cfg["seconds"], cluster_url=cluster.url)
                profile = _profile_one(bouncer.url)
            direct = _phase(cluster.url, cfg["direct"], cfg["seconds"], cluster_url=cluster.url)
    if not direct["ok"]:
        raise RuntimeError(f"the direct baseline served no invocation; failures: {direct['failures']}")
    figure = Figure("storm_200_lambdas_pooled", pooled["rate"], "successful invocations/s", direct["rate"],
                    Target(1.0, at_most=False), extra_ok=pooled["failed"] == 0 and direct["failed"] == 0)
    rows = []
    for name, phase in (("pooled (pgbouncer, transaction mode)", pooled), ("direct (baseline)", direct)):
        total = phase["ok"] + phase["failed"]
        rows.append(
            f"| {name} | {phase['instances']} | {phase['ok']} | {phase['failed']} "
            f"({phase['failed'] / total * 100 if total else 0:.1f} %) | {phase['rate']:.0f} | "
            f"{phase['p50_ms']:.0f} | {phase['p99_ms']:.0f} | {phase['peak_backends']} |"
        )
    failure_lines = [f"- {name}: {count}x `{key}`" for name, phase in (("pooled", pooled), ("direct", direct))
                     for key, count in phase["failures"]]
    markdown = "\n".join([
        "## Storm: warm instances on one small PostgreSQL (`bench/storm.py`)",
        "",
        f"Throwaway cluster with `max_connections={MAX_CONNECTIONS}`; each instance a forked process "
        f"looping `$connect` + `$disconnect` through `handler()` for {cfg['seconds']:g} s. pgbouncer "
        f"`pool_mode=transaction`, `default_pool_size={POOL_SIZE}`.",
        "",
        "| phase | instances | ok | failed | ok/s | p50 ms | p99 ms | peak backends |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *rows,
        "",
        *(["Most frequent failures:", "", *failure_lines, ""] if failure_lines else []),
        "",
    ])
    return Section("storm", [figure], markdown, {figure.name: profile} if not figure.met else {})
