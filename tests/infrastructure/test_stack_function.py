"""The bundled functions: runtime, architecture, logs, environment, layer, IAM, VPC placement."""
from __future__ import annotations

import json

import pytest
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Match

from cdk_app import runtime_contract as rc
from cdk_app.bundling import PYTHON_RUNTIME, PYTHON_VERSION

from .conftest import DATABASE_SECRET_ARN, SynthFn, Synthesis

BOTH = ("route", "ops")

def function_roles(synthesis: Synthesis) -> list[dict]:
    """The route and ops functions' roles (not the custom-resource helpers' roles)."""
    return [v for k, v in synthesis.resources("AWS::IAM::Role").items() if k.startswith(("HandlerRole", "RouteHandlerRole"))]


def test_runtime_is_the_newest_python_cdk_offers_and_matches_the_bundling_version() -> None:
    newest = max(
        (getattr(lambda_.Runtime, n) for n in dir(lambda_.Runtime) if n.startswith("PYTHON_3_")),
        key=lambda r: tuple(int(x) for x in r.name.removeprefix("python").split(".")),
    )
    assert PYTHON_RUNTIME.name == newest.name == f"python{PYTHON_VERSION}"


@pytest.mark.parametrize("which", BOTH)
def test_both_functions_run_the_same_handler_on_arm64_with_tracing_and_dlq(default: Synthesis, which: str) -> None:
    prefix = "RouteHandler" if which == "route" else "Handler"
    default.template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Runtime": "python3.14",
            "Architectures": ["arm64"],
            "Handler": rc.HANDLER,
            "Code": default.function("route")["Code"],  # one asset
            "TracingConfig": {"Mode": "Active"},
            "DeadLetterConfig": {"TargetArn": {"Fn::GetAtt": [Match.string_like_regexp(f"^{prefix}AsyncDeadLetterQueue"), "Arn"]}},
            "LoggingConfig": {"LogGroup": {"Ref": Match.string_like_regexp(f"^{prefix}Logs")}},
        },
    )
    assert default.function(which)["Handler"] == rc.HANDLER


def test_route_function_has_a_short_timeout_and_its_own_reserved_concurrency(default: Synthesis) -> None:
    route = default.function("route")
    assert (route["Timeout"], route["MemorySize"], route["ReservedConcurrentExecutions"]) == (10, 256, 100)
    assert route["Timeout"] < 29  # API Gateway's integration timeout
    assert "routes" in route["Description"]


def test_ops_function_has_a_longer_timeout_more_memory_and_a_small_reserved_concurrency(default: Synthesis) -> None:
    ops = default.function("ops")
    assert (ops["Timeout"], ops["MemorySize"], ops["ReservedConcurrentExecutions"]) == (120, 512, 10)
    assert "notify, cleanup and migrate" in ops["Description"]


def test_timeout_memory_and_concurrency_settings_are_applied(synth: SynthFn) -> None:
    sized = synth("sized")
    route, ops = sized.function("route"), sized.function("ops")
    assert (route["Timeout"], route["MemorySize"], route["ReservedConcurrentExecutions"]) == (8, 1024, 40)
    assert (ops["Timeout"], ops["MemorySize"], ops["ReservedConcurrentExecutions"]) == (600, 256, 4)


def test_provisioned_concurrency_keeps_a_live_alias_warm_and_the_routes_invoke_it(synth: SynthFn) -> None:
    sized = synth("sized")
    (alias_id, alias), = sized.resources("AWS::Lambda::Alias").items()
    assert alias["Properties"]["Name"] == "live"
    assert alias["Properties"]["FunctionName"] == {"Ref": sized.function_id("route")}
    assert alias["Properties"]["ProvisionedConcurrencyConfig"] == {"ProvisionedConcurrentExecutions": 3}
    integrations = sized.resources("AWS::ApiGatewayV2::Integration").values()
    assert all(alias_id in json.dumps(i["Properties"]["IntegrationUri"]) for i in integrations)
    permissions = [p["Properties"] for p in sized.resources("AWS::Lambda::Permission").values()
                   if p["Properties"]["Principal"] == "apigateway.amazonaws.com"]
    assert len(permissions) == 3 and all(p["FunctionName"] == {"Ref": alias_id} for p in permissions)


def test_no_provisioned_concurrency_by_default(default: Synthesis) -> None:
    default.template.resource_count_is("AWS::Lambda::Alias", 0)


def test_x86_64_setting_changes_the_architecture(synth: SynthFn) -> None:
    tokens_disabled = synth("tokens_disabled")
    assert [tokens_disabled.function(w)["Architectures"] for w in BOTH] == [["x86_64"], ["x86_64"]]


def test_each_function_has_its_own_log_group_with_the_retention(default: Synthesis) -> None:
    groups = default.resources("AWS::Logs::LogGroup")
    for which in BOTH:
        (group_ref,) = [default.function(which)["LoggingConfig"]["LogGroup"]["Ref"]]
        assert groups[group_ref]["Properties"]["RetentionInDays"] == 30
        assert "KmsKeyId" in groups[group_ref]["Properties"]  # the stack's data key (test_stack_encryption)


