"""The bundled function: runtime, architecture, logs, environment, layer, IAM, VPC placement."""
from __future__ import annotations

import json

from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Match

from cdk_app import runtime_contract as rc
from cdk_app.bundling import PYTHON_RUNTIME, PYTHON_VERSION

from .conftest import DATABASE_SECRET_ARN, SynthFn, Synthesis


def function_props(synthesis: Synthesis) -> dict:
    return synthesis.handler_function()["Properties"]


def statements(synthesis: Synthesis) -> list[dict]:
    return [s for p in synthesis.handler_policies() for s in p["Properties"]["PolicyDocument"]["Statement"]]


def handler_role(synthesis: Synthesis) -> dict:
    (role,) = [v for k, v in synthesis.resources("AWS::IAM::Role").items() if k.startswith("HandlerRole")]
    return role


def test_runtime_is_the_newest_python_cdk_offers_and_matches_the_bundling_version() -> None:
    newest = max(
        (getattr(lambda_.Runtime, n) for n in dir(lambda_.Runtime) if n.startswith("PYTHON_3_")),
        key=lambda r: tuple(int(x) for x in r.name.removeprefix("python").split(".")),
    )
    assert PYTHON_RUNTIME.name == newest.name == f"python{PYTHON_VERSION}"


def test_function_runs_the_handler_on_arm64_with_explicit_memory_timeout_tracing_and_dlq(default: Synthesis) -> None:
    default.template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Runtime": "python3.14",
            "Architectures": ["arm64"],
            "Handler": rc.HANDLER,
            "MemorySize": 256,
            "Timeout": 30,
            "TracingConfig": {"Mode": "Active"},
            "DeadLetterConfig": {"TargetArn": {"Fn::GetAtt": [Match.string_like_regexp("AsyncDeadLetterQueue"), "Arn"]}},
            "LoggingConfig": {"LogGroup": {"Ref": Match.string_like_regexp("HandlerLogs")}},
        },
    )


def test_x86_64_setting_changes_the_architecture(synth: SynthFn) -> None:
    assert function_props(synth("tokens_disabled"))["Architectures"] == ["x86_64"]


def test_function_log_group_has_the_retention(default: Synthesis) -> None:
    default.template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 30, "LogGroupName": Match.absent()})


def test_sqlite_demo_uses_the_ephemeral_sqlite_file(synth: SynthFn) -> None:
    env = function_props(synth("tokens_disabled"))["Environment"]["Variables"]
    assert env[rc.ENV_DATABASE_URL] == "sqlite:////tmp/websocket_connections.db"
    assert env[rc.ENV_AUTO_MIGRATE] == "true"  # every new container's /tmp file starts empty
    assert rc.ENV_DATABASE_SECRET_ARN not in env


def test_runtime_settings_reach_the_environment(default: Synthesis) -> None:
    env = function_props(default)["Environment"]["Variables"]
    assert env[rc.ENV_CONNECTION_TTL_MINUTES] == "120"
    assert env[rc.ENV_ALLOWED_CONNECTION_TYPES] == "email-verification,general"
    assert env[rc.ENV_MAX_CONNECTIONS_PER_EMAIL] == "5"
    assert env[rc.ENV_METRICS_NAMESPACE] == "WebSocketNotifications"
    assert env[rc.ENV_LOG_LEVEL] == "INFO"


def test_management_endpoint_env_is_the_stages_https_callback_url(default: Synthesis) -> None:
    endpoint = function_props(default)["Environment"]["Variables"][rc.ENV_MANAGEMENT_ENDPOINT]
    api_ref = endpoint["Fn::Join"][1][1]
    assert api_ref["Ref"].startswith("GatewayApi")
    assert endpoint == {"Fn::Join": ["", ["https://", api_ref, ".execute-api.", {"Ref": "AWS::Region"}, ".",
                                          {"Ref": "AWS::URLSuffix"}, "/prod"]]}
    assert endpoint == default.template_json["Outputs"]["ManagementEndpoint"]["Value"]


def test_database_secret_setting_sets_the_arn_and_grants_read_only_on_it(synth: SynthFn) -> None:
    vpc = synth("vpc_database")
    env = function_props(vpc)["Environment"]["Variables"]
    assert env[rc.ENV_DATABASE_SECRET_ARN] == DATABASE_SECRET_ARN
    assert rc.ENV_DATABASE_URL not in env
    assert rc.ENV_AUTO_MIGRATE not in env  # a shared database is migrated once, on deploy
    (secret_read,) = [s for s in statements(vpc) if "secretsmanager" in json.dumps(s["Action"])]
    assert secret_read["Action"] == ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]
    database_arn, token_secret = secret_read["Resource"]
    assert database_arn == DATABASE_SECRET_ARN
    assert token_secret["Ref"].startswith("SecretsConnectTokenSecret")
    assert not [s for s in statements(vpc) if "kms:" in json.dumps(s["Action"])]  # no key given: none granted


def test_function_carries_the_parameters_and_secrets_extension_where_it_exists(default: Synthesis) -> None:
    layers = function_props(default)["Layers"]
    assert len(layers) == 1
    (condition, arn, otherwise) = layers[0]["Fn::If"]
    assert arn["Fn::FindInMap"][1:] == [{"Ref": "AWS::Region"}, "arn"]
    assert otherwise == {"Ref": "AWS::NoValue"}
    assert condition in default.template_json["Conditions"]


def test_role_has_no_managed_policies_and_only_scoped_statements(synth: SynthFn) -> None:
    demo = synth("tokens_disabled")  # no VPC: nothing but the function's own grants
    role = handler_role(demo)
    assert "ManagedPolicyArns" not in role["Properties"]
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}
    wildcard = [s for s in statements(demo) if s["Resource"] == "*"]
    assert wildcard == [{"Action": ["xray:PutTelemetryRecords", "xray:PutTraceSegments"], "Effect": "Allow", "Resource": "*"}]


def test_manage_connections_is_scoped_to_post_on_this_api_and_stage(default: Synthesis) -> None:
    grants = [s for s in statements(default) if "execute-api" in json.dumps(s["Action"])]
    assert len(grants) == 1
    assert grants[0]["Action"] == "execute-api:ManageConnections"
    joined = grants[0]["Resource"]["Fn::Join"][1]
    assert joined[-1] == "/prod/POST/@connections/*"
    assert joined[-2]["Ref"].startswith("GatewayApi")


def test_vpc_settings_place_the_function_without_lookups(synth: SynthFn) -> None:
    vpc = synth("vpc_database")
    config = function_props(vpc)["VpcConfig"]
    assert config == {"SubnetIds": ["subnet-0aaa1111", "subnet-0bbb2222"], "SecurityGroupIds": ["sg-0ccc3333"]}
    role = handler_role(vpc)
    assert "AWSLambdaVPCAccessExecutionRole" in json.dumps(role["Properties"]["ManagedPolicyArns"])
    manifest = json.loads((vpc.outdir / "manifest.json").read_text())
    assert "missing" not in manifest  # no context lookups: synth never calls AWS


def test_sqlite_demo_warns_at_synth(synth: SynthFn) -> None:
    warnings = synth("tokens_disabled").entries("aws:cdk:warning")
    assert any("ephemeral SQLite file in /tmp" in w and "database=create" in w for w in warnings)


def test_real_databases_do_not_warn(synth: SynthFn) -> None:
    for name in ("default", "vpc_database"):
        assert not any("ephemeral SQLite" in w for w in synth(name).entries("aws:cdk:warning"))
