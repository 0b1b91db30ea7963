"""The notify contract as JSON Schema (draft 2020-12), written once in the asset and checked here
against the handler: every example the handler accepts validates, every one it refuses does not.
The runtime never imports ``jsonschema`` (a test dependency only)."""
from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.events import load_event
from tests.events.notify_examples import BASE, INVALID, NOT_ALLOWED_TYPE, VALID
from tests.functional.helpers import invoke
from websocket_service import handler as handler_module

PACKAGE_DIR = Path(handler_module.__file__).parent
SCHEMA_FILE = PACKAGE_DIR / "schemas" / "notify.schema.json"


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    return jsonschema.Draft202012Validator(schema)


def direct(payload: dict[str, Any]) -> dict[str, Any]:
    return {"action": "notify", **payload}


def test_the_repository_fixtures_are_valid_notify_payloads(validator) -> None:
    validator.validate(load_event("direct_notify"))
    validator.validate(load_event("eventbridge_notify")["detail"])


@pytest.mark.parametrize("name", sorted(VALID))
def test_every_payload_the_handler_accepts_validates(service_env, management_api, validator, name) -> None:
    validator.validate(VALID[name])  # as an EventBridge detail
    validator.validate(direct(VALID[name]))  # as a direct invoke
    assert invoke(direct(VALID[name]))["ok"] is True
    event = {**load_event("eventbridge_notify"), "detail": VALID[name]}
    assert invoke(event)["ok"] is True


@pytest.mark.parametrize("name", sorted(INVALID))
def test_every_payload_the_handler_refuses_fails_the_schema(service_env, management_api, validator, name) -> None:
    assert not validator.is_valid(INVALID[name])
    assert not validator.is_valid(direct(INVALID[name]))
    result = invoke(direct(INVALID[name]))
    assert result["ok"] is False and result["error"] in {"invalid_request", "invalid_email", "missing_email",
                                                          "invalid_type", "missing_type", "payload_too_large"}
    assert management_api.requests == []


def test_an_unknown_action_or_an_extra_field_fails_the_schema(validator) -> None:
    assert not validator.is_valid({"action": "cleanup", **BASE})
    assert not validator.is_valid({**BASE, "emails": ["b@example.com"]})


def test_a_type_outside_the_deployment_is_refused_by_the_handler(service_env, management_api, validator) -> None:
    # The generic schema accepts any well-formed type; the stack's published copy lists its own types
    # (tests/infrastructure/test_notify_schema_registry.py).
    assert validator.is_valid(NOT_ALLOWED_TYPE)
    assert invoke(direct(NOT_ALLOWED_TYPE))["error"] == "invalid_type"


def test_the_runtime_never_imports_jsonschema() -> None:
    for path in PACKAGE_DIR.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert not any(m.split(".")[0] == "jsonschema" for m in imported), path.name
