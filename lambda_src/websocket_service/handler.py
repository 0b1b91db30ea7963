"""The Lambda entry point: ``websocket_service.handler.handler(event, context)``.

One function serves every trigger (see :func:`websocket_service.events.classify`):

* API Gateway WebSocket ``$connect`` / ``$disconnect`` / messages -> :mod:`websocket_service.routes`;
* direct invoke ``{"action": "notify" | "cleanup" | "migrate" | "connection_status", ...}``;
* EventBridge ``Scheduled Event`` -> cleanup; EventBridge events whose ``detail`` carries
  email/type/message -> notify;
* CloudFormation custom resource with ``ResourceProperties.action == "migrate"`` -> migrate on
  Create/Update, nothing on Delete; the CFN response is PUT to ``ResponseURL`` here.

Errors are answered by TYPE (:mod:`websocket_service.errors`), always with one JSON log line:

* bad input -- any :class:`~websocket_service.errors.ClientError` (a missing field, a bad email or
  connection id, a token, an oversize or too deeply nested message, an unknown action or event) --
  is RETURNED as ``{"ok": false, "error": code, "message": text}`` (WebSocket routes: the error's
  4xx status) and logged at WARNING: retrying cannot help, so Lambda must not count it as an error;
* every other exception is a failure on our side (``config_error``, ``store_error``, any code a
  :class:`~websocket_service.errors.ServiceError` subclass declares such as
  ``database_saturated``, else ``internal_error``); it is logged at ERROR with the full detail and
  emits the ``ServiceFailures`` EMF metric. Direct invokes and EventBridge
  events then RAISE :class:`ServiceFailureError`, so Lambda counts an error (Errors alarm) and
  retries asynchronous invocations (then their dead-letter queue). WebSocket routes answer 500 with
  a generic body: the detail (database host, settings) must not reach clients. CloudFormation
  custom resources are not counted and never raise: they always answer CloudFormation (FAILED
  with the reason).

The service is built on first use and cached per container; :func:`reset` drops it (tests, local
gateway). A store that cannot OPEN its connection (:class:`StoreConnectError`) also drops it, so the
next invocation re-reads the database secret and reconnects (e.g. after the password was rotated
or the host moved). Other store errors (a statement timeout, a missing table) keep the service and
its healthy connection.
"""
from __future__ import annotations

import json
import os
import re
import time
import traceback
from typing import Any, Callable, Mapping

from . import budget
from . import observability as obs
from .config import DATABASE_SATURATED_METRIC, DEFAULT_METRICS_NAMESPACE, ENV_METRICS_NAMESPACE, SERVICE_FAILURES_METRIC
from .errors import INTERNAL_ERROR, ClientError, ErrorInfo, classify_error
from .events import EventKind, WebSocketEvent, classify, describe
from .routes import RouteResult, handle_connect, handle_disconnect, handle_message
from .service import Service, get_service, reset_service
from .store.base import StoreConnectError, StoreSaturatedError
from .validation import MAX_CONNECTION_ID_CHARS, clean_recorded_text

Result = dict[str, Any]

ROUTES: dict[EventKind, Callable[[Service, WebSocketEvent], RouteResult]] = {
    EventKind.CONNECT: handle_connect,
    EventKind.DISCONNECT: handle_disconnect,
    EventKind.MESSAGE: handle_message,
}
CFN_RESPONSE_TIMEOUT_S = 10
CFN_REASON_MAX_CHARS = 1000
SERVICE_UNAVAILABLE = "service_unavailable"
"""Error code WebSocket clients see for any server-side failure (the detail stays in the log)."""
UNAVAILABLE_MESSAGES = {
    EventKind.MESSAGE: "the service could not handle this message; try again later",
    EventKind.CONNECT: "the service could not accept this connection; try again later",
    EventKind.DISCONNECT: "the service could not record this disconnect; try again later",
}


class InvalidRequestError(ClientError, ValueError):
    """A direct-invoke or EventBridge payload lacks a field or has one of the wrong type."""

    code = "invalid_request"


class CfnResponseError(Exception):
    """The CloudFormation response could not be sent: a bad ``ResponseURL`` or a failed PUT."""


