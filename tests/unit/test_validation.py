"""Email normalisation and connection-type validation."""
from __future__ import annotations

import pytest

from websocket_service.validation import (
    InvalidConnectionTypeError,
    InvalidEmailError,
    normalize_email,
    validate_connection_type,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(" Alice@Example.COM ", "alice@example.com"), ("a.b+tag@sub.example.co.uk", "a.b+tag@sub.example.co.uk"),
     ("x@xn--bcher-kva.example", "x@xn--bcher-kva.example"), ("a" * 64 + "@example.com", "a" * 64 + "@example.com")],
)
def test_valid_addresses_are_normalised(raw, expected):
    assert normalize_email(raw) == expected


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_missing_email_has_its_own_code(raw):
    with pytest.raises(InvalidEmailError) as info:
        normalize_email(raw)
    assert info.value.code == "missing_email"


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("no-at-sign", "exactly one '@'"),
        ("a@b@example.com", "exactly one '@'"),
        ("a b@example.com", "whitespace"),
        ("a\x00b@example.com", "control"),
        ("a@example.com\r\nBcc: x@y.z", "whitespace"),
        ("@example.com", "1 to 64"),
        ("a" * 65 + "@example.com", "1 to 64"),
        ("a@" + "b" * 250 + ".com", "longer than 254"),
        (".a@example.com", "'..'"),
        ("a..b@example.com", "'..'"),
        ("a@localhost", "example.com"),
        ("a@-bad.example", "example.com"),
        ("a@exa_mple.com", "example.com"),
        ("a@example..com", "example.com"),
        ("a@bücher.example", "example.com"),
    ],
)
def test_invalid_addresses_say_what_is_wrong(raw, fragment):
    with pytest.raises(InvalidEmailError) as info:
        normalize_email(raw)
    assert info.value.code == "invalid_email"
    assert fragment in info.value.message


def test_allowed_type_passes_stripped():
    assert validate_connection_type(" general ", ("email-verification", "general")) == "general"


def test_unknown_type_lists_the_accepted_values():
    with pytest.raises(InvalidConnectionTypeError) as info:
        validate_connection_type("admin", ("email-verification", "general"))
    assert info.value.code == "invalid_type"
    assert "email-verification, general" in info.value.message


@pytest.mark.parametrize("raw", [None, ""])
def test_missing_type_has_its_own_code(raw):
    with pytest.raises(InvalidConnectionTypeError) as info:
        validate_connection_type(raw, ("general",))
    assert info.value.code == "missing_type"
