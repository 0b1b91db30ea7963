"""StackSettings: defaults, cdk.json agreement, -c style string values, and every error path."""
from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import pytest
from aws_cdk import aws_logs as logs

from cdk_app.runtime_contract import PROJECT_ROOT
from cdk_app.settings import RETENTION_DAYS, SettingsError, StackSettings

from .conftest import (
    ALARM_TOPIC_ARN,
    CERTIFICATE_ARN,
    DATABASE_SECRET_ARN,
    EXISTING_FUNCTION_ARN,
    EXISTING_ROLE_ARN,
    KMS_KEY_ARN,
)

# cdk.json key -> StackSettings field, for every setting.
KEYS = {
    "stageName": "stage_name",
    "apiName": "api_name",
    "connectionTtlMinutes": "connection_ttl_minutes",
    "cleanupSchedule": "cleanup_schedule",
    "allowedConnectionTypes": "allowed_connection_types",
    "maxConnectionsPerEmail": "max_connections_per_email",
    "throttlingRateLimit": "throttling_rate_limit",
    "throttlingBurstLimit": "throttling_burst_limit",
    "logRetentionDays": "log_retention_days",
    "createApiGatewayLogsRole": "create_api_gateway_logs_role",
    "connectionCountAlarmThreshold": "connection_count_alarm_threshold",
    "integrationErrorAlarmThreshold": "integration_error_alarm_threshold",
    "ssmParameterPrefix": "ssm_parameter_prefix",
    "connectTokens": "connect_tokens",
    "architecture": "architecture",
    "bundle": "bundle",
    "metricsNamespace": "metrics_namespace",
    "logLevel": "log_level",
    "managementApiMethods": "management_api_methods",
    "reservedConcurrency": "reserved_concurrency",
    "opsReservedConcurrency": "ops_reserved_concurrency",
    "provisionedConcurrency": "provisioned_concurrency",
    "databaseMaxConnections": "database_max_connections",
    "databaseReservedConnections": "database_reserved_connections",
    "routeFunctionTimeoutSeconds": "route_function_timeout_seconds",
    "routeFunctionMemoryMb": "route_function_memory_mb",
    "opsFunctionTimeoutSeconds": "ops_function_timeout_seconds",
    "opsFunctionMemoryMb": "ops_function_memory_mb",
    "databaseProxy": "database_proxy",
    "databaseProxyBorrowTimeoutSeconds": "database_proxy_borrow_timeout_seconds",
    "inactiveRetentionHours": "inactive_retention_hours",
    "cleanupBatchSize": "cleanup_batch_size",
    "cleanupTimeBudgetSeconds": "cleanup_time_budget_seconds",
    "cleanupDutyCyclePercent": "cleanup_duty_cycle_percent",
    "databaseStatementTimeoutMs": "database_statement_timeout_ms",
    "databasePooler": "database_pooler",
    "replayWindowMinutes": "replay_window_minutes",
    "replayWithoutTokens": "replay_without_tokens",
}


