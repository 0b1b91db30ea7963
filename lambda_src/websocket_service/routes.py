"""The three API Gateway WebSocket routes: ``$connect``, ``$disconnect`` and messages.

Each route takes the :class:`~websocket_service.service.Service` and a
:class:`~websocket_service.events.WebSocketEvent` and returns a :class:`RouteResult`; the handler
turns it into the Lambda response and one log line. Nothing here posts to a connection from its
own ``$connect`` (the socket is not open yet; API Gateway would answer 410).

Messages are JSON objects ``{"action": name, ...}`` dispatched through :data:`actions`; teams add
their own actions with ``@actions.register("name")``. The returned body is the route response the
client receives (the ``$default`` route is two-way).
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from . import budget
from .errors import ClientError
from .events import WebSocketEvent
from .service import Service
from .store.base import NewConnection
from .tokens import TokenMalformedError, verify_token
from .validation import ValidationError, normalize_email, validate_connection_type


@dataclass(frozen=True, slots=True)
class RouteResult:
    """A route's answer: HTTP-style status, optional JSON body, and what to log."""

    status_code: int
    body: Mapping[str, Any] | None = None
    outcome: str = "ok"
    log_fields: Mapping[str, Any] = field(default_factory=dict)

    def to_response(self) -> dict[str, Any]:
        """The Lambda proxy response: ``{"statusCode": n}`` plus a compact JSON ``body`` if any."""
        response: dict[str, Any] = {"statusCode": self.status_code}
        if self.body is not None:
            response["body"] = json.dumps(self.body, separators=(",", ":"), ensure_ascii=False)
        return response


def _connect_rejected(status: int, code: str, message: str, **log_fields: Any) -> RouteResult:
    return RouteResult(status, {"error": code, "message": message}, outcome=code, log_fields=log_fields)


def _message_error(error: ClientError, **log_fields: Any) -> RouteResult:
    body = {"type": "error", "error": error.code, "message": error.message}
    return RouteResult(error.status, body, outcome=error.code, log_fields=log_fields)


# --- actions ------------------------------------------------------------------------------------
MAX_ECHOED_ACTION_CHARS = 64
"""An unknown action name is echoed back to the sender at most this long (and ``repr``-escaped)."""


class ActionError(ClientError):
    """Raised by an action to answer the sender with an error body (status 400 by default)."""

    def __init__(self, code: str, message: str, *, status_code: int = 400) -> None:
        super().__init__(message, code=code, status=status_code)


@dataclass(frozen=True, slots=True)
class ActionRequest:
    """What an action handler receives: the service, the event, the sender and the parsed body."""

    service: Service
    event: WebSocketEvent
    connection_id: str
    payload: Mapping[str, Any]


ActionHandler = Callable[[ActionRequest], "Mapping[str, Any] | None"]


class ActionRegistry:
    """Maps message ``action`` names to handlers; a handler returns the reply object or None."""

    def __init__(self) -> None:
        self._handlers: dict[str, ActionHandler] = {}

    def register(self, name: str) -> Callable[[ActionHandler], ActionHandler]:
        """Decorator registering ``fn`` for action ``name``; a name can be registered once."""
        if not name or not isinstance(name, str):
            raise ValueError("action name must be a non-empty string")

        def decorator(fn: ActionHandler) -> ActionHandler:
            if name in self._handlers:
                raise ValueError(f"action {name!r} is already registered")
            self._handlers[name] = fn
            return fn

        return decorator

    def unregister(self, name: str) -> None:
        """Remove an action (no error if it is not registered)."""
        self._handlers.pop(name, None)

    def get(self, name: str) -> ActionHandler | None:
        """The handler for ``name``, or None."""
        return self._handlers.get(name)

    def names(self) -> list[str]:
        """Registered action names, sorted."""
        return sorted(self._handlers)


actions = ActionRegistry()
"""The registry ``$default`` messages are dispatched through."""


@actions.register("ping")
def ping(request: ActionRequest) -> Mapping[str, Any]:
    """``{"action": "ping"}`` -> ``{"type": "pong"}`` (keep-alive; also refreshes last activity)."""
    return {"type": "pong"}


@actions.register("whoami")
def whoami(request: ActionRequest) -> Mapping[str, Any]:
    """``{"action": "whoami"}`` -> ``{"type": "whoami", "connectionId": id}``: the sender's own id.

    A client learns nothing but its own connection id; ``wsctl smoke`` uses it to ask the function
    (direct invoke ``connection_status``) whether its row went inactive after the close.
    """
    return {"type": "whoami", "connectionId": request.connection_id}


REPLAY_DISABLED = "replay_disabled"
"""Error code of a ``replay`` the service does not offer (window 0, or tokens off; see the protocol)."""


@actions.register("replay")
def replay(request: ActionRequest) -> Mapping[str, Any]:
    """``{"action": "replay", "after": "<messageId>"}`` (``after`` optional): post to the sender the
    messages kept for ITS email and type newer than ``after`` (all in the window without one; an
    unknown, expired or foreign ``after`` counts as none), oldest first, each exactly as notify
    pushed it, through the Management API within the invocation's budget; then answer
    ``{"type": "replay-complete", "count": n, "lastMessageId": id | null, "complete": bool}``.

    Off (``{"ok": false, "error": "replay_disabled", ...}``) when the replay window is 0, or when
    connect tokens are off and ``REPLAY_WITHOUT_TOKENS`` is not set: without a token anyone may open
    a connection for any email, so replay would hand out other people's messages. The connection's
    email and type are the ones its ``$connect`` recorded (token-verified whenever tokens are on).
    """
    service = request.service
    reason = service.replay_disabled_reason()
    if reason is not None:
        return {"type": "error", "ok": False, "error": REPLAY_DISABLED, "message": reason}
    after = request.payload.get("after")
    if after is not None and not isinstance(after, str):
        raise ActionError("invalid_after", '"after" must be a messageId string, or left out to replay the whole window')
    connection = service.store.get(request.connection_id)
    if connection is None:
        raise ActionError("unknown_connection", "this connection is not recorded; reconnect, then replay",
                          status_code=404)
    report = service.replay(request.connection_id, connection.user_email, connection.connection_type, after,
                            deadline=budget.deadline())
    return {"type": "replay-complete", "count": report.count, "lastMessageId": report.last_message_id,
            "complete": report.complete}


