"""The live console of ``wsctl local``: the local picture of what the CloudWatch dashboard shows.

``GET /console`` serves ``static/console.html``, which polls ``GET /console/api/connections``
(every open connection with its email and type, age, last activity and last messages in and out)
and offers two buttons per connection group: *Notify* (``POST /console/api/notify``, the same
``Service.notify`` the function runs for a direct invoke, posting through this gateway's
management API) and *Disconnect* (``POST /console/api/connections/{id}/disconnect``, the same
server-side close as ``DELETE @connections/{id}``; ``$disconnect`` follows).

The POST routes accept only ``Content-Type: application/json``, and the gateway refuses every
console API request from another site's page (``Origin`` / ``Sec-Fetch-Site``) or for another Host
(DNS rebinding) before it gets here (:mod:`local_gateway.guard`); the page cannot be framed.
"""
from __future__ import annotations

import asyncio
import json
import re
import time
from importlib import resources
from typing import Any, Iterable, Protocol

from websockets.frames import CloseCode
from websockets.http11 import Response

from websocket_service.messenger import PayloadTooLargeError
from websocket_service.validation import ValidationError

from . import responses
from .http import HttpRequest, HttpRoutes
from .management import DELETE_REASON
from .session import Session

CONSOLE_PATH = "/console"


def _json_body(request: HttpRequest) -> dict[str, Any] | Response:
    """The request's JSON object, or the 4xx answer that says what is wrong with it."""
    content_types = request.headers.get_all("Content-Type")
    if len(content_types) != 1 or content_types[0].split(";")[0].strip().lower() != "application/json":
        return responses.json_response(415, {"message": "send Content-Type: application/json"})
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, RecursionError):
        return responses.json_response(400, {"message": "the body is not JSON (or nests too deeply)"})
    if not isinstance(body, dict):
        return responses.json_response(400, {"message": "the body must be a JSON object"})
    return body


class ConsoleGateway(Protocol):
    """What the console reads from and does to the gateway that serves it (``LocalGateway``
    provides it; the console imports nothing from the server, so the dependency runs one way)."""

    stage: str

    @property
    def sessions(self) -> Iterable[Session]: ...

    @property
    def url(self) -> str: ...

    @property
    def management_endpoint(self) -> str: ...

    @property
    def idle_timeout_s(self) -> float: ...

    def close_connection(self, connection_id: str, code: int, reason: str) -> bool: ...


class Console:
    """The console's page and JSON API, served on the gateway's port."""

    path = CONSOLE_PATH

    def __init__(self, gateway: ConsoleGateway) -> None:
        self._gateway = gateway
        self._page = ""

    def load(self) -> None:
        """Read the page from the package (at gateway start)."""
        self._page = resources.files("local_gateway").joinpath("static/console.html").read_text("utf-8")

    def register(self, routes: HttpRoutes) -> None:
        """Add the console's routes to ``routes``."""
        routes.add(CONSOLE_PATH + "/?", self._page_route, page=True)
        routes.add(CONSOLE_PATH + "/api/connections", self._connections)
        routes.add(CONSOLE_PATH + "/api/notify", self._notify)
        routes.add(CONSOLE_PATH + r"/api/connections/(?P<connection_id>[^/]+)/disconnect", self._disconnect)

    def snapshot(self) -> dict[str, Any]:
        """Open connections and their recent messages (what the page shows)."""
        loop_now = asyncio.get_running_loop().time()
        now_ms = time.time_ns() // 1_000_000
        connections = [
            {
                "connectionId": s.info.connection_id,
                "email": s.email,
                "type": s.connection_type,
                "connectedAt": s.info.connected_at_ms,
                "ageSeconds": round((now_ms - s.info.connected_at_ms) / 1000, 1),
                "lastActiveAt": s.last_active_ms,
                "idleSeconds": round(loop_now - s.last_active, 1),
                "sourceIp": s.info.source_ip,
                "userAgent": s.info.user_agent or "",
                "messages": [
                    {"at": m.at_ms, "direction": m.direction, "size": m.size, "preview": m.preview} for m in s.recent
                ],
            }
            for s in sorted(self._gateway.sessions, key=lambda s: (s.email, s.connection_type, s.info.connected_at_ms))
        ]
        return {
            "stage": self._gateway.stage,
            "url": self._gateway.url,
            "managementEndpoint": self._gateway.management_endpoint,
            "idleTimeoutSeconds": self._gateway.idle_timeout_s,
            "connections": connections,
        }

    async def _page_route(self, request: HttpRequest, match: re.Match[str]) -> Response:
        return responses.html_response(self._page)

    async def _connections(self, request: HttpRequest, match: re.Match[str]) -> Response:
        if request.method != "GET":
            return responses.json_response(405, {"message": "use GET"}, extra_headers={"Allow": "GET"})
        return responses.json_response(200, self.snapshot(), extra_headers={"Cache-Control": "no-store"})

    async def _disconnect(self, request: HttpRequest, match: re.Match[str]) -> Response:
        if request.method != "POST":
            return responses.json_response(405, {"message": "use POST"}, extra_headers={"Allow": "POST"})
        body = _json_body(request)
        if isinstance(body, Response):
            return body
        connection_id = match["connection_id"]
        if not self._gateway.close_connection(connection_id, CloseCode.NORMAL_CLOSURE, DELETE_REASON):
            return responses.json_response(404, {"message": f"connection {connection_id} is not open"})
        return responses.json_response(200, {"disconnected": connection_id})

    async def _notify(self, request: HttpRequest, match: re.Match[str]) -> Response:
        if request.method != "POST":
            return responses.json_response(405, {"message": "use POST"}, extra_headers={"Allow": "POST"})
        body = _json_body(request)
        if isinstance(body, Response):
            return body
        email, connection_type = body.get("email"), body.get("type")
        if not isinstance(email, str) or not isinstance(connection_type, str):
            return responses.json_response(400, {"message": "send {\"email\": ..., \"type\": ..., \"message\": ...}"})
        from websocket_service.service import default_notify_message, get_service

        def notify() -> dict[str, int]:
            message = body["message"] if body.get("message") is not None else default_notify_message(email, connection_type)
            return get_service().notify(email, connection_type, message).to_dict()

        try:
            report = await asyncio.to_thread(notify)
        except ValidationError as exc:
            return responses.json_response(400, {"message": str(exc)})
        except PayloadTooLargeError as exc:
            return responses.json_response(413, {"message": str(exc)})
        return responses.json_response(200, report)
