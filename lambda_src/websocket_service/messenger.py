"""Posting to connected clients through the API Gateway Management API (``@connections``).

Each post is one SigV4-signed ``POST {endpoint}/@connections/{id}`` (the id URL-encoded: ids such
as ``BFHPhfCWIAMCKlQ=`` contain ``=``) sent on a keep-alive connection of the messenger's own
small HTTP/1.1 client (:class:`_Connections`: TLS for https, head and body in one write,
``http.client``'s answer parser), with
credentials from botocore's default chain. The request has one fixed shape (no query string, the
same signed headers every time), so :class:`ConnectionsSigner` builds its SigV4 signature directly
and keeps the day's signing key (four HMACs) until the date or the secret changes; its signatures
equal botocore's ``SigV4Auth`` for the same request (tests/unit/test_messenger_signer.py). This
replaces a boto3 client (whose machinery was ~70 % of a post's CPU) and then botocore's generic
``AWSRequest`` + ``SigV4Auth`` (75-95 us per post).
botocore and ``http.client``/``ssl`` are imported on the first post only, so ``$connect``/``$disconnect`` cold
starts pay for neither; boto3 is never imported.

One :class:`Messenger` (pool, signer, thread pool) lives as long as the container's service.
Throttling (429) is retried here with bounded exponential backoff and full jitter, and a connection
closed before any answer (a pooled keep-alive connection the server dropped while the container was
frozen) once at once; every attempt
has its own connect and read timeouts, both cut to the caller's ``deadline`` (a
``time.monotonic()`` instant), and no attempt starts once the deadline has passed.

Outcomes of :meth:`Messenger.post`: ``"sent"``, ``"gone"`` (410: the client left; mark it
inactive), ``"failed"`` (anything else, logged with a hint) or ``"undelivered"`` (the deadline
came first: the post was not attempted, or its timeout -- cut to the deadline -- expired).
"""
from __future__ import annotations

import collections
import hashlib
import hmac
import ipaddress
import random
import select
import socket
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Literal, Sequence
from urllib.parse import quote, urlsplit

from . import budget
from . import observability as obs
from .config import ENV_MANAGEMENT_ENDPOINT
from .errors import ClientError, ServiceError

if TYPE_CHECKING:
    import http.client
    import ssl

MAX_PAYLOAD_BYTES = 131_072
"""API Gateway's limit for one message / one management API POST body (128 KB)."""
MAX_PARALLEL_POSTS = 16
"""Posts in flight (threads, and keep-alive connections) when the instance's size is unknown (local runs)."""
LAMBDA_MB_PER_VCPU = 1769
"""Lambda gives a function one vCPU per 1,769 MB of memory (proportionally less below)."""
POSTS_IN_FLIGHT_PER_VCPU = 64
"""Posts in flight per vCPU of the function's CPU share: a post costs ~0.2-0.3 ms of CPU per 20 ms round
trip, so a full vCPU keeps ~64 busy; more threads on a fraction of a vCPU only contend for it."""
MIN_PARALLEL_POSTS = 16
"""Measured at 256 MB (a seventh of a vCPU, 20 ms round trip): 16 and 32 in flight tie, 4-8 are 1.1-1.5x slower."""
CAP_PARALLEL_POSTS = 64
ENV_FUNCTION_MEMORY = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"
"""Set by Lambda in every function: its memory size in MB."""


def parallel_posts(memory_mb: int | None) -> int:
    """Posts a fan-out keeps in flight on an instance with ``memory_mb`` of memory (its CPU share is
    ``memory_mb / LAMBDA_MB_PER_VCPU`` vCPU): :data:`POSTS_IN_FLIGHT_PER_VCPU` per vCPU, within
    :data:`MIN_PARALLEL_POSTS`..:data:`CAP_PARALLEL_POSTS`; :data:`MAX_PARALLEL_POSTS` when unknown."""
    if memory_mb is None:
        return MAX_PARALLEL_POSTS
    wanted = round(memory_mb / LAMBDA_MB_PER_VCPU * POSTS_IN_FLIGHT_PER_VCPU)
    return max(MIN_PARALLEL_POSTS, min(CAP_PARALLEL_POSTS, wanted))


def instance_parallel_posts(env: Any = None) -> int:
    """:func:`parallel_posts` for this instance (``AWS_LAMBDA_FUNCTION_MEMORY_SIZE``; unset locally)."""
    import os

    raw = (os.environ if env is None else env).get(ENV_FUNCTION_MEMORY, "")
    return parallel_posts(int(raw) if raw.strip().isdigit() and int(raw) > 0 else None)
