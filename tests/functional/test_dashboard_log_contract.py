"""The dashboard's cleanup widget counts fields of the function's real log line (cdk_app reads no runtime code)."""
from __future__ import annotations

import re
from typing import Any

import pytest

from cdk_app import runtime_contract as rc
from cdk_app.dashboard import cleanup_query
from tests.events import load_event
from tests.functional.helpers import invocation_lines, invoke, log_lines


def _insights_filter(query: str, line: dict[str, Any]) -> bool:
    """Evaluate the query's ``filter`` clause (the form cleanup_query writes) against one log line."""
    clause = query.split("|")[0].removeprefix("filter ").strip()
    message = re.search(r'message = "([^"]+)"', clause)
    routes = re.search(r"route in \[([^\]]+)\]", clause)
    outcome = re.search(r'outcome = "([^"]+)"', clause)
    assert message and routes and outcome, clause
    wanted_routes = [r.strip().strip('"') for r in routes.group(1).split(",")]
    return line.get("message") == message.group(1) and line.get("route") in wanted_routes and line.get("outcome") == outcome.group(1)


@pytest.mark.parametrize("event", [{"action": "cleanup"}, load_event("scheduled_event")], ids=["direct", "scheduled"])
def test_the_runtimes_cleanup_log_line_is_what_the_cleanup_widget_counts(
    event: dict, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path
) -> None:
    """The widget sums fields of the function's real log line: run a real cleanup and match it."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'connections.db'}")
    monkeypatch.setenv("AUTO_MIGRATE", "true")
    capsys.readouterr()
    result = invoke(event)
    assert result["ok"] is True
    (line,) = invocation_lines(log_lines(capsys))
    assert _insights_filter(cleanup_query(), line)
    for field in rc.CLEANUP_LOG_COUNTS:
        assert f"sum({field})" in cleanup_query()
        assert line[field] == result[field]
