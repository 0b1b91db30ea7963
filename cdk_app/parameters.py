"""Where deployers and other systems find the endpoints: stack outputs and SSM parameters."""
from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ssm as ssm
from constructs import Construct

WEBSOCKET_URL_PARAMETER = "websocket-url"
MANAGEMENT_ENDPOINT_PARAMETER = "management-endpoint"


class EndpointPublication(Construct):
    """Stack outputs ``WebSocketUrl``, ``ManagementEndpoint``, ``ApiId``, ``StageName``,
    ``FunctionName``, ``FunctionLogGroupName``, ``AccessLogGroupName`` (``ConnectTokenSecretArn``
    when tokens are on, ``DomainNameTarget`` for a custom domain without a hosted zone) and the
    two URLs as SSM String parameters ``{prefix}/websocket-url`` and ``{prefix}/management-endpoint``.

    Outputs keep exactly these logical ids (whatever this construct's path) so that
    ``cdk deploy --outputs-file`` and ``cdk_app.frontend_config`` can rely on them.

    :param websocket_url: the ``wss://`` client URL (the custom domain's when there is one).
    :param management_endpoint: the ``https://`` @connections callback URL.
    :param api_id: the API id.
    :param stage_name: the stage name.
    :param parameter_prefix: SSM path prefix (two deployments in one account need different ones).
    :param function_name: the function behind the routes (name, or ARN of an existing function).
    :param function_log_group_name: where that function logs.
    :param access_log_group_name: where the stage writes its access logs.
    :param token_secret_arn: ARN of the connect-token secret the backend mints tokens with.
    :param domain_name_target: host name a custom domain's DNS record must point at (when the
        stack does not create the record itself).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        websocket_url: str,
        management_endpoint: str,
        api_id: str,
        stage_name: str,
        parameter_prefix: str,
        function_name: str,
        function_log_group_name: str,
        access_log_group_name: str,
        token_secret_arn: str | None = None,
        domain_name_target: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        outputs = {
            "WebSocketUrl": (websocket_url, "Client URL (wss://); add ?email=&type=&token="),
            "ManagementEndpoint": (management_endpoint, "AWS_WEBSOCKET_API_GATEWAY_ENDPOINT for whoever posts"),
            "ApiId": (api_id, "WebSocket API id"),
            "StageName": (stage_name, "WebSocket API stage"),
            "FunctionName": (function_name, "Function that serves the routes and direct invokes (notify, cleanup)"),
            "FunctionLogGroupName": (function_log_group_name, "Log group of that function (aws logs tail NAME)"),
            "AccessLogGroupName": (access_log_group_name, "Log group of the stage's JSON access logs"),
        }
        if domain_name_target is not None:
            outputs["DomainNameTarget"] = (domain_name_target, "Point the custom domain's DNS (CNAME) here")
        if token_secret_arn is not None:
            outputs["ConnectTokenSecretArn"] = (token_secret_arn, "Secret whose value signs connect tokens")
        self.outputs: dict[str, cdk.CfnOutput] = {}
        for name, (value, description) in outputs.items():
            output = cdk.CfnOutput(self, name, value=value, description=description)
            output.override_logical_id(name)
            self.outputs[name] = output
        self.parameters = {
            name: ssm.StringParameter(
                self,
                construct_id_,
                parameter_name=f"{parameter_prefix}/{name}",
                string_value=value,
                description=description,
            )
            for construct_id_, name, value, description in (
                ("WebSocketUrlParameter", WEBSOCKET_URL_PARAMETER, websocket_url, "WebSocket client URL (wss://)"),
                (
                    "ManagementEndpointParameter",
                    MANAGEMENT_ENDPOINT_PARAMETER,
                    management_endpoint,
                    "API Gateway management endpoint (AWS_WEBSOCKET_API_GATEWAY_ENDPOINT)",
                ),
            )
        }
