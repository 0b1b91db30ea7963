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


def _scrub(fields: Mapping[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for key, value in fields.items():
        lowered = key.lower()
        if "email" in lowered and isinstance(value, str):
            clean[key] = mask_email(value)
        elif any(marker in lowered for marker in _SECRET_MARKERS) and value is not None:
            clean[key] = REDACTED
        else:
            clean[key] = value
    return clean


def _write(record: Mapping[str, Any]) -> None:
    # Look sys.stdout up at call time so tests capturing stdout see the line.
    sys.stdout.write(json.dumps(record, default=str, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def log(level: str, message: str, **fields: Any) -> None:
    """Write one JSON log line ``{"level", "message", "timestamp", ...fields}`` if enabled."""
    if LEVELS[level] < _threshold:
        return
    record = {"level": level, "message": message, "timestamp": round(time.time(), 3)}
    record.update(_scrub(fields))
    _write(record)


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