@pytest.mark.parametrize("which", BOTH)
def test_sqlite_demo_uses_the_ephemeral_sqlite_file(synth: SynthFn, which: str) -> None:
    env = synth("tokens_disabled").function(which)["Environment"]["Variables"]
    assert env[rc.ENV_DATABASE_URL] == "sqlite:////tmp/websocket_connections.db"
    assert env[rc.ENV_AUTO_MIGRATE] == "true"  # every new container's /tmp file starts empty
    assert rc.ENV_DATABASE_SECRET_ARN not in env and rc.ENV_DATABASE_HOST not in env


@pytest.mark.parametrize("which", BOTH)
def test_runtime_settings_reach_the_environment(default: Synthesis, which: str) -> None:
    env = default.function(which)["Environment"]["Variables"]
    assert env[rc.ENV_CONNECTION_TTL_MINUTES] == "120"
    assert env[rc.ENV_ALLOWED_CONNECTION_TYPES] == "email-verification,general"
    assert env[rc.ENV_MAX_CONNECTIONS_PER_EMAIL] == "5"
    assert env[rc.ENV_METRICS_NAMESPACE] == "WebSocketNotifications"
    assert env[rc.ENV_LOG_LEVEL] == "INFO"
    assert env[rc.ENV_MANAGEMENT_API_METHODS] == "POST,GET"
    assert {name: env[name] for name in RUNTIME_TUNING} == {
        rc.ENV_INACTIVE_RETENTION_HOURS: "24", rc.ENV_CLEANUP_BATCH_SIZE: "25", rc.ENV_CLEANUP_TIME_BUDGET_SECONDS: "20",
        rc.ENV_CLEANUP_DUTY_CYCLE_PERCENT: "25", rc.ENV_DB_STATEMENT_TIMEOUT_MS: "5000", rc.ENV_DB_POOLER: "auto",
    }


RUNTIME_TUNING = (
    rc.ENV_INACTIVE_RETENTION_HOURS, rc.ENV_CLEANUP_BATCH_SIZE, rc.ENV_CLEANUP_TIME_BUDGET_SECONDS,
    rc.ENV_CLEANUP_DUTY_CYCLE_PERCENT, rc.ENV_DB_STATEMENT_TIMEOUT_MS, rc.ENV_DB_POOLER,
)
"""Runtime settings the troubleshooting table tells ops to tune: stack settings since issue 14."""


@pytest.mark.parametrize("which", BOTH)
def test_runtime_tuning_settings_reach_the_environment(synth: SynthFn, which: str) -> None:
    env = synth("sized").function(which)["Environment"]["Variables"]
    assert {name: env[name] for name in RUNTIME_TUNING} == {
        rc.ENV_INACTIVE_RETENTION_HOURS: "48", rc.ENV_CLEANUP_BATCH_SIZE: "100", rc.ENV_CLEANUP_TIME_BUDGET_SECONDS: "300",
        rc.ENV_CLEANUP_DUTY_CYCLE_PERCENT: "10", rc.ENV_DB_STATEMENT_TIMEOUT_MS: "3000", rc.ENV_DB_POOLER: "pgbouncer",
    }


def test_the_proxy_sets_its_pooler_whatever_databasePooler_says_auto(synth: SynthFn) -> None:
    for which in BOTH:
        assert synth("proxy").function(which)["Environment"]["Variables"][rc.ENV_DB_POOLER] == rc.RDS_PROXY_POOLER


@pytest.mark.parametrize("which", BOTH)
def test_management_endpoint_env_is_the_stages_https_callback_url(default: Synthesis, which: str) -> None:
    endpoint = default.function(which)["Environment"]["Variables"][rc.ENV_MANAGEMENT_ENDPOINT]
    api_ref = endpoint["Fn::Join"][1][1]
    assert api_ref["Ref"].startswith("GatewayApi")
    assert endpoint == {"Fn::Join": ["", ["https://", api_ref, ".execute-api.", {"Ref": "AWS::Region"}, ".",
                                          {"Ref": "AWS::URLSuffix"}, "/prod"]]}
    assert endpoint == default.template_json["Outputs"]["ManagementEndpoint"]["Value"]


SECRET_READ = ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]


def secret_reads(synthesis: Synthesis, which: str) -> list:
    (read,) = [s for s in synthesis.statements(which) if "secretsmanager" in json.dumps(s["Action"])]
    assert read["Action"] == SECRET_READ
    return read["Resource"] if isinstance(read["Resource"], list) else [read["Resource"]]


