"""The optional RDS Proxy: sized to the connection budget, answers before the route times out, least privilege."""
from __future__ import annotations

import json

import aws_cdk as cdk
import pytest
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk.assertions import Template

from cdk_app import runtime_contract as rc
from cdk_app.proxy import DatabaseProxy, imported_target, pool_percent

from .conftest import DATABASE_SECRET_ARN, KMS_KEY_ARN, SynthFn, Synthesis


@pytest.fixture(scope="module")
def proxy(synth: SynthFn) -> Synthesis:
    return synth("proxy")


def only(synthesis: Synthesis, resource_type: str) -> tuple[str, dict]:
    ((logical_id, resource),) = synthesis.resources(resource_type).items()
    return logical_id, resource["Properties"]


def test_no_proxy_by_default(default: Synthesis) -> None:
    default.template.resource_count_is("AWS::RDS::DBProxy", 0)
    default.template.resource_count_is("AWS::RDS::DBProxyTargetGroup", 0)


def test_proxy_requires_tls_and_logs_in_with_the_database_secret(proxy: Synthesis) -> None:
    _, props = only(proxy, "AWS::RDS::DBProxy")
    assert props["EngineFamily"] == "POSTGRESQL"
    assert props["RequireTLS"] is True
    assert props["Auth"] == [{"AuthScheme": "SECRETS", "IAMAuth": "DISABLED", "SecretArn": DATABASE_SECRET_ARN}]
    assert props["VpcSubnetIds"] == ["subnet-0aaa1111", "subnet-0bbb2222"]
    assert props["IdleClientTimeout"] == 600


def test_proxy_name_is_unique_to_the_stack_not_a_fixed_name(proxy: Synthesis) -> None:
    _, props = only(proxy, "AWS::RDS::DBProxy")
    name = props["DBProxyName"]
    assert name.startswith("WebSocketNotifications-") and len(name) <= 60 and name != "Proxy"
    assert "--" not in name and name[0].isalpha() and not name.endswith("-")


def test_borrow_timeout_is_shorter_than_the_route_functions_timeout(proxy: Synthesis) -> None:
    _, group = only(proxy, "AWS::RDS::DBProxyTargetGroup")
    pool = group["ConnectionPoolConfigurationInfo"]
    assert pool["ConnectionBorrowTimeout"] == 4
    assert pool["ConnectionBorrowTimeout"] < proxy.function("route")["Timeout"]


def test_pool_stays_inside_the_connections_left_to_the_stack(proxy: Synthesis) -> None:
    _, group = only(proxy, "AWS::RDS::DBProxyTargetGroup")
    pool = group["ConnectionPoolConfigurationInfo"]
    assert (pool["MaxConnectionsPercent"], pool["MaxIdleConnectionsPercent"]) == (89, 44)
    assert 189 * pool["MaxConnectionsPercent"] // 100 <= 189 - 20  # databaseMaxConnections - databaseReservedConnections
    assert pool["SessionPinningFilters"] == ["EXCLUDE_VARIABLE_SETS"]
    assert group["DBInstanceIdentifiers"] == ["ws-postgres"] and "DBClusterIdentifiers" not in group


@pytest.mark.parametrize(
    ("max_connections", "reserved", "percent"),
    [(189, 20, 89), (100, 0, 100), (100, 99, 1), (5000, 1000, 80), (3, 2, 33)],
)
def test_pool_percent_never_exceeds_the_budget(max_connections: int, reserved: int, percent: int) -> None:
    assert pool_percent(database_max_connections=max_connections, database_reserved_connections=reserved) == percent
    assert max_connections * percent // 100 <= max(1, max_connections - reserved) or percent == 1


def test_both_functions_connect_through_the_proxy_endpoint(proxy: Synthesis) -> None:
    proxy_id, _ = only(proxy, "AWS::RDS::DBProxy")
    for which in ("route", "ops"):
        env = proxy.function(which)["Environment"]["Variables"]
        assert env[rc.ENV_DATABASE_HOST] == {"Fn::GetAtt": [proxy_id, "Endpoint"]}
        assert env[rc.ENV_DATABASE_SECRET_ARN] == DATABASE_SECRET_ARN  # user, password, dbname still come from it
        assert env[rc.ENV_DB_POOLER] == rc.RDS_PROXY_POOLER  # the pool-safe protocol, whatever the host looks like


