"""The one rule for errors: client faults derive from ClientError, ours from ServiceError (or are
unexpected), and classify_error decides by type alone."""
from __future__ import annotations

import pytest

from websocket_service.config import ConfigError
from websocket_service.errors import INTERNAL_ERROR, ClientError, ServiceError, classify_error
from websocket_service.events import MalformedEventError
from websocket_service.handler import InvalidRequestError
from websocket_service.messenger import CredentialsError, ManagementEndpointError, PayloadTooLargeError
from websocket_service.routes import ActionError
from websocket_service.secrets import SecretFetchError
from websocket_service.store.base import StoreConfigError, StoreConnectError, StoreError
from websocket_service.tokens import TokenError, TokenExpiredError, TokenMissingError
from websocket_service.validation import InvalidConnectionIdError, InvalidEmailError, ValidationError


@pytest.mark.parametrize(("error", "status", "code"), [
    (InvalidEmailError("bad"), 400, "invalid_email"),
    (InvalidConnectionIdError("bad"), 400, "invalid_connection_id"),
    (ValidationError("invalid_type", "bad"), 400, "invalid_type"),
    (MalformedEventError("bad"), 400, "malformed_event"),
    (InvalidRequestError("bad"), 400, "invalid_request"),
    (PayloadTooLargeError("big"), 413, "payload_too_large"),
    (TokenMissingError("none"), 401, "token_missing"),
    (TokenExpiredError("old"), 403, "token_expired"),
    (ActionError("teapot", "no", status_code=418), 418, "teapot"),
])
def test_client_errors_carry_their_status_and_code(error, status, code):
    info = classify_error(error)
    assert (info.client, info.status, info.code, info.message) == (True, status, code, str(error))


@pytest.mark.parametrize(("error", "code"), [
    (ConfigError("X=1 is bad"), "config_error"),
    (StoreConfigError("DATABASE_URL is bad"), "config_error"),
    (SecretFetchError("denied"), "config_error"),
    (ManagementEndpointError("wss://"), "config_error"),
    (CredentialsError("none"), "config_error"),
    (StoreError("timeout"), "store_error"),
    (StoreConnectError("refused"), "store_error"),
])
def test_our_known_failures_keep_their_code(error, code):
    info = classify_error(error)
    assert (info.client, info.status, info.code, info.message) == (False, 500, code, str(error))


def test_a_subclass_code_wins_whatever_the_base():
    class SaturatedError(StoreConnectError):
        code = "database_saturated"

    class ForeignError(RuntimeError):  # not ours at all, but it declares a code
        code = "upstream_down"

    assert classify_error(SaturatedError("too many clients")).code == "database_saturated"
    assert classify_error(ForeignError("x")).code == "upstream_down"


@pytest.mark.parametrize("error", [RuntimeError("boom"), RecursionError(), KeyError("k"), ServiceError("x")])
def test_anything_else_is_an_internal_error_without_detail(error):
    info = classify_error(error)
    assert (info.client, info.status, info.code) == (False, 500, INTERNAL_ERROR)
    assert info.message == f"unexpected {type(error).__name__}; see the function logs"


def test_a_code_that_is_not_a_string_does_not_count():
    class Odd(Exception):
        code = 42

    assert classify_error(Odd()).code == INTERNAL_ERROR


def test_the_two_hierarchies_do_not_overlap():
    for client in (ValidationError, MalformedEventError, InvalidRequestError, PayloadTooLargeError, TokenError,
                   ActionError):
        assert issubclass(client, ClientError) and not issubclass(client, ServiceError)
    for ours in (ConfigError, StoreError, SecretFetchError, ManagementEndpointError, CredentialsError):
        assert issubclass(ours, ServiceError) and not issubclass(ours, ClientError)
