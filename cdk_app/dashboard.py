"""A CloudWatch dashboard: connections, messages, errors, latency, deliveries, cleanup, concurrency."""
from __future__ import annotations

from typing import Mapping

import aws_cdk as cdk
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from cdk_app.runtime_contract import (
    CLEANUP_LOG_COUNTS,
    CLEANUP_LOG_ROUTES,
    FAILED_DELIVERIES_METRIC,
    INVOCATION_LOG_MESSAGE,
    SERVICE_FAILURES_METRIC,
)

PERIOD = cdk.Duration.minutes(1)
WIDTH = 12
HEIGHT = 6


def cleanup_query() -> str:
    """Logs Insights query summing what each cleanup run expired and purged (the function's own log line)."""
    routes = ", ".join(f'"{route}"' for route in CLEANUP_LOG_ROUTES)
    sums = ", ".join(f"sum({field}) as {field}" for field in CLEANUP_LOG_COUNTS)
    return (
        f'filter message = "{INVOCATION_LOG_MESSAGE}" and route in [{routes}] and outcome = "ok" '
        f"| stats {sums}, count(*) as runs by bin(1h)"
    )


class OperationsDashboard(Construct):
    """One dashboard for the operator (its name is generated, so two deployments never collide).

    Rows: connections (new connection attempts, database connections) and messages; errors
    (API Gateway 4XX/5XX and execution errors, Lambda errors, ``ServiceFailures``) and latency
    (integration p50/p99, function duration p99); failed deliveries and cleanup counts (from the
    function's log line per cleanup run); concurrency (running instances against the reserved
    concurrency, throttles) and, with a proxy, its client and database connections.

    :param stage: the WebSocket stage.
    :param functions: the functions by label (``{"Route": ..., "Ops": ...}``).
    :param reserved_concurrency: reserved concurrency by label (drawn as a limit line).
    :param metrics_namespace: namespace of the function's EMF metrics.
    :param cleanup_log_group: log group of the function that runs cleanup; None hides that widget.
    :param database_connections: the database's connection count, None when the stack does not know it.
    :param database_max_connections: drawn as the limit on the connections graph.
    :param proxy_name: name of the stack's RDS Proxy, None without one.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: apigwv2.WebSocketStage,
        functions: Mapping[str, lambda_.IFunction],
        metrics_namespace: str,
        reserved_concurrency: Mapping[str, int] | None = None,
        cleanup_log_group: logs.ILogGroup | None = None,
        database_connections: cloudwatch.IMetric | None = None,
        database_max_connections: int | None = None,
        proxy_name: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        summed = {"statistic": cloudwatch.Stats.SUM, "period": PERIOD}

        def own(metric_name: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(namespace=metrics_namespace, metric_name=metric_name, **summed)

        def graph(title: str, left: list[cloudwatch.IMetric], **extra: object) -> cloudwatch.GraphWidget:
            return cloudwatch.GraphWidget(title=title, left=left, width=WIDTH, height=HEIGHT, **extra)  # type: ignore[arg-type]

        connections: list[cloudwatch.IMetric] = [stage.metric("ConnectCount", label="New connection attempts", **summed)]
        right: list[cloudwatch.IMetric] = []
        annotations: list[cloudwatch.HorizontalAnnotation] = []
        if database_connections is not None:
            right.append(database_connections)
            if database_max_connections is not None:
                annotations.append(
                    cloudwatch.HorizontalAnnotation(value=database_max_connections, label="databaseMaxConnections")
                )
        self.widgets: dict[str, cloudwatch.IWidget] = {
            "Connections": graph("Connections", connections, right=right, right_annotations=annotations),
            "Messages": graph("Messages", [stage.metric("MessageCount", label="Messages", **summed)]),
            "Errors": graph("Errors", [
                stage.metric("ClientError", label="4XX (API Gateway)", **summed),
                stage.metric("IntegrationError", label="4XX/5XX from the function", **summed),
                stage.metric("ExecutionError", label="Execution errors", **summed),
                own(SERVICE_FAILURES_METRIC),
                *(f.metric_errors(label=f"{label} function errors", **summed) for label, f in functions.items()),
            ]),
            "Latency": graph("Latency (ms)", [
                stage.metric("IntegrationLatency", statistic="p50", period=PERIOD, label="Integration p50"),
                stage.metric("IntegrationLatency", statistic="p99", period=PERIOD, label="Integration p99"),
                *(f.metric_duration(statistic="p99", period=PERIOD, label=f"{label} function p99")
                  for label, f in functions.items()),
            ]),
            "FailedDeliveries": graph("Failed deliveries", [own(FAILED_DELIVERIES_METRIC)]),
            "Concurrency": graph(
                "Concurrency",
                [f.metric("ConcurrentExecutions", statistic=cloudwatch.Stats.MAXIMUM, period=PERIOD,
                          label=f"{label} instances") for label, f in functions.items()],
                right=[f.metric_throttles(label=f"{label} throttles", **summed) for label, f in functions.items()],
                left_annotations=[
                    cloudwatch.HorizontalAnnotation(value=reserved, label=f"{label} reserved concurrency")
                    for label, reserved in (reserved_concurrency or {}).items()
                ],
            ),
        }
        if cleanup_log_group is not None:
            self.widgets["Cleanup"] = cloudwatch.LogQueryWidget(
                title="Cleanup: connections expired and rows purged per hour",
                log_group_names=[cleanup_log_group.log_group_name],
                query_string=cleanup_query(),
                view=cloudwatch.LogQueryVisualizationType.BAR,
                width=WIDTH,
                height=HEIGHT,
            )
        if proxy_name is not None:
            self.widgets["Proxy"] = graph("RDS Proxy connections", [
                cloudwatch.Metric(namespace="AWS/RDS", metric_name=name, dimensions_map={"ProxyName": proxy_name},
                                  statistic=cloudwatch.Stats.MAXIMUM, period=PERIOD, label=name)
                for name in ("ClientConnections", "DatabaseConnections")
            ])
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=cdk.Duration.hours(3))
        widgets = list(self.widgets.values())
        for i in range(0, len(widgets), 2):
            self.dashboard.add_widgets(*widgets[i : i + 2])
