"""``wsctl preflight`` against moto's server (a real AWS API emulator; see conftest.py for its one gap).

Each check has its PASS and FAIL paths here, set up through the same AWS APIs a real account
answers (create_stack, put_parameter, import_certificate, create_vpc_endpoint, ...). Where moto's
data differs from AWS's, the test says so (Aurora's orderable versions stop at 15.2 in moto).
"""
from __future__ import annotations

import datetime
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest

from wsctl import preflight
from wsctl.preflight import FAIL, PASS, WARN, Aws

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"  # moto's account
REGION = "us-east-1"
BOOTSTRAP_TEMPLATE = {
    "Resources": {"Version": {"Type": "AWS::SSM::Parameter", "Properties": {
        "Type": "String", "Name": "/cdk-bootstrap/hnb659fds/version", "Value": "33"}}}
}


def context(**overrides: Any) -> dict[str, Any]:
    """cdk.json's context with ``-c`` values applied, as the preflight loads it."""
    return preflight.load_context(ROOT, [f"{key}={value}" for key, value in overrides.items()])


def settings(**overrides: Any) -> Any:
    return preflight.settings_from(context(**overrides))


@pytest.fixture
def aws(aws_env: str) -> Aws:
    return Aws()


def bootstrap(version: str = "33") -> None:
    template = json.loads(json.dumps(BOOTSTRAP_TEMPLATE))
    template["Resources"]["Version"]["Properties"]["Value"] = version
    boto3.client("cloudformation").create_stack(StackName="CDKToolkit", TemplateBody=json.dumps(template))


# --- settings: the same object synth builds -----------------------------------------------------
def test_settings_come_from_cdk_json_with_c_overrides_through_the_synth_validation() -> None:
    from cdk_app.settings import SettingsError, StackSettings

    loaded = settings(reservedConcurrency="40", stageName="dev")
    assert (loaded.reserved_concurrency, loaded.stage_name) == (40, "dev")
    assert loaded.ops_reserved_concurrency == json.loads((ROOT / "cdk.json").read_text())["context"]["opsReservedConcurrency"]
    assert StackSettings.from_mapping({}) == StackSettings()
    with pytest.raises(SettingsError, match="reservedConcurrency"):
        settings(reservedConcurrency="0")
    with pytest.raises(preflight.PreflightError, match="key=value"):
        preflight.load_context(ROOT, ["reservedConcurrency"])


def test_a_bad_setting_is_one_fail_line_before_any_aws_call(aws_env: str) -> None:
    results = preflight.run_preflight(context(reservedConcurrency="lots"))
    assert [(r.status, r.check) for r in results] == [(FAIL, "settings")]
    assert "reservedConcurrency='lots'" in results[0].found


# --- credentials and region ---------------------------------------------------------------------
def test_identity_passes_with_the_account_and_caller(aws: Aws) -> None:
    result = preflight.check_identity(aws)
    assert (result.status, result.check) == (PASS, "credentials")
    assert f"account {ACCOUNT}" in result.found
    assert aws.account == ACCOUNT


