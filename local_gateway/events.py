"""Builders of the events API Gateway sends a WebSocket integration, field for field.

Each builder returns a plain dict shaped like the ones AWS hands a Lambda proxy integration (see
DESIGN.md, "Events the handler must accept"): ``$connect`` carries headers and query parameters
(``queryStringParameters`` is absent, not empty, without a query string), ``$disconnect`` carries
the close status code and reason, messages carry ``messageId``, ``body`` and ``isBase64Encoded``.
Ids look like AWS's (``Jx-TaE0_GjQFvSw=``: base64url), times are UTC epoch milliseconds.
"""
from __future__ import annotations

import base64
import functools
import json
import os
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Collection, Iterable
from urllib.parse import parse_qsl, urlsplit

DEFAULT_ROUTE = "$default"
CONNECT_ROUTE = "$connect"
DISCONNECT_ROUTE = "$disconnect"
ROUTE_SELECTION_FIELD = "action"
"""The gateway's route selection expression is ``$request.body.action``, as in our CDK stack."""

_ID_BYTES = 11  # 11 random bytes encode to 16 base64 characters ending in "=", like AWS ids.
_POOL_BYTES = 4096  # 372 ids of 11 bytes per os.urandom call
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class _RandomPool:
    """``os.urandom`` bytes read :data:`_POOL_BYTES` at a time and handed out once each.

    Ids are made several times per connection; one system call per few hundred of them instead
    of one each. A lock keeps two threads from taking the same bytes; a forked child starts with
    an empty pool (it must not repeat its parent's ids).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool = b""
        self._at = 0
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._pool, self._at = b"", 0

    def take(self, n: int) -> bytes:
        """``n`` random bytes never handed out before."""
        with self._lock:
            start, end = self._at, self._at + n
            if end > len(self._pool):
                self._pool, start, end = os.urandom(max(_POOL_BYTES, n)), 0, n
            self._at = end
            return self._pool[start:end]


random_bytes = _RandomPool().take


def new_id() -> str:
    """A random id shaped like API Gateway's connection, request and message ids (base64url, 16 characters)."""
    return base64.urlsafe_b64encode(random_bytes(_ID_BYTES)).decode("ascii")


def new_uuid() -> str:
    """A random (version 4) UUID string, like Lambda's request ids."""
    return str(uuid.UUID(bytes=random_bytes(16), version=4))


def now_ms() -> int:
    """The current time as UTC epoch milliseconds."""
    return time.time_ns() // 1_000_000


def new_trace_id(epoch_seconds: int) -> str:
    """An X-Ray trace id as API Gateway adds it: ``Root=1-{8 hex epoch seconds}-{24 hex random}``."""
    return f"Root=1-{epoch_seconds:08x}-{random_bytes(12).hex()}"


@functools.lru_cache(maxsize=4)
def _format_second(epoch_s: int) -> str:
    t = time.gmtime(epoch_s)
    return f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"


