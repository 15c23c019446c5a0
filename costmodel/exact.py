"""Exact arithmetic that works on Python integers and on sympy expressions alike.

Every formula of the cost model is written once, in terms of ``+``, ``*`` and
the helpers below.  Given integers, the helpers use integer arithmetic (and
:class:`fractions.Fraction` for a quotient that is not whole), so a question
whose sizes are all numbers is answered without importing sympy, which costs
more than the whole answer (a quarter to half a second).  Given a sympy
expression, they build the same formula symbolically; sympy is imported then,
and only then.

>>> floor_div(7, 2), ceil_div(7, 2), divide(6, 4)
(3, 4, Fraction(3, 2))
>>> from costmodel.symbols import H
>>> ceil_div(H, 2)
ceiling(H/2)
"""

from __future__ import annotations

import numbers
import sys
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Union

from costmodel.polynomial import Poly, Unsupported

if TYPE_CHECKING:
    import sympy

Size = Union[int, "sympy.Expr"]
Exact = Union[int, Fraction, "sympy.Expr"]


def is_symbolic(value: object) -> bool:
    """True for a sympy object.  Nothing can be one unless sympy has been imported already."""
    sympy_module = sys.modules.get("sympy")
    return sympy_module is not None and isinstance(value, sympy_module.Basic)


def is_integer(value: object) -> bool:
    """True for an integer that is not a bool (Python, numpy or any other ``numbers.Integral``)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_known(value: object) -> bool:
    """True when a size is a concrete number rather than a symbolic expression (sympy or Poly)."""
    if is_integer(value) or isinstance(value, Fraction):
        return True
    return is_symbolic(value) and bool(value.is_number)  # type: ignore[attr-defined]


def exact(value: Any) -> Any:
    """A whole number as ``int``, any other number as ``Fraction``; a symbolic value as it is.

    Sympy's Integer and Rational become int and Fraction, so numbers never
    carry sympy types out of a formula.
    """
    if is_integer(value):
        return int(value)
    if isinstance(value, Fraction):
        return int(value) if value.denominator == 1 else value
    if is_symbolic(value):
        if value.is_Integer:
            return int(value)
        if value.is_Rational:
            return Fraction(int(value.p), int(value.q))
    return value


def symbolic(value: Any) -> Any:
    """The same value as a sympy object (imports sympy): Fraction becomes Rational."""
    import sympy

    if isinstance(value, Fraction):
        return sympy.Rational(value.numerator, value.denominator)
    return sympy.S(value)


def divide(numerator: Any, denominator: Any) -> Any:
    """numerator / denominator, exactly: an int, a Fraction, or a sympy expression.

    numpy integer arrays (a sweep evaluates the same formulas on whole grids)
    are divided with ``//``: the caller has checked that every element divides.
    A :class:`~costmodel.polynomial.Poly` divides by an integer or a monomial
    when the quotient is a polynomial, and raises Unsupported otherwise.
    """
    if isinstance(numerator, Poly) or isinstance(denominator, Poly):
        return _divide_poly(numerator, denominator)
    if is_symbolic(numerator) or is_symbolic(denominator):
        return exact(symbolic(numerator) / symbolic(denominator))
    if is_integer(numerator) and is_integer(denominator):
        if numerator % denominator == 0:
            return int(numerator) // int(denominator)
        return Fraction(int(numerator), int(denominator))
    if hasattr(numerator, "dtype") or hasattr(denominator, "dtype"):
        return numerator // denominator
    return exact(Fraction(numerator) / Fraction(denominator))


def _divide_poly(numerator: Any, denominator: Any) -> Any:
    divisor = Poly.lift(denominator)
    if not divisor.is_monomial:
        raise Unsupported(f"dividing by the sum {divisor}")
    ((monomial, coefficient),) = divisor.terms.items()
    quotient = Poly.lift(numerator).divide_by_monomial(monomial, coefficient)
    if quotient is None:
        raise Unsupported(f"{numerator} / {denominator} is not a polynomial")
    return quotient


def _poly_over_one(numerator: Any, denominator: Any) -> Any:
    """floor and ceiling of a Poly: exact only when dividing by 1 (stride 1)."""
    if denominator != 1:
        raise Unsupported(f"floor or ceiling of {numerator} / {denominator}")
    return numerator


def floor_div(numerator: Any, denominator: Any) -> Any:
    """floor(numerator / denominator): ``//`` for integers, ``sympy.floor`` for symbols."""
    if isinstance(numerator, Poly) or isinstance(denominator, Poly):
        return _poly_over_one(numerator, denominator)
    if is_symbolic(numerator) or is_symbolic(denominator):
        import sympy

        return exact(sympy.floor(symbolic(numerator) / symbolic(denominator)))
    return numerator // denominator


def ceil_div(numerator: Any, denominator: Any) -> Any:
    """ceiling(numerator / denominator): ``-(-a // b)`` for integers, ``sympy.ceiling`` for symbols."""
    if isinstance(numerator, Poly) or isinstance(denominator, Poly):
        return _poly_over_one(numerator, denominator)
    if is_symbolic(numerator) or is_symbolic(denominator):
        import sympy

        return exact(sympy.ceiling(symbolic(numerator) / symbolic(denominator)))
    return -(-numerator // denominator)


def same_size(a: Any, b: Any) -> bool:
    """True when two sizes are provably equal (as numbers, or symbolically).

    The structural difference settles almost every case; ``sympy.simplify``,
    which costs milliseconds, runs only when it does not.
    """
    if not (is_symbolic(a) or is_symbolic(b)):
        return bool(a == b)  # ints, or Polys (whose equality is exact: they are canonical)
    import sympy

    difference = symbolic(a) - symbolic(b)
    if difference == 0:
        return True
    if difference.is_number:
        return False
    return bool(sympy.simplify(difference) == 0)


def as_float(value: Any) -> float | None:
    """A number as a float (correctly rounded); None for a symbolic value."""
    if is_symbolic(value):
        return float(value) if value.is_number else None
    return float(value)
