"""``make help``: every target a user runs is listed with its one-line description."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _phony_targets() -> list[str]:
    (line,) = [line for line in (ROOT / "Makefile").read_text().splitlines() if line.startswith(".PHONY:")]
    return line.split(":", 1)[1].split()


def test_make_help_lists_every_target_with_its_description() -> None:
    if shutil.which("make") is None:
        pytest.fail("make is missing: apt-get install -y make")
    result = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    listed = dict(re.findall(r"^  make (\S+)\s+(.+)$", result.stdout, flags=re.MULTILINE))
    assert set(_phony_targets()) <= set(listed), "every .PHONY target needs a '## target: description' line"
    documented = dict(re.findall(r"^## ([a-z-]+): (.+)$", (ROOT / "Makefile").read_text(), flags=re.MULTILINE))
    assert listed == documented
    assert listed["synth"].startswith("the main job.")
    assert all(text.rstrip().endswith((".", ")")) for text in listed.values()), listed  # whole sentences, not cut
