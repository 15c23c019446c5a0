"""Reading a JSON file a user points at, refusing everything that is not a small, sane JSON document.

:func:`load_json_file` checks, in this order and *before* reading more than it
must: that the path names a regular file (``os.stat`` first, so a FIFO is never
opened and ``/dev/zero`` never read), that it is at most ``max_bytes`` long,
that it is UTF-8, that its arrays and objects nest at most ``max_depth`` deep,
and that its numbers are finite floats or integers of at most ``max_int_digits``
digits (no ``NaN``/``Infinity``, no ``1e999``).  Every failure is one
:class:`JSONFileError` (a ValueError) whose one-line message names the file.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "p.json"
>>> _ = path.write_text('{"a": [1, 2.5]}')
>>> load_json_file(path, what="example")
{'a': [1, 2.5]}
>>> _ = path.write_text('{"a": NaN}')
>>> load_json_file(path, what="example")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
costmodel.jsonfile.JSONFileError: example .../p.json: NaN is not a number JSON allows
"""

from __future__ import annotations

import errno
import json
import math
import os
import stat
from typing import Any

from costmodel.checks import one_line

MAX_BYTES = 1 << 20  # 1 MiB: a device profile is a few KB
MAX_DEPTH = 32
MAX_INT_DIGITS = 20


class JSONFileError(ValueError):
    """A JSON file that cannot be used; the message is one line naming the file."""


def _name(path: object) -> str:
    return one_line(str(path))[:200] or "''"


def _nesting_depth(text: str) -> int:
    """The deepest nesting of [ and { outside strings (without recursing, so any depth is safe)."""
    depth = deepest = 0
    in_string = escaped = False
    for character in text:
        if in_string:
            if escaped:
                escaped = False
            elif character == "\\":
                escaped = True
            elif character == '"':
                in_string = False
        elif character == '"':
            in_string = True
        elif character in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif character in "]}":
            depth -= 1
    return deepest


def load_json_file(
    path: str | os.PathLike[str],
    *,
    what: str,
    max_bytes: int = MAX_BYTES,
    max_depth: int = MAX_DEPTH,
    max_int_digits: int = MAX_INT_DIGITS,
    size_hint: str = "",
) -> Any:
    """The parsed JSON document in ``path``, or one JSONFileError naming ``what`` and the file.

    ``size_hint`` ends the message of a file past ``max_bytes`` (e.g. the option that raises it).
    """
    label = f"{what} {_name(path)}"
    if str(path) == "":
        raise JSONFileError(f"{what}: the file name is empty")
    try:
        status = os.stat(path)  # follows symlinks; a loop is ELOOP, reported below
    except FileNotFoundError:
        raise JSONFileError(f"{label} does not exist") from None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise JSONFileError(f"{label} is a symlink loop") from None
        raise JSONFileError(f"{label}: {error.strerror or 'cannot be read'}") from None
    if not stat.S_ISREG(status.st_mode):
        kind = "a directory" if stat.S_ISDIR(status.st_mode) else "not a regular file"
        raise JSONFileError(f"{label} is {kind}; give a JSON file")
    if status.st_size > max_bytes:
        hint = f"; {size_hint}" if size_hint else ""
        raise JSONFileError(f"{label} is {status.st_size:,} bytes, past the limit of {max_bytes:,}{hint}")
    try:
        with open(path, "rb") as handle:
            # Read one byte past the limit: a file that grew since the stat is caught too.
            data = handle.read(max_bytes + 1)
    except OSError as error:
        raise JSONFileError(f"{label}: {error.strerror or 'cannot be read'}") from None
    if len(data) > max_bytes:
        raise JSONFileError(f"{label} is more than {max_bytes:,} bytes, the limit")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise JSONFileError(f"{label} is not UTF-8 text (byte {error.start})") from None
    depth = _nesting_depth(text)
    if depth > max_depth:
        raise JSONFileError(f"{label} nests {depth} levels deep, past the limit of {max_depth}")

    def refuse_constant(name: str) -> Any:
        raise JSONFileError(f"{label}: {name} is not a number JSON allows")

    def finite_float(token: str) -> float:
        value = float(token)
        if not math.isfinite(value):
            raise JSONFileError(f"{label}: the number {token[:40]} is too large for a float")
        return value

    def bounded_int(token: str) -> int:
        if len(token.lstrip("-")) > max_int_digits:
            raise JSONFileError(
                f"{label}: an integer of {len(token.lstrip('-'))} digits, past the limit of {max_int_digits}"
            )
        return int(token)

    try:
        return json.loads(text, parse_constant=refuse_constant, parse_float=finite_float, parse_int=bounded_int)
    except json.JSONDecodeError as error:
        raise JSONFileError(f"{label} is not JSON: {error.msg} (line {error.lineno}, column {error.colno})") from None
    except RecursionError:  # cannot happen below max_depth, but a one-line error beats a traceback
        raise JSONFileError(f"{label} nests too deep to read") from None