DEFAULT_CONNECT_TIMEOUT_S = 3.0
"""Bound of one post's TCP/TLS connect (cut further to the caller's deadline)."""
DEFAULT_READ_TIMEOUT_S = 5.0
"""Bound of the wait for one post's answer (cut further to the caller's deadline)."""
MIN_ATTEMPT_S = 0.05
"""An attempt is not started with less time than this left before the deadline."""
DEADLINE_GRACE_S = 0.5
"""How long :meth:`Messenger.post_many` waits past the deadline for posts already in flight (their
timeouts end at the deadline; this covers thread scheduling) before reporting them undelivered."""
ENDPOINT_FORM = "https://{api}.execute-api.{region}.amazonaws.com/{stage}"
ENDPOINT_HINT = (
    f"check {ENV_MANAGEMENT_ENDPOINT}: it must be the management endpoint {ENDPOINT_FORM} "
    "(https, not wss://, no custom domain, with the stage path), and the role needs "
    "execute-api:ManageConnections on it"
)
DEFAULT_REGION = "us-east-1"
GET_CONNECTION_MIN_BUDGET_S = 2.0
"""GetConnection checks stop when the invocation has less than this left (one call's worst case)."""

PostOutcome = Literal["sent", "gone", "failed", "undelivered"]


class ManagementEndpointError(ServiceError, ValueError):
    """The management endpoint setting is missing or not of the form :data:`ENDPOINT_FORM`."""

    code = "config_error"


class CredentialsError(ServiceError):
    """botocore's default credential chain found no AWS credentials to sign posts with."""

    code = "config_error"


class PayloadTooLargeError(ClientError, ValueError):
    """A message exceeds :data:`MAX_PAYLOAD_BYTES`; it is refused before anything is sent (413)."""

    status = 413
    code = "payload_too_large"


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (the only hosts allowed plain http)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def validate_management_endpoint(url: str | None) -> str:
    """Check a management endpoint and return it normalised (no trailing slash).

    Accepted: ``https://{host}/{stage}``, or ``http://`` for loopback hosts only (the local
    gateway). Raises :class:`ManagementEndpointError` for anything else, saying what to set.
    """
    def fail(problem: str) -> ManagementEndpointError:
        return ManagementEndpointError(f"{ENV_MANAGEMENT_ENDPOINT} {problem}; expected {ENDPOINT_FORM}")

    if not url or not url.strip():
        raise fail("is not set")
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    if parts.scheme == "http":
        if not is_loopback_host(host):
            raise fail(f"uses http:// with non-loopback host {host!r} (only localhost may use http)")
    elif parts.scheme != "https":
        raise fail(f"has scheme {parts.scheme or 'none'!r} (wss:// is the client URL, not the management API)")
    if not host:
        raise fail("has no host")
    if parts.query or parts.fragment:
        raise fail("must not have a query string or fragment")
    segments = parts.path.strip("/").split("/") if parts.path.strip("/") else []
    if len(segments) != 1:
        raise fail("must have exactly one path segment, the stage name (e.g. '/prod')")
    return f"{parts.scheme}://{parts.netloc}/{segments[0]}"


def region_of(endpoint: str) -> str:
    """The AWS region of an ``execute-api`` endpoint; :data:`DEFAULT_REGION` for local hosts."""
    host = urlsplit(endpoint).hostname or ""
    labels = host.split(".")
    if len(labels) >= 4 and labels[1] == "execute-api":
        return labels[2]
    return DEFAULT_REGION


SIGNING_SERVICE = "execute-api"
"""The SigV4 service name of the API Gateway Management API."""


