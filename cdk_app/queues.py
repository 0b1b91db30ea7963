"""Dead-letter queues: KMS-encrypted, TLS-only, 14 days of retention, one helper for every DLQ."""
from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from cdk_app.encryption import DataEncryptionKey

RETENTION = cdk.Duration.days(14)


def dead_letter_queue(scope: Construct, construct_id: str, *, holds: str, written_by: iam.IGrantable) -> sqs.Queue:
    """Create a TLS-only dead-letter queue for ``holds`` (what lands in it), encrypted with the
    stack's :class:`~cdk_app.encryption.DataEncryptionKey`, that ``written_by`` may send to
    (a service principal such as ``events.amazonaws.com``, or the role Lambda sends with).

    Only the key use is granted here; the queue's own send permission comes from the construct
    that wires the DLQ (a queue policy for EventBridge and SNS, the role policy for Lambda).
    cdk-nag's "queue has no DLQ / redrive policy" findings are acknowledged on it: it is the end
    of the line, messages in it are inspected and replayed by an operator.
    """
    key = DataEncryptionKey.of(scope)
    queue = sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=key.key,
        enforce_ssl=True,
        retention_period=RETENTION,
    )
    key.grant_queue_writer(written_by)
    reason = (
        f"This queue is itself a dead-letter queue ({holds}); a DLQ has nothing further to redrive to, "
        "and an operator inspects and replays what lands here"
    )
    cdk.Validations.of(queue).acknowledge(
        cdk.Acknowledgment(id="AwsSolutions::AwsSolutions-SQS3", reason=reason),
        cdk.Acknowledgment(id="Serverless::Serverless-SQSRedrivePolicy", reason=reason),
    )
    return queue
