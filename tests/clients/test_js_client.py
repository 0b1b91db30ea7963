"""Runs the JS client's own tests (``node --test clients/js/test/``) inside the Python suite, so
``make test`` runs them: they start ``wsctl local`` themselves and use the pinned ``ws`` package.
Any failing Node test fails this one, with Node's report in the message."""
from __future__ import annotations

import os

import pytest

from tests.node_run import ROOT, run_node


@pytest.mark.parametrize("test_file", sorted(p.name for p in (ROOT / "clients" / "js" / "test").glob("*.test.js")))
def test_node_tests_pass(test_file: str) -> None:
    if not (ROOT / "node_modules" / "ws").is_dir():
        pytest.fail("node_modules/ws is missing: run `make setup`")
    result = run_node(["--test", "--test-reporter=spec", f"clients/js/test/{test_file}"], timeout_s=600,
                      env={**os.environ, "NO_COLOR": "1"})
    assert result.returncode == 0, f"node --test {test_file} failed:\n{result.stdout[-8000:]}\n{result.stderr[-2000:]}"
