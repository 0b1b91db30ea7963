"""CloudWatch alarms for the WebSocket API, its functions and database, wired to an SNS topic when configured."""
from __future__ import annotations

import math
from typing import Mapping

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
SAMPLE = cdk.Duration.minutes(1)
"""Period of the gauge-like alarms (concurrency, database connections), evaluated over 3 samples."""
SUSTAINED_PERIODS = 3
CONCURRENCY_ALARM_SHARE = 0.8
DATABASE_ALARM_SHARE = 0.8


def database_connections_metric(
    *, cluster_identifier: str | None, instance_identifier: str | None
) -> cloudwatch.Metric | None:
    """RDS's ``DatabaseConnections`` (``Maximum`` per minute) for an existing cluster or instance, or None."""
    if cluster_identifier:
        dimensions = {"DBClusterIdentifier": cluster_identifier}
    elif instance_identifier:
        dimensions = {"DBInstanceIdentifier": instance_identifier}
    else:
        return None
    return cloudwatch.Metric(
        namespace="AWS/RDS", metric_name="DatabaseConnections", dimensions_map=dimensions,
        statistic=cloudwatch.Stats.MAXIMUM, period=SAMPLE,
    )


SERVICE_FAILURES_DESCRIPTION = "The function failed on its side (store, configuration or unexpected error)"
INTEGRATION_ERRORS_DESCRIPTION = (
    "Many 4XX/5XX answers from the function: rejected connects or bad messages, e.g. a broken frontend or token secret"
)


class Monitoring(Construct):
    """Alarms on the WebSocket stage, the functions, the database and the function's own EMF metrics.

    - ``HighConnectionCount``: new connection attempts (``ConnectCount`` counts every ``$connect``
      request, rejected ones included; it is not the number of open connections).
    - ``IntegrationErrors``: many 4XX/5XX answers from the function (API Gateway counts both for
      WebSocket APIs, so rejected connects and bad messages add up here; a broken frontend or
      token secret shows as a burst).
    - ``ServiceFailures``: the function failed on its side (its ``ServiceFailures`` metric).
    - ``ExecutionErrors``, ``FailedDeliveries``.
    - Per function (label + ``FunctionErrors`` / ``FunctionThrottles``; ``RouteFunctionErrors``,
      ``OpsFunctionThrottles``...): any Lambda error or throttle.
    - ``{label}FunctionConcurrency`` for functions with a reserved concurrency: running instances
      reached :data:`CONCURRENCY_ALARM_SHARE` of it for 3 minutes (throttling is next).
    - ``DatabaseConnections`` when the stack knows the database: its connections reached
      :data:`DATABASE_ALARM_SHARE` of ``databaseMaxConnections`` for 3 minutes.

    :param functions: the functions to watch by label (``{"Route": ..., "Ops": ...}``; one function
        under the label ``""`` keeps the names ``FunctionErrors``/``FunctionThrottles``).
    :param reserved_concurrency: reserved concurrency by label, for the concurrency alarms.
    :param stage: the WebSocket stage (its metrics carry ApiId and Stage dimensions).
    :param metrics_namespace: namespace of the function's EMF metrics.
    :param connection_count_threshold: new connection attempts per 5 minutes that raise the alarm.
    :param integration_error_threshold: 4XX/5XX integration answers per 5 minutes that raise the alarm.
    :param database_connections: the database's connection count (``Maximum``), None when unknown.
    :param database_max_connections: the database's ``max_connections`` (alarm threshold base).
    :param alarm_topic_arn: existing SNS topic for alarm actions.
    :param alarm_email: address subscribed to a new, encrypted topic for alarm actions.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: Mapping[str, lambda_.IFunction],
        stage: apigwv2.WebSocketStage,
        metrics_namespace: str,
        connection_count_threshold: int,
        integration_error_threshold: int,
        reserved_concurrency: Mapping[str, int] | None = None,
        database_connections: cloudwatch.IMetric | None = None,
        database_max_connections: int | None = None,
        alarm_topic_arn: str | None = None,
        alarm_email: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.subscription_dead_letter_queue: sqs.Queue | None = None
        self.topic = self._topic(alarm_topic_arn, alarm_email)
        sum_of = {"statistic": cloudwatch.Stats.SUM, "period": PERIOD}

        def own_metric(metric_name: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(namespace=metrics_namespace, metric_name=metric_name, **sum_of)

        specs: dict[str, tuple[cloudwatch.IMetric, int, str, int]] = {
            "HighConnectionCount": (
                stage.metric("ConnectCount", **sum_of),
                connection_count_threshold,
                f"{connection_count_threshold} or more new WebSocket connection attempts in 5 minutes "
                "($connect requests, rejected ones included; not the number of open connections)",
                1,
            ),
            "IntegrationErrors": (
                stage.metric("IntegrationError", **sum_of),
                integration_error_threshold,
                f"{INTEGRATION_ERRORS_DESCRIPTION} ({integration_error_threshold} or more in 5 minutes)",
                1,
            ),
            "ServiceFailures": (own_metric(SERVICE_FAILURES_METRIC), 1, SERVICE_FAILURES_DESCRIPTION, 1),
            "ExecutionErrors": (
                stage.metric("ExecutionError", **sum_of), 1, "API Gateway failed to run a WebSocket route", 1
            ),
            "FailedDeliveries": (
                own_metric(FAILED_DELIVERIES_METRIC), 1, "Notifications could not be posted to connected clients", 1
            ),
        }
        for label, function in functions.items():
            which = f"The {label.lower()} function" if label else "The notification function"
            specs[f"{label}FunctionErrors"] = (function.metric_errors(**sum_of), 1, f"{which} raised errors", 1)
            specs[f"{label}FunctionThrottles"] = (
                function.metric_throttles(**sum_of), 1,
                f"{which} was throttled: it reached its reserved concurrency (those invocations were refused)", 1,
            )
        for label, reserved in (reserved_concurrency or {}).items():
            threshold = math.ceil(reserved * CONCURRENCY_ALARM_SHARE)
            specs[f"{label}FunctionConcurrency"] = (
                functions[label].metric("ConcurrentExecutions", statistic=cloudwatch.Stats.MAXIMUM, period=SAMPLE),
                threshold,
                f"The {label.lower()} function ran {threshold} or more instances (of its reserved {reserved}) for "
                "3 minutes: throttling is next; see the README's sizing guide",
                SUSTAINED_PERIODS,
            )
        if database_connections is not None and database_max_connections is not None:
            threshold = math.ceil(database_max_connections * DATABASE_ALARM_SHARE)
            specs["DatabaseConnections"] = (
                database_connections,
                threshold,
                f"The database held {threshold} or more connections (of databaseMaxConnections="
                f"{database_max_connections}) for 3 minutes: new connections will soon be refused",
                SUSTAINED_PERIODS,
            )
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        for name, (metric, threshold, description, periods) in specs.items():
            alarm = metric.create_alarm(
                self,
                name,
                alarm_description=description,
                threshold=threshold,
                evaluation_periods=periods,
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
            self, "AlarmTopicKey", description="Encrypts the WebSocket alarm topic", enable_key_rotation=True,
            # Kept on update and stack delete, removed when its own creation rolls back (no debris).
            removal_policy=cdk.RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
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
