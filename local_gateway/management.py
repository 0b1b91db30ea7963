"""The ``@connections`` management API of the local gateway, answered the way API Gateway answers.

``POST|GET|DELETE /{stage}/@connections/{connection_id}`` (the API Gateway Management API):

* ``POST`` sends the body to the client (a text frame when it is UTF-8, else binary); 200.
* ``GET`` describes the connection (``connectedAt``, ``identity``, ``lastActiveAt``); 200.
* ``DELETE`` closes it (the client sees close code 1000; ``$disconnect`` follows); 204.

Errors carry the ``x-amzn-ErrorType`` header and JSON body API Gateway sends, so botocore and the
JS SDK v3 raise the same modelled exceptions: 410 ``GoneException`` for a connection that is not
open, 400 ``BadRequestException`` ``Invalid connectionId: ...`` for an id that cannot be one of
API Gateway's, 413 ``PayloadTooLargeException`` over 131,072 bytes, and 403 ``ForbiddenException``
``{"message":"Forbidden"}`` for a path without the stage (or with another stage) and for a method
the deployed function's role is not granted (``MANAGEMENT_API_METHODS``; by default POST and GET,
as in the stack). IAM signatures are not verified: any credentials are accepted.
"""
from __future__ import annotations

import asyncio
import re
from datetime import datetime, timezone
from typing import Callable, Iterable, Mapping

from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.protocol import State
from websockets.http11 import Response

from websocket_service.config import DEFAULT_MANAGEMENT_API_METHODS, parse_management_api_methods

from . import responses
from .logs import get_logger
from .http import HttpRequest, HttpRoutes
from .session import Session

logger = get_logger("local_gateway")

MANAGEMENT_SEGMENT = "@connections"
MAX_POST_BYTES = 131_072
"""API Gateway's limit on a ``@connections`` POST body (PayloadTooLargeException above it)."""
CONNECTION_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{15}=")
"""API Gateway's connection ids: 11 random bytes, base64url (``-`` and ``_``), 16 characters."""
DELETE_REASON = "Connection deleted through the management API"


def _iso8601(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def forbidden() -> Response:
    """API Gateway's answer to a request no route or policy allows: 403 ``{"message":"Forbidden"}``."""
    return responses.aws_error(403, "ForbiddenException", "Forbidden")


class ManagementApi:
    """``@connections`` on the gateway's port.

    Args:
        stage: the only stage served.
        sessions: the open connections by id (read only; the gateway owns it).
        close: closes a session from the server side with a code and ``disconnectReason``.
        methods: the methods served; others get 403 (default ``DEFAULT_MANAGEMENT_API_METHODS``).
        latency_s: delay before each answer, emulating the round trip to AWS (default 0).
    """

    def __init__(
        self,
        *,
        stage: str,
        sessions: Mapping[str, Session],
        close: Callable[[Session, int, str], None],
        methods: Iterable[str] = DEFAULT_MANAGEMENT_API_METHODS,
        latency_s: float = 0.0,
    ) -> None:
        self.stage = stage
        self.methods = parse_management_api_methods(methods)
        self.latency_s = latency_s
        self._sessions = sessions
        self._close = close

    def register(self, routes: HttpRoutes) -> None:
        """Add the management routes (with and without a stage segment) to ``routes``."""
        routes.add(rf"/(?P<stage>[^/]*)/{MANAGEMENT_SEGMENT}/(?P<connection_id>[^/]*)", self.handle,
                   now=self.post_now)
        routes.add(rf"(?:/[^/]*)?/{MANAGEMENT_SEGMENT}(?:/.*)?", self._no_route)

    async def _no_route(self, request: HttpRequest, match: re.Match[str]) -> Response:
        logger.warning("%s %s -> 403: the management endpoint is https://{api}.execute-api.{region}"
                       ".amazonaws.com/%s (with the stage)", request.method, request.path, self.stage)
        return forbidden()

    async def handle(self, request: HttpRequest, match: re.Match[str]) -> Response:
        """Answer one ``@connections/{id}`` request."""
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        session = self._session(request, match)
        if isinstance(session, Response):
            return session
        if request.method == "GET":
            return responses.json_response(
                200,
                {  # wire names of the GetConnection output (boto3 shows ConnectedAt, Identity, ...)
                    "connectedAt": _iso8601(session.info.connected_at_ms),
                    "identity": {"sourceIp": session.info.source_ip, "userAgent": session.info.user_agent or ""},
                    "lastActiveAt": _iso8601(session.last_active_ms),
                },
            )
        if request.method == "DELETE":
            self._close(session, CloseCode.NORMAL_CLOSURE, DELETE_REASON)
            return responses.http_response(204)
        return await self._post(session, request.body)

    def post_now(self, request: HttpRequest, match: re.Match[str]) -> Response | None:
        """:meth:`handle` without awaiting (the route's synchronous handler): a POST's frame is
        written at once, and refusals are answered at once. None (the async :meth:`handle` answers)
        for other methods, with an emulated latency, and when the frame cannot be written at once:
        the connection is not open (``send`` then raises and the answer is 410), another send
        is between the fragments of a message, or the client's write buffer is full."""
        if self.latency_s or request.method != "POST":
            return None
        session = self._session(request, match)
        if isinstance(session, Response):
            return session
        connection = session.connection
        if (connection.protocol.state is not State.OPEN or connection.send_in_progress is not None
                or connection.paused):
            return None
        # What ``await connection.send(data)`` does for one open, unfragmented message, when its
        # write buffer is below the high-water mark (``paused`` false). A client that does not read
        # fills it and pauses writing: then the async path waits for the drain (backpressure), as
        # it always did, so a stalled client cannot make the gateway buffer without bound.
        data = _message(request.body)
        if isinstance(data, str):
            connection.protocol.send_text(request.body)
        else:
            connection.protocol.send_binary(request.body)
        connection.send_data()
        return self._posted(session, data)

    def _session(self, request: HttpRequest, match: re.Match[str]) -> Session | Response:
        """The open session a request is for, or the answer refusing it."""
        method, connection_id = request.method, match["connection_id"]
        if match["stage"] != self.stage:
            logger.warning("%s %s -> 403: stage %r is not this gateway's stage %r",
                           method, request.path, match["stage"], self.stage)
            return forbidden()
        if method not in self.methods:
            logger.warning("%s @connections -> 403: the function's role is granted %s only "
                           "(MANAGEMENT_API_METHODS / wsctl local --management-methods)", method, ",".join(self.methods))
            return forbidden()
        if not CONNECTION_ID_PATTERN.fullmatch(connection_id):
            logger.info("%s @connections/%s -> 400 (not a connection id)", method, connection_id)
            return responses.aws_error(400, "BadRequestException", f"Invalid connectionId: {connection_id}")
        if method == "POST" and request.body_length > MAX_POST_BYTES:
            return responses.aws_error(413, "PayloadTooLargeException", "Message too long")
        session = self._sessions.get(connection_id)
        if session is None:
            logger.info("%s @connections/%s -> 410", method, connection_id)
            return responses.gone()
        return session

    async def _post(self, session: Session, body: bytes) -> Response:
        data = _message(body)
        try:
            await session.connection.send(data)
        except ConnectionClosed:
            return responses.gone()
        return self._posted(session, data)

    @staticmethod
    def _posted(session: Session, data: str | bytes) -> Response:
        """Note a message posted to ``session``; the answer to its POST."""
        session.touch(asyncio.get_running_loop().time())
        session.record("out", data)
        return responses.http_response(200)


def _message(body: bytes) -> str | bytes:
    """A POST body as the client receives it: text when it is UTF-8, else binary."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body
