"""Validation at the edge: everything a client controls is checked before any SQL runs.

* identifiers the store keys on (connection id, email, connection type) are REFUSED when they hold
  NUL, control or format characters, lone surrogates (not encodable as UTF-8) or absurd lengths;
* text that is merely recorded (User-Agent, source IP, domain name, stage, disconnect reason) is
  CLEANED (those characters removed) and truncated, so it never fails an insert.

Both stores therefore see only text they can both store, and answer the same event the same way.
These are business rules, so they live above the store: the store receives an already normalised
address. Every failure is a :class:`ValidationError` (a client error, 400) with an API ``code``
and a message that says what is wrong (never echoing the value).
"""
from __future__ import annotations

import re
import unicodedata
from typing import Iterable

from .errors import ClientError

MAX_EMAIL_LENGTH = 254
MAX_LOCAL_PART_LENGTH = 64
_DOMAIN_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"(?:{_DOMAIN_LABEL}\.)+{_DOMAIN_LABEL}")
"""At least two dot-separated LDH labels (a label cannot hold a dot: no backtracking across them)."""
MAX_CONNECTION_ID_CHARS = 128
_CONNECTION_ID = re.compile(r"[A-Za-z0-9+/=_-]{1,%d}" % MAX_CONNECTION_ID_CHARS)
"""API Gateway ids are 16 base64 characters (``BFHPhfCWIAMCKlQ=``); we accept base64/base64url
characters up to :data:`MAX_CONNECTION_ID_CHARS` (the local gateway and tests use other lengths)."""
MAX_USER_AGENT_CHARS = 512
MAX_SOURCE_IP_CHARS = 64
MAX_DOMAIN_CHARS = 253
MAX_STAGE_CHARS = 128
MAX_REASON_CHARS = 256
MAX_CLOSE_CODE = 65_535
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
"""Unicode categories never allowed in identifiers and removed from recorded text: control,
format (zero-width, bidi overrides), lone surrogates, private use, unassigned, line/paragraph
separators."""


class ValidationError(ClientError, ValueError):
    """A request field is missing or invalid (400); ``code`` is the API error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


class InvalidConnectionIdError(ValidationError):
    """``requestContext.connectionId`` is missing or not an API Gateway-style id."""

    def __init__(self, message: str) -> None:
        super().__init__("invalid_connection_id", message)


class InvalidEmailError(ValidationError):
    """The email address is missing or not a plausible address."""

    def __init__(self, message: str, *, code: str = "invalid_email") -> None:
        super().__init__(code, message)


class InvalidConnectionTypeError(ValidationError):
    """The connection type is missing or not one of ``ALLOWED_CONNECTION_TYPES``."""

    def __init__(self, message: str, *, code: str = "invalid_type") -> None:
        super().__init__(code, message)


def _is_refused_char(ch: str) -> bool:
    return unicodedata.category(ch) in _REFUSED_CATEGORIES


def _has_space_or_control(text: str) -> bool:
    if text.isascii():  # ASCII: the refused characters (Cc) and whitespace other than " " are the unprintable ones
        return not text.isprintable() or " " in text
    return any(ch.isspace() or _is_refused_char(ch) for ch in text)


def validate_connection_id(raw: object) -> str:
    """Return ``raw`` if it is a connection id we can key on: 1..128 characters of
    ``A-Z a-z 0-9 + / = _ -``; else raise :class:`InvalidConnectionIdError` (400)."""
    if not isinstance(raw, str) or not _CONNECTION_ID.fullmatch(raw):
        raise InvalidConnectionIdError(
            f"requestContext.connectionId must be 1 to {MAX_CONNECTION_ID_CHARS} characters of "
            "A-Z a-z 0-9 + / = _ - (an API Gateway connection id)"
        )
    return raw


def clean_recorded_text(raw: str | None, max_chars: int) -> str | None:
    """Text that is only recorded (headers, reasons): control/format characters, lone surrogates
    and other unstorable characters removed, whitespace trimmed, at most ``max_chars`` kept;
    None when nothing is left."""
    if raw is None:
        return None
    if raw.isascii() and raw.isprintable():  # the common case, without a per-character scan
        text = raw.strip()
    else:
        text = "".join(ch for ch in raw if not _is_refused_char(ch)).strip()
    return text[:max_chars] or None


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(text: str) -> str:
    """``text`` with only A-Z lower-cased.

    ``str.lower()`` also folds non-ASCII letters, some onto ASCII ones (U+212A KELVIN SIGN becomes
    ``k``, U+0130 becomes ``i̇``), so ``\u212aate@example.com`` would become kate's address. Emails
    and tokens use this one normalisation: every other character stays as sent, a different address.
    """
    return text.translate(_ASCII_LOWER)


def normalize_email(raw: str | None) -> str:
    """Strip and lower-case (A-Z only: :func:`ascii_lower`) an address and check it is plausible;
    return the normalised form.

    Rules: at most 254 characters, exactly one ``@``, a local part of 1..64 characters without
    leading/trailing/double dots, no whitespace, control or format characters or lone surrogates
    (NUL included), and a domain of at least two
    dot-separated LDH labels (IDN domains must be given in their ``xn--`` form).
    """
    if raw is None or not raw.strip():
        raise InvalidEmailError("email is required", code="missing_email")
    email = raw.strip().translate(_ASCII_LOWER)  # ascii_lower, without its call
    if len(email) > MAX_EMAIL_LENGTH:
        raise InvalidEmailError(f"email is longer than {MAX_EMAIL_LENGTH} characters")
    if _has_space_or_control(email):
        raise InvalidEmailError("email must not contain whitespace, control characters or lone surrogates")
    if email.count("@") != 1:
        raise InvalidEmailError("email must contain exactly one '@'")
    local, domain = email.split("@")
    if not local or len(local) > MAX_LOCAL_PART_LENGTH:
        raise InvalidEmailError(f"the part before '@' must be 1 to {MAX_LOCAL_PART_LENGTH} characters")
    if local.startswith(".") or local.endswith(".") or ".." in local:
        raise InvalidEmailError("the part before '@' must not start or end with '.' or contain '..'")
    if not _DOMAIN.fullmatch(domain):
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
