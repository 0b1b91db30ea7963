"""Plain HTTP responses of the gateway (management API, pages, refused WebSocket handshakes).

Management API errors carry ``x-amzn-ErrorType`` and a JSON body the way API Gateway sends them,
so botocore and the JS SDK v3 raise the same modelled exceptions (``GoneException``,
``PayloadTooLargeException``, ``ForbiddenException``, ``BadRequestException``) as against AWS.
``Connection`` is set when the response is written (keep-alive unless the client asked to close);
websockets closes the connection after a refused handshake itself.
"""
from __future__ import annotations

import email.utils
import http
import json
import time
from typing import Any

from websockets.datastructures import Headers
from websockets.http11 import Response

from .events import new_id


def reason_phrase(status: int) -> str:
    """The standard reason phrase of ``status``, or a generic one for unregistered codes."""
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Client Error" if 400 <= status < 500 else "Error"


_date_cache: tuple[int, str] = (-1, "")


def http_date() -> str:
    """The current time as an HTTP ``Date`` value (``email.utils.formatdate(usegmt=True)``),
    formatted once per second: every answer carries one and it only changes each second."""
    global _date_cache
    second = int(time.time())
    cached_second, text = _date_cache
    if cached_second != second:
        text = email.utils.formatdate(second, usegmt=True)
        _date_cache = (second, text)
    return text


def http_response(
    status: int,
    body: bytes = b"",
    *,
    content_type: str | None = None,
    extra_headers: dict[str, str] | None = None,
) -> Response:
    """A complete HTTP/1.1 response with ``Date``, ``x-amzn-RequestId`` and ``Content-Length``."""
    headers = Headers([("Date", http_date()), ("x-amzn-RequestId", new_id()),
                       ("X-Content-Type-Options", "nosniff")])
    if status not in (204, 304):
        headers["Content-Length"] = str(len(body))
        if content_type:
            headers["Content-Type"] = content_type
    for name, value in (extra_headers or {}).items():
        headers[name] = value
    return Response(status, reason_phrase(status), headers, body if status not in (204, 304) else b"")


def json_response(status: int, payload: Any, *, extra_headers: dict[str, str] | None = None) -> Response:
    """A JSON response (``application/json``)."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    return http_response(status, body, content_type="application/json", extra_headers=extra_headers)


def aws_error(status: int, error_type: str, message: str) -> Response:
    """An API Gateway management API error that botocore and the JS SDK map to ``error_type``."""
    return json_response(status, {"message": message}, extra_headers={"x-amzn-ErrorType": error_type})


def gone() -> Response:
    """410 ``GoneException`` for a connection that is not (or no longer, or not yet) open.

    API Gateway sends the error type header and an empty body (the Java SDK reports a null
    message, the PHP SDK fails to parse JSON, the JS SDK v2 falls back to "410"); SDKs take the
    exception name from ``x-amzn-ErrorType``.
    """
    return http_response(410, b"", content_type="application/json", extra_headers={"x-amzn-ErrorType": "GoneException"})


def text_response(status: int, text: str) -> Response:
    """A short plain-text response."""
    return http_response(status, text.encode(), content_type="text/plain; charset=utf-8")


PAGE_SECURITY_HEADERS = {
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
"""On every HTML page: no other site may frame it (a framed click on the console's Disconnect),
and its URL (which may carry a connect token) is not sent as a referrer."""


def html_response(html: str) -> Response:
    """A 200 HTML page that browsers must not cache, frame or sniff (:data:`PAGE_SECURITY_HEADERS`)."""
    return http_response(
        200, html.encode(), content_type="text/html; charset=utf-8",
        extra_headers={"Cache-Control": "no-store", **PAGE_SECURITY_HEADERS},
    )


def refused(status: int, message: str) -> Response:
    """A refusal by the gateway itself (Host, cross-site): one line of JSON, ``{"message": ...}``."""
    return json_response(status, {"message": message}, extra_headers={"x-amzn-ErrorType": "ForbiddenException"})
