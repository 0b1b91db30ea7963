"""Synthesize each stack configuration ONCE per test session and share the results.

``synth(name)`` returns a :class:`Synthesis` for one of :data:`CONFIGURATIONS` (``cdk.json``
context + the overrides, function not bundled, cdk-nag's AwsSolutions and Serverless packs on).
A synth that cdk-nag rejects still yields its template and the validation report, so the nag test
can show the findings while the other tests keep checking the template.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

from aws_cdk.assertions import Template  # noqa: E402  (after the jsii environment is set)

from cdk_app.application import STACK_ID, build_app  # noqa: E402
from cdk_app.runtime_contract import PROJECT_ROOT  # noqa: E402
from cdk_app.stack import WebSocketNotificationStack  # noqa: E402

ACCOUNT = "123456789012"
EXISTING_FUNCTION_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:cc-backend-main"
EXISTING_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/cc-backend-main-role"
DATABASE_SECRET_ARN = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:prod/websocket-db-AbC123"
ALARM_TOPIC_ARN = f"arn:aws:sns:us-east-1:{ACCOUNT}:ops-alarms"
TOKEN_SECRET_ARN = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:websocket/connect-token-XyZ789"
RDS_SECRET_PARTIAL_ARN = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:rds-secret"
"""A partial ARN whose name ends in '-' + six letters: looks complete, is not (or may be)."""
KMS_KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
CERTIFICATE_ARN = f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789"

CONFIGURATIONS: dict[str, dict[str, Any]] = {
    "default": {},
    "existing_function": {"existingFunctionArn": EXISTING_FUNCTION_ARN, "existingFunctionRoleArn": EXISTING_ROLE_ARN},
    "tokens_disabled": {
        "connectTokens": "disabled", "alarmTopicArn": ALARM_TOPIC_ARN, "architecture": "x86_64",
        "integrationErrorAlarmThreshold": "25", "database": "sqlite-demo", "createApiGatewayLogsRole": "false",
        "accessLogGroupName": "/aws/apigateway/cc-websocket-api",
        "replayWindowMinutes": "5", "replayWithoutTokens": "true",
    },
    "rds_managed_secret": {
        "databaseSecretArn": RDS_SECRET_PARTIAL_ARN, "databaseSecretKmsKeyArn": KMS_KEY_ARN,
        "databaseHost": "db.cluster-abc.us-east-1.rds.amazonaws.com", "databasePort": "5433", "databaseName": "careconnect",
        "domainName": "ws.example.com", "certificateArn": CERTIFICATE_ARN,
        "hostedZoneId": "Z0123456789ABCDEFGHIJ", "hostedZoneName": "example.com",
    },
    "vpc_database": {
        "vpcId": "vpc-0abc1234",
        "subnetIds": "subnet-0aaa1111,subnet-0bbb2222",
        "securityGroupIds": ["sg-0ccc3333"],
        "databaseSecretArn": DATABASE_SECRET_ARN,
        "alarmEmail": "ops@example.com",
        "stageName": "live",
    },
    "imported_token_secret": {
        "connectTokenSecretArn": TOKEN_SECRET_ARN, "logRetentionDays": "90", "vpcEgress": "nat-gateway",
        "databaseMinCapacity": "0.5", "databaseMaxCapacity": "4",
        "domainName": "ws.example.com", "certificateArn": CERTIFICATE_ARN,
    },
    "sized": {
        "reservedConcurrency": "40", "opsReservedConcurrency": "4", "provisionedConcurrency": "3",
        "routeFunctionTimeoutSeconds": "8", "routeFunctionMemoryMb": "1024",
        "opsFunctionTimeoutSeconds": "600", "opsFunctionMemoryMb": "256",
        "managementApiMethods": "POST,GET,DELETE",
        "databaseMaxConnections": "100", "databaseReservedConnections": "50", "databaseClusterIdentifier": "ws-aurora",
        "database": "existing", "databaseSecretArn": DATABASE_SECRET_ARN,
        "inactiveRetentionHours": "48", "cleanupBatchSize": "100", "cleanupTimeBudgetSeconds": "300",
        "cleanupDutyCyclePercent": "10", "databaseStatementTimeoutMs": "3000", "databasePooler": "pgbouncer",
    },
    "proxy": {
        "vpcId": "vpc-0abc1234",
        "subnetIds": "subnet-0aaa1111,subnet-0bbb2222",
        "databaseSecretArn": DATABASE_SECRET_ARN,
        "databaseProxy": "create",
        "databaseInstanceIdentifier": "ws-postgres",
        "databaseProxyBorrowTimeoutSeconds": "4",
        "reservedConcurrency": "500",  # more than the database's connections: the proxy multiplexes
        "managementApiMethods": ["POST"],
        "databaseSecurityGroupId": "sg-0ddd4444",
        "databaseSecretKmsKeyArn": KMS_KEY_ARN,
    },
}

FUNCTION_IDS = {"route": "RouteHandler", "ops": "Handler"}
"""Construct ids of the bundled functions: the route function and the ops function (notify, cleanup, migrate)."""


def project_context(**overrides: Any) -> dict[str, Any]:
    """``cdk.json``'s context (what the CLI passes) with ``bundle`` off and ``overrides`` applied."""
    context = json.loads((PROJECT_ROOT / "cdk.json").read_text())["context"]
    return {**context, "bundle": False, **overrides}