def format_request_time(epoch_ms: int) -> str:
    """``requestTime`` as AWS writes it: ``11/Nov/2024:11:35:24 +0000`` (locale-independent).

    Formatted once per second (the events of a busy second share it)."""
    return _format_second(epoch_ms // 1000)


@functools.lru_cache(maxsize=64)
def _forwarded_port(domain_name: str) -> str:
    """``X-Forwarded-Port`` for a ``Host``: its port, else 80 (also for a bad port)."""
    try:
        return str(urlsplit(f"//{domain_name}").port or 80)
    except ValueError:  # a client-supplied Host header with a bad port
        return "80"


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    """What API Gateway knows about one connection; repeated in every event of that connection."""

    connection_id: str
    connected_at_ms: int
    source_ip: str
    user_agent: str | None
    api_id: str
    stage: str
    domain_name: str


def _identity(info: ConnectionInfo) -> dict[str, str]:
    identity = {"sourceIp": info.source_ip}
    if info.user_agent:
        identity["userAgent"] = info.user_agent
    return identity


def _request_context(info: ConnectionInfo, route_key: str, event_type: str) -> dict[str, Any]:
    at = now_ms()
    request_id = new_id()
    return {
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": request_id,
        "requestTime": format_request_time(at),
        "messageDirection": "IN",
        "stage": info.stage,
        "connectedAt": info.connected_at_ms,
        "requestTimeEpoch": at,
        "identity": _identity(info),
        "requestId": request_id,
        "domainName": info.domain_name,
        "connectionId": info.connection_id,
        "apiId": info.api_id,
    }


def _multi_value(pairs: Iterable[tuple[str, str]]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Single-value (last one wins, as AWS does) and multi-value maps of ``pairs``."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        single[name] = value
        multi.setdefault(name, []).append(value)
    return single, multi


def connect_event(
    info: ConnectionInfo, headers: Iterable[tuple[str, str]], query_string: str
) -> dict[str, Any]:
    """The ``$connect`` event for a handshake with ``headers`` (raw pairs) and ``query_string``.

    API Gateway adds ``X-Amzn-Trace-Id``, ``X-Forwarded-For``, ``X-Forwarded-Port`` and
    ``X-Forwarded-Proto`` (a header the client sent itself is kept); the query maps are omitted
    entirely when the URL has no query string.
    """
    added = [
        ("X-Amzn-Trace-Id", new_trace_id(info.connected_at_ms // 1000)),
        ("X-Forwarded-For", info.source_ip), ("X-Forwarded-Port", _forwarded_port(info.domain_name)),
        ("X-Forwarded-Proto", "http"),
    ]
    pairs = list(headers)
    present = {name.lower() for name, _ in pairs}
    pairs += [(name, value) for name, value in added if name.lower() not in present]
    single_headers, multi_headers = _multi_value(pairs)
    event: dict[str, Any] = {"headers": single_headers, "multiValueHeaders": multi_headers}
    if query_string:
        single_query, multi_query = _multi_value(parse_qsl(query_string, keep_blank_values=True))
        event["queryStringParameters"] = single_query
        event["multiValueQueryStringParameters"] = multi_query
    event["requestContext"] = _request_context(info, CONNECT_ROUTE, "CONNECT")
    event["isBase64Encoded"] = False
    return event


def disconnect_event(info: ConnectionInfo, status_code: int, reason: str) -> dict[str, Any]:
    """The ``$disconnect`` event: AWS's minimal (mostly empty) headers, the close code and reason."""
    host = info.domain_name
    single_headers = {"Host": host, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": ""}
    multi_headers = {"Host": [host], "x-api-key": [""], "X-Forwarded-For": [""], "x-restapi": [""]}
    context = _request_context(info, DISCONNECT_ROUTE, "DISCONNECT")
    context["disconnectStatusCode"] = status_code
    context["disconnectReason"] = reason
    return {
        "headers": single_headers,
        "multiValueHeaders": multi_headers,
        "requestContext": context,
        "isBase64Encoded": False,
    }


def message_event(info: ConnectionInfo, data: str, route_key: str) -> dict[str, Any]:
    """A message event for a text frame (API Gateway closes the connection on a binary frame)."""
    context = _request_context(info, route_key, "MESSAGE")
    context["messageId"] = new_id()
    return {"requestContext": context, "body": data, "isBase64Encoded": False}


def select_route(data: str, route_keys: Collection[str]) -> str:
    """Evaluate ``$request.body.action``: a configured route key it names, else ``$default``.

    Like API Gateway, a body that is not a JSON object goes to ``$default``.
    """
    if not route_keys:
        return DEFAULT_ROUTE
    try:
        body = json.loads(data)
    except ValueError:
        return DEFAULT_ROUTE
    action = body.get(ROUTE_SELECTION_FIELD) if isinstance(body, dict) else None
    return action if isinstance(action, str) and action in route_keys else DEFAULT_ROUTE
