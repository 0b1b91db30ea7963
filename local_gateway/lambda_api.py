"""AWS Lambda's Invoke API, served by the local gateway on its own port.

``POST /2015-03-31/functions/{FunctionName}/invocations`` calls the gateway's handler the way
Lambda does, so boto3's ``lambda`` client works unchanged with ``endpoint_url=http://HOST:PORT``
and any credentials -- the same path a backend (and ``wsctl smoke``) uses against a deployed
stack::

    boto3.client("lambda", endpoint_url="http://127.0.0.1:8080").invoke(
        FunctionName="websocket-service-local", Payload=b'{"action":"notify",...}')

Answers as Lambda does:

* ``RequestResponse`` (the default): 200 with the handler's return value as JSON. When the
  handler raises: still 200, with ``X-Amz-Function-Error: Unhandled`` and a body
  ``{"errorMessage", "errorType", "requestId", "stackTrace"}``; past the function timeout
  ``errorType`` is ``Sandbox.Timedout``.
* ``Event``: 202 with an empty body; the handler runs in the background. ``DryRun``: 204.
* A name that is not this function (by name, full or partial ARN), or a qualifier other than
  ``$LATEST``: 404 ``ResourceNotFoundException`` ``Function not found: ARN``.
* A payload that is not JSON: 400 ``InvalidRequestContentException``; larger than 6 MB: 413
  ``RequestTooLargeException``. An empty payload reaches the handler as ``{}``.

Not emulated: ``X-Amz-Log-Type: Tail`` (no ``LogResult``), client context, versions and aliases.
"""
from __future__ import annotations

import asyncio
import json
import time
import traceback
from typing import Any, Callable, Coroutine, Mapping
from urllib.parse import parse_qs, unquote, urlsplit

from websockets.http11 import Response

from . import responses
from .logs import get_logger

logger = get_logger("local_gateway.lambda")

INVOKE_PATH_PREFIX = "/2015-03-31/functions/"
INVOKE_PATH_SUFFIX = "/invocations"
INVOKE_PATH_PATTERN = r"/2015-03-31/functions/[^/]+/invocations"
"""The Invoke path, as a pattern over the percent-decoded path (for the gateway's routing table)."""
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
"""Lambda's synchronous invocation payload quota (6 MB, 6,291,456 bytes)."""
DEFAULT_FUNCTION_TIMEOUT_S = 120.0
"""The timeout of the stack's ops function, the one backends invoke (``opsFunctionTimeoutSeconds``)."""
LATEST = "$LATEST"
ACCOUNT_ID = "000000000000"
REGION = "us-east-1"

Handler = Callable[[Any, Any], Any]


def function_arn(name: str) -> str:
    """The (fake) ARN of the local function ``name``."""
    return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"


def _split_function_name(value: str) -> tuple[str, str | None]:
    """(name, qualifier) of a function name, full ARN or partial ARN (``ACCOUNT:function:NAME``)."""
    parts = value.split(":")
    if parts[0] == "arn" and len(parts) in (7, 8) and parts[5] == "function":
        return parts[6], parts[7] if len(parts) == 8 else None
    if len(parts) in (3, 4) and parts[1] == "function":
        return parts[2], parts[3] if len(parts) == 4 else None
    if len(parts) in (1, 2):
        return parts[0], parts[1] if len(parts) == 2 else None
    return value, None


def _lambda_error(status: int, error_type: str, message: str) -> Response:
    """A Lambda API error botocore maps to ``error_type`` (header plus ``Type``/``Message`` body)."""
    return responses.json_response(
        status, {"Type": "User", "Message": message}, extra_headers={"x-amzn-ErrorType": error_type}
    )


