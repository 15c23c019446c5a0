"""Argument checks and parsers shared by every command of the project, and the limits they enforce.

One place for: the parser whose errors are one line (:class:`OneLineParser`,
:class:`UsageError`), the text parsers argparse calls (:func:`positive_int`,
:func:`positive_ints`, :func:`int_ranges`, :func:`pair`), the value checks that
raise ``ValueError``/``TypeError`` naming the field (:func:`check_count`,
:func:`check_real`), and the limits that refuse unbounded work *before* it
starts (:data:`MAX_KERNEL`, :data:`MAX_CONFIGS`, :data:`MAX_SIZE`,
:data:`MAX_RANGE`).  Every error message is one line and quotes at most
:data:`QUOTE_CHARS` characters of what the user typed.

>>> positive_ints("8,16-18")
[8, 16, 17, 18]
>>> positive_int("0")
Traceback (most recent call last):
...
argparse.ArgumentTypeError: expected a whole number >= 1, got 0
"""

from __future__ import annotations

import argparse
import math
import numbers
from typing import Any, NoReturn

# Limits.  Each one bounds work or memory that would otherwise grow without bound; the command
# line checks them before computing anything and names the option that raises them.
# Kernel side (--max-kernel).  Real kernels stop near 31; the closed forms of a 64-wide stack of
# 2x2 layers, split again by asymmetric, with stride, dilation and padding, take seconds of
# sympy, and the time grows faster than the kernel.
MAX_KERNEL = 64
MAX_CONFIGS = 100_000  # configurations in one sweep: a row each, about 1 KB each (--max-configs)
MAX_SIZE = 10**18  # any one size (channels, height, ...): exact either way, but absurd past this
MAX_RANGE = 1_000_000  # values one list argument such as '1-1000000' may expand to (positive_ints)
QUOTE_CHARS = 40  # an error quotes at most this much of the offending text


class UsageError(Exception):
    """Bad command-line input: reported in one line with exit status 2."""


class LimitError(UsageError):
    """Input past a documented limit: the one line names the limit and how to raise it."""


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are a UsageError: one line, exit status 2, no usage dump.

    Shared by every command of the project, so they all fail the same way.
    """

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{one_line(message)} (see '{self.prog} --help')")


def quoted(text: object) -> str:
    """``repr`` of what the user gave, cut to QUOTE_CHARS characters, so an error stays one short line.

    >>> quoted("9" * 50)
    "'9999999999999999999999999999999999999999'... (50 characters)"
    """
    text = str(text)
    if len(text) <= QUOTE_CHARS:
        return repr(text)
    return f"{text[:QUOTE_CHARS]!r}... ({len(text)} characters)"


def one_line(message: str) -> str:
    """A message with line breaks and other control characters shown escaped, never acted on.

    >>> one_line("bad\\nvalue\\x1b[31m")
    'bad\\\\nvalue\\\\x1b[31m'
    """
    return "".join(character if character.isprintable() else repr(character)[1:-1] for character in message)


def positive_int(text: str) -> int:
    """An integer >= 1 and <= MAX_SIZE from text, or an argparse error naming it."""
    stripped = text.strip()
    if not stripped.isdigit() or not stripped.isascii():
        if stripped.startswith("-") and stripped[1:].isdigit() and stripped[1:].isascii():
            raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {quoted(stripped)[1:-1]}")
        raise argparse.ArgumentTypeError(f"expected a whole number, got {quoted(text)}")
    if len(stripped.lstrip("0")) > len(str(MAX_SIZE)):
        raise argparse.ArgumentTypeError(
            f"{quoted(stripped)} is past the limit on a size, {MAX_SIZE:.0e} (MAX_SIZE in costmodel/checks.py)"
        )
    value = int(stripped)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    if value > MAX_SIZE:
        raise argparse.ArgumentTypeError(
            f"{value} is past the limit on a size, {MAX_SIZE:.0e} (MAX_SIZE in costmodel/checks.py)"
        )
    return value


def int_ranges(text: str) -> tuple[range, ...]:
    """A comma list and/or ranges of positive integers, unexpanded: '8,16,32' or '8-11'.

    Ranges stay ``range`` objects, so '1-100000000' costs nothing until a
    caller has checked its length against a limit.

    >>> int_ranges("8,10-12")
    (range(8, 9), range(10, 13))
    """
    parts: list[range] = []
    for part in text.split(","):
        low, dash, high = part.strip().partition("-")
        if dash:
            start, stop = positive_int(low), positive_int(high)
            if stop < start:
                raise argparse.ArgumentTypeError(f"range {quoted(part.strip())} runs backwards")
            parts.append(range(start, stop + 1))
        else:
            value = positive_int(part)
            parts.append(range(value, value + 1))
    return tuple(parts)


def count_of(ranges: tuple[range, ...]) -> int:
    """How many values a parsed list holds (without expanding it)."""
    return sum(len(part) for part in ranges)


def expand(ranges: tuple[range, ...], limit: int = MAX_RANGE, what: str = "a list") -> list[int]:
    """The values of a parsed list, after checking there are at most ``limit`` of them."""
    total = count_of(ranges)
    if total > limit:
        raise LimitError(f"{what} holds {total:,} values, past the limit of {limit:,}")
    return [value for part in ranges for value in part]


def positive_seconds(text: str) -> float:
    """A finite number of seconds > 0 from text, or an argparse error naming it.

    >>> positive_seconds("0.5")
    0.5
    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {quoted(text)}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number of seconds > 0, got {quoted(text)}")
    return value


def positive_ints(text: str) -> list[int]:
    """A comma list and/or ranges of positive integers: '8,16,32' or '8-11' (at most MAX_RANGE values)."""
    ranges = int_ranges(text)
    total = count_of(ranges)
    if total > MAX_RANGE:
        raise argparse.ArgumentTypeError(
            f"{quoted(text)} holds {total:,} values, past the limit of {MAX_RANGE:,} (MAX_RANGE in costmodel/checks.py)"
        )
    return expand(ranges)


def pair(text: str) -> int | tuple[int, int]:
    """One integer or 'H,W'."""
    parts = text.split(",")
    if len(parts) > 2:
        raise argparse.ArgumentTypeError(f"expected N or H,W, got {quoted(text)}")
    values = [positive_int(part) for part in parts]
    return values[0] if len(values) == 1 else (values[0], values[1])


def padding(text: str) -> str | int | tuple[int, int]:
    """'same', 'valid', N or 'N,M' zeros per side."""
    if text.lower() in ("same", "valid"):
        return text.lower()
    parts = text.split(",")
    if len(parts) in (1, 2) and all(part.strip().isdigit() and part.strip().isascii() for part in parts):
        values = [positive_int(part) if int(part) else 0 for part in parts]
        return values[0] if len(values) == 1 else (values[0], values[1])
    raise argparse.ArgumentTypeError(f"expected same, valid, N or N,M zeros per side, got {quoted(text)}")


def at_most(value: int, limit: int, what: str, option: str) -> None:
    """Refuse ``value`` past ``limit`` with one line naming the limit and the option that raises it."""
    if value > limit:
        raise LimitError(f"{what} is {value:,}, past the limit of {limit:,}; raise it with {option} N if you mean it")


def check_count(field: str, value: Any, minimum: int = 0, *, minimum_name: str = "") -> int:
    """An integer (not a bool) >= minimum, or a ValueError/TypeError naming the field.

    >>> check_count("repeats", 0, minimum=1)
    Traceback (most recent call last):
    ...
    ValueError: repeats must be an integer >= 1, got 0
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{field} must be an integer, got {value!r} ({type(value).__name__})")
    if value < minimum:
        bound = f"{minimum_name} ({minimum})" if minimum_name else str(minimum)
        raise ValueError(f"{field} must be an integer >= {bound}, got {value}")
    return int(value)


def check_real(
    field: str, value: Any, *, minimum: float, allow_minimum: bool = True, sane: tuple[float, float] | None = None
) -> float:
    """A finite real number above ``minimum`` (or at it), or an error naming the field.

    ``sane`` is the range a real value lies in; outside it the value is refused
    too, since arithmetic on it gives infinities or nonsense further on.

    >>> check_real("peak_flops_per_second", 1e-300, minimum=0, allow_minimum=False, sane=(1e3, 1e20))
    Traceback (most recent call last):
    ...
    ValueError: peak_flops_per_second must be between 1e+03 and 1e+20, got 1e-300
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{field} must be a number, got {one_line(repr(value))[:QUOTE_CHARS]} ({type(value).__name__})")
    try:
        number = float(value)
    except OverflowError:
        raise ValueError(f"{field} must be a finite number, got an integer of {len(str(value))} digits") from None
    inside = number >= minimum if allow_minimum else number > minimum
    if not (math.isfinite(number) and inside):
        relation = ">=" if allow_minimum else ">"
        raise ValueError(f"{field} must be a finite number {relation} {minimum:g}, got {value!r}")
    if sane is not None and not sane[0] <= number <= sane[1]:
        raise ValueError(f"{field} must be between {sane[0]:.0e} and {sane[1]:.0e}, got {value!r}")
    return number


def check_range(field: str, pair: Any, *, minimum: float, sane: tuple[float, float]) -> tuple[float, float]:
    """A ``[low, high]`` pair of real numbers (each as :func:`check_real` wants it), low <= high.

    >>> check_range("width_range", [50, 10], minimum=0, sane=(1, 1e9))
    Traceback (most recent call last):
    ...
    ValueError: width_range must be [low, high] with low <= high, got [50, 10]
    """
    if not isinstance(pair, (list, tuple)) or len(pair) != 2:
        raise ValueError(f"{field} must be [low, high], got {one_line(repr(pair))[:QUOTE_CHARS]}")
    low, high = (check_real(field, value, minimum=minimum, sane=sane) for value in pair)
    if low > high:
        raise ValueError(f"{field} must be [low, high] with low <= high, got {pair!r}")
    return low, high


def check_text(field: str, value: Any, max_chars: int = 200) -> str:
    """A non-empty printable string of at most ``max_chars`` characters (no terminal escapes).

    >>> check_text("device", "cpu\\x1b[2J")
    Traceback (most recent call last):
    ...
    ValueError: device must be printable text, got 'cpu\\x1b[2J'
    """
    if not isinstance(value, str):
        raise TypeError(f"{field} must be text, got {type(value).__name__}")
    if not value or len(value) > max_chars:
        raise ValueError(f"{field} must be 1 to {max_chars} characters, got {len(value)}")
    if not value.isprintable():
        raise ValueError(f"{field} must be printable text, got {one_line(repr(value))}")
    return value
