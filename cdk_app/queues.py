"""Dead-letter queues: encrypted, TLS-only, 14 days of retention, one helper for every DLQ."""
from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_sqs as sqs
from constructs import Construct

RETENTION = cdk.Duration.days(14)


def dead_letter_queue(scope: Construct, construct_id: str, *, holds: str) -> sqs.Queue:
    """Create an encrypted (SSE-SQS), TLS-only dead-letter queue for ``holds`` (what lands in it).

    cdk-nag's "queue has no DLQ / redrive policy" findings are acknowledged on it: it is the end
    of the line, messages in it are inspected and replayed by an operator.
    """
    queue = sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=RETENTION,
    )
    reason = (
        f"This queue is itself a dead-letter queue ({holds}); a DLQ has nothing further to redrive to, "
        "and an operator inspects and replays what lands here"
    )
    cdk.Validations.of(queue).acknowledge(
        cdk.Acknowledgment(id="AwsSolutions::AwsSolutions-SQS3", reason=reason),
        cdk.Acknowledgment(id="Serverless::Serverless-SQSRedrivePolicy", reason=reason),
    )
    return queue