class LambdaInvokeApi:
    """Lambda's Invoke API for one function, answered from the gateway's request hook.

    Args:
        function_name: the function's name; calls naming anything else get 404.
        handler: called as ``handler(event, context)`` in a worker thread.
        make_context: builds the Lambda context for an invocation given its timeout in seconds.
        spawn: runs a coroutine in the background (``Event`` invocations).
        timeout_s: the function timeout; a handler still running then answers ``Sandbox.Timedout``.
    """

    def __init__(
        self,
        *,
        function_name: str,
        handler: Handler,
        make_context: Callable[[float], Any],
        spawn: Callable[[Coroutine[Any, Any, Any]], None],
        timeout_s: float = DEFAULT_FUNCTION_TIMEOUT_S,
    ) -> None:
        self.function_name = function_name
        self.timeout_s = timeout_s
        self._handler = handler
        self._make_context = make_context
        self._spawn = spawn

    @staticmethod
    def handles(path: str) -> bool:
        """True for a request path (query allowed) under ``/2015-03-31/functions/``."""
        return urlsplit(path).path.startswith(INVOKE_PATH_PREFIX)

    async def handle(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes, body_length: int
    ) -> Response:
        """Answer one request whose path :meth:`handles` accepted."""
        url = urlsplit(path)
        rest = url.path[len(INVOKE_PATH_PREFIX):]
        if method != "POST" or not rest.endswith(INVOKE_PATH_SUFFIX) or "/" in rest[: -len(INVOKE_PATH_SUFFIX)]:
            return _lambda_error(404, "UnknownOperationException", f"{method} {url.path} is not a Lambda operation here")
        requested = unquote(rest[: -len(INVOKE_PATH_SUFFIX)])
        name, qualifier = _split_function_name(requested)
        qualifier = qualifier or (parse_qs(url.query).get("Qualifier") or [None])[0]
        if name != self.function_name or qualifier not in (None, LATEST):
            suffix = f":{qualifier}" if qualifier else ""
            logger.info("Invoke %s -> 404", requested)
            return _lambda_error(404, "ResourceNotFoundException", f"Function not found: {function_arn(name)}{suffix}")
        if body_length > MAX_PAYLOAD_BYTES:
            return _lambda_error(
                413, "RequestTooLargeException",
                f"Request must be smaller than {MAX_PAYLOAD_BYTES} bytes for the InvokeFunction operation",
            )
        try:
            event = json.loads(body) if body.strip() else {}
        except ValueError as exc:
            return _lambda_error(400, "InvalidRequestContentException", f"Could not parse request body into json: {exc}")
        except RecursionError:  # ~1,000 nested arrays/objects exhaust the decoder's stack
            return _lambda_error(400, "InvalidRequestContentException",
                                 "Could not parse request body into json: nested too deeply")
        invocation_type = headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if invocation_type == "DryRun":
            return responses.http_response(204)
        if invocation_type == "Event":
            self._spawn(self._invoke(event))
            return responses.http_response(202)
        if invocation_type != "RequestResponse":
            return _lambda_error(
                400, "InvalidParameterValueException",
                f"X-Amz-Invocation-Type {invocation_type!r} is invalid; expected RequestResponse, Event or DryRun",
            )
        status_headers, payload = await self._invoke(event)
        return responses.http_response(200, payload, content_type="application/json",
                                       extra_headers={"X-Amz-Executed-Version": LATEST, **status_headers})

    async def _invoke(self, event: Any) -> tuple[dict[str, str], bytes]:
        """Run the handler; (extra headers, response payload) as Lambda would return them."""
        context = self._make_context(self.timeout_s)
        request_id = context.aws_request_id
        started = time.monotonic()
        try:
            result = await asyncio.wait_for(asyncio.to_thread(self._handler, event, context), self.timeout_s)
            payload = json.dumps(result).encode()
        except TimeoutError:
            logger.error("Invoke %s timed out after %.2f s", self.function_name, self.timeout_s)
            return self._unhandled({
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"RequestId: {request_id} Error: Task timed out after {self.timeout_s:.2f} seconds",
            })
        except Exception as exc:  # noqa: BLE001 - reported to the caller as Lambda reports it
            logger.info("Invoke %s raised %s (%.0f ms)", self.function_name, type(exc).__name__,
                        (time.monotonic() - started) * 1000)
            return self._unhandled({
                "errorMessage": str(exc),
                "errorType": type(exc).__name__,
                "requestId": request_id,
                "stackTrace": traceback.format_list(traceback.extract_tb(exc.__traceback__)),
            })
        logger.info("Invoke %s -> 200 (%.0f ms)", self.function_name, (time.monotonic() - started) * 1000)
        return {}, payload

    @staticmethod
    def _unhandled(error: dict[str, Any]) -> tuple[dict[str, str], bytes]:
        return {"X-Amz-Function-Error": "Unhandled"}, json.dumps(error).encode()
