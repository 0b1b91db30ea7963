"""``cdk synth`` of our stack against a minimal stack with the same three routes and function.

Both run through the pinned CDK CLI (``npx --no-install cdk synth --quiet``) into temporary output
folders, alternating, so both pay the same CLI and jsii start-up. Our stack is synthesized with
its defaults except ``bundle=false`` (bundling runs pip, which measures pip and the disk, not the
app); the minimal stack (:mod:`bench.minimal_stack`) ships the same source folder unbundled.
Figure ``synth``: median seconds ours / minimal, target <= 3.

At ``tiny`` size (the smoke test) both apps are synthesized in ONE Python process instead, after a
warm-up synth, so the jsii start-up (seconds) is paid once: ``python -m bench.synth`` does that.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .figures import Figure, Section, Size, Target, profile_call

ROOT = Path(__file__).resolve().parent.parent
SIZES = {"tiny": 1, "full": 3}
"""Synths per app."""
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

    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-synth-") as tmp:
        minimal(f"{tmp}/warm-up")
        if profile:
            print(profile_call(lambda: ours(f"{tmp}/profiled")))
            return
        for name, synth in (("ours", ours), ("minimal", minimal)):
            started = time.perf_counter()
            synth(f"{tmp}/{name}")
            timings[name] = time.perf_counter() - started
    print(json.dumps(timings))


def _in_process_note() -> str:
    """Both apps once more in one process: the app's own synth cost, without the CLI and jsii start-up
    that dominate a CLI run on this machine."""
    timings = json.loads(_python().strip().splitlines()[-1])
    return (f"Without the CLI and jsii start-up (both apps in one Python process after a warm-up synth): "
            f"ours {timings['ours']:.2f} s, minimal {timings['minimal']:.2f} s, "
            f"{timings['ours'] / timings['minimal']:.1f}x.")


def run(size: Size) -> Section:
    """Measure both synths; see the module docstring."""
    ours, minimal = [], []
    if size == "tiny":
        timings = json.loads(_python().strip().splitlines()[-1])
        ours, minimal = [timings["ours"]], [timings["minimal"]]
        how = "in one Python process after a warm-up (tiny size)"
    else:
        with tempfile.TemporaryDirectory(prefix="bench-synth-") as tmp:
            for i in range(SIZES[size]):
                ours.append(_synth(["-c", "bundle=false"], f"{tmp}/ours{i}"))
                minimal.append(_synth(["--app", f"{Path(sys.executable)} bench/minimal_stack.py"],
                                      f"{tmp}/minimal{i}"))
        how = "through the pinned CLI (`cdk synth --quiet`), alternating"
    figure = Figure("synth", statistics.median(ours), "s (cdk synth)", statistics.median(minimal), Target(3.0))
    in_process = "" if size == "tiny" else _in_process_note()
    profiles = {}
    if not figure.met:
        profiles[figure.name] = "our stack's synth in one process (after a warm-up synth):\n" + _python("--profile")
    markdown = "\n".join([
        "## Synth (`bench/synth.py`)",
        "",
        f"{len(ours)} synth(s) each, {how}: our stack (defaults, `bundle=false`) against "
        "`bench/minimal_stack.py` (the same three routes and function, nothing else).",
        "",
        "| app | median s | runs |",
        "| --- | ---: | --- |",
        f"| our stack | {figure.value:.2f} | {', '.join(f'{s:.2f}' for s in ours)} |",
        f"| minimal stack | {figure.baseline:.2f} | {', '.join(f'{s:.2f}' for s in minimal)} |",
        "",
        *([in_process, ""] if in_process else []),
    ])
    return Section("synth", [figure], markdown, profiles)


if __name__ == "__main__":
    _in_process(profile="--profile" in sys.argv[1:])
