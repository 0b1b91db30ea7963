"""Cold start of the real bundled asset, as Lambda runs it: unpacked read-only, no bytecode writing.

Figure ``cold_start_asset``: a fresh process runs the asset's cold ``$connect`` on PostgreSQL (with
the bytecode the bundler compiled) against a fresh process of the same interpreter that imports the
asset's psycopg (precompiled), connects and runs the same capped insert (``ws_add_connection``);
target <= 1.2. The figure compares CPU time (``time.process_time`` from before the first import):
what bytecode saves is CPU, which Lambda rations by memory size (a 256 MB function has about a
seventh of a vCPU), and on this shared machine wall time mostly measures the other processes.
Wall time is reported beside it. The same asset without its ``__pycache__`` folders (what the bundle
shipped before) runs in the same rounds, on the baseline's side: the absolute before/after. Rounds
come from :func:`bench.figures.alternate` (the side that runs first swaps each round); the figure is
the median of the per-round ratios.

The interpreter is the host's ``python3.14`` when there is one. Otherwise (this machine: Debian 12
has 3.11, and the bundler's 3.14 is WebAssembly, which cannot load psycopg's native libpq nor open a
socket) it is this interpreter, and the asset is the same bundler's build for this Python version,
compiled by it with the same flags (:class:`cdk_app.bundling.PipLocalBundling` with
``python_version``/``python``). Processes start with ``-S`` (no site-packages: only the asset and the
precompiled standard library are importable, as on Lambda), ``PYTHONDONTWRITEBYTECODE=1``, from an
empty working directory, with production's log level. ``python -m bench.cold_start_asset --arch arm64
--python "qemu-aarch64-static ROOT/usr/bin/python3.11"`` measures the arm64 asset under emulation
once (``bench/arm64_python.sh`` makes that ROOT from Debian's arm64 packages).
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import stat
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from . import cold_start, pg
from .figures import MIN_ROUNDS, Figure, Section, Size, Target, alternate, trim_profile

ARM64_RECORD = Path(__file__).resolve().parent / "cold_start_asset_arm64.md"
"""The arm64 asset's section, measured once under qemu (``--arch arm64 --record``); every run's
section quotes it, so RESULTS.md keeps it when ``make bench`` rewrites the file."""
ROUNDS = {"tiny": MIN_ROUNDS, "full": 9}
"""Rounds; each runs every case once, each in a fresh process."""
PG_SCHEMA = "bench_asset"
PROBE_TIMEOUT_S = 120
ACTIVE_LIMIT = 5

CASES = ("asset with bytecode", "bare psycopg from bytecode (baseline)", "asset without bytecode (before)")

_PROBE = r"""
import json, sys, time
t0, c0 = time.perf_counter(), time.process_time()
{body}
elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
print(json.dumps({{"ms": elapsed * 1000, "cpu_ms": cpu * 1000, "psycopg": sys.modules["psycopg"].__file__}}))
"""

_BARE = """
import os, uuid
from datetime import datetime, timezone
import psycopg
conn = psycopg.connect(os.environ["DATABASE_URL"], autocommit=True)
now = datetime.now(timezone.utc)
conn.execute(
    "SELECT ws_add_connection(%s, %s, %s, %s, %s, %s, %s, %s, %s)",
    (uuid.uuid4().hex, "bare@example.com", "email-verification", now, "203.0.113.9", "bench", "h", "prod", {limit}),
)
"""


def interpreter() -> tuple[tuple[str, ...], str]:
    """(command, ``major.minor``) of the interpreter the figure runs: ``python3.14`` if present, else this one."""
    python = (shutil.which("python3.14") or sys.executable,)
    return python, version_of(python)


def version_of(python: tuple[str, ...], env: dict[str, str] | None = None) -> str:
    """``major.minor`` of the interpreter command ``python``."""
    return subprocess.run([*python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], env=env,
                          capture_output=True, text=True, check=True).stdout.strip()


def build_assets(version: str, tmp: Path, *, architecture: str = "x86_64") -> tuple[Path, Path]:
    """The bundler's asset for ``architecture`` and Python ``version`` (read-only), and a read-only copy
    without bytecode. Another version than the function's is compiled by this interpreter (bytecode does
    not depend on the CPU), which must then be that version."""
    from cdk_app.bundling import PYTHON_VERSION, PipLocalBundling
    from cdk_app.runtime_contract import LAMBDA_SOURCE_DIR, PACKAGE_NAME, REQUIREMENTS_FILE

    with_bytecode, without = tmp / "with" / "task", tmp / "without" / "task"
    with_bytecode.mkdir(parents=True)
    source_dir, compiler = LAMBDA_SOURCE_DIR, None
    if version != PYTHON_VERSION:
        if version_of((sys.executable,)) != version:
            raise RuntimeError(f"an asset for Python {version} needs this benchmark to run on Python {version}")
        compiler = (sys.executable,)
        # psycopg needs typing_extensions below 3.13 (the bundle pins exactly what 3.14 needs)
        source_dir = tmp / "source"
        shutil.copytree(LAMBDA_SOURCE_DIR / PACKAGE_NAME, source_dir / PACKAGE_NAME)
        (source_dir / REQUIREMENTS_FILE.name).write_text(
            REQUIREMENTS_FILE.read_text() + f"typing_extensions=={_installed('typing_extensions')}\n")
    PipLocalBundling(architecture=architecture, source_dir=source_dir, python_version=version,
                     python=compiler).try_bundle(str(with_bytecode), None)  # type: ignore[arg-type]
    shutil.copytree(with_bytecode, without, ignore=shutil.ignore_patterns("__pycache__"))
    for root in (with_bytecode, without):
        for path in [root, *root.rglob("*")]:
            path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    return with_bytecode, without


_COMPILE_VS_LOAD = r"""
import json, marshal, sys, time
from importlib.util import cache_from_source
from pathlib import Path
texts = [(str(p), p.read_bytes(), Path(cache_from_source(str(p))).read_bytes())
         for p in sorted(Path(sys.argv[1]).rglob("*.py"))]