class Context:
    """A construct node stand-in: only ``try_get_context`` is used by from_context."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def try_get_context(self, key: str) -> Any:
        return self.values.get(key)


def settings(**values: Any) -> StackSettings:
    return StackSettings.from_context(Context(values))


def test_no_context_gives_documented_defaults() -> None:
    s = settings()
    assert s == StackSettings()
    assert (s.stage_name, s.connection_ttl_minutes, s.cleanup_schedule) == ("prod", 120, "rate(15 minutes)")
    assert s.allowed_connection_types == ("email-verification", "general")
    assert s.access_log_group_name is None  # CloudFormation generates a unique name
    assert s.create_api_gateway_logs_role is True
    assert (s.database, s.creates_database, s.vpc_egress) == ("create", True, "nat-instance")
    assert (s.database_min_capacity, s.database_max_capacity) == (0, 2)
    assert s.domain_name is None and s.certificate_arn is None
    assert s.tokens_enabled and not s.bring_your_own_function and s.bundle
    assert s.architecture == "arm64" and s.ssm_parameter_prefix == "/websocket-notifications"


def test_cdk_json_defaults_equal_the_dataclass_defaults() -> None:
    context = json.loads((PROJECT_ROOT / "cdk.json").read_text())["context"]
    defaults = StackSettings()
    for key, field_name in KEYS.items():
        value = context[key]
        expected = getattr(defaults, field_name)
        assert (tuple(value) if isinstance(value, list) else value) == expected, key
    assert StackSettings.from_context(Context(context)) == defaults


def test_cdk_json_app_runs_app_py_with_the_venv_python() -> None:
    # scripts/cdk-app execs .venv/bin/python app.py (tests/infrastructure/test_readme_commands.py runs it).
    assert json.loads((PROJECT_ROOT / "cdk.json").read_text())["app"] == "scripts/cdk-app"
    assert ".venv/bin/python" in (PROJECT_ROOT / "scripts" / "cdk-app").read_text()


def test_every_field_has_a_context_key_or_is_an_optional_setting() -> None:
    optional = {
        "database_secret_arn", "vpc_id", "subnet_ids", "security_group_ids", "alarm_topic_arn", "alarm_email",
        "existing_function_arn", "existing_function_role_arn", "connect_token_secret_arn",
        "database_cluster_identifier", "database_instance_identifier",
        "access_log_group_name",
        "database", "database_secret_kms_key_arn", "database_host", "database_port", "database_name",
        "database_min_capacity", "database_max_capacity", "vpc_egress", "nat_instance_image_id",
        "database_security_group_id", "domain_name", "certificate_arn", "hosted_zone_id", "hosted_zone_name",
    }
    assert {f.name for f in dataclasses.fields(StackSettings)} == set(KEYS.values()) | optional


def test_string_values_from_the_command_line_are_converted() -> None:
    s = settings(
        connectionTtlMinutes="60", maxConnectionsPerEmail="3", throttlingRateLimit="12.5", throttlingBurstLimit="7",
        logRetentionDays="14", bundle="false", allowedConnectionTypes="general, password-reset",
        subnetIds='["subnet-0aaa1111"]', vpcId="vpc-0abc1234", cleanupSchedule="cron(0/5 * * * ? *)",
        integrationErrorAlarmThreshold="40", database="existing", databaseSecretArn=DATABASE_SECRET_ARN,
        databasePort="6432", databaseSecurityGroupId="sg-0ddd4444",
    )
    assert s.database_security_group_id == "sg-0ddd4444"
    assert s.database_port == 6432
    assert s.integration_error_alarm_threshold == 40
    assert (s.connection_ttl_minutes, s.max_connections_per_email) == (60, 3)
    assert (s.throttling_rate_limit, s.throttling_burst_limit) == (12.5, 7)
    assert s.log_retention == logs.RetentionDays.TWO_WEEKS
    assert s.bundle is False
    assert s.allowed_connection_types == ("general", "password-reset")
    assert s.subnet_ids == ("subnet-0aaa1111",)
    assert s.cleanup_schedule == "cron(0/5 * * * ? *)"


def test_optional_settings_are_read() -> None:
    s = settings(
        existingFunctionArn=EXISTING_FUNCTION_ARN, existingFunctionRoleArn=EXISTING_ROLE_ARN,
        alarmTopicArn=ALARM_TOPIC_ARN, connectTokens="disabled", architecture="x86_64", logLevel="DEBUG",
    )
    assert s.bring_your_own_function and s.existing_function_role_arn == EXISTING_ROLE_ARN
    assert s.alarm_topic_arn == ALARM_TOPIC_ARN and not s.tokens_enabled
    assert (s.architecture, s.log_level) == ("x86_64", "DEBUG")


def test_database_defaults_to_existing_when_a_secret_is_given_and_create_otherwise() -> None:
    assert settings().database == "create"
    assert settings(databaseSecretArn=DATABASE_SECRET_ARN).database == "existing"
    assert settings(database="sqlite-demo").database == "sqlite-demo"
    byo = settings(existingFunctionArn=EXISTING_FUNCTION_ARN, existingFunctionRoleArn=EXISTING_ROLE_ARN)
    assert not byo.creates_database  # bring your own function needs no database setting


def test_rds_managed_secret_and_custom_domain_settings_are_read() -> None:
    s = settings(
        databaseSecretArn=DATABASE_SECRET_ARN, databaseSecretKmsKeyArn=KMS_KEY_ARN, databaseHost="db.internal",
        databasePort=5433, databaseName="careconnect", domainName="ws.example.com", certificateArn=CERTIFICATE_ARN,
        hostedZoneId="Z0123456789ABC", hostedZoneName="example.com", databaseMinCapacity="0.5",
        databaseMaxCapacity="8", vpcEgress="nat-gateway",
    )
    assert (s.database_host, s.database_port, s.database_name) == ("db.internal", 5433, "careconnect")
    assert s.database_secret_kms_key_arn == KMS_KEY_ARN
    assert (s.domain_name, s.hosted_zone_name) == ("ws.example.com", "example.com")
    assert (s.database_min_capacity, s.database_max_capacity, s.vpc_egress) == (0.5, 8, "nat-gateway")


def test_rds_managed_master_user_secret_arns_are_accepted() -> None:
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!cluster-3d1c2d7a-0b4e-4c8f-9a2b-0123456789ab-AbC12x"
    assert settings(databaseSecretArn=arn, databaseHost="db.internal").database_secret_arn == arn


def test_every_retention_value_maps_to_its_retention_days_member() -> None:
    assert len(RETENTION_DAYS) == len([m for m in logs.RetentionDays if m is not logs.RetentionDays.INFINITE])
    assert RETENTION_DAYS[30] is logs.RetentionDays.ONE_MONTH and RETENTION_DAYS[3653] is logs.RetentionDays.TEN_YEARS


@pytest.mark.parametrize(
    ("values", "names_key", "accepts"),
    [
        ({"stageName": "bad stage"}, "stageName", "letters, digits"),
        ({"apiName": "x" * 200}, "apiName", "1-128"),
        ({"connectionTtlMinutes": "two hours"}, "connectionTtlMinutes", "an integer from 1 to 10080"),
        ({"connectionTtlMinutes": 0}, "connectionTtlMinutes", "an integer from 1 to 10080"),
        ({"connectionTtlMinutes": 1.5}, "connectionTtlMinutes", "an integer"),
        ({"cleanupSchedule": "every 15 minutes"}, "cleanupSchedule", "rate(15 minutes)"),
        ({"cleanupSchedule": "rate(1 minutes)"}, "cleanupSchedule", "rate(1 hour)"),
        ({"cleanupSchedule": "rate(5 minute)"}, "cleanupSchedule", "EventBridge schedule"),
        ({"allowedConnectionTypes": "Email Verification"}, "allowedConnectionTypes", "lower-case names"),
        ({"allowedConnectionTypes": ","}, "allowedConnectionTypes", "non-empty list"),
        ({"allowedConnectionTypes": "general,general"}, "allowedConnectionTypes", "twice"),
        ({"allowedConnectionTypes": "[not json"}, "allowedConnectionTypes", "JSON list"),
        ({"allowedConnectionTypes": 5}, "allowedConnectionTypes", "a list of"),
        ({"maxConnectionsPerEmail": 1001}, "maxConnectionsPerEmail", "1 to 1000"),
        ({"throttlingRateLimit": "fast"}, "throttlingRateLimit", "a number from 1 to 10000"),
        ({"throttlingRateLimit": True}, "throttlingRateLimit", "a number"),
        ({"throttlingBurstLimit": 0}, "throttlingBurstLimit", "1 to 5000"),
        ({"logRetentionDays": 10}, "logRetentionDays", "one of 1, 3, 5, 7, 14, 30"),
        ({"logRetentionDays": True}, "logRetentionDays", "one of 1, 3, 5"),
        ({"accessLogGroupName": "bad name!"}, "accessLogGroupName", "log group name"),
        ({"databaseSecretArn": "prod/db"}, "databaseSecretArn", "Secrets Manager secret ARN"),
        ({"database": "postgres"}, "database", "one of create, existing, sqlite-demo"),
        ({"databaseSecretKmsKeyArn": "alias/db"}, "databaseSecretKmsKeyArn", "KMS key ARN"),
        ({"databaseHost": "db host"}, "databaseHost", "host name"),
        ({"databasePort": 70000}, "databasePort", "an integer from 1 to 65535"),
        ({"databaseName": "1db"}, "databaseName", "PostgreSQL database name"),
        ({"databaseMinCapacity": "0.3"}, "databaseMinCapacity", "steps of 0.5"),
        ({"databaseMaxCapacity": 300}, "databaseMaxCapacity", "a number from 0 to 256"),
        ({"vpcEgress": "endpoints"}, "vpcEgress", "one of nat-instance, nat-gateway"),
        ({"domainName": "WS.Example.com"}, "domainName", "lower-case DNS name"),
        ({"certificateArn": "cert"}, "certificateArn", "ACM certificate ARN"),
        ({"hostedZoneId": "zone"}, "hostedZoneId", "Route 53 hosted zone id"),
        ({"vpcId": "vpc-xyz"}, "vpcId", "vpc-0abc1234"),
        ({"vpcId": "vpc-0abc1234", "subnetIds": "subnet-nope"}, "subnetIds", "subnet ids"),
        ({"vpcId": "vpc-0abc1234", "subnetIds": "subnet-0aaa1111", "securityGroupIds": "sg-"}, "securityGroupIds", "security group ids"),
        ({"alarmTopicArn": "ops-topic"}, "alarmTopicArn", "SNS topic ARN"),
        ({"alarmEmail": "ops"}, "alarmEmail", "e-mail address"),
        ({"connectionCountAlarmThreshold": -1}, "connectionCountAlarmThreshold", "an integer from 1"),
        ({"integrationErrorAlarmThreshold": 0}, "integrationErrorAlarmThreshold", "an integer from 1 to 10000000"),
        ({"integrationErrorAlarmThreshold": "many"}, "integrationErrorAlarmThreshold", "an integer from 1"),
        ({"existingFunctionArn": "cc-backend-main"}, "existingFunctionArn", "Lambda function ARN"),
        ({"existingFunctionRoleArn": "role/x"}, "existingFunctionRoleArn", "IAM role ARN"),
        ({"ssmParameterPrefix": "websocket/"}, "ssmParameterPrefix", "/websocket-notifications"),
        ({"connectTokens": "off"}, "connectTokens", "one of enabled, disabled"),
        ({"connectTokenSecretArn": "token"}, "connectTokenSecretArn", "Secrets Manager secret ARN"),
        ({"architecture": "arm"}, "architecture", "one of arm64, x86_64"),
        ({"bundle": "yes"}, "bundle", "true or false"),
        ({"createApiGatewayLogsRole": "maybe"}, "createApiGatewayLogsRole", "true or false"),
        ({"metricsNamespace": "bad namespace!"}, "metricsNamespace", "metric namespace"),
        ({"logLevel": "LOUD"}, "logLevel", "DEBUG, INFO, WARNING, ERROR"),
        ({"managementApiMethods": "POST,PATCH"}, "managementApiMethods", "methods from POST, GET, DELETE"),
        ({"managementApiMethods": "POST,post"}, "managementApiMethods", "twice"),
        ({"managementApiMethods": ["GET"]}, "managementApiMethods", "needs POST to push"),
        ({"reservedConcurrency": 0}, "reservedConcurrency", "an integer from 1 to 10000"),
        ({"opsReservedConcurrency": "ten"}, "opsReservedConcurrency", "an integer from 1 to 1000"),
        ({"provisionedConcurrency": -1}, "provisionedConcurrency", "an integer from 0 to 10000"),
        ({"databaseMaxConnections": 1}, "databaseMaxConnections", "an integer from 2 to 262143"),
        ({"databaseReservedConnections": -5}, "databaseReservedConnections", "an integer from 0 to 262143"),
        ({"routeFunctionTimeoutSeconds": 29}, "routeFunctionTimeoutSeconds", "an integer from 3 to 28"),
        ({"routeFunctionMemoryMb": 64}, "routeFunctionMemoryMb", "an integer from 128 to 10240"),
        ({"opsFunctionTimeoutSeconds": 901}, "opsFunctionTimeoutSeconds", "an integer from 30 to 900"),
        ({"opsFunctionMemoryMb": 20000}, "opsFunctionMemoryMb", "an integer from 128 to 10240"),
        ({"databaseProxy": "yes"}, "databaseProxy", "one of none, create"),
        ({"databaseProxyBorrowTimeoutSeconds": 0}, "databaseProxyBorrowTimeoutSeconds", "an integer from 1 to 27"),
        ({"databaseClusterIdentifier": "1db"}, "databaseClusterIdentifier", "Aurora DB cluster identifier"),
        ({"databaseInstanceIdentifier": "db_1"}, "databaseInstanceIdentifier", "RDS DB instance identifier"),
        ({"natInstanceImageId": "ami-XYZ"}, "natInstanceImageId", "an arm64 Amazon Linux AMI id"),
        ({"databaseSecurityGroupId": "sg-1"}, "databaseSecurityGroupId", "security group id like sg-0abc1234"),
    ],
)
def test_a_bad_value_names_the_key_and_what_it_accepts(values: dict[str, Any], names_key: str, accepts: str) -> None:
    with pytest.raises(SettingsError) as error:
        settings(**values)
    assert names_key in str(error.value)
    assert accepts in str(error.value)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"subnetIds": "subnet-0aaa1111"}, "subnetIds/securityGroupIds need vpcId"),
        ({"vpcId": "vpc-0abc1234"}, "vpcId needs subnetIds"),
        ({"existingFunctionArn": EXISTING_FUNCTION_ARN}, "existingFunctionArn and existingFunctionRoleArn go together"),
        ({"existingFunctionRoleArn": EXISTING_ROLE_ARN}, "existingFunctionArn and existingFunctionRoleArn go together"),
        (
            {"existingFunctionArn": EXISTING_FUNCTION_ARN, "existingFunctionRoleArn": EXISTING_ROLE_ARN,
             "databaseSecretArn": DATABASE_SECRET_ARN},
            "existing function keeps its own network and database settings",
        ),
        ({"alarmTopicArn": ALARM_TOPIC_ARN, "alarmEmail": "ops@example.com"}, "alarmTopicArn and alarmEmail are exclusive"),
        ({"connectTokens": "disabled", "connectTokenSecretArn": DATABASE_SECRET_ARN}, "connectTokens is 'disabled'"),
        (
            {"reservedConcurrency": 160, "opsReservedConcurrency": 10},
            r"reservedConcurrency=160 \+ opsReservedConcurrency=10 = 170 function instances.*databaseMaxConnections=189 - "
            r"databaseReservedConnections=20 leaves only 169: lower the concurrencies to a total of at most 169.*databaseProxy=create",
        ),
        ({"databaseMaxConnections": 50, "databaseReservedConnections": 50}, "databaseReservedConnections=50 leaves no connection"),
        ({"provisionedConcurrency": 101}, "provisionedConcurrency=101 exceeds reservedConcurrency=100"),
        ({"databaseProxy": "create"}, "databaseProxy=create puts RDS Proxy in front of an existing database, but database is 'create'"),
        ({"databaseProxy": "create", "database": "existing", "databaseSecretArn": DATABASE_SECRET_ARN},
         "databaseProxy=create needs vpcId, databaseClusterIdentifier or databaseInstanceIdentifier"),
        (
            {"databaseProxy": "create", "databaseSecretArn": DATABASE_SECRET_ARN, "vpcId": "vpc-0abc1234",
             "subnetIds": "subnet-0aaa1111", "databaseClusterIdentifier": "ws-db", "databaseProxyBorrowTimeoutSeconds": 10},
            "databaseProxyBorrowTimeoutSeconds=10 must be shorter than routeFunctionTimeoutSeconds=10",
        ),
        ({"databaseClusterIdentifier": "a", "databaseInstanceIdentifier": "b", "database": "existing",
          "databaseSecretArn": DATABASE_SECRET_ARN}, "databaseClusterIdentifier and databaseInstanceIdentifier are exclusive"),
        ({"databaseClusterIdentifier": "ws-aurora"}, "databaseClusterIdentifier only apply to database=existing"),
        ({"database": "existing"}, "database=existing needs databaseSecretArn"),
        ({"databaseHost": "db.internal"}, "only apply to database=existing"),
        ({"database": "sqlite-demo", "databaseSecretArn": DATABASE_SECRET_ARN}, "add -c database=existing"),
        ({"vpcId": "vpc-0abc1234", "subnetIds": "subnet-0aaa1111"}, "vpcId only apply to database=existing"),
        ({"databaseMinCapacity": 4, "databaseMaxCapacity": 2}, "databaseMinCapacity=4 is above databaseMaxCapacity=2"),
        ({"databaseMaxCapacity": 0.5}, "at least 1 ACU"),
        (
            {"existingFunctionArn": EXISTING_FUNCTION_ARN, "existingFunctionRoleArn": EXISTING_ROLE_ARN,
             "databaseHost": "db.internal"},
            "existing function keeps its own network and database settings",
        ),
        ({"domainName": "ws.example.com"}, "domainName and certificateArn go together"),
        ({"certificateArn": CERTIFICATE_ARN}, "domainName and certificateArn go together"),
        ({"hostedZoneId": "Z0123456789ABC"}, "hostedZoneId and hostedZoneName go together"),
        ({"hostedZoneId": "Z0123456789ABC", "hostedZoneName": "example.com"}, "need domainName and certificateArn"),
        (
            {"domainName": "ws.example.com", "certificateArn": CERTIFICATE_ARN, "hostedZoneId": "Z0123456789ABC",
             "hostedZoneName": "example.org"},
            "is not inside hostedZoneName",
        ),
    ],
)
def test_invalid_combinations_say_what_to_do(values: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        settings(**values)


def test_default_concurrency_fits_the_default_database_with_headroom() -> None:
    s = settings()
    assert s.reserved_concurrency + s.ops_reserved_concurrency <= s.database_connections_for_functions
    assert (s.database_max_connections, s.database_connections_for_functions) == (189, 169)


def test_concurrency_exactly_at_the_budget_is_accepted() -> None:
    s = settings(reservedConcurrency=159, opsReservedConcurrency=10)
    assert s.reserved_concurrency + s.ops_reserved_concurrency == s.database_connections_for_functions


def test_a_proxy_lifts_the_instance_budget_and_an_existing_function_is_not_sized_here() -> None:
    proxied = settings(
        databaseProxy="create", databaseSecretArn=DATABASE_SECRET_ARN, vpcId="vpc-0abc1234", subnetIds="subnet-0aaa1111",
        databaseInstanceIdentifier="ws-postgres", reservedConcurrency=1000, databaseSecurityGroupId="sg-0ddd4444",
    )
    assert proxied.proxy_enabled and proxied.reserved_concurrency == 1000
    byo = settings(existingFunctionArn=EXISTING_FUNCTION_ARN, existingFunctionRoleArn=EXISTING_ROLE_ARN, reservedConcurrency=1000)
    assert byo.bring_your_own_function


def test_management_api_methods_accept_lower_case_text_and_json_lists() -> None:
    assert settings(managementApiMethods="post, delete").management_api_methods == ("POST", "DELETE")
    assert settings(managementApiMethods='["POST","GET"]').management_api_methods == ("POST", "GET")


def test_settings_are_immutable() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings().stage_name = "dev"  # type: ignore[misc]


def test_readme_sizing_row_for_the_defaults_is_the_defaults() -> None:
    """The README's worked sizing row for 100,000 users documents exactly what ships in cdk.json."""
    readme = (PROJECT_ROOT / "README.md").read_text()
    (row,) = [line for line in readme.splitlines() if line.startswith("| 100,000 (the defaults)")]
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    d = StackSettings.from_context(Context(json.loads((PROJECT_ROOT / "cdk.json").read_text())["context"]))
    assert cells[1] == "185-333"  # 100,000 / 540 .. 100,000 / 300 pings per second
    assert cells[3] == f"{int(d.throttling_rate_limit):,} / {d.throttling_burst_limit:,}"
    assert float(cells[1].split("-")[1]) + float(cells[2]) <= d.throttling_rate_limit  # pings + the wave fit
    assert cells[4].split()[0] == str(d.reserved_concurrency) and cells[5] == str(d.ops_reserved_concurrency)
    assert f"({d.database_max_connections}: {d.reserved_concurrency + d.ops_reserved_concurrency} for us + " \
        f"{d.database_reserved_connections} reserved)" in cells[6]