class ServiceFailureError(RuntimeError):
    """Raised to Lambda when a direct invoke or EventBridge event failed on our side.

    The message is ``"{code}: {detail}"`` (e.g. ``"store_error: could not connect to ..."``);
    raising makes Lambda count an error and retry asynchronous invocations.
    """


def reset() -> None:
    """Close and forget the cached service (store connection included).

    For tests and the local gateway: the next invocation rebuilds it from the current environment.
    """
    reset_service()


def _error(code: str, message: str) -> Result:
    return {"ok": False, "error": code, "message": message}


def _log(route: str, outcome: str, started: float, request_id: str | None, *, level: str = "INFO",
         **fields: Any) -> None:
    _log_invocation(level, route, outcome, started, request_id, fields)


def _log_invocation(level: str, route: str, outcome: str, started: float, request_id: str | None,
                    fields: Mapping[str, Any]) -> None:
    """:func:`_log` with the extra fields in one mapping (the hot path builds it without keywords)."""
    obs.log_fields(level, "invocation", {"route": route, "outcome": outcome, "request_id": request_id,
                                         "duration_ms": round((time.perf_counter() - started) * 1000, 1), **fields})


def _metrics_namespace() -> str:
    """``METRICS_NAMESPACE`` read on its own, so a failure caused by ANOTHER bad setting (a
    ``config_error``) is still counted in the configured namespace."""
    return os.environ.get(ENV_METRICS_NAMESPACE, "").strip() or DEFAULT_METRICS_NAMESPACE


def _record_failure(
    route: str, error: Exception, started: float, request_id: str | None, *, count: bool = True, **fields: Any
) -> ErrorInfo:
    """Log a failed invocation and return how to answer it (:func:`~websocket_service.errors.classify_error`).

    Client errors are logged at WARNING. Server-side failures are logged at ERROR (with the traceback
    for unexpected errors) and, if ``count``, counted in the ``ServiceFailures`` metric. A store
    that could not open its connection (:class:`StoreConnectError`) also drops the cached service,
    so the next invocation re-reads the database secret and reconnects (a rotated password, a
    moved host), except a refusal for lack of slots (:class:`StoreSaturatedError`, code
    ``database_saturated``, also counted in the ``DatabaseSaturated`` metric): the store keeps its
    backoff and fails fast until it ends. Nothing else does: other store errors leave a healthy
    connection worth keeping, and secrets are only read while the service is built, so a failed
    build caches nothing.
    """
    info = classify_error(error)
    extra: dict[str, Any] = {"error_message": info.message}
    if info.code == INTERNAL_ERROR:
        extra["traceback"] = "".join(traceback.format_exception(error))
    _log(route, info.code, started, request_id, level="WARNING" if info.client else "ERROR", **fields, **extra)
    if not info.client and count:
        obs.emit_metric(_metrics_namespace(), SERVICE_FAILURES_METRIC, 1)
    if isinstance(error, StoreSaturatedError):
        obs.emit_metric(_metrics_namespace(), DATABASE_SATURATED_METRIC, 1)
    elif isinstance(error, StoreConnectError):  # saturation keeps the store: its backoff lives there
        reset_service()
    return info


# --- WebSocket routes ---------------------------------------------------------------------------
def _route_error(kind: EventKind, status: int, code: str, message: str) -> Result:
    body: dict[str, Any] = {"error": code, "message": message}
    if kind is EventKind.MESSAGE:  # message replies reach the client: mark them as errors
        body = {"type": "error", **body}
    return RouteResult(status, body).to_response()


def _websocket(kind: EventKind, route_handler: Callable[[Service, WebSocketEvent], RouteResult],
               event: Mapping[str, Any], request_id: str | None, started: float) -> Result:
    ws = WebSocketEvent(event)
    route = ws.route_key or kind.value
    raw_id = ws.raw["requestContext"].get("connectionId")
    connection_id = clean_recorded_text(raw_id, MAX_CONNECTION_ID_CHARS) if isinstance(raw_id, str) else None
    try:
        result = route_handler(get_service(), ws)
    except Exception as error:  # noqa: BLE001 - the boundary: answer with a status, never raise
        info = _record_failure(route, error, started, request_id, connection_id=connection_id)
        if not info.client:  # the detail (database host, settings) stays in the log
            return _route_error(kind, 500, SERVICE_UNAVAILABLE, UNAVAILABLE_MESSAGES[kind])
        return _route_error(kind, info.status, info.code, info.message)
    level = "INFO" if result.status_code < 400 else "WARNING"
    _log_invocation(level, route, result.outcome, started, request_id,
                    {"connection_id": connection_id, "status_code": result.status_code, **result.log_fields})
    return result.to_response()


