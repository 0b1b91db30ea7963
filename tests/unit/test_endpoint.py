"""Management endpoint validation, region derivation and the payload size check (no network)."""
from __future__ import annotations


import pytest

from websocket_service.messenger import (
    MAX_PAYLOAD_BYTES,
    ManagementEndpointError,
    Messenger,
    PayloadTooLargeError,
    check_payload_size,
    region_of,
    validate_management_endpoint,
)

AWS_ENDPOINT = "https://abc123.execute-api.eu-west-1.amazonaws.com/prod"
EXPECTED_FORM = "https://{api}.execute-api.{region}.amazonaws.com/{stage}"


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        (AWS_ENDPOINT, AWS_ENDPOINT),
        (f"{AWS_ENDPOINT}/", AWS_ENDPOINT),
        ("http://127.0.0.1:8080/local", "http://127.0.0.1:8080/local"),
        ("http://localhost:9000/prod", "http://localhost:9000/prod"),
        ("http://[::1]:9000/prod", "http://[::1]:9000/prod"),
    ],
)
def test_valid_endpoints_are_normalised(url, normalised):
    assert validate_management_endpoint(url) == normalised


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        (None, "is not set"),
        ("", "is not set"),
        ("wss://abc123.execute-api.us-east-1.amazonaws.com/prod", "wss://"),
        ("https://abc123.execute-api.us-east-1.amazonaws.com", "exactly one path segment"),
        ("https://abc123.execute-api.us-east-1.amazonaws.com/prod/@connections", "exactly one path segment"),
        ("http://abc123.execute-api.us-east-1.amazonaws.com/prod", "non-loopback"),
        ("https:///prod", "no host"),
        ("https://abc123.execute-api.us-east-1.amazonaws.com/prod?x=1", "query string"),
    ],
)
def test_invalid_endpoints_name_the_variable_and_the_expected_form(url, fragment):
    with pytest.raises(ManagementEndpointError) as info:
        validate_management_endpoint(url)
    message = str(info.value)
    assert "AWS_WEBSOCKET_API_GATEWAY_ENDPOINT" in message
    assert EXPECTED_FORM in message
    assert fragment in message


@pytest.mark.parametrize(
    ("url", "region"),
    [("https://abc.execute-api.ap-south-2.amazonaws.com/prod", "ap-south-2"), ("http://127.0.0.1:1/prod", "us-east-1")],
)
def test_region_comes_from_the_endpoint_host(url, region):
    assert region_of(url) == region


def test_payload_limit_is_inclusive():
    check_payload_size(b"x" * MAX_PAYLOAD_BYTES)
    with pytest.raises(PayloadTooLargeError, match=str(MAX_PAYLOAD_BYTES)):
        check_payload_size(b"x" * (MAX_PAYLOAD_BYTES + 1))


def test_messenger_validates_its_endpoint_and_attempts():
    with pytest.raises(ManagementEndpointError):
        Messenger("wss://abc.execute-api.us-east-1.amazonaws.com/prod")
    with pytest.raises(ValueError, match="max_attempts"):
        Messenger("http://127.0.0.1:1/prod", max_attempts=0)


def test_oversize_post_is_refused_before_any_client_exists():
    messenger = Messenger("http://127.0.0.1:1/prod")
    with pytest.raises(PayloadTooLargeError):
        messenger.post("abc=", "x" * (MAX_PAYLOAD_BYTES + 1))
    assert messenger._poster is None  # nothing was built, nothing was sent
