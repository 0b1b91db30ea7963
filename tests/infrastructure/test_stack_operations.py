"""Cleanup schedule, schema migration on deploy, alarms, outputs and SSM parameters."""
from __future__ import annotations

import json
from pathlib import Path

from aws_cdk.assertions import Capture, Match

from cdk_app.monitoring import INTEGRATION_ERRORS_DESCRIPTION, SERVICE_FAILURES_DESCRIPTION
from cdk_app.schema import migrations_fingerprint
from cdk_app.runtime_contract import MIGRATIONS_DIR, SERVICE_FAILURES_METRIC

from .conftest import ALARM_TOPIC_ARN, SynthFn, Synthesis


def test_cleanup_rule_invokes_the_function_with_the_cleanup_action(default: Synthesis) -> None:
    target_input = Capture()
    default.template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "ScheduleExpression": "rate(15 minutes)",
            "State": "ENABLED",
            "Targets": [
                Match.object_like({
                    "Arn": {"Fn::GetAtt": [default.function_id("ops"), "Arn"]},
                    "Input": target_input,
                    "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 3600},
                    "DeadLetterConfig": {"Arn": {"Fn::GetAtt": [Match.string_like_regexp("CleanupDeadLetterQueue"), "Arn"]}},
                })
            ],
        },
    )
    assert json.loads(target_input.as_string()) == {"action": "cleanup"}
    default.template.has_resource_properties(
        "AWS::Lambda::Permission", {"Principal": "events.amazonaws.com", "Action": "lambda:InvokeFunction"}
    )


