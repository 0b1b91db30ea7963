"""API Gateway's account-level CloudWatch Logs role: registered only where the account has none."""
from __future__ import annotations

import json
import importlib.util
from pathlib import Path

import pytest

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


RESPONSE_URLS = [
    ("https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/arn%3A?X-Amz-Signature=x", True),
    ("https://cloudformation-custom-resource-response-uswest2.s3-us-west-2.amazonaws.com/k", True),
    ("https://cloudformation-custom-resource-response-cnnorth1.s3.cn-north-1.amazonaws.com.cn/k", True),
    ("http://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/k", False),
    ("https://attacker.example/k", False),
    ("https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com.attacker.example/k", False),
    ("https://user@cloudformation-custom-resource-response-useast1.s3.amazonaws.com/k", False),
    ("http://127.0.0.1:9/k", False),
]


@pytest.mark.parametrize(("url", "accepted"), RESPONSE_URLS)
def test_the_logs_role_handler_pins_response_url_like_the_service(url: str, accepted: bool,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 14: a forged CloudFormation-shaped invoke must not make either custom-resource function
    PUT anywhere but CloudFormation's response bucket; both functions apply the same rule."""
    monkeypatch.delenv("CFN_RESPONSE_ALLOW_LOOPBACK", raising=False)
    from websocket_service.handler import CfnResponseError, _response_url

    index = _load_logs_role_handler()
    try:
        _response_url(url)
        service_accepts = True
    except CfnResponseError:
        service_accepts = False
    try:
        index.response_url(url)
        logs_role_accepts = True
    except ValueError:
        logs_role_accepts = False
    assert (service_accepts, logs_role_accepts) == (accepted, accepted)


def test_a_forged_event_reaches_neither_the_account_nor_any_url(capsys: pytest.CaptureFixture[str]) -> None:
    index = _load_logs_role_handler()

    class Context:
        @staticmethod
        def get_remaining_time_in_millis() -> int:
            return 60_000

    # No AWS credentials or endpoint here: had the handler called API Gateway or PUT to the URL, it
    # would have raised or logged FAILED; it returns after one WARNING line instead.
    index.handler({"RequestType": "Create", "ResponseURL": "http://127.0.0.1:9/steal", "StackId": "s",
                   "RequestId": "r", "LogicalResourceId": "l", "ResourceProperties": {"RoleArn": "arn"}}, Context())
    line = json.loads(capsys.readouterr().out.strip())
    assert (line["level"], line["status"]) == ("WARNING", "refused")


def _load_logs_role_handler():  # type: ignore[no-untyped-def]
    path = Path(HANDLER_DIR) / "index.py"
    spec = importlib.util.spec_from_file_location("account_logging_handler_index", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
