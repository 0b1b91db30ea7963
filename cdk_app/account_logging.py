"""Optional: API Gateway's account-level CloudWatch Logs role (needed once per account and region).

API Gateway refuses a WebSocket stage with access logs ("CloudWatch Logs role ARN must be set in
account settings to enable logging") until the account has this role. Most accounts have it; an
account that does not can let this stack set it (setting ``createApiGatewayLogsRole``).
"""
from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw_v1
from aws_cdk import aws_iam as iam
from constructs import Construct

PUSH_TO_CLOUDWATCH_POLICY = "service-role/AmazonAPIGatewayPushToCloudWatchLogs"


class ApiGatewayAccountLogging(Construct):
    """Creates the role API Gateway writes logs with and registers it in the account settings.

    The account setting is region-wide: it is retained when the stack is deleted (so other APIs
    keep logging), and it replaces whatever role was registered before.
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
            description="Lets API Gateway write execution and access logs to CloudWatch Logs",
            managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(PUSH_TO_CLOUDWATCH_POLICY)],
        )
        self.role.apply_removal_policy(cdk.RemovalPolicy.RETAIN)
        cdk.Validations.of(self.role).acknowledge(
            cdk.Acknowledgment(
                id="AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
                f"{PUSH_TO_CLOUDWATCH_POLICY}]",
                reason="AWS documents this managed policy for API Gateway's account-level logging role; it "
                "must create log groups named by API Gateway at runtime, so a hand-written policy would be no narrower",
            )
        )
        # L1 on purpose: aws-cdk-lib has no L2 for the account settings outside RestApi.
        self.account = apigw_v1.CfnAccount(self, "Account", cloud_watch_role_arn=self.role.role_arn)
        self.account.apply_removal_policy(cdk.RemovalPolicy.RETAIN)