def test_database_secret_setting_sets_the_arn_and_grants_read_only_on_it(synth: SynthFn) -> None:
    vpc = synth("vpc_database")
    for which in BOTH:
        env = vpc.function(which)["Environment"]["Variables"]
        assert env[rc.ENV_DATABASE_SECRET_ARN] == DATABASE_SECRET_ARN
        assert rc.ENV_DATABASE_URL not in env
        assert rc.ENV_AUTO_MIGRATE not in env  # a shared database is migrated once, on deploy
    database_arn, token_secret = secret_reads(vpc, "route")
    assert database_arn == DATABASE_SECRET_ARN
    assert token_secret["Ref"].startswith("SecretsConnectTokenSecret")
    assert secret_reads(vpc, "ops") == [DATABASE_SECRET_ARN]  # the ops function never checks a token


def test_only_the_route_function_gets_the_token_secret(default: Synthesis) -> None:
    assert rc.ENV_CONNECT_TOKEN_SECRET_ARN in default.function("route")["Environment"]["Variables"]
    assert rc.ENV_CONNECT_TOKEN_SECRET_ARN not in default.function("ops")["Environment"]["Variables"]
    ops_reads = [s for s in default.statements("ops") if "secretsmanager" in json.dumps(s["Action"])]
    assert ops_reads and "SecretsConnectTokenSecret" not in json.dumps(ops_reads)  # the database secret only


@pytest.mark.parametrize("which", BOTH)
def test_function_carries_the_parameters_and_secrets_extension_where_it_exists(default: Synthesis, which: str) -> None:
    layers = default.function(which)["Layers"]
    assert len(layers) == 1
    (condition, arn, otherwise) = layers[0]["Fn::If"]
    assert arn["Fn::FindInMap"][1:] == [{"Ref": "AWS::Region"}, "arn"]
    assert otherwise == {"Ref": "AWS::NoValue"}
    assert condition in default.template_json["Conditions"]


def test_roles_have_no_managed_policies_and_only_scoped_statements(synth: SynthFn) -> None:
    demo = synth("tokens_disabled")  # no VPC: nothing but the functions' own grants
    roles = function_roles(demo)
    assert len(roles) == 2  # one per function
    for role in roles:
        assert "ManagedPolicyArns" not in role["Properties"]
        assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}
    for which in BOTH:
        wildcard = [s for s in demo.statements(which) if s["Resource"] == "*"]
        assert wildcard == [{"Action": ["xray:PutTelemetryRecords", "xray:PutTraceSegments"], "Effect": "Allow", "Resource": "*"}]


def manage_connections_paths(synthesis: Synthesis, which: str) -> list[str]:
    (grant,) = [s for s in synthesis.statements(which) if "execute-api" in json.dumps(s["Action"])]
    assert grant["Action"] == "execute-api:ManageConnections"
    resources = grant["Resource"] if isinstance(grant["Resource"], list) else [grant["Resource"]]
    paths = []
    for resource in resources:
        joined = resource["Fn::Join"][1]
        assert joined[-2]["Ref"].startswith("GatewayApi")
        paths.append(joined[-1])
    return sorted(paths)


@pytest.mark.parametrize("which", BOTH)
def test_manage_connections_is_scoped_to_the_default_methods_on_this_api_and_stage(default: Synthesis, which: str) -> None:
    assert manage_connections_paths(default, which) == ["/prod/GET/@connections/*", "/prod/POST/@connections/*"]


def test_management_api_methods_setting_grants_exactly_those_methods_and_sets_the_env(synth: SynthFn) -> None:
    sized, proxy = synth("sized"), synth("proxy")
    assert manage_connections_paths(sized, "route") == [f"/prod/{m}/@connections/*" for m in ("DELETE", "GET", "POST")]
    assert sized.function("ops")["Environment"]["Variables"][rc.ENV_MANAGEMENT_API_METHODS] == "POST,GET,DELETE"
    assert manage_connections_paths(proxy, "ops") == ["/prod/POST/@connections/*"]
    assert proxy.function("route")["Environment"]["Variables"][rc.ENV_MANAGEMENT_API_METHODS] == "POST"


def test_vpc_settings_place_both_functions_without_lookups(synth: SynthFn) -> None:
    vpc = synth("vpc_database")
    for which in BOTH:
        config = vpc.function(which)["VpcConfig"]
        assert config == {"SubnetIds": ["subnet-0aaa1111", "subnet-0bbb2222"], "SecurityGroupIds": ["sg-0ccc3333"]}
    for role in function_roles(vpc):
        assert "AWSLambdaVPCAccessExecutionRole" in json.dumps(role["Properties"]["ManagedPolicyArns"])
    manifest = json.loads((vpc.outdir / "manifest.json").read_text())
    assert "missing" not in manifest  # no context lookups: synth never calls AWS


def test_sqlite_demo_warns_at_synth(synth: SynthFn) -> None:
    warnings = synth("tokens_disabled").entries("aws:cdk:warning")
    assert any("ephemeral SQLite file in /tmp" in w and "database=create" in w for w in warnings)


def test_real_databases_do_not_warn(synth: SynthFn) -> None:
    for name in ("default", "vpc_database"):
        assert not any("ephemeral SQLite" in w for w in synth(name).entries("aws:cdk:warning"))
