"""The gateway's loggers: every line it writes has control characters escaped.

Request paths, headers and reasons come from clients; a ``%0a`` in a path would forge a log line
and a ``%1b`` would put terminal escapes on the developer's terminal. :func:`get_logger` returns
a logger whose records are rewritten by :class:`EscapeControlCharacters` before any handler sees
them: C0 and C1 control characters, DEL and the Unicode line/paragraph separators become ``\\n``,
``\\r``, ``\\t`` or ``\\xNN``/``\\uNNNN``. A traceback attached with ``exc_info`` keeps its own
line breaks, but the exception's message (which may quote a client's bytes) is escaped to one line
and the rest has every other control character escaped, so it cannot forge a line either.
"""
from __future__ import annotations

import logging
import re
import traceback

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_controls(text: str) -> str:
    """``text`` with every control character written as a visible escape (one line, no ESC)."""
    return _CONTROL.sub(lambda m: _NAMED.get(m.group(), m.group().encode("unicode_escape").decode("ascii")), text)


def _escape_lines(text: str) -> str:
    """``text`` with its line breaks kept and every other control character escaped."""
    return "\n".join(escape_controls(line) for line in text.split("\n"))


def format_traceback(error: traceback.TracebackException) -> str:
    """A traceback as ``logging`` prints it (chained exceptions included), except that each
    exception's message is escaped to one line: it is the part a client's input can reach."""
    parts: list[str] = []
    if error.__cause__ is not None:
        parts += [format_traceback(error.__cause__), "\n\nThe above exception was the direct cause of the following exception:\n\n"]
    elif error.__context__ is not None and not error.__suppress_context__:
        parts += [format_traceback(error.__context__), "\n\nDuring handling of the above exception, another exception occurred:\n\n"]
    if error.stack:
        parts += ["Traceback (most recent call last):\n", _escape_lines("".join(error.stack.format()))]
    parts.append(escape_controls("".join(error.format_exception_only()).rstrip("\n")))
    return "".join(parts)


class EscapeControlCharacters(logging.Filter):
    """Formats a record's message once and escapes its control characters, and its traceback as
    :func:`format_traceback` does (never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        escaped = escape_controls(message)
        if escaped != message or record.args:
            record.msg, record.args = escaped, ()
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            record.exc_text = format_traceback(traceback.TracebackException(*record.exc_info))
        return True


_FILTER = EscapeControlCharacters()


def get_logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)`` with control characters escaped in every record it creates."""
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger
