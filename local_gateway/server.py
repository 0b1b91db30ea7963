"""The local gateway: API Gateway's WebSocket API and its ``@connections`` API on one port.

One ``websockets`` asyncio server listens; each TCP connection is a
:class:`~local_gateway.connection.GatewayConnection`:

* ``ws://HOST:PORT/{stage}?...`` -- WebSocket clients. Once websockets has validated the upgrade
  (``process_response``, still inside the opening handshake) the ``$connect`` event is built and
  the handler called; a status of 400 or more rejects the handshake with that HTTP status, the
  headers of an accepting result (such as a selected ``Sec-WebSocket-Protocol``) go into the
  handshake response, and the connection becomes postable only when the handshake has completed.
  Every text message becomes a ``MESSAGE`` event routed by ``$request.body.action`` (configured
  route keys, else ``$default``); for two-way routes (``two_way_routes``, by default only
  ``$default``, as in our stack) a non-empty ``body`` in the handler's result is sent back (route
  response). A binary frame closes the connection with 1003, as API Gateway does. The close
  becomes ``$disconnect`` with the status code and a ``disconnectReason``.
* Plain HTTP, with keep-alive, through a dispatch table (:attr:`LocalGateway.http`): the
  management API (:mod:`local_gateway.management`), the console (:mod:`local_gateway.console`),
  ``GET /verify?email=...`` (the email-verification page) and ``GET /`` (a summary).

The handler (by default ``websocket_service.handler.handler``) is synchronous and posts back to
this gateway through boto3, so it runs in a worker thread (:mod:`local_gateway.workers`) with a
Lambda-like context; the loop never blocks. Limits (idle timeout, maximum duration, frame and
message sizes, integration timeout) are constructor arguments with AWS's values as defaults.
"""
from __future__ import annotations

import asyncio
import gc
import importlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Coroutine, Iterable
from urllib.parse import urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.http11 import Request, Response

from websocket_service.config import DEFAULT_MANAGEMENT_API_METHODS, ENV_DATABASE_URL, ENV_MANAGEMENT_ENDPOINT

from . import lambda_api, responses
from .logs import get_logger
from .connection import GatewayConnection, UnopenedConnections
from .console import Console
from .guard import Guard
from .http import HttpRequest, HttpRoutes
from .management import ManagementApi, forbidden
from .session import Session
from .workers import FixedTimeouts, HandlerThreads, MovingDeadlines, time_out
from .events import (
    DEFAULT_ROUTE,
    ConnectionInfo,
    connect_event,
    disconnect_event,
    message_event,
    new_id,
    new_uuid,
    now_ms,
    select_route,
)

logger = get_logger("local_gateway")

Handler = Callable[[dict[str, Any], Any], Any]

DEFAULT_HANDLER = "websocket_service.handler.handler"
"""The Lambda entry point (the stack's handler string)."""
DEFAULT_TWO_WAY_ROUTES = frozenset({DEFAULT_ROUTE})
"""Routes with a route response: the stack makes only ``$default`` two-way."""
DUMMY_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",  # nosec B105 # dummy credentials for boto3 against the local gateway, which ignores them
    "AWS_DEFAULT_REGION": "us-east-1",
}
"""Set for the in-process handler only when absent: boto3 signs requests even to localhost."""
PAGE_PATH = "/verify"
PAGE_SCRIPT_PATH = "/verify.js"
"""The verification page's script (``static/verify.js``), a module importing the client below."""
CLIENT_MODULE_PATH = "/clients/js/index.js"
"""The JS client (``clients/js/index.js`` of this repository), served as is for the page."""
CLIENT_MODULE_FILE = Path(__file__).resolve().parent.parent / "clients" / "js" / "index.js"
SHUTDOWN_REASON = "Going away"
"""``disconnectReason`` of the connections closed (1001) because the gateway stops."""
BINARY_FRAME_REASON = "Binary frames are not supported"
"""``disconnectReason`` after a binary frame (closed with 1003, as API Gateway does)."""
HANDSHAKE_HEADERS = frozenset({"upgrade", "connection", "sec-websocket-accept", "sec-websocket-extensions",
                               "content-length", "transfer-encoding", "date", "server"})
