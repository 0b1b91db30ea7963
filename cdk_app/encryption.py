"""The stack's customer-managed KMS key for data at rest: log groups, dead-letter queues, token secret."""
from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

LOGS_KEY_ACTIONS = ("kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*")
"""What CloudWatch Logs needs on a key that encrypts log groups (AWS's documented key policy)."""
QUEUE_WRITER_KEY_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")
VIA_SERVICE = "kms:ViaService"
"""What a sender needs on the key of an SSE-KMS queue to send to it."""


class DataEncryptionKey(Construct):
    """One rotating KMS key per stack for everything the stack stores at rest.

    Get it with :meth:`of` (created on first use at the stack's top level, like ``Stack.of``), so
    the log groups, dead-letter queues and token secret share one key without passing it through
    every construct. Its policy (besides the account's own administration, CDK's default):

    - CloudWatch Logs of this region may use it only for log groups of this account and region
      (condition on ``kms:EncryptionContext:aws:logs:arn``);
    - a service that writes to an encrypted dead-letter queue (EventBridge, SNS) is added with
      :meth:`grant_queue_writer`, only for this account's resources (``aws:SourceAccount``);
    - roles get ``kms:GenerateDataKey``/``kms:Decrypt`` on this key only, by their grants.

    The key is retained when the stack is deleted (the retained log groups stay readable), not when
    its own creation rolls back; it rotates its material every year.
    """

    CONSTRUCT_ID = "DataKey"

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.key = kms.Key(
            self,
            "Key",
            description="Encrypts the WebSocket notification stack's log groups, dead-letter queues and token secret",
            enable_key_rotation=True,
            # Kept on update and stack delete (the retained log groups stay readable), but removed when
            # its own creation rolls back: a failed first deploy leaves no billable key behind.
            removal_policy=cdk.RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchLogsForThisAccountsLogGroups",
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.{stack.url_suffix}")],
                actions=list(LOGS_KEY_ACTIONS),
                resources=["*"],  # in a key policy "*" means this key
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": stack.format_arn(
                            service="logs",
                            resource="log-group",
                            resource_name="*",
                            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                        )
                    }
                },
            )
        )
        self._queue_writers: set[str] = set()

    @classmethod
    def of(cls, scope: Construct) -> "DataEncryptionKey":
        """The key of ``scope``'s stack, created there on first use."""
        stack = cdk.Stack.of(scope)
        existing = stack.node.try_find_child(cls.CONSTRUCT_ID)
        if isinstance(existing, DataEncryptionKey):
            return existing
        return cls(stack, cls.CONSTRUCT_ID)

    def use_partition_endpoints_in_via_service(self) -> None:
        """Rewrite CDK's ``kms:ViaService`` values for Secrets Manager to the partition's endpoint.

        aws-cdk-lib writes ``secretsmanager.<region>.amazonaws.com`` into this key's policy when a secret
        encrypted with it is created or read (``Secret(encryption_key=...)``, ``grant_read``). The value is
        the service endpoint, which in China is ``secretsmanager.cn-north-1.amazonaws.com.cn`` (AWS's
        Beijing/Ningxia endpoint tables; botocore agrees): there CDK's statements would never match and
        the route function could not decrypt the token secret. Ours use ``AWS::URLSuffix`` everywhere
        (:mod:`cdk_app.secrets`); call this once every grant is made (the stack does, last).
        """
        stack = cdk.Stack.of(self)
        cfn_key = self.key.node.default_child
        if not isinstance(cfn_key, kms.CfnKey):
            raise TypeError(f"expected the key's CfnKey, got {type(cfn_key).__name__}")
        hard_coded = stack.resolve(f"secretsmanager.{stack.region}.amazonaws.com")
        for index, statement in enumerate(stack.resolve(cfn_key.key_policy)["Statement"]):
            for operator, condition in statement.get("Condition", {}).items():
                if condition.get(VIA_SERVICE) == hard_coded:
                    cfn_key.add_property_override(
                        f"KeyPolicy.Statement.{index}.Condition.{operator}.{VIA_SERVICE}",
                        f"secretsmanager.{stack.region}.{stack.url_suffix}",
                    )

    def grant_queue_writer(self, writer: iam.IGrantable) -> None:
        """Let ``writer`` send to queues encrypted with this key.

        A service principal (EventBridge, SNS) gets a key-policy statement limited to this
        account's resources (added once per service); a role or user gets an identity-policy
        statement on this key only.
        """
        principal = writer.grant_principal
        if isinstance(principal, iam.ServicePrincipal):
            if principal.service in self._queue_writers:
                return
            self._queue_writers.add(principal.service)
            stack = cdk.Stack.of(self)
            self.key.add_to_resource_policy(
                iam.PolicyStatement(
                    principals=[principal],
                    actions=list(QUEUE_WRITER_KEY_ACTIONS),
                    resources=["*"],  # in a key policy "*" means this key
                    conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
                )
            )
            return
        self.key.grant(writer, *QUEUE_WRITER_KEY_ACTIONS)
