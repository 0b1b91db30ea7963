"""Notification fan-out through ``wsctl local`` in its own process, against same-run baselines.

Five figures, all on PostgreSQL (the production store) with the clients in a swarm process of
their own, every message checked to arrive, each measured in alternating rounds
(:func:`~bench.figures.alternate`):

* ``notify_fanout_1000``: one ``Service.notify`` reaching N open connections of one email, with a
  20 ms emulated management-API round trip (as AWS has), against the physical limit of the
  messenger's in-flight posts: ``ceil(N / in_flight) x round trip``, the round trip measured in
  the same round (median of single posts). Time is from the call until the swarm has received every
  message. RESULTS.md also shows N x round trip (strictly sequential posting) and a bare
  ``websockets`` broadcast of the same N messages.
* ``notify_cpu_per_message``: the sender's CPU time (process time, all threads) per message of
  ``Service.notify`` against a raw SigV4-signed post on a keep-alive pool (:mod:`bench.poster`)
  at the SAME concurrency (as many threads as the messenger's in-flight posts), both to the same
  connections on the 0 ms gateway.
* ``notify_users_per_second``: ``Service.notify`` for U distinct users (1-3 connections each), one
  after another, against the bare cost of the same work: one SELECT of the user's active
  connection ids with the raw driver plus raw posts.
* ``push_latency_p50`` / ``push_latency_p99``: one verification push, from the ``notify`` call
  to the client's receipt (the client in the swarm process; both instants on the system-wide
  monotonic clock), through ``wsctl local`` at 0 ms, against a bare push through the same kind of
  server (:mod:`bench.bare_server`: the driver's command to the server, then one ``send``).
"""
from __future__ import annotations

import contextlib
import math
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterator

from . import pg
from .figures import ROUNDS, Figure, Section, Size, Target, alternate, alternate_each, percentile, profile_call
from .poster import RawPoster
from .procs import BENCH_AWS_ENV, PRODUCTION_LOG_LEVEL, Child, LocalGatewayChild, environment, python_child
from .swarm import EMAIL_DOMAIN

PG_SCHEMA = "bench_fanout"
TYPE = "general"
MESSAGE = {"type": "bench"}
LATENCY_MS = 20
SIZES = {  # connections of one email, users for the per-user figure, pushes per latency round
    "tiny": {"connections": 12, "users": 8, "pushes": 20},
    "full": {"connections": 1000, "users": 1000, "pushes": 200},
}
RTT_SAMPLES = 20
"""Single posts whose median is the round trip of the in-flight limit, per round."""
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
        "LOG_LEVEL": PRODUCTION_LOG_LEVEL,
    })
    return open_service(settings)


def _timed(action: Any, received: _Received, count: int) -> float:
    """Seconds from starting ``action`` until the swarm has ``count`` more messages."""
    started = time.perf_counter()
    action()
    received.wait(count)
    return time.perf_counter() - started


def in_flight(service: Any) -> int:
    """How many posts the service's messenger keeps in flight (its fan-out concurrency)."""
    return service.messenger.max_parallel


