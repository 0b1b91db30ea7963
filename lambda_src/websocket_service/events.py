"""Typed, defensive accessors over the raw event dicts Lambda hands to the handler.

:func:`classify` says what an event is without raising; :class:`WebSocketEvent` reads API Gateway
WebSocket fields and raises :class:`MalformedEventError` (naming the field) when a field the route
needs is missing or has the wrong type. Nothing here touches the network or the store.
"""
from __future__ import annotations

import enum
from typing import Any, Mapping

from .errors import ClientError
from .validation import (
    MAX_CLOSE_CODE,
    MAX_DOMAIN_CHARS,
    MAX_REASON_CHARS,
    MAX_SOURCE_IP_CHARS,
    MAX_STAGE_CHARS,
    MAX_USER_AGENT_CHARS,
    clean_recorded_text,
    validate_connection_id,
)


class MalformedEventError(ClientError, ValueError):
    """The event has the right shape overall but a field is missing or of the wrong type (400)."""

    code = "malformed_event"


class EventKind(enum.Enum):
    """What the handler was invoked with."""

    CONNECT = "connect"
    DISCONNECT = "disconnect"
    MESSAGE = "message"
    DIRECT_ACTION = "direct_action"
    SCHEDULED = "scheduled"
    NOTIFY = "notify"
    CFN_CUSTOM_RESOURCE = "cfn_custom_resource"
    MALFORMED = "malformed"
    UNKNOWN = "unknown"

    __hash__ = object.__hash__  # members are singletons compared by identity: hash them in C, not Enum's Python __hash__


_WEBSOCKET_EVENT_TYPES = {
    "CONNECT": EventKind.CONNECT,
    "DISCONNECT": EventKind.DISCONNECT,
    "MESSAGE": EventKind.MESSAGE,
}
SCHEDULED_DETAIL_TYPE = "Scheduled Event"
NOTIFY_DETAIL_FIELDS = ("email", "type", "message")


def classify(event: Any) -> EventKind:
    """Classify an invocation payload; never raises.

    * API Gateway WebSocket: ``requestContext.eventType`` CONNECT / DISCONNECT / MESSAGE.
    * CloudFormation custom resource: ``RequestType`` and ``ResponseURL``.
    * EventBridge: ``detail-type`` "Scheduled Event" -> SCHEDULED; ``detail`` carrying
      email/type/message -> NOTIFY.
    * Direct invoke: a top-level ``action``.
    * A ``requestContext`` with a connection id but no usable ``eventType``, or a payload that is
      not a JSON object -> MALFORMED. Anything else -> UNKNOWN.
    """
    if not isinstance(event, dict):
        return EventKind.MALFORMED
    if "requestContext" in event:
        context = event["requestContext"]
        if not isinstance(context, dict):
            return EventKind.MALFORMED
        event_type = context.get("eventType")
        kind = _WEBSOCKET_EVENT_TYPES.get(event_type) if isinstance(event_type, str) else None
        if kind is not None:
            return kind
        return EventKind.MALFORMED if "connectionId" in context else EventKind.UNKNOWN
    if "RequestType" in event and "ResponseURL" in event:
        return EventKind.CFN_CUSTOM_RESOURCE
    if "detail-type" in event:
        if event.get("detail-type") == SCHEDULED_DETAIL_TYPE:
            return EventKind.SCHEDULED
        detail = event.get("detail")
        if isinstance(detail, dict) and all(k in detail for k in NOTIFY_DETAIL_FIELDS):
            return EventKind.NOTIFY
        return EventKind.UNKNOWN
    if "action" in event:
        return EventKind.DIRECT_ACTION
    return EventKind.UNKNOWN


def describe(event: Any) -> str:
    """A short, value-free description of an event's shape for error messages."""
    if not isinstance(event, dict):
        return f"a {type(event).__name__}, not a JSON object"
    keys = sorted(str(k) for k in event)[:8]
    return f"an object with keys {keys}" if keys else "an empty object"


_STR_ONLY = frozenset({str})


def _is_mapping(value: Any) -> bool:
    return type(value) is dict or isinstance(value, Mapping)  # a plain dict skips the ABC check


def _optional_str_map(value: Any, name: str) -> dict[str, str] | None:
    if value is None:
        return None
    if type(value) is dict and _STR_ONLY.issuperset(map(type, value)) and _STR_ONLY.issuperset(map(type, value.values())):
        return value  # the common case: plain str keys and values, checked without a per-item call
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise MalformedEventError(f"{name} must be an object of strings")
    return value


