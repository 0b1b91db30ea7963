"""Issue 15, the template: no billable debris after a failed first create, a proxy / existing-VPC
database that can admit what the deploy creates, safe day-2 updates, a certificate in the wrong region
refused in the first second, the cleanup after the migration. `wsctl preflight` checks the account side."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

from cdk_app.application import build_app
from cdk_app.network import NAT_IMAGE_PARAMETER
from cdk_app.settings import SettingsError

from .conftest import CERTIFICATE_ARN, DATABASE_SECRET_ARN, KMS_KEY_ARN, SynthFn, Synthesis, project_context, synthesize

RETAIN_ON_UPDATE_OR_DELETE = ("RetainExceptOnCreate", "Retain")
"""(DeletionPolicy, UpdateReplacePolicy) of RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE."""


def policies(synthesis: Synthesis, logical_id: str) -> tuple[str | None, str | None]:
    resource = synthesis.template_json["Resources"][logical_id]
    return resource.get("DeletionPolicy"), resource.get("UpdateReplacePolicy")


def logical_id(synthesis: Synthesis, prefix: str, resource_type: str) -> str:
    (found,) = [k for k in synthesis.resources(resource_type) if k.startswith(prefix)]
    return found


# --- 3. No billable debris after a failed first create ---------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "resource_type", "expected"),
    [
        ("DataKey", "AWS::KMS::Key", RETAIN_ON_UPDATE_OR_DELETE),
        ("RouteHandlerLogs", "AWS::Logs::LogGroup", RETAIN_ON_UPDATE_OR_DELETE),
        ("HandlerLogs", "AWS::Logs::LogGroup", RETAIN_ON_UPDATE_OR_DELETE),
        ("GatewayAccessLogs", "AWS::Logs::LogGroup", RETAIN_ON_UPDATE_OR_DELETE),
        ("ApiGatewayAccountLoggingLogs", "AWS::Logs::LogGroup", RETAIN_ON_UPDATE_OR_DELETE),
        ("NetworkFlowLogs", "AWS::Logs::LogGroup", ("Delete", "Delete")),
        ("NetworkNatImageLogs", "AWS::Logs::LogGroup", ("Delete", "Delete")),
        # The account logs role stays on purpose: other APIs in the region may log through it.
        ("ApiGatewayAccountLoggingRole", "AWS::IAM::Role", ("Retain", "Retain")),
        ("DatabaseCluster", "AWS::RDS::DBCluster", ("Snapshot", "Snapshot")),
    ],
)
def test_each_resource_has_its_deletion_and_update_replace_policy(
    default: Synthesis, prefix: str, resource_type: str, expected: tuple[str, str]
) -> None:
    assert policies(default, logical_id(default, prefix, resource_type)) == expected


def test_the_alarm_topic_key_is_removed_when_its_own_creation_rolls_back(synth: SynthFn) -> None:
    vpc_database = synth("vpc_database")  # alarmEmail: the stack creates the topic and its key
    assert policies(vpc_database, logical_id(vpc_database, "MonitoringAlarmTopicKey", "AWS::KMS::Key")) == RETAIN_ON_UPDATE_OR_DELETE


def test_nothing_is_plain_retain_except_the_account_logs_role(default: Synthesis) -> None:
    retained = sorted(k for k, v in default.template_json["Resources"].items() if v.get("DeletionPolicy") == "Retain")
    assert [k for k in retained if not k.startswith("ApiGatewayAccountLoggingRole")] == []


def test_every_log_group_has_a_retention_the_rds_export_included(default: Synthesis) -> None:
    groups = default.resources("AWS::Logs::LogGroup")
    assert groups and all(g["Properties"].get("RetentionInDays") == 30 for g in groups.values())
    (rds_logs,) = default.resources("Custom::LogRetention").values()
    assert rds_logs["Properties"]["RetentionInDays"] == 30
    assert rds_logs["Properties"]["LogGroupName"] == {
        "Fn::Join": ["", ["/aws/rds/cluster/", {"Ref": logical_id(default, "DatabaseCluster", "AWS::RDS::DBCluster")}, "/postgresql"]]
    }


# --- 2. The proxy / existing-VPC migration can deploy -----------------------------------------------------------


def test_with_database_security_group_id_the_database_admits_the_proxy_before_the_migration(synth: SynthFn) -> None:
    proxy = synth("proxy")
    rules = {k: r["Properties"] for k, r in proxy.resources("AWS::EC2::SecurityGroupIngress").items()
             if r["Properties"]["GroupId"] == "sg-0ddd4444"}
    ((rule_id, rule),) = rules.items()
    proxy_group = logical_id(proxy, "DatabaseProxySecurityGroup", "AWS::EC2::SecurityGroup")
    assert rule["SourceSecurityGroupId"] == {"Fn::GetAtt": [proxy_group, "GroupId"]}
    assert (rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) == ("tcp", 5432, 5432)
    migration = logical_id(proxy, "SchemaMigrate", "Custom::WebSocketSchemaMigration")
    depends_on = proxy.template_json["Resources"][migration]["DependsOn"]
    assert rule_id in depends_on
    # The migration goes through the proxy: it waits for the database to be registered as its target.
    assert logical_id(proxy, "DatabaseProxyProxyTargetGroup", "AWS::RDS::DBProxyTargetGroup") in depends_on


def test_without_a_proxy_the_database_admits_each_function_on_the_database_port(tmp_path: Path) -> None:
    context = project_context(
        vpcId="vpc-0abc1234", subnetIds="subnet-0aaa1111,subnet-0bbb2222", databaseSecretArn=DATABASE_SECRET_ARN,
        databaseSecurityGroupId="sg-0ddd4444", databasePort="5433",
    )
    synthesis = synthesize(context, tmp_path)
    assert synthesis.validation_error is None
    rules = [r["Properties"] for r in synthesis.resources("AWS::EC2::SecurityGroupIngress").values()
             if r["Properties"]["GroupId"] == "sg-0ddd4444"]
    sources = sorted(json.dumps(r["SourceSecurityGroupId"]) for r in rules)
    function_groups = sorted(json.dumps(synthesis.function(w)["VpcConfig"]["SecurityGroupIds"][0]) for w in ("route", "ops"))
    assert sources == function_groups
    assert all((r["FromPort"], r["ToPort"]) == (5433, 5433) for r in rules)


def test_named_security_groups_are_added_to_the_proxy(tmp_path: Path) -> None:
    with pytest.raises(SettingsError):  # sanity: the refusal below is about the groups, not the proxy
        build_app(context=project_context(databaseProxy="create", databaseSecretArn=DATABASE_SECRET_ARN,
                                          vpcId="vpc-0abc1234", subnetIds="subnet-0aaa1111",
                                          databaseInstanceIdentifier="ws-postgres"))
    app, stack = build_app(context=project_context(
        databaseProxy="create", databaseSecretArn=DATABASE_SECRET_ARN, vpcId="vpc-0abc1234",
        subnetIds="subnet-0aaa1111,subnet-0bbb2222", databaseInstanceIdentifier="ws-postgres",
        securityGroupIds="sg-0eee5555",
    ), compliance_checks=False, outdir=str(tmp_path))
    template = app.synth().get_stack_by_name(stack.stack_name).template
    (proxy,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::RDS::DBProxy"]
    assert "sg-0eee5555" in proxy["Properties"]["VpcSecurityGroupIds"]


@pytest.mark.parametrize(
    ("overrides", "names"),
    [
        ({"databaseProxy": "create", "databaseInstanceIdentifier": "ws-postgres"}, "databaseProxy=create"),
        ({}, "database=existing with vpcId"),
    ],
)
def test_synth_refuses_a_database_that_cannot_admit_what_the_deploy_creates(overrides: dict[str, Any], names: str) -> None:
    context = project_context(databaseSecretArn=DATABASE_SECRET_ARN, vpcId="vpc-0abc1234",
                              subnetIds="subnet-0aaa1111,subnet-0bbb2222", **overrides)
    with pytest.raises(SettingsError, match=re.escape(names) + " needs databaseSecurityGroupId or securityGroupIds"):
        build_app(context=context)


def test_database_security_group_id_needs_the_vpc() -> None:
    with pytest.raises(SettingsError, match="databaseSecurityGroupId"):
        build_app(context=project_context(databaseSecretArn=DATABASE_SECRET_ARN, databaseSecurityGroupId="sg-0ddd4444"))


# --- 4. Day-2 safety -------------------------------------------------------------------------------------------


def test_the_nat_instance_image_is_resolved_once_not_at_every_deploy(default: Synthesis) -> None:
    (nat,) = default.resources("AWS::EC2::Instance").values()
    lookup = logical_id(default, "NetworkNatImageLookup", "Custom::AWS")
    assert nat["Properties"]["ImageId"] == {"Fn::GetAtt": [lookup, "Parameter.Value"]}
    call = json.loads(default.template_json["Resources"][lookup]["Properties"]["Create"])
    assert call["action"] == "getParameter" and call["parameters"] == {"Name": NAT_IMAGE_PARAMETER}
    # No SSM-typed parameter or dynamic reference: those are re-read at every deploy.
    assert [p for p in default.template_json.get("Parameters", {}) if p != "BootstrapVersion"] == []
    assert "resolve:ssm" not in json.dumps(default.template_json)


def test_nat_instance_image_id_pins_the_image(tmp_path: Path) -> None:
    app, stack = build_app(context=project_context(natInstanceImageId="ami-0abc12345def67890"), compliance_checks=False,
                           outdir=str(tmp_path))
    template = app.synth().get_stack_by_name(stack.stack_name).template
    (nat,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::EC2::Instance"]
    assert nat["Properties"]["ImageId"] == "ami-0abc12345def67890"
    assert not [r for r in template["Resources"].values() if r["Type"] == "Custom::AWS"]


def test_no_automatic_minor_upgrade_can_make_the_engine_version_lie(default: Synthesis) -> None:
    (cluster,) = default.resources("AWS::RDS::DBCluster").values()
    (writer,) = default.resources("AWS::RDS::DBInstance").values()
    assert cluster["Properties"]["EngineVersion"] == "17.7"
    assert cluster["Properties"]["AutoMinorVersionUpgrade"] is False
    assert writer["Properties"]["AutoMinorVersionUpgrade"] is False


TUNED = {
    "reservedConcurrency": "50", "opsReservedConcurrency": "5", "provisionedConcurrency": "2",
    "throttlingRateLimit": "500", "throttlingBurstLimit": "800", "cleanupSchedule": "rate(2 hours)",
    "connectionTtlMinutes": "60", "logRetentionDays": "90", "databaseMinCapacity": "0.5", "databaseMaxCapacity": "4",
    "connectionCountAlarmThreshold": "500", "integrationErrorAlarmThreshold": "50", "logLevel": "DEBUG",
    "routeFunctionTimeoutSeconds": "12", "routeFunctionMemoryMb": "512", "maxConnectionsPerEmail": "3",
    "inactiveRetentionHours": "48", "cleanupBatchSize": "100", "cleanupTimeBudgetSeconds": "30",
    "cleanupDutyCyclePercent": "50", "databaseStatementTimeoutMs": "4000",
}
"""Every setting the README invites ops to tune, changed at once."""
STATEFUL_TYPES = (
    "AWS::RDS::DBCluster", "AWS::RDS::DBInstance", "AWS::SecretsManager::Secret", "AWS::KMS::Key",
    "AWS::Logs::LogGroup", "AWS::ApiGatewayV2::Api", "AWS::ApiGatewayV2::Stage", "AWS::EC2::Instance",
)


def replacements(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Resources of ``before`` that an update to ``after`` would replace: gone (new logical id) or a
    create-only property changed (per the CloudFormation registry schema cfn-lint ships)."""
    replaced = []
    for resource_id, resource in before["Resources"].items():
        other = after["Resources"].get(resource_id)
        if other is None or other["Type"] != resource["Type"]:
            replaced.append(f"{resource_id} ({resource['Type']}): logical id gone")
            continue
        if resource["Type"].startswith("Custom::"):
            continue
        schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", resource["Type"]).schema
        for pointer in schema.get("createOnlyProperties", []):
            name = pointer.split("/")[2]
            if resource.get("Properties", {}).get(name) != other.get("Properties", {}).get(name):
                replaced.append(f"{resource_id} ({resource['Type']}): create-only {name} changed")
    return replaced


