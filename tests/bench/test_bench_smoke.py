"""Smoke test of ``make bench``: every figure measured at the tiny size, so the harness cannot rot.

Runs ``python -m bench --size tiny`` as a user would (a subprocess, real PostgreSQL, real gateway
and clients, a throwaway cluster behind pgbouncer, a real synth) into a temporary folder, then
checks the SHAPE of what it wrote. No timing is asserted: tiny loads on a shared machine say
nothing about speed. What is asserted: each figure of issues 9 and 17 is there once with its target,
measured in at least 5 rounds whose order alternates, its ratio is the median round's (min and max
the extremes), ``met`` follows from that ratio and the target, and
RESULTS.md shows every figure and a profile for every missed one.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SMOKE_TIMEOUT_S = 1500
"""Every figure runs 5 alternating rounds and cold_start_asset bundles the real asset (pip + the 3.14
compiler): the tiny run took 7-8 minutes on the busy 2-core machine."""
EXPECTED_TARGETS = {  # the figures issues 9 and 17 ask for, and their targets (ratio = median round's)
    "cold_connect_postgres": "<= 1.15",
    "warm_connect_disconnect_postgres": "<= 1.25",
    "warm_connect_disconnect_sqlite": "<= 1.25",
    "notify_fanout_1000": "<= 1.3",  # within 1.3x of the in-flight limit
    "notify_cpu_per_message": "<= 1.2",
    "notify_users_per_second": "<= 1.5",
    "push_latency_p50": "<= 2",
    "push_latency_p99": "<= 2",
    "cleanup_1m_connect_p99": "<= 1.5",
    "gateway_5000_connections": "<= 1.5",  # server CPU per connection vs a bare server
    "storm_200_lambdas_pooled": ">= 0.8",
    "synth": "<= 3",
    "chaos_delivered": ">= 1",  # issue 16: every message exactly once through the chaos run
    "chaos_notify_to_app_p99": "<= 1000",
    "cold_start_asset": "<= 1.2",
}
FIELDS = ["name", "value", "unit", "baseline", "ratio", "ratio_min", "ratio_max", "rounds", "target", "met",
          "per_round"]
MIN_ROUNDS = 5


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    out = tmp_path_factory.mktemp("bench")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run([sys.executable, "-m", "bench", "--size", "tiny", "--out", str(out)], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=SMOKE_TIMEOUT_S)
    assert result.returncode == 0, f"python -m bench --size tiny failed:\n{result.stderr[-4000:]}"
    return json.loads((out / "results.json").read_text()), (out / "RESULTS.md").read_text()


def test_results_json_has_machine_date_and_every_figure_once(tiny_run: tuple[dict, str]) -> None:
    document, _ = tiny_run
    assert set(document) >= {"machine", "date", "figures"}
    assert "cores" in document["machine"] and "Python" in document["machine"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", document["date"])
    assert document["size"] == "tiny"
    names = [figure["name"] for figure in document["figures"]]
    assert sorted(names) == sorted(EXPECTED_TARGETS), names


def test_every_figure_is_a_measured_ratio_against_its_target(tiny_run: tuple[dict, str]) -> None:
    document, _ = tiny_run
    for figure in document["figures"]:
        name = figure["name"]
        assert list(figure) == FIELDS, name
        assert figure["target"] == EXPECTED_TARGETS[name], name
        assert isinstance(figure["unit"], str) and figure["unit"], name
        assert figure["baseline"] > 0, f"{name}: the baseline must be a measurement, got {figure['baseline']}"
        assert figure["value"] >= 0, name
        assert figure["rounds"] == len(figure["per_round"]) >= MIN_ROUNDS, name
        assert [r["first"] for r in figure["per_round"]] == ["value", "baseline"] * (figure["rounds"] // 2) + (
            ["value"] if figure["rounds"] % 2 else []), f"{name}: rounds not alternated"
        ratios = sorted(r["ratio"] for r in figure["per_round"])
        assert figure["ratio"] == pytest.approx(ratios[len(ratios) // 2], rel=1e-3, abs=1e-4), name  # odd count
        assert (figure["ratio_min"], figure["ratio_max"]) == (ratios[0], ratios[-1]), name
        operator, limit = figure["target"].split()
        inside = figure["ratio"] <= float(limit) if operator == "<=" else figure["ratio"] >= float(limit)
        if figure["met"]:
            assert inside, f"{name} is marked met outside its target: {figure}"
        elif name != "storm_200_lambdas_pooled":  # the storm also needs zero failed invocations
            assert not inside, f"{name} is marked missed inside its target: {figure}"


def test_results_md_shows_every_figure_and_profiles_each_missed_one(tiny_run: tuple[dict, str]) -> None:
    document, markdown = tiny_run
    for figure in document["figures"]:
        row = re.search(rf"^\| `{figure['name']}` \|.*\| (yes|\*\*no\*\*) \|$", markdown, re.MULTILINE)
        assert row, f"no summary row for {figure['name']}"
        assert (row[1] == "yes") == figure["met"], figure["name"]
    missed = [figure["name"] for figure in document["figures"] if not figure["met"]]
    if missed:
        profiles = markdown.split("## Profiles of missed targets", 1)
        assert len(profiles) == 2, "targets were missed but RESULTS.md has no profiles section"
        for name in missed:
            section = re.search(rf"### `{name}`\n\n```\n(.*?)```", profiles[1], re.DOTALL)
            assert section and "ncalls" in section[1], f"no cProfile table for missed figure {name}"
    for heading in ("Cold start", "Warm connect", "Notification fan-out", "Cleanup over a large backlog",
                    "Gateway under many connections", "Storm", "Synth", "Cold start of the bundled asset"):
        assert f"## {heading}" in markdown, heading
    assert "EXPLAIN" in markdown and "Index Cond" in markdown  # cleanup + per-email lookup plans
    assert "bare `websockets` broadcast" in markdown and "0 ms" in markdown  # fan-out extra rows
