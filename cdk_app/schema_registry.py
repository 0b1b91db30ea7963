"""The notify contract, published in an EventBridge schema registry so backend teams can download
code bindings (Java, Python, TypeScript, Go) for the payload they send.

The contract lives once, as JSON Schema draft 2020-12, in the function's asset
(``lambda_src/websocket_service/schemas/notify.schema.json``; the handler's validation tests check
their examples against it). EventBridge accepts only ``OpenApi3`` and ``JSONSchemaDraft4`` schemas,
so :func:`draft4_notify_schema` converts it at synth, and narrows ``type`` to the stack's
``allowedConnectionTypes``. A keyword draft-04 cannot express fails the synth, so a later edit of
the schema cannot publish something EventBridge reads differently.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_eventschemas as eventschemas
from constructs import Construct

from . import runtime_contract as rc

SCHEMA_TYPE = "JSONSchemaDraft4"
"""The EventBridge schema type published (EventBridge accepts ``OpenApi3`` and ``JSONSchemaDraft4``)."""
DRAFT4 = "http://json-schema.org/draft-04/schema#"
SCHEMA_NAME = "WebSocketNotify"
"""Schema name inside the stack's own registry (the registry's name is generated per stack)."""
REGISTRY_OUTPUT = "NotifySchemaRegistryName"
"""Stack output: where ``aws schemas get-code-binding-source`` finds :data:`SCHEMA_NAME`."""
_NO_DRAFT4_EQUIVALENT = frozenset({
    "prefixItems", "if", "then", "else", "dependentRequired", "dependentSchemas", "unevaluatedItems",
    "unevaluatedProperties", "contains", "minContains", "maxContains", "propertyNames", "$anchor",
    "$dynamicRef", "$dynamicAnchor", "examples",
})


class SchemaConversionError(ValueError):
    """The draft 2020-12 notify schema uses a keyword that draft-04 has no equivalent for."""


def load_notify_schema() -> dict[str, Any]:
    """The notify contract as written (JSON Schema draft 2020-12)."""
    return json.loads(rc.NOTIFY_SCHEMA_FILE.read_text(encoding="utf-8"))


def _draft4(node: Any, path: str) -> Any:
    if isinstance(node, list):
        return [_draft4(item, f"{path}[{i}]") for i, item in enumerate(node)]
    if not isinstance(node, dict):
        return node
    converted: dict[str, Any] = {}
    for key, value in node.items():
        where = f"{path}/{key}"
        if key in _NO_DRAFT4_EQUIVALENT:
            raise SchemaConversionError(f"{rc.NOTIFY_SCHEMA_FILE.name}: {where} has no JSON Schema draft-04 equivalent")
        if key == "$schema":
            converted[key] = DRAFT4
        elif key == "$id":
            converted["id"] = value
        elif key == "const":
            converted["enum"] = [value]
        elif key == "$defs":
            converted["definitions"] = {name: _draft4(sub, f"{where}/{name}") for name, sub in value.items()}
        elif key == "$ref" and isinstance(value, str):
            converted[key] = value.replace("#/$defs/", "#/definitions/")
        elif key in ("properties", "definitions", "patternProperties") and isinstance(value, dict):
            converted[key] = {name: _draft4(sub, f"{where}/{name}") for name, sub in value.items()}
        else:
            converted[key] = _draft4(value, where)
    return converted


def draft4_notify_schema(allowed_connection_types: Sequence[str]) -> dict[str, Any]:
    """The notify schema as JSON Schema draft-04 with ``type`` limited to ``allowed_connection_types``.

    Raises :class:`SchemaConversionError` when the schema uses a keyword draft-04 lacks.
    """
    schema = _draft4(load_notify_schema(), "#")
    schema["properties"]["type"]["enum"] = list(allowed_connection_types)
    return schema


class NotifySchemaRegistry(Construct):
    """An EventBridge schema registry holding the notify contract (:data:`SCHEMA_NAME`, type
    :data:`SCHEMA_TYPE`), and the stack output :data:`REGISTRY_OUTPUT` with its generated name.

    :param allowed_connection_types: the stack's connection types (the published ``type`` enum).
    """

    def __init__(self, scope: Construct, construct_id: str, *, allowed_connection_types: Sequence[str]) -> None:
        super().__init__(scope, construct_id)
        self.registry = eventschemas.CfnRegistry(
            self, "Registry", description="Payloads this stack's WebSocket notification function accepts"
        )
        """The registry (its name is generated: two stacks in one account do not collide)."""
        self.schema = eventschemas.CfnSchema(
            self,
            "Notify",
            registry_name=self.registry.attr_registry_name,
            schema_name=SCHEMA_NAME,
            type=SCHEMA_TYPE,
            content=json.dumps(draft4_notify_schema(allowed_connection_types), separators=(",", ":")),
            description="Notify: direct Lambda invoke payload, or the detail of an EventBridge event",
        )
        """The notify schema (draft-04 conversion of notify.schema.json)."""
        self.output = cdk.CfnOutput(
            self, REGISTRY_OUTPUT, value=self.registry.attr_registry_name,
            description=f"EventBridge schema registry with the {SCHEMA_NAME} schema (download code bindings from it)",
        )
        self.output.override_logical_id(REGISTRY_OUTPUT)
