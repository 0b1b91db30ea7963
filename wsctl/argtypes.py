"""Numeric ``argparse`` types for ``wsctl``: bad values fail at parse time with a one-line usage error.

``type=int_range(1)`` accepts integers >= 1, ``type=float_range(0, 10_000)`` finite numbers in
0..10000, ``float_range(0, exclusive_minimum=True)`` numbers > 0. argparse turns the
:class:`argparse.ArgumentTypeError` into ``wsctl ...: error: argument --x: ...`` and exit status 2.
"""
from __future__ import annotations

import argparse
import math
from typing import Callable


def _bounds_text(minimum: float, maximum: float | None, exclusive_minimum: bool) -> str:
    low = f"> {minimum:g}" if exclusive_minimum else f">= {minimum:g}"
    return f"{low} and <= {maximum:g}" if maximum is not None else low


def _in_range(value: float, minimum: float, maximum: float | None, exclusive_minimum: bool) -> bool:
    above = value > minimum if exclusive_minimum else value >= minimum
    return above and (maximum is None or value <= maximum)


def int_range(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse type accepting integers in ``minimum..maximum`` (no upper bound if ``None``)."""
    expected = f"an integer {_bounds_text(minimum, maximum, False)}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer; expected {expected}") from None
        if not _in_range(value, minimum, maximum, False):
            raise argparse.ArgumentTypeError(f"{value} is out of range; expected {expected}")
        return value

    parse.__name__ = "integer"  # argparse names the type in some messages
    return parse


def float_range(
    minimum: float, maximum: float | None = None, *, exclusive_minimum: bool = False
) -> Callable[[str], float]:
    """An argparse type accepting finite numbers from ``minimum`` (exclusive if asked) to ``maximum``."""
    expected = f"a number {_bounds_text(minimum, maximum, exclusive_minimum)}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number; expected {expected}") from None
        if not math.isfinite(value) or not _in_range(value, minimum, maximum, exclusive_minimum):
            raise argparse.ArgumentTypeError(f"{text} is out of range; expected {expected}")
        return value

    parse.__name__ = "number"
    return parse