# --- routes -------------------------------------------------------------------------------------
def _single_query_value(event: WebSocketEvent, name: str) -> str | None:
    values = event.query_values(name)
    if len(values) > 1:
        raise ValidationError(f"invalid_{name}", f"query parameter '{name}' is given more than once")
    return values[0] if values else None


def _token_query_value(event: WebSocketEvent) -> str | None:
    """The ``token`` query parameter; given more than once it is malformed (401), not a crash."""
    try:
        return _single_query_value(event, "token")
    except ValidationError as error:
        raise TokenMalformedError(error.message) from None


def handle_connect(service: Service, event: WebSocketEvent) -> RouteResult:
    """``$connect``: validate email/type (400), token (401/403), cap (429, after checking that the
    counted connections are really open); record; 200."""
    connection_id = event.connection_id
    settings = service.settings
    try:
        email = normalize_email(_single_query_value(event, "email"))
        connection_type = validate_connection_type(
            _single_query_value(event, "type"), settings.allowed_connection_types
        )
    except ClientError as error:
        return _connect_rejected(error.status, error.code, error.message)
    if service.token_secret:
        try:
            verify_token(service.token_secret, _token_query_value(event), email, connection_type)
        except ClientError as error:
            return _connect_rejected(error.status, error.code, error.message, email=email, type=connection_type)
    accepted = service.add_connection(
        NewConnection(
            connection_id=connection_id,
            user_email=email,
            connection_type=connection_type,
            connected_at=service.clock(),
            source_ip=event.source_ip,
            user_agent=event.user_agent,
            domain_name=event.domain_name,
            stage=event.stage,
        ),
    )
    if not accepted:
        return _connect_rejected(
            429,
            "too_many_connections",
            f"this email already has {settings.max_connections_per_email} open connections; close one",
            email=email,
            type=connection_type,
        )
    return RouteResult(200, outcome="connected", log_fields={"email": email, "type": connection_type})


def handle_disconnect(service: Service, event: WebSocketEvent) -> RouteResult:
    """``$disconnect``: mark the connection inactive (idempotent; unknown ids are fine); 200. If the
    store fails, the disconnect stays queued in the container and is applied later."""
    status_code = event.disconnect_status_code
    changed = service.disconnect(event.connection_id, status_code=status_code, reason=event.disconnect_reason)
    return RouteResult(
        200,
        outcome="disconnected" if changed else "already_inactive",
        log_fields={"disconnect_status_code": status_code},
    )


def _decode_body(event: WebSocketEvent) -> str:
    body = event.body or ""
    if not event.is_base64_encoded:
        return body
    try:
        return base64.b64decode(body, validate=True).decode("utf-8")
    except ValueError:  # binascii.Error, UnicodeDecodeError, and non-ASCII text flagged as base64
        raise ActionError("invalid_body", "binary message is not base64-encoded UTF-8 text") from None


def _parse_payload(event: WebSocketEvent) -> Mapping[str, Any]:
    text = _decode_body(event)
    if not text.strip():
        raise ActionError("invalid_json", 'message body is empty; send a JSON object like {"action":"ping"}')
    try:
        payload = json.loads(text)
    except ValueError:
        raise ActionError("invalid_json", 'message body is not JSON; send an object like {"action":"ping"}') from None
    except RecursionError:  # ~1,000 nested arrays/objects exhaust the decoder's stack: the client's doing
        raise ActionError("invalid_json", "message body nests JSON arrays/objects too deeply; send a flat object "
                          'like {"action":"ping"}') from None
    if not isinstance(payload, dict):
        raise ActionError("invalid_body", f"message body must be a JSON object, not {type(payload).__name__}")
    return payload


def handle_message(service: Service, event: WebSocketEvent) -> RouteResult:
    """Messages (``$default`` or any custom route): touch, parse ``{"action": ...}``, dispatch.

    A message from a connection the store does not count as active proves its socket is open: a
    row marked gone by a 410 (a notify that raced the handshake) or expired idle is reactivated
    (:meth:`~websocket_service.service.Service.reactivate`), so live pushes reach it again."""
    connection_id = event.connection_id
    known = service.store.touch(connection_id, at=service.clock()) or service.reactivate(connection_id)
    try:
        payload = _parse_payload(event)
        name = payload.get("action")
        if name is None:
            raise ActionError("missing_action", f'message has no "action"; known actions: {actions.names()}')
        if not isinstance(name, str):
            raise ActionError("invalid_action", '"action" must be a string')
        action = actions.get(name)
        if action is None:
            shown = name if len(name) <= MAX_ECHOED_ACTION_CHARS else name[:MAX_ECHOED_ACTION_CHARS] + "..."
            raise ActionError("unknown_action", f"unknown action {shown!r}; known actions: {actions.names()}")
        reply = action(ActionRequest(service, event, connection_id, payload))
    except ClientError as error:
        return _message_error(error, known_connection=known)
    return RouteResult(200, reply, outcome=f"action:{name}", log_fields={"known_connection": known})
