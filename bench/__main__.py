"""Run every benchmark and print one table; ``--write`` also updates bench/RESULTS.md."""
from __future__ import annotations

import argparse
import platform
from datetime import datetime, timezone
from pathlib import Path

from . import cold_start, fanout, warm_path

RESULTS = Path(__file__).with_name("RESULTS.md")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--write", action="store_true", help="write bench/RESULTS.md")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (smoke run)")
    args = parser.parse_args()
    sections = [
        cold_start.run(repeats=3 if args.quick else 9),
        warm_path.run(iterations=100 if args.quick else 1000),
        fanout.run(connections=10 if args.quick else 50),
    ]
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = "\n".join(
        [
            "# Benchmark results",
            "",
            f"Measured {stamp} on {platform.machine()} / Python {platform.python_version()} "
            "(2 shared cores). Ratios compare against a baseline measured in the same run.",
            "",
            *sections,
        ]
    )
    print(text)
    if args.write:
        RESULTS.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
