"""Notification fan-out through ``wsctl local`` in its own process, against same-run baselines.

Three figures, all on PostgreSQL (the production store) with the clients in a swarm process of
their own, and every message checked to arrive:

* ``notify_fanout_1000``: one ``Service.notify`` reaching N open connections of one email, with a
  20 ms emulated management-API round trip (as AWS has), against posting the same message to the
  same connections one after another with the same messenger. Time is from the call until the
  swarm has received every message. Also shown at 0 ms and against a bare ``websockets``
  broadcast of the same N messages.
* ``notify_cpu_per_message``: the sender's CPU time (process time, all threads) per message of
  ``Service.notify`` against a raw SigV4-signed post on a keep-alive pool (:mod:`bench.poster`),
  both to the same connections on the 0 ms gateway.
* ``notify_users_per_second``: ``Service.notify`` for U distinct users (1-3 connections each), one
  after another, against the bare cost of the same work: one SELECT of the user's active
  connection ids with the raw driver plus raw posts.
"""
from __future__ import annotations

import contextlib
import statistics
import time
from typing import Any, Iterator

from . import pg
from .figures import Figure, Section, Size, Target, profile_call
from .poster import RawPoster
from .procs import BENCH_AWS_ENV, Child, LocalGatewayChild, environment, python_child
from .swarm import EMAIL_DOMAIN

PG_SCHEMA = "bench_fanout"
TYPE = "general"
MESSAGE = {"type": "bench"}
LATENCY_MS = 20
SIZES = {  # connections of one email, users for the per-user figure, rounds of the parallel notify
    "tiny": {"connections": 12, "users": 8, "rounds": 1},
    "full": {"connections": 1000, "users": 1000, "rounds": 3},
}
PER_USER = "1,2,3"
PROFILE_POSTS = 100
"""Posts profiled one by one (cProfile sees only the calling thread); shown when a target is missed."""
SWARM_TIMEOUT_S = 180
ROW_SELECT = (
    "SELECT connection_id FROM websocket_connections "
    "WHERE user_email = %s AND connection_type = %s AND is_active"
)


@contextlib.contextmanager
def _swarm(url: str, *, users: int, per_user: str, prefix: str) -> Iterator[Child]:
    with python_child("bench.swarm", "--url", url, "--users", str(users), "--per-user", per_user,
                      "--prefix", prefix, "--type", TYPE, "--timeout", str(SWARM_TIMEOUT_S)) as swarm:
        connected = swarm.event(timeout_s=SWARM_TIMEOUT_S)
        if connected["failed"]:
            raise RuntimeError(f"swarm could not open {connected['failed']} connections: {connected['errors']}")
        yield swarm


class _Received:
    """Running count of messages the swarm must have received."""

    def __init__(self, swarm: Child) -> None:
        self.swarm = swarm
        self.expected = 0

    def wait(self, more: int) -> None:
        self.expected += more
        answer = self.swarm.ask(f"recv {self.expected}", timeout_s=SWARM_TIMEOUT_S + 10)
        if not answer["ok"]:
            raise RuntimeError(f"swarm received {answer['total']} of {self.expected} messages")


def _service(database_url: str, endpoint: str) -> Any:
    from websocket_service.config import Settings
    from websocket_service.service import open_service

    settings = Settings.from_env({
        "DATABASE_URL": database_url,
        "AWS_WEBSOCKET_API_GATEWAY_ENDPOINT": endpoint,
        "MAX_CONNECTIONS_PER_EMAIL": "1000",
        "LOG_LEVEL": "ERROR",
    })
    return open_service(settings)


def _timed(action: Any, received: _Received, count: int) -> float:
    """Seconds from starting ``action`` until the swarm has ``count`` more messages."""
    started = time.perf_counter()
    action()
    received.wait(count)
    return time.perf_counter() - started


