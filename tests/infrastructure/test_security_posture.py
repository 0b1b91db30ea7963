"""SECURITY.md's template claims, on every configuration: IAM scope, what the logs and environment hold.

Each test names the SECURITY.md section it backs.
"""
from __future__ import annotations

import json
from typing import Any

import pytest

from cdk_app.gateway import ACCESS_LOG_FIELDS
from cdk_app.network import NAT_IMAGE_PARAMETER

from .conftest import (
    CONFIGURATIONS,
    DATABASE_SECRET_ARN,
    KMS_KEY_ARN,
    RDS_SECRET_PARTIAL_ARN,
    TOKEN_SECRET_ARN,
    SynthFn,
    Synthesis,
)

XRAY_ACTIONS = {"xray:PutTelemetryRecords", "xray:PutTraceSegments"}
"""Actions granted on Resource '*' to our roles: X-Ray has no resource-level permissions."""
LOG_RETENTION_ACTIONS = {"logs:DeleteRetentionPolicy", "logs:PutRetentionPolicy"}
"""CDK's log-retention function (RDS's postgresql log group is named after the cluster's generated id)."""
CDK_HELPER_ROLE_PREFIXES = ("LogRetention", "AWS679f53fac002430cb0da5b7982bd2287")
"""Roles of aws-cdk-lib's deploy-time helper functions (database=create): SECURITY.md "IAM scope"."""
DOCUMENTED_MANAGED_POLICIES = {
    "service-role/AWSLambdaVPCAccessExecutionRole",  # the function's network interfaces in a VPC
    "service-role/AmazonAPIGatewayPushToCloudWatchLogs",  # API Gateway's account-level logging role
}
CONFIGURED_ARNS = {DATABASE_SECRET_ARN, TOKEN_SECRET_ARN, KMS_KEY_ARN, RDS_SECRET_PARTIAL_ARN,
                   f"{RDS_SECRET_PARTIAL_ARN}-??????"}
"""ARNs the configurations give as settings (a partial secret ARN is also granted with its suffix wildcard)."""
MANAGEMENT_METHODS = {"POST", "GET", "DELETE"}


def listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def policy_statements(synthesis: Synthesis, *, cdk_helpers: bool = False) -> list[dict[str, Any]]:
    """Statements of our roles' policies (with ``cdk_helpers``: of aws-cdk-lib's helper functions' roles only)."""
    def of_a_helper(policy: dict[str, Any]) -> bool:
        roles = [r.get("Ref", "") for r in policy["Properties"].get("Roles", []) if isinstance(r, dict)]
        return bool(roles) and all(r.startswith(CDK_HELPER_ROLE_PREFIXES) for r in roles)

    return [s for p in synthesis.resources("AWS::IAM::Policy").values() if of_a_helper(p) == cdk_helpers
            for s in p["Properties"]["PolicyDocument"]["Statement"]]


def is_public_nat_image_parameter_arn(resource: Any) -> bool:
    """arn:{partition}:ssm:{region}::parameter/aws/service/ami-amazon-linux-latest/... (AWS's public parameter)."""
    parts = resource.get("Fn::Join", [None, []])[1] if isinstance(resource, dict) else []
    return ":ssm:" in parts and bool(parts) and parts[-1] == f"::parameter{NAT_IMAGE_PARAMETER}"


def refers_to_this_template(resource: Any, synthesis: Synthesis) -> bool:
    """A Ref or GetAtt of a resource this template creates."""
    if not isinstance(resource, dict):
        return False
    target = resource.get("Ref") or (resource.get("Fn::GetAtt") or [None])[0]
    return target in synthesis.template_json["Resources"]


def is_management_api_arn(resource: Any, synthesis: Synthesis) -> bool:
    """arn:...:execute-api:{region}:{account}:{this API}/{this stage}/{POST|GET|DELETE}/@connections/*"""
    parts = resource.get("Fn::Join", [None, []])[1] if isinstance(resource, dict) else []
    if len(parts) < 3 or ":execute-api:" not in parts:
        return False
    stage = synthesis.stack.gateway.stage.stage_name
    api_ref, tail = parts[-2], parts[-1]
    method = tail.split("/")[2] if tail.count("/") >= 3 else ""
    return refers_to_this_template(api_ref, synthesis) and method in MANAGEMENT_METHODS and tail == f"/{stage}/{method}/@connections/*"


def is_api_gateway_account_settings_arn(resource: Any) -> bool:
    """arn:{partition}:apigateway:{region}::/account (the logs-role custom resource reads and patches it)."""
    parts = resource.get("Fn::Join", [None, []])[1] if isinstance(resource, dict) else []
    return ":apigateway:" in parts and parts[-1] == "::/account"


def is_this_stacks_parameter_arn(resource: Any, synthesis: Synthesis) -> bool:
    parts = resource.get("Fn::Join", [None, []])[1] if isinstance(resource, dict) else []
    return ":ssm:" in parts and refers_to_this_template(parts[-1], synthesis)


@pytest.mark.parametrize("name", sorted(CONFIGURATIONS))
def test_every_iam_grant_names_its_resources(synth: SynthFn, name: str) -> None:
    """SECURITY.md "IAM scope": no wildcard resource but X-Ray's, no wildcard action."""
    synthesis = synth(name)
    statements = policy_statements(synthesis)
    assert statements, "expected the roles' policies"
    for statement in statements:
        actions, resources = set(listed(statement["Action"])), listed(statement["Resource"])
        assert statement["Effect"] == "Allow" and "NotResource" not in statement and "NotAction" not in statement
        assert not any(a == "*" or a.endswith(":*") for a in actions), actions
        if resources == ["*"]:
            assert actions <= XRAY_ACTIONS, actions
            continue
        for resource in resources:
            assert (
                refers_to_this_template(resource, synthesis)
                or is_management_api_arn(resource, synthesis)
                or is_this_stacks_parameter_arn(resource, synthesis)
                or is_api_gateway_account_settings_arn(resource)
                or (isinstance(resource, str) and resource in CONFIGURED_ARNS)
            ), f"{sorted(actions)} on {json.dumps(resource)}"


