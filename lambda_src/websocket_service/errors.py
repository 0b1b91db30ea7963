"""The one rule for errors, expressed in types.

* :class:`ClientError` -- the caller's input is wrong (a bad field, a malformed event, an invalid
  token, an oversize message). Retrying the same request cannot help. The handler answers a
  WebSocket route with ``status`` (a 4xx) and ``{"error": code, "message": ...}``, a direct
  invoke with ``{"ok": false, "error": code, "message": ...}``, logs at WARNING and never counts
  it in ``ServiceFailures``.
* Everything else is OUR fault. :class:`ServiceError` is the base of the failures we know
  (configuration, store, secrets); its ``code`` (a class attribute, e.g. ``"store_error"`` or a
  subclass's ``"database_saturated"``) is what results and logs show. Any other exception is an
  ``internal_error``. The handler logs them at ERROR, counts them in ``ServiceFailures``, answers
  WebSocket clients 500 ``service_unavailable`` and raises from direct invokes.

The handler classifies by these types only (:func:`classify_error`), never by lists of classes.
"""
from __future__ import annotations

from dataclasses import dataclass

INTERNAL_ERROR = "internal_error"
"""Code of an unexpected exception (a bug): the detail is in the log, never in the answer."""


class ClientError(Exception):
    """Base of every client-caused problem: ``status`` (4xx) and ``code`` say what to answer.

    Subclasses set ``status`` and ``code`` as class attributes; ``code`` may also be given per
    instance (e.g. ``missing_email`` vs ``invalid_email`` from one class).
    """

    status: int = 400
    code: str = "invalid_request"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status


class ServiceError(Exception):
    """Base of failures on our side that we recognise; ``code`` names the kind for operators."""

    code: str = INTERNAL_ERROR


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """How the handler answers and logs one exception."""

    code: str
    message: str
    client: bool
    status: int
    """The WebSocket status: the client error's 4xx, else 500."""


def classify_error(error: BaseException) -> ErrorInfo:
    """Map an exception to what the handler answers and logs (see the module docstring).

    A server-side exception keeps a ``code`` class attribute when it has a non-empty string one
    (e.g. ``StoreSaturatedError.code == "database_saturated"``), whatever its base class.
    """
    if isinstance(error, ClientError):
        return ErrorInfo(error.code, error.message, True, error.status)
    code = getattr(type(error), "code", None)
    if isinstance(code, str) and code and code != INTERNAL_ERROR:
        return ErrorInfo(code, str(error), False, 500)
    return ErrorInfo(INTERNAL_ERROR, f"unexpected {type(error).__name__}; see the function logs", False, 500)
