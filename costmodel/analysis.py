"""What a factorization saves: exact ratios, closed forms, break-even widths, limits.

>>> from costmodel.symbols import C_OUT, K
>>> result = savings("3x3", scheme="depthwise-separable", c_in=64, c_out=64)
>>> result.macs_ratio
73/576
>>> result.macs_ratio_closed_form
(C_out + 9)/(9*C_out)
>>> limit_of_ratio("asymmetric")
0
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Optional

import sympy

from costmodel import symbols
from costmodel.block import Block
from costmodel.counts import Counts, count_layer
from costmodel.kernel import parse_kernel
from costmodel.layer import ConvLayer, Size
from costmodel.schemes import factorize, scheme_names

METRICS = ("params", "macs", "flops", "memory_bytes", "activation_elements")

# Layer fields that a closed form replaces by their symbol (structural fields
# such as stride, padding and groups keep the user's value).
SYMBOL_FOR = {"c_in": symbols.C_IN, "c_out": symbols.C_OUT, "height": symbols.H,
               "width": symbols.W, "batch": symbols.BATCH, "mid": symbols.MID, "multiplier": symbols.MULTIPLIER}


def ratio(before: Counts, after: Counts, metric: str) -> sympy.Expr:
    """after / before for one metric, cancelled to lowest terms.

    >>> from costmodel.layer import ConvLayer
    >>> one = count_layer(ConvLayer(5, 5, c_in=8, c_out=8))
    >>> two = count_layer(ConvLayer(3, 3, c_in=8, c_out=8)) * 2
    >>> ratio(one, two, "params")
    18/25
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")
    numerator, denominator = getattr(after, metric), getattr(before, metric)
    if isinstance(numerator, int) and isinstance(denominator, int):
        return sympy.Rational(numerator, denominator)  # exact already; factoring would only cost time
    return sympy.factor(sympy.cancel(sympy.S(numerator) / denominator))


def _layer_and_options(kernel, scheme: str, values: dict) -> tuple[ConvLayer, dict]:
    """Split user values into the original layer and the scheme's options."""
    scheme_options = {option for step in scheme_names(scheme) for option in step.options}
    layer_fields = {field.name for field in dataclasses.fields(ConvLayer)}
    unknown = sorted(set(values) - scheme_options - layer_fields)
    if unknown:
        raise ValueError(f"option {unknown[0]!r} is neither a layer field nor one of {scheme!r}'s "
                         f"options ({', '.join(sorted(scheme_options))})")
    if isinstance(kernel, sympy.Basic):
        kernel_h = kernel_w = kernel
    else:
        kernel_h, kernel_w = parse_kernel(kernel)
    layer_values = {k: v for k, v in values.items() if k in layer_fields}
    layer_values.setdefault("c_in", symbols.C_IN)
    layer_values.setdefault("c_out", symbols.C_OUT)
    layer = ConvLayer(kernel_h, kernel_w, **layer_values)
    return layer, {k: v for k, v in values.items() if k in scheme_options}


def _symbolic(values: dict) -> dict:
    """The same values with every size a user gave replaced by its symbol."""
    return {key: SYMBOL_FOR.get(key, value) if value is not None else None
            for key, value in values.items()}


@dataclasses.dataclass(frozen=True)
class Savings:
    """One layer, one factorization, and everything the comparison implies.

    ``layer``/``block`` hold the values given; ``symbolic_layer``/``symbolic_block``
    the same structure with every given size a symbol, for the closed forms.
    """

    scheme: str
    layer: ConvLayer
    block: Block
    symbolic_layer: ConvLayer
    symbolic_block: Block

    @functools.cached_property
    def before(self) -> Counts:
        return count_layer(self.layer)

    @functools.cached_property
    def after(self) -> Counts:
        return self.block.counts()

    @functools.cached_property
    def _symbolic_counts(self) -> tuple[Counts, Counts]:
        return count_layer(self.symbolic_layer), self.symbolic_block.counts()

    def ratio(self, metric: str) -> sympy.Expr:
        """after/before for a metric, with the values given."""
        return ratio(self.before, self.after, metric)

    def closed_form(self, metric: str) -> sympy.Expr:
        """after/before for a metric, in symbols."""
        return ratio(*self._symbolic_counts, metric)

    @property
    def params_ratio(self) -> sympy.Expr:
        return self.ratio("params")

    @property
    def macs_ratio(self) -> sympy.Expr:
        return self.ratio("macs")

    @property
    def params_saving(self) -> sympy.Expr:
        return sympy.factor(1 - self.params_ratio)

    @property
    def macs_saving(self) -> sympy.Expr:
        return sympy.factor(1 - self.macs_ratio)

    @property
    def params_ratio_closed_form(self) -> sympy.Expr:
        return self.closed_form("params")

    @property
    def macs_ratio_closed_form(self) -> sympy.Expr:
        return self.closed_form("macs")

    @property
    def receptive_field(self) -> tuple[Size, Size]:
        return self.block.receptive_field


