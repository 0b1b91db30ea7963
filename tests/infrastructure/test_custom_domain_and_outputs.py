"""Custom domain (wss://ws.example.com) and the stack outputs deployers and wsctl smoke read."""
from __future__ import annotations

import json

from cdk_app.frontend_config import config_from_outputs

from .conftest import CERTIFICATE_ARN, EXISTING_FUNCTION_ARN, SynthFn, Synthesis

EXECUTE_API_ENDPOINT = {"Fn::Join": ["", ["https://", {"Ref": "GatewayApi4EDF2151"}, ".execute-api.", {"Ref": "AWS::Region"},
                                          ".", {"Ref": "AWS::URLSuffix"}, "/prod"]]}


def ssm_value(synthesis: Synthesis, name: str) -> object:
    (value,) = [p["Properties"]["Value"] for p in synthesis.resources("AWS::SSM::Parameter").values()
                if p["Properties"]["Name"] == f"/websocket-notifications/{name}"]
    return value


def test_custom_domain_maps_the_stage_with_the_certificate_and_an_alias_record(synth: SynthFn) -> None:
    custom = synth("rds_managed_secret")
    ((domain_id, domain),) = custom.resources("AWS::ApiGatewayV2::DomainName").items()
    assert domain["Properties"] == {"DomainName": "ws.example.com", "DomainNameConfigurations": [
        {"CertificateArn": CERTIFICATE_ARN, "EndpointType": "REGIONAL", "SecurityPolicy": "TLS_1_2"}]}
    (mapping,) = custom.resources("AWS::ApiGatewayV2::ApiMapping").values()
    assert mapping["Properties"]["DomainName"] == {"Ref": domain_id}
    assert mapping["Properties"]["Stage"] == "prod" and "ApiMappingKey" not in mapping["Properties"]
    (record,) = custom.resources("AWS::Route53::RecordSet").values()
    assert record["Properties"]["Name"] == "ws.example.com." and record["Properties"]["Type"] == "A"
    assert record["Properties"]["HostedZoneId"] == "Z0123456789ABCDEFGHIJ"
    assert record["Properties"]["AliasTarget"]["DNSName"] == {"Fn::GetAtt": [domain_id, "RegionalDomainName"]}
    assert "DomainNameTarget" not in custom.template_json["Outputs"]  # the record is ours


def test_custom_url_reaches_outputs_ssm_and_the_frontend_but_the_function_keeps_execute_api(synth: SynthFn) -> None:
    custom = synth("rds_managed_secret")
    outputs = custom.template_json["Outputs"]
    assert outputs["WebSocketUrl"]["Value"] == "wss://ws.example.com"
    assert ssm_value(custom, "websocket-url") == "wss://ws.example.com"
    # @connections does not answer on custom domains: the backend and the function keep execute-api.
    assert outputs["ManagementEndpoint"]["Value"] == EXECUTE_API_ENDPOINT
    assert ssm_value(custom, "management-endpoint") == EXECUTE_API_ENDPOINT
    env = custom.handler_function()["Properties"]["Environment"]["Variables"]
    assert env["AWS_WEBSOCKET_API_GATEWAY_ENDPOINT"] == EXECUTE_API_ENDPOINT
    deployed = {"WebSocketNotifications": {"WebSocketUrl": outputs["WebSocketUrl"]["Value"], "ApiId": "abc123",
                                           "StageName": "prod"}}
    assert config_from_outputs(deployed).websocket_url == "wss://ws.example.com"


def test_custom_domain_without_a_hosted_zone_outputs_the_dns_target(synth: SynthFn) -> None:
    custom = synth("imported_token_secret")
    custom.template.resource_count_is("AWS::Route53::RecordSet", 0)
    ((domain_id, _),) = custom.resources("AWS::ApiGatewayV2::DomainName").items()
    assert custom.template_json["Outputs"]["DomainNameTarget"]["Value"] == {"Fn::GetAtt": [domain_id, "RegionalDomainName"]}
    assert custom.template_json["Outputs"]["WebSocketUrl"]["Value"] == "wss://ws.example.com"


def test_default_has_no_custom_domain_and_the_execute_api_url(default: Synthesis) -> None:
    for resource_type in ("AWS::ApiGatewayV2::DomainName", "AWS::ApiGatewayV2::ApiMapping", "AWS::Route53::RecordSet"):
        default.template.resource_count_is(resource_type, 0)
    assert "execute-api" in json.dumps(default.template_json["Outputs"]["WebSocketUrl"]["Value"])


def test_outputs_name_the_function_and_both_log_groups(default: Synthesis) -> None:
    outputs = {k: v["Value"] for k, v in default.template_json["Outputs"].items()}
    function_id = default.resource_id(default.handler_function())
    assert outputs["FunctionName"] == {"Ref": function_id}
    log_group = default.handler_function()["Properties"]["LoggingConfig"]["LogGroup"]
    assert outputs["FunctionLogGroupName"] == log_group
    assert outputs["AccessLogGroupName"]["Ref"].startswith("GatewayAccessLogs")
    assert {"WebSocketUrl", "ManagementEndpoint", "ApiId", "StageName", "ConnectTokenSecretArn"} <= set(outputs)


def test_outputs_of_an_existing_function_are_its_arn_and_lambdas_default_log_group(synth: SynthFn) -> None:
    outputs = {k: v["Value"] for k, v in synth("existing_function").template_json["Outputs"].items()}
    assert outputs["FunctionName"] == EXISTING_FUNCTION_ARN
    assert outputs["FunctionLogGroupName"] == "/aws/lambda/cc-backend-main"
    assert outputs["AccessLogGroupName"]["Ref"].startswith("GatewayAccessLogs")
