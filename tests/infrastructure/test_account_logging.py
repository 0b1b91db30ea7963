"""API Gateway's account-level CloudWatch Logs role: registered only where the account has none."""
from __future__ import annotations

import json

from cdk_app.account_logging import HANDLER_DIR

from .conftest import SynthFn, Synthesis


def registration(synthesis: Synthesis) -> tuple[str, dict]:
    ((logical_id, resource),) = synthesis.resources("Custom::ApiGatewayAccountCloudWatchRole").items()
    return logical_id, resource


def test_default_registers_the_logs_role_through_a_conditional_custom_resource(default: Synthesis) -> None:
    # Never the AWS::ApiGateway::Account resource: it would overwrite another team's role.
    default.template.resource_count_is("AWS::ApiGateway::Account", 0)
    logical_id, resource = registration(default)
    role_id = resource["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    role = default.template_json["Resources"][role_id]
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "apigateway.amazonaws.com"}
    assert "AmazonAPIGatewayPushToCloudWatchLogs" in json.dumps(role["Properties"]["ManagedPolicyArns"])
    # Other APIs may log through the role once registered: it outlives the stack.
    assert role["DeletionPolicy"] == "Retain"
    (stage,) = default.resources("AWS::ApiGatewayV2::Stage").values()
    assert logical_id in stage["DependsOn"]  # the stage's access logs need the role first
    assert int(resource["Properties"]["ServiceTimeout"]) == 300


def test_the_custom_resource_function_may_only_read_and_patch_the_account_and_pass_that_role(default: Synthesis) -> None:
    _, resource = registration(default)
    function_id = resource["Properties"]["ServiceToken"]["Fn::GetAtt"][0]
    function = default.template_json["Resources"][function_id]
    assert function["Properties"]["Handler"] == "index.handler"
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    (policy,) = [p for p in default.resources("AWS::IAM::Policy").values() if {"Ref": role_id} in p["Properties"]["Roles"]]
    by_action = {json.dumps(s["Action"]): s["Resource"] for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    account = by_action.pop('["apigateway:GET", "apigateway:PATCH"]')
    assert account == {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":apigateway:", {"Ref": "AWS::Region"}, "::/account"]]}
    assert by_action.pop('"iam:PassRole"') == resource["Properties"]["RoleArn"]
    assert set(by_action) == {'["logs:CreateLogStream", "logs:PutLogEvents"]'}
    assert "*" not in json.dumps(policy)


def test_the_handler_is_plain_python_without_cdk(default: Synthesis) -> None:
    source = (HANDLER_DIR / "index.py").read_text()
    assert "aws_cdk" not in source and "websocket_service" not in source


def test_setting_false_leaves_the_account_alone(synth: SynthFn) -> None:
    demo = synth("tokens_disabled")
    demo.template.resource_count_is("Custom::ApiGatewayAccountCloudWatchRole", 0)
    demo.template.resource_count_is("AWS::ApiGateway::Account", 0)
    assert not [k for k in demo.resources("AWS::IAM::Role") if "AccountLogging" in k]