# --- direct invokes and EventBridge -------------------------------------------------------------
def _required_str(fields: Mapping[str, Any], name: str, where: str) -> str:
    value = fields.get(name)
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequestError(f"{where} needs a non-empty string field {name!r}")
    return value


def _notify(fields: Mapping[str, Any], where: str) -> Result:
    if fields.get("message") is None:
        raise InvalidRequestError(f"{where} needs a field 'message' (a string or a JSON value)")
    email = _required_str(fields, "email", where)
    connection_type = _required_str(fields, "type", where)
    # Posting stops at the invocation's deadline (budget.SAFETY_MARGIN_S before its end), leaving
    # time to mark gone connections, emit the metric and log the answer.
    report = get_service().notify(email, connection_type, fields["message"], deadline=budget.deadline())
    return {"ok": True, "action": "notify", **report.to_dict()}


def _cleanup(dry_run: Any) -> Result:
    if not isinstance(dry_run, bool):
        raise InvalidRequestError("cleanup field 'dry_run' must be true or false")
    from .cleanup import run_cleanup  # deferred: WebSocket routes never run cleanup

    service = get_service()
    report = run_cleanup(service.store, service.settings, now=service.clock(), dry_run=dry_run)
    result: Result = {"ok": True, "action": "cleanup", "expired": report.expired, "purged": report.purged,
                      "purged_messages": report.purged_messages, "dry_run": report.dry_run,
                      "complete": report.complete}
    if not dry_run:  # a real run also says how it was paced (a dry run only counts)
        result.update(batches=report.batches, longest_batch_ms=report.longest_batch_ms,
                      paused_ms=report.paused_ms, elapsed_ms=report.elapsed_ms)
    return result


def _connection_status(fields: Mapping[str, Any]) -> Result:
    """Read-only: is ``connection_id`` recorded, and is it active? (No email: it is personal data.)"""
    connection_id = _required_str(fields, "connection_id", "connection_status")
    row = get_service().store.get(connection_id)
    return {"ok": True, "action": "connection_status", "connection_id": connection_id, "found": row is not None,
            "active": bool(row and row.is_active),
            "disconnected_at": row.disconnected_at.isoformat() if row and row.disconnected_at else None,
            "disconnect_status_code": row.disconnect_status_code if row else None}


def _migrate() -> Result:
    return {"ok": True, "action": "migrate", "applied": get_service().store.migrate()}


DIRECT_ACTIONS: dict[str, Callable[[Mapping[str, Any], Any], Result]] = {
    "notify": lambda event, context: _notify(event, "notify"),
    "cleanup": lambda event, context: _cleanup(event.get("dry_run", False)),
    "migrate": lambda event, context: _migrate(),
    "connection_status": lambda event, context: _connection_status(event),
}


def _run(route: str, action: Callable[[], Result], started: float, request_id: str | None, *,
         custom_resource: bool = False) -> Result:
    """Run ``action``; bad input becomes an error result, a server-side failure is counted and
    raised as :class:`ServiceFailureError`. For a ``custom_resource`` every failure becomes a
    result (CloudFormation must get an answer; a failed deploy is its own signal)."""
    try:
        result = action()
    except Exception as error:  # noqa: BLE001 - the boundary: log, then a result or one clear error
        info = _record_failure(route, error, started, request_id, count=not custom_resource)
        if not custom_resource and not info.client:
            raise ServiceFailureError(f"{info.code}: {info.message}") from None
        return _error(info.code, info.message)
    fields = {k: v for k, v in result.items() if k not in ("ok", "action")}
    if result.get("action") == "notify" and result["complete"] is False:  # out of time: say what is left
        _log(route, "incomplete", started, request_id, level="WARNING", **fields)
    else:
        _log(route, "ok", started, request_id, **fields)
    return result