class _OneEmail:
    """N connections of one email on a gateway, with the service, a raw poster and the swarm."""

    def __init__(self, stack: contextlib.ExitStack, gateway: LocalGatewayChild, url: str, n: int, prefix: str) -> None:
        from websocket_service.service import encode_message

        self.n = n
        self.service = _service(url, gateway.management_endpoint)
        stack.callback(self.service.close)
        self.in_flight = in_flight(self.service)
        self.poster = RawPoster(gateway.management_endpoint, pool_size=self.in_flight)
        stack.callback(self.poster.close)
        self.threads = stack.enter_context(ThreadPoolExecutor(max_workers=self.in_flight))
        self.swarm = stack.enter_context(_swarm(gateway.url, users=1, per_user=str(n), prefix=prefix))
        self.received = _Received(self.swarm)
        self.email = f"{prefix}0@{EMAIL_DOMAIN}"
        self.ids = self.service.store.active_connection_ids(self.email, TYPE)
        assert len(self.ids) == n, (len(self.ids), n)
        self.payload = encode_message(MESSAGE)

    def notify(self) -> None:
        report = self.service.notify(self.email, TYPE, MESSAGE)
        assert report.sent == self.n, report

    def raw_parallel(self) -> None:
        statuses = list(self.threads.map(lambda cid: self.poster.post(cid, self.payload), self.ids))
        assert statuses.count(200) == self.n, sorted(set(statuses))

    def round_trip_s(self) -> float:
        """Median seconds of :data:`RTT_SAMPLES` single raw posts, one after another."""
        samples = []
        for cid in self.ids[:RTT_SAMPLES]:
            started = time.perf_counter()
            assert self.poster.post(cid, self.payload) == 200
            samples.append(time.perf_counter() - started)
        self.received.wait(len(samples))
        return statistics.median(samples)

    def cpu_per_message_us(self, action: Any) -> float:
        cpu = time.process_time()
        _timed(action, self.received, self.n)
        return (time.process_time() - cpu) / self.n * 1e6


def _fanout(gateway: LocalGatewayChild, url: str, n: int) -> dict[str, Any]:
    """Wall time of notify vs the in-flight limit (20 ms gateway)."""
    with contextlib.ExitStack() as stack:
        one = _OneEmail(stack, gateway, url, n, prefix="slow-")
        _timed(one.notify, one.received, n)  # warm-up: clients, pools and threads exist before timing
        _timed(one.raw_parallel, one.received, n)
        round_trips: list[float] = []

        def limit(_: int) -> float:
            round_trips.append(one.round_trip_s())
            return math.ceil(n / one.in_flight) * round_trips[-1] * 1000

        rounds = alternate(lambda _: _timed(one.notify, one.received, n) * 1000, limit)
        sample = one.ids[:PROFILE_POSTS]
        profile = profile_call(lambda: one.service.messenger.post_many(sample, one.payload))
        one.received.wait(len(sample))
        return {"rounds": rounds, "round_trip_s": statistics.median(round_trips), "in_flight": one.in_flight,
                "profile": profile}


def _cpu(gateway: LocalGatewayChild, url: str, n: int) -> dict[str, Any]:
    """Sender CPU per message, notify vs raw posts at the same concurrency (0 ms gateway)."""
    with contextlib.ExitStack() as stack:
        one = _OneEmail(stack, gateway, url, n, prefix="fast-")
        _timed(one.notify, one.received, n)
        _timed(one.raw_parallel, one.received, n)
        wall: dict[str, list[float]] = {"notify": [], "raw": []}

        def measure(name: str, action: Any) -> Any:
            def side(_: int) -> float:
                started = time.perf_counter()
                cpu = one.cpu_per_message_us(action)
                wall[name].append(time.perf_counter() - started)
                return cpu
            return side

        rounds = alternate(measure("notify", one.notify), measure("raw", one.raw_parallel))
        sample = one.ids[:PROFILE_POSTS]
        profile = profile_call(lambda: [one.service.messenger.post(cid, one.payload) for cid in sample])
        one.received.wait(len(sample))
        return {"rounds": rounds, "notify_wall_s": statistics.median(wall["notify"]),
                "raw_wall_s": statistics.median(wall["raw"]), "in_flight": one.in_flight, "profile": profile}


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
            rounds = alternate(lambda _: _timed(notify_all, received, total) / users * 1000,
                               lambda _: _timed(bare_all, received, total) / users * 1000)
            profile = profile_call(lambda: [service.notify(e, TYPE, MESSAGE) for e in emails[:200]])
            received.wait(sum(len(service.store.active_connection_ids(e, TYPE)) for e in emails[:200]))
    finally:
        poster.close()
        service.close()
    return {"rounds": rounds, "connections": total, "profile": profile}