t0 = time.perf_counter()
for path, source, _ in texts:
    compile(source, path, "exec", dont_inherit=True)
t1 = time.perf_counter()
for _, _, pyc in texts:
    marshal.loads(pyc[16:])
t2 = time.perf_counter()
print(json.dumps({"modules": len(texts), "compile_ms": (t1 - t0) * 1000, "load_ms": (t2 - t1) * 1000}))
"""


def compile_vs_load_314(tmp: Path) -> dict:
    """In the runtime's Python 3.14 itself (the bundler's, WebAssembly): milliseconds to compile every
    module of the real 3.14 asset from source against unmarshalling its bytecode."""
    from cdk_app.bundling import PipLocalBundling, python314_command

    asset = tmp / "asset-314"
    asset.mkdir()
    PipLocalBundling(architecture="x86_64").try_bundle(str(asset), None)  # type: ignore[arg-type]
    result = subprocess.run(python314_command("-c", _COMPILE_VS_LOAD, str(asset), mounts=(asset,)),
                            capture_output=True, text=True, timeout=PROBE_TIMEOUT_S * 5, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"Python 3.14 compile/load probe failed ({result.returncode}): {result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _installed(distribution: str) -> str:
    from importlib.metadata import version

    return version(distribution)


def tree(root: Path) -> list[str]:
    """Every path under ``root`` (to prove a run wrote nothing)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _sample(python: tuple[str, ...], body: str, task: Path, env: dict[str, str], cwd: Path) -> dict:
    result = subprocess.run([*python, "-S", "-c", _PROBE.format(body=body)], capture_output=True, text=True,
                            env={**env, "PYTHONPATH": str(task)}, cwd=cwd, timeout=PROBE_TIMEOUT_S)
    if result.returncode != 0:
        raise RuntimeError(f"cold-start probe failed ({result.returncode}): {(result.stdout + result.stderr)[-3000:]}")
    sample = json.loads(result.stdout.strip().splitlines()[-1])
    if not sample["psycopg"].startswith(str(task)):
        raise RuntimeError(f"psycopg came from {sample['psycopg']}, not the asset {task}")
    return sample


