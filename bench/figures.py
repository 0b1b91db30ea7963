"""What a benchmark produces: figures (value against a same-run baseline and a target) and report text.

Every figure is a ratio of two numbers measured in the same run, in at least :data:`MIN_ROUNDS`
rounds whose order alternates (:func:`alternate`, the one round API every benchmark uses), so a
slow or busy machine moves both sides and a burst of load skews one round, not the verdict.
``results.json`` holds ``{"machine", "date", "figures": [...]}`` with one object per
:class:`Figure` (``name, value, unit, baseline, ratio, ratio_min, ratio_max, rounds, target, met,
per_round``: ``ratio`` is the median round's, and decides ``met``); ``RESULTS.md`` holds the
sections each benchmark writes, plus a profile wherever a target is missed.
"""
from __future__ import annotations

import cProfile
import io
import json
import math
import platform
import pstats
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Literal, Mapping

Size = Literal["tiny", "full"]
SIZES: tuple[Size, ...] = ("tiny", "full")
PROFILE_TOP = 15
"""Entries shown from a cProfile run (sorted by own time) when a target is missed."""
MIN_ROUNDS = 5
"""Every figure is measured in at least this many alternating rounds."""
ROUNDS = MIN_ROUNDS
"""Rounds :func:`alternate` runs unless told otherwise."""


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
class Round:
    """One round of a figure: both sides measured back to back, ``baseline_first`` saying which ran first."""

    value: float
    baseline: float
    baseline_first: bool

    @property
    def ratio(self) -> float:
        """``value / baseline`` of this round."""
        return self.value / self.baseline

    def to_json(self) -> dict[str, Any]:
        """The round as stored in ``results.json`` (``per_round``)."""
        return {"first": "baseline" if self.baseline_first else "value", "value": round(self.value, 6),
                "baseline": round(self.baseline, 6), "ratio": round(self.ratio, 4)}


Measure = Callable[[int], float]
"""One side of a round: given the round number, measure and return one number (in the figure's unit)."""
MeasureMany = Callable[[int], Mapping[str, float]]
"""One side of a round that measures several figures at once: figure name -> number."""


def alternate_each(value: MeasureMany, baseline: MeasureMany, *, rounds: int = ROUNDS) -> dict[str, tuple[Round, ...]]:
    """THE round API: run ``rounds`` rounds of both sides, the order swapped each round (round 0 runs
    ``value`` first, round 1 ``baseline`` first, ...), so drift and bursts of load from other
    processes hit both sides alike. Each side returns figure name -> number; both sides must name
    the same figures. Returns figure name -> its rounds, for :class:`Figure`."""
    if rounds < MIN_ROUNDS:
        raise ValueError(f"a figure needs at least {MIN_ROUNDS} rounds, asked for {rounds}")
    out: dict[str, list[Round]] = {}
    for index in range(rounds):
        baseline_first = index % 2 == 1
        if baseline_first:
            base = dict(baseline(index))
            ours = dict(value(index))
        else:
            ours = dict(value(index))
            base = dict(baseline(index))
        if set(ours) != set(base):
            raise ValueError(f"round {index}: the sides measured different figures: {sorted(ours)} vs {sorted(base)}")
        for name in ours:
            out.setdefault(name, []).append(Round(float(ours[name]), float(base[name]), baseline_first))
    return {name: tuple(found) for name, found in out.items()}


def alternate(value: Measure, baseline: Measure, *, rounds: int = ROUNDS) -> tuple[Round, ...]:
    """:func:`alternate_each` for one figure: each side returns one number."""
    return alternate_each(lambda i: {"": value(i)}, lambda i: {"": baseline(i)}, rounds=rounds)[""]


@dataclass(frozen=True)
class Figure:
    """One measured figure over its alternating :class:`Round` s (from :func:`alternate`).

    ``ratio`` is the median of the rounds' ratios (``ratio_min``/``ratio_max`` the extremes);
    ``value`` and ``baseline`` are the medians of each side. The figure is met only when the MEDIAN
    ratio meets the target, and it has at least :data:`MIN_ROUNDS` alternating rounds. ``extra_ok``
    is a further condition the target needs (e.g. zero failed invocations); a figure with
    ``extra_ok`` false is not met whatever its ratio.
    """

    name: str
    unit: str
    rounds: tuple[Round, ...]
    target: Target
    extra_ok: bool = True
    note: str = ""

    def __post_init__(self) -> None:
        if len(self.rounds) < MIN_ROUNDS:
            raise ValueError(f"{self.name}: {len(self.rounds)} rounds; every figure needs at least {MIN_ROUNDS}")
        for index, r in enumerate(self.rounds):
            if not r.baseline > 0:
                raise ValueError(f"{self.name}: baseline must be a positive measurement, got {r.baseline!r} "
                                 f"(round {index})")
            if not r.value >= 0:
                raise ValueError(f"{self.name}: value must be a non-negative measurement, got {r.value!r} "
                                 f"(round {index})")
            if r.baseline_first != (index % 2 == 1):
                raise ValueError(f"{self.name}: round {index} is not alternated (measure with figures.alternate)")

    @property
    def value(self) -> float:
        """Median of the rounds' values."""
        return statistics.median(r.value for r in self.rounds)

    @property
    def baseline(self) -> float:
        """Median of the rounds' baselines."""
        return statistics.median(r.baseline for r in self.rounds)

    @property
    def ratio(self) -> float:
        """Median of the rounds' ``value / baseline``: what the target is judged on."""
        return statistics.median(r.ratio for r in self.rounds)

    @property
    def ratio_min(self) -> float:
        """The lowest round ratio."""
        return min(r.ratio for r in self.rounds)

    @property
    def ratio_max(self) -> float:
        """The highest round ratio."""
        return max(r.ratio for r in self.rounds)

    @property
    def met(self) -> bool:
        """Whether the median ratio is within the target (and ``extra_ok`` holds)."""
        return self.extra_ok and self.target.met(self.ratio)

    def to_json(self) -> dict[str, Any]:
        """The figure as stored in ``results.json``."""
        return {
            "name": self.name,
            "value": round(self.value, 6),
            "unit": self.unit,
            "baseline": round(self.baseline, 6),
            "ratio": round(self.ratio, 4),
            "ratio_min": round(self.ratio_min, 4),
            "ratio_max": round(self.ratio_max, 4),
            "rounds": len(self.rounds),
            "target": str(self.target),
            "met": self.met,
            "per_round": [r.to_json() for r in self.rounds],
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
    """Markdown table of every figure (median ratio, and the range over its rounds)."""
    lines = [
        "| figure | value | baseline | unit | ratio (median) | rounds: min-max | target | met |",
        "| --- | ---: | ---: | --- | ---: | --- | --- | --- |",
    ]
    for f in figures:
        lines.append(
            f"| `{f.name}` | {f.value:.4g} | {f.baseline:.4g} | {f.unit} | {f.ratio:.2f} | "
            f"{len(f.rounds)}: {f.ratio_min:.2f}-{f.ratio_max:.2f} | {f.target} | {'yes' if f.met else '**no**'} |"
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

