"""The property tests' case count in the terminal summary (profile and counts: ``counts.py``)."""
from __future__ import annotations

from tests.property.counts import CASES


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001 - pytest hook signature
    """Report how many generated cases really ran (a deselected test shows 0)."""
    if not CASES:
        return
    terminalreporter.write_sep("-", "hypothesis property cases")
    terminalreporter.write_line(
        f"handler events: {CASES['websocket'] + CASES['any']} (websocket {CASES['websocket']}, "
        f"any payload {CASES['any']}), each on SQLite and PostgreSQL; "
        f"wsctl local over real sockets: {CASES['gateway']} (replied {CASES['gateway:replied']}, refused "
        f"{CASES['gateway:refused']}, closed 1009 {CASES['gateway:too_big']}, binary closed 1003 {CASES['gateway:binary']})")
