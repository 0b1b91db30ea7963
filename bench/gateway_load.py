"""Server CPU per connection: ``wsctl local`` against a bare ``websockets`` server.

Both servers run in processes of their own; the clients run in ONE further process
(:mod:`bench.swarm`) pinned to the last CPU with ``os.sched_setaffinity``, so the figure is not
capped by client processes competing for the same cores. Each round opens N connections (distinct
users, :data:`CONCURRENCY` handshakes in flight) to one server, reads that server's CPU time
(user + system, ``/proc/PID/stat``) from "go" until every handshake is done, pings every connection
once, then closes them; the servers alternate round by round (:func:`~bench.figures.alternate`).
``wsctl local`` runs as a developer starts it (its default SQLite store, in a temporary
directory); every connection is a real ``$connect`` through the handler.

Figure ``gateway_5000_connections``: server CPU per connection of ``wsctl local`` / of the bare
server, target <= 1.5. RESULTS.md adds the connect rate, each server's RSS with every connection
open, the ping round-trip p50/p99, and ``wsctl local`` with a do-nothing handler
(:mod:`bench.noop_handler`): the gateway's own share.
"""
from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from .figures import PROFILE_TOP, Figure, Section, Size, Target, alternate, percentile, trim_profile
from .procs import Child, LocalGatewayChild, python_child

SIZES = {"tiny": 300, "full": 5000}
"""Connections per round. Even tiny needs enough for the server CPU to span several clock ticks
(``/proc/PID/stat`` counts in 10 ms ticks): 40 connections to the bare server (about 300 µs each)
could read 0 ticks, and a zero baseline is refused."""
PROFILE_CONNECTIONS = {"tiny": 40, "full": 1000}
"""Connections opened to a cProfile'd gateway when the target is missed."""
CONCURRENCY = 40
TIMEOUT_S = 300
NOOP_HANDLER = "bench.noop_handler.handler"
"""The do-nothing handler: the gateway's own share of the CPU per connection."""
CLOSE_SETTLE_S = 0.5
"""Pause after closing a round's connections, so the server's $disconnect work ends before the next round."""


def client_cpu() -> int:
    """The CPU the client process is pinned to: the last one this process may use."""
    return max(os.sched_getaffinity(0))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (``/proc/PID/stat`` fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _load(server: Child, url: str, n: int, prefix: str) -> dict[str, Any]:
    """Open ``n`` connections from one pinned client process; the server's CPU per connection."""
    with python_child("bench.swarm", "--url", url, "--users", str(n), "--prefix", prefix,
                      "--concurrency", str(CONCURRENCY), "--timeout", str(TIMEOUT_S), "--wait-go",
                      "--cpu", str(client_cpu())) as swarm:
        swarm.event(timeout_s=TIMEOUT_S)  # ready: imported, nothing connected yet
        cpu_before = cpu_seconds(server.pid)
        started = time.perf_counter()
        swarm.send("go")
        connected = swarm.event(timeout_s=TIMEOUT_S)
        seconds = time.perf_counter() - started
        cpu = cpu_seconds(server.pid) - cpu_before
        if connected["count"] != n:
            raise RuntimeError(f"{server.name}: {connected['count']} of {n} connections opened: {connected['errors']}")
        rss_kb = server.rss_kb()
        samples = swarm.ask("ping", timeout_s=TIMEOUT_S)["samples_ms"]
        swarm.ask("close", timeout_s=TIMEOUT_S)
    time.sleep(CLOSE_SETTLE_S)
    return {"cpu_us": cpu / n * 1e6, "rate": n / seconds, "rss_kb": rss_kb,
            "p50_ms": percentile(samples, 0.5), "p99_ms": percentile(samples, 0.99)}


def run(size: Size) -> Section:
    """Measure both servers; see the module docstring."""
    n = SIZES[size]
    found: dict[str, list[dict[str, Any]]] = {"ours": [], "noop": [], "bare": []}
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp, \
            LocalGatewayChild(database_url=f"sqlite:///{tmp}/gateway.db") as gateway, \
            LocalGatewayChild(database_url=f"sqlite:///{tmp}/noop.db", handler=NOOP_HANDLER) as noop, \
            python_child("bench.bare_server") as bare:
        bare_url = bare.event(timeout_s=30)["url"]

        def side(*servers: tuple[str, Child, str]) -> Any:
            def measure(index: int) -> float:
                for name, server, url in servers:  # the first is the figure's; the others are shown beside it
                    found[name].append(_load(server, url, n, f"{name}{index}-"))
                return found[servers[0][0]][-1]["cpu_us"]
            return measure

        rounds = alternate(side(("ours", gateway, gateway.url), ("noop", noop, noop.url)),
                           side(("bare", bare, bare_url)))
    figure = Figure("gateway_5000_connections", "server CPU µs per connection", rounds, Target(1.5))
    rows = []
    for name, key in (("`wsctl local` (SQLite)", "ours"), ("`wsctl local`, do-nothing handler", "noop"),
                      ("bare `websockets` server", "bare")):
        med = {k: statistics.median(r[k] for r in found[key]) for k in ("cpu_us", "rate", "rss_kb", "p50_ms", "p99_ms")}
        rows.append(f"| {name} | {med['cpu_us']:.0f} | {med['rate']:.0f} | {med['rss_kb'] / 1024:.1f} | "
                    f"{med['p50_ms']:.2f} | {med['p99_ms']:.2f} |")
    markdown = "\n".join([
        "## Gateway under many connections (`bench/gateway_load.py`)",
        "",
        f"{n} concurrent connections per round from one client process pinned to CPU {client_cpu()} "
        f"({CONCURRENCY} handshakes in flight), then one WebSocket ping per connection; {len(rounds)} alternating "
        "rounds, medians shown. CPU is the server process's user + system time while the connections open.",
        "",
        "| server | server CPU µs per connection | connections/s | RSS MiB | ping p50 ms | ping p99 ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        *rows,
        "",
        f"Server CPU per connection ratio {figure.ratio:.2f} (rounds {figure.ratio_min:.2f}-{figure.ratio_max:.2f}).",
        "",
    ])
    profiles = {} if figure.met else {figure.name: _profile(PROFILE_CONNECTIONS[size])}
    return Section("gateway", [figure], markdown, profiles)


def _profile(n: int) -> str:
    """Top entries of a cProfile of ``wsctl local`` (its event loop thread) accepting ``n`` connections."""
    import io
    import pstats

    with tempfile.TemporaryDirectory(prefix="bench-gateway-profile-") as tmp:
        stats_path = Path(tmp) / "gateway.prof"
        with LocalGatewayChild(database_url=f"sqlite:///{tmp}/gateway.db", profile_path=stats_path) as gateway:
            _load(gateway, gateway.url, n, "profile-")
        if not stats_path.exists():
            return f"(no profile: the cProfile'd gateway did not exit cleanly on SIGINT; last output {gateway.tail})"
        out = io.StringIO()
        pstats.Stats(str(stats_path), stream=out).strip_dirs().sort_stats("tottime").print_stats(PROFILE_TOP)
    return f"`wsctl local` accepting {n} connections:\n" + trim_profile(out.getvalue())
