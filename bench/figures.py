"""What a benchmark produces: figures (value against a same-run baseline and a target) and report text.

Every figure is a ratio of two numbers measured in the same run, so a slow or busy machine moves
both sides. ``results.json`` holds ``{"machine", "date", "figures": [...]}`` with one object per
:class:`Figure` (``name, value, unit, baseline, ratio, target, met``); ``RESULTS.md`` holds the
sections each benchmark writes, plus a profile wherever a target is missed.
"""
from __future__ import annotations

import cProfile
import io
import json
import math
import platform
import pstats
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Literal

Size = Literal["tiny", "full"]
SIZES: tuple[Size, ...] = ("tiny", "full")
PROFILE_TOP = 15
"""Entries shown from a cProfile run (sorted by own time) when a target is missed."""


@dataclass(frozen=True)
class Target:
    """A bound on a figure's ratio: ``<= limit`` (``at_most``) or ``>= limit``."""

    limit: float
    at_most: bool = True

    def met(self, ratio: float) -> bool:
        """Whether ``ratio`` is inside the bound."""
        return ratio <= self.limit if self.at_most else ratio >= self.limit

    def __str__(self) -> str:
        return f"{'<=' if self.at_most else '>='} {self.limit:g}"


@dataclass(frozen=True)
class Figure:
    """One measured figure: ``value`` against ``baseline`` (same unit), ``ratio`` = value / baseline.

    ``extra_ok`` is a further condition the target needs (e.g. zero failed invocations); a figure
    with ``extra_ok`` false is not met whatever its ratio.
    """

    name: str
    value: float
    unit: str
    baseline: float
    target: Target
    extra_ok: bool = True
    note: str = ""

    def __post_init__(self) -> None:
        if not self.baseline > 0:
            raise ValueError(f"{self.name}: baseline must be a positive measurement, got {self.baseline!r}")
        if not self.value >= 0:
            raise ValueError(f"{self.name}: value must be a non-negative measurement, got {self.value!r}")

    @property
    def ratio(self) -> float:
        """``value / baseline``."""
        return self.value / self.baseline

    @property
    def met(self) -> bool:
        """Whether the ratio is within the target (and ``extra_ok`` holds)."""
        return self.extra_ok and self.target.met(self.ratio)

    def to_json(self) -> dict[str, Any]:
        """The figure as stored in ``results.json``."""
        return {
            "name": self.name,
            "value": round(self.value, 6),
            "unit": self.unit,
            "baseline": round(self.baseline, 6),
            "ratio": round(self.ratio, 4),
            "target": str(self.target),
            "met": self.met,
        }


@dataclass
class Section:
    """One benchmark's output: its figures, its markdown, and profiles to show if a target is missed."""

    title: str
    figures: list[Figure]
    markdown: str
    profiles: dict[str, str] = field(default_factory=dict)
    """Figure name -> profile text of the measured operation (taken when the target was missed)."""


def profile_call(function: Callable[[], Any], *, top: int = PROFILE_TOP) -> str:
    """Run ``function`` under cProfile; return the ``top`` entries by own time."""
    profiler = cProfile.Profile()
    profiler.runcall(function)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("tottime").print_stats(top)
    return trim_profile(out.getvalue())


def trim_profile(text: str) -> str:
    """The table part of a pstats printout (from the column header on)."""
    lines = text.strip().splitlines()
    for i, line in enumerate(lines):
        if line.lstrip().startswith("ncalls"):
            return "\n".join(lines[i:])
    return "\n".join(lines)


def machine() -> str:
    """A one-line description of this machine."""
    import os

    return (
        f"{platform.machine()} / {os.cpu_count()} cores / Python {platform.python_version()} / "
        f"{platform.system()} {platform.release()}"
    )


def results_document(sections: list[Section], *, size: Size, date: datetime | None = None) -> dict[str, Any]:
    """The ``results.json`` document for ``sections``."""
    date = date or datetime.now(timezone.utc)
    return {
        "machine": machine(),
        "date": date.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "size": size,
        "figures": [figure.to_json() for section in sections for figure in section.figures],
    }


def summary_table(figures: list[Figure]) -> str:
    """Markdown table of every figure."""
    lines = [
        "| figure | value | baseline | unit | ratio | target | met |",
        "| --- | ---: | ---: | --- | ---: | --- | --- |",
    ]
    for f in figures:
        lines.append(
            f"| `{f.name}` | {f.value:.4g} | {f.baseline:.4g} | {f.unit} | {f.ratio:.2f} | {f.target} | "
            f"{'yes' if f.met else '**no**'} |"
        )
    return "\n".join(lines)


def results_markdown(sections: list[Section], document: dict[str, Any], missed_profiles: dict[str, str],
                     failed: list[str] | None = None) -> str:
    """``RESULTS.md``: summary table, each section, then profiles of missed targets."""
    figures = [figure for section in sections for figure in section.figures]
    missed = [f.name for f in figures if not f.met]
    parts = [
        "# Benchmark results",
        "",
        f"Measured {document['date']} on {document['machine']} (size `{document['size']}`; the machine is "
        "shared, so only same-run ratios mean anything). Written by `make bench` "
        "(`python -m bench`); machine-readable copy: `bench/results.json`.",
        "",
        summary_table(figures),
        "",
        f"Targets missed: {', '.join(f'`{name}`' for name in missed)}." if missed else "Every target is met.",
        "",
        *([f"**Benchmarks that failed to run** (no figures; see the run's output): {', '.join(failed)}.", ""]
          if failed else []),
    ]
    for section in sections:
        parts += [section.markdown.rstrip(), ""]
    if missed_profiles:
        parts += ["## Profiles of missed targets", "",
                  "cProfile of the measured operation, top entries by own time (`tottime`).", ""]
        for name, text in missed_profiles.items():
            parts += [f"### `{name}`", "", "```", text.rstrip(), "```", ""]
    return "\n".join(parts).rstrip() + "\n"


def write_results(sections: list[Section], out_dir: Path, *, size: Size, failed: list[str] | None = None) -> dict[str, Any]:
    """Write ``results.json`` and ``RESULTS.md`` into ``out_dir``; return the JSON document.
    ``failed`` names benchmarks that raised (listed in both files)."""
    document = results_document(sections, size=size)
    if failed:
        document["failed_benchmarks"] = list(failed)
    missed_profiles = {
        figure.name: section.profiles[figure.name]
        for section in sections
        for figure in section.figures
        if not figure.met and figure.name in section.profiles
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    (out_dir / "RESULTS.md").write_text(results_markdown(sections, document, missed_profiles, failed), encoding="utf-8")
    return document


def percentile(samples: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``samples`` by the nearest-rank method."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    rank = max(1, math.ceil(round(q * len(ordered), 9)))  # round: 0.99 * 100 is 99.00000000000001
    return ordered[min(rank, len(ordered)) - 1]

