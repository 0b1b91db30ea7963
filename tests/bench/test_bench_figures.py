"""The benchmark's figure arithmetic and its one round API: alternating rounds, median ratios,
targets, percentiles, and refusing unmeasured baselines or unalternated rounds."""
from __future__ import annotations

import json

import pytest

from bench.figures import (MIN_ROUNDS, Figure, Round, Section, Target, alternate, alternate_each, percentile,
                           profile_call, write_results)


def rounds_of(*pairs: tuple[float, float]) -> tuple[Round, ...]:
    """Alternated rounds with these (value, baseline) pairs, as :func:`alternate` would record them."""
    return tuple(Round(v, b, baseline_first=i % 2 == 1) for i, (v, b) in enumerate(pairs))


def steady(value: float, baseline: float) -> tuple[Round, ...]:
    return rounds_of(*[(value, baseline)] * MIN_ROUNDS)


def test_alternate_swaps_the_order_every_round_and_passes_the_round_number() -> None:
    calls: list[tuple[str, int]] = []

    def side(name: str, result: float):
        def measure(index: int) -> float:
            calls.append((name, index))
            return result
        return measure

    rounds = alternate(side("value", 2.0), side("baseline", 1.0), rounds=6)
    assert calls == [("value", 0), ("baseline", 0), ("baseline", 1), ("value", 1), ("value", 2), ("baseline", 2),
                     ("baseline", 3), ("value", 3), ("value", 4), ("baseline", 4), ("baseline", 5), ("value", 5)]
    assert [r.baseline_first for r in rounds] == [False, True] * 3
    assert all(r.ratio == 2.0 for r in rounds)


def test_alternate_each_measures_several_figures_per_side_and_refuses_mismatched_sides() -> None:
    found = alternate_each(lambda i: {"a": 4.0 + i, "b": 1.0}, lambda i: {"a": 2.0, "b": 2.0})
    assert set(found) == {"a", "b"} and len(found["a"]) == MIN_ROUNDS
    assert [r.value for r in found["a"]] == [4.0, 5.0, 6.0, 7.0, 8.0]
    with pytest.raises(ValueError, match="different figures"):
        alternate_each(lambda i: {"a": 1.0}, lambda i: {"b": 1.0})


def test_fewer_rounds_than_the_minimum_are_refused() -> None:
    with pytest.raises(ValueError, match=f"at least {MIN_ROUNDS}"):
        alternate(lambda i: 1.0, lambda i: 1.0, rounds=MIN_ROUNDS - 1)
    with pytest.raises(ValueError, match=f"at least {MIN_ROUNDS}"):
        Figure("f", "ms", rounds_of((1.0, 1.0)), Target(1.0))


def test_rounds_that_were_not_alternated_are_refused() -> None:
    same_order = tuple(Round(1.0, 1.0, baseline_first=False) for _ in range(MIN_ROUNDS))
    with pytest.raises(ValueError, match="round 1 is not alternated"):
        Figure("f", "ms", same_order, Target(1.0))


def test_the_median_round_decides_met_and_the_extremes_are_kept() -> None:
    # one burst of load (round 2: 9x) neither fails the figure nor hides in the record
    figure = Figure("f", "ms", rounds_of((1.1, 1.0), (1.0, 1.0), (9.0, 1.0), (1.2, 1.0), (0.5, 1.0)), Target(1.15))
    assert figure.ratio == pytest.approx(1.1) and figure.met
    assert figure.ratio_min == 0.5 and figure.ratio_max == 9.0
    assert figure.value == 1.1 and figure.baseline == 1.0
    slow = Figure("g", "ms", rounds_of((1.3, 1.0), (1.3, 1.0), (0.1, 1.0), (1.3, 1.0), (0.1, 1.0)), Target(1.15))
    assert slow.ratio == pytest.approx(1.3) and not slow.met  # two fast rounds do not carry it


def test_ratio_is_value_over_baseline_and_met_follows_the_target() -> None:
    at_most = Figure("f", "ms", steady(3.0, 2.0), Target(1.15))
    at_least = Figure("g", "conn/s", steady(3.0, 2.0), Target(0.5, at_most=False))
    assert at_most.ratio == 1.5 and not at_most.met
    assert at_least.ratio == 1.5 and at_least.met
    assert str(at_most.target) == "<= 1.15" and str(at_least.target) == ">= 0.5"


def test_extra_condition_can_fail_a_figure_inside_its_ratio() -> None:
    assert not Figure("storm", "ok/s", steady(10.0, 5.0), Target(1.0, at_most=False), extra_ok=False).met


@pytest.mark.parametrize("baseline", [0.0, -1.0, float("nan")])
def test_a_baseline_that_was_not_measured_is_refused(baseline: float) -> None:
    with pytest.raises(ValueError, match="baseline must be a positive measurement"):
        Figure("f", "ms", steady(1.0, baseline), Target(1.0))


def test_percentile_is_nearest_rank() -> None:
    samples = [float(i) for i in range(1, 101)]
    assert percentile(samples, 0.5) == 50.0
    assert percentile(samples, 0.99) == 99.0
    assert percentile([7.0], 0.99) == 7.0
    with pytest.raises(ValueError):
        percentile([], 0.5)


def test_write_results_shows_profiles_of_missed_figures_only(tmp_path) -> None:
    met = Figure("fast", "ms", steady(1.0, 1.0), Target(1.2))
    missed = Figure("slow", "ms", rounds_of((2.0, 1.0), (3.0, 1.0), (1.0, 1.0), (2.0, 1.0), (2.0, 1.0)), Target(1.2))
    profile = profile_call(lambda: sorted(range(1000), key=lambda i: -i))
    section = Section("s", [met, missed], "## Section\n", {"fast": "FAST PROFILE", "slow": profile})
    document = write_results([section], tmp_path, size="tiny")
    stored = json.loads((tmp_path / "results.json").read_text())
    assert stored == document
    assert [f["name"] for f in stored["figures"]] == ["fast", "slow"]
    slow = stored["figures"][1]
    assert {k: v for k, v in slow.items() if k != "per_round"} == {
        "name": "slow", "value": 2.0, "unit": "ms", "baseline": 1.0, "ratio": 2.0, "ratio_min": 1.0,
        "ratio_max": 3.0, "rounds": 5, "target": "<= 1.2", "met": False}
    assert [r["first"] for r in slow["per_round"]] == ["value", "baseline", "value", "baseline", "value"]
    assert [r["ratio"] for r in slow["per_round"]] == [2.0, 3.0, 1.0, 2.0, 2.0]
    markdown = (tmp_path / "RESULTS.md").read_text()
    assert "Targets missed: `slow`." in markdown
    assert "### `slow`" in markdown and "ncalls" in markdown
    assert "FAST PROFILE" not in markdown


def test_benchmarks_that_failed_are_named_in_both_files(tmp_path) -> None:
    section = Section("s", [Figure("fast", "ms", steady(1.0, 1.0), Target(1.2))], "## Section\n")
    document = write_results([section], tmp_path, size="full", failed=["storm"])
    assert document["failed_benchmarks"] == ["storm"]
    assert json.loads((tmp_path / "results.json").read_text())["failed_benchmarks"] == ["storm"]
    assert "**Benchmarks that failed to run** (no figures; see the run's output): storm." in (
        tmp_path / "RESULTS.md").read_text()
