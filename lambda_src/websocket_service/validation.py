"""Validation of the user-supplied email address and connection type.

These are business rules, so they live above the store: the store receives an already normalised
address. Every failure is a :class:`ValidationError` with an API ``code`` and a message that says
what is wrong (never echoing more than needed).
"""
from __future__ import annotations

import re
from typing import Iterable

MAX_EMAIL_LENGTH = 254
MAX_LOCAL_PART_LENGTH = 64
_DOMAIN_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


class ValidationError(ValueError):
    """A request field is missing or invalid; ``code`` is the API error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class InvalidEmailError(ValidationError):
    """The email address is missing or not a plausible address."""

    def __init__(self, message: str, *, code: str = "invalid_email") -> None:
        super().__init__(code, message)


class InvalidConnectionTypeError(ValidationError):
    """The connection type is missing or not one of ``ALLOWED_CONNECTION_TYPES``."""

    def __init__(self, message: str, *, code: str = "invalid_type") -> None:
        super().__init__(code, message)


def _has_space_or_control(text: str) -> bool:
    return any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in text)


def normalize_email(raw: str | None) -> str:
    """Strip and lower-case an address and check it is plausible; return the normalised form.

    Rules: at most 254 characters, exactly one ``@``, a local part of 1..64 characters without
    leading/trailing/double dots, no whitespace or control characters, and a domain of at least two
    dot-separated LDH labels (IDN domains must be given in their ``xn--`` form).
    """
    if raw is None or not raw.strip():
        raise InvalidEmailError("email is required", code="missing_email")
    email = raw.strip().lower()
    if len(email) > MAX_EMAIL_LENGTH:
        raise InvalidEmailError(f"email is longer than {MAX_EMAIL_LENGTH} characters")
    if _has_space_or_control(email):
        raise InvalidEmailError("email must not contain whitespace or control characters")
    if email.count("@") != 1:
        raise InvalidEmailError("email must contain exactly one '@'")
    local, domain = email.split("@")
    if not local or len(local) > MAX_LOCAL_PART_LENGTH:
        raise InvalidEmailError(f"the part before '@' must be 1 to {MAX_LOCAL_PART_LENGTH} characters")
    if local.startswith(".") or local.endswith(".") or ".." in local:
        raise InvalidEmailError("the part before '@' must not start or end with '.' or contain '..'")
    labels = domain.split(".")
    if len(labels) < 2 or not all(_DOMAIN_LABEL.fullmatch(label) for label in labels):
        raise InvalidEmailError("the domain must look like 'example.com' (letters, digits, hyphens)")
    return email


def validate_connection_type(raw: str | None, allowed: Iterable[str]) -> str:
    """Return ``raw`` stripped if it is one of ``allowed``; else raise naming the accepted values."""
    allowed = tuple(allowed)
    if raw is None or not raw.strip():
        raise InvalidConnectionTypeError(
            f"type is required; one of: {', '.join(allowed)}", code="missing_type"
        )
    value = raw.strip()
    if value not in allowed:
        raise InvalidConnectionTypeError(f"type must be one of: {', '.join(allowed)}")
    return value