class ConnectionsSigner:
    """AWS Signature Version 4 for the Management API's one request shape.

    ``{METHOD} {path}`` with no query string, signed headers ``host;x-amz-date`` (plus
    ``x-amz-security-token`` with temporary credentials), the body's SHA-256 as payload hash:
    exactly what ``botocore.auth.SigV4Auth`` signs for such a request (no other headers are set
    before signing). The signing key is derived once per day and secret (it only depends on
    the date, region and service) and reused; the cache is one immutable tuple, so threads can
    share a signer.
    """

    def __init__(self, host: str, region: str, service: str = SIGNING_SERVICE) -> None:
        """``host`` as the Host header carries it: lowercase, with ``:port`` unless the scheme's default."""
        self.host = host
        self.region = region
        self.service = service
        self._scope_tail = f"/{region}/{service}/aws4_request"
        self._key: tuple[str, str, bytes] = ("", "", b"")

    def signing_key(self, secret_key: str, date: str) -> bytes:
        """The SigV4 signing key for ``date`` (``YYYYMMDD``), cached until the date or secret changes."""
        cached_secret, cached_date, key = self._key
        if cached_date == date and cached_secret == secret_key and key:
            return key
        key = hmac.new(f"AWS4{secret_key}".encode(), date.encode(), hashlib.sha256).digest()
        for part in (self.region, self.service, "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        self._key = (secret_key, date, key)
        return key

    def headers(self, method: str, path: str, payload: bytes, *, access_key: str, secret_key: str,
                token: str | None = None, timestamp: str | None = None) -> dict[str, str]:
        """The headers that sign ``method path`` with ``payload``: ``X-Amz-Date``, the session token if
        any, and ``Authorization``. ``path`` is the request path as sent (already URL-encoded);
        ``timestamp`` (``YYYYMMDDTHHMMSSZ``, UTC) defaults to now."""
        from botocore.utils import normalize_url_path  # already loaded with the credential chain

        if timestamp is None:
            timestamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        date = timestamp[:8]
        if token:
            canonical_headers = f"host:{self.host}\nx-amz-date:{timestamp}\nx-amz-security-token:{token}\n"
            signed = "host;x-amz-date;x-amz-security-token"
        else:
            canonical_headers = f"host:{self.host}\nx-amz-date:{timestamp}\n"
            signed = "host;x-amz-date"
        canonical = (f"{method}\n{quote(normalize_url_path(path), safe='/~')}\n\n{canonical_headers}\n{signed}\n"
                     f"{hashlib.sha256(payload).hexdigest()}")
        scope = date + self._scope_tail
        to_sign = f"AWS4-HMAC-SHA256\n{timestamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        signature = hmac.new(self.signing_key(secret_key, date), to_sign.encode(), hashlib.sha256).hexdigest()
        headers = {"X-Amz-Date": timestamp}
        if token:
            headers["X-Amz-Security-Token"] = token
        headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={signed}, "
                                    f"Signature={signature}")
        return headers


def host_header(endpoint: str) -> str:
    """The Host header value for ``endpoint``: lowercase host, ``:port`` only when not the scheme's default."""
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None and parts.port != {"http": 80, "https": 443}.get(parts.scheme):
        host = f"{host}:{parts.port}"
    return host


class PostError(Exception):
    """A request that got no HTTP answer; the subclass's name is the ``error`` the failure log shows
    (the names urllib3 gave the same failures before this client replaced it)."""


class NewConnectionError(PostError):
    """The endpoint could not be reached: name resolution failed or the connect was refused."""


class ConnectTimeoutError(PostError):
    """The TCP connect (or the TLS handshake) did not finish within its timeout."""


class ReadTimeoutError(PostError):
    """The answer (or the room to send the request) did not come within the read timeout."""


class ProtocolError(PostError):
    """The connection closed or was reset before a whole answer arrived."""


class SSLError(PostError):
    """TLS failed: the handshake (e.g. a certificate that does not verify) or a broken record."""


