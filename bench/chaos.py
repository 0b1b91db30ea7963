"""Chaos: the JS client's exactly-once delivery and notify -> app latency through failures.

Runs ``clients/js/chaos/run.js`` (Node): N JS clients in one Node process plus a sample in headless
Chromium, against ``wsctl local`` with a 3 s idle timeout (half the clients heartbeat, half are
closed idle again and again), connections deleted through ``@connections``, the gateway restarted
once, and notifies (direct invokes) at random moments. Two figures:

* ``chaos_delivered``: messages the apps saw (each once, by its own recipient) against messages
  sent; target >= 1, and no duplicate, stray or failed notify.
* ``chaos_notify_to_app_p99``: p99 from starting the notify invoke to the app's ``onMessage``
  (including messages replayed after a reconnect) against the p99 of a bare ``websockets`` push
  (bench/bare_server.py) measured in the same run.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from .figures import Figure, Section, Size, Target

ROOT = Path(__file__).resolve().parent.parent
SIZES = {
    "tiny": ["--clients", "20", "--browser", "1", "--notifies", "50", "--seconds", "6", "--bare-samples", "50",
             "--drain-seconds", "30"],
    "full": ["--clients", "200", "--browser", "5", "--notifies", "1000", "--seconds", "60", "--bare-samples", "500",
             "--drain-seconds", "60"],
}
P99_TARGET = Target(1000)
"""notify -> app p99 at most 1000x a bare push: replayed messages wait for their client's reconnect."""


def run(size: Size) -> Section:
    """Run the chaos script at ``size``; its figures and a markdown section."""
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is missing: install Node.js 20+")
    done = subprocess.run([node, "clients/js/chaos/run.js", *SIZES[size]], cwd=ROOT, capture_output=True, text=True,
                          timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"chaos run failed:\n{done.stderr[-4000:]}")
    r = json.loads(done.stdout.strip().splitlines()[-1])
    clean = r["duplicates"] == 0 and r["strays"] == 0 and r["notifyFailures"] == 0
    figures = [
        Figure("chaos_delivered", r["delivered"], "messages", r["sent"], Target(1, at_most=False), extra_ok=clean,
               note=f"{r['duplicates']} duplicates, {r['strays']} strays, {r['notifyFailures']} failed notifies"),
        Figure("chaos_notify_to_app_p99", max(r["p99NotifyToAppMs"], 0), "ms", r["p99BareMs"], P99_TARGET,
               note=f"p99 after the client is back {r['p99AfterBackMs']} ms"),
    ]
    markdown = "\n".join([
        f"{r['clients']} JS clients in Node + {r['browserClients']} in headless Chromium, {r['seconds']} s, "
        f"idle timeout {r['idleTimeoutSeconds']} s, {r['deletes']} connections deleted, gateway restarted once, "
        f"{r['reconnects']} reconnects.",
        "",
        "| measure | value |",
        "| --- | --- |",
        f"| delivered / sent | {r['delivered']} / {r['sent']} ({r['keptWhileAway']} sent while the client was away) |",
        f"| duplicates / strays / failed notifies | {r['duplicates']} / {r['strays']} / {r['notifyFailures']} |",
        f"| browser sample delivered / sent | {r['browserDelivered']} / {r['browserSent']} |",
        f"| notify -> app p50 / p99 | {r['p50NotifyToAppMs']} / {r['p99NotifyToAppMs']} ms |",
        f"| after the client is back: p99 / max | {r['p99AfterBackMs']} / {r['maxAfterBackMs']} ms |",
        f"| bare websockets push p50 / p99 | {r['p50BareMs']:.2f} / {r['p99BareMs']:.2f} ms |",
    ])
    return Section("Chaos: exactly-once delivery through reconnects (issue 16)", figures, markdown)
