"""Structured JSON logs and CloudWatch Embedded Metric Format (EMF) metrics, on stdout.

Lambda ships every stdout line to CloudWatch Logs, so one JSON object per line is both the log and
(for EMF lines) the metric. Rules enforced here, not at each call site:

* any field whose name contains ``email`` is masked (``alice@example.com`` -> ``a***@example.com``);
* any field whose name suggests a secret (token, secret, password, authorization) is replaced by
  ``"[redacted]"``, so a careless call site cannot leak one.
"""
from __future__ import annotations

import json
import sys
import time
from typing import Any, Mapping

LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40}
_SECRET_MARKERS = ("token", "secret", "password", "authorization")
REDACTED = "[redacted]"

_threshold = LEVELS["INFO"]


def configure(level: str) -> None:
    """Set the minimum level written (``DEBUG``, ``INFO``, ``WARNING`` or ``ERROR``)."""
    global _threshold
    _threshold = LEVELS[level.upper()]


def mask_email(email: str | None) -> str | None:
    """Mask an address for logs: keep the first character of the local part and the domain.

    ``"alice@example.com"`` -> ``"a***@example.com"``; text without ``@`` becomes ``"***"``.
    """
    if email is None:
        return None
    local, at, domain = str(email).partition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain}"


_KEY_RULES: dict[str, tuple[bool, bool]] = {}
"""Field name -> (names an email, names a secret): field names come from the code, a handful."""
_MAX_KEY_RULES = 1024


def _key_rule(key: str) -> tuple[bool, bool]:
    rule = _KEY_RULES.get(key)
    if rule is None:
        lowered = key.lower()
        rule = ("email" in lowered, any(marker in lowered for marker in _SECRET_MARKERS))
        if len(_KEY_RULES) < _MAX_KEY_RULES:
            _KEY_RULES[key] = rule
    return rule


def _scrub_into(record: dict[str, Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    """Add ``fields`` to ``record``, emails masked and secrets redacted; return ``record``."""
    for key, value in fields.items():
        email, secret = _key_rule(key)
        if email and isinstance(value, str):
            record[key] = mask_email(value)
        elif secret and value is not None:
            record[key] = REDACTED
        else:
            record[key] = value
    return record


_ENCODER = json.JSONEncoder(default=str, separators=(",", ":"))
"""What ``json.dumps(record, default=str, separators=(",", ":"))`` builds on every call, built once."""


def _write(record: Mapping[str, Any]) -> None:
    # Look sys.stdout up at call time so tests capturing stdout see the line.
    out = sys.stdout
    out.write(_ENCODER.encode(record) + "\n")
    out.flush()


def log(level: str, message: str, **fields: Any) -> None:
    """Write one JSON log line ``{"level", "message", "timestamp", ...fields}`` if enabled."""
    if LEVELS[level] < _threshold:
        return
    _write(_scrub_into({"level": level, "message": message, "timestamp": round(time.time(), 3)}, fields))


def emit_metric(
    namespace: str,
    name: str,
    value: float,
    *,
    unit: str = "Count",
    dimensions: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Print one EMF line for ``name`` and return the record written.

    Follows the CloudWatch embedded metric format: ``_aws.Timestamp`` (epoch milliseconds) and
    ``_aws.CloudWatchMetrics = [{Namespace, Dimensions, Metrics: [{Name, Unit}]}]``; the metric
    value and dimension values are top-level members. Without dimensions, ``Dimensions`` is
    ``[[]]`` (one dimension set with no dimensions: the metric is aggregated across everything).
    """
    dims = dict(dimensions or {})
    record: dict[str, Any] = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [sorted(dims)],
                    "Metrics": [{"Name": name, "Unit": unit}],
                }
            ],
        },
        **dims,
        name: value,
    }
    _write(record)
    return record
