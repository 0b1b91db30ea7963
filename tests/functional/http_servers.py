"""Real local HTTP servers the functional tests talk to.

* :class:`ManagementApiServer` answers like the API Gateway Management API
  (``POST`` and ``GET /{stage}/@connections/{id}``), with per-connection behaviours: 200, 410 Gone,
  429 LimitExceeded (N times, or forever), 403 Forbidden, 413 PayloadTooLarge, and a barrier that
  only lets requests through once several are in flight at the same time (proves parallelism
  without timing).
* :class:`RecordingServer` records any request (CloudFormation's pre-signed ``ResponseURL``) or
  serves canned JSON per path (the Parameters and Secrets extension).
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import unquote, urlsplit

ERRORS = {
    "gone": (410, "GoneException", {"message": None}),
    "throttle": (429, "LimitExceededException", {"message": "Too Many Requests"}),
    "forbidden": (403, "ForbiddenException", {"message": "Forbidden"}),
    "too_large": (413, "PayloadTooLargeException", {"message": "Request entity too large"}),
}


@dataclass
class Request:
    """One request as the server saw it."""

    method: str
    raw_path: str
    headers: dict[str, str]
    body: bytes
    connection_id: str | None = None


@dataclass
class _Server:
    """A ThreadingHTTPServer on 127.0.0.1 with an ephemeral port, stopped by :meth:`stop`."""

    respond: Callable[[BaseHTTPRequestHandler, Request], tuple[int, dict[str, str], bytes]]
    requests: list[Request] = field(default_factory=list)

    def start(self) -> "_Server":
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                                  self.rfile.read(length))
                status, headers, body = owner.respond(self, request)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                pass

        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    def record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class ManagementApiServer:
    """A real HTTP server answering like ``https://{api}.execute-api.{region}.amazonaws.com/{stage}``."""

    def __init__(self, stage: str = "prod") -> None:
        self.stage = stage
        self.behaviours: dict[str, str] = {}
        self.throttle_left: dict[str, int] = {}
        self.barrier: threading.Barrier | None = None
        self._lock = threading.Lock()
        self._server = _Server(self._respond).start()

    @property
    def endpoint(self) -> str:
        """The management endpoint to configure: ``http://127.0.0.1:{port}/{stage}``."""
        return f"http://127.0.0.1:{self._server.port}/{self.stage}"

    @property
    def requests(self) -> list[Request]:
        return self._server.requests

    def posts_to(self, connection_id: str) -> list[Request]:
        """Requests that reached ``@connections/{connection_id}``."""
        return [r for r in self.requests if r.connection_id == connection_id]

    def set(self, connection_id: str, behaviour: str, *, times: int | None = None) -> None:
        """``behaviour`` is ``ok`` or a key of :data:`ERRORS`; ``times`` limits how often an error
        is answered before the connection answers 200 (None: forever)."""
        self.behaviours[connection_id] = behaviour
        if times is not None:
            self.throttle_left[connection_id] = times

    def require_parallel(self, parties: int, *, timeout_s: float = 10) -> None:
        """Hold requests until ``parties`` are in flight together (or answer 500 after ``timeout_s``)."""
        self.barrier = threading.Barrier(parties, timeout=timeout_s)

    def stop(self) -> None:
        self._server.stop()

    def _respond(self, _: BaseHTTPRequestHandler, request: Request) -> tuple[int, dict[str, str], bytes]:
        prefix = f"/{self.stage}/@connections/"
        path = urlsplit(request.raw_path).path
        if request.method not in ("POST", "GET") or not path.startswith(prefix):
            self._server.record(request)
            return 404, {"x-amzn-ErrorType": "NotFoundException"}, b'{"message":"Not Found"}'
        request.connection_id = unquote(path[len(prefix):])
        self._server.record(request)
        if self.barrier is not None:
            try:
                self.barrier.wait()
            except threading.BrokenBarrierError:
                return 500, {"x-amzn-ErrorType": "InternalServerErrorException"}, b'{"message":"not parallel"}'
        behaviour = self.behaviours.get(request.connection_id, "ok")
        if behaviour != "ok" and request.connection_id in self.throttle_left:
            with self._lock:
                left = self.throttle_left[request.connection_id]
                self.throttle_left[request.connection_id] = left - 1
            if left <= 0:
                behaviour = "ok"
        if behaviour == "ok" and request.method == "GET":  # GetConnection: the connection's details
            document = {"ConnectedAt": "2026-11-25T12:00:00Z", "LastActiveAt": "2026-11-25T12:00:00Z",
                        "Identity": {"SourceIp": "203.0.113.9", "UserAgent": "test"}}
            return 200, {"Content-Type": "application/json"}, json.dumps(document).encode()
        if behaviour == "ok":
            return 200, {}, b""
        status, error_type, body = ERRORS[behaviour]
        return status, {"Content-Type": "application/json", "x-amzn-ErrorType": error_type}, json.dumps(body).encode()


class RecordingServer:
    """Records every request; answers ``routes[path]`` as JSON (status, document) or 200 ``{}``."""

    def __init__(self, routes: dict[str, tuple[int, Any]] | None = None) -> None:
        self.routes = routes or {}
        self._server = _Server(self._respond).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.port}"

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def requests(self) -> list[Request]:
        return self._server.requests

    def stop(self) -> None:
        self._server.stop()

    def _respond(self, _: BaseHTTPRequestHandler, request: Request) -> tuple[int, dict[str, str], bytes]:
        self._server.record(request)
        status, document = self.routes.get(urlsplit(request.raw_path).path, (200, {}))
        return status, {"Content-Type": "application/json"}, json.dumps(document).encode()


class HangingServer:
    """A real TCP server that accepts connections, reads the request and never answers (a
    management API that hangs). ``endpoint`` looks like a management endpoint; ``accepted`` counts
    the connections it took. :meth:`stop` closes everything."""

    def __init__(self, stage: str = "prod") -> None:
        import socket

        self.stage = stage
        self.accepted = 0
        self._sockets: list[Any] = []
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self._listener.settimeout(0.1)
        self._running = True
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}/{self.stage}"

    def _accept(self) -> None:
        while self._running:
            try:
                conn, _ = self._listener.accept()
            except OSError:  # timeout: check _running again
                continue
            self.accepted += 1
            self._sockets.append(conn)  # kept open, never answered

    def stop(self) -> None:
        self._running = False
        self._thread.join(timeout=5)
        for sock in [*self._sockets, self._listener]:
            sock.close()
