"""Helpers for functional tests: invoke the real handler like Lambda, build events, read logs."""
from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from typing import Any

import pytest

from tests.events import load_event
from websocket_service import handler as handler_module


@dataclass
class LambdaContext:
    """The parts of the Lambda context object the handler reads."""

    aws_request_id: str = "req-0001"
    log_stream_name: str = "2026/11/25/[$LATEST]abcdef"


def invoke(event: Any, request_id: str = "req-0001") -> dict[str, Any]:
    """Call the real handler the way Lambda does."""
    return handler_module.handler(event, LambdaContext(aws_request_id=request_id))


def connect_event(connection_id: str, **query: str) -> dict[str, Any]:
    """The ``connect.json`` fixture with another connection id and query parameters."""
    event = load_event("connect")
    event["requestContext"]["connectionId"] = connection_id
    if query:
        event["queryStringParameters"] = dict(query)
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    return event


def message_event(connection_id: str, body: str | None, *, base64: bool = False) -> dict[str, Any]:
    """The ``message_ping.json`` fixture with another connection id and body."""
    event = load_event("message_ping")
    event["requestContext"]["connectionId"] = connection_id
    event["body"] = body
    event["isBase64Encoded"] = base64
    return event


def body_of(response: dict[str, Any]) -> dict[str, Any]:
    """The decoded JSON body of a WebSocket route response."""
    return json.loads(response["body"])


def log_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """Every JSON line the handler printed since the last call."""
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


UNAVAILABLE_MESSAGE_BODY = {"type": "error", "error": "service_unavailable",
                            "message": "the service could not handle this message; try again later"}
"""What a WebSocket client receives when its message failed on the service's side."""
UNAVAILABLE_CONNECT_BODY = {"error": "service_unavailable",
                            "message": "the service could not accept this connection; try again later"}
"""The ``$connect`` answer when the connection failed on the service's side."""


def invocation_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The per-invocation log lines (one per handler call) among ``lines``."""
    return [line for line in lines if line.get("message") == "invocation"]


def metric_lines(lines: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """The EMF lines among ``lines`` that carry metric ``name``."""
    return [line for line in lines
            if "_aws" in line and any(m["Name"] == name for d in line["_aws"]["CloudWatchMetrics"]
                                      for m in d["Metrics"])]


def namespace_of(metric_line: dict[str, Any]) -> str:
    """The CloudWatch namespace of an EMF line."""
    (directive,) = metric_line["_aws"]["CloudWatchMetrics"]
    return directive["Namespace"]


def closed_port() -> int:
    """A local TCP port nothing listens on (connections to it are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def migrate_up_to(store: Any, version: int) -> list[int]:
    """Apply the store's migrations up to ``version`` only (the schema a deploy's new code meets
    before its migrate step has run); a later ``store.migrate()`` applies the rest."""
    from websocket_service.store import schema

    real = schema.load_migrations
    schema.load_migrations = lambda dialect: tuple(m for m in real(dialect) if m.version <= version)
    try:
        return store.migrate()
    finally:
        schema.load_migrations = real


def execute_sql(database_url: str, statement: str) -> None:
    """Run one statement on the database behind a test ``DATABASE_URL`` with the raw driver."""
    if database_url.startswith("sqlite:///"):
        import sqlite3

        conn = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            conn.execute(statement)
        finally:
            conn.close()
        return
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as pg:
        pg.execute(statement)
