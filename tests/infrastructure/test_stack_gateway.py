"""The WebSocket API: three routes on one function, route-scoped permissions, stage, access logs."""
from __future__ import annotations

import json

from aws_cdk.assertions import Capture, Match

from cdk_app.gateway import ACCESS_LOG_FIELDS

from .conftest import SynthFn, Synthesis

ROUTES = ("$connect", "$disconnect", "$default")


def test_api_is_a_websocket_api_routing_on_the_action_field(default: Synthesis) -> None:
    default.template.has_resource_properties(
        "AWS::ApiGatewayV2::Api",
        {"ProtocolType": "WEBSOCKET", "Name": "websocket-notifications", "RouteSelectionExpression": "$request.body.action"},
    )


def test_the_three_routes_exist_and_all_target_the_route_function(default: Synthesis) -> None:
    routes = default.resources("AWS::ApiGatewayV2::Route")
    assert sorted(r["Properties"]["RouteKey"] for r in routes.values()) == sorted(ROUTES)
    integrations = default.resources("AWS::ApiGatewayV2::Integration")
    targets = {json.dumps(i["Properties"]["IntegrationUri"]) for i in integrations.values()}
    assert len(targets) == 1 and f'"{default.function_id("route")}"' in targets.pop()
    for integration in integrations.values():
        assert integration["Properties"]["IntegrationType"] == "AWS_PROXY"


def test_each_route_has_its_own_invoke_permission_scoped_to_that_route(default: Synthesis) -> None:
    permissions = [
        p["Properties"] for p in default.resources("AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "apigateway.amazonaws.com"
    ]
    source_arns = sorted(json.dumps(p["SourceArn"]) for p in permissions)
    assert len(permissions) == 3
    for route, arn in zip(sorted(ROUTES), source_arns):
        assert arn.endswith(f'/*{route}"]]}}'), arn
    for permission in permissions:
        assert permission["Action"] == "lambda:InvokeFunction"
        assert permission["FunctionName"] == {"Fn::GetAtt": [default.function_id("route"), "Arn"]}


def test_default_route_is_two_way_and_the_others_are_not(default: Synthesis) -> None:
    default.template.has_resource_properties(
        "AWS::ApiGatewayV2::Route", {"RouteKey": "$default", "RouteResponseSelectionExpression": "$default"}
    )
    for route in ("$connect", "$disconnect"):
        default.template.has_resource_properties(
            "AWS::ApiGatewayV2::Route", {"RouteKey": route, "RouteResponseSelectionExpression": Match.absent()}
        )
    default.template.has_resource_properties("AWS::ApiGatewayV2::RouteResponse", {"RouteResponseKey": "$default"})


def test_stage_auto_deploys_with_throttling_and_json_access_logs(default: Synthesis) -> None:
    log_format = Capture()
    default.template.has_resource_properties(
        "AWS::ApiGatewayV2::Stage",
        {
            "StageName": "prod",
            "AutoDeploy": True,
            "DefaultRouteSettings": {"ThrottlingRateLimit": 1000, "ThrottlingBurstLimit": 2000},
            "AccessLogSettings": {"DestinationArn": {"Fn::GetAtt": [Match.string_like_regexp("GatewayAccessLogs"), "Arn"]},
                                  "Format": log_format},
        },
    )
    assert json.loads(log_format.as_string()) == ACCESS_LOG_FIELDS
    assert "$context.requestId" in log_format.as_string() and "$context.connectionId" in log_format.as_string()


def access_log_group(synthesis: Synthesis) -> dict:
    (group,) = [v for k, v in synthesis.resources("AWS::Logs::LogGroup").items() if k.startswith("GatewayAccessLogs")]
    return group


def test_access_log_group_has_a_generated_name_and_never_blocks_a_retried_first_deploy(default: Synthesis) -> None:
    group = access_log_group(default)
    assert "LogGroupName" not in group["Properties"]  # a fixed name would collide with a survivor of a failed deploy
    assert group["Properties"]["RetentionInDays"] == 30
    # Kept on update and stack delete, but removed when its own creation is rolled back.
    assert group["DeletionPolicy"] == "RetainExceptOnCreate"
    assert group["UpdateReplacePolicy"] == "Retain"
    assert default.template_json["Outputs"]["AccessLogGroupName"]["Value"] == {"Ref": default.resource_id(group)}


def test_access_log_group_name_setting_still_fixes_the_name(synth: SynthFn) -> None:
    group = access_log_group(synth("tokens_disabled"))
    assert group["Properties"]["LogGroupName"] == "/aws/apigateway/cc-websocket-api"
    assert group["DeletionPolicy"] == "RetainExceptOnCreate"


def test_stage_name_setting_flows_to_stage_and_grant(synth: SynthFn) -> None:
    live = synth("vpc_database")
    live.template.has_resource_properties("AWS::ApiGatewayV2::Stage", {"StageName": "live"})
    assert "/live/POST/@connections/*" in json.dumps(live.resources("AWS::IAM::Policy"))