def savings(kernel, scheme: str, **values) -> Savings:
    """Compare a k_h x k_w layer with its factorization by ``scheme``.

    Parameters
    ----------
    kernel : str, int, (int, int) or sympy.Expr
        ``'5x5'``, ``5``, ``'1x7'``, ``(5, 5)``, or a symbol for a square kernel.
    scheme : str
        A registered scheme or a ``+``-joined composition.
    **values
        Layer fields (``c_in``, ``c_out``, ``height``, ``width``, ``batch``,
        ``stride``, ``dilation``, ``groups``, ``padding``, ``bias``,
        ``dtype_bytes``) and scheme options (``mid``, ``m``, ``order``,
        ``multiplier``).  Omitted channels and sizes stay symbols.

    >>> savings("7x7", scheme="asymmetric", c_in=64, c_out=64).macs_ratio
    2/7
    >>> savings("3x3", scheme="asymmetric").macs_ratio
    (C_in + C_out)/(3*C_in)
    """
    values = {key: value for key, value in values.items() if value is not None}
    layer, options = _layer_and_options(kernel, scheme, values)
    symbolic_layer, symbolic_options = _layer_and_options(kernel, scheme, _symbolic(values))
    return Savings(scheme=scheme, layer=layer, block=factorize(layer, scheme, **options),
                   symbolic_layer=symbolic_layer,
                   symbolic_block=factorize(symbolic_layer, scheme, **symbolic_options))


def break_even_width(kernel, scheme: str, metric: str = "macs", **values) -> Optional[sympy.Expr]:
    """The intermediate width (or depth multiplier) at which the factorization stops saving.

    Solves after/before = 1 for the scheme's width option; wider than this and
    the factorized block costs more than the original.  ``None`` when no
    positive width breaks even (e.g. a 3x3 "stack" of one 3x3 layer: always equal).

    With a symbolic kernel size, a stack's answer assumes at least three
    layers (k >= 2m+1); give the kernel as a number for smaller ones.

    >>> break_even_width("5x5", "stack")
    25*C_in*C_out/(9*(C_in + C_out))
    >>> break_even_width("3x3", "depthwise-separable", c_in=64, c_out=64)
    576/73
    """
    width_option = scheme_names(scheme)[0].width_option
    width = SYMBOL_FOR[width_option]
    values = {**values, width_option: width}
    comparison = savings(kernel, scheme, **values)
    # Widths are integer symbols; the break-even point is usually not an
    # integer, so solve over the positive reals.
    real_width = sympy.Symbol(width.name, positive=True)
    equation = sympy.Eq(comparison.ratio(metric).subs(width, real_width), 1)
    roots = [root for root in sympy.solve(equation, real_width) if _may_be_positive(root)]
    return sympy.factor(roots[0].subs(real_width, width)) if roots else None


# Where sympy cannot decide a root's sign (a symbolic kernel size), the root
# that is positive at a representative point is the branch that is positive
# for every valid size: the equations are quadratics with one root of each sign.
_PROBE = {symbols.K: 9, symbols.K_H: 9, symbols.K_W: 9}
_PROBE_SIZE = 64


def _may_be_positive(root: sympy.Expr) -> bool:
    if root.is_positive is not None:
        return bool(root.is_positive)
    probe = {symbol: _PROBE.get(symbol, _PROBE_SIZE) for symbol in root.free_symbols}
    value = root.subs(probe)
    return bool(value.is_real and value > 0)


def limit_of_ratio(scheme: str, metric: str = "macs", **values) -> sympy.Expr:
    """after/before as a square kernel k grows without bound.

    >>> limit_of_ratio("depthwise-separable")
    1/C_out
    >>> limit_of_ratio("stack", c_in=64, c_out=64)
    0
    """
    comparison = savings(symbols.K, scheme, **values)
    return sympy.limit(comparison.ratio(metric), symbols.K, sympy.oo)


def _fraction_text(value) -> str:
    """An exact value as text: '18/25', '1', or the expression."""
    return str(value)


def _as_float(value) -> Optional[float]:
    value = sympy.S(value)
    return float(value) if value.is_number else None


def equal_widths(expression: sympy.Expr) -> sympy.Expr:
    """An expression with C_in, C_out and C_mid all set to one width C (Szegedy's assumption).

    >>> equal_widths(9 * (symbols.C_IN + symbols.C_OUT) / (25 * symbols.C_IN))
    18/25
    """
    same = {symbols.C_IN: symbols.C, symbols.C_OUT: symbols.C, symbols.MID: symbols.C}
    return sympy.factor(sympy.S(expression).subs(same))


def savings_record(result: Savings) -> dict:
    """Everything about one comparison as a flat dict (exact values stay sympy)."""
    record = {"kernel": list(result.layer.kernel), "scheme": result.scheme,
              "original": result.layer.describe(),
              "factorized": [stage.describe() for stage in result.block.stages],
              "receptive_field": list(result.receptive_field)}
    before, after = result.before, result.after
    for metric in METRICS:
        exact = result.ratio(metric)
        record.update({
            f"{metric}_before": getattr(before, metric),
            f"{metric}_after": getattr(after, metric),
            f"{metric}_ratio": _fraction_text(exact),
            f"{metric}_saving": _as_float(1 - exact),
            f"{metric}_ratio_closed_form": str(result.closed_form(metric)),
        })
    record["arithmetic_intensity_before"] = _as_float(before.arithmetic_intensity)
    record["arithmetic_intensity_after"] = _as_float(after.arithmetic_intensity)
    return record