"""Headers of a ``$connect`` result the gateway does not copy into the handshake response."""
_STAGE_PLACEHOLDER = "__WS_STAGE__"
YOUNG_GC_THRESHOLD = 10_000
"""Net allocations between young-generation collections in a gateway process (CPython's default: 700)."""


def tune_garbage_collector() -> None:
    """Set the cyclic garbage collector up for a process that serves many connections.

    For a process whose only job is the gateway (``wsctl local``), called once it is started.
    CPython's defaults collect the young generation every 700 net allocations and the whole heap
    after every 10 middle-generation collections. A handshake keeps about a hundred objects alive
    while it runs and dozens run at once, so a full collection came every ~70,000 allocations and
    walked every object of every open connection: GC work grew with the square of the connections
    open (about a quarter of the gateway's CPU per connection with 5,000 of them). With
    :data:`YOUNG_GC_THRESHOLD` most of a handshake's objects die young and full collections are
    ~14 times rarer; the objects made while starting (modules, the handler's imports) live as long
    as the process, so they are frozen out of every collection.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_GC_THRESHOLD, *gc.get_threshold()[1:])


class GatewayError(RuntimeError):
    """The gateway cannot start or run as configured (port in use, bad handler, bad limits)."""


@dataclass(frozen=True, slots=True)
class GatewayLimits:
    """API Gateway WebSocket quotas, as the gateway enforces them (seconds and bytes)."""

    idle_timeout_s: float = 600.0
    max_duration_s: float = 7200.0
    max_frame_bytes: int = 32 * 1024
    max_message_bytes: int = 128 * 1024
    integration_timeout_s: float = 29.0
    max_in_flight_per_connection: int = 4
    """Handler invocations one WebSocket connection may have running or queued; its further
    frames wait unread (backpressure), so one client's flood cannot starve other clients."""

    def __post_init__(self) -> None:
        for name in ("idle_timeout_s", "max_duration_s", "max_frame_bytes", "max_message_bytes", "integration_timeout_s",
                     "max_in_flight_per_connection"):
            if getattr(self, name) <= 0:
                raise GatewayError(f"{name} must be positive, got {getattr(self, name)!r}")
        if self.max_frame_bytes > self.max_message_bytes:
            raise GatewayError("max_frame_bytes must not exceed max_message_bytes")


@dataclass
class LambdaContext:
    """The parts of the Lambda context object handlers use."""

    function_name: str
    memory_limit_in_mb: int
    deadline: float  # time.monotonic() value
    aws_request_id: str = field(default_factory=new_uuid)
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"

    def __post_init__(self) -> None:
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"

    @property
    def invoked_function_arn(self) -> str:
        """A well-formed (fake) ARN of the function."""
        return f"arn:aws:lambda:us-east-1:000000000000:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the integration timeout."""
        return max(0, int((self.deadline - time.monotonic()) * 1000))


@dataclass(frozen=True, slots=True)
class Invocation:
    """The outcome of one handler call: its result, or ``failure`` ("error" or "timeout")."""

    request_id: str
    result: Any = None
    failure: str | None = None

    def connect_status(self) -> int:
        """The HTTP status a ``$connect`` outcome maps to (500 on error, 504 on timeout)."""
        if self.failure == "timeout":
            return 504
        if self.failure:
            return 500
        if not isinstance(self.result, dict) or "statusCode" not in self.result:
            return 200
        status = self.result["statusCode"]
        if isinstance(status, str) and status.isdigit():
            status = int(status)
        return status if isinstance(status, int) and 100 <= status <= 599 else 502

    def handshake_headers(self) -> list[tuple[str, str]]:
        """The ``headers`` of an accepting ``$connect`` result (e.g. ``Sec-WebSocket-Protocol``)."""
        headers = self.result.get("headers") if isinstance(self.result, dict) else None
        if not isinstance(headers, dict):
            return []
        return [(str(k), str(v)) for k, v in headers.items() if isinstance(v, (str, int, float)) and str(k)]

    def route_response(self, connection_id: str, *, two_way: bool) -> str | None:
        """What API Gateway sends back to the sender of a message, if anything.

        An integration failure is reported to the sender on any route; the handler's ``body`` is
        sent back only on a ``two_way`` route (one with a route response).
        """
        if self.failure:
            message = "Endpoint request timed out" if self.failure == "timeout" else "Internal server error"
            return json.dumps({"message": message, "connectionId": connection_id, "requestId": self.request_id})
        if two_way and isinstance(self.result, dict) and isinstance(self.result.get("body"), str) and self.result["body"]:
            return self.result["body"]
        return None