def _direct(event: Mapping[str, Any], context: Any, request_id: str | None, started: float) -> Result:
    name = event.get("action")
    action = DIRECT_ACTIONS.get(name) if isinstance(name, str) else None
    if action is None:
        message = f"unknown action {name!r}; expected one of {sorted(DIRECT_ACTIONS)}"
        _log("direct", "unknown_action", started, request_id, level="WARNING")
        return _error("unknown_action", message)
    return _run(f"direct:{name}", lambda: action(event, context), started, request_id)


# --- CloudFormation custom resource -------------------------------------------------------------
def send_cfn_response(event: Mapping[str, Any], status: str, reason: str, physical_id: str,
                      data: Mapping[str, Any]) -> None:
    """PUT the custom-resource response to the pre-signed ``ResponseURL``.

    Raises :class:`CfnResponseError` when ``ResponseURL`` is not on CloudFormation's response hosts
    (:func:`_response_url`) or the PUT cannot be delivered (unreachable, refused, a broken
    HTTP answer, a timeout); never anything else.
    """
    url = _response_url(event.get("ResponseURL"))
    body = json.dumps({
        "Status": status,
        "Reason": reason[:CFN_REASON_MAX_CHARS],
        "PhysicalResourceId": physical_id,
        "StackId": event.get("StackId"),
        "RequestId": event.get("RequestId"),
        "LogicalResourceId": event.get("LogicalResourceId"),
        "Data": dict(data),
    }).encode()
    # An empty Content-Type: the pre-signed S3 URL was not signed with one.
    import urllib.request  # deferred: only custom-resource events pay for it (~60 ms cold)

    import http.client

    request = urllib.request.Request(url, data=body, method="PUT",
                                     headers={"Content-Type": "", "Content-Length": str(len(body))})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=CFN_RESPONSE_TIMEOUT_S) as response:
            response.read()
    except (OSError, ValueError, http.client.HTTPException) as error:  # URLError and timeouts are OSError
        raise CfnResponseError(f"could not PUT the response to ResponseURL: {type(error).__name__}: {error}") from None


CFN_RESPONSE_HOST = re.compile(
    r"cloudformation-custom-resource-response-[a-z0-9]+"  # the bucket: the Region without dashes (uswest2)
    r"\.s3(?:[.-][a-z0-9-]+)*\.amazonaws\.com(?:\.cn)?"  # s3 / s3-us-west-2 / s3.cn-north-1 ... .com(.cn)
)
"""The hosts of CloudFormation's pre-signed ``ResponseURL``: virtual-hosted URLs of its AWS-owned
buckets ``cloudformation-custom-resource-response-<RegionWithoutDashes>`` ("Setting up VPC endpoints
for CloudFormation", https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cfn-vpce-bucketnames.html),
in every partition: ``...-useast1.s3.amazonaws.com``, ``...-uswest2.s3-us-west-2.amazonaws.com``,
``...-euwest1.s3.eu-west-1.amazonaws.com``, ``...-usgovwest1.s3-us-gov-west-1.amazonaws.com``,
``...-cnnorth1.s3.cn-north-1.amazonaws.com.cn``."""
CFN_LOOPBACK_ENV = "CFN_RESPONSE_ALLOW_LOOPBACK"
"""Local and test runs only (the stack never sets it): ``true`` also accepts an http(s)
``ResponseURL`` on a loopback host, where tests run a stand-in for CloudFormation's bucket."""


def _response_url(value: Any) -> str:
    """``ResponseURL`` checked before any request: https on CloudFormation's response hosts
    (:data:`CFN_RESPONSE_HOST`); a loopback host only with :data:`CFN_LOOPBACK_ENV` set."""
    from urllib.parse import urlsplit

    from .messenger import is_loopback_host

    if not isinstance(value, str) or not value.strip():
        raise CfnResponseError("ResponseURL is missing or not a string; CloudFormation sends a pre-signed https URL")
    try:
        parts = urlsplit(value.strip())
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise CfnResponseError("ResponseURL is not a valid URL; CloudFormation sends a pre-signed https URL") from None
    if parts.scheme == "https" and CFN_RESPONSE_HOST.fullmatch(host) and not parts.username and not parts.password:
        return value.strip()
    loopback_allowed = os.environ.get(CFN_LOOPBACK_ENV, "").strip().lower() == "true"
    if loopback_allowed and parts.scheme in ("http", "https") and host and is_loopback_host(host):
        return value.strip()
    raise CfnResponseError(
        f"ResponseURL must be an https:// URL on CloudFormation's response bucket "
        f"(cloudformation-custom-resource-response-<region>.s3...amazonaws.com), got scheme "
        f"{parts.scheme or 'none'!r} and host {host[:80]!r}; CloudFormation sends a pre-signed https URL"
    )


