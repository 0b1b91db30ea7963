"""Bring-your-own function and connect-token modes."""
from __future__ import annotations

import json

from aws_cdk.assertions import Match

from cdk_app import runtime_contract as rc

from .conftest import EXISTING_FUNCTION_ARN, SynthFn, Synthesis, TOKEN_SECRET_ARN


def policies(synthesis: Synthesis) -> dict[str, dict]:
    return {k: v["Properties"] for k, v in synthesis.resources("AWS::IAM::Policy").items() if not k.startswith("ApiGatewayAccountLogging")}


def test_existing_function_creates_no_function_role_migration_database_or_bundle(synth: SynthFn) -> None:
    byo = synth("existing_function")
    for resource_type in ("Custom::WebSocketSchemaMigration", "AWS::RDS::DBCluster", "AWS::EC2::VPC"):
        byo.template.resource_count_is(resource_type, 0)
    # The only function and roles left belong to the account-level logs role registration.
    for resource_type in ("AWS::Lambda::Function", "AWS::IAM::Role"):
        assert all(k.startswith("ApiGatewayAccountLogging") for k in byo.resources(resource_type)), resource_type
    assert byo.stack.bundled_function is None and byo.stack.schema_migration is None and byo.stack.database is None


def test_existing_function_warns_that_it_must_migrate_the_schema_itself(synth: SynthFn) -> None:
    warnings = [w for w in synth("existing_function").entries("aws:cdk:warning") if "no schema migration" in w]
    assert len(warnings) == 1
    assert '{"action": "migrate"}' in warnings[0] and "wsctl migrate" in warnings[0]
    assert "[ack: websocket:no-migration-on-deploy]" in warnings[0]


def test_bundled_function_migrates_on_deploy_without_a_warning(default: Synthesis) -> None:
    assert not any("migrat" in w for w in default.entries("aws:cdk:warning"))
    default.template.resource_count_is("Custom::WebSocketSchemaMigration", 1)


def test_existing_function_serves_all_three_routes_with_three_permissions(synth: SynthFn) -> None:
    byo = synth("existing_function")
    for integration in byo.resources("AWS::ApiGatewayV2::Integration").values():
        assert EXISTING_FUNCTION_ARN in json.dumps(integration["Properties"]["IntegrationUri"])
    route_permissions = [
        p["Properties"] for p in byo.resources("AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "apigateway.amazonaws.com"
    ]
    assert len(route_permissions) == 3
    assert all(p["FunctionName"] == EXISTING_FUNCTION_ARN for p in route_permissions)


def test_existing_functions_role_gets_manage_connections_token_secret_and_endpoint_parameter(synth: SynthFn) -> None:
    byo = synth("existing_function")
    (policy,) = policies(byo).values()
    assert policy["Roles"] == ["cc-backend-main-role"]
    by_action = {json.dumps(s["Action"]): json.dumps(s["Resource"]) for s in policy["PolicyDocument"]["Statement"]}
    assert set(by_action) == {
        '"execute-api:ManageConnections"',
        '["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]',
        '["ssm:DescribeParameters", "ssm:GetParameter", "ssm:GetParameterHistory", "ssm:GetParameters"]',
    }
    assert "/POST/@connections/*" in by_action['"execute-api:ManageConnections"']
    assert "EndpointsManagementEndpointParameter" in by_action[
        '["ssm:DescribeParameters", "ssm:GetParameter", "ssm:GetParameterHistory", "ssm:GetParameters"]'
    ]


def test_existing_function_finds_the_endpoint_through_outputs_and_ssm(synth: SynthFn) -> None:
    byo = synth("existing_function")
    assert {"WebSocketUrl", "ManagementEndpoint", "ApiId", "StageName"} <= set(byo.template_json["Outputs"])
    byo.template.has_resource_properties(
        "AWS::SSM::Parameter", {"Name": "/websocket-notifications/management-endpoint", "Type": "String"}
    )


def test_existing_function_is_the_cleanup_target(synth: SynthFn) -> None:
    byo = synth("existing_function")
    byo.template.has_resource_properties(
        "AWS::Events::Rule", {"Targets": [Match.object_like({"Arn": EXISTING_FUNCTION_ARN})]}
    )


def test_tokens_are_on_by_default_with_a_generated_secret_the_function_reads(default: Synthesis) -> None:
    default.template.has_resource_properties(
        "AWS::SecretsManager::Secret",
        {"GenerateSecretString": {"PasswordLength": 64, "ExcludePunctuation": True}},
    )
    env = default.function("route")["Environment"]["Variables"]
    assert env[rc.ENV_CONNECT_TOKEN_SECRET_ARN]["Ref"].startswith("SecretsConnectTokenSecret")
    (read,) = [s for s in default.statements("route") if "secretsmanager" in json.dumps(s)]
    assert read["Action"] == ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]
    # Exactly the two secrets the route function reads: the token key and the created database's credentials.
    assert sorted(map(json.dumps, read["Resource"])) == sorted(
        map(json.dumps, [env[rc.ENV_CONNECT_TOKEN_SECRET_ARN], env[rc.ENV_DATABASE_SECRET_ARN]])
    )
    assert default.template_json["Outputs"]["ConnectTokenSecretArn"]["Value"] == env[rc.ENV_CONNECT_TOKEN_SECRET_ARN]


def test_disabled_tokens_drop_the_secret_and_warn(synth: SynthFn) -> None:
    off = synth("tokens_disabled")
    off.template.resource_count_is("AWS::SecretsManager::Secret", 0)
    for which in ("route", "ops"):
        assert rc.ENV_CONNECT_TOKEN_SECRET_ARN not in off.function(which)["Environment"]["Variables"]
    assert "ConnectTokenSecretArn" not in off.template_json["Outputs"]
    assert any("connectTokens is 'disabled'" in w for w in off.entries("aws:cdk:warning"))


def test_enabled_tokens_do_not_warn(default: Synthesis) -> None:
    assert not any("connectTokens" in w for w in default.entries("aws:cdk:warning"))


def test_existing_token_secret_is_imported_not_created(synth: SynthFn) -> None:
    imported = synth("imported_token_secret")
    assert not [k for k in imported.resources("AWS::SecretsManager::Secret") if k.startswith("SecretsConnectTokenSecret")]
    assert imported.function("route")["Environment"]["Variables"][rc.ENV_CONNECT_TOKEN_SECRET_ARN] == TOKEN_SECRET_ARN
    assert imported.template_json["Outputs"]["ConnectTokenSecretArn"]["Value"] == TOKEN_SECRET_ARN
    assert TOKEN_SECRET_ARN in json.dumps(imported.resources("AWS::IAM::Policy"))