def load_handler(spec: str) -> Handler:
    """Import a handler given as ``package.module.function`` (or ``package.module:function``)."""
    module_name, sep, attr = spec.rpartition(":") if ":" in spec else spec.rpartition(".")
    if not sep or not module_name or not attr:
        raise GatewayError(f"handler {spec!r} must look like 'package.module.function'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise GatewayError(f"cannot import handler module {module_name!r}: {exc}") from None
    handler = getattr(module, attr, None)
    if not callable(handler):
        raise GatewayError(f"{module_name!r} has no callable {attr!r}")
    return handler


def _describe_close(code: int, reason: str, *, by_client: bool) -> str:
    """API Gateway's ``disconnectReason`` for a close frame (1005: no status code in the frame)."""
    if by_client and code == CloseCode.NO_STATUS_RCVD:
        return "Client-side close frame status not set"
    try:
        name = CloseCode(code).name
    except ValueError:
        name = "APPLICATION"
    side = "Client-side" if by_client else "Server-side"
    text = f"{side} close frame status code '{code}' ({name})"
    return f"{text} - custom reason: {reason}" if reason else text


class LocalGateway:
    """A local API Gateway WebSocket API in front of a Lambda handler.

    Args:
        host, port: where to listen; port 0 picks a free port (read :attr:`port` after start).
        stage: the stage path segment (``prod``).
        api_id: ``requestContext.apiId``.
        handler: the Lambda handler; default ``websocket_service.handler.handler``.
        route_keys: extra route keys selected by ``$request.body.action``.
        two_way_routes: route keys whose handler ``body`` is sent back to the sender (a route
            response); default ``{"$default"}``. Each must be ``$default`` or one of ``route_keys``.
        limits: quotas; see :class:`GatewayLimits`.
        database_url: exported as ``DATABASE_URL`` for the in-process handler when given.
        function_name, memory_mb: what the Lambda context reports; ``function_name`` is also the
            function Lambda's Invoke API on this port answers for (:mod:`local_gateway.lambda_api`).
        management_latency_s: extra delay before each ``@connections`` answer, to emulate the
            network round trip to API Gateway (benchmarks and demos); default 0.
        management_methods: the ``@connections`` methods served, as the deployed function's role
            is granted them (``MANAGEMENT_API_METHODS``); default POST and GET.
        allowed_origins: origins (``http://localhost:3000``) whose pages may open WebSocket
            connections besides the gateway's own; default none. Handshakes without ``Origin``
            (non-browser clients) are always accepted; see :mod:`local_gateway.guard`.

    Attributes:
        http: the plain-HTTP dispatch table; add routes before :meth:`start`.
        management: the ``@connections`` API; console: the live console.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 8080,
        stage: str = "prod",
        api_id: str = "local",
        handler: Handler | None = None,
        route_keys: Iterable[str] = (),
        two_way_routes: Iterable[str] = DEFAULT_TWO_WAY_ROUTES,
        limits: GatewayLimits = GatewayLimits(),
        database_url: str | None = None,
        function_name: str = "websocket-service-local",
        memory_mb: int = 256,
        management_latency_s: float = 0.0,
        management_methods: Iterable[str] = DEFAULT_MANAGEMENT_API_METHODS,
        allowed_origins: Iterable[str] = (),
    ) -> None:
        if not stage or "/" in stage or stage.startswith("@"):
            raise GatewayError(f"stage {stage!r} must be a single path segment such as 'prod'")
        route_keys = tuple(route_keys)
        bad_keys = [k for k in route_keys if not k or k.startswith("$")]
        if bad_keys:
            raise GatewayError(f"route keys {bad_keys} are invalid: custom route keys are non-empty and do not start with '$'")
        two_way = frozenset(two_way_routes)
        unknown = sorted(two_way - {DEFAULT_ROUTE, *route_keys})
        if unknown:
            raise GatewayError(
                f"two-way routes {unknown} are not routes of this gateway; expected {DEFAULT_ROUTE!r} or a configured route key"
            )
        if not 0 <= management_latency_s <= 10:
            raise GatewayError(f"management latency {management_latency_s} s is out of range; expected 0..10 seconds")
        try:
            self.guard = Guard(host, allowed_origins)
        except ValueError as exc:
            raise GatewayError(f"allowed origins: {exc}") from None
        self.host = host
        self.port = port
        self.stage = stage
        self.api_id = api_id
        self.route_keys = frozenset(route_keys)
        self.two_way_routes = two_way
        self.limits = limits
        self.database_url = database_url
        self._handler = handler
        self._function_name = function_name
        self._memory_mb = memory_mb
        self._sessions: dict[str, Session] = {}
        self._server: Server | None = None
        self._page: str | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._http_connections: set[GatewayConnection] = set()
        # Bound once: each connection keeps its hooks for its lifetime, and a method bound per
        # connection would be one more object for the garbage collector to walk per connection.
        self._http_opened, self._http_closed = self._http_connections.add, self._http_connections.discard
        self._lost_before_open = self._abandoned
        self._unopened = UnopenedConnections()
        self._threads: HandlerThreads | None = None  # made in start(), for its event loop
        self._integration_timeouts = FixedTimeouts(limits.integration_timeout_s)
        self._time_limits = MovingDeadlines(self._check_time_limits)
        self.http = HttpRoutes(fallback=self._not_found, check=self._check_request)
        try:
            self.management = ManagementApi(
                stage=stage, sessions=self._sessions, close=self._close, methods=management_methods,
                latency_s=management_latency_s,
            )
        except ValueError as exc:  # ConfigError: names MANAGEMENT_API_METHODS and what it accepts
            raise GatewayError(str(exc)) from None
        self.management.register(self.http)
        self.console = Console(self)
        self.console.register(self.http)
        self.lambda_api = lambda_api.LambdaInvokeApi(  # Lambda's Invoke API on the same port
            function_name=function_name,
            handler=lambda event, context: self._handler(event, context),  # type: ignore[misc]
            make_context=lambda timeout_s: LambdaContext(function_name, memory_mb, time.monotonic() + timeout_s),
            spawn=self._spawn,
        )
        self.http.add(lambda_api.INVOKE_PATH_PATTERN, self._lambda_invoke)
        self.http.add(PAGE_PATH, self._verify_page, page=True)
        self.http.add(re.escape(PAGE_SCRIPT_PATH), self._script(lambda: resources.files("local_gateway").joinpath("static/verify.js")))
        self.http.add(re.escape(CLIENT_MODULE_PATH), self._script(lambda: CLIENT_MODULE_FILE))
        self.http.add("/", self._summary, page=True)

    @property
    def management_latency_s(self) -> float:
        """The emulated round trip before each ``@connections`` answer."""
        return self.management.latency_s

    # --- addresses --------------------------------------------------------------------------
    @property
    def _client_host(self) -> str:
        return "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host  # nosec B104 # a comparison with the wildcard address, not a bind (the default host is 127.0.0.1)

    @property
    def _authority(self) -> str:
        host = self._client_host
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"

    @property
    def url(self) -> str:
        """The client URL, ``ws://HOST:PORT/{stage}``."""
        return f"ws://{self._authority}/{self.stage}"

    @property
    def management_endpoint(self) -> str:
        """The management endpoint, ``http://HOST:PORT/{stage}`` (what boto3's endpoint_url takes)."""
        return f"http://{self._authority}/{self.stage}"

    @property
    def page_url(self) -> str:
        """The email-verification page (append ``?email=...``)."""
        return f"http://{self._authority}{PAGE_PATH}"

    @property
    def console_url(self) -> str:
        """The live console page."""
        return f"http://{self._authority}{self.console.path}"

    @property
    def open_connection_ids(self) -> list[str]:
        """Ids of the connections that are open now."""
        return list(self._sessions)

    @property
    def sessions(self) -> list[Session]:
        """The open connections (a snapshot)."""
        return list(self._sessions.values())

    @property
    def idle_timeout_s(self) -> float:
        """Seconds of silence after which a connection is closed (``limits.idle_timeout_s``)."""
        return self.limits.idle_timeout_s

    # --- lifecycle --------------------------------------------------------------------------
    def _create_connection(self, *args: Any, **kwargs: Any) -> GatewayConnection:
        connection = GatewayConnection(*args, **kwargs)
        connection.routes = self.http
        connection.open_timeout_s = self.limits.integration_timeout_s + 5  # $connect runs inside the handshake
        connection.on_http_open = self._http_opened
        connection.on_http_close = self._http_closed
        connection.unopened = self._unopened
        return connection

    async def start(self) -> None:
        """Bind the port, prepare the handler's environment and start serving."""
        if self._handler is None:
            self._handler = load_handler(DEFAULT_HANDLER)
        self._page = resources.files("local_gateway").joinpath("static/verify.html").read_text("utf-8")
        self.console.load()
        self._unopened = UnopenedConnections()  # a restarted gateway accepts again
        self._threads = HandlerThreads(asyncio.get_running_loop())
        self._integration_timeouts = FixedTimeouts(self.limits.integration_timeout_s)
        self._time_limits = MovingDeadlines(self._check_time_limits)
        try:
            self._server = await serve(
                self._session,
                self.host,
                self.port,
                process_request=self._process_request,
                process_response=self._process_response,
                create_connection=self._create_connection,
                compression=None,  # API Gateway does not negotiate permessage-deflate
                ping_interval=None,  # nor does it ping clients
                max_size=(self.limits.max_message_bytes, self.limits.max_frame_bytes),
                open_timeout=None,  # applied by GatewayConnection to the opening handshake only
                server_header=None,
                backlog=1024,
            )
        except OSError as exc:
            raise GatewayError(f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}") from None
        self.port = self._server.sockets[0].getsockname()[1]
        self.guard.port = self.port
        self._prepare_handler_environment()

    def _prepare_handler_environment(self) -> None:
        os.environ[ENV_MANAGEMENT_ENDPOINT] = self.management_endpoint
        if self.database_url:
            os.environ[ENV_DATABASE_URL] = self.database_url
        for name, value in DUMMY_AWS_ENV.items():
            os.environ.setdefault(name, value)
        from websocket_service.service import reset_service

        reset_service()  # the handler caches its service; rebuild it from the new environment

    @property
    def stop_timeout_s(self) -> float:
        """The longest :meth:`stop` waits: the close handshakes, then every ``$disconnect``."""
        return self.limits.integration_timeout_s + 10

    async def stop(self) -> None:
        """Close every connection with 1001 (each reaches ``$disconnect``) and stop listening.

        Returns within :attr:`stop_timeout_s`; ``$disconnect`` invocations still running then
        are abandoned (API Gateway delivers ``$disconnect`` best effort too).
        """
        if self._server is None:
            return
        server, self._server = self._server, None
        server.close(close_connections=False)  # stop accepting; refuse handshakes in progress
        for session in list(self._sessions.values()):
            self._close(session, CloseCode.GOING_AWAY, SHUTDOWN_REASON)
        for connection in list(self._http_connections):
            connection.close_idle_http()
        self._unopened.drop()
        waiters = [asyncio.ensure_future(server.wait_closed())]
        if self._background:
            waiters.append(asyncio.ensure_future(asyncio.wait(self._background)))
        done, pending = await asyncio.wait(waiters, timeout=self.stop_timeout_s)
        for waiter in pending:
            waiter.cancel()
        if pending:
            logger.error("stopped after %.0f s with $disconnect invocations still running", self.stop_timeout_s)
        self._integration_timeouts.cancel()
        self._time_limits.cancel()
        if self._threads is not None:
            self._threads.shutdown()

    async def serve_forever(self) -> None:
        """Start (if needed) and serve until cancelled; then stop cleanly."""
        if self._server is None:
            await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    # --- handler invocation -----------------------------------------------------------------
    async def _invoke(self, event: dict[str, Any]) -> Invocation:
        assert self._handler is not None and self._threads is not None  # nosec B101 # both made in start(), before any connection is served
        request_id = event["requestContext"]["requestId"]
        timeout = self.limits.integration_timeout_s
        context = LambdaContext(self._function_name, self._memory_mb, time.monotonic() + timeout)
        loop = asyncio.get_running_loop()
        future = self._threads.call(self._handler, event, context)
        self._integration_timeouts.add(loop, time_out, future)
        try:
            result = await future
        except TimeoutError:
            logger.error("handler timed out after %ss (route %s)", timeout, event["requestContext"]["routeKey"])
            return Invocation(request_id, failure="timeout")
        except Exception:
            logger.exception("handler raised (route %s)", event["requestContext"]["routeKey"])
            return Invocation(request_id, failure="error")
        return Invocation(request_id, result=result)

    # --- plain HTTP routes ------------------------------------------------------------------
    def _check_request(self, request: HttpRequest, page: bool) -> Response | None:
        """Refuse another Host (DNS rebinding: 421) and, on the APIs, another site's page (403)."""
        host = request.headers.get("Host")
        if not self.guard.host_allowed(host):
            logger.warning("%s %s -> 421: Host %r is not this gateway's", request.method, request.path, host)
            return responses.refused(421, f"Host {host!r} is not this gateway; use {self._authority}")
        if page:
            return None
        reason = self.guard.cross_site_reason(request.headers)
        if reason is not None:
            logger.warning("%s %s -> 403: %s", request.method, request.path, reason)
            return responses.refused(403, reason)
        return None

    async def _verify_page(self, request: HttpRequest, match: Any) -> Response:
        assert self._page is not None  # nosec B101 # the page is read in start(), before any request is served
        return responses.html_response(self._page.replace(_STAGE_PLACEHOLDER, self.stage))

    @staticmethod
    def _script(source: Callable[[], Any]) -> Callable[[HttpRequest, Any], Coroutine[Any, Any, Response]]:
        """A route serving a JavaScript module read from ``source()`` at each request (a path)."""
        async def route(request: HttpRequest, match: Any) -> Response:
            try:
                text = source().read_text("utf-8")
            except OSError:
                return responses.text_response(404, "Not found: this installation has no clients/js/ folder\n")
            return responses.http_response(200, text.encode(), content_type="text/javascript; charset=utf-8",
                                           extra_headers={"Cache-Control": "no-store"})
        return route

    async def _summary(self, request: HttpRequest, match: Any) -> Response:
        return responses.text_response(
            200,
            f"local WebSocket gateway\nclients:    {self.url}?email=...&type=...\n"
            f"management: {self.management_endpoint}/@connections/{{id}}\n"
            f"page:       {self.page_url}?email=...\nconsole:    {self.console_url}\n"
            f"open connections: {len(self._sessions)}\n",
        )

    async def _lambda_invoke(self, request: HttpRequest, match: Any) -> Response:
        """Lambda's ``Invoke`` for the handler (:mod:`local_gateway.lambda_api`)."""
        return await self.lambda_api.handle(request.method, request.target, request.headers, request.body,
                                            request.body_length)

    async def _not_found(self, request: HttpRequest) -> Response:
        if request.path.rstrip("/") == f"/{self.stage}":
            return responses.text_response(426, f"Upgrade Required: WebSocket clients connect to {self.url}\n")
        return responses.text_response(404, f"Not found. WebSocket clients connect to {self.url}\n")

    # --- WebSocket handshake ----------------------------------------------------------------
    async def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        hosts, origins = request.headers.get_all("Host"), request.headers.get_all("Origin")
        if len(hosts) > 1 or len(origins) > 1:
            return responses.text_response(400, "Bad request: duplicate Host or Origin header\n")
        host = hosts[0] if hosts else None
        if not self.guard.host_allowed(host):
            logger.warning("handshake -> 421: Host %r is not this gateway's", host)
            return responses.text_response(421, f"Misdirected Request: Host {host!r} is not this gateway\n")
        origin = origins[0] if origins else None
        if not self.guard.websocket_origin_allowed(origin):
            logger.warning("handshake -> 403: Origin %r is not allowed (wsctl local --allowed-origins)", origin)
            return responses.text_response(403, f"Forbidden: Origin {origin!r} is not allowed "
                                                 "(wsctl local --allowed-origins)\n")
        path = urlsplit(request.path).path
        if path in (f"/{self.stage}", f"/{self.stage}/"):
            return None  # websockets validates the upgrade; $connect runs in _process_response
        return forbidden()  # API Gateway: no such stage or route

    async def _process_response(
        self, connection: ServerConnection, request: Request, response: Response
    ) -> Response | None:
        if response.status_code != 101:
            return None
        if not isinstance(connection, GatewayConnection):  # _create_connection makes every connection
            raise TypeError(f"expected a GatewayConnection, got {type(connection).__name__}")
        source_ip = str(connection.remote_address[0]) if connection.remote_address else "127.0.0.1"
        info = ConnectionInfo(
            connection_id=new_id(),
            connected_at_ms=now_ms(),
            source_ip=source_ip,
            user_agent=request.headers.get("User-Agent"),
            api_id=self.api_id,
            stage=self.stage,
            domain_name=request.headers.get("Host") or self._authority,
        )
        event = connect_event(info, list(request.headers.raw_items()), urlsplit(request.path).query)
        # parse_qsl(query) without blank values, last one wins: read before the handler sees the event
        query = {name: kept[-1] for name, values in event.get("multiValueQueryStringParameters", {}).items()
                 if (kept := [value for value in values if value])}
        outcome = await self._invoke(event)
        status = outcome.connect_status()
        logger.info("$connect %s -> %s", info.connection_id, status)
        if status >= 400:
            return responses.text_response(status, responses.reason_phrase(status))
        for name, value in outcome.handshake_headers():
            if name.lower() not in HANDSHAKE_HEADERS:
                response.headers[name] = value
        if connection.connection_lost_waiter.done():  # the client left while $connect ran
            self._abandoned(info)
        else:
            connection.info = info
            connection.query = query
            connection.on_lost_before_open = self._lost_before_open
        return None

    def _abandoned(self, info: ConnectionInfo) -> None:
        """``$connect`` accepted a client that was gone before the handshake completed."""
        self._spawn(self._invoke(disconnect_event(info, CloseCode.ABNORMAL_CLOSURE, "Connection lost during the handshake")))

    # --- WebSocket sessions -----------------------------------------------------------------
    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run ``coro`` in the background, keeping a reference until it finishes."""
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _close(self, session: Session, code: int, reason: str) -> None:
        """Start closing a session from the server side (the close handshake runs in the background)."""
        if session.server_close is None:
            session.server_close = (code, reason)
            self._sessions.pop(session.info.connection_id, None)
            self._spawn(session.connection.close(code, reason))

    def close_connection(self, connection_id: str, code: int, reason: str) -> bool:
        """Close an open connection from the server side; False if it is not open."""
        session = self._sessions.get(connection_id)
        if session is None:
            return False
        self._close(session, code, reason)
        return True

    async def _session(self, connection: ServerConnection) -> None:
        assert isinstance(connection, GatewayConnection) and connection.info is not None  # nosec B101 # type narrowing for the checker: the server only creates these objects itself
        info = connection.info
        connection.session_started = True
        loop = asyncio.get_running_loop()
        now = loop.time()
        session = Session(
            info, connection, opened=now, last_active=now, last_active_ms=now_ms(),
            email=connection.query.get("email", ""), connection_type=connection.query.get("type", ""),
        )
        self._sessions[info.connection_id] = session
        first_check = now + min(self.limits.idle_timeout_s, self.limits.max_duration_s)
        time_limits = self._time_limits.add(loop, first_check, session)
        pending: set[asyncio.Task[None]] = set()
        slots: asyncio.Semaphore | None = None  # made by the first message: many clients only listen
        try:
            while True:
                data = await connection.recv()  # raises ConnectionClosed once closed, normally or not
                if slots is None:
                    slots = asyncio.Semaphore(self.limits.max_in_flight_per_connection)
                await slots.acquire()  # backpressure: this client's next frames wait unread
                session.touch(loop.time())
                session.record("in", data)
                if isinstance(data, bytes):  # API Gateway refuses binary frames: close 1003
                    self._close(session, CloseCode.UNSUPPORTED_DATA, BINARY_FRAME_REASON)
                    break
                task = loop.create_task(self._on_message(session, data))
                pending.add(task)
                task.add_done_callback(pending.discard)
                task.add_done_callback(lambda _, slots=slots: slots.release())
        except ConnectionClosed:
            pass  # the status code and reason are read below
        finally:
            self._time_limits.discard(time_limits)
            self._sessions.pop(info.connection_id, None)
        if pending:
            await asyncio.wait(pending)
        await connection.wait_closed()
        code, reason = self._close_status(session)
        outcome = await self._invoke(disconnect_event(info, code, reason))
        logger.info("$disconnect %s (%s) -> %s", info.connection_id, code, outcome.failure or "ok")

    @staticmethod
    def _close_status(session: Session) -> tuple[int, str]:
        """The status code and reason API Gateway would report for how the connection closed."""
        protocol = session.connection.protocol
        if session.server_close is not None:
            return session.server_close
        sent, received = protocol.close_sent, protocol.close_rcvd
        if sent is not None and (received is None or protocol.close_rcvd_then_sent is False):
            return sent.code, _describe_close(sent.code, sent.reason, by_client=False)
        if received is not None:
            return received.code, _describe_close(received.code, received.reason, by_client=True)
        return CloseCode.ABNORMAL_CLOSURE, "Connection lost without a close frame"

    def _check_time_limits(self, session: Session, now: float) -> float | None:
        """Close ``session`` past its idle timeout or maximum duration; else when to check it next."""
        if session.server_close is not None:
            return None
        idle_at = session.last_active + self.limits.idle_timeout_s
        expires_at = session.opened + self.limits.max_duration_s
        if now >= expires_at:
            self._close(session, CloseCode.GOING_AWAY, "Maximum connection duration exceeded")
            return None
        if now >= idle_at:
            self._close(session, CloseCode.GOING_AWAY, "Idle timeout")
            return None
        return min(idle_at, expires_at)

    async def _on_message(self, session: Session, data: str) -> None:
        info = session.info
        route_key = select_route(data, self.route_keys)
        outcome = await self._invoke(message_event(info, data, route_key))
        reply = outcome.route_response(info.connection_id, two_way=route_key in self.two_way_routes)
        logger.info("%s %s -> %s", route_key, info.connection_id, outcome.failure or "ok")
        if reply is not None:
            try:
                await session.connection.send(reply)
                session.record("out", reply)
            except ConnectionClosed:
                logger.info("route response to %s dropped: connection closed", info.connection_id)
