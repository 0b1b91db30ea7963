"""The benchmark's figure arithmetic: ratios, targets, percentiles, and refusing unmeasured baselines."""
from __future__ import annotations

import json

import pytest

from bench.figures import Figure, Section, Target, percentile, profile_call, write_results


def test_ratio_is_value_over_baseline_and_met_follows_the_target() -> None:
    at_most = Figure("f", 3.0, "ms", 2.0, Target(1.15))
    at_least = Figure("g", 3.0, "conn/s", 2.0, Target(0.5, at_most=False))
    assert at_most.ratio == 1.5 and not at_most.met
    assert at_least.ratio == 1.5 and at_least.met
    assert str(at_most.target) == "<= 1.15" and str(at_least.target) == ">= 0.5"


def test_extra_condition_can_fail_a_figure_inside_its_ratio() -> None:
    assert not Figure("storm", 10.0, "ok/s", 5.0, Target(1.0, at_most=False), extra_ok=False).met


@pytest.mark.parametrize("baseline", [0.0, -1.0, float("nan")])
def test_a_baseline_that_was_not_measured_is_refused(baseline: float) -> None:
    with pytest.raises(ValueError, match="baseline must be a positive measurement"):
        Figure("f", 1.0, "ms", baseline, Target(1.0))


def test_percentile_is_nearest_rank() -> None:
    samples = [float(i) for i in range(1, 101)]
    assert percentile(samples, 0.5) == 50.0
    assert percentile(samples, 0.99) == 99.0
    assert percentile([7.0], 0.99) == 7.0
    with pytest.raises(ValueError):
        percentile([], 0.5)


def test_write_results_shows_profiles_of_missed_figures_only(tmp_path) -> None:
    met = Figure("fast", 1.0, "ms", 1.0, Target(1.2))
    missed = Figure("slow", 2.0, "ms", 1.0, Target(1.2))
    profile = profile_call(lambda: sorted(range(1000), key=lambda i: -i))
    section = Section("s", [met, missed], "## Section\n", {"fast": "FAST PROFILE", "slow": profile})
    document = write_results([section], tmp_path, size="tiny")
    stored = json.loads((tmp_path / "results.json").read_text())
    assert stored == document
    assert [f["name"] for f in stored["figures"]] == ["fast", "slow"]
    assert stored["figures"][1] == {"name": "slow", "value": 2.0, "unit": "ms", "baseline": 1.0, "ratio": 2.0,
                                    "target": "<= 1.2", "met": False}
    markdown = (tmp_path / "RESULTS.md").read_text()
    assert "Targets missed: `slow`." in markdown
    assert "### `slow`" in markdown and "ncalls" in markdown
    assert "FAST PROFILE" not in markdown


def test_benchmarks_that_failed_are_named_in_both_files(tmp_path) -> None:
    section = Section("s", [Figure("fast", 1.0, "ms", 1.0, Target(1.2))], "## Section\n")
    document = write_results([section], tmp_path, size="full", failed=["storm"])
    assert document["failed_benchmarks"] == ["storm"]
    assert json.loads((tmp_path / "results.json").read_text())["failed_benchmarks"] == ["storm"]
    assert "**Benchmarks that failed to run** (no figures; see the run's output): storm." in (
        tmp_path / "RESULTS.md").read_text()
