"""A swarm of WebSocket clients in a process of its own, driven by one-line commands on stdin.

``python -m bench.swarm --url ws://HOST:PORT/STAGE --users U --per-user 1,2,3`` opens, for user
``i``, ``per_user[i % len(per_user)]`` connections with ``?email=PREFIXi@bench.example&type=TYPE``
(at most ``--concurrency`` handshakes in flight), then prints ``{"event": "connected", "count",
"failed", "seconds", "errors"}``. With ``--wait-go`` it first prints ``{"event": "ready"}`` and
waits for a ``go`` line, so several swarms can start together. Every client counts the messages
it receives. Commands:

``recv N``  wait (at most ``--timeout`` s) until N messages were received in total since start;
            answers ``{"event": "received", "total", "ok"}``.
``stamps``  the ``time.monotonic()`` instant of every message received since the last ``stamps``
            (system-wide clock: comparable with the driver's); answers ``{"event": "stamps", "stamps"}``.
``ping``    one WebSocket ping round trip per connection; answers ``{"event": "pinged", "count",
            "p50_ms", "p99_ms", "samples_ms"}``.
``close``   close every connection and exit (``{"event": "closed"}``).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from urllib.parse import quote

from websockets.asyncio.client import ClientConnection, connect

from .figures import percentile
from .procs import emit

EMAIL_DOMAIN = "bench.example"


def plan(users: int, per_user: list[int], prefix: str) -> list[str]:
    """The email of every connection to open, in order."""
    return [f"{prefix}{u}@{EMAIL_DOMAIN}" for u in range(users) for _ in range(per_user[u % len(per_user)])]


class Swarm:
    """The open connections and their received-message count."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.connections: list[ClientConnection] = []
        self.received = 0
        self.stamps: list[float] = []
        self._changed = asyncio.Event()
        self._readers: list[asyncio.Task[None]] = []

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for _ in ws:
                self.stamps.append(time.monotonic())
                self.received += 1
                self._changed.set()
        except Exception:  # noqa: BLE001 - a dropped client shows up as missing messages
            pass

    async def open_all(self) -> None:
        gate = asyncio.Semaphore(self.args.concurrency)
        errors: list[str] = []

        async def open_one(email: str) -> None:
            async with gate:
                url = f"{self.args.url}?email={quote(email)}&type={quote(self.args.type)}"
                try:
                    ws = await connect(url, open_timeout=self.args.timeout, ping_interval=None,
                                       close_timeout=5, max_queue=None)
                except Exception as error:  # noqa: BLE001 - counted and reported
                    errors.append(f"{type(error).__name__}: {error}")
                    return
                self.connections.append(ws)
                self._readers.append(asyncio.create_task(self._read(ws)))

        emails = plan(self.args.users, [int(n) for n in self.args.per_user.split(",")], self.args.prefix)
        started = time.perf_counter()
        await asyncio.gather(*(open_one(email) for email in emails))
        seconds = time.perf_counter() - started
        emit(event="connected", count=len(self.connections), failed=len(errors), seconds=seconds,
             errors=sorted(set(errors))[:5])

    async def wait_received(self, total: int) -> None:
        deadline = time.monotonic() + self.args.timeout
        while self.received < total and time.monotonic() < deadline:
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), timeout=max(0.01, deadline - time.monotonic()))
            except TimeoutError:
                break
        emit(event="received", total=self.received, ok=self.received >= total)

    async def ping_all(self) -> None:
        gate = asyncio.Semaphore(self.args.concurrency)
        samples: list[float] = []

        async def ping(ws: ClientConnection) -> None:
            async with gate:
                started = time.perf_counter()
                waiter = await ws.ping()
                await asyncio.wait_for(waiter, timeout=self.args.timeout)
                samples.append((time.perf_counter() - started) * 1000)

        await asyncio.gather(*(ping(ws) for ws in self.connections))
        emit(event="pinged", count=len(samples), p50_ms=percentile(samples, 0.5), p99_ms=percentile(samples, 0.99),
             samples_ms=[round(s, 3) for s in samples])

    async def close_all(self) -> None:
        await asyncio.gather(*(ws.close() for ws in self.connections), return_exceptions=True)
        for task in self._readers:
            task.cancel()
        emit(event="closed")


async def main(args: argparse.Namespace) -> None:
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    swarm = Swarm(args)
    if args.wait_go:
        emit(event="ready")
        await asyncio.to_thread(sys.stdin.readline)
    await swarm.open_all()
    while True:
        line = (await asyncio.to_thread(sys.stdin.readline)).strip()
        command, _, argument = line.partition(" ")
        if command == "recv":
            await swarm.wait_received(int(argument))
        elif command == "stamps":
            stamps, swarm.stamps = swarm.stamps, []
            emit(event="stamps", stamps=stamps)
        elif command == "ping":
            await swarm.ping_all()
        elif command in ("close", ""):  # "" is end of input: the driver went away
            await swarm.close_all()
            return
        else:
            emit(event="error", message=f"unknown command {line!r}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.swarm", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--per-user", default="1", help="comma list cycled over users (default 1)")
    parser.add_argument("--prefix", default="u")
    parser.add_argument("--type", default="general")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--wait-go", action="store_true", help="print ready, then wait for a 'go' line")
    parser.add_argument("--cpu", type=int, default=None,
                        help="pin this process to that CPU (os.sched_setaffinity), away from the server measured")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
