"""Posting to connected clients through the API Gateway Management API (``@connections``).

``boto3`` is imported only when the first post happens, so ``$connect``/``$disconnect`` cold
starts never pay for it. botocore URL-encodes the connection id in ``@connections/{id}`` (ids such
as ``BFHPhfCWIAMCKlQ=`` contain ``=``), and its own retries are switched off: throttling (429) is
retried here with bounded exponential backoff and full jitter, so the attempt count is ours.

Outcomes of :meth:`Messenger.post`: ``"sent"``, ``"gone"`` (410: the client left; mark it
inactive) or ``"failed"`` (anything else, logged with a hint).
"""
from __future__ import annotations

import ipaddress
import random
import threading
import time
from typing import Any, Callable, Literal
from urllib.parse import urlsplit

from . import observability as obs
from .config import ENV_MANAGEMENT_ENDPOINT
from .errors import ClientError, ServiceError

MAX_PAYLOAD_BYTES = 131_072
"""API Gateway's limit for one message / one management API POST body (128 KB)."""
MAX_PARALLEL_POSTS = 16
"""Threads used by parallel posts; also the size of botocore's connection pool."""
ENDPOINT_FORM = "https://{api}.execute-api.{region}.amazonaws.com/{stage}"
ENDPOINT_HINT = (
    f"check {ENV_MANAGEMENT_ENDPOINT}: it must be the management endpoint {ENDPOINT_FORM} "
    "(https, not wss://, no custom domain, with the stage path), and the role needs "
    "execute-api:ManageConnections on it"
)
DEFAULT_REGION = "us-east-1"

PostOutcome = Literal["sent", "gone", "failed"]


class ManagementEndpointError(ServiceError, ValueError):
    """The management endpoint setting is missing or not of the form :data:`ENDPOINT_FORM`."""

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


class Messenger:
    """Posts messages to connections through one management endpoint.

    ``client`` lets a caller share an existing ``apigatewaymanagementapi`` client; by default one is
    created lazily (thread-safe) on the first post. ``max_attempts``/``base_delay_s``/
    ``max_delay_s`` bound the 429 retries; ``sleep`` is the wait function.
    """

    def __init__(
        self,
        endpoint: str | None,
        *,
        client: Any = None,
        max_attempts: int = 4,
        base_delay_s: float = 0.1,
        max_delay_s: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.endpoint = validate_management_endpoint(endpoint)
        self.max_attempts = max_attempts
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self._sleep = sleep
        self._client = client
        self._lock = threading.Lock()

    def _get_client(self) -> Any:
        with self._lock:
            if self._client is None:
                import boto3  # deferred: keeps boto3 off the $connect/$disconnect cold path
                from botocore.config import Config

                config = Config(
                    connect_timeout=3,
                    read_timeout=5,
                    max_pool_connections=MAX_PARALLEL_POSTS,
                    retries={"total_max_attempts": 1, "mode": "standard"},
                )
                self._client = boto3.session.Session().client(
                    "apigatewaymanagementapi",
                    endpoint_url=self.endpoint,
                    region_name=region_of(self.endpoint),
                    config=config,
                )
            return self._client

    def _backoff(self, attempt: int) -> float:
        """Full-jitter exponential backoff for retry number ``attempt`` (1-based)."""
        return random.uniform(0, min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1)))

    def post(self, connection_id: str, data: bytes | str) -> PostOutcome:
        """Send ``data`` to one connection; return ``"sent"``, ``"gone"`` or ``"failed"``.

        Raises :class:`PayloadTooLargeError` (before any request) when ``data`` is over
        :data:`MAX_PAYLOAD_BYTES`.
        """
        payload = data.encode("utf-8") if isinstance(data, str) else data
        check_payload_size(payload)
        client = self._get_client()
        from botocore.exceptions import BotoCoreError, ClientError

        attempt = 0
        while True:
            attempt += 1
            try:
                client.post_to_connection(ConnectionId=connection_id, Data=payload)
                return "sent"
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code", "")
                status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            except BotoCoreError as error:  # connection refused, timeouts: not retried, logged
                return self._failed(connection_id, type(error).__name__, None, attempt)
            if code == "GoneException" or status == 410:
                return "gone"
            if (code == "LimitExceededException" or status == 429) and attempt < self.max_attempts:
                self._sleep(self._backoff(attempt))
                continue
            return self._failed(connection_id, code, status, attempt)

    def _failed(self, connection_id: str, code: str, status: int | None, attempts: int) -> PostOutcome:
        fields: dict[str, Any] = {"connection_id": connection_id, "error": code, "status": status,
                                  "attempts": attempts, "endpoint": self.endpoint}
        if code == "ForbiddenException" or status == 403:
            fields["hint"] = ENDPOINT_HINT
        obs.log("ERROR", "post failed", **fields)
        return "failed"


def check_payload_size(payload: bytes) -> None:
    """Raise :class:`PayloadTooLargeError` when ``payload`` exceeds :data:`MAX_PAYLOAD_BYTES`."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLargeError(
            f"message is {len(payload)} bytes; API Gateway accepts at most {MAX_PAYLOAD_BYTES}"
        )
