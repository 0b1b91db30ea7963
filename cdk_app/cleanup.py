"""The cleanup schedule: an EventBridge rule that invokes the function with {"action": "cleanup"}."""
from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from cdk_app.queues import dead_letter_queue
from cdk_app.runtime_contract import CLEANUP_EVENT

RETRY_ATTEMPTS = 2
MAX_EVENT_AGE = cdk.Duration.hours(1)
"""A cleanup older than this is pointless: the next scheduled run does the same work."""


class CleanupSchedule(Construct):
    """Runs the function's cleanup on a schedule; undeliverable events land in a dead-letter queue.

    :param handler: the function to invoke (bundled or existing).
    :param schedule_expression: an EventBridge ``rate(...)`` or ``cron(...)`` expression.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, handler: lambda_.IFunction, schedule_expression: str
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letter_queue = dead_letter_queue(
            self,
            "DeadLetterQueue",
            holds="cleanup events EventBridge could not deliver to the function",
            written_by=iam.ServicePrincipal("events.amazonaws.com"),
        )
        self.rule = events.Rule(
            self,
            "Rule",
            description="Expire idle WebSocket connections and purge old rows",
            schedule=events.Schedule.expression(schedule_expression),
        )
        cdk.Annotations.of(self.rule).acknowledge_warning(
            "@aws-cdk/aws-events:ruleUnresolvedEnvironment",
            "An existing target function must live in the account and region the stack deploys to (README)",
        )
        self.rule.add_target(
            targets.LambdaFunction(
                handler,
                event=events.RuleTargetInput.from_object(dict(CLEANUP_EVENT)),
                dead_letter_queue=self.dead_letter_queue,
                retry_attempts=RETRY_ATTEMPTS,
                max_event_age=MAX_EVENT_AGE,
            )
        )
