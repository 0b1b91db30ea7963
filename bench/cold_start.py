"""Cold start of the Lambda's ``$connect`` path, in fresh interpreters.

A cold ``$connect`` must pay for the store driver and never for boto3 (about 0.3 s here). Each
sample is a new ``python`` process that imports the handler and handles one ``$connect`` event;
the baselines are an empty interpreter and ``import boto3`` in the same kind of process.
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from . import pg

ROOT = Path(__file__).resolve().parent.parent
EVENT = ROOT / "tests" / "events" / "connect.json"

_PROBE = r"""
import json, sys, time
t0 = time.perf_counter()
{body}
elapsed = time.perf_counter() - t0
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
print(json.dumps({{"ms": elapsed * 1000, "rss_kb": int(status["VmRSS"].split()[0]),
                  "boto3": "boto3" in sys.modules, "psycopg": "psycopg" in sys.modules}}))
"""

_CONNECT = """
from websocket_service.handler import handler
event = json.load(open({event!r}))
result = handler(event, None)
assert result["statusCode"] == 200, result
"""


def _sample(body: str, env: dict[str, str]) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE.format(body=body)],
        check=True, capture_output=True, text=True, env=env, cwd=ROOT,
    ).stdout.strip().splitlines()[-1]
    return json.loads(out)


def _median(samples: list[dict], key: str) -> float:
    return statistics.median(s[key] for s in samples)


def run(*, repeats: int) -> str:
    """Measure and return a markdown section."""
    import os

    from websocket_service.store import open_store

    pg_url = pg.fresh_schema_url(pg.base_url(), "bench_cold")
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_url = f"sqlite:///{tmp}/bench.db"
        for url in (sqlite_url, pg_url):
            store = open_store(url)
            store.migrate()
            store.close()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "CONNECT_TOKEN"))}
        env.update(LOG_LEVEL="ERROR", PYTHONDONTWRITEBYTECODE="1")
        connect = _CONNECT.format(event=str(EVENT))
        cases = {  # (probe body, DATABASE_URL)
            "empty interpreter (baseline)": ("pass", sqlite_url),
            "import boto3 (what we avoid)": ("import boto3", sqlite_url),
            "cold $connect, SQLite store": (connect, sqlite_url),
            "cold $connect, PostgreSQL store": (connect, pg_url),
        }
        results = {
            name: [_sample(body, {**env, "DATABASE_URL": url}) for _ in range(repeats)]
            for name, (body, url) in cases.items()
        }

    base_rss = _median(results["empty interpreter (baseline)"], "rss_kb")
    boto_ms = _median(results["import boto3 (what we avoid)"], "ms")
    lines = [
        "## Cold start (`bench/cold_start.py`)",
        "",
        f"Median of {repeats} fresh processes. Time is measured inside the process from before the first import; "
        "RSS is the resident set (VmRSS) right after.",
        "",
        "| case | median ms | ratio to `import boto3` | RSS MiB after | RSS vs empty interpreter | boto3 loaded |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, samples in results.items():
        ms = _median(samples, "ms")
        rss = _median(samples, "rss_kb")
        lines.append(
            f"| {name} | {ms:.1f} | {ms / boto_ms:.2f} | {rss / 1024:.1f} | {rss / base_rss:.2f}x | "
            f"{'yes' if any(s['boto3'] for s in samples) else 'no'} |"
        )
    lines.append("")
    return "\n".join(lines)
