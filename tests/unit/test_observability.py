"""JSON log lines (masking, redaction, levels) and the EMF metric line shape."""
from __future__ import annotations

import json

import pytest

from websocket_service import observability as obs


@pytest.fixture(autouse=True)
def _info_level():
    obs.configure("INFO")
    yield
    obs.configure("INFO")


def _lines(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


@pytest.mark.parametrize(
    ("email", "masked"),
    [("alice@example.com", "a***@example.com"), ("@example.com", "***@example.com"), ("nonsense", "***"), (None, None)],
)
def test_mask_email(email, masked):
    assert obs.mask_email(email) == masked


def test_log_line_masks_emails_and_redacts_secrets(capsys):
    obs.log("INFO", "invocation", route="$connect", email="alice@example.com", user_email="bob@example.org",
            token="v1.123.sig", connect_token_secret="hunter2", password="pw", connection_id="abc=")
    (line,) = _lines(capsys)
    assert line["level"] == "INFO" and line["message"] == "invocation"
    assert line["email"] == "a***@example.com" and line["user_email"] == "b***@example.org"
    assert line["token"] == line["connect_token_secret"] == line["password"] == obs.REDACTED
    assert line["connection_id"] == "abc=" and line["route"] == "$connect"
    raw = json.dumps(line)
    assert "alice" not in raw and "hunter2" not in raw and "v1.123.sig" not in raw


def test_levels_below_the_threshold_are_dropped(capsys):
    obs.configure("WARNING")
    obs.log("INFO", "quiet")
    obs.log("ERROR", "loud")
    assert [line["message"] for line in _lines(capsys)] == ["loud"]


def test_emf_line_follows_the_embedded_metric_format(capsys):
    record = obs.emit_metric("WebSocketNotifications", "FailedDeliveries", 3)
    (line,) = _lines(capsys)
    assert line == record
    directive = line["_aws"]["CloudWatchMetrics"][0]
    assert isinstance(line["_aws"]["Timestamp"], int) and line["_aws"]["Timestamp"] > 1_600_000_000_000
    assert directive == {"Namespace": "WebSocketNotifications", "Dimensions": [[]],
                         "Metrics": [{"Name": "FailedDeliveries", "Unit": "Count"}]}
    assert line["FailedDeliveries"] == 3


def test_emf_dimensions_are_top_level_members(capsys):
    obs.emit_metric("NS", "FailedDeliveries", 1, dimensions={"Service": "websocket"})
    (line,) = _lines(capsys)
    assert line["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Service"]]
    assert line["Service"] == "websocket"