def test_dead_letter_queues_are_encrypted_and_tls_only(default: Synthesis) -> None:
    queues = default.resources("AWS::SQS::Queue")
    assert len(queues) == 3  # cleanup events, and each function's failed asynchronous invocations
    for queue in queues.values():
        assert queue["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0].startswith("DataKey")  # the stack's CMK
        assert queue["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    policies = json.dumps(default.resources("AWS::SQS::QueuePolicy"))
    assert policies.count('"aws:SecureTransport": "false"') == 3


def test_schema_migrates_on_deploy_through_the_ops_function(default: Synthesis) -> None:
    default.template.has_resource_properties(
        "Custom::WebSocketSchemaMigration",
        {
            "ServiceToken": {"Fn::GetAtt": [default.function_id("ops"), "Arn"]},
            "action": "migrate",
            "migrationsHash": migrations_fingerprint(),
        },
    )


def test_a_migration_that_never_answers_fails_the_deploy_within_five_minutes(default: Synthesis) -> None:
    (migration,) = default.resources("Custom::WebSocketSchemaMigration").values()
    service_timeout = int(migration["Properties"]["ServiceTimeout"])  # CDK renders it as a string, CFN accepts both
    assert service_timeout == 300  # instead of CloudFormation's default of one hour
    assert default.function("ops")["Timeout"] < service_timeout  # the function gives up well before CloudFormation


def test_a_long_ops_timeout_makes_cloudformation_wait_a_minute_longer(synth: SynthFn) -> None:
    sized = synth("sized")
    (migration,) = sized.resources("Custom::WebSocketSchemaMigration").values()
    assert sized.function("ops")["Timeout"] == 600
    assert int(migration["Properties"]["ServiceTimeout"]) == 660


def test_migrations_fingerprint_changes_with_a_new_migration(tmp_path: Path) -> None:
    assert migrations_fingerprint(tmp_path / "absent") == "none"
    (tmp_path / "0001_init.sql").write_text("CREATE TABLE t (id int);")
    first = migrations_fingerprint(tmp_path)
    (tmp_path / "0002_more.sql").write_text("ALTER TABLE t ADD c int;")
    assert first != migrations_fingerprint(tmp_path) and len(first) == 64
    if MIGRATIONS_DIR.is_dir():
        assert migrations_fingerprint() != "none"


def alarms_by_id(synthesis: Synthesis) -> dict[str, dict]:
    """Alarm properties by construct id under Monitoring (``MonitoringRouteFunctionErrors1234ABCD`` -> ``RouteFunctionErrors``)."""
    return {k.removeprefix("Monitoring")[:-8]: a["Properties"] for k, a in synthesis.resources("AWS::CloudWatch::Alarm").items()}


def test_alarms_cover_connections_api_errors_each_functions_errors_throttles_concurrency_and_deliveries(
    default: Synthesis,
) -> None:
    alarms = alarms_by_id(default)
    assert set(alarms) == {
        "HighConnectionCount", "IntegrationErrors", "ExecutionErrors", "FailedDeliveries", "ServiceFailures",
        "RouteFunctionErrors", "RouteFunctionThrottles", "RouteFunctionConcurrency",
        "OpsFunctionErrors", "OpsFunctionThrottles", "OpsFunctionConcurrency",
        "DatabaseConnections",  # the default stack creates its database, so it knows it
    }
    assert alarms["HighConnectionCount"]["Threshold"] == 1000
    assert alarms["IntegrationErrors"]["Threshold"] == 100
    for name in ("HighConnectionCount", "IntegrationErrors", "ExecutionErrors"):
        assert alarms[name]["Namespace"] == "AWS/ApiGateway"
        assert [d["Name"] for d in alarms[name]["Dimensions"]] == ["ApiId", "Stage"]
    for which, label in (("route", "Route"), ("ops", "Ops")):
        function_ref = [{"Name": "FunctionName", "Value": {"Ref": default.function_id(which)}}]
        for kind, metric in (("Errors", "Errors"), ("Throttles", "Throttles"), ("Concurrency", "ConcurrentExecutions")):
            alarm = alarms[f"{label}Function{kind}"]
            assert (alarm["Namespace"], alarm["MetricName"], alarm["Dimensions"]) == ("AWS/Lambda", metric, function_ref)
        assert alarms[f"{label}FunctionThrottles"]["Threshold"] == 1
    for name in ("FailedDeliveries", "ServiceFailures"):
        assert alarms[name]["Namespace"] == "WebSocketNotifications"
        assert "Dimensions" not in alarms[name]
    assert all("AlarmActions" not in a for a in alarms.values())  # no topic configured


def test_concurrency_alarms_fire_at_80_percent_of_each_reserved_concurrency_for_3_minutes(
    default: Synthesis, synth: SynthFn
) -> None:
    for synthesis, route, ops in ((default, 80, 8), (synth("sized"), 32, 4)):
        alarms = alarms_by_id(synthesis)
        assert (alarms["RouteFunctionConcurrency"]["Threshold"], alarms["OpsFunctionConcurrency"]["Threshold"]) == (route, ops)
        for name in ("RouteFunctionConcurrency", "OpsFunctionConcurrency"):
            assert (alarms[name]["Statistic"], alarms[name]["Period"], alarms[name]["EvaluationPeriods"]) == ("Maximum", 60, 3)
            assert alarms[name]["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_database_connections_alarm_when_the_stack_knows_the_database(synth: SynthFn) -> None:
    cluster, instance = alarms_by_id(synth("sized"))["DatabaseConnections"], alarms_by_id(synth("proxy"))["DatabaseConnections"]
    assert cluster["Dimensions"] == [{"Name": "DBClusterIdentifier", "Value": "ws-aurora"}]
    assert instance["Dimensions"] == [{"Name": "DBInstanceIdentifier", "Value": "ws-postgres"}]
    for alarm, max_connections in ((cluster, 100), (instance, 189)):
        assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == ("AWS/RDS", "DatabaseConnections", "Maximum")
        assert alarm["Threshold"] == -(-max_connections * 8 // 10)  # 80 % of databaseMaxConnections, rounded up
        assert f"databaseMaxConnections={max_connections}" in alarm["AlarmDescription"]


def test_an_existing_function_keeps_one_error_and_one_throttle_alarm_and_no_concurrency_alarm(synth: SynthFn) -> None:
    alarms = alarms_by_id(synth("existing_function"))
    assert {"FunctionErrors", "FunctionThrottles"} <= set(alarms)
    assert not [name for name in alarms if "Concurrency" in name or name.startswith(("Route", "Ops"))]


def test_service_failures_alarm_fires_on_the_first_failure_on_the_functions_side(default: Synthesis) -> None:
    default.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": SERVICE_FAILURES_METRIC,
            "Namespace": "WebSocketNotifications",
            "Statistic": "Sum",
            "Period": 300,
            "EvaluationPeriods": 1,
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching",
            "AlarmDescription": SERVICE_FAILURES_DESCRIPTION,
        },
    )


def test_integration_errors_alarm_tolerates_rejected_clients_up_to_its_threshold(default: Synthesis) -> None:
    description = Capture()
    default.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "IntegrationError",
            "Namespace": "AWS/ApiGateway",
            "Statistic": "Sum",
            "Period": 300,
            "Threshold": 100,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "AlarmDescription": description,
        },
    )
    assert description.as_string().startswith(INTEGRATION_ERRORS_DESCRIPTION)
    assert "100 or more in 5 minutes" in description.as_string()
    assert "failed or timed out" not in description.as_string()


