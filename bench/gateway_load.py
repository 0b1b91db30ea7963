"""Many concurrent connections to ``wsctl local`` against a bare ``websockets`` server.

Both servers run in processes of their own; :data:`SWARMS` client processes (:mod:`bench.swarm`),
started together, open N connections to each (distinct users, :data:`CONCURRENCY` handshakes in
flight per swarm), then ping every connection once. One client process alone is slower than a
bare server (it would measure itself); the rate is N / (time from "go" until every swarm is done). ``wsctl local`` runs as a developer starts it (its default SQLite store, in a
temporary directory); every connection is a real ``$connect`` through the handler.

Figure ``gateway_5000_connections``: connect rate of ``wsctl local`` / connect rate of the bare
server, target >= 0.5. RESULTS.md adds each server's RSS with every connection open and the ping
round-trip p50/p99.
"""
from __future__ import annotations

import contextlib
import tempfile
import time
from typing import Any

from .figures import PROFILE_TOP, Figure, Section, Size, Target, percentile, trim_profile
from .procs import Child, LocalGatewayChild, python_child

SIZES = {"tiny": 40, "full": 5000}
PROFILE_CONNECTIONS = {"tiny": 40, "full": 1000}
"""Connections opened to a cProfile'd gateway when the target is missed."""
SWARMS = 3
CONCURRENCY = 40
TIMEOUT_S = 300


def _load(server: Child, url: str, n: int) -> dict[str, Any]:
    with contextlib.ExitStack() as stack:
        swarms = [
            stack.enter_context(python_child(
                "bench.swarm", "--url", url, "--users", str(n // SWARMS + (i < n % SWARMS)), "--prefix", f"load{i}-",
                "--concurrency", str(CONCURRENCY), "--timeout", str(TIMEOUT_S), "--wait-go"))
            for i in range(SWARMS)
        ]
        for swarm in swarms:
            swarm.event(timeout_s=TIMEOUT_S)  # ready: imported, nothing connected yet
        started = time.perf_counter()
        for swarm in swarms:
            swarm.send("go")
        connected = [swarm.event(timeout_s=TIMEOUT_S) for swarm in swarms]
        seconds = time.perf_counter() - started
        opened = sum(c["count"] for c in connected)
        if opened != n:
            errors = sorted({e for c in connected for e in c["errors"]})[:5]
            raise RuntimeError(f"{server.name}: {opened} of {n} connections opened: {errors}")
        rss_kb = server.rss_kb()
        for swarm in swarms:
            swarm.send("ping")
        samples = [s for swarm in swarms for s in swarm.event(timeout_s=TIMEOUT_S)["samples_ms"]]
        for swarm in swarms:
            swarm.ask("close", timeout_s=TIMEOUT_S)
    return {"rate": n / seconds, "seconds": seconds, "rss_kb": rss_kb,
            "p50_ms": percentile(samples, 0.5), "p99_ms": percentile(samples, 0.99)}


def run(size: Size) -> Section:
    """Measure both servers; see the module docstring."""
    n = SIZES[size]
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp:
        with LocalGatewayChild(database_url=f"sqlite:///{tmp}/gateway.db") as gateway:
            ours = _load(gateway, gateway.url, n)
    with python_child("bench.bare_server") as bare:
        bare_url = bare.event(timeout_s=30)["url"]
        base = _load(bare, bare_url, n)
    figure = Figure("gateway_5000_connections", ours["rate"], "connections/s", base["rate"],
                    Target(0.5, at_most=False))
    rows = [
        f"| {name} | {r['rate']:.0f} | {r['seconds']:.2f} | {r['rss_kb'] / 1024:.1f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} |"
        for name, r in (("`wsctl local` (SQLite)", ours), ("bare `websockets` server", base))
    ]
    markdown = "\n".join([
        "## Gateway under many connections (`bench/gateway_load.py`)",
        "",
        f"{n} concurrent connections from {SWARMS} client processes ({CONCURRENCY} handshakes in flight each), "
        "then one WebSocket ping per connection. RSS is the server process's with every connection open.",
        "",
        "| server | connections/s | seconds to open all | RSS MiB | ping p50 ms | ping p99 ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        *rows,
        "",
        f"Connect rate ratio {figure.ratio:.2f}; ping p50 {ours['p50_ms'] / base['p50_ms']:.1f}x and p99 "
        f"{ours['p99_ms'] / base['p99_ms']:.1f}x the bare server's; RSS {ours['rss_kb'] / base['rss_kb']:.1f}x.",
        "",
    ])
    profiles = {} if figure.met else {figure.name: _profile(PROFILE_CONNECTIONS[size])}
    return Section("gateway", [figure], markdown, profiles)


def _profile(n: int) -> str:
    """Top entries of a cProfile of ``wsctl local`` (its event loop thread) accepting ``n`` connections."""
    import io
    import pstats
    from pathlib import Path

    with tempfile.TemporaryDirectory(prefix="bench-gateway-profile-") as tmp:
        stats_path = Path(tmp) / "gateway.prof"
        with LocalGatewayChild(database_url=f"sqlite:///{tmp}/gateway.db", profile_path=stats_path) as gateway:
            _load(gateway, gateway.url, n)
        if not stats_path.exists():
            return f"(no profile: the cProfile'd gateway did not exit cleanly on SIGINT; last output {gateway.tail})"
        out = io.StringIO()
        pstats.Stats(str(stats_path), stream=out).strip_dirs().sort_stats("tottime").print_stats(PROFILE_TOP)
    return f"`wsctl local` accepting {n} connections:\n" + trim_profile(out.getvalue())
