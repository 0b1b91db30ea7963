"""Notification fan-out through the local gateway's real ``@connections`` API.

``Service.notify`` posts to every connection of an email in parallel; the baseline posts the same
payload to the same connections one after another with the same messenger, in the same run. Every
client must receive every message (checked), so the ratio compares equal work. The gateway runs
twice: with no added latency (loopback, CPU-bound on 2 cores) and with a 20 ms emulated round trip,
closer to a Lambda talking to API Gateway in its Region.
"""
from __future__ import annotations

import os
import tempfile
import time

from websockets.sync.client import connect

EMAIL = "bench@example.com"
TYPE = "general"
ROUNDS = 5
LATENCIES_MS = (0, 20)


def _measure(connections: int, latency_ms: int) -> tuple[float, float]:
    """(parallel seconds, sequential seconds) for ROUNDS notifications of every connection."""
    from local_gateway.background import BackgroundGateway
    from local_gateway.server import LocalGateway
    from websocket_service.config import Settings
    from websocket_service.service import Service, encode_message
    from websocket_service.store import open_store

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/fanout.db"
        store = open_store(url)
        store.migrate()
        gateway = LocalGateway(port=0, database_url=url, management_latency_s=latency_ms / 1000)
        with BackgroundGateway(gateway):
            clients = [connect(f"{gateway.url}?email={EMAIL}&type={TYPE}") for _ in range(connections)]
            service = Service(Settings.from_env(), store)
            ids = store.active_connection_ids(EMAIL, TYPE)
            assert len(ids) == connections, (len(ids), connections)
            payload = encode_message({"type": "bench"})
            messenger = service.messenger
            messenger.post(ids[0], payload)  # create the boto3 client outside the timings
            parallel = sequential = 0.0
            for _ in range(ROUNDS):
                start = time.perf_counter()
                report = service.notify(EMAIL, TYPE, {"type": "bench"})
                parallel += time.perf_counter() - start
                assert report.sent == connections, report
                start = time.perf_counter()
                outcomes = [messenger.post(cid, payload) for cid in ids]
                sequential += time.perf_counter() - start
                assert outcomes.count("sent") == connections, outcomes
            for client in clients:  # every client got every round's two messages (else TimeoutError)
                for _ in range(2 * ROUNDS):
                    client.recv(timeout=10)
            for client in clients:
                client.close()
        store.close()
    return parallel, sequential


def run(*, connections: int) -> str:
    """Measure and return a markdown section."""
    saved = dict(os.environ)
    for key in ("CONNECT_TOKEN_SECRET", "CONNECT_TOKEN_SECRET_ARN", "DATABASE_SECRET_ARN"):
        os.environ.pop(key, None)
    os.environ["LOG_LEVEL"] = "ERROR"
    os.environ["MAX_CONNECTIONS_PER_EMAIL"] = str(connections)
    try:
        results = {latency: _measure(connections, latency) for latency in LATENCIES_MS}
    finally:
        os.environ.clear()
        os.environ.update(saved)
    per = ROUNDS * connections
    lines = [
        "## Notification fan-out (`bench/fanout.py`)",
        "",
        f"{connections} open WebSocket clients of one email on the local gateway, {ROUNDS} rounds; each "
        "round notifies all of them, in parallel (`Service.notify`) and then one by one (baseline).",
        "",
        "| emulated round trip | parallel ms per round | sequential ms per round | µs per message (parallel) | ratio parallel / sequential |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for latency, (parallel, sequential) in results.items():
        lines.append(
            f"| {latency} ms | {parallel / ROUNDS * 1000:.1f} | {sequential / ROUNDS * 1000:.1f} | "
            f"{parallel / per * 1e6:.0f} | {parallel / sequential:.2f} |"
        )
    lines.append("")
    return "\n".join(lines)