def _one_email(gateway: LocalGatewayChild, url: str, n: int, rounds: int, prefix: str) -> dict[str, Any]:
    """Parallel notify vs sequential posts (wall time), and CPU per message vs raw posts."""
    from websocket_service.service import encode_message

    out: dict[str, Any] = {}
    service = _service(url, gateway.management_endpoint)
    poster = RawPoster(gateway.management_endpoint)
    try:
        with _swarm(gateway.url, users=1, per_user=str(n), prefix=prefix) as swarm:
            received = _Received(swarm)
            email = f"{prefix}0@{EMAIL_DOMAIN}"
            ids = service.store.active_connection_ids(email, TYPE)
            assert len(ids) == n, (len(ids), n)
            payload = encode_message(MESSAGE)
            messenger = service.messenger

            def notify() -> None:
                report = service.notify(email, TYPE, MESSAGE)
                assert report.sent == n, report

            def sequential() -> None:
                outcomes = [messenger.post(cid, payload) for cid in ids]
                assert outcomes.count("sent") == n, outcomes

            def raw() -> None:
                statuses = [poster.post(cid, payload) for cid in ids]
                assert statuses.count(200) == n, sorted(set(statuses))

            _timed(notify, received, n)  # warm-up: clients, pools and threads exist before timing
            _timed(raw, received, n)
            parallel_s, notify_cpu = [], []
            for _ in range(rounds):
                cpu = time.process_time()
                parallel_s.append(_timed(notify, received, n))
                notify_cpu.append(time.process_time() - cpu)
            out["parallel_s"] = statistics.median(parallel_s)
            out["notify_cpu_s"] = statistics.median(notify_cpu) / n
            out["sequential_s"] = _timed(sequential, received, n)
            raw_cpu = []
            for _ in range(rounds):
                cpu = time.process_time()
                _timed(raw, received, n)
                raw_cpu.append(time.process_time() - cpu)
            out["raw_cpu_s"] = statistics.median(raw_cpu) / n
            sample = ids[:PROFILE_POSTS]
            out["profile"] = profile_call(lambda: [messenger.post(cid, payload) for cid in sample])
            received.wait(len(sample))
    finally:
        poster.close()
        service.close()
    return out


def _per_user(gateway: LocalGatewayChild, url: str, users: int) -> dict[str, Any]:
    """Notify every user in turn vs one raw SELECT plus raw posts per user."""
    import psycopg

    from websocket_service.service import encode_message

    service = _service(url, gateway.management_endpoint)
    poster = RawPoster(gateway.management_endpoint)
    prefix = "user-"
    emails = [f"{prefix}{u}@{EMAIL_DOMAIN}" for u in range(users)]
    try:
        with _swarm(gateway.url, users=users, per_user=PER_USER, prefix=prefix) as swarm, \
                psycopg.connect(url, autocommit=True) as conn:
            received = _Received(swarm)
            total = sum(len(service.store.active_connection_ids(e, TYPE)) for e in emails)
            payload = encode_message(MESSAGE)

            def notify_all() -> None:
                sent = sum(service.notify(email, TYPE, MESSAGE).sent for email in emails)
                assert sent == total, (sent, total)

            def bare_all() -> None:
                statuses = [poster.post(row[0], payload) for email in emails
                            for row in conn.execute(ROW_SELECT, (email, TYPE)).fetchall()]
                assert statuses.count(200) == total, sorted(set(statuses))

            _timed(notify_all, received, total)  # warm-up
            _timed(bare_all, received, total)
            notify_s = _timed(notify_all, received, total)
            bare_s = _timed(bare_all, received, total)
            profile = profile_call(lambda: [service.notify(e, TYPE, MESSAGE) for e in emails[:200]])
            received.wait(sum(len(service.store.active_connection_ids(e, TYPE)) for e in emails[:200]))
    finally:
        poster.close()
        service.close()
    return {"notify_s": notify_s / users, "bare_s": bare_s / users, "connections": total, "profile": profile}


def _bare_broadcast(n: int, rounds: int) -> float:
    with python_child("bench.bare_server") as server:
        url = server.event(timeout_s=30)["url"]
        with _swarm(url, users=1, per_user=str(n), prefix="bare-") as swarm:
            received = _Received(swarm)

            def broadcast() -> None:
                answer = server.ask("broadcast", timeout_s=30)
                assert answer["count"] == n, answer

            _timed(broadcast, received, n)
            return statistics.median(_timed(broadcast, received, n) for _ in range(rounds))


