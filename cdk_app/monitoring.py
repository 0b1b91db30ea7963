"""CloudWatch alarms for the WebSocket API and its function, wired to an SNS topic when configured."""
from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from cdk_app.queues import dead_letter_queue
from cdk_app.runtime_contract import FAILED_DELIVERIES_METRIC, SERVICE_FAILURES_METRIC

PERIOD = cdk.Duration.minutes(5)
SERVICE_FAILURES_DESCRIPTION = "The function failed on its side (store, configuration or unexpected error)"
INTEGRATION_ERRORS_DESCRIPTION = (
    "Many 4XX/5XX answers from the function: rejected connects or bad messages, e.g. a broken frontend or token secret"
)


class Monitoring(Construct):
    """Alarms on the WebSocket stage, the function and the function's own EMF metrics.

    - ``HighConnectionCount``: new connection attempts (``ConnectCount`` counts every ``$connect``
      request, rejected ones included; it is not the number of open connections).
    - ``IntegrationErrors``: many 4XX/5XX answers from the function (API Gateway counts both for
      WebSocket APIs, so rejected connects and bad messages add up here; a broken frontend or
      token secret shows as a burst).
    - ``ServiceFailures``: the function failed on its side (its ``ServiceFailures`` metric).
    - ``ExecutionErrors``, ``FunctionErrors``, ``FunctionThrottles``, ``FailedDeliveries``.

    :param handler: the function behind the routes.
    :param stage: the WebSocket stage (its metrics carry ApiId and Stage dimensions).
    :param metrics_namespace: namespace of the function's EMF metrics.
    :param connection_count_threshold: new connection attempts per 5 minutes that raise the alarm.
    :param integration_error_threshold: 4XX/5XX integration answers per 5 minutes that raise the alarm.
    :param alarm_topic_arn: existing SNS topic for alarm actions.
    :param alarm_email: address subscribed to a new, encrypted topic for alarm actions.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: lambda_.IFunction,
        stage: apigwv2.WebSocketStage,
        metrics_namespace: str,
        connection_count_threshold: int,
        integration_error_threshold: int,
        alarm_topic_arn: str | None = None,
        alarm_email: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.subscription_dead_letter_queue: sqs.Queue | None = None
        self.topic = self._topic(alarm_topic_arn, alarm_email)
        sum_of = {"statistic": cloudwatch.Stats.SUM, "period": PERIOD}

        def own_metric(metric_name: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(namespace=metrics_namespace, metric_name=metric_name, **sum_of)

        specs: dict[str, tuple[cloudwatch.IMetric, int, str]] = {
            "HighConnectionCount": (
                stage.metric("ConnectCount", **sum_of),
                connection_count_threshold,
                f"{connection_count_threshold} or more new WebSocket connection attempts in 5 minutes "
                "($connect requests, rejected ones included; not the number of open connections)",
            ),
            "IntegrationErrors": (
                stage.metric("IntegrationError", **sum_of),
                integration_error_threshold,
                f"{INTEGRATION_ERRORS_DESCRIPTION} ({integration_error_threshold} or more in 5 minutes)",
            ),
            "ServiceFailures": (own_metric(SERVICE_FAILURES_METRIC), 1, SERVICE_FAILURES_DESCRIPTION),
            "ExecutionErrors": (
                stage.metric("ExecutionError", **sum_of), 1, "API Gateway failed to run a WebSocket route"
            ),
            "FunctionErrors": (handler.metric_errors(**sum_of), 1, "The notification function raised errors"),
            "FunctionThrottles": (handler.metric_throttles(**sum_of), 1, "The notification function was throttled"),
            "FailedDeliveries": (
                own_metric(FAILED_DELIVERIES_METRIC), 1, "Notifications could not be posted to connected clients"
            ),
        }
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        for name, (metric, threshold, description) in specs.items():
            alarm = metric.create_alarm(
                self,
                name,
                alarm_description=description,
                threshold=threshold,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            if self.topic is not None:
                alarm.add_alarm_action(cw_actions.SnsAction(self.topic))
            self.alarms[name] = alarm

    def _topic(self, alarm_topic_arn: str | None, alarm_email: str | None) -> sns.ITopic | None:
        """The alarm topic: imported, created for an e-mail subscription, or none."""
        if alarm_topic_arn:
            return sns.Topic.from_topic_arn(self, "AlarmTopic", alarm_topic_arn)
        if not alarm_email:
            return None
        # CloudWatch cannot publish to a topic encrypted with the AWS-managed SNS key, so the topic
        # gets its own rotating key that CloudWatch may use.
        key = kms.Key(
            self, "AlarmTopicKey", description="Encrypts the WebSocket alarm topic", enable_key_rotation=True
        )
        key.grant(iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*")
        topic = sns.Topic(self, "AlarmTopic", display_name="WebSocket notification alarms", master_key=key, enforce_ssl=True)
        self.subscription_dead_letter_queue = dead_letter_queue(
            self,
            "AlarmSubscriptionDeadLetterQueue",
            holds="alarm notifications SNS could not deliver by e-mail",
            written_by=iam.ServicePrincipal("sns.amazonaws.com"),
        )
        topic.add_subscription(
            subscriptions.EmailSubscription(alarm_email, dead_letter_queue=self.subscription_dead_letter_queue)
        )
        return topic