@pytest.mark.parametrize("name", sorted(CONFIGURATIONS))
def test_cdk_helper_functions_may_only_set_log_retention_and_read_the_nat_image(synth: SynthFn, name: str) -> None:
    """SECURITY.md "IAM scope": aws-cdk-lib's deploy-time helpers (database=create only)."""
    synthesis = synth(name)
    statements = policy_statements(synthesis, cdk_helpers=True)
    if not synthesis.stack.settings.creates_database:
        assert statements == []
        return
    granted = [(sorted(listed(s["Action"])), s["Resource"]) for s in statements]
    assert (sorted(LOG_RETENTION_ACTIONS), "*") in granted
    reads = [resource for actions, resource in granted if actions == ["ssm:GetParameter"]]
    nat_instance = synthesis.stack.settings.vpc_egress == "nat-instance"
    assert len(reads) == (1 if nat_instance else 0) and all(is_public_nat_image_parameter_arn(r) for r in reads)
    assert len(granted) == 1 + len(reads)


@pytest.mark.parametrize("name", sorted(CONFIGURATIONS))
def test_manage_connections_is_granted_only_on_this_api_and_stage(synth: SynthFn, name: str) -> None:
    """SECURITY.md "IAM scope" and "Compromised backend": @connections of this stage, nothing else."""
    synthesis = synth(name)
    grants = [s for s in policy_statements(synthesis) if "execute-api:ManageConnections" in listed(s["Action"])]
    assert 1 <= len(grants) <= 2  # one statement per function role: route and ops, or the existing function's
    for grant in grants:
        assert listed(grant["Action"]) == ["execute-api:ManageConnections"]
        assert all(is_management_api_arn(r, synthesis) for r in listed(grant["Resource"]))


@pytest.mark.parametrize("name", sorted(CONFIGURATIONS))
def test_only_the_documented_managed_policies_are_attached(synth: SynthFn, name: str) -> None:
    """SECURITY.md "IAM scope": AWS-managed policies only where AWS documents them as the minimum."""
    for role_id, role in synth(name).resources("AWS::IAM::Role").items():
        documented = DOCUMENTED_MANAGED_POLICIES | (
            {"service-role/AWSLambdaBasicExecutionRole"} if role_id.startswith(CDK_HELPER_ROLE_PREFIXES) else set()
        )
        for arn in role["Properties"].get("ManagedPolicyArns", []):
            (suffix,) = [p for p in arn["Fn::Join"][1] if isinstance(p, str) and ":policy/" in p]
            assert suffix.split(":policy/")[1] in documented, suffix


@pytest.mark.parametrize("name", sorted(CONFIGURATIONS))
def test_key_policy_lets_services_use_the_key_only_under_a_condition(synth: SynthFn, name: str) -> None:
    """SECURITY.md "Data at rest": a service principal in a key policy always carries a condition."""
    for key in synth(name).resources("AWS::KMS::Key").values():
        for statement in key["Properties"]["KeyPolicy"]["Statement"]:
            # (CloudWatch publishing alarms to the alarm topic's own key is the exception: AWS documents it without one.)
            if "Service" in statement["Principal"] and statement["Principal"]["Service"] != "cloudwatch.amazonaws.com":
                assert statement.get("Condition"), statement


def test_access_logs_record_no_query_string_header_or_body(default: Synthesis) -> None:
    """SECURITY.md "Operator with read access to the logs": tokens (in the query string) never reach the access log."""
    (stage,) = default.resources("AWS::ApiGatewayV2::Stage").values()
    logged = json.loads(stage["Properties"]["AccessLogSettings"]["Format"])
    assert logged == ACCESS_LOG_FIELDS
    for variable in logged.values():
        assert variable.startswith("$context.") and not any(
            word in variable.lower() for word in ("querystring", "header", "body", "authorizer", "token")
        ), variable


@pytest.mark.parametrize("name", sorted(CONFIGURATIONS))
def test_the_function_environment_holds_no_secret_value(synth: SynthFn, name: str) -> None:
    """SECURITY.md "Secrets": the environment carries secret ARNs, never a key or a password."""
    for function in synth(name).resources("AWS::Lambda::Function").values():
        environment = function["Properties"].get("Environment", {}).get("Variables", {})
        assert "CONNECT_TOKEN_SECRET" not in environment
        database_url = environment.get("DATABASE_URL", "")
        assert "@" not in json.dumps(database_url), "credentials in DATABASE_URL"


def test_the_token_key_is_generated_by_secrets_manager_not_written_in_the_template(default: Synthesis) -> None:
    """SECURITY.md "Secrets": the key (and the created database's password) never appear in the template."""
    secrets = default.resources("AWS::SecretsManager::Secret")
    (token_secret,) = [v for k, v in secrets.items() if k.startswith("SecretsConnectTokenSecret")]
    assert token_secret["Properties"]["GenerateSecretString"]["PasswordLength"] == 64
    for secret in secrets.values():
        assert "SecretString" not in secret["Properties"] and "GenerateSecretString" in secret["Properties"]
