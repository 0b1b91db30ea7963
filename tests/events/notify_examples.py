"""Notify payloads the handler accepts and refuses: the examples the notify schema
(lambda_src/websocket_service/schemas/notify.schema.json) must agree with, shared by the handler's
validation tests (tests/functional/test_notify_schema.py) and the published copy's
(tests/infrastructure/test_notify_schema_registry.py). ``action`` is left out: the direct invoke
adds ``"action": "notify"``; an EventBridge event carries the rest as its ``detail``."""
from __future__ import annotations

from typing import Any

MAX_TEXT = 131_072
BASE: dict[str, Any] = {"email": "a@example.com", "type": "email-verification",
                        "message": {"type": "email-verified", "email": "a@example.com"}}

VALID: dict[str, dict[str, Any]] = {
    "object message": BASE,
    "text message": {**BASE, "message": "verified"},
    "empty text": {**BASE, "message": ""},
    "array message": {**BASE, "message": [1, "two", None]},
    "number message": {**BASE, "message": 42},
    "boolean message": {**BASE, "message": False},
    "object with its own messageId": {**BASE, "message": {"messageId": "theirs"}},
    "upper-case email": {**BASE, "email": "Ada.Lovelace@Example.COM"},
    "subdomain email": {**BASE, "email": "a+tag@mail.example.co.uk"},
    "general type": {**BASE, "type": "general"},
    "longest text (ids go to objects only)": {**BASE, "message": "x" * MAX_TEXT},
}
"""Accepted by the handler AND by the schema (and by its published draft-04 copy)."""

INVALID: dict[str, dict[str, Any]] = {
    "no email": {"type": BASE["type"], "message": BASE["message"]},
    "no type": {"email": BASE["email"], "message": BASE["message"]},
    "no message": {"email": BASE["email"], "type": BASE["type"]},
    "null email": {**BASE, "email": None},
    "numeric type": {**BASE, "type": 5},
    "null message": {**BASE, "message": None},
    "email without @": {**BASE, "email": "nope"},
    "email with two @": {**BASE, "email": "a@b@example.com"},
    "email with a space": {**BASE, "email": "a b@example.com"},
    "email domain without a dot": {**BASE, "email": "a@localhost"},
    "empty email": {**BASE, "email": ""},
    "empty type": {**BASE, "type": ""},
    "text over the size limit": {**BASE, "message": "x" * (MAX_TEXT + 1)},
}
"""Refused by the handler (4xx, WARNING) AND by the schema."""

NOT_ALLOWED_TYPE: dict[str, Any] = {**BASE, "type": "admin"}
"""Well-formed, but not one of the deployment's types: the handler refuses it, the generic schema
cannot know the deployment's types, the stack's published copy (an enum) refuses it."""
