"""API Gateway's account-level CloudWatch Logs role, set only where the account has none.

API Gateway refuses a WebSocket stage with access logs ("CloudWatch Logs role ARN must be set in
account settings to enable logging") until the account (per region) has this role. Fresh
accounts have none. This construct creates a role and a custom resource that registers it ONLY
when the account's ``cloudwatchRoleArn`` is empty: an existing role (another team's) is never
overwritten, and stack deletion never unsets it (other APIs keep logging). The role is retained
on delete for the same reason. Setting ``createApiGatewayLogsRole=false`` leaves the account alone.
"""
from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from cdk_app.bundling import PYTHON_RUNTIME
from cdk_app.compliance import skip_checkov
from cdk_app.encryption import DataEncryptionKey

PUSH_TO_CLOUDWATCH_POLICY = "service-role/AmazonAPIGatewayPushToCloudWatchLogs"
HANDLER_DIR = Path(__file__).resolve().parent / "account_logging_handler"
TIMEOUT = cdk.Duration.minutes(2)
"""Room for a few UpdateAccount retries while a new role propagates through IAM."""
SERVICE_TIMEOUT = cdk.Duration.minutes(5)


class ApiGatewayAccountLogging(Construct):
    """A logs role for API Gateway and a custom resource that registers it if the account has none.

    :param log_retention: retention of the custom resource function's log group.
    """

    def __init__(self, scope: Construct, construct_id: str, *, log_retention: logs.RetentionDays) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
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
        self.log_group = logs.LogGroup(
            self, "Logs", retention=log_retention, encryption_key=DataEncryptionKey.of(self).key,
            removal_policy=cdk.RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,  # no debris after a failed create
        )
        self.function_role = iam.Role(
            self,
            "FunctionRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Reads API Gateway's account settings and sets the CloudWatch role only when none is set",
        )
        self.log_group.grant_write(self.function_role)
        account_arn = stack.format_arn(service="apigateway", account="", resource="/account")
        self.function_role.add_to_policy(
            iam.PolicyStatement(actions=["apigateway:GET", "apigateway:PATCH"], resources=[account_arn])
        )
        self.role.grant_pass_role(self.function_role)
        self.function = lambda_.Function(
            self,
            "Function",
            description="Custom resource: register API Gateway's CloudWatch Logs role if the account has none",
            runtime=PYTHON_RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler="index.handler",
            code=lambda_.Code.from_asset(str(HANDLER_DIR), exclude=["__pycache__", "*.pyc"]),
            timeout=TIMEOUT,
            memory_size=128,
            role=self.function_role,
            log_group=self.log_group,
        )
        for check_id, reason in (
            ("CKV_AWS_116", "Invoked only by CloudFormation for this custom resource; a failure is reported to "
             "CloudFormation (FAILED), which rolls the deploy back, so there is nothing to dead-letter"),
            ("CKV_AWS_117", "It only calls API Gateway's account settings API (a public AWS endpoint) and touches "
             "no private resource, so a VPC would add a NAT dependency and nothing else"),
            ("CKV_AWS_115", "It runs once per deploy, invoked by CloudFormation; reserving concurrency would take "
             "capacity from the account for a function that is idle otherwise"),
        ):
            skip_checkov(self.function, check_id, reason)
        cdk.Validations.of(self.function).acknowledge(
            cdk.Acknowledgment(
                id="Serverless::Serverless-LambdaDLQ",
                reason="Invoked only by CloudFormation for this custom resource; a failure is reported to "
                "CloudFormation (FAILED), which rolls the deploy back, so there is nothing to redrive",
            ),
            cdk.Acknowledgment(
                id="Serverless::Serverless-LambdaTracing",
                reason="Runs once per deploy with two API calls whose outcome CloudFormation records; tracing "
                "would add an X-Ray wildcard grant for no insight",
            ),
            cdk.Acknowledgment(
                id="Serverless::Serverless-LambdaDefaultMemorySize",
                reason="128 MB is deliberate: two small API calls once per deploy",
            ),
        )
        # CloudFormation's custom resource: Create/Update register the role only if none is set; Delete is a no-op.
        self.registration = cdk.CustomResource(
            self,
            "Registration",
            service_token=self.function.function_arn,
            resource_type="Custom::ApiGatewayAccountCloudWatchRole",
            service_timeout=SERVICE_TIMEOUT,
            properties={"RoleArn": self.role.role_arn},
        )
