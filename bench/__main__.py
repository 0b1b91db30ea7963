"""``python -m bench``: measure every figure, write ``results.json`` and ``RESULTS.md``.

``--size full`` (the default, ``make bench``) is the real run; ``--size tiny`` runs every figure
on a token load in a few minutes, still 5 alternating rounds per figure (the smoke test in tests/bench/test_bench_smoke.py), so the
harness cannot rot. ``--only NAME`` runs some benchmarks (with ``--out DIR``, so bench/'s full results
stay whole); ``--out DIR`` writes elsewhere than ``bench/``. Each benchmark drives public entry points only: ``handler.handler``, ``wsctl local``
as a subprocess, the store factory and the service/messenger API.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Callable

from . import chaos, cleanup_load, cold_start, cold_start_asset, fanout, gateway_load, storm, synth, warm_path
from .figures import SIZES, Section, Size, summary_table, write_results

BENCHMARKS: dict[str, Callable[[Size], Section]] = {
    "cold_start": cold_start.run,
    "warm_path": warm_path.run,
    "fanout": fanout.run,
    "cleanup": cleanup_load.run,
    "gateway": gateway_load.run,
    "storm": storm.run,
    "synth": synth.run,
    "chaos": chaos.run,
    "cold_start_asset": cold_start_asset.run,
}
"""Benchmark name -> its run function, in the order they run and are reported."""
OUT_DIR = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=SIZES, default="full", help="full (default) or tiny (smoke)")
    parser.add_argument("--only", action="append", choices=sorted(BENCHMARKS), metavar="NAME",
                        help=f"run only these benchmarks (repeatable): {', '.join(BENCHMARKS)}")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="folder for results.json and RESULTS.md")
    args = parser.parse_args(argv)
    if args.only and args.out.resolve() == OUT_DIR:
        parser.error("--only writes a partial results.json; pass --out DIR (not bench/) to keep the full results")
    sections, failed = [], []
    for name, run in BENCHMARKS.items():
        if args.only and name not in args.only:
            continue
        started = time.perf_counter()
        print(f"bench: {name} ({args.size}) ...", file=sys.stderr, flush=True)
        try:
            with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
                sections.append(run(args.size))  # the handler's log and EMF lines go to stdout, as in Lambda
        except Exception:  # noqa: BLE001 - one broken benchmark must not lose the others' results
            failed.append(name)
            print(f"bench: {name} FAILED:\n{traceback.format_exc()}", file=sys.stderr, flush=True)
            continue
        print(f"bench: {name} done in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    write_results(sections, args.out, size=args.size, failed=failed)
    print(summary_table([f for s in sections for f in s.figures]))
    print(f"\nwrote {args.out / 'results.json'} and {args.out / 'RESULTS.md'}")
    if failed:
        print(f"FAILED benchmarks (tracebacks above): {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