def _cfn_operation(event: Mapping[str, Any]) -> Result:
    """What a custom-resource request asks for: migrate on Create/Update, nothing on Delete."""
    request_type = event.get("RequestType")
    if request_type == "Delete":  # never touch the database: a failed Delete would wedge the stack
        return {"ok": True, "action": "none"}
    properties = event.get("ResourceProperties")
    action = properties.get("action") if isinstance(properties, Mapping) else None
    if action != "migrate":
        raise InvalidRequestError(f"ResourceProperties.action must be 'migrate', got {action!r}")
    if request_type not in ("Create", "Update"):
        raise InvalidRequestError(f"unsupported RequestType {request_type!r}")
    return _migrate()


def _custom_resource(event: Mapping[str, Any], context: Any, request_id: str | None, started: float) -> Result:
    request_type = event.get("RequestType")
    route = f"cloudformation:{request_type if request_type in ('Create', 'Update', 'Delete') else 'other'}"
    try:  # not CloudFormation's URL: a forged or misdirected event; refuse it, run nothing, PUT nothing
        _response_url(event.get("ResponseURL"))
    except CfnResponseError as error:
        _log(route, "cfn_response_refused", started, request_id, level="WARNING", error_message=str(error))
        return _error("cfn_response_refused", str(error))
    result = _run(route, lambda: _cfn_operation(event), started, request_id, custom_resource=True)
    physical_id = event.get("PhysicalResourceId") or f"websocket-migrations-{event.get('LogicalResourceId', 'db')}"
    reason = result.get("message") or f"See CloudWatch log stream {getattr(context, 'log_stream_name', None)}"
    data = {"Applied": ",".join(str(v) for v in result.get("applied", []))}
    try:
        send_cfn_response(event, "SUCCESS" if result["ok"] else "FAILED", reason, str(physical_id), data)
    except CfnResponseError as error:
        _log(route, "cfn_response_failed", started, request_id, level="ERROR", error_message=str(error))
        return _error("cfn_response_failed", str(error))
    return result


# --- entry point --------------------------------------------------------------------------------
def handler(event: Any, context: Any = None) -> Result:
    """Lambda entry point for every trigger; see the module docstring.

    Raises :class:`ServiceFailureError` only for a direct invoke or EventBridge event that failed
    on our side (store, configuration, unexpected error); everything else returns a result.
    """
    started = time.perf_counter()
    budget.start(context)  # database and management API waits stay inside the remaining time
    request_id = getattr(context, "aws_request_id", None)
    kind = classify(event)
    route_handler = ROUTES.get(kind)
    if route_handler is not None:
        return _websocket(kind, route_handler, event, request_id, started)
    if kind is EventKind.DIRECT_ACTION:
        return _direct(event, context, request_id, started)
    if kind is EventKind.SCHEDULED:
        return _run("eventbridge:scheduled", lambda: _cleanup(False), started, request_id)
    if kind is EventKind.NOTIFY:
        return _run("eventbridge:notify", lambda: _notify(event["detail"], "EventBridge detail"), started, request_id)
    if kind is EventKind.CFN_CUSTOM_RESOURCE:
        return _custom_resource(event, context, request_id, started)
    code = "malformed_event" if kind is EventKind.MALFORMED else "unsupported_event"
    message = (
        f"cannot handle {describe(event)}: expected an API Gateway WebSocket event, a direct invoke "
        f"{{'action': 'notify'|'cleanup'|'migrate'}}, an EventBridge event or a CloudFormation "
        "custom resource"
    )
    _log("unknown", code, started, request_id, level="WARNING")
    if isinstance(event, dict) and "requestContext" in event:  # API Gateway reads a status code
        return RouteResult(400, {"error": code, "message": message}).to_response()
    return _error(code, message)
