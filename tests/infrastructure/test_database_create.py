"""database=create (the default): Aurora Serverless v2 PostgreSQL in a VPC the stack creates.

Also the other database modes' network promises: the function's egress for @connections, and the
synth-time note for a VPC given by id.
"""
from __future__ import annotations

import json

from aws_cdk.assertions import Match

from cdk_app import runtime_contract as rc
from cdk_app.database import RESUME_CONNECT_TIMEOUT_SECONDS

from .conftest import SynthFn, Synthesis


def only(synthesis: Synthesis, resource_type: str) -> tuple[str, dict]:
    ((logical_id, resource),) = synthesis.resources(resource_type).items()
    return logical_id, resource


def test_default_creates_an_encrypted_aurora_serverless_v2_postgresql_that_pauses_when_idle(default: Synthesis) -> None:
    _, cluster = only(default, "AWS::RDS::DBCluster")
    props = cluster["Properties"]
    assert (props["Engine"], props["EngineVersion"]) == ("aurora-postgresql", "17.7")
    assert props["ServerlessV2ScalingConfiguration"] == {"MinCapacity": 0, "MaxCapacity": 2, "SecondsUntilAutoPause": 300}
    assert props["StorageEncrypted"] is True
    # A failed first deploy must roll back cleanly (no deletion protection); deletes keep a final snapshot.
    assert props.get("DeletionProtection", False) is False
    assert cluster["DeletionPolicy"] == "Snapshot" and cluster["UpdateReplacePolicy"] == "Snapshot"
    _, writer = only(default, "AWS::RDS::DBInstance")
    assert writer["Properties"]["DBInstanceClass"] == "db.serverless"
    assert writer["Properties"]["PubliclyAccessible"] is False


def test_capacity_settings_and_a_minimum_above_zero_never_pause(synth: SynthFn) -> None:
    _, cluster = only(synth("imported_token_secret"), "AWS::RDS::DBCluster")
    assert cluster["Properties"]["ServerlessV2ScalingConfiguration"] == {"MinCapacity": 0.5, "MaxCapacity": 4}


def test_function_reads_the_generated_secret_and_waits_for_a_paused_database(default: Synthesis) -> None:
    env = default.handler_function()["Properties"]["Environment"]["Variables"]
    attachment_id, _ = only(default, "AWS::SecretsManager::SecretTargetAttachment")
    assert env[rc.ENV_DATABASE_SECRET_ARN] == {"Ref": attachment_id}  # the RDS-format secret with host, port, dbname
    assert env[rc.ENV_DB_CONNECT_TIMEOUT_SECONDS] == str(RESUME_CONNECT_TIMEOUT_SECONDS)
    assert RESUME_CONNECT_TIMEOUT_SECONDS < 29  # inside API Gateway's integration timeout
    assert rc.ENV_DATABASE_URL not in env and rc.ENV_AUTO_MIGRATE not in env
    assert not any("ephemeral" in w for w in default.entries("aws:cdk:warning"))


def test_functions_sit_in_the_private_subnets_and_only_they_may_reach_the_database(default: Synthesis) -> None:
    private = sorted(k for k in default.resources("AWS::EC2::Subnet") if "PrivateSubnet" in k)
    function_groups = []
    for which in ("route", "ops"):
        config = default.function(which)["VpcConfig"]
        assert len(private) == 2 and sorted(s["Ref"] for s in config["SubnetIds"]) == private
        (function_group,) = config["SecurityGroupIds"]
        function_groups.append(function_group)
    ingresses = [r["Properties"] for r in default.resources("AWS::EC2::SecurityGroupIngress").values()]
    assert sorted(json.dumps(i["SourceSecurityGroupId"]) for i in ingresses) == sorted(map(json.dumps, function_groups))
    for ingress in ingresses:
        assert ingress["FromPort"]["Fn::GetAtt"][1] == "Endpoint.Port"  # the database's port only
        assert ingress["GroupId"]["Fn::GetAtt"][0].startswith("DatabaseClusterSecurityGroup")
    _, subnet_group = only(default, "AWS::RDS::DBSubnetGroup")
    assert sorted(s["Ref"] for s in subnet_group["Properties"]["SubnetIds"]) == private