@dataclass
class Synthesis:
    """One synthesized configuration."""

    stack: WebSocketNotificationStack
    outdir: Path
    template_json: dict[str, Any]
    validation_error: str | None
    metadata: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def template(self) -> Template:
        """The template wrapped for ``aws_cdk.assertions``."""
        return Template.from_json(self.template_json)

    @property
    def template_path(self) -> Path:
        return self.outdir / f"{STACK_ID}.template.json"

    def validation_report(self) -> dict[str, Any]:
        """The policy-validation (cdk-nag) report CDK wrote, or an empty one."""
        path = self.outdir / "validation-report.json"
        return json.loads(path.read_text()) if path.exists() else {"pluginReports": []}

    def entries(self, entry_type: str) -> list[Any]:
        """All metadata entries of ``entry_type`` (e.g. ``aws:cdk:warning``), over every path."""
        return [entry["data"] for entries in self.metadata.values() for entry in entries if entry["type"] == entry_type]

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.template_json["Resources"].items() if v["Type"] == resource_type}

    def function_id(self, which: str) -> str:
        """Logical id of the ``route`` or ``ops`` function."""
        (logical_id,) = [k for k in self.resources("AWS::Lambda::Function") if k.startswith(f"{FUNCTION_IDS[which]}Function")]
        return logical_id

    def function(self, which: str) -> dict[str, Any]:
        """Properties of the ``route`` or ``ops`` function."""
        return self.template_json["Resources"][self.function_id(which)]["Properties"]

    def statements(self, which: str) -> list[dict[str, Any]]:
        """Policy statements attached to the ``route`` or ``ops`` function's role."""
        return [
            statement
            for logical_id, policy in self.resources("AWS::IAM::Policy").items()
            if logical_id.startswith(f"{FUNCTION_IDS[which]}Role")
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        ]

    def resource_id(self, resource: dict[str, Any]) -> str:
        """The logical id of ``resource`` (a dict taken from this template)."""
        (logical_id,) = [k for k, v in self.template_json["Resources"].items() if v is resource]
        return logical_id

    def handler_function(self) -> dict[str, Any]:
        """The bundled notification function's resource (not the custom-resource helpers)."""
        (function,) = [v for k, v in self.resources("AWS::Lambda::Function").items() if k.startswith("HandlerFunction")]
        return function

    def handler_policies(self) -> list[dict[str, Any]]:
        """The IAM policies attached to the bundled function's role (or the existing function's role)."""
        return [
            p for k, p in self.resources("AWS::IAM::Policy").items()
            if k.startswith(("HandlerRole", "ExistingFunctionRole"))
        ]


def synthesize(context: dict[str, Any], outdir: Path) -> Synthesis:
    """Build and synthesize the app into ``outdir`` with the compliance checks on."""
    app, stack = build_app(context=context, outdir=str(outdir))
    validation_error = None
    try:
        app.synth()
    except RuntimeError as error:  # jsii surfaces "ValidationFailed" as RuntimeError
        if "Validation failed" not in str(error):
            raise
        validation_error = str(error)
    template_json = json.loads((outdir / f"{STACK_ID}.template.json").read_text())
    metadata_path = outdir / f"{STACK_ID}.metadata.json"
    metadata = json.loads(metadata_path.read_text()) if metadata_path.exists() else {}
    return Synthesis(stack=stack, outdir=outdir, template_json=template_json, validation_error=validation_error, metadata=metadata)


SynthFn = Callable[[str], "Synthesis"]
"""Type of the ``synth`` fixture."""


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> SynthFn:
    """``synth(name)``: the named configuration, synthesized on first use and cached for the session."""
    cache: dict[str, Synthesis] = {}

    def get(name: str) -> Synthesis:
        if name not in cache:
            cache[name] = synthesize(project_context(**CONFIGURATIONS[name]), tmp_path_factory.mktemp(f"cdk-{name}"))
        return cache[name]

    return get


@pytest.fixture(scope="session")
def default(synth: SynthFn) -> Synthesis:
    return synth("default")
