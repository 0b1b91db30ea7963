"""``cdk synth`` of our stack against a minimal stack with the same three routes and function.

Both run through the pinned CDK CLI (``npx --no-install cdk synth --quiet``) into temporary output
folders, in alternating rounds (:func:`~bench.figures.alternate`), so both pay the same CLI and
jsii start-up. Our stack is synthesized with
its defaults except ``bundle=false`` (bundling runs pip, which measures pip and the disk, not the
app); the minimal stack (:mod:`bench.minimal_stack`) ships the same source folder unbundled.
Figure ``synth``: the median round's seconds ours / minimal, target <= 3. Beside it RESULTS.md
shows both apps synthesized in ONE Python process after a warm-up synth (``python -m bench.synth``,
also alternating rounds), so the jsii start-up (seconds) is paid once: the app's own cost. At
``tiny`` size (the smoke test) the figure itself is that in-process measurement.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .figures import Figure, Round, Section, Size, Target, alternate, profile_call

ROOT = Path(__file__).resolve().parent.parent
SIZES = {"tiny": 5, "full": 5}
"""Rounds (one synth of each app per round)."""
TIMEOUT_S = 300


def _env() -> dict[str, str]:
    """This venv's python first on PATH (cdk.json runs ``python3 app.py``); jsii's Node banner off."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1"}


def _python(*args: str) -> str:
    """Stdout of ``python -m bench.synth args``."""
    return subprocess.run([sys.executable, "-m", "bench.synth", *args], cwd=ROOT, env=_env(), capture_output=True,
                          text=True, timeout=TIMEOUT_S, check=True).stdout


def _synth(extra: list[str], out_dir: str) -> float:
    started = time.perf_counter()
    result = subprocess.run(["npx", "--no-install", "cdk", "synth", "--quiet", "-o", out_dir, *extra],
                            cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=TIMEOUT_S)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"cdk synth {' '.join(extra)} failed ({result.returncode}): {result.stderr[-2000:]}")
    return seconds


def _in_process(*, profile: bool) -> None:
    """Synthesize both apps in this process (after a warm-up); print the seconds as JSON, or with
    ``profile`` a cProfile of our stack's synth."""
    import aws_cdk as cdk

    from cdk_app.application import build_app

    from .minimal_stack import build

    def ours(out_dir: str) -> None:
        app, _ = build_app(context={"bundle": False}, outdir=out_dir)
        app.synth()

    def minimal(out_dir: str) -> None:
        app = cdk.App(outdir=out_dir)
        build(app)
        app.synth()

    def timed(synth: Any, out_dir: str) -> float:
        started = time.perf_counter()
        synth(out_dir)
        return time.perf_counter() - started

    with tempfile.TemporaryDirectory(prefix="bench-synth-") as tmp:
        minimal(f"{tmp}/warm-up")
        if profile:
            print(profile_call(lambda: ours(f"{tmp}/profiled")))
            return
        rounds = alternate(lambda i: timed(ours, f"{tmp}/ours{i}"), lambda i: timed(minimal, f"{tmp}/minimal{i}"),
                           rounds=SIZES["full"])
    print(json.dumps([[r.value, r.baseline, r.baseline_first] for r in rounds]))


def _in_process_rounds() -> tuple[Round, ...]:
    """Both apps in one Python process (``python -m bench.synth``), alternating rounds."""
    return tuple(Round(*r) for r in json.loads(_python().strip().splitlines()[-1]))


def run(size: Size) -> Section:
    """Measure both synths; see the module docstring."""
    in_process = Figure("synth_in_process", "s (synth in one process)", _in_process_rounds(), Target(3.0))
    if size == "tiny":
        figure = Figure("synth", "s (synth in one process)", in_process.rounds, Target(3.0))
        how = "in one Python process after a warm-up (tiny size)"
    else:
        with tempfile.TemporaryDirectory(prefix="bench-synth-") as tmp:
            figure = Figure("synth", "s (cdk synth)", alternate(
                lambda i: _synth(["-c", "bundle=false"], f"{tmp}/ours{i}"),
                lambda i: _synth(["--app", f"{Path(sys.executable)} bench/minimal_stack.py"], f"{tmp}/minimal{i}"),
                rounds=SIZES[size]), Target(3.0))
        how = "through the pinned CLI (`cdk synth --quiet`)"
    profiles = {}
    if not figure.met:
        profiles[figure.name] = "our stack's synth in one process (after a warm-up synth):\n" + _python("--profile")
    markdown = "\n".join([
        "## Synth (`bench/synth.py`)",
        "",
        f"{len(figure.rounds)} alternating rounds, {how}: our stack (defaults, `bundle=false`) against "
        "`bench/minimal_stack.py` (the same three routes and function, nothing else). Beside it, both apps in "
        "one Python process after a warm-up synth: the app's own cost, without the CLI and jsii start-up.",
        "",
        "| case | ours median s | minimal median s | median ratio | rounds' ratios |",
        "| --- | ---: | ---: | ---: | --- |",
        *(f"| {label} | {f.value:.2f} | {f.baseline:.2f} | {f.ratio:.2f} | "
          f"{', '.join(f'{r.ratio:.2f}' for r in f.rounds)} |"
          for label, f in (("`cdk synth` (the figure)", figure), ("in one process", in_process))
          if size != "tiny" or f is figure),
        "",
    ])
    return Section("synth", [figure], markdown, profiles)


if __name__ == "__main__":
    _in_process(profile="--profile" in sys.argv[1:])
