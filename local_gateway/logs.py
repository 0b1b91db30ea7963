"""The gateway's loggers: every line it writes has control characters escaped.

Request paths, headers and reasons come from clients; a ``%0a`` in a path would forge a log line
and a ``%1b`` would put terminal escapes on the developer's terminal. :func:`get_logger` returns
a logger whose records are rewritten by :class:`EscapeControlCharacters` before any handler sees
them: C0 and C1 control characters, DEL and the Unicode line/paragraph separators become ``\\n``,
``\\r``, ``\\t`` or ``\\xNN``/``\\uNNNN``. (Tracebacks attached with ``exc_info`` are left as
they are: they are ours.)
"""
from __future__ import annotations

import logging
import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_controls(text: str) -> str:
    """``text`` with every control character written as a visible escape (one line, no ESC)."""
    return _CONTROL.sub(lambda m: _NAMED.get(m.group(), m.group().encode("unicode_escape").decode("ascii")), text)


class EscapeControlCharacters(logging.Filter):
    """Formats a record's message once and escapes its control characters (never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        escaped = escape_controls(message)
        if escaped != message or record.args:
            record.msg, record.args = escaped, ()
        return True


_FILTER = EscapeControlCharacters()


def get_logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)`` with control characters escaped in every record it creates."""
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger
