"""The README's Node notify snippet is the code the tests run (clients/js/examples/notify.js), and
the files the README points backend and frontend teams at exist."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text("utf-8")


def _section(title: str) -> str:
    start = README.index(f"## {title}")
    return README[start:README.index("\n## ", start + 1)]


def test_readme_node_notify_snippet_is_the_tested_example() -> None:
    blocks = re.findall(r"```js\n(.*?)```", _section("Backend: minting tokens and notifying"), re.S)
    invoke = [b for b in blocks if "InvokeCommand" in b]
    assert len(invoke) == 1
    example = (ROOT / "clients" / "js" / "examples" / "notify.js").read_text("utf-8")
    normalised = re.sub(r"\s+", " ", example)
    for line in invoke[0].strip().splitlines():
        assert re.sub(r"\s+", " ", line.strip()) in normalised, line


def test_readme_points_at_files_that_exist() -> None:
    text = _section("Frontend: connecting a client") + _section("Backend: minting tokens and notifying")
    for path in sorted(set(re.findall(r"`?(clients/[\w./-]+\.(?:md|js|java|json))\b", text))):
        assert (ROOT / path).is_file(), path
