"""The canonical sympy symbols that stand for sizes a user has not fixed.

Every symbol is declared positive and integer, so sympy can cancel and
simplify as a person would: ``ceiling(H/1)`` becomes ``H``, ``C_in/C_in``
becomes ``1``.  Functions accept these or any other positive integer symbols.

>>> from costmodel.symbols import C_IN, K
>>> (C_IN * K**2).free_symbols == {C_IN, K}
True
"""

from __future__ import annotations

import sympy


def size_symbol(name: str) -> sympy.Symbol:
    """A positive integer symbol, the kind every layer size is made of.

    >>> size_symbol("C").is_positive
    True
    """
    return sympy.Symbol(name, positive=True, integer=True)


K = size_symbol("k")  # a square kernel's side, for "any kernel size" closed forms
K_H = size_symbol("k_h")
K_W = size_symbol("k_w")
C_IN = size_symbol("C_in")
C_OUT = size_symbol("C_out")
MID = size_symbol("C_mid")  # the intermediate width of a factorized block
D = size_symbol("D")  # a 3-D layer's input depth (frames of a video, slices of a volume)
H = size_symbol("H")
W = size_symbol("W")
BATCH = size_symbol("N")
MULTIPLIER = size_symbol("M")  # depthwise depth multiplier
C = size_symbol("C")  # one width for all, Szegedy's equal-width assumption
