"""Kernel sizes as users type them: ``5``, ``5x5``, ``1x7``, ``3x3x3`` (``X`` and ``×`` too).

A bare number is a square kernel (``5`` is 5x5), as it always was; with
``rank=1`` it is a 1-D kernel and with ``rank=3`` a cube.  Three sides are a
3-D kernel (depth x height x width).

Text is parsed with a regular expression, never ``eval`` or ``sympify``.

>>> parse_kernel("1x7")
(1, 7)
>>> parse_kernel("5")
(5, 5)
>>> parse_kernel("5x")
Traceback (most recent call last):
...
ValueError: kernel size must look like 5, 5x5, 1x7 or 3x3x3, got '5x'
"""

from __future__ import annotations

import re
from typing import Any

from costmodel.exact import is_integer, is_symbolic

_KERNEL = re.compile(r"\s*(\d+)\s*(?:[xX×]\s*(\d+))?\s*")
_SEPARATOR = re.compile(r"[xX×]")
_KERNEL_3D = re.compile(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*[xX×]\s*(\d+)\s*")


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
            raise ValueError(f"kernel size must look like 5, 5x5, 1x7 or 3x3x3, got {text!r}")
        height = int(match.group(1))
        width = int(match.group(2) or height)
    else:
        raise TypeError(f"kernel size must be text like '5x5' or an integer, got {text!r}")
    if height < 1 or width < 1:
        raise ValueError(f"kernel size must be at least 1x1, got {height}x{width}")
    return (height, width)


def parse_kernel_shape(text: Any, rank: int | None = None) -> tuple[Any, ...]:
    """The kernel along its own axes: ``(k,)``, ``(k_h, k_w)`` or ``(k_d, k_h, k_w)``.

    >>> parse_kernel_shape("3x3x3"), parse_kernel_shape("7", rank=1), parse_kernel_shape(5, rank=3)
    ((3, 3, 3), (7,), (5, 5, 5))
    >>> parse_kernel_shape("1x7", rank=1)
    Traceback (most recent call last):
    ...
    ValueError: kernel '1x7' has 2 sides but rank=1 was asked for; a 1-D kernel is one number, like 7
    """
    if rank is not None and (isinstance(rank, bool) or rank not in (1, 2, 3)):
        raise ValueError(f"rank must be 1, 2 or 3, got {rank!r}")
    cube = _KERNEL_3D.fullmatch(text) if isinstance(text, str) else None
    if cube:
        shape: tuple[Any, ...] = tuple(int(side) for side in cube.groups())
        if min(shape) < 1:
            raise ValueError(f"kernel size must be at least 1x1x1, got {text!r}")
    elif isinstance(text, (tuple, list)) and len(text) in (1, 3):
        if not all(is_integer(item) and not isinstance(item, bool) and item >= 1 for item in text):
            raise TypeError(f"kernel size must be positive integers, got {tuple(text)!r}")
        shape = tuple(int(item) for item in text)
    else:
        shape = parse_kernel(text)  # refuses anything else, saying why
        bare = is_integer(text) or (isinstance(text, str) and not _SEPARATOR.search(text))
        if bare and rank in (1, 3):
            return (shape[0],) * rank
    if rank is not None and len(shape) != rank:
        one = {1: "one number, like 7", 2: "two sides, like 3x3", 3: "three sides, like 3x3x3"}[rank]
        raise ValueError(
            f"kernel {text!r} has {len(shape)} sides but rank={rank} was asked for; a {rank}-D kernel is {one}"
        )
    return shape
