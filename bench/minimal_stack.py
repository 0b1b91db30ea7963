"""The synth baseline: the smallest stack with the same three routes and function (a CDK app).

``cdk synth --app "python bench/minimal_stack.py"``: a WebSocket API whose ``$connect``,
``$disconnect`` and ``$default`` routes invoke one Python function built from the same source
folder, on a stage with management-API access granted. Nothing else (no logs, alarms, settings).
"""
from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_lambda as lambda_

ROOT = Path(__file__).resolve().parent.parent


def build(app: cdk.App) -> cdk.Stack:
    """The minimal stack."""
    stack = cdk.Stack(app, "MinimalWebSocketStack")
    function = lambda_.Function(
        stack, "Handler",
        runtime=lambda_.Runtime.PYTHON_3_13,
        handler="websocket_service.handler.handler",
        code=lambda_.Code.from_asset(str(ROOT / "lambda_src")),
    )
    integration = integrations.WebSocketLambdaIntegration("Integration", function)
    api = apigwv2.WebSocketApi(
        stack, "Api",
        connect_route_options=apigwv2.WebSocketRouteOptions(integration=integration),
        disconnect_route_options=apigwv2.WebSocketRouteOptions(integration=integration),
        default_route_options=apigwv2.WebSocketRouteOptions(integration=integration),
    )
    stage = apigwv2.WebSocketStage(stack, "Stage", web_socket_api=api, stage_name="prod", auto_deploy=True)
    stage.grant_management_api_access(function)
    return stack


if __name__ == "__main__":
    application = cdk.App()
    build(application)
    application.synth()
