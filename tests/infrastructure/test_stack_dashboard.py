"""The operations dashboard: one widget per promise, built from the metrics and log lines that exist."""
from __future__ import annotations

import json
from typing import Any

from cdk_app import runtime_contract as rc
from cdk_app.dashboard import cleanup_query

from .conftest import SynthFn, Synthesis


def dashboard(synthesis: Synthesis) -> dict[str, Any]:
    """The dashboard body as JSON; CloudFormation references become ``<Ref:LogicalId>`` text."""
    (resource,) = synthesis.resources("AWS::CloudWatch::Dashboard").values()
    assert "DashboardName" not in resource["Properties"]  # generated: two deployments never collide

    def text(part: Any) -> str:
        if isinstance(part, str):
            return part
        if "Ref" in part:
            return f"<Ref:{part['Ref']}>"
        return f"<GetAtt:{part['Fn::GetAtt'][0]}>"

    return json.loads("".join(text(p) for p in resource["Properties"]["DashboardBody"]["Fn::Join"][1]))


def widgets(synthesis: Synthesis) -> dict[str, dict[str, Any]]:
    return {w["properties"]["title"]: w for w in dashboard(synthesis)["widgets"]}


def metric_names(widget: dict[str, Any]) -> list[tuple[str, str]]:
    return [(m[0], m[1]) for m in widget["properties"]["metrics"]]


def test_default_dashboard_has_every_promised_view(default: Synthesis) -> None:
    assert set(widgets(default)) == {
        "Connections", "Messages", "Errors", "Latency (ms)", "Failed deliveries", "Concurrency",
        "Cleanup: connections expired and rows purged per hour",
    }


def test_connections_messages_errors_and_latency_come_from_the_stage_and_functions(default: Synthesis) -> None:
    w = widgets(default)
    # the stage's new connections, and the created database's connections beside them
    assert metric_names(w["Connections"]) == [("AWS/ApiGateway", "ConnectCount"), ("AWS/RDS", "DatabaseConnections")]
    assert metric_names(w["Messages"]) == [("AWS/ApiGateway", "MessageCount")]
    assert metric_names(w["Errors"]) == [
        ("AWS/ApiGateway", "ClientError"), ("AWS/ApiGateway", "IntegrationError"), ("AWS/ApiGateway", "ExecutionError"),
        ("WebSocketNotifications", rc.SERVICE_FAILURES_METRIC), ("AWS/Lambda", "Errors"), ("AWS/Lambda", "Errors"),
    ]
    latency = w["Latency (ms)"]["properties"]["metrics"]
    assert [(m[1], m[-1]["stat"]) for m in latency] == [
        ("IntegrationLatency", "p50"), ("IntegrationLatency", "p99"), ("Duration", "p99"), ("Duration", "p99"),
    ]
    assert metric_names(w["Failed deliveries"]) == [("WebSocketNotifications", rc.FAILED_DELIVERIES_METRIC)]
    for metric in w["Connections"]["properties"]["metrics"][:1] + w["Messages"]["properties"]["metrics"]:
        assert metric[2:6] == ["ApiId", f"<Ref:{default.template_json['Outputs']['ApiId']['Value']['Ref']}>", "Stage", "prod"]


def test_concurrency_shows_each_functions_instances_against_its_reserved_concurrency_and_throttles(default: Synthesis) -> None:
    concurrency = widgets(default)["Concurrency"]["properties"]
    instances = [m for m in concurrency["metrics"] if m[1] == "ConcurrentExecutions"]
    assert [m[3] for m in instances] == [f"<Ref:{default.function_id('route')}>", f"<Ref:{default.function_id('ops')}>"]
    assert all(m[-1]["stat"] == "Maximum" for m in instances)
    throttles = [m for m in concurrency["metrics"] if m[1] == "Throttles"]
    assert len(throttles) == 2 and all(m[-1]["yAxis"] == "right" for m in throttles)
    limits = {a["label"]: a["value"] for a in concurrency["annotations"]["horizontal"]}
    assert limits == {"Route reserved concurrency": 100, "Ops reserved concurrency": 10}


def test_cleanup_widget_queries_the_ops_functions_log_group(default: Synthesis) -> None:
    cleanup = widgets(default)["Cleanup: connections expired and rows purged per hour"]
    assert cleanup["type"] == "log"
    log_group = default.function("ops")["LoggingConfig"]["LogGroup"]["Ref"]
    assert cleanup["properties"]["query"] == f"SOURCE '<Ref:{log_group}>' | {cleanup_query()}"


def test_a_known_database_and_a_proxy_add_their_connections(synth: SynthFn) -> None:
    proxy = synth("proxy")
    w = widgets(proxy)
    (database,) = [m for m in w["Connections"]["properties"]["metrics"] if m[0] == "AWS/RDS"]
    assert database[1:4] == ["DatabaseConnections", "DBInstanceIdentifier", "ws-postgres"]
    assert w["Connections"]["properties"]["annotations"]["horizontal"] == [
        {"label": "databaseMaxConnections", "value": 189, "yAxis": "right"}
    ]
    proxy_name = proxy.resources("AWS::RDS::DBProxy")
    (proxy_id,) = proxy_name
    assert [(m[1], m[3]) for m in w["RDS Proxy connections"]["properties"]["metrics"]] == [
        ("ClientConnections", f"<Ref:{proxy_id}>"), ("DatabaseConnections", f"<Ref:{proxy_id}>"),
    ]


def test_an_existing_function_gets_no_cleanup_widget(synth: SynthFn) -> None:
    w = widgets(synth("existing_function"))
    assert not [title for title in w if title.startswith("Cleanup")]
    assert "Concurrency" in w