def test_private_subnets_reach_the_internet_through_one_encrypted_nat_instance(default: Synthesis) -> None:
    # @connections has no VPC endpoint: notify needs this route.
    nat_id, nat = only(default, "AWS::EC2::Instance")
    routes = [r["Properties"] for k, r in default.resources("AWS::EC2::Route").items() if "PrivateSubnet" in k]
    assert len(routes) == 2
    assert all(r["DestinationCidrBlock"] == "0.0.0.0/0" and r["InstanceId"] == {"Ref": nat_id} for r in routes)
    assert nat["Properties"]["InstanceType"] == "t4g.nano"
    assert nat["Properties"]["BlockDeviceMappings"] == [{"DeviceName": "/dev/xvda", "Ebs": {"Encrypted": True, "VolumeType": "gp3"}}]
    default.template.resource_count_is("AWS::EC2::NatGateway", 0)
    nat_group_id = nat["Properties"]["NetworkInterfaces"][0]["GroupSet"][0]["Fn::GetAtt"][0]
    nat_group = default.template_json["Resources"][nat_group_id]["Properties"]
    # Forwards for the VPC only: nothing from the internet may open a connection to it.
    assert nat_group["SecurityGroupIngress"] == [{"CidrIp": "10.0.0.0/16", "Description": "NAT for the VPC's private subnets",
                                                  "IpProtocol": "-1"}]
    default.template.has_resource_properties(
        "AWS::EC2::VPCEndpoint", {"VpcEndpointType": "Gateway", "ServiceName": Match.any_value()}
    )
    default.template.has_resource_properties("AWS::EC2::FlowLog", {"TrafficType": "REJECT"})


def test_nat_gateway_egress_setting(synth: SynthFn) -> None:
    gateway = synth("imported_token_secret")
    gateway_id, _ = only(gateway, "AWS::EC2::NatGateway")
    gateway.template.resource_count_is("AWS::EC2::Instance", 0)
    routes = [r["Properties"] for k, r in gateway.resources("AWS::EC2::Route").items() if "PrivateSubnet" in k]
    assert routes and all(r["NatGatewayId"] == {"Ref": gateway_id} for r in routes)


def test_migration_waits_for_the_database_and_the_egress_and_the_stage_waits_for_the_migration(default: Synthesis) -> None:
    migration_id, migration = only(default, "Custom::WebSocketSchemaMigration")
    writer_id, _ = only(default, "AWS::RDS::DBInstance")
    nat_id, _ = only(default, "AWS::EC2::Instance")
    route_ids = [k for k in default.resources("AWS::EC2::Route") if "PrivateSubnet" in k]
    assert {writer_id, nat_id, *route_ids} <= set(migration["DependsOn"])
    _, stage = only(default, "AWS::ApiGatewayV2::Stage")
    assert migration_id in stage["DependsOn"]


def test_other_database_modes_create_no_database_or_vpc(synth: SynthFn) -> None:
    for name in ("vpc_database", "tokens_disabled", "existing_function", "rds_managed_secret"):
        synthesis = synth(name)
        for resource_type in ("AWS::RDS::DBCluster", "AWS::EC2::VPC", "AWS::EC2::Instance", "AWS::EC2::NatGateway"):
            synthesis.template.resource_count_is(resource_type, 0)


def test_a_vpc_given_by_id_gets_a_note_that_its_subnets_need_internet_egress(synth: SynthFn) -> None:
    notes = synth("vpc_database").entries("aws:cdk:info")
    assert any("NAT" in n and "@connections has no VPC endpoint" in n for n in notes)
    assert not any("@connections" in n for n in synth("default").entries("aws:cdk:info"))
