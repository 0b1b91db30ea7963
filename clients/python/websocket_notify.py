"""Send a notify to the WebSocket notification service from a Python backend (stdlib + boto3).

Copy this one file into a backend. It builds exactly the payload of the notify contract
(``notify.schema.json``, published by the stack in the EventBridge schema registry named by the
``NotifySchemaRegistryName`` output) and sends it either by invoking the function directly
(``via="invoke"``: synchronous, the answer says how many connections got it and the ``messageId``
kept for replay) or as the ``detail`` of an EventBridge event (``via="eventbridge"``: asynchronous,
for a bus with a rule that targets the function)::

    from websocket_notify import send_notify

    send_notify("ada@example.com", "email-verification", {"type": "email-verified"},
                function_name="websocket-notifications-Handler...")   # the stack's FunctionName output
    send_notify("ada@example.com", "email-verification", {"type": "email-verified"},
                via="eventbridge", event_bus="careconnect")

A JSON-object message reaches the page with ``"messageId"`` added (the service's id replaces any
``messageId`` of the message's own); a string is sent as text.
"""
from __future__ import annotations

import json
from typing import Any

NOTIFY_ACTION = "notify"
DEFAULT_SOURCE = "websocket-notifications.backend"
"""``Source`` of the EventBridge events :func:`send_notify` puts (match it in the rule)."""
DEFAULT_DETAIL_TYPE = "WebSocketNotify"
"""``DetailType`` of those events (the name of the schema in the stack's registry)."""
VIAS = ("invoke", "eventbridge")

__all__ = ["DEFAULT_DETAIL_TYPE", "DEFAULT_SOURCE", "NotifyError", "NotifyRefusedError", "notify_detail", "send_notify"]


class NotifyError(RuntimeError):
    """The notify could not be handed over: the function failed on its side (it raised; Lambda
    reports a ``FunctionError``) or EventBridge did not accept the event. Retrying may help."""


class NotifyRefusedError(NotifyError, ValueError):
    """The function refused the payload (a bad email, an unknown type, a message over the size
    limit); ``code`` is its error code (``invalid_email``, ...). Retrying the same payload cannot help."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


def notify_detail(email: str, connection_type: str, message: Any) -> dict[str, Any]:
    """The notify payload without ``action``: ``{"email", "type", "message"}`` (an EventBridge
    event's ``detail``; the direct invoke adds ``"action": "notify"``). Raises ``ValueError`` for
    an empty email or type or a ``None`` message (the schema's required fields)."""
    if not isinstance(email, str) or not email.strip():
        raise ValueError("email must be a non-empty string")
    if not isinstance(connection_type, str) or not connection_type.strip():
        raise ValueError("connection_type must be a non-empty string (e.g. 'email-verification')")
    if message is None:
        raise ValueError("message must be a string or a JSON value, not None")
    return {"email": email, "type": connection_type, "message": message}


def send_notify(
    email: str,
    connection_type: str,
    message: Any,
    *,
    via: str = "invoke",
    function_name: str | None = None,
    event_bus: str | None = None,
    client: Any = None,
    source: str = DEFAULT_SOURCE,
    detail_type: str = DEFAULT_DETAIL_TYPE,
) -> dict[str, Any]:
    """Push ``message`` to the open connections of ``email`` and ``connection_type``.

    ``via="invoke"`` (default) invokes ``function_name`` (name or ARN; the stack's ``FunctionName``
    output) synchronously and returns the function's answer: ``{"ok": true, "sent", "gone",
    "failed", "undelivered", "complete", "messageId", "kept"}``. ``via="eventbridge"`` puts one event
    (``source``/``detail_type``, the payload as ``detail``) on ``event_bus`` (name or ARN) and
    returns ``{"ok": true, "eventId": ...}``. ``client`` is the boto3 ``lambda`` or ``events``
    client to use (default: a new one from the default session).

    Raises :class:`NotifyRefusedError` when the function refuses the payload, :class:`NotifyError`
    when the function failed or EventBridge refused the event, ``ValueError`` for bad arguments.
    """
    detail = notify_detail(email, connection_type, message)
    if via == "invoke":
        if not function_name:
            raise ValueError('via="invoke" needs function_name (the stack\'s FunctionName output)')
        return _invoke(client, function_name, {"action": NOTIFY_ACTION, **detail})
    if via == "eventbridge":
        if not event_bus:
            raise ValueError('via="eventbridge" needs event_bus (the name or ARN of a bus with a rule for the function)')
        return _put_event(client, event_bus, source, detail_type, detail)
    raise ValueError(f"via must be one of {', '.join(VIAS)} (got {via!r})")


def _invoke(client: Any, function_name: str, payload: dict[str, Any]) -> dict[str, Any]:
    if client is None:
        import boto3

        client = boto3.client("lambda")
    response = client.invoke(
        FunctionName=function_name,
        InvocationType="RequestResponse",
        Payload=json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8"),
    )
    raw = response["Payload"].read()
    try:
        answer = json.loads(raw) if raw else None
    except ValueError:
        answer = None
    if response.get("FunctionError"):
        detail = answer.get("errorMessage") if isinstance(answer, dict) else raw[:200]
        raise NotifyError(f"the function failed ({response['FunctionError']}): {detail}")
    if not isinstance(answer, dict):
        raise NotifyError(f"the function answered something other than a JSON object: {raw[:200]!r}")
    if answer.get("ok") is not True:
        raise NotifyRefusedError(str(answer.get("error")), str(answer.get("message")))
    return answer


def _put_event(client: Any, event_bus: str, source: str, detail_type: str, detail: dict[str, Any]) -> dict[str, Any]:
    if client is None:
        import boto3

        client = boto3.client("events")
    response = client.put_events(Entries=[{
        "EventBusName": event_bus,
        "Source": source,
        "DetailType": detail_type,
        "Detail": json.dumps(detail, separators=(",", ":"), ensure_ascii=False),
    }])
    entries = response.get("Entries") or [{}]
    if response.get("FailedEntryCount") or entries[0].get("ErrorCode"):
        raise NotifyError(f"EventBridge refused the event: {entries[0].get('ErrorCode')}: {entries[0].get('ErrorMessage')}")
    return {"ok": True, "eventId": entries[0].get("EventId")}
