"""The harness at a tiny size, as a user runs it: every figure in alternating rounds, none skipped.

``python -m bench --size tiny --only warm_path`` (real handler, real SQLite and PostgreSQL) writes
``results.json``; each figure must carry at least :data:`~bench.figures.MIN_ROUNDS` rounds, the
first one run with the handler first, then the order swapped every round, and its ratio must be
the median round's. No timing is asserted.
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from bench.figures import MIN_ROUNDS

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 300


def test_a_tiny_run_measures_each_figure_in_alternating_rounds(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "bench", "--size", "tiny", "--only", "warm_path",
                             "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert result.returncode == 0, result.stderr[-4000:]
    figures = json.loads((tmp_path / "results.json").read_text())["figures"]
    assert sorted(f["name"] for f in figures) == ["warm_connect_disconnect_postgres", "warm_connect_disconnect_sqlite"]
    for figure in figures:
        rounds = figure["per_round"]
        assert figure["rounds"] == len(rounds) >= MIN_ROUNDS, figure["name"]
        assert [r["first"] for r in rounds] == [("value", "baseline")[i % 2] for i in range(len(rounds))]
        assert figure["ratio"] == pytest.approx(statistics.median(r["value"] / r["baseline"] for r in rounds), rel=1e-3)
        assert figure["ratio_min"] <= figure["ratio"] <= figure["ratio_max"]
    markdown = (tmp_path / "RESULTS.md").read_text()
    assert "| ratio (median) | rounds: min-max |" in markdown
