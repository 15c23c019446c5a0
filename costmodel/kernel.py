"""Kernel sizes as users type them: ``5``, ``5x5``, ``1x7`` (``X`` and ``×`` too).

Text is parsed with a regular expression, never ``eval`` or ``sympify``.

>>> parse_kernel("1x7")
(1, 7)
>>> parse_kernel("5")
(5, 5)
>>> parse_kernel("5x")
Traceback (most recent call last):
...
ValueError: kernel size must look like 5, 5x5 or 1x7, got '5x'
"""

from __future__ import annotations

import re
from typing import Any

from costmodel.exact import is_integer, is_symbolic

_KERNEL = re.compile(r"\s*(\d+)\s*(?:[xX×]\s*(\d+))?\s*")


def _is_size(item: Any) -> bool:
    return is_integer(item) or is_symbolic(item)


def parse_kernel(text: Any) -> tuple[Any, Any]:
    """Return (height, width) from ``'k'``, ``'kxk'``, ``'hxw'``, an int or a pair."""
    if isinstance(text, bool):
        raise TypeError(f"kernel size must be text or an integer, got {text!r}")
    if is_integer(text):
        height = width = int(text)
    elif isinstance(text, (tuple, list)) and len(text) == 2:
        if not all(_is_size(item) for item in text):
            raise TypeError(f"kernel size must be two integers or symbols, got {tuple(text)!r}")
        height, width = text
        if not all(is_integer(item) for item in text):
            return (height, width)  # symbolic: ConvLayer checks the rest
    elif isinstance(text, str):
        match = _KERNEL.fullmatch(text)
        if not match:
            raise ValueError(f"kernel size must look like 5, 5x5 or 1x7, got {text!r}")
        height = int(match.group(1))
        width = int(match.group(2) or height)
    else:
        raise TypeError(f"kernel size must be text like '5x5' or an integer, got {text!r}")
    if height < 1 or width < 1:
        raise ValueError(f"kernel size must be at least 1x1, got {height}x{width}")
    return (height, width)