def _latencies(push: Any, received: _Received, count: int) -> list[float]:
    """Milliseconds from each of ``count`` pushes (one at a time) to the client's receipt."""
    sent_at = []
    for _ in range(count):
        sent_at.append(time.monotonic())
        push()
        received.wait(1)
    stamps = received.swarm.ask("stamps", timeout_s=SWARM_TIMEOUT_S)["stamps"]
    if len(stamps) != count:
        raise RuntimeError(f"expected {count} receipt stamps, got {len(stamps)}")
    return [(got - sent) * 1000 for sent, got in zip(sent_at, stamps)]


def _push_latency(gateway: LocalGatewayChild, url: str, pushes: int) -> dict[str, Any]:
    """One verification push at a time: notify through ``wsctl local`` vs a bare server's send."""
    with contextlib.ExitStack() as stack:
        service = _service(url, gateway.management_endpoint)
        stack.callback(service.close)
        ours = _Received(stack.enter_context(_swarm(gateway.url, users=1, per_user="1", prefix="push-")))
        email = f"push-0@{EMAIL_DOMAIN}"
        bare_server = stack.enter_context(python_child("bench.bare_server"))
        bare_url = bare_server.event(timeout_s=30)["url"]
        bare = _Received(stack.enter_context(_swarm(bare_url, users=1, per_user="1", prefix="bare-push-")))

        def notify() -> None:
            assert service.notify(email, TYPE, MESSAGE).sent == 1

        def bare_push() -> None:
            answer = bare_server.ask("broadcast", timeout_s=30)
            assert answer["count"] == 1, answer

        def side(push: Any, received: _Received) -> Any:
            def measure(_: int) -> dict[str, float]:
                samples = _latencies(push, received, pushes)
                return {"push_latency_p50": percentile(samples, 0.5), "push_latency_p99": percentile(samples, 0.99)}
            return measure

        _latencies(notify, ours, 5)  # warm-up: the messenger's pool and the route's connection
        _latencies(bare_push, bare, 5)
        found: dict[str, Any] = dict(alternate_each(side(notify, ours), side(bare_push, bare)))
        found["profile"] = profile_call(lambda: _latencies(notify, ours, 20))
        return found


def _bare_broadcast(n: int) -> float:
    with python_child("bench.bare_server") as server:
        url = server.event(timeout_s=30)["url"]
        with _swarm(url, users=1, per_user=str(n), prefix="bare-") as swarm:
            received = _Received(swarm)

            def broadcast() -> None:
                answer = server.ask("broadcast", timeout_s=30)
                assert answer["count"] == n, answer

            _timed(broadcast, received, n)
            return statistics.median(_timed(broadcast, received, n) for _ in range(ROUNDS))


def run(size: Size) -> Section:
    """Measure the fan-out figures; see the module docstring."""
    with pg.scratch_schema(PG_SCHEMA) as url:
        return _run(size, url)


