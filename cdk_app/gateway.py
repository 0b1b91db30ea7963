"""The API Gateway WebSocket API: three routes on one function, a throttled stage, JSON access logs."""
from __future__ import annotations

import json
from typing import Sequence

import aws_cdk as cdk
import jsii
from aws_cdk import aws_apigateway as apigw_v1
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from cdk_app.encryption import DataEncryptionKey

ROUTE_KEYS = ("$connect", "$disconnect", "$default")
TWO_WAY_ROUTES = frozenset({"$default"})
"""Routes whose integration result is sent back to the caller (route response)."""

ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "extendedRequestId": "$context.extendedRequestId",
    "requestTime": "$context.requestTime",
    "connectionId": "$context.connectionId",
    "eventType": "$context.eventType",
    "routeKey": "$context.routeKey",
    "status": "$context.status",
    "sourceIp": "$context.identity.sourceIp",
    "userAgent": "$context.identity.userAgent",
    "integrationStatus": "$context.integration.status",
    "integrationLatency": "$context.integration.latency",
    "integrationError": "$context.integration.error",
    "errorMessage": "$context.error.message",
}
"""One JSON object per request in the access log (WebSocket $context variables)."""

class WebSocketGateway(Construct):
    """A WebSocket API whose ``$connect``, ``$disconnect`` and ``$default`` routes invoke one function.

    Each route gets its own integration object, so each gets its own Lambda invoke permission
    scoped to that route. ``$default`` is two-way: the function's returned body is the reply.

    :param handler: the function behind all three routes (bundled or existing).
    :param api_name: name of the API (not unique: two deployments may share it).
    :param stage_name: stage name, the last path segment of both URLs.
    :param throttling_rate_limit: steady-state requests per second for the stage.
    :param throttling_burst_limit: burst capacity for the stage.
    :param access_log_group_name: log group for the JSON access logs; None (default) lets
        CloudFormation generate a unique name. The group is kept on stack update and delete, but
        deleted when its own creation rolls back, so a failed first deploy can simply be retried.
    :param log_retention: retention of the access log group.
    :param connect_authorization: how ``$connect`` is authorised without an API Gateway authorizer;
        recorded as the reason for cdk-nag's AwsSolutions-APIG4 on that route.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: lambda_.IFunction,
        api_name: str,
        stage_name: str,
        throttling_rate_limit: float,
        throttling_burst_limit: int,
        access_log_group_name: str | None,
        log_retention: logs.RetentionDays,
        connect_authorization: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.api = apigwv2.WebSocketApi(
            self,
            "Api",
            api_name=api_name,
            description="WebSocket notification channel ($connect, $disconnect, $default on one function)",
            route_selection_expression="$request.body.action",
        )
        self.routes: dict[str, apigwv2.WebSocketRoute] = {
            route_key: self.api.add_route(
                route_key,
                integration=integrations.WebSocketLambdaIntegration(f"{route_key.lstrip('$')}-integration", handler),
                return_response=route_key in TWO_WAY_ROUTES,
            )
            for route_key in ROUTE_KEYS
        }
        self._acknowledge_route_authorization(connect_authorization)
        self.access_log_group = logs.LogGroup(
            self,
            "AccessLogs",
            log_group_name=access_log_group_name,
            retention=log_retention,
            encryption_key=DataEncryptionKey.of(self).key,
            removal_policy=cdk.RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
        )
        self.stage = apigwv2.WebSocketStage(
            self,
            "Stage",
            web_socket_api=self.api,
            stage_name=stage_name,
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(rate_limit=throttling_rate_limit, burst_limit=throttling_burst_limit),
            access_log_settings=JsonAccessLogSettings(self.access_log_group),
        )

    def _acknowledge_route_authorization(self, connect_authorization: str) -> None:
        """Record why no route has an API Gateway authorizer (cdk-nag AwsSolutions-APIG4)."""
        reasons = {
            route_key: "API Gateway accepts an authorizer only on $connect; this route only runs on a "
            "connection that passed $connect"
            for route_key in self.routes
        }
        reasons["$connect"] = f"$connect is authorised by its integration: {connect_authorization}"
        for route_key, route in self.routes.items():
            cdk.Validations.of(route).acknowledge(
                cdk.Acknowledgment(id="AwsSolutions::AwsSolutions-APIG4", reason=reasons[route_key])
            )

    @property
    def websocket_url(self) -> str:
        """The client URL, ``wss://{api}.execute-api.{region}.amazonaws.com/{stage}``."""
        return self.stage.url

    @property
    def management_endpoint(self) -> str:
        """The @connections callback URL, ``https://{api}.execute-api.{region}.amazonaws.com/{stage}``."""
        return self.stage.callback_url

    def grant_manage_connections(self, grantee: iam.IGrantable, *, methods: Sequence[str]) -> iam.Grant:
        """Allow ``grantee`` to call exactly ``methods`` on this stage's ``@connections/*``, nothing else.

        Narrower than ``WebSocketStage.grant_management_api_access`` (all methods): the stack passes
        the ``managementApiMethods`` setting (POST to push, GET to check a connection is open).
        """
        stack = cdk.Stack.of(self)
        api_logical_id = stack.resolve(stack.get_logical_id(self.api.node.default_child))
        region = "<AWS::Region>" if cdk.Token.is_unresolved(stack.region) else stack.region  # as cdk-nag renders it
        for method in methods:
            cdk.Validations.of(stack).acknowledge(
                cdk.Acknowledgment(
                    id=f"AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:{region}:"
                    f"<AWS::AccountId>:<{api_logical_id}>/{self.stage.stage_name}/{method}/@connections/*]",
                    reason="Connection ids are assigned by API Gateway at runtime, so the grant names every "
                    f"connection ('*'), but only for {method} on this API's {self.stage.stage_name} stage",
                )
            )
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["execute-api:ManageConnections"],
            resource_arns=[
                stack.format_arn(
                    service="execute-api",
                    resource=self.api.api_id,
                    resource_name=f"{self.stage.stage_name}/{method}/@connections/*",
                )
                for method in methods
            ],
        )


@jsii.implements(apigwv2.IAccessLogSettings)
class JsonAccessLogSettings:
    """Stage access logs: one JSON object per request (:data:`ACCESS_LOG_FIELDS`) into a log group.

    (``IAccessLogSettings`` is a jsii interface, so a plain dict is not accepted from Python.)
    """

    def __init__(self, log_group: logs.ILogGroup) -> None:
        self._destination = apigwv2.LogGroupLogDestination(log_group)
        self._format = apigw_v1.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS, separators=(",", ":")))

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        """The log group destination."""
        return self._destination

    @property
    def format(self) -> apigw_v1.AccessLogFormat:
        """The JSON line format."""
        return self._format