def test_replacement_detection_sees_a_create_only_change() -> None:
    before = {"Resources": {"G": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": "a"}}}}
    after = {"Resources": {"G": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": "b"}}}}
    assert replacements(before, after) == ["G (AWS::Logs::LogGroup): create-only LogGroupName changed"]
    assert replacements(before, {"Resources": {}}) == ["G (AWS::Logs::LogGroup): logical id gone"]


def test_tuning_the_documented_settings_replaces_no_stateful_resource(default: Synthesis, tmp_path: Path) -> None:
    tuned = synthesize(project_context(**TUNED), tmp_path)
    assert tuned.validation_error is None
    replaced = replacements(default.template_json, tuned.template_json)
    stateful = [r for r in replaced if r.split(" (")[1].split(")")[0] in STATEFUL_TYPES]
    assert stateful == []
    # And the tuning really reached the template (the comparison is not vacuous).
    (stage,) = tuned.resources("AWS::ApiGatewayV2::Stage").values()
    assert stage["Properties"]["DefaultRouteSettings"]["ThrottlingRateLimit"] == 500
    (cluster,) = tuned.resources("AWS::RDS::DBCluster").values()
    assert cluster["Properties"]["ServerlessV2ScalingConfiguration"]["MaxCapacity"] == 4


# --- 5. Wrong-region certificate, cleanup after the migration ---------------------------------------------------


def test_a_certificate_of_another_region_fails_in_the_first_second(synth: SynthFn) -> None:
    rules = synth("rds_managed_secret").template_json["Rules"]
    (assertion,) = rules["CertificateInStackRegion"]["Assertions"]
    assert assertion["Assert"] == {"Fn::Equals": ["us-east-1", {"Ref": "AWS::Region"}]}
    assert "us-east-1" in assertion["AssertDescription"]


def test_synth_refuses_the_certificate_when_the_region_is_known() -> None:
    context = project_context(domainName="ws.example.com", certificateArn=CERTIFICATE_ARN, database="sqlite-demo")
    with pytest.raises(SettingsError, match="certificateArn is in us-east-1 but the stack deploys to eu-west-1"):
        build_app(context=context, region="eu-west-1")


def test_the_cleanup_schedule_starts_after_the_migration(default: Synthesis) -> None:
    rule = logical_id(default, "CleanupRule", "AWS::Events::Rule")
    migration = logical_id(default, "SchemaMigrate", "Custom::WebSocketSchemaMigration")
    assert migration in default.template_json["Resources"][rule]["DependsOn"]


def test_synth_notes_the_private_dns_endpoint_trap_for_an_existing_vpc(synth: SynthFn) -> None:
    infos = synth("vpc_database").entries("aws:cdk:info")
    assert any("execute-api interface VPC endpoint with private DNS" in i and "403" in i for i in infos)


# --- China kms:ViaService: ours and CDK's agree, and name the partition's real endpoint ---------------------------

URL_SUFFIX = {"aws": "amazonaws.com", "aws-cn": "amazonaws.com.cn", "aws-us-gov": "amazonaws.com"}


def evaluate(value: Any, region: str, partition: str) -> str:
    """A template string value with Ref AWS::Region / AWS::URLSuffix and Fn::Join evaluated."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return {"AWS::Region": region, "AWS::URLSuffix": URL_SUFFIX[partition]}[value["Ref"]]
    separator, parts = value["Fn::Join"]
    return separator.join(evaluate(part, region, partition) for part in parts)


def via_service_values(node: Any) -> list[Any]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "kms:ViaService"] + [x for v in node.values() for x in via_service_values(v)]
    if isinstance(node, list):
        return [x for v in node for x in via_service_values(v)]
    return []


@pytest.mark.parametrize(("region", "partition"), [("us-east-1", "aws"), ("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov")])
def test_every_kms_via_service_is_the_secrets_manager_endpoint_of_the_partition(region: str, partition: str, tmp_path: Path) -> None:
    import boto3

    endpoint = boto3.client("secretsmanager", region_name=region, aws_access_key_id="x", aws_secret_access_key="x").meta.endpoint_url
    expected = endpoint.removeprefix("https://")  # secretsmanager.cn-north-1.amazonaws.com.cn in China
    app, stack = build_app(
        context=project_context(databaseSecretArn=DATABASE_SECRET_ARN, databaseSecretKmsKeyArn=KMS_KEY_ARN),
        compliance_checks=False, region=region, outdir=str(tmp_path),
    )
    template = app.synth().get_stack_by_name(stack.stack_name).template
    values = via_service_values(template["Resources"])
    # The token secret's key policy (CDK's grants) and the database key's grants (ours) are both there.
    assert len(values) >= 4
    assert {evaluate(v, region, partition) for v in values} == {expected}


def test_cdk_helper_names_what_cdk_did_not_create() -> None:
    import aws_cdk as cdk

    from cdk_app.compliance import cdk_helper

    with pytest.raises(RuntimeError, match=r"CDK created no helper construct LogRetention\* in Empty"):
        cdk_helper(cdk.Stack(cdk.App(), "Empty"), "LogRetention")


def test_cdk_helper_functions_carry_the_three_checkov_skips_with_their_reasons(default: Synthesis) -> None:
    for prefix in ("LogRetention", "AWS679f53fac002430cb0da5b7982bd2287"):
        function = default.template_json["Resources"][logical_id(default, prefix, "AWS::Lambda::Function")]
        skips = {s["id"]: s["comment"] for s in function["Metadata"]["checkov"]["skip"]}
        assert sorted(skips) == ["CKV_AWS_115", "CKV_AWS_116", "CKV_AWS_117"]
        assert all(comment.startswith("CDK's ") for comment in skips.values())
