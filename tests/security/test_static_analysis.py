"""bandit (static security lint) over the runtime code: no finding, and every suppression says why.

bandit runs from its own pinned virtualenv, ``.venv-tools`` (``make tools``; ``make test`` makes it),
over ``lambda_src/``, ``local_gateway/`` and ``wsctl/`` at every severity and confidence. A finding is fixed,
or suppressed on its line as ``# nosec BXXX # reason`` (a bare ``# nosec`` is refused here).
"""
from __future__ import annotations

import json
import re
import subprocess

import pytest

from cdk_app.runtime_contract import PROJECT_ROOT

BANDIT = PROJECT_ROOT / ".venv-tools" / "bin" / "bandit"
SCANNED = ("lambda_src", "local_gateway", "wsctl")
NOSEC = re.compile(r"#\s*nosec\b(?P<rest>.*)$")
REASONED_NOSEC = re.compile(r"\s+(B\d{3})(,B\d{3})*\s+#\s+\S.{14,}")
"""``# nosec B608 # a reason of at least 15 characters``: named checks, then the reason."""


@pytest.fixture(scope="module")
def bandit_report() -> dict:
    if not BANDIT.exists():
        pytest.fail(f"bandit is not installed at {BANDIT}: run `make tools` (`make test` does it first)")
    run = subprocess.run(
        [str(BANDIT), "--recursive", *SCANNED, "--format", "json", "--quiet"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    assert run.returncode in (0, 1), f"bandit crashed ({run.returncode}):\n{run.stderr[-4000:]}"
    return json.loads(run.stdout)


def test_bandit_finds_nothing_in_the_runtime_code(bandit_report: dict) -> None:
    assert bandit_report["errors"] == []
    assert bandit_report["metrics"]["_totals"]["loc"] > 2000, "bandit scanned (almost) nothing"
    findings = [
        f"{r['filename']}:{r['line_number']} {r['test_id']} ({r['issue_severity']}/{r['issue_confidence']}) {r['issue_text']}"
        for r in bandit_report["results"]
    ]
    assert findings == [], "fix each, or suppress it on its line with '# nosec BXXX # reason'"


def test_every_suppression_names_its_check_and_gives_a_reason(bandit_report: dict) -> None:
    suppressions = []
    for folder in SCANNED:
        for path in sorted((PROJECT_ROOT / folder).rglob("*.py")):
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                match = NOSEC.search(line)
                if match:
                    suppressions.append(f"{path.relative_to(PROJECT_ROOT)}:{number}")
                    assert REASONED_NOSEC.match(match["rest"]), (
                        f"{path.relative_to(PROJECT_ROOT)}:{number}: write '# nosec BXXX # why', not {match.group(0)!r}"
                    )
    # Each suppression silenced at least one real finding (bandit counts them as skipped tests).
    assert bandit_report["metrics"]["_totals"]["skipped_tests"] >= len(suppressions) > 0
