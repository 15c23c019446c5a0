"""Polynomials with integer coefficients, printed exactly as sympy prints them; the CLI's fast path.

``costmodel savings`` prints closed forms in every row, and counts in ``H`` and
``W`` when no size is given for them.  Importing sympy for that costs more than
the whole answer, so the command first tries this small algebra: a
:class:`Poly` is a size symbol, or a sum of products of them, and the count
formulas of :mod:`costmodel.counts` run on it unchanged (through the helpers
of :mod:`costmodel.exact`).  :func:`reduced` cancels and factors a ratio of two
of them, and :func:`ratio_text` writes it as ``str(sympy.factor(sympy.cancel(a/b)))``
writes it, character for character.

It covers what the command needs most of the time and refuses the rest: any
step it cannot do exactly as sympy would (a floor or ceiling, a quotient that
is not a polynomial, a factor it cannot prove irreducible, two parenthesised
factors whose order only sympy knows) raises :class:`Unsupported`, and the
caller answers with sympy instead.  ``tests/costmodel/test_polynomial.py``
checks the text against sympy's on many random layers.

>>> C_in, C_out, H, W = (Poly.var(name) for name in ("C_in", "C_out", "H", "W"))
>>> before, after = 25 * C_in * C_out * H * W, 9 * C_in * C_out * H * W + 9 * C_out * C_out * H * W
>>> print(after)
9*C_in*C_out*H*W + 9*C_out**2*H*W
>>> ratio_text(after, before)
'9*(C_in + C_out)/(25*C_in)'
"""

from __future__ import annotations

import math
from collections import Counter
from fractions import Fraction
from typing import Any

Monomial = tuple[tuple[str, int], ...]  # (symbol name, exponent) pairs, sorted by name


class Unsupported(Exception):
    """A step this algebra cannot take exactly as sympy would; the caller falls back to sympy.

    Deliberately not a ValueError: it is never a user's mistake, and must never reach one.
    """


def _multiply_monomials(a: Monomial, b: Monomial) -> Monomial:
    powers = Counter(dict(a))
    powers.update(dict(b))
    return tuple(sorted(powers.items()))


def _divide_monomials(a: Monomial, b: Monomial) -> Monomial | None:
    powers = dict(a)
    for name, exponent in b:
        left = powers.get(name, 0) - exponent
        if left < 0:
            return None
        if left:
            powers[name] = left
        else:
            del powers[name]
    return tuple(sorted(powers.items()))