def _readable_now(sock: socket.socket) -> bool:
    """Whether ``sock`` has data or EOF to read right now. ``poll``, not ``select``: select() refuses
    descriptors past 1023, and the local gateway's process (which runs this code) holds one per
    open WebSocket."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([sock], [], [], 0)[0])  # Windows: no poll(), and no 1024 limit either


class _Connections:
    """Keep-alive connections to one ``http(s)://host:port``, each used by one thread at a time.

    :meth:`exchange` sends one request in ONE write (head and body together: one syscall, one TCP
    segment, no second wake-up of the server) and reads its answer with ``http.client``'s parser.
    An idle connection the server has closed (readable while idle: EOF) is dropped before use, as
    urllib3 does; at most ``pool_size`` idle connections are kept. This does per post only what
    the fixed-shape post needs: urllib3's generic machinery (URL parsing, header objects, retries
    and pool bookkeeping) was ~0.12 ms of the calling thread before the request left.
    """

    def __init__(self, endpoint: str, pool_size: int) -> None:
        parts = urlsplit(endpoint)
        self._address = (parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))
        self.pool_size = pool_size
        self._idle: collections.deque[socket.socket] = collections.deque()
        self._tls: ssl.SSLContext | None = None
        if parts.scheme == "https":
            import ssl

            from botocore.httpsession import get_cert_path  # the CA bundle botocore verifies with

            self._tls = ssl.create_default_context(cafile=get_cert_path(True))

    def _connect(self, connect_s: float) -> socket.socket:
        import ssl

        try:
            sock = socket.create_connection(self._address, timeout=max(connect_s, MIN_TIMEOUT_S))
        except TimeoutError as error:
            raise ConnectTimeoutError(f"connect to {self._address[0]} timed out") from error
        except OSError as error:
            raise NewConnectionError(f"cannot connect to {self._address[0]}: {error}") from error
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls is not None:
                sock = self._tls.wrap_socket(sock, server_hostname=self._address[0])
        except TimeoutError as error:
            sock.close()
            raise ConnectTimeoutError(f"TLS handshake with {self._address[0]} timed out") from error
        except ssl.SSLError as error:
            sock.close()
            raise SSLError(str(error)) from error
        except OSError as error:
            sock.close()
            raise NewConnectionError(f"cannot connect to {self._address[0]}: {error}") from error
        return sock

    def _idle_connection(self) -> socket.socket | None:
        while True:
            try:
                sock = self._idle.pop()
            except IndexError:
                return None
            if not _readable_now(sock):
                return sock
            sock.close()  # readable while idle: the server closed it (or sent what nobody asked for)

    def exchange(self, method: str, request: bytes, connect_s: float, read_s: float) -> http.client.HTTPResponse:
        """Send ``request`` (head and body) and return its whole answer (body read)."""
        import http.client  # with ssl: loaded by the first post, not by the module (cold starts)
        import ssl

        sock = self._idle_connection() or self._connect(connect_s)
        keep = False
        try:
            sock.settimeout(max(read_s, MIN_TIMEOUT_S))
            sock.sendall(request)
            response = http.client.HTTPResponse(sock, method=method)
            response.begin()
            response.read()
            keep = not response.will_close
            return response
        except TimeoutError as error:
            raise ReadTimeoutError(f"no answer from {self._address[0]} within {read_s:.3g} s") from error
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError) as error:  # TLS's way of "closed before the answer"
            raise ProtocolError(f"connection to {self._address[0]} closed: {error!r}") from error
        except ssl.SSLError as error:
            raise SSLError(str(error)) from error
        except (OSError, http.client.HTTPException) as error:
            raise ProtocolError(f"connection to {self._address[0]} broken: {error!r}") from error
        finally:
            if keep and len(self._idle) < self.pool_size:
                self._idle.append(sock)
            else:
                sock.close()

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()


MIN_TIMEOUT_S = 0.001
"""A socket timeout is never below this (0 would make the socket non-blocking)."""


class _SignedPoster:
    """:class:`_Connections` to the endpoint plus a :class:`ConnectionsSigner`."""

    def __init__(self, endpoint: str, region: str, pool_size: int) -> None:
        import botocore.session

        credentials = botocore.session.Session().get_credentials()
        if credentials is None:
            raise CredentialsError("no AWS credentials found to sign Management API posts (the function role "
                                   "provides them in Lambda; locally set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)")
        self._credentials = credentials
        self._signer = ConnectionsSigner(host_header(endpoint), region)
        self._host_line = f"Host: {self._signer.host}\r\n"
        self._stage_path = urlsplit(endpoint).path
        self._connections = _Connections(endpoint, pool_size)

    def request(self, method: str, connection_id: str, payload: bytes, connect_s: float,
                read_s: float) -> tuple[int, str]:
        """One signed ``method`` on ``@connections/{id}``; returns (HTTP status, ``x-amzn-ErrorType``
        name or ""). Raises a :class:`PostError` for connect/read failures and timeouts (no retries,
        no redirects)."""
        path = f"{self._stage_path}/@connections/{quote(connection_id, safe='')}"
        frozen = self._credentials.get_frozen_credentials()
        headers = self._signer.headers(method, path, payload, access_key=frozen.access_key,
                                       secret_key=frozen.secret_key, token=frozen.token)
        head = "".join([f"{method} {path} HTTP/1.1\r\n", self._host_line, "Accept-Encoding: identity\r\n",
                        *(f"{name}: {value}\r\n" for name, value in headers.items()),
                        f"Content-Length: {len(payload)}\r\n\r\n" if payload or method == "POST" else "\r\n"])
        response = self._connections.exchange(method, head.encode("latin-1") + payload, connect_s, read_s)
        return response.status, (response.getheader("x-amzn-ErrorType") or "").split(":")[0]

    def post(self, connection_id: str, payload: bytes, connect_s: float, read_s: float) -> tuple[int, str]:
        """One signed ``POST`` of ``payload`` (see :meth:`request`)."""
        return self.request("POST", connection_id, payload, connect_s, read_s)

    def close(self) -> None:
        self._connections.close()


class Messenger:
    """Posts messages to connections through one management endpoint.

    ``max_attempts``/``base_delay_s``/``max_delay_s`` bound the 429 retries; ``sleep`` is the wait
    function; ``connect_timeout_s``/``read_timeout_s`` bound each attempt; ``max_parallel`` posts
    are in flight at most (default: :func:`instance_parallel_posts`, sized to the function's CPU share). The signer, connection
    pool and thread pool are created on first use (thread-safe) and reused until :meth:`close`.
    """

    def __init__(
        self,
        endpoint: str | None,
        *,
        max_attempts: int = 4,
        base_delay_s: float = 0.1,
        max_delay_s: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        read_timeout_s: float = DEFAULT_READ_TIMEOUT_S,
        max_parallel: int | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.max_parallel = instance_parallel_posts() if max_parallel is None else max_parallel
        if self.max_parallel < 1:
            raise ValueError("max_parallel must be at least 1")
        self.endpoint = validate_management_endpoint(endpoint)
        self.max_attempts = max_attempts
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self._sleep = sleep
        self._poster: _SignedPoster | None = None
        self._executor: Any = None
        self._lock = threading.Lock()

    def _get_poster(self) -> _SignedPoster:
        with self._lock:
            if self._poster is None:
                self._poster = _SignedPoster(self.endpoint, region_of(self.endpoint), self.max_parallel)
            return self._poster

    def _get_executor(self) -> Any:
        with self._lock:
            if self._executor is None:
                from concurrent.futures import ThreadPoolExecutor  # deferred: only fan-out needs threads

                self._executor = ThreadPoolExecutor(max_workers=self.max_parallel, thread_name_prefix="post")
            return self._executor

    def _backoff(self, attempt: int) -> float:
        """Full-jitter exponential backoff for retry number ``attempt`` (1-based)."""
        return random.uniform(0, min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1)))  # nosec B311 # retry jitter, not a secret: any spread will do

    def post(self, connection_id: str, data: bytes | str, *, deadline: float | None = None) -> PostOutcome:
        """Send ``data`` to one connection; return ``"sent"``, ``"gone"``, ``"failed"`` or
        ``"undelivered"`` (``deadline``, a ``time.monotonic()`` instant, came first).

        Raises :class:`PayloadTooLargeError` (before any request) when ``data`` is over
        :data:`MAX_PAYLOAD_BYTES`, :class:`CredentialsError` when there is nothing to sign with.
        """
        payload = data.encode("utf-8") if isinstance(data, str) else data
        check_payload_size(payload)
        if deadline is not None and deadline - time.monotonic() < MIN_ATTEMPT_S:
            return "undelivered"
        poster = self._get_poster()
        attempt = 0
        while True:
            attempt += 1
            connect_s, read_s = self.connect_timeout_s, self.read_timeout_s
            if deadline is not None:
                left = deadline - time.monotonic()
                connect_s, read_s = min(connect_s, left), min(read_s, left)
            try:
                status, code = poster.post(connection_id, payload, connect_s, read_s)
            except NewConnectionError:
                return self._failed(connection_id, "EndpointConnectionError", None, attempt)
            except ProtocolError as error:  # closed or reset before any answer
                time_left = deadline is None or deadline - time.monotonic() >= MIN_ATTEMPT_S
                if attempt == 1 and self.max_attempts > 1 and time_left:
                    continue  # once, at once: typically a pooled connection the server closed while idle
                return self._failed(connection_id, type(error).__name__, None, attempt)
            except PostError as error:  # connect/read timeouts, TLS: not retried, logged
                if deadline is not None and deadline - time.monotonic() < MIN_ATTEMPT_S:
                    obs.log("WARNING", "post cut by the deadline", connection_id=connection_id,
                            error=type(error).__name__, attempts=attempt, endpoint=self.endpoint)
                    return "undelivered"
                return self._failed(connection_id, type(error).__name__, None, attempt)
            if 200 <= status < 300:
                return "sent"
            if status == 410:
                return "gone"
            if status == 429 and attempt < self.max_attempts:
                delay = self._backoff(attempt)
                if deadline is None or time.monotonic() + delay + MIN_ATTEMPT_S < deadline:
                    self._sleep(delay)
                    continue
            return self._failed(connection_id, code or f"HTTP {status}", status, attempt)

    def post_many(self, connection_ids: Sequence[str], payload: bytes, *,
                  deadline: float | None = None) -> list[PostOutcome]:
        """Post ``payload`` to each connection (in parallel on the messenger's thread pool; inline
        for a single one); outcomes in the order of ``connection_ids``. Posts not started, or still
        unanswered :data:`DEADLINE_GRACE_S` after ``deadline``, are ``"undelivered"``."""
        if len(connection_ids) <= 1:
            return [self.post(cid, payload, deadline=deadline) for cid in connection_ids]
        from concurrent.futures import wait

        futures = [self._get_executor().submit(self.post, cid, payload, deadline=deadline) for cid in connection_ids]
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic()) + DEADLINE_GRACE_S
        done, pending = wait(futures, timeout=timeout)
        for future in pending:
            future.cancel()
        return [future.result() if future in done else "undelivered" for future in futures]

    def gone_connections(self, connection_ids: list[str]) -> list[str]:
        """The ids among ``connection_ids`` that GetConnection answers 410 Gone for (closed).

        One ``GET @connections/{id}`` each, in order, while the invocation has at least
        :data:`GET_CONNECTION_MIN_BUDGET_S` left. Any other answer or error (403 without GET
        permission, throttling, a timeout) and any id left unchecked count as open: the check may
        only ever release connections, never refuse more. Needs ``execute:ManageConnections`` for GET.
        """
        if not connection_ids:
            return []
        try:
            poster = self._get_poster()
        except CredentialsError as error:
            obs.log("WARNING", "get_connection skipped", unchecked=len(connection_ids), reason=str(error))
            return []
        gone: list[str] = []
        for index, connection_id in enumerate(connection_ids):
            left = budget.remaining_s()
            if left is not None and left < GET_CONNECTION_MIN_BUDGET_S:  # the rest count as open
                obs.log("WARNING", "get_connection skipped", unchecked=len(connection_ids) - index,
                        reason="the invocation's time is running out")
                break
            connect_s, read_s = self.connect_timeout_s, self.read_timeout_s
            if left is not None:  # keep a second for the add that follows
                connect_s, read_s = min(connect_s, left - 1.0), min(read_s, left - 1.0)
            try:
                status, code = poster.request("GET", connection_id, b"", connect_s, read_s)
            except PostError as error:
                obs.log("WARNING", "get_connection failed", connection_id=connection_id,
                        error=type(error).__name__, endpoint=self.endpoint)
                continue
            if status == 410:
                gone.append(connection_id)
            elif not 200 <= status < 300:
                obs.log("WARNING", "get_connection failed", connection_id=connection_id, error=code or f"HTTP {status}",
                        status=status, endpoint=self.endpoint)
        return gone

    def _failed(self, connection_id: str, code: str, status: int | None, attempts: int) -> PostOutcome:
        fields: dict[str, Any] = {"connection_id": connection_id, "error": code, "status": status,
                                  "attempts": attempts, "endpoint": self.endpoint}
        if code == "ForbiddenException" or status == 403:
            fields["hint"] = ENDPOINT_HINT
        elif code == "PayloadTooLargeException" or status == 413:
            fields["hint"] = f"API Gateway refused the message size; keep messages under {MAX_PAYLOAD_BYTES} bytes"
        obs.log("ERROR", "post failed", **fields)
        return "failed"

    def close(self) -> None:
        """Stop the thread pool and close the connection pool (a later post builds new ones)."""
        with self._lock:
            executor, poster = self._executor, self._poster
            self._executor = self._poster = None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        if poster is not None:
            poster.close()


def check_payload_size(payload: bytes) -> None:
    """Raise :class:`PayloadTooLargeError` when ``payload`` exceeds :data:`MAX_PAYLOAD_BYTES`."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLargeError(
            f"message is {len(payload)} bytes; API Gateway accepts at most {MAX_PAYLOAD_BYTES}"
        )