def run(size: Size) -> Section:
    """Measure the asset's cold ``$connect``; see the module docstring."""
    python, version = interpreter()
    return measure(python, version, rounds=ROUNDS[size], compare_314=size == "full")


def measure(python: tuple[str, ...], version: str, *, rounds: int, architecture: str = "x86_64",
            compare_314: bool = False) -> Section:
    """The figure for the interpreter command ``python`` (Python ``version``) on ``architecture``'s asset;
    ``compare_314`` adds :func:`compile_vs_load_314` when ``python`` is not 3.14 (a second bundle)."""
    with pg.scratch_schema(PG_SCHEMA) as pg_url, tempfile.TemporaryDirectory(prefix="bench-asset-") as tmp_name:
        return _run(python, version, architecture, rounds, pg_url, Path(tmp_name), compare_314)


def _run(python: tuple[str, ...], version: str, architecture: str, rounds: int, pg_url: str, tmp: Path,
         compare_314: bool) -> Section:
    from cdk_app.bundling import PYTHON_VERSION
    from websocket_service.store import open_store

    store = open_store(pg_url)
    store.migrate()
    store.close()
    with_bytecode, without = build_assets(version, tmp, architecture=architecture)
    before = {task: tree(task) for task in (with_bytecode, without)}
    cwd = tmp / "cwd"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATABASE_", "CONNECT_TOKEN", "LOG_LEVEL", "PYTHON", "VIRTUAL_ENV"))}
    env.update(PYTHONDONTWRITEBYTECODE="1", DATABASE_URL=pg_url)
    connect, bare = cold_start._CONNECT.format(event=str(cold_start.EVENT)), _BARE.format(limit=ACTIVE_LIMIT)
    cases = {
        CASES[0]: (connect, with_bytecode),
        CASES[1]: (bare, with_bytecode),
        CASES[2]: (connect, without),
    }
    samples: dict[str, list[dict]] = {name: [] for name in cases}

    def side(names: tuple[str, ...]):
        def run_side(_: int) -> float:
            for name in names:
                body, task = cases[name]
                samples[name].append(_sample(python, body, task, env, cwd))
            return samples[names[-1]][-1]["cpu_ms"]
        return run_side

    figure = Figure("cold_start_asset", "ms CPU (new process)",
                    alternate(side((CASES[0],)), side((CASES[2], CASES[1])), rounds=rounds), Target(1.2))
    for task, paths in before.items():
        if tree(task) != paths:
            raise RuntimeError(f"a cold start wrote into the read-only asset {task}")
    profiles = {} if figure.met else {figure.name: _profile(python, connect, with_bytecode, env, cwd)}
    markdown = _markdown(python, version, architecture, samples, figure)
    if compare_314 and version != PYTHON_VERSION:
        wasm = compile_vs_load_314(tmp)
        markdown += (
            f"In the runtime's Python {PYTHON_VERSION} itself (the bundler's Pyodide, WebAssembly, wall time): compiling "
            f"the real {PYTHON_VERSION} asset's {wasm['modules']} modules from source takes {wasm['compile_ms']:.0f} ms, "
            f"unmarshalling their bytecode {wasm['load_ms']:.0f} ms.\n")
    if architecture == "x86_64" and ARM64_RECORD.is_file():
        markdown += "\n" + ARM64_RECORD.read_text(encoding="utf-8")
    return Section("cold_start_asset", [figure], markdown, profiles)


def _profile(python: tuple[str, ...], body: str, task: Path, env: dict[str, str], cwd: Path) -> str:
    """cProfile (by cumulative time: a cold start is mostly imports) of the asset's cold ``$connect``."""
    out = subprocess.run([*python, "-S", "-c", cold_start._PROFILED.format(body=body, top=20)], check=True, capture_output=True,
                         text=True, env={**env, "PYTHONPATH": str(task)}, cwd=cwd, timeout=PROBE_TIMEOUT_S).stdout
    return "cold $connect of the asset with bytecode, by cumulative time:\n" + trim_profile(out)