class Poly:
    """A polynomial in named positive integer symbols with integer coefficients (immutable).

    Arithmetic with ints and other Polys gives a Poly, or an int when the result is constant.
    """

    __slots__ = ("terms", "_hash")

    def __init__(self, terms: dict[Monomial, int]) -> None:
        self.terms = {monomial: coefficient for monomial, coefficient in terms.items() if coefficient}
        self._hash = hash(frozenset(self.terms.items()))

    @classmethod
    def var(cls, name: str) -> Poly:
        return cls({((name, 1),): 1})

    @staticmethod
    def lift(value: Any) -> Poly:
        if isinstance(value, Poly):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return Poly({(): value})
        raise Unsupported(f"{value!r} is not an integer or a polynomial")

    def result(self) -> Poly | int:
        """An int when constant: numbers stay plain ints, as everywhere in the cost model."""
        if not self.terms:
            return 0
        if len(self.terms) == 1 and () in self.terms:
            return self.terms[()]
        return self

    # Arithmetic ---------------------------------------------------------------------------

    def __add__(self, other: Any) -> Poly | int:
        total = dict(self.terms)
        for monomial, coefficient in Poly.lift(other).terms.items():
            total[monomial] = total.get(monomial, 0) + coefficient
        return Poly(total).result()

    __radd__ = __add__

    def __neg__(self) -> Poly | int:
        return Poly({monomial: -coefficient for monomial, coefficient in self.terms.items()}).result()

    def __sub__(self, other: Any) -> Poly | int:
        return self + (-Poly.lift(other))

    def __rsub__(self, other: Any) -> Poly | int:
        return Poly.lift(other) + (-self)

    def __mul__(self, other: Any) -> Poly | int:
        product: dict[Monomial, int] = {}
        for a, x in self.terms.items():
            for b, y in Poly.lift(other).terms.items():
                monomial = _multiply_monomials(a, b)
                product[monomial] = product.get(monomial, 0) + x * y
        return Poly(product).result()

    __rmul__ = __mul__

    def __pow__(self, exponent: int) -> Poly | int:
        if not isinstance(exponent, int) or exponent < 0:
            raise Unsupported(f"power {exponent!r}")
        result: Poly | int = 1
        for _ in range(exponent):
            result = Poly.lift(result) * self
        return result

    def _unsupported(self, *_: Any) -> Any:
        raise Unsupported("a comparison, floor division or remainder of a polynomial")

    __lt__ = __le__ = __gt__ = __ge__ = __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = _unsupported
    __truediv__ = __rtruediv__ = _unsupported

    def __eq__(self, other: object) -> bool:
        if isinstance(other, int) and not isinstance(other, bool):
            other = Poly.lift(other)
        return isinstance(other, Poly) and self.terms == other.terms

    def __hash__(self) -> int:
        return self._hash

    # Structure ----------------------------------------------------------------------------

    @property
    def is_monomial(self) -> bool:
        return len(self.terms) == 1

    def content(self) -> int:
        return math.gcd(*self.terms.values())

    def monomial_content(self) -> Monomial:
        """The largest monomial dividing every term."""
        common: dict[str, int] | None = None
        for monomial in self.terms:
            powers = dict(monomial)
            common = (
                powers
                if common is None
                else {name: min(exponent, powers[name]) for name, exponent in common.items() if name in powers}
            )
        return tuple(sorted((common or {}).items()))

    def names(self) -> set[str]:
        return {name for monomial in self.terms for name, _ in monomial}

    def degree(self, name: str) -> int:
        return max(dict(monomial).get(name, 0) for monomial in self.terms)

    def split_linear(self, name: str) -> tuple[Poly | int, Poly | int]:
        """(A, B) with self = A*name + B, for a polynomial of degree 1 in ``name``."""
        with_name: dict[Monomial, int] = {}
        without: dict[Monomial, int] = {}
        for monomial, coefficient in self.terms.items():
            powers = dict(monomial)
            if name in powers:
                del powers[name]
                with_name[tuple(sorted(powers.items()))] = coefficient
            else:
                without[monomial] = coefficient
        return Poly(with_name).result(), Poly(without).result()

    def divide_by_monomial(self, monomial: Monomial, coefficient: int = 1) -> Poly | int | None:
        """self / (coefficient * monomial) when that is a polynomial with integer coefficients."""
        quotient = {}
        for term, value in self.terms.items():
            reduced = _divide_monomials(term, monomial)
            if reduced is None or value % coefficient:
                return None
            quotient[reduced] = value // coefficient
        return Poly(quotient).result()

    @staticmethod
    def _order_key(monomial: Monomial, names: tuple[str, ...] | None = None) -> tuple[int, ...]:
        return tuple(dict(monomial).get(name, 0) for name in (names or ()))

    # Printing, as sympy's str() does ------------------------------------------------------

    def ordered_terms(self) -> list[tuple[Monomial, int]]:
        """Terms in sympy's printing order: lexicographic in the symbols sorted by name, largest first."""
        names = tuple(sorted(self.names()))
        return sorted(self.terms.items(), key=lambda item: self._order_key(item[0], names), reverse=True)

    def __str__(self) -> str:
        text = ""
        for monomial, coefficient in self.ordered_terms():
            term = _term_text(monomial, abs(coefficient))
            if not text:
                text = f"-{term}" if coefficient < 0 else term
            else:
                text += f" - {term}" if coefficient < 0 else f" + {term}"
        return text

    def __repr__(self) -> str:
        return f"Poly({self})"


# Long division needs one monomial order for dividend and divisor: lexicographic in all their
# symbols sorted by name (the printing order).  If the divisor divides, the remainder's leading
# term is always divisible by the divisor's, so the first one that is not proves it does not.
def _lead_key_for(*polys: Poly) -> tuple[str, ...]:
    return tuple(sorted(set().union(*(poly.names() for poly in polys))))


def _leading_term_in(poly: Poly, names: tuple[str, ...]) -> tuple[Monomial, int]:
    monomial = max(poly.terms, key=lambda m: Poly._order_key(m, names))
    return monomial, poly.terms[monomial]