def test_without_a_proxy_the_functions_get_the_databasePooler_setting(synth: SynthFn) -> None:
    for name, pooler in (("default", "auto"), ("sized", "pgbouncer")):  # no proxy in either
        for which in ("route", "ops"):
            env = synth(name).function(which)["Environment"]["Variables"]
            assert rc.ENV_DATABASE_SECRET_ARN in env and env[rc.ENV_DB_POOLER] == pooler  # auto: detected from the host


def test_proxy_role_may_only_read_the_database_secret_and_decrypt_it_through_secrets_manager(proxy: Synthesis) -> None:
    _, props = only(proxy, "AWS::RDS::DBProxy")
    role_id = props["RoleArn"]["Fn::GetAtt"][0]
    role = proxy.template_json["Resources"][role_id]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "rds.amazonaws.com"}
    assert "ManagedPolicyArns" not in role
    statements = [
        s for p in proxy.resources("AWS::IAM::Policy").values() if p["Properties"]["Roles"] == [{"Ref": role_id}]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    via_secrets_manager = {"Fn::Join": ["", ["secretsmanager.", {"Ref": "AWS::Region"}, ".", {"Ref": "AWS::URLSuffix"}]]}
    assert statements == [
        {"Action": ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"], "Effect": "Allow",
         "Resource": DATABASE_SECRET_ARN},
        # databaseSecretKmsKeyArn: the proxy reads the same customer-managed-key secret as the functions.
        {"Action": "kms:Decrypt", "Condition": {"StringEquals": {"kms:ViaService": via_secrets_manager}},
         "Effect": "Allow", "Resource": KMS_KEY_ARN},
    ]


def test_proxy_security_group_admits_only_the_functions_on_postgres(proxy: Synthesis) -> None:
    _, props = only(proxy, "AWS::RDS::DBProxy")
    (group_ref,) = props["VpcSecurityGroupIds"]
    group_id = group_ref["Fn::GetAtt"][0]
    group = proxy.template_json["Resources"][group_id]["Properties"]
    assert group["SecurityGroupEgress"] == [
        {"CidrIp": "0.0.0.0/0", "Description": "PostgreSQL to the database", "FromPort": 5432, "IpProtocol": "tcp", "ToPort": 5432}
    ]
    assert "SecurityGroupIngress" not in group
    ingress = [r["Properties"] for r in proxy.resources("AWS::EC2::SecurityGroupIngress").values()
               if r["Properties"]["GroupId"] == {"Fn::GetAtt": [group_id, "GroupId"]}]
    function_groups = sorted(json.dumps(proxy.function(w)["VpcConfig"]["SecurityGroupIds"][0]) for w in ("route", "ops"))
    assert sorted(json.dumps(r["SourceSecurityGroupId"]) for r in ingress) == function_groups
    assert all((r["IpProtocol"], r["FromPort"], r["ToPort"]) == ("tcp", 5432, 5432) for r in ingress)


def test_with_a_proxy_reserved_concurrency_may_exceed_the_database_connections(proxy: Synthesis) -> None:
    assert proxy.function("route")["ReservedConcurrentExecutions"] == 500  # > databaseMaxConnections (189)


def test_an_aurora_cluster_target_names_the_cluster() -> None:
    stack = cdk.Stack(cdk.App(), "ProxyOnly")
    DatabaseProxy(
        stack, "DatabaseProxy",
        target=imported_target(stack, cluster_identifier="ws-aurora", instance_identifier=None),
        secret=secretsmanager.Secret.from_secret_complete_arn(stack, "Secret", DATABASE_SECRET_ARN),
        vpc_id="vpc-0abc1234", subnet_ids=["subnet-0aaa1111", "subnet-0bbb2222"],
        database_max_connections=2000, database_reserved_connections=100, borrow_timeout_seconds=5,
    )
    Template.from_stack(stack).has_resource_properties("AWS::RDS::DBProxyTargetGroup", {
        "DBClusterIdentifiers": ["ws-aurora"],
        "ConnectionPoolConfigurationInfo": {"MaxConnectionsPercent": 95, "ConnectionBorrowTimeout": 5,
                                            "MaxIdleConnectionsPercent": 47, "SessionPinningFilters": ["EXCLUDE_VARIABLE_SETS"]},
    })


def test_imported_target_needs_an_identifier() -> None:
    with pytest.raises(ValueError, match="needs cluster_identifier or instance_identifier"):
        imported_target(cdk.Stack(cdk.App(), "NoTarget"), cluster_identifier=None, instance_identifier=None)
