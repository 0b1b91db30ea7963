"""Chaos: the JS client's exactly-once delivery and notify -> app latency through failures.

Runs ``clients/js/chaos/run.js`` (Node): N JS clients in one Node process plus (full size) a sample
in headless Chromium, against ``wsctl local`` with a short idle timeout (half the clients heartbeat,
half are closed idle again and again), connections deleted through ``@connections``, the gateway
restarted once, and notifies (direct invokes) at random moments. Two figures, in alternating
rounds (:func:`~bench.figures.alternate_each`) of a chaos run against the baseline side:

* ``chaos_delivered``: messages the apps saw (each once, by its own recipient) against the
  messages the run sends; target >= 1, and no duplicate, stray or failed notify in any round.
* ``chaos_notify_to_app_p99``: p99 from starting the notify invoke to the app's ``onMessage``
  (including messages that waited for their client's reconnect and replay) against the p99 of a
  bare ``websockets`` push to a ``ws`` client (bench/bare_server.py, ``run.js --bare-only``).
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from .figures import Figure, Section, Size, Target, alternate_each

ROOT = Path(__file__).resolve().parent.parent
NOTIFIES = {"tiny": 20, "full": 1000}
SIZES = {
    "tiny": ["--clients", "10", "--browser", "0", "--seconds", "4", "--drain-seconds", "30"],
    "full": ["--clients", "200", "--browser", "5", "--seconds", "60", "--drain-seconds", "60"],
}
BARE_SAMPLES = {"tiny": "50", "full": "500"}
P99_TARGET = Target(1000)
"""notify -> app p99 at most 1000x a bare push: replayed messages wait for their client's reconnect."""


def _node(*args: str) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is missing: install Node.js 20+")
    done = subprocess.run([node, "clients/js/chaos/run.js", *args], cwd=ROOT, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"chaos run failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run(size: Size) -> Section:
    """Chaos rounds at ``size``; its figures and a markdown section (the last chaos round's details)."""
    runs: list[dict[str, Any]] = []

    def chaos(_: int) -> dict[str, float]:
        r = _node(*SIZES[size], "--notifies", str(NOTIFIES[size]), "--bare-samples", "0")
        runs.append(r)
        return {"chaos_delivered": r["delivered"], "chaos_notify_to_app_p99": max(r["p99NotifyToAppMs"] or 0, 0)}

    def baseline(_: int) -> dict[str, float]:
        bare = _node("--bare-only", "--bare-samples", BARE_SAMPLES[size])
        return {"chaos_delivered": NOTIFIES[size], "chaos_notify_to_app_p99": bare["p99BareMs"]}

    rounds = alternate_each(chaos, baseline)
    clean = all(r["duplicates"] == 0 and r["strays"] == 0 and r["notifyFailures"] == 0 for r in runs)
    figures = [
        Figure("chaos_delivered", "messages", rounds["chaos_delivered"], Target(1, at_most=False), extra_ok=clean,
               note=f"{sum(r['duplicates'] for r in runs)} duplicates, {sum(r['strays'] for r in runs)} strays, "
                    f"{sum(r['notifyFailures'] for r in runs)} failed notifies over {len(runs)} runs"),
        Figure("chaos_notify_to_app_p99", "ms", rounds["chaos_notify_to_app_p99"], P99_TARGET,
               note=f"p99 after the client is back, per run: {[r['p99AfterBackMs'] for r in runs]} ms"),
    ]
    r = runs[-1]
    markdown = "\n".join([
        f"{r['clients']} JS clients in Node + {r['browserClients']} in headless Chromium, {r['seconds']} s, "
        f"idle timeout {r['idleTimeoutSeconds']} s, {r['deletes']} connections deleted, gateway restarted once "
        f"(down {r['restartMs']} ms; every client back within {r['backAfterRestartMs']} ms of its start, null if one never came back), "
        f"{r['reconnects']} reconnects (last of {len(runs)} runs). Messages sent while a client was away wait for "
        "it: notify -> app p99 counts that wait, the 'after the client is back' row does not.",
        "",
        "| measure (last run) | value |",
        "| --- | --- |",
        f"| delivered / sent | {r['delivered']} / {r['sent']} ({r['keptWhileAway']} sent while the client was away) |",
        f"| duplicates / strays / failed notifies | {r['duplicates']} / {r['strays']} / {r['notifyFailures']} |",
        f"| browser sample delivered / sent | {r['browserDelivered']} / {r['browserSent']} |",
        f"| notify -> app p50 / p99 | {r['p50NotifyToAppMs']} / {r['p99NotifyToAppMs']} ms |",
        f"| after the client is back: p99 / max | {r['p99AfterBackMs']} / {r['maxAfterBackMs']} ms |",
    ])
    return Section("Chaos: exactly-once delivery through reconnects (issue 16)", figures, markdown)
