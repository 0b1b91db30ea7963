"""A reconnect storm: many warm Lambda instances sharing a small pooled budget of database connections.

Each simulated instance is a separate process (forked from a parent that has imported the handler
and psycopg, as a warm container has) looping a ``$connect`` then a ``$disconnect`` of its own
connection. A throwaway cluster (``max_connections`` :data:`MAX_CONNECTIONS`) sits behind pgbouncer
in transaction mode with ``default_pool_size`` :data:`POOL_SIZE` (the RDS Proxy stand-in): the
instances share that budget of server connections. In alternating rounds
(:func:`~bench.figures.alternate`), the same number of instances run for the same time:

* handler: every call an invocation of ``handler.handler`` with ``DB_POOLER=pgbouncer`` (the
  pool-safe protocol: no startup ``options``, no server-side prepared statements);
* baseline: bare psycopg through the same pooler running the same statements (the capped
  ``ws_add_connection(...)`` and the disconnect UPDATE), no prepared statements either.

Figure ``storm_200_lambdas_pooled``: the handler's successful invocations per second / the bare
instances' statement pairs per second, target >= 0.8, and 0 failed invocations in every round.
"""
from __future__ import annotations

import contextlib
import copy
import importlib
import io
import json
import multiprocessing
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from .cluster import Pgbouncer, ThrowawayCluster
from .figures import Figure, Section, Size, Target, alternate, percentile, profile_call
from .procs import PRODUCTION_LOG_LEVEL, environment

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "tests" / "events"
MAX_CONNECTIONS = 100
POOL_SIZE = 20
"""The pooled budget: server connections the instances share."""
SIZES = {  # instances, seconds per round and side
    "tiny": {"instances": 6, "seconds": 1.0},
    "full": {"instances": 200, "seconds": 6.0},
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


def _bare_calls(database_url: str) -> Any:
    """(connect(cid, event), disconnect(cid)) running the store's statements with bare psycopg; the
    connection is opened on first use and again after an error."""
    import psycopg

    from .warm_path import _statements

    add, disconnect = _statements("pg")
    state: dict[str, Any] = {"conn": None}

    def run(sql: str, params: dict[str, Any]) -> dict[str, Any]:
        if state["conn"] is None or state["conn"].closed:
            state["conn"] = psycopg.connect(database_url, autocommit=True, prepare_threshold=None)
        try:
            state["conn"].execute(sql, params)
        except Exception:
            state["conn"].close()
            raise
        return {"statusCode": 200}

    def connect(cid: str, event: dict[str, Any]) -> dict[str, Any]:
        from datetime import datetime, timezone

        return run(add, {"connection_id": cid, "user_email": event["queryStringParameters"]["email"],
                         "connection_type": "general", "connected_at": datetime.now(timezone.utc),
                         "source_ip": "203.0.113.9", "user_agent": "bench", "domain_name": "h", "stage": "prod",
                         "active_limit": 10})

    def disconnect_call(cid: str, _: dict[str, Any]) -> dict[str, Any]:
        from datetime import datetime, timezone

        return run(disconnect, {"at": datetime.now(timezone.utc), "status_code": 1001, "reason": "bench",
                                "connection_id": cid})

    return connect, disconnect_call


def _instance(instance: int, database_url: str, start: Any, stop_at: Any, results: Any, bare: bool) -> None:
    """One warm instance: wait for the start signal, then invoke (``bare``: run the bare statements)
    until ``stop_at``; report counts."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # the handler's log lines (INFO, as in production) from 200 processes would flood the output
    os.dup2(devnull, 2)
    os.environ.update(DATABASE_URL=database_url, LOG_LEVEL=PRODUCTION_LOG_LEVEL)
    ok = failed = 0
    latencies: list[float] = []
    failures: dict[str, int] = {}
    try:
        from websocket_service import handler as module

        module.reset()
        connect, disconnect = _events(instance)
        if bare:
            calls = _bare_calls(database_url)
        else:
            calls = (lambda _, e: module.handler(e, None)), (lambda _, e: module.handler(e, None))
        start.wait(START_TIMEOUT_S)
        deadline = stop_at.value
        n = 0
        while time.time() < deadline:
            n += 1
            cid = f"{'b' if bare else 's'}{instance}-{n}="
            for call, event in zip(calls, (connect, disconnect)):
                event = copy.deepcopy(event)
                event["requestContext"]["connectionId"] = cid
                began = time.perf_counter()
                try:
                    result = call(cid, event)
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


def _phase(database_url: str, instances: int, seconds: float, *, cluster_url: str, bare: bool = False) -> dict[str, Any]:
    """Run ``instances`` processes for ``seconds``; totals, rate, latency percentiles and the peak
    number of client backends on the cluster (sampled through ``cluster_url``)."""
    for module in ("websocket_service.handler", "psycopg"):  # imported before forking: warm instances
        importlib.import_module(module)
    ctx = multiprocessing.get_context("fork")
    start = ctx.Event()
    stop_at = ctx.Value("d", 0.0)
    results = ctx.Queue()
    processes = [ctx.Process(target=_instance, args=(i, database_url, start, stop_at, results, bare), daemon=True)
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
    """Measure the pooled storm against the bare pooled baseline; see the module docstring."""
    cfg = SIZES[size]
    from websocket_service.store import open_store

    phases: dict[str, list[dict[str, Any]]] = {"handler": [], "bare": []}
    with tempfile.TemporaryDirectory(prefix="bench-storm-") as tmp:
        os.chmod(tmp, 0o755)  # the cluster runs as the postgres user when we are root
        with ThrowawayCluster(Path(tmp) / "pg", max_connections=MAX_CONNECTIONS) as cluster:
            store = open_store(cluster.url)
            store.migrate()
            store.close()
            # DB_POOLER as a user would set it: this pgbouncer listens on a free port, not 6432.
            with Pgbouncer(Path(tmp) / "bouncer", cluster, pool_size=POOL_SIZE,
                           max_clients=cfg["instances"] + 50) as bouncer, environment(DB_POOLER="pgbouncer"):

                def side(name: str) -> Any:
                    def measure(_: int) -> float:
                        phases[name].append(_phase(bouncer.url, cfg["instances"], cfg["seconds"],
                                                   cluster_url=cluster.url, bare=name == "bare"))
                        return phases[name][-1]["rate"]
                    return measure

                rounds = alternate(side("handler"), side("bare"))
                profile = _profile_one(bouncer.url)
    if not all(phase["ok"] for phase in phases["bare"]):
        raise RuntimeError(f"a bare round served no statement; failures: {[p['failures'] for p in phases['bare']]}")
    failed = sum(phase["failed"] for name in phases for phase in phases[name])
    figure = Figure("storm_200_lambdas_pooled", "successful invocations/s", rounds, Target(0.8, at_most=False),
                    extra_ok=failed == 0)
    rows = []
    for name, label in (("handler", "`handler()`, `DB_POOLER=pgbouncer`"), ("bare", "bare psycopg (baseline)")):
        ok = sum(p["ok"] for p in phases[name])
        bad = sum(p["failed"] for p in phases[name])
        rows.append(
            f"| {label} | {cfg['instances']} | {ok} | {bad} ({bad / max(1, ok + bad) * 100:.1f} %) | "
            f"{statistics.median(p['rate'] for p in phases[name]):.0f} | "
            f"{statistics.median(p['p50_ms'] for p in phases[name]):.0f} | "
            f"{statistics.median(p['p99_ms'] for p in phases[name]):.0f} | "
            f"{max(p['peak_backends'] for p in phases[name])} |"
        )
    failures: dict[str, int] = {}
    for name in phases:
        for phase in phases[name]:
            for key, count in phase["failures"]:
                failures[f"{name}: {key}"] = failures.get(f"{name}: {key}", 0) + count
    failure_lines = [f"- {count}x `{key}`" for key, count in sorted(failures.items(), key=lambda kv: -kv[1])[:5]]
    markdown = "\n".join([
        "## Storm: warm instances sharing a pooled budget (`bench/storm.py`)",
        "",
        f"Throwaway cluster with `max_connections={MAX_CONNECTIONS}` behind pgbouncer (`pool_mode=transaction`, "
        f"`default_pool_size={POOL_SIZE}`: the budget every instance shares). {len(rounds)} alternating rounds of "
        f"{cfg['instances']} forked instances for {cfg['seconds']:g} s each, looping `$connect` + `$disconnect` "
        "through `handler()`, against as many bare psycopg instances running the same two statements through "
        f"the same pooler. Median rate ratio {figure.ratio:.2f} (rounds {figure.ratio_min:.2f}-{figure.ratio_max:.2f}); "
        f"{failed} failed invocations in all.",
        "",
        "| side | instances | ok (all rounds) | failed | median ok/s | p50 ms | p99 ms | peak backends |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *rows,
        "",
        *(["Most frequent failures:", "", *failure_lines, ""] if failure_lines else []),
        "",
    ])
    return Section("storm", [figure], markdown, {figure.name: profile} if not figure.met else {})
