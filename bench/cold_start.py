"""Cold start of the Lambda's ``$connect`` path, in fresh interpreters.

Figure ``cold_connect_postgres``: a new process imports the handler and handles one ``$connect``
on PostgreSQL, against a new process doing the least that job needs: ``import psycopg``, connect,
one INSERT of the same row shape (target ratio <= 1.15). The two alternate round by round
(:func:`~bench.figures.alternate`), so a burst of load from another process on this shared machine
hits both. Both sides run from bytecode, as in production (the bundled asset ships ours, pip
compiled psycopg's): ``lambda_src`` is compiled first (``compileall`` into its ``__pycache__``,
which git ignores), since this machine may run with ``PYTHONDONTWRITEBYTECODE``. RESULTS.md also
shows the SQLite cold path, an empty interpreter and ``import boto3`` (which ``$connect`` must
never pay for).
"""
from __future__ import annotations

import compileall
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from . import pg
from .figures import Figure, Section, Size, Target, alternate, trim_profile
from .procs import PRODUCTION_LOG_LEVEL

ROOT = Path(__file__).resolve().parent.parent
EVENT = ROOT / "tests" / "events" / "connect.json"
SIZES = {"tiny": 5, "full": 11}
"""Fresh processes per case (rounds of the figure; at least :data:`~bench.figures.MIN_ROUNDS`)."""
PG_SCHEMA = "bench_cold"
PROBE_TIMEOUT_S = 60

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

_BARE_CONNECT = """
import os, uuid
from datetime import datetime, timezone
import psycopg
conn = psycopg.connect(os.environ["DATABASE_URL"], autocommit=True)
now = datetime.now(timezone.utc)
conn.execute(
    "INSERT INTO websocket_connections (connection_id, user_email, connection_type, is_active, connected_at, "
    "last_activity_at, source_ip, user_agent, domain_name, stage) VALUES (%s, %s, %s, TRUE, %s, %s, %s, %s, %s, %s)",
    (uuid.uuid4().hex, "bare@example.com", "email-verification", now, now, "203.0.113.9", "bench", "h", "prod"),
)
"""

_PROFILED = """
import cProfile, io, json, pstats, sys
profiler = cProfile.Profile()
profiler.enable()
{body}
profiler.disable()
out = io.StringIO()
pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("cumulative").print_stats({top})
print(out.getvalue())
"""


def _sample(body: str, env: dict[str, str]) -> dict:
    result = subprocess.run([sys.executable, "-c", _PROBE.format(body=body)], capture_output=True, text=True,
                            env=env, cwd=ROOT, timeout=PROBE_TIMEOUT_S)
    if result.returncode != 0:
        raise RuntimeError(f"cold-start probe failed ({result.returncode}): {result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _median(samples: list[dict], key: str) -> float:
    return statistics.median(s[key] for s in samples)


def _profile(body: str, env: dict[str, str]) -> str:
    """cProfile (by cumulative time: a cold start is mostly imports) of ``body`` in a fresh process."""
    out = subprocess.run(
        [sys.executable, "-c", _PROFILED.format(body=body, top=20)],
        check=True, capture_output=True, text=True, env=env, cwd=ROOT, timeout=PROBE_TIMEOUT_S,
    ).stdout
    return "cold $connect on PostgreSQL, by cumulative time:\n" + trim_profile(out)


def run(size: Size) -> Section:
    """Measure the cold cases; see the module docstring."""
    with pg.scratch_schema(PG_SCHEMA) as pg_url:
        return _run(size, pg_url)


def _run(size: Size, pg_url: str) -> Section:
    import os

    from websocket_service.store import open_store

    repeats = SIZES[size]
    if not compileall.compile_dir(ROOT / "lambda_src", quiet=1):
        raise RuntimeError("compileall of lambda_src failed: the cold probes would compile from source")
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_url = f"sqlite:///{tmp}/bench.db"
        for url in (sqlite_url, pg_url):
            store = open_store(url)
            store.migrate()
            store.close()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "CONNECT_TOKEN"))}
        env.update(LOG_LEVEL=PRODUCTION_LOG_LEVEL, PYTHONDONTWRITEBYTECODE="1")
        connect = _CONNECT.format(event=str(EVENT))
        cases = {  # (probe body, DATABASE_URL)
            "empty interpreter": ("pass", sqlite_url),
            "import boto3 (what $connect avoids)": ("import boto3", sqlite_url),
            "cold $connect, SQLite store": (connect, sqlite_url),
            "bare psycopg: import + connect + INSERT (baseline)": (_BARE_CONNECT, pg_url),
            "cold $connect, PostgreSQL store": (connect, pg_url),
        }
        results: dict[str, list[dict]] = {name: [] for name in cases}
        names = list(cases)
        ours, bare = names[2:3] + names[4:], names[:2] + names[3:4]  # each side ends with its figure's case

        def side(case_names: list[str]):
            def measure(_: int) -> float:
                for name in case_names:
                    body, url = cases[name]
                    results[name].append(_sample(body, {**env, "DATABASE_URL": url}))
                return results[case_names[-1]][-1]["ms"]
            return measure

        figure = Figure("cold_connect_postgres", "ms (new process)", alternate(side(ours), side(bare), rounds=repeats),
                        Target(1.15))
        profiles = {} if figure.met else {figure.name: _profile(connect, {**env, "DATABASE_URL": pg_url})}

    base_rss = _median(results["empty interpreter"], "rss_kb")
    bare_ms = figure.baseline
    lines = [
        "## Cold start (`bench/cold_start.py`)",
        "",
        f"Median of {repeats} fresh processes per case, in alternating rounds, every module from bytecode (as in "
        "production). Time is measured inside the process from before the first import; RSS is the resident set "
        "(VmRSS) right after.",
        "",
        "| case | median ms | ratio to bare psycopg | RSS MiB after | RSS vs empty interpreter | boto3 loaded |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, samples in results.items():
        ms = _median(samples, "ms")
        rss = _median(samples, "rss_kb")
        lines.append(
            f"| {name} | {ms:.1f} | {ms / bare_ms:.2f} | {rss / 1024:.1f} | {rss / base_rss:.2f}x | "
            f"{'yes' if any(s['boto3'] for s in samples) else 'no'} |"
        )
    lines.append("")
    return Section("cold_start", [figure], "\n".join(lines), profiles)
