"""SECURITY.md names a check for every claim: every test and file it names must exist.

``tests/x.py::test_name`` names a test; a following ``::other_test`` is another test of the same
file. A renamed or deleted test therefore fails here until SECURITY.md says what backs the claim now.
"""
from __future__ import annotations

import re

from cdk_app.runtime_contract import PROJECT_ROOT

SECURITY_MD = PROJECT_ROOT / "SECURITY.md"
REFERENCE = re.compile(r"`((?:tests|scripts|cdk_app)/[\w/.-]+)?(?:::(\w+))?`")


def named_checks() -> list[tuple[str, str | None]]:
    """(file, test name or None) for every reference in SECURITY.md, in order."""
    found: list[tuple[str, str | None]] = []
    current: str | None = None
    for match in REFERENCE.finditer(SECURITY_MD.read_text()):
        path, test = match.groups()
        if path:
            current = path
        if path or test:
            assert current is not None, f"'::{test}' has no file before it"
            found.append((current, test))
    return found


def test_security_md_names_checks_that_exist() -> None:
    checks = named_checks()
    assert len([t for _, t in checks if t]) >= 30, "SECURITY.md should name the test behind each claim"
    for path, test in checks:
        file = PROJECT_ROOT / path
        assert file.exists(), f"SECURITY.md names {path}, which does not exist"
        if test:
            assert re.search(rf"^(async )?def {test}\(", file.read_text(), re.MULTILINE), f"{path}::{test} does not exist"


def test_every_test_file_of_the_security_checks_is_named() -> None:
    named = {path for path, _ in named_checks()}
    for path in ("tests/infrastructure/test_checkov.py", "tests/security/test_static_analysis.py",
                 "tests/functional/test_security_claims.py", "tests/infrastructure/test_security_posture.py",
                 "tests/infrastructure/test_stack_encryption.py", "scripts/audit-dependencies",
                 "tests/security/test_dependency_audit.py"):
        assert path in named, path
