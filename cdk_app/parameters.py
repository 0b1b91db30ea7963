"""Where deployers and other systems find the endpoints: stack outputs and SSM parameters."""
from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ssm as ssm
from constructs import Construct

WEBSOCKET_URL_PARAMETER = "websocket-url"
MANAGEMENT_ENDPOINT_PARAMETER = "management-endpoint"


class EndpointPublication(Construct):
    """Stack outputs ``WebSocketUrl``, ``ManagementEndpoint``, ``ApiId``, ``StageName`` (and
    ``ConnectTokenSecretArn`` when tokens are on) and the two URLs as SSM String parameters
    ``{prefix}/websocket-url`` and ``{prefix}/management-endpoint``.

    Outputs keep exactly these logical ids (whatever this construct's path) so that
    ``cdk deploy --outputs-file`` and ``cdk_app.frontend_config`` can rely on them.

    :param websocket_url: the ``wss://`` client URL.
    :param management_endpoint: the ``https://`` @connections callback URL.
    :param api_id: the API id.
    :param stage_name: the stage name.
    :param parameter_prefix: SSM path prefix (two deployments in one account need different ones).
    :param token_secret_arn: ARN of the connect-token secret the backend mints tokens with.
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
        token_secret_arn: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        outputs = {
            "WebSocketUrl": (websocket_url, "Client URL (wss://); add ?email=&type=&token="),
            "ManagementEndpoint": (management_endpoint, "AWS_WEBSOCKET_API_GATEWAY_ENDPOINT for whoever posts"),
            "ApiId": (api_id, "WebSocket API id"),
            "StageName": (stage_name, "WebSocket API stage"),
        }
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