def test_integration_error_threshold_setting_is_applied(synth: SynthFn) -> None:
    low = synth("tokens_disabled")  # sets integrationErrorAlarmThreshold=25
    low.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {"MetricName": "IntegrationError", "Threshold": 25, "AlarmDescription": Match.string_like_regexp("25 or more")},
    )


def test_connection_alarm_says_it_counts_attempts_not_open_connections(default: Synthesis) -> None:
    description = Capture()
    default.template.has_resource_properties(
        "AWS::CloudWatch::Alarm", {"MetricName": "ConnectCount", "AlarmDescription": description}
    )
    assert description.as_string().startswith("1000 or more new WebSocket connection attempts in 5 minutes")
    assert "rejected ones included" in description.as_string()


def test_alarm_topic_setting_wires_every_alarm_to_it(synth: SynthFn) -> None:
    alarms = synth("tokens_disabled").resources("AWS::CloudWatch::Alarm").values()
    assert len(alarms) == 11
    assert all(a["Properties"]["AlarmActions"] == [ALARM_TOPIC_ARN] for a in alarms)
    synth("tokens_disabled").template.resource_count_is("AWS::SNS::Topic", 0)


def test_alarm_email_creates_an_encrypted_topic_with_the_subscription(synth: SynthFn) -> None:
    email = synth("vpc_database")
    email.template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})
    email.template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    email.template.has_resource_properties(
        "AWS::SNS::Subscription",
        {"Protocol": "email", "Endpoint": "ops@example.com", "RedrivePolicy": Match.object_like({})},
    )
    assert "cloudwatch.amazonaws.com" in json.dumps(email.resources("AWS::KMS::Key"))
    for alarm in email.resources("AWS::CloudWatch::Alarm").values():
        assert alarm["Properties"]["AlarmActions"][0]["Ref"].startswith("MonitoringAlarmTopic")


def test_outputs_name_the_urls_api_and_stage(default: Synthesis) -> None:
    outputs = default.template_json["Outputs"]
    assert {"WebSocketUrl", "ManagementEndpoint", "ApiId", "StageName"} <= set(outputs)
    assert outputs["WebSocketUrl"]["Value"]["Fn::Join"][1][0] == "wss://"
    assert outputs["ManagementEndpoint"]["Value"]["Fn::Join"][1][0] == "https://"
    assert outputs["WebSocketUrl"]["Value"]["Fn::Join"][1][-1] == "/prod"
    assert outputs["StageName"]["Value"] == "prod"
    assert outputs["ApiId"]["Value"]["Ref"].startswith("GatewayApi")


def test_ssm_parameters_hold_both_urls_under_the_prefix(default: Synthesis) -> None:
    parameters = {p["Properties"]["Name"]: p["Properties"]["Value"] for p in default.resources("AWS::SSM::Parameter").values()}
    outputs = default.template_json["Outputs"]
    assert parameters == {
        "/websocket-notifications/websocket-url": outputs["WebSocketUrl"]["Value"],
        "/websocket-notifications/management-endpoint": outputs["ManagementEndpoint"]["Value"],
    }


def test_migration_waits_for_the_functions_permissions(default: Synthesis) -> None:
    (migration,) = default.resources("Custom::WebSocketSchemaMigration").values()
    function_id = migration["Properties"]["ServiceToken"]["Fn::GetAtt"][0]
    depends_on = default.template_json["Resources"][function_id]["DependsOn"]
    assert any(d.startswith("HandlerRoleDefaultPolicy") for d in depends_on)  # secret reads exist before migrate


def test_stage_is_created_only_after_the_schema_migrated(default: Synthesis) -> None:
    (migration_id,) = default.resources("Custom::WebSocketSchemaMigration")
    (stage,) = default.resources("AWS::ApiGatewayV2::Stage").values()
    assert migration_id in stage["DependsOn"]  # no client can connect to a missing table
