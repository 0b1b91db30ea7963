"""The stack's customer-managed KMS key for data at rest: log groups, dead-letter queues, token secret."""
from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

LOGS_KEY_ACTIONS = ("kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*")
"""What CloudWatch Logs needs on a key that encrypts log groups (AWS's documented key policy)."""
QUEUE_WRITER_KEY_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")
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

    The key is retained when the stack is deleted (the access log group is retained and stays
    readable); it rotates its material every year.
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
            removal_policy=cdk.RemovalPolicy.RETAIN,
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
