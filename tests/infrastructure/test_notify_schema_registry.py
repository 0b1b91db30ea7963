"""The notify contract published in an EventBridge schema registry (JSONSchemaDraft4: EventBridge
accepts only OpenApi3 and JSONSchemaDraft4), converted at synth from the one draft 2020-12 file in
the asset, with the stack's connection types."""
from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from aws_cdk.assertions import Match

from cdk_app import runtime_contract as rc
from cdk_app.schema_registry import (
    DRAFT4,
    REGISTRY_OUTPUT,
    SCHEMA_NAME,
    SCHEMA_TYPE,
    SchemaConversionError,
    _draft4,
    draft4_notify_schema,
    load_notify_schema,
)
from tests.events.notify_examples import INVALID, NOT_ALLOWED_TYPE, VALID

from .conftest import SynthFn, Synthesis


def published(synthesis: Synthesis) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(registry logical id, schema properties, parsed schema content) of one synthesis."""
    (registry_id,) = synthesis.resources("AWS::EventSchemas::Registry")
    (schema,) = synthesis.resources("AWS::EventSchemas::Schema").values()
    return registry_id, schema["Properties"], json.loads(schema["Properties"]["Content"])


def test_default_publishes_the_notify_schema_as_draft4_in_its_own_registry(default: Synthesis) -> None:
    registry_id, properties, content = published(default)
    assert "RegistryName" not in default.resources("AWS::EventSchemas::Registry")[registry_id]["Properties"]
    assert properties["Type"] == SCHEMA_TYPE == "JSONSchemaDraft4"
    assert properties["SchemaName"] == SCHEMA_NAME
    assert properties["RegistryName"] == {"Fn::GetAtt": [registry_id, "RegistryName"]}
    assert content["$schema"] == DRAFT4
    jsonschema.Draft4Validator.check_schema(content)
    assert content["properties"]["type"]["enum"] == ["email-verification", "general"]
    assert content["properties"]["action"]["enum"] == ["notify"]  # draft-04 has no "const"
    assert "const" not in json.dumps(content) and "const" in json.dumps(load_notify_schema())


def test_the_registry_name_is_a_stack_output(default: Synthesis) -> None:
    registry_id, _, _ = published(default)
    default.template.has_output(REGISTRY_OUTPUT, Match.object_like({"Value": {"Fn::GetAtt": [registry_id, "RegistryName"]}}))


def test_the_published_types_are_the_stacks(synth: SynthFn) -> None:
    _, _, content = published(synth("existing_function"))  # an existing function publishes it too
    assert content["properties"]["type"]["enum"] == ["email-verification", "general"]
    assert draft4_notify_schema(["alerts"])["properties"]["type"]["enum"] == ["alerts"]


@pytest.mark.parametrize("name", sorted(VALID))
def test_the_published_copy_accepts_what_the_handler_accepts(default: Synthesis, name: str) -> None:
    _, _, content = published(default)
    jsonschema.Draft4Validator(content).validate(VALID[name])
    jsonschema.Draft4Validator(content).validate({"action": "notify", **VALID[name]})


@pytest.mark.parametrize("name", sorted(INVALID))
def test_the_published_copy_refuses_what_the_handler_refuses(default: Synthesis, name: str) -> None:
    _, _, content = published(default)
    assert not jsonschema.Draft4Validator(content).is_valid(INVALID[name])


def test_the_published_copy_refuses_a_type_the_stack_does_not_allow(default: Synthesis) -> None:
    _, _, content = published(default)
    assert not jsonschema.Draft4Validator(content).is_valid(NOT_ALLOWED_TYPE)


def test_a_keyword_draft4_lacks_fails_the_synth_with_its_place() -> None:
    with pytest.raises(SchemaConversionError, match=r"#/properties/message/prefixItems has no JSON Schema draft-04"):
        _draft4({"properties": {"message": {"prefixItems": [{"type": "string"}]}}}, "#")
    assert _draft4({"$defs": {"a": {"const": 1}}, "$ref": "#/$defs/a"}, "#") == {
        "definitions": {"a": {"enum": [1]}}, "$ref": "#/definitions/a"}


def test_the_schema_file_ships_in_the_function_asset() -> None:
    from cdk_app.bundling import IGNORED_PATTERNS

    assert rc.NOTIFY_SCHEMA_FILE.is_relative_to(rc.LAMBDA_SOURCE_DIR / rc.PACKAGE_NAME)
    assert not any(rc.NOTIFY_SCHEMA_FILE.match(pattern) for pattern in IGNORED_PATTERNS)


@pytest.mark.parametrize("which", ["route", "ops"])
def test_replay_settings_reach_both_functions(default: Synthesis, synth: SynthFn, which: str) -> None:
    env = default.function(which)["Environment"]["Variables"]
    assert (env[rc.ENV_REPLAY_WINDOW_MINUTES], env[rc.ENV_REPLAY_WITHOUT_TOKENS]) == ("15", "false")
    env = synth("tokens_disabled").function(which)["Environment"]["Variables"]
    assert (env[rc.ENV_REPLAY_WINDOW_MINUTES], env[rc.ENV_REPLAY_WITHOUT_TOKENS]) == ("5", "true")