def _exact_quotient(dividend: Poly | int, divisor: Poly) -> Poly | int | None:
    names = _lead_key_for(Poly.lift(dividend), divisor)
    lead_monomial, lead_coefficient = _leading_term_in(divisor, names)
    remainder: Poly | int = dividend
    quotient: Poly | int = 0
    while remainder != 0:
        term, value = _leading_term_in(Poly.lift(remainder), names)
        monomial = _divide_monomials(term, lead_monomial)
        if monomial is None or value % lead_coefficient:
            return None
        step = Poly({monomial: value // lead_coefficient})
        quotient = Poly.lift(quotient) + step
        remainder = Poly.lift(remainder) - step * divisor
    return quotient


def _monomial_text(monomial: Monomial) -> str:
    return "*".join(name if exponent == 1 else f"{name}**{exponent}" for name, exponent in monomial)


def _term_text(monomial: Monomial, coefficient: int) -> str:
    if not monomial:
        return str(coefficient)
    return _monomial_text(monomial) if coefficient == 1 else f"{coefficient}*{_monomial_text(monomial)}"


# Factoring ---------------------------------------------------------------------------------


def irreducible_factors(poly: Poly | int) -> list[Poly]:
    """The irreducible factors of a primitive polynomial with no monomial factor, with multiplicity.

    Every polynomial this module meets has a symbol of degree 1: P = A*x + B.
    Such a P is irreducible exactly when A and B have no common factor, and
    their common factors are among A's (which has one symbol fewer, so the
    recursion ends).  A polynomial without a symbol of degree 1 is Unsupported.
    """
    if not isinstance(poly, Poly):
        return []
    linear = [name for name in sorted(poly.names()) if poly.degree(name) == 1]
    if not linear:
        raise Unsupported(f"no symbol of degree 1 in {poly}")
    a, b = poly.split_linear(linear[0])
    found, remaining = [], poly
    for candidate in irreducible_factors(_primitive(a)):
        if isinstance(b, Poly) and _exact_quotient(b, candidate) is not None:
            found.append(candidate)
            b = _exact_quotient(b, candidate)  # type: ignore[assignment]
            remaining = _exact_quotient(remaining, candidate)  # type: ignore[assignment]
    return [*found, *([remaining] if isinstance(remaining, Poly) else [])]


def _primitive(poly: Poly | int) -> Poly | int:
    """poly without its integer content and its monomial factor."""
    if not isinstance(poly, Poly):
        return 1
    divided = poly.divide_by_monomial(poly.monomial_content(), poly.content())
    if divided is None:
        raise RuntimeError(f"bug: {poly} does not divide by its own content")
    return divided


def _split(value: Poly | int) -> tuple[int, Counter[str], list[Poly]]:
    """(integer content, monomial factor as powers, irreducible factors) of a count."""
    if not isinstance(value, Poly):
        return value, Counter(), []
    return value.content(), Counter(dict(value.monomial_content())), irreducible_factors(_primitive(value))


def reduced(
    numerator: Poly | int, denominator: Poly | int
) -> tuple[Fraction, Counter[str], Counter[str], list[Poly], list[Poly]]:
    """numerator/denominator cancelled: (coefficient, symbols up, symbols down, factors up, factors down)."""
    content_up, powers_up, factors_up = _split(numerator)
    content_down, powers_down, factors_down = _split(denominator)
    common = powers_up & powers_down
    powers_up, powers_down = powers_up - common, powers_down - common
    for factor in list(factors_up):
        if factor in factors_down:
            factors_up.remove(factor)
            factors_down.remove(factor)
    for factor in factors_up + factors_down:
        if min(factor.terms.values()) < 0:
            raise Unsupported(f"a factor with a negative coefficient, {factor}: sympy's sign rule applies")
    return Fraction(content_up, content_down), powers_up, powers_down, factors_up, factors_down


def ratio_value(numerator: Poly | int, denominator: Poly | int) -> Fraction | None:
    """numerator/denominator as a number when it is one (the symbols cancel), else None."""
    coefficient, up, down, factors_up, factors_down = reduced(numerator, denominator)
    return coefficient if not (up or down or factors_up or factors_down) else None


def ratio_text(numerator: Poly | int, denominator: Poly | int) -> str:
    """``str(sympy.factor(sympy.cancel(numerator / denominator)))``, without sympy."""
    coefficient, up, down, factors_up, factors_down = reduced(numerator, denominator)
    if len(factors_up) > 1 or len(factors_down) > 1:
        raise Unsupported("two parenthesised factors on one side: their order is sympy's sort key")
    if not (up or down or factors_up or factors_down):
        return str(coefficient)
    top = [str(coefficient.numerator)] if coefficient.numerator != 1 else []
    top += [name if power == 1 else f"{name}**{power}" for name, power in sorted(up.items())]
    bottom = [str(coefficient.denominator)] if coefficient.denominator != 1 else []
    bottom += [name if power == 1 else f"{name}**{power}" for name, power in sorted(down.items())]
    if factors_up and not (top or bottom or factors_down):
        return str(factors_up[0])  # a bare sum
    if not (top or factors_up or factors_down) and len(bottom) == 1 and sum(down.values()) > 1:
        raise Unsupported("a bare negative power: sympy writes C_in**(-2)")
    top += [f"({factor})" for factor in factors_up]
    bottom += [f"({factor})" for factor in factors_down]
    text = "*".join(top) or "1"
    if not bottom:
        return text
    if len(bottom) == 1:
        return f"{text}/{bottom[0]}"
    return f"{text}/({'*'.join(bottom)})"