def run(size: Size) -> Section:
    """Measure the three fan-out figures; see the module docstring."""
    with pg.scratch_schema(PG_SCHEMA) as url:
        return _run(size, url)


def _run(size: Size, url: str) -> Section:
    from websocket_service.store import open_store

    cfg = SIZES[size]
    n, users, rounds = cfg["connections"], cfg["users"], cfg["rounds"]

    store = open_store(url)
    store.migrate()
    store.close()
    gateway_env = {"MAX_CONNECTIONS_PER_EMAIL": "1000"}
    with environment(**BENCH_AWS_ENV, LOG_LEVEL="ERROR"):
        with LocalGatewayChild(database_url=url, latency_ms=LATENCY_MS, env=gateway_env) as gateway:
            slow = _one_email(gateway, url, n, rounds, prefix="slow-")
        with LocalGatewayChild(database_url=url, latency_ms=0, env=gateway_env) as gateway:
            fast = _one_email(gateway, url, n, rounds, prefix="fast-")
            per_user = _per_user(gateway, url, users)
    bare_s = _bare_broadcast(n, rounds)

    fanout = Figure("notify_fanout_1000",
                    slow["parallel_s"] * 1000, "ms per notify", slow["sequential_s"] * 1000, Target(0.2),
                    note="target: at least 5x faster than sequential posting")
    cpu = Figure("notify_cpu_per_message", fast["notify_cpu_s"] * 1e6, "CPU µs per message",
                 fast["raw_cpu_s"] * 1e6, Target(1.2))
    per = Figure("notify_users_per_second", per_user["notify_s"] * 1000, "ms per user",
                 per_user["bare_s"] * 1000, Target(1.5))
    profiles = {}
    if not fanout.met:
        profiles[fanout.name] = slow["profile"]
    if not cpu.met:
        profiles[cpu.name] = fast["profile"]
    if not per.met:
        profiles[per.name] = per_user["profile"]
    markdown = "\n".join([
        "## Notification fan-out (`bench/fanout.py`)",
        "",
        f"`wsctl local` on PostgreSQL in its own process; {n} clients of one email in a swarm process; "
        "time runs from the call until the swarm has every message. Parallel = `Service.notify`; "
        f"sequential = the same messenger posting one by one; medians of {rounds} rounds.",
        "",
        "| case | ms per notify of all | vs sequential | speed-up |",
        "| --- | ---: | ---: | ---: |",
        f"| notify, {LATENCY_MS} ms round trip | {slow['parallel_s'] * 1000:.1f} | "
        f"{slow['parallel_s'] / slow['sequential_s']:.2f} | {slow['sequential_s'] / slow['parallel_s']:.1f}x |",
        f"| sequential, {LATENCY_MS} ms round trip | {slow['sequential_s'] * 1000:.1f} | 1.00 | 1.0x |",
        f"| notify, 0 ms | {fast['parallel_s'] * 1000:.1f} | {fast['parallel_s'] / fast['sequential_s']:.2f} | "
        f"{fast['sequential_s'] / fast['parallel_s']:.1f}x |",
        f"| sequential, 0 ms | {fast['sequential_s'] * 1000:.1f} | 1.00 | 1.0x |",
        f"| bare `websockets` broadcast of {n} messages | {bare_s * 1000:.1f} | "
        f"{bare_s / fast['sequential_s']:.3f} | notify at 0 ms is {fast['parallel_s'] / bare_s:.0f}x the broadcast |",
        "",
        f"Sender CPU per message (0 ms gateway): `Service.notify` {fast['notify_cpu_s'] * 1e6:.0f} µs, raw "
        f"SigV4-signed keep-alive post {fast['raw_cpu_s'] * 1e6:.0f} µs (ratio {cpu.ratio:.2f}).",
        "",
        f"{users} users with {PER_USER.replace(',', ', ')} connections each ({per_user['connections']} connections), "
        f"notified one after another (0 ms gateway): `Service.notify` {1 / per_user['notify_s']:.0f} users/s, "
        f"bare SELECT + raw posts {1 / per_user['bare_s']:.0f} users/s (time ratio {per.ratio:.2f}).",
        "",
    ])
    return Section("fanout", [fanout, cpu, per], markdown, profiles)