def test_identity_fails_without_credentials(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    result = preflight.check_identity(Aws())
    assert (result.status, result.found) == (FAIL, "no AWS credentials found")
    assert "aws configure" in result.fix


def test_an_unknown_profile_is_one_fail_line(aws_env: str) -> None:
    results = preflight.run_preflight(context(), profile="no-such-profile")
    assert [(r.status, r.check) for r in results] == [(FAIL, "credentials")]
    assert "no-such-profile" in results[0].found and "list-profiles" in results[0].fix


def test_region_passes_for_a_supported_region_and_fails_without_one_or_in_another_partition() -> None:
    assert preflight.check_region("eu-west-1").status == PASS
    missing = preflight.check_region(None)
    assert missing.status == FAIL and "AWS_REGION" in missing.fix
    assert preflight.check_region("us-iso-east-1").status == FAIL


def test_aws_region_wins_as_in_the_cdk_cli(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    assert Aws().region == "eu-central-1"


def test_without_credentials_the_run_stops_after_the_credentials_line(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    results = preflight.run_preflight(context())
    assert [(r.status, r.check) for r in results] == [(FAIL, "credentials"), (PASS, "region")]


# --- bootstrap ------------------------------------------------------------------------------------
def test_bootstrap_fails_when_the_region_was_never_bootstrapped(aws: Aws) -> None:
    result = preflight.check_bootstrap(aws, account=ACCOUNT)
    assert result.status == FAIL and "not bootstrapped" in result.found
    assert f"aws://{ACCOUNT}/{REGION}" in result.fix and "make bootstrap" in result.fix


def test_bootstrap_passes_with_the_toolkit_stack(aws: Aws) -> None:
    bootstrap("33")
    result = preflight.check_bootstrap(aws)
    assert result.status == PASS, result
    assert "version 33" in result.found and "CDKToolkit CREATE_COMPLETE" in result.found


def test_bootstrap_fails_when_older_than_the_library_needs(aws: Aws) -> None:
    bootstrap("5")
    result = preflight.check_bootstrap(aws)
    assert result.status == FAIL and "version 5" in result.found and "upgrades" in result.fix


def test_bootstrap_uses_the_qualifier_from_context(aws: Aws) -> None:
    boto3.client("ssm").put_parameter(Name="/cdk-bootstrap/custom1/version", Value="30", Type="String")
    assert preflight.check_bootstrap(aws, qualifier="custom1").status == PASS
    assert preflight.check_bootstrap(aws).status == FAIL


def test_the_required_bootstrap_version_is_the_one_synth_asserts() -> None:
    """The synthesized template's CheckBootstrapVersion rule rejects exactly the versions below ours."""
    snapshot = ROOT / "tests/infrastructure/__snapshots__/test_snapshot/test_default_template_matches_the_snapshot.json"
    rule = json.loads(snapshot.read_text())["Rules"]["CheckBootstrapVersion"]["Assertions"][0]["Assert"]
    rejected = [int(v) for v in rule["Fn::Not"][0]["Fn::Contains"][0]]
    assert rejected == list(range(1, preflight.MIN_BOOTSTRAP_VERSION))


# --- Lambda concurrency -------------------------------------------------------------------------
def make_function(name: str) -> None:
    role = boto3.client("iam").create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("h.py", "def h(event, context):\n    return None\n")
    boto3.client("lambda").create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="h.h",
                                           Code={"ZipFile": code.getvalue()})


def test_concurrency_passes_with_the_defaults_in_a_1000_quota(aws: Aws) -> None:
    result = preflight.check_lambda_concurrency(aws, settings(), context())
    assert result.status == PASS, result
    assert "quota 1000, unreserved 1000" in result.found and "= 110" in result.found


def test_concurrency_fails_in_a_150_quota_with_settings_that_moto_then_accepts(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTO_LAMBDA_CONCURRENCY_QUOTA", "150")
    result = preflight.check_lambda_concurrency(aws, settings(), context())
    assert result.status == FAIL
    assert "deploy with -c reservedConcurrency=46 -c opsReservedConcurrency=4" in result.fix
    assert "--quota-code L-B99A9384 --desired-value 210" in result.fix
    # The suggested values pass the preflight and the emulator's own reservation rule; the defaults don't.
    fitted = {"reservedConcurrency": "46", "opsReservedConcurrency": "4"}
    assert preflight.check_lambda_concurrency(aws, settings(**fitted), context(**fitted)).status == PASS
    make_function("route")
    make_function("ops")
    client = boto3.client("lambda")
    with pytest.raises(client.exceptions.InvalidParameterValueException):
        client.put_function_concurrency(FunctionName="route", ReservedConcurrentExecutions=100)
    client.put_function_concurrency(FunctionName="route", ReservedConcurrentExecutions=46)
    client.put_function_concurrency(FunctionName="ops", ReservedConcurrentExecutions=4)


def test_concurrency_fails_in_a_10_quota_naming_the_quota_that_would_deploy(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a quota of 10 Lambda keeps all 10 unreserved: no reservation fits, so the fix is the quota."""
    monkeypatch.setenv("MOTO_LAMBDA_CONCURRENCY_QUOTA", "10")
    result = preflight.check_lambda_concurrency(aws, settings(), context())
    assert result.status == FAIL
    assert "quota 10, unreserved 10, Lambda keeps 10 unreserved: room for 0" in result.found
    assert "no reservation fits" in result.found
    assert "--desired-value 210" in result.fix and "-c reservedConcurrency" not in result.fix


def test_concurrency_counts_reservations_of_other_functions(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTO_LAMBDA_CONCURRENCY_QUOTA", "1000")
    make_function("someone-else")
    boto3.client("lambda").put_function_concurrency(FunctionName="someone-else", ReservedConcurrentExecutions=850)
    result = preflight.check_lambda_concurrency(aws, settings(), context())
    assert result.status == FAIL and "unreserved 150" in result.found
    assert "-c reservedConcurrency=46 -c opsReservedConcurrency=4" in result.fix
    assert "--desired-value 1060" in result.fix


def test_concurrency_counts_what_the_deployed_stack_already_reserves_as_free(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    """An update: the stack's own functions hold 46 + 4 of a 150 quota; the same values still fit."""
    monkeypatch.setenv("MOTO_LAMBDA_CONCURRENCY_QUOTA", "150")
    role = boto3.client("iam").create_role(RoleName="stack-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    function = lambda reserved: {"Type": "AWS::Lambda::Function", "Properties": {  # noqa: E731
        "Runtime": "python3.12", "Handler": "index.h", "Role": role, "ReservedConcurrentExecutions": reserved,
        "Code": {"ZipFile": "def h(event, context):\n    return None\n"}}}
    boto3.client("cloudformation").create_stack(StackName=preflight.STACK_NAME, TemplateBody=json.dumps(
        {"Resources": {"RouteHandler": function(46), "Handler": function(4)}}))
    fitted = {"reservedConcurrency": "46", "opsReservedConcurrency": "4"}
    result = preflight.check_lambda_concurrency(aws, settings(**fitted), context(**fitted))
    assert result.status == PASS, result
    assert "unreserved 100 (+50 this stack holds)" in result.found
    assert preflight.check_lambda_concurrency(aws, settings(**fitted), context(**fitted), stack_name="another").status == FAIL


def test_concurrency_shrinks_provisioned_concurrency_with_the_reservation(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTO_LAMBDA_CONCURRENCY_QUOTA", "150")
    result = preflight.check_lambda_concurrency(aws, settings(provisionedConcurrency=80), context(provisionedConcurrency=80))
    assert "-c reservedConcurrency=46 -c opsReservedConcurrency=4 -c provisionedConcurrency=46" in result.fix


def test_concurrency_passes_without_a_bundled_function(aws: Aws) -> None:
    byo = {"existingFunctionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:theirs",
           "existingFunctionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/theirs", "database": "sqlite-demo"}
    result = preflight.check_lambda_concurrency(aws, settings(**byo), context(**byo))
    assert result.status == PASS and "nothing reserved" in result.found


def test_fitting_concurrency_keeps_one_per_function_or_gives_up() -> None:
    assert preflight.fitting_concurrency(settings(), context(), 2) == {"reservedConcurrency": 1, "opsReservedConcurrency": 1}
    assert preflight.fitting_concurrency(settings(), context(), 1) is None
    assert preflight.fitting_concurrency(settings(), context(), 500) == {"reservedConcurrency": 100, "opsReservedConcurrency": 10}


def test_concurrency_warns_when_the_account_settings_cannot_be_read(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_env + "/no-such-prefix")
    result = preflight.check_lambda_concurrency(Aws(), settings(), context())
    assert result.status == WARN and "lambda:GetAccountSettings" in result.found


def test_the_stack_name_is_the_apps() -> None:
    from cdk_app.application import STACK_ID

    assert preflight.STACK_NAME == STACK_ID


# --- API Gateway's account logs role ------------------------------------------------------------------
def test_logs_role_passes_when_the_stack_creates_it(aws: Aws) -> None:
    result = preflight.check_api_gateway_logs_role(aws, settings())
    assert result.status == PASS and "the stack creates" in result.found


def test_logs_role_fails_when_missing_and_the_stack_must_not_create_it(aws: Aws) -> None:
    result = preflight.check_api_gateway_logs_role(aws, settings(createApiGatewayLogsRole="false"))
    assert result.status == FAIL and "-c createApiGatewayLogsRole=true" in result.fix


def test_logs_role_passes_when_the_account_has_one(aws: Aws) -> None:
    role = f"arn:aws:iam::{ACCOUNT}:role/apigw-logs"
    boto3.client("apigateway").update_account(
        patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": role}])
    result = preflight.check_api_gateway_logs_role(aws, settings(createApiGatewayLogsRole="false"))
    assert (result.status, result.found) == (PASS, f"set: {role}")


# --- Aurora ---------------------------------------------------------------------------------------
def test_aurora_fails_for_a_version_the_region_does_not_offer(aws: Aws) -> None:
    """moto's orderable-options data stops at 15.2, so the stack's own version is the FAIL case here."""
    result = preflight.check_aurora(aws, settings(), engine_version="99.1")
    assert result.status == FAIL and "aurora-postgresql 99.1 is not orderable as db.serverless in us-east-1" in result.found
    assert "--db-instance-class db.serverless" in result.fix


def test_aurora_passes_for_an_orderable_version_without_scale_to_zero(aws: Aws) -> None:
    result = preflight.check_aurora(aws, settings(databaseMinCapacity="0.5"), engine_version="15.2")
    assert result.status == PASS, result
    assert "aurora-postgresql 15.2 as db.serverless in 5 zones" in result.found


def test_aurora_fails_scale_to_zero_on_a_version_that_cannot_pause(aws: Aws) -> None:
    result = preflight.check_aurora(aws, settings(databaseMinCapacity="0"), engine_version="15.2")
    assert result.status == FAIL and "cannot scale to 0 ACU" in result.found
    assert "-c databaseMinCapacity=0.5" in result.fix


def test_aurora_matches_a_major_only_version_against_its_minors(aws: Aws) -> None:
    result = preflight.check_aurora(aws, settings(databaseMinCapacity="0.5"), engine_version="14")
    assert result.status == PASS and "aurora-postgresql 14.7" in result.found


@pytest.mark.parametrize(("version", "pauses"), [
    ("13.14", False), ("13.15", True), ("14.11", False), ("14.12", True), ("15.6", False), ("15.7", True),
    ("16.2", False), ("16.3", True), ("17.7", True), ("17", True), ("12.22", False), ("", False),
])
def test_scale_to_zero_needs_the_documented_minimum_versions(version: str, pauses: bool) -> None:
    assert preflight.supports_scale_to_zero(version) is pauses


def test_aurora_reads_the_stacks_engine_version() -> None:
    from cdk_app.database import ENGINE_VERSION

    assert preflight._engine_version() == ENGINE_VERSION.aurora_postgres_full_version


# --- NAT instance -----------------------------------------------------------------------------------
def test_nat_instance_type_passes_where_offered(aws: Aws) -> None:
    result = preflight.check_nat_instance(aws, settings())
    assert result.status == PASS, result
    assert result.found == "t4g.nano offered in us-east-1a, us-east-1b"


def test_nat_instance_type_fails_where_the_first_zone_lacks_it(aws: Aws) -> None:
    """moto's offering data (AWS's own): mac1.metal is in us-east-1b but not us-east-1a."""
    result = preflight.check_nat_instance(aws, settings(), instance_type="mac1.metal")
    assert result.status == FAIL and "not offered in us-east-1a" in result.found
    assert result.fix.startswith("-c vpcEgress=nat-gateway")


# --- certificate ---------------------------------------------------------------------------------------
def import_certificate(names: list[str], region: str = REGION) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .sign(key, hashes.SHA256()))
    return boto3.client("acm", region_name=region).import_certificate(
        Certificate=cert.public_bytes(serialization.Encoding.PEM),
        PrivateKey=key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()),
    )["CertificateArn"]


def domain_settings(arn: str, domain: str = "ws.example.com") -> Any:
    return settings(domainName=domain, certificateArn=arn)


def test_certificate_passes_when_issued_here_and_a_wildcard_covers_the_domain(aws: Aws) -> None:
    result = preflight.check_certificate(aws, domain_settings(import_certificate(["*.example.com"])))
    assert result.status == PASS, result
    assert "ISSUED in us-east-1, covers ws.example.com" in result.found


def test_certificate_fails_when_the_wildcard_is_one_label_short(aws: Aws) -> None:
    arn = import_certificate(["*.example.com"])
    result = preflight.check_certificate(aws, domain_settings(arn, "a.ws.example.com"))
    assert result.status == FAIL and "covers *.example.com, not a.ws.example.com" in result.found


def test_certificate_fails_in_another_region(aws: Aws) -> None:
    arn = import_certificate(["ws.example.com"], region="eu-west-1")
    result = preflight.check_certificate(aws, domain_settings(arn))
    assert result.status == FAIL and "is in eu-west-1; the stack deploys to us-east-1" in result.found


def test_certificate_fails_until_validated(aws: Aws) -> None:
    arn = boto3.client("acm").request_certificate(DomainName="ws.example.com", ValidationMethod="DNS")["CertificateArn"]
    result = preflight.check_certificate(aws, domain_settings(arn))
    assert result.status == FAIL and "PENDING_VALIDATION" in result.found


def test_certificate_fails_when_it_does_not_exist(aws: Aws) -> None:
    arn = f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/00000000-0000-0000-0000-000000000000"
    assert preflight.check_certificate(aws, domain_settings(arn)).found.endswith("does not exist")


@pytest.mark.parametrize(("name", "domain", "covered"), [
    ("*.example.com", "ws.example.com", True), ("*.example.com", "example.com", False),
    ("*.example.com", "a.ws.example.com", False), ("WS.example.com", "ws.example.com", True),
    ("ws.example.com", "ws.example.org", False),
])
def test_certificate_name_matching(name: str, domain: str, covered: bool) -> None:
    assert preflight.covers(name, domain) is covered


# --- existing VPC and database ----------------------------------------------------------------------
class Vpc:
    """A VPC in moto with one private subnet (its own route table) and a database security group."""

    def __init__(self) -> None:
        self.ec2 = boto3.client("ec2")
        self.vpc = self.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        self.subnet = self.ec2.create_subnet(VpcId=self.vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        self.public = self.ec2.create_subnet(VpcId=self.vpc, CidrBlock="10.0.0.0/24")["Subnet"]["SubnetId"]
        self.table = self.ec2.create_route_table(VpcId=self.vpc)["RouteTable"]["RouteTableId"]
        self.ec2.associate_route_table(RouteTableId=self.table, SubnetId=self.subnet)
        self.igw = self.ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        self.ec2.attach_internet_gateway(InternetGatewayId=self.igw, VpcId=self.vpc)
        self.functions_sg = self.group("functions")
        self.database_sg = self.group("database")

    def group(self, name: str) -> str:
        return self.ec2.create_security_group(GroupName=name, Description=name, VpcId=self.vpc)["GroupId"]

    def route_via_nat(self) -> str:
        public_table = self.ec2.create_route_table(VpcId=self.vpc)["RouteTable"]["RouteTableId"]
        self.ec2.associate_route_table(RouteTableId=public_table, SubnetId=self.public)
        self.ec2.create_route(RouteTableId=public_table, DestinationCidrBlock="0.0.0.0/0", GatewayId=self.igw)
        allocation = self.ec2.allocate_address(Domain="vpc")["AllocationId"]
        nat = self.ec2.create_nat_gateway(SubnetId=self.public, AllocationId=allocation)["NatGateway"]["NatGatewayId"]
        self.ec2.create_route(RouteTableId=self.table, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
        return nat

    def secret(self, **fields: Any) -> str:
        return boto3.client("secretsmanager").create_secret(Name="db-credentials", SecretString=json.dumps(fields))["ARN"]

    def database(self) -> dict[str, Any]:
        return boto3.client("rds").create_db_cluster(
            DBClusterIdentifier="orders", Engine="aurora-postgresql", MasterUsername="admin_user",
            MasterUserPassword="not-a-real-password-1", VpcSecurityGroupIds=[self.database_sg],  # nosec B106
        )["DBCluster"]

    def settings(self, secret_arn: str, **extra: Any) -> Any:
        values = {"database": "existing", "databaseSecretArn": secret_arn, "vpcId": self.vpc, "subnetIds": self.subnet,
                  "securityGroupIds": self.functions_sg, **extra}
        return settings(**values)


FULL_SECRET = {"host": "db.internal", "port": 5432, "username": "app", "password": "s3cr3t-value-never-printed", "dbname": "app"}


@pytest.fixture
def vpc(aws_env: str) -> Vpc:
    return Vpc()


def test_subnet_egress_passes_through_a_nat_gateway(aws: Aws, vpc: Vpc) -> None:
    nat = vpc.route_via_nat()
    result = preflight.check_subnet_egress(aws, vpc.settings(vpc.secret(**FULL_SECRET)))
    assert (result.status, result.found) == (PASS, f"{vpc.subnet} -> {nat}")


def test_subnet_egress_fails_without_a_default_route(aws: Aws, vpc: Vpc) -> None:
    result = preflight.check_subnet_egress(aws, vpc.settings(vpc.secret(**FULL_SECRET)))
    assert result.status == FAIL and f"{vpc.subnet} has no working 0.0.0.0/0 route" in result.found
    assert "NAT" in result.fix


def test_subnet_egress_fails_for_a_public_subnet(aws: Aws, vpc: Vpc) -> None:
    vpc.ec2.create_route(RouteTableId=vpc.table, DestinationCidrBlock="0.0.0.0/0", GatewayId=vpc.igw)
    result = preflight.check_subnet_egress(aws, vpc.settings(vpc.secret(**FULL_SECRET)))
    assert result.status == FAIL and "internet gateway" in result.found


def test_execute_api_endpoint_with_private_dns_fails_with_the_fix(aws: Aws, vpc: Vpc) -> None:
    endpoint = vpc.ec2.create_vpc_endpoint(
        VpcId=vpc.vpc, ServiceName=f"com.amazonaws.{REGION}.execute-api", VpcEndpointType="Interface",
        SubnetIds=[vpc.subnet], PrivateDnsEnabled=True)["VpcEndpoint"]["VpcEndpointId"]
    result = preflight.check_execute_api_endpoint(aws, vpc.settings(vpc.secret(**FULL_SECRET)))
    assert result.status == FAIL and endpoint in result.found and "403" in result.found
    assert f"turn private DNS off on {endpoint}" in result.fix


def test_execute_api_endpoint_without_private_dns_passes(aws: Aws, vpc: Vpc) -> None:
    vpc.ec2.create_vpc_endpoint(VpcId=vpc.vpc, ServiceName=f"com.amazonaws.{REGION}.execute-api",
                                VpcEndpointType="Interface", SubnetIds=[vpc.subnet], PrivateDnsEnabled=False)
    result = preflight.check_execute_api_endpoint(aws, vpc.settings(vpc.secret(**FULL_SECRET)))
    assert result.status == PASS and "(1 without)" in result.found


def test_database_ingress_passes_when_the_database_group_admits_ours(aws: Aws, vpc: Vpc) -> None:
    cluster = vpc.database()
    vpc.ec2.authorize_security_group_ingress(GroupId=vpc.database_sg, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": vpc.functions_sg}]}])
    secret = vpc.secret(**{**FULL_SECRET, "host": cluster["Endpoint"]})
    result = preflight.check_database_ingress(aws, vpc.settings(secret))
    assert (result.status, result.found) == (PASS, f"{vpc.database_sg} admits {vpc.functions_sg} on port 5432")


def test_database_ingress_fails_when_only_other_groups_are_admitted(aws: Aws, vpc: Vpc) -> None:
    cluster = vpc.database()
    other = vpc.group("someone-else")
    vpc.ec2.authorize_security_group_ingress(GroupId=vpc.database_sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": other}]},
        {"IpProtocol": "udp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": vpc.functions_sg}]},
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/16"}]}])
    secret = vpc.secret(**{**FULL_SECRET, "host": cluster["Endpoint"]})
    result = preflight.check_database_ingress(aws, vpc.settings(secret))
    assert result.status == FAIL and f"{vpc.database_sg} admits neither securityGroupIds ({vpc.functions_sg})" in result.found
    assert f"-c databaseSecurityGroupId={vpc.database_sg}" in result.fix


def test_database_ingress_passes_when_the_subnet_ranges_are_admitted(aws: Aws, vpc: Vpc) -> None:
    vpc.database()
    vpc.ec2.authorize_security_group_ingress(GroupId=vpc.database_sg, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "IpRanges": [{"CidrIp": "10.0.0.0/16"}]}])
    result = preflight.check_database_ingress(aws, vpc.settings(vpc.secret(**FULL_SECRET), databaseClusterIdentifier="orders"))
    assert result.status == PASS and "admits the subnets' ranges on port 5432" in result.found


def test_database_ingress_passes_when_the_stack_adds_the_rule(aws: Aws, vpc: Vpc) -> None:
    result = preflight.check_database_ingress(aws, vpc.settings(vpc.secret(**FULL_SECRET), databaseSecurityGroupId=vpc.database_sg))
    assert (result.status, result.found) == (PASS, f"the stack adds an ingress rule to {vpc.database_sg} (databaseSecurityGroupId)")


def test_database_ingress_fails_when_the_named_database_group_does_not_exist(aws: Aws, vpc: Vpc) -> None:
    missing = "sg-0123456789abcdef0"
    result = preflight.check_database_ingress(aws, vpc.settings(vpc.secret(**FULL_SECRET), databaseSecurityGroupId=missing))
    assert (result.status, result.found) == (FAIL, f"databaseSecurityGroupId {missing} does not exist in us-east-1")


def test_database_ingress_warns_when_the_database_is_not_found(aws: Aws, vpc: Vpc) -> None:
    result = preflight.check_database_ingress(aws, vpc.settings(vpc.secret(**FULL_SECRET)))
    assert result.status == WARN and "no RDS database found for db.internal" in result.found


def test_database_secret_passes_with_every_field(aws: Aws, vpc: Vpc) -> None:
    result = preflight.check_database_secret(aws, vpc.settings(vpc.secret(**FULL_SECRET)))
    assert (result.status, result.found) == (PASS, "has host, port, username, password, dbname")


def test_database_secret_fails_naming_missing_fields_and_never_a_value(aws: Aws, vpc: Vpc) -> None:
    result = preflight.check_database_secret(aws, vpc.settings(vpc.secret(username="app", password=FULL_SECRET["password"])))
    assert result.status == FAIL and result.found == "the secret lacks host, port, dbname"
    assert "-c databaseHost=... -c databasePort=... -c databaseName=..." in result.fix
    assert FULL_SECRET["password"] not in result.line()


def test_database_secret_passes_when_settings_give_host_port_and_name(aws: Aws, vpc: Vpc) -> None:
    arn = vpc.secret(username="app", password="x")
    result = preflight.check_database_secret(aws, vpc.settings(arn, databaseHost="db.internal", databasePort="5432",
                                                               databaseName="app"))
    assert result.status == PASS and "(settings give dbname, host, port)" in result.found


def test_database_secret_fails_when_not_json(aws: Aws, vpc: Vpc) -> None:
    arn = boto3.client("secretsmanager").create_secret(Name="plain", SecretString="just-a-password")["ARN"]
    result = preflight.check_database_secret(aws, vpc.settings(arn))
    assert result.status == FAIL and "does not hold a JSON object" in result.found
    assert "just-a-password" not in result.line()


# --- the whole command ------------------------------------------------------------------------------
def test_the_plan_follows_the_settings(aws: Aws) -> None:
    names = lambda s: [name for name, _ in preflight.planned_checks(aws, s, context(), ACCOUNT)]  # noqa: E731
    assert names(settings(database="sqlite-demo")) == ["bootstrap", "lambda-concurrency", "apigateway-logs-role"]
    assert [check().check for _, check in preflight.planned_checks(aws, settings(), context(), ACCOUNT)] == names(settings())
    assert names(settings())[3:] == ["aurora", "nat-instance"]
    assert names(settings(vpcEgress="nat-gateway"))[3:] == ["aurora"]


def run_wsctl(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    return subprocess.run([sys.executable, "-m", "wsctl", "preflight", "--project", str(ROOT), *args],
                          capture_output=True, text=True, timeout=120, env=env, check=False)


def test_a_check_that_breaks_is_a_warn_with_its_name_not_a_crash() -> None:
    def broken() -> preflight.Result:
        raise KeyError("AccountLimit")

    result = preflight._guarded(("lambda-concurrency", broken))
    assert (result.status, result.check) == (WARN, "lambda-concurrency")
    assert "KeyError" in result.found


def test_command_passes_and_exits_0_when_every_check_passes(aws_env: str) -> None:
    bootstrap()
    done = run_wsctl("-c", "database=sqlite-demo")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert [line.split("  ")[:2] for line in lines] == [
        ["PASS", "credentials"], ["PASS", "region"], ["PASS", "bootstrap"], ["PASS", "lambda-concurrency"],
        ["PASS", "apigateway-logs-role"]]
    assert "5 checks, 0 FAIL, 0 WARN" in done.stderr


def test_command_takes_make_deploys_cdk_args_whole_and_other_commands_still_refuse_unknown_options(aws_env: str) -> None:
    bootstrap()
    done = run_wsctl("-c", "database=sqlite-demo", "--require-approval", "never")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ignoring options that are not settings: --require-approval never" in done.stderr
    from wsctl.cli import main

    with pytest.raises(SystemExit) as refused:
        main(["cost", "--require-approval", "never"])
    assert refused.value.code == 2


def test_command_exits_1_on_a_fail_and_prints_json(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTO_LAMBDA_CONCURRENCY_QUOTA", "150")  # read by the emulator, in this process
    bootstrap()
    done = run_wsctl("--json", "-c", "database=sqlite-demo")
    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is False and isinstance(report["seconds"], float)
    by_check = {r["check"]: r for r in report["results"]}
    assert by_check["lambda-concurrency"]["status"] == FAIL
    assert "-c reservedConcurrency=46 -c opsReservedConcurrency=4" in by_check["lambda-concurrency"]["fix"]
    assert by_check["bootstrap"]["status"] == PASS


def test_command_runs_every_check_of_an_existing_vpc_deploy(aws_env: str) -> None:
    vpc = Vpc()
    vpc.route_via_nat()
    arn = vpc.secret(**FULL_SECRET)
    done = run_wsctl("-c", "database=existing", "-c", f"databaseSecretArn={arn}", "-c", f"vpcId={vpc.vpc}",
                     "-c", f"subnetIds={vpc.subnet}", "-c", f"securityGroupIds={vpc.functions_sg}")
    checks = [line.split("  ")[:2] for line in done.stdout.splitlines()]
    assert [c for _, c in checks] == ["credentials", "region", "bootstrap", "lambda-concurrency", "apigateway-logs-role",
                                      "subnet-egress", "execute-api-endpoint", "database-ingress", "database-secret"]
    assert ["FAIL", "bootstrap"] in checks and ["WARN", "database-ingress"] in checks
    assert done.returncode == 1
    assert FULL_SECRET["password"] not in done.stdout + done.stderr