class WebSocketEvent:
    """Read-only view of an API Gateway WebSocket event (``$connect``, ``$disconnect``, messages).

    Required fields raise :class:`MalformedEventError` when absent or mistyped; optional ones
    return None. Construction checks only that ``requestContext`` is an object.
    """

    def __init__(self, raw: Mapping[str, Any]) -> None:
        context = raw.get("requestContext") if type(raw) is dict or _is_mapping(raw) else None
        if not (type(context) is dict or _is_mapping(context)):  # a plain dict without the call
            raise MalformedEventError("requestContext must be an object")
        self.raw = raw
        self._context: Mapping[str, Any] = context
        self._headers: dict[str, str] | None = None  # checked once, on first use
        self._query: dict[str, str] | None = None
        self._query_read = False

    # --- requestContext ------------------------------------------------------------------------
    def _optional_str(self, key: str) -> str | None:
        value = self._context.get(key)
        return value if isinstance(value, str) and value else None

    def _recorded_str(self, key: str, max_chars: int) -> str | None:
        value = self._context.get(key)  # clean_recorded_text turns "" into None, as _optional_str does
        return clean_recorded_text(value if isinstance(value, str) else None, max_chars)

    @property
    def connection_id(self) -> str:
        """``requestContext.connectionId``: required (:class:`MalformedEventError` when absent or
        not a string) and checked by :func:`~websocket_service.validation.validate_connection_id`."""
        value = self._context.get("connectionId")
        if not isinstance(value, str) or not value:
            raise MalformedEventError("requestContext.connectionId must be a non-empty string")
        return validate_connection_id(value)

    @property
    def route_key(self) -> str | None:
        """``requestContext.routeKey`` such as ``$connect`` or ``$default``."""
        value = self._context.get("routeKey")  # every invocation: _optional_str without its call
        return value if isinstance(value, str) and value else None

    @property
    def request_id(self) -> str | None:
        """``requestContext.requestId`` (API Gateway's id for this request)."""
        return self._optional_str("requestId")

    @property
    def stage(self) -> str | None:
        """``requestContext.stage`` (cleaned for recording, see :func:`clean_recorded_text`)."""
        return self._recorded_str("stage", MAX_STAGE_CHARS)

    @property
    def domain_name(self) -> str | None:
        """``requestContext.domainName`` (cleaned for recording)."""
        return self._recorded_str("domainName", MAX_DOMAIN_CHARS)

    @property
    def message_id(self) -> str | None:
        """``requestContext.messageId`` (messages only)."""
        return self._optional_str("messageId")

    @property
    def source_ip(self) -> str | None:
        """``requestContext.identity.sourceIp`` (cleaned for recording)."""
        identity = self._context.get("identity")
        value = identity.get("sourceIp") if type(identity) is dict or _is_mapping(identity) else None
        return clean_recorded_text(value if isinstance(value, str) else None, MAX_SOURCE_IP_CHARS)

    @property
    def disconnect_status_code(self) -> int | None:
        """``requestContext.disconnectStatusCode`` (e.g. 1001), None when absent, not a number or
        outside 0..65535 (a close code is two bytes; the column is a 32-bit integer)."""
        value = self._context.get("disconnectStatusCode")
        if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
            value = int(value.strip()) if len(value.strip()) <= 5 else None
        if isinstance(value, bool) or not isinstance(value, int):
            return None
        return value if 0 <= value <= MAX_CLOSE_CODE else None

    @property
    def disconnect_reason(self) -> str | None:
        """``requestContext.disconnectReason`` (cleaned for recording)."""
        return self._recorded_str("disconnectReason", MAX_REASON_CHARS)

    # --- headers and query string ---------------------------------------------------------------
    @property
    def headers(self) -> dict[str, str]:
        """Headers as sent (empty when absent); use :meth:`header` for case-insensitive lookup."""
        if self._headers is None:
            self._headers = _optional_str_map(self.raw.get("headers"), "headers") or {}
        return self._headers

    def header(self, name: str) -> str | None:
        """One header value, matched case-insensitively, or None."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return None

    @property
    def user_agent(self) -> str | None:
        """The ``User-Agent`` header, else ``requestContext.identity.userAgent``; cleaned and
        truncated to :data:`MAX_USER_AGENT_CHARS` (it is only recorded, never trusted)."""
        value = self.header("User-Agent")
        if not value:
            identity = self._context.get("identity")
            agent = identity.get("userAgent") if _is_mapping(identity) else None
            value = agent if isinstance(agent, str) else None
        return clean_recorded_text(value, MAX_USER_AGENT_CHARS)

    @property
    def query_string_parameters(self) -> dict[str, str] | None:
        """``queryStringParameters``: None when the URL had no query string (AWS omits the key)."""
        if not self._query_read:
            self._query = _optional_str_map(self.raw.get("queryStringParameters"), "queryStringParameters")
            self._query_read = True
        return self._query

    def query(self, name: str) -> str | None:
        """One query parameter: None when absent, ``""`` when given empty (``?email=``)."""
        params = self.query_string_parameters
        return None if params is None else params.get(name)

    def query_values(self, name: str) -> list[str]:
        """Every value of a query parameter (``?a=1&a=2`` -> ``["1", "2"]``)."""
        params = self._query if self._query_read else self.query_string_parameters  # checked once
        multi = self.raw.get("multiValueQueryStringParameters")
        if multi is not None and (type(multi) is dict or _is_mapping(multi)):
            values = multi.get(name)
            if isinstance(values, list):
                if _STR_ONLY.issuperset(map(type, values)):  # the common case, without a per-item call
                    return list(values)
                return [v for v in values if isinstance(v, str)]
        single = None if params is None else params.get(name)
        return [] if single is None else [single]

    # --- body -----------------------------------------------------------------------------------
    @property
    def body(self) -> str | None:
        """Top-level ``body`` (messages), None when absent."""
        value = self.raw.get("body")
        if value is not None and not isinstance(value, str):
            raise MalformedEventError("body must be a string")
        return value

    @property
    def is_base64_encoded(self) -> bool:
        """True when ``body`` is base64 (binary frames)."""
        return self.raw.get("isBase64Encoded") is True
