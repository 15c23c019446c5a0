"""Rows of results as text: an aligned table, CSV or JSON.

Rows are plain dicts; values may be ints, floats, strings, None, Fractions or
sympy expressions (written as their plain-text form).  Nothing here computes.
JSON is strict: a float that is not finite is refused, never written as the
``NaN``/``Infinity`` that other JSON readers reject.

>>> from fractions import Fraction
>>> print(table([{"scheme": "stack", "ratio": Fraction(18, 25)}]))
scheme  ratio
------  -----
stack   18/25
"""

from __future__ import annotations

import csv
import io
import json
import math
from fractions import Fraction
from typing import Any

from costmodel.exact import is_symbolic


def plain(value: Any) -> Any:
    """A value JSON and CSV can hold: ints stay ints, exact numbers and expressions become text."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if is_symbolic(value):
        return int(value) if value.is_Integer else str(value)
    if isinstance(value, Fraction):
        return int(value) if value.denominator == 1 else str(value)
    if hasattr(value, "item"):  # numpy scalars
        return plain(value.item())
    return value


def cell(value: Any) -> str:
    """A value as a table shows it."""
    value = plain(value)
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "x".join(str(item) for item in value)
    return str(value)


def table(rows: list[dict], columns: list[str] | None = None) -> str:
    """An aligned plain-text table with a header rule."""
    if columns is None:
        columns = list(rows[0]) if rows else []
    cells = [[cell(row.get(column)) for column in columns] for row in rows]
    widths = [max([len(column)] + [len(line[i]) for line in cells]) for i, column in enumerate(columns)]
    lines = [
        "  ".join(column.ljust(width) for column, width in zip(columns, widths, strict=True)).rstrip(),
        "  ".join("-" * width for width in widths),
    ]
    lines += ["  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip() for line in cells]
    return "\n".join(lines)


def to_csv(rows: list[dict], columns: list[str] | None = None) -> str:
    """CSV text with a header line."""
    if columns is None:
        columns = list(rows[0]) if rows else []
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {key: cell(value) if isinstance(value, (list, tuple)) else plain(value) for key, value in row.items()}
        )
    return buffer.getvalue()


def to_json(value: Any) -> str:
    """Strict JSON text, with exact values as strings; a non-finite float is a ValueError naming its key."""

    def convert(item: Any, where: str) -> Any:
        if isinstance(item, dict):
            return {key: convert(inner, f"{where}.{key}" if where else str(key)) for key, inner in item.items()}
        if isinstance(item, (list, tuple)):
            return [convert(inner, f"{where}[{index}]") for index, inner in enumerate(item)]
        item = plain(item)
        if isinstance(item, float) and not math.isfinite(item):
            raise ValueError(f"result {where or 'value'} is {item}, not a finite number: refusing to print it")
        return item

    return json.dumps(convert(value, ""), indent=2, allow_nan=False)
