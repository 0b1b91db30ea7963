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


_NAMES_EMAIL, _NAMES_SECRET = 1, 2
_KEY_RULES: dict[str, int] = {}
"""Field name -> what it names (:data:`_NAMES_EMAIL` | :data:`_NAMES_SECRET`, 0: neither); field
names come from the code, a handful, so each is classified once."""
_MAX_KEY_RULES = 1024


def _key_rule(key: str) -> int:
    lowered = key.lower()
    rule = (_NAMES_EMAIL if "email" in lowered else 0) | (
        _NAMES_SECRET if any(marker in lowered for marker in _SECRET_MARKERS) else 0)
    if len(_KEY_RULES) < _MAX_KEY_RULES:
        _KEY_RULES[key] = rule
    return rule


def _scrub_into(record: dict[str, Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    """Add ``fields`` to ``record``, emails masked and secrets redacted; return ``record``."""
    rules = _KEY_RULES
    for key, value in fields.items():
        try:
            rule = rules[key]
        except KeyError:
            rule = _key_rule(key)
        if not rule:
            record[key] = value
        elif rule & _NAMES_EMAIL and isinstance(value, str):
            record[key] = mask_email(value)
        elif rule & _NAMES_SECRET and value is not None:
            record[key] = REDACTED
        else:
            record[key] = value
    return record


_ENCODER = json.JSONEncoder(default=str, separators=(",", ":"))
"""Encodes as ``json.dumps(record, default=str, separators=(",", ":"))`` does."""
_MARKERS: dict[int, Any] = {}
_C_ENCODE = json.encoder.c_make_encoder and json.encoder.c_make_encoder(
    _MARKERS, str, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, True)
""":data:`_ENCODER`'s C encoder, built once instead of on every line (None without the C module)."""


def _write(record: Mapping[str, Any]) -> None:
    if _C_ENCODE is None:
        line = _ENCODER.encode(record)
    else:
        try:
            line = "".join(_C_ENCODE(record, 0))
        except BaseException:
            _MARKERS.clear()  # an encode that failed midway leaves its containers marked
            raise
    # Look sys.stdout up at call time so tests capturing stdout see the line.
    out = sys.stdout
    out.write(line + "\n")
    out.flush()


def log(level: str, message: str, **fields: Any) -> None:
    """Write one JSON log line ``{"level", "message", "timestamp", ...fields}`` if enabled."""
    log_fields(level, message, fields)


def log_fields(level: str, message: str, fields: Mapping[str, Any]) -> None:
    """:func:`log` with the fields in one mapping (a caller that builds them anyway passes no copy)."""
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