def _run(size: Size, url: str) -> Section:
    from websocket_service.store import open_store

    cfg = SIZES[size]
    n, users = cfg["connections"], cfg["users"]

    store = open_store(url)
    store.migrate()
    store.close()
    gateway_env = {"MAX_CONNECTIONS_PER_EMAIL": "1000"}
    with environment(**BENCH_AWS_ENV, LOG_LEVEL=PRODUCTION_LOG_LEVEL):
        with LocalGatewayChild(database_url=url, latency_ms=LATENCY_MS, env=gateway_env) as gateway:
            slow = _fanout(gateway, url, n)
        with LocalGatewayChild(database_url=url, latency_ms=0, env=gateway_env) as gateway:
            fast = _cpu(gateway, url, n)
            per_user = _per_user(gateway, url, users)
            push = _push_latency(gateway, url, cfg["pushes"])
    bare_s = _bare_broadcast(n)

    fanout = Figure("notify_fanout_1000", "ms per notify", slow["rounds"], Target(1.3),
                    note="target: within 1.3x of the in-flight limit ceil(N / in_flight) x round trip")
    cpu = Figure("notify_cpu_per_message", "CPU µs per message", fast["rounds"], Target(1.2))
    per = Figure("notify_users_per_second", "ms per user", per_user["rounds"], Target(1.5))
    p50 = Figure("push_latency_p50", "ms (notify call to client)", push["push_latency_p50"], Target(2.0))
    p99 = Figure("push_latency_p99", "ms (notify call to client)", push["push_latency_p99"], Target(2.0))
    profiles = {}
    if not fanout.met:
        profiles[fanout.name] = slow["profile"]
    if not cpu.met:
        profiles[cpu.name] = fast["profile"]
    if not per.met:
        profiles[per.name] = per_user["profile"]
    for figure in (p50, p99):
        if not figure.met:
            profiles[figure.name] = "20 pushes (notify, then wait for the client's receipt):\n" + push["profile"]
    rtt_ms = slow["round_trip_s"] * 1000
    sequential_ms = n * rtt_ms
    markdown = "\n".join([
        "## Notification fan-out (`bench/fanout.py`)",
        "",
        f"`wsctl local` on PostgreSQL in its own process; {n} clients of one email in a swarm process; "
        "time runs from the call until the swarm has every message. Every figure is the median of "
        f"{len(fanout.rounds)} alternating rounds.",
        "",
        "| case | ms per notify of all | vs in-flight limit | vs sequential |",
        "| --- | ---: | ---: | ---: |",
        f"| `Service.notify`, {LATENCY_MS} ms round trip ({slow['in_flight']} in flight) | {fanout.value:.1f} | "
        f"{fanout.ratio:.2f} ({fanout.ratio_min:.2f}-{fanout.ratio_max:.2f}) | {fanout.value / sequential_ms:.3f} |",
        f"| in-flight limit: ceil({n} / {slow['in_flight']}) x {rtt_ms:.1f} ms measured round trip | "
        f"{fanout.baseline:.1f} | 1.00 | {fanout.baseline / sequential_ms:.3f} |",
        f"| sequential: {n} x {rtt_ms:.1f} ms | {sequential_ms:.0f} | {sequential_ms / fanout.baseline:.1f} | 1.000 |",
        f"| `Service.notify`, 0 ms ({fast['in_flight']} in flight) | {fast['notify_wall_s'] * 1000:.1f} | | |",
        f"| raw signed posts, 0 ms, same concurrency | {fast['raw_wall_s'] * 1000:.1f} | | |",
        f"| bare `websockets` broadcast of {n} messages | {bare_s * 1000:.1f} | | |",
        "",
        f"Sender CPU per message (0 ms gateway, {fast['in_flight']} posts in flight): `Service.notify` "
        f"{cpu.value:.0f} µs, raw SigV4-signed keep-alive posts on as many threads {cpu.baseline:.0f} µs "
        f"(median ratio {cpu.ratio:.2f}, rounds {cpu.ratio_min:.2f}-{cpu.ratio_max:.2f}).",
        "",
        f"{users} users with {PER_USER.replace(',', ', ')} connections each ({per_user['connections']} connections), "
        f"notified one after another (0 ms gateway): `Service.notify` {1000 / per.value:.0f} users/s, "
        f"bare SELECT + raw posts {1000 / per.baseline:.0f} users/s (time ratio {per.ratio:.2f}).",
        "",
        f"One verification push at a time, {cfg['pushes']} per round, from the call to the client's receipt: "
        f"`Service.notify` through `wsctl local` p50 {p50.value:.2f} ms / p99 {p99.value:.2f} ms; a bare "
        f"`websockets` server's send p50 {p50.baseline:.2f} ms / p99 {p99.baseline:.2f} ms "
        f"(ratios {p50.ratio:.2f} / {p99.ratio:.2f}).",
        "",
    ])
    return Section("fanout", [fanout, cpu, per, p50, p99], markdown, profiles)