def _markdown(python: tuple[str, ...], version: str, architecture: str, samples: dict[str, list[dict]],
              figure: Figure) -> str:
    from cdk_app.bundling import PYTHON_VERSION

    stand_in = "" if version == PYTHON_VERSION else (
        f" **Python {version} stands in for the runtime's {PYTHON_VERSION}**: no native {PYTHON_VERSION} "
        "runs on this machine (the bundler's is WebAssembly, which cannot load psycopg's libpq); the asset is "
        f"the same bundler's {architecture} build for {version}, compiled by this machine's {version} "
        "(bytecode does not depend on the CPU) with the same flags.")
    command = " ".join(Path(part).name if i == len(python) - 1 else part for i, part in enumerate(python))
    lines = [
        f"## Cold start of the bundled asset (`bench/cold_start_asset.py`, {architecture})",
        "",
        f"Fresh `{command} -S` processes (Python {version}) running the unpacked {architecture} asset read-only "
        f"with `PYTHONDONTWRITEBYTECODE=1`, as on Lambda, against the local PostgreSQL.{stand_in} "
        f"{len(figure.rounds)} alternating rounds, every case once per round. Times are measured inside the "
        "process from before the first import: CPU (`time.process_time`, the figure) and wall.",
        "",
        "| case | median ms CPU | min-max ms CPU | median ms wall | min-max ms wall | CPU ratio to baseline |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    baseline = statistics.median(s["cpu_ms"] for s in samples[CASES[1]])
    medians: dict[str, tuple[float, float]] = {}
    for name, runs in samples.items():
        cpu, wall = [s["cpu_ms"] for s in runs], [s["ms"] for s in runs]
        medians[name] = statistics.median(cpu), statistics.median(wall)
        lines.append(f"| {name} | {medians[name][0]:.1f} | {min(cpu):.0f}-{max(cpu):.0f} | {medians[name][1]:.1f} | "
                     f"{min(wall):.0f}-{max(wall):.0f} | {medians[name][0] / baseline:.2f} |")
    (before_cpu, before_wall), (after_cpu, after_wall) = medians[CASES[2]], medians[CASES[0]]
    lines += [
        "",
        f"Per-round CPU ratio (asset with bytecode / baseline): median {figure.ratio:.2f}, "
        f"min {figure.ratio_min:.2f}, max {figure.ratio_max:.2f}. Bytecode in the asset: cold `$connect` "
        f"{before_cpu:.0f} -> {after_cpu:.0f} ms CPU ({before_wall:.0f} -> {after_wall:.0f} ms wall) without -> "
        "with bytecode.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Print the section for one interpreter and architecture (e.g. the arm64 asset under qemu)."""
    parser = argparse.ArgumentParser(prog="python -m bench.cold_start_asset", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", choices=("x86_64", "arm64"), default="x86_64")
    parser.add_argument("--python", help="interpreter command (default: python3.14 if present, else this one)")
    parser.add_argument("--rounds", type=int, default=ROUNDS["full"])
    parser.add_argument("--record", action="store_true",
                        help=f"with --arch arm64: write the section to {ARM64_RECORD.name} (quoted by every run)")
    args = parser.parse_args(argv)
    if args.record and args.arch != "arm64":
        parser.error("--record keeps the arm64 measurement; the x86_64 one is the figure of every run")
    if args.python:
        python = tuple(shlex.split(args.python))
        version = version_of(python)
    else:
        python, version = interpreter()
    section = measure(python, version, rounds=args.rounds, architecture=args.arch)
    if args.record:
        from datetime import datetime, timezone

        (figure,) = section.figures
        ARM64_RECORD.write_text(
            section.markdown.replace("## Cold start", "### Cold start", 1).rstrip()
            + f"\n\nMeasured once under qemu user emulation, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC: "
            f"per-round CPU ratio median {figure.ratio:.2f} ({figure.ratio_min:.2f}-{figure.ratio_max:.2f}); emulation "
            "multiplies CPU times, so only the ratios and the before/after proportion carry over.\n",
            encoding="utf-8")
    print(section.markdown)
    print(json.dumps([f.to_json() for f in section.figures]))


if __name__ == "__main__":
    main()