@pytest.mark.parametrize("values", [{"vpcEgress": "nat-gateway"}, {"database": "sqlite-demo"}])
def test_nat_instance_image_id_only_applies_to_the_stacks_own_nat_instance(values: dict[str, Any]) -> None:
    assert settings(natInstanceImageId="ami-0abc12345def67890").nat_instance_image_id == "ami-0abc12345def67890"
    with pytest.raises(SettingsError, match="natInstanceImageId only applies to the NAT instance"):
        settings(natInstanceImageId="ami-0abc12345def67890", **values)


@pytest.mark.parametrize(("context", "message"), [
    ({"databaseStatementTimeoutMs": "10000"},
     "databaseStatementTimeoutMs=10000 must be under routeFunctionTimeoutSeconds=10 (10000 ms)"),
    ({"databaseStatementTimeoutMs": "7000", "routeFunctionTimeoutSeconds": "5"},
     "databaseStatementTimeoutMs=7000 must be under routeFunctionTimeoutSeconds=5"),
    ({"cleanupTimeBudgetSeconds": "120"}, "cleanupTimeBudgetSeconds=120 must be under opsFunctionTimeoutSeconds=120"),
    ({"cleanupTimeBudgetSeconds": "60", "opsFunctionTimeoutSeconds": "45"},
     "cleanupTimeBudgetSeconds=60 must be under opsFunctionTimeoutSeconds=45"),
    ({"databasePooler": "pgbouncer", "databaseProxy": "create", "databaseSecretArn": DATABASE_SECRET_ARN,
      "vpcId": "vpc-0abc1234", "subnetIds": "subnet-0aaa1111", "databaseInstanceIdentifier": "ws-postgres"},
     "databasePooler=pgbouncer contradicts databaseProxy=create"),
])
def test_runtime_settings_must_fit_the_function_timeouts(context: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)):
        settings(**context)


def test_runtime_settings_just_under_the_function_timeouts_are_accepted() -> None:
    s = settings(databaseStatementTimeoutMs="9999", cleanupTimeBudgetSeconds="119", databasePooler="none")
    assert (s.database_statement_timeout_ms, s.cleanup_time_budget_seconds, s.database_pooler) == (9999, 119, "none")
