"""What a factorization saves: exact ratios, closed forms, break-even widths, limits.

Numbers and symbols are split: :meth:`Savings.exact_ratio` of a comparison whose
sizes are all numbers is a :class:`fractions.Fraction` computed without sympy;
closed forms, break-even widths and limits are symbolic and import sympy when
asked for.  The properties that have always returned sympy values
(``macs_ratio``, ``macs_saving``, ...) still do.

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
from collections.abc import Callable
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from costmodel.block import Block
from costmodel.counts import Counts, count_layer
from costmodel.exact import as_float, is_symbolic, symbolic
from costmodel.kernel import parse_kernel_shape
from costmodel.layer import AXES_OF_RANK, ConvLayer, Size
from costmodel.polynomial import Poly, Unsupported, ratio_value
from costmodel.polynomial import ratio_text as poly_ratio_text
from costmodel.schemes import factorize, scheme_names

if TYPE_CHECKING:
    import sympy

METRICS = ("params", "macs", "flops", "memory_bytes", "activation_elements")

# Layer fields that a closed form replaces by their symbol (structural fields
# such as stride, padding and groups keep the user's value), and the symbols' names
# (those of costmodel.symbols, which tests/costmodel/test_polynomial.py checks).
SYMBOL_NAMES = {
    "c_in": "C_in",
    "c_out": "C_out",
    "depth": "D",
    "height": "H",
    "width": "W",
    "batch": "N",
    "mid": "C_mid",
    "multiplier": "M",
}


def symbol_for(field: str) -> sympy.Symbol:
    """The symbol that stands for a layer field or scheme option in closed forms (imports sympy)."""
    from costmodel import symbols

    return symbols.size_symbol(SYMBOL_NAMES[field])


def poly_symbol_for(field: str) -> Poly:
    """The same symbol in the sympy-free algebra of :mod:`costmodel.polynomial`."""
    return Poly.var(SYMBOL_NAMES[field])


def exact_ratio(before: Counts, after: Counts, metric: str) -> Any:
    """after / before for one metric: a Fraction for numbers (no sympy), else a factored sympy expression.

    >>> from costmodel.layer import ConvLayer
    >>> one = count_layer(ConvLayer(5, 5, c_in=8, c_out=8, height=8, width=8))
    >>> two = count_layer(ConvLayer(3, 3, c_in=8, c_out=8, height=8, width=8)) * 2
    >>> exact_ratio(one, two, "macs")
    Fraction(18, 25)
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")
    numerator, denominator = getattr(after, metric), getattr(before, metric)
    if not (is_symbolic(numerator) or is_symbolic(denominator)):
        return Fraction(numerator, denominator)
    import sympy

    return sympy.factor(sympy.cancel(sympy.S(numerator) / denominator))


def ratio(before: Counts, after: Counts, metric: str) -> sympy.Expr:
    """after / before for one metric, cancelled to lowest terms, as sympy.

    >>> from costmodel.layer import ConvLayer
    >>> one = count_layer(ConvLayer(5, 5, c_in=8, c_out=8))
    >>> two = count_layer(ConvLayer(3, 3, c_in=8, c_out=8)) * 2
    >>> ratio(one, two, "params")
    18/25
    """
    return symbolic(exact_ratio(before, after, metric))


def ratio_text(value: Any) -> str:
    """An exact ratio as text, the same for a Fraction and for sympy: '18/25', '2', or the expression."""
    return str(value)


def _layer_and_options(
    kernel: Any, scheme: str, values: dict, symbol: Callable[[str], Any] = symbol_for
) -> tuple[ConvLayer, dict]:
    """Split user values into the original layer and the scheme's options."""
    scheme_options = {option for step in scheme_names(scheme) for option in step.options}
    layer_fields = {field.name for field in dataclasses.fields(ConvLayer)}
    unknown = sorted(set(values) - scheme_options - layer_fields)
    if unknown:
        raise ValueError(
            f"option {unknown[0]!r} is neither a layer field nor one of {scheme!r}'s "
            f"options ({', '.join(sorted(scheme_options))})"
        )
    layer_values = {k: v for k, v in values.items() if k in layer_fields}
    shape = kernel_shape(kernel, layer_values.get("rank"))
    layer_values["rank"] = len(shape)
    for field in ("c_in", "c_out"):
        if field not in layer_values:
            layer_values[field] = symbol(field)
    if len(shape) == 3:
        layer_values["kernel_d"] = shape[0]
    kernel_h, kernel_w = (1, shape[0]) if len(shape) == 1 else shape[-2:]
    layer = ConvLayer(kernel_h, kernel_w, **layer_values)
    return layer, {k: v for k, v in values.items() if k in scheme_options}


def kernel_shape(kernel: Any, rank: int | None = None) -> tuple[Any, ...]:
    """A kernel as the user gave it, along its own axes; a symbol is a square (or cube) of that side."""
    if is_symbolic(kernel) or isinstance(kernel, Poly):
        return (kernel,) * (2 if rank is None else rank)
    return parse_kernel_shape(kernel, rank)


def _symbolic(values: dict, symbol: Callable[[str], Any] = symbol_for) -> dict:
    """The same values with every size a user gave replaced by its symbol."""
    return {key: symbol(key) if key in SYMBOL_NAMES and value is not None else value for key, value in values.items()}


@dataclasses.dataclass(frozen=True)
class Savings:
    """One layer, one factorization, and everything the comparison implies.

    ``layer``/``block`` hold the values given; ``symbolic_layer``/``symbolic_block``
    the same structure with every given size a symbol, for the closed forms.
    Those are derived on first use, since they need sympy and a numeric
    answer does not.
    """

    scheme: str
    layer: ConvLayer
    block: Block
    kernel: Any = dataclasses.field(default=None, compare=False)
    values: dict = dataclasses.field(default_factory=dict, compare=False)

    @functools.cached_property
    def _symbolic(self) -> tuple[ConvLayer, Block]:
        layer, options = _layer_and_options(self.kernel, self.scheme, _symbolic(self.values))
        return layer, factorize(layer, self.scheme, **options)

    @property
    def symbolic_layer(self) -> ConvLayer:
        return self._symbolic[0]

    @property
    def symbolic_block(self) -> Block:
        return self._symbolic[1]

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
        """after/before for a metric, with the values given, as sympy."""
        return ratio(self.before, self.after, metric)

    def exact_ratio(self, metric: str) -> Any:
        """after/before for a metric: a Fraction when every size is a number (no sympy), else sympy."""
        return exact_ratio(self.before, self.after, metric)

    def closed_form(self, metric: str) -> sympy.Expr:
        """after/before for a metric, in symbols."""
        return ratio(*self._symbolic_counts, metric)

    @property
    def params_ratio(self) -> sympy.Expr:
        return self.ratio("params")

    @property
    def macs_ratio(self) -> sympy.Expr:
        return self.ratio("macs")

    def saving(self, metric: str) -> sympy.Expr:
        """1 - after/before for a metric, as sympy."""
        import sympy

        return sympy.factor(1 - self.ratio(metric))

    @property
    def params_saving(self) -> sympy.Expr:
        return self.saving("params")

    @property
    def macs_saving(self) -> sympy.Expr:
        return self.saving("macs")

    @property
    def params_ratio_closed_form(self) -> sympy.Expr:
        return self.closed_form("params")

    @property
    def macs_ratio_closed_form(self) -> sympy.Expr:
        return self.closed_form("macs")

    @property
    def receptive_field(self) -> tuple[Size, ...]:
        return self.block.receptive_field


def savings(kernel: Any, scheme: str, **values: Any) -> Savings:
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
    return Savings(scheme=scheme, layer=layer, block=factorize(layer, scheme, **options), kernel=kernel, values=values)


def break_even_width(kernel: Any, scheme: str, metric: str = "macs", **values: Any) -> sympy.Expr | None:
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
    import sympy

    width_option = scheme_names(scheme)[0].width_option
    width = symbol_for(width_option)
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
_PROBE_KERNEL_NAMES = ("k", "k_h", "k_w")
_PROBE_KERNEL = 9
_PROBE_SIZE = 64


def _may_be_positive(root: sympy.Expr) -> bool:
    if root.is_positive is not None:
        return bool(root.is_positive)
    probe = {
        symbol: _PROBE_KERNEL if symbol.name in _PROBE_KERNEL_NAMES else _PROBE_SIZE for symbol in root.free_symbols
    }
    value = root.subs(probe)
    return bool(value.is_real and value > 0)


def limit_of_ratio(scheme: str, metric: str = "macs", **values: Any) -> sympy.Expr:
    """after/before as a square kernel k grows without bound.

    >>> limit_of_ratio("depthwise-separable")
    1/C_out
    >>> limit_of_ratio("stack", c_in=64, c_out=64)
    0
    """
    import sympy

    from costmodel import symbols

    comparison = savings(symbols.K, scheme, **values)
    return sympy.limit(comparison.ratio(metric), symbols.K, sympy.oo)


def equal_widths(expression: sympy.Expr) -> sympy.Expr:
    """An expression with C_in, C_out and C_mid all set to one width C (Szegedy's assumption).

    >>> from costmodel import symbols
    >>> equal_widths(9 * (symbols.C_IN + symbols.C_OUT) / (25 * symbols.C_IN))
    18/25
    """
    import sympy

    from costmodel import symbols

    same = {symbols.C_IN: symbols.C, symbols.C_OUT: symbols.C, symbols.MID: symbols.C}
    return sympy.factor(sympy.S(expression).subs(same))


def savings_record(result: Savings) -> dict[str, Any]:
    """Everything about one comparison as a flat dict (exact values stay exact: int, Fraction text, sympy).

    The numbers come from integer arithmetic when every size is given; the
    closed forms are symbolic, so this is where sympy is imported.
    """
    record: dict[str, Any] = {
        "kernel": list(result.layer.kernel_shape),
        "scheme": result.scheme,
        "original": result.layer.describe(),
        "factorized": [stage.describe() for stage in result.block.stages],
        "receptive_field": list(result.receptive_field),
    }
    before, after = result.before, result.after
    for metric in METRICS:
        exact = result.exact_ratio(metric)
        record.update(
            {
                f"{metric}_before": getattr(before, metric),
                f"{metric}_after": getattr(after, metric),
                f"{metric}_ratio": ratio_text(exact),
                f"{metric}_saving": as_float(1 - exact),
                f"{metric}_ratio_closed_form": str(result.closed_form(metric)),
            }
        )
    record["arithmetic_intensity_before"] = as_float(before.intensity)
    record["arithmetic_intensity_after"] = as_float(after.intensity)
    return record


def _poly_comparison(kernel: Any, scheme: str, values: dict) -> tuple[ConvLayer, Any]:
    """The layer and its factorization with the sympy-free symbols, or Unsupported."""
    rank = len(kernel_shape(kernel, values.get("rank")))
    values = {**{field: poly_symbol_for(field) for field in AXES_OF_RANK[rank]}, **values}
    layer, options = _layer_and_options(kernel, scheme, values, symbol=poly_symbol_for)
    block = factorize(layer, scheme, **options)
    for each in [layer, *block.layers()]:
        for length in (each.output_d, *each.output_hw):
            # sympy keeps a product such as (H - 4)*(W - 4) unexpanded; this algebra would expand
            # it, and print other text.  Only output lengths that are single terms are exact here.
            if isinstance(length, Poly) and not length.is_monomial:
                raise Unsupported(f"output length {length}")
    return layer, block


def _count_text(value: Any) -> Any:
    return str(value) if isinstance(value, Poly) else value


def _as_float(value: Fraction | None) -> float | None:
    return None if value is None else float(value)


def savings_record_without_sympy(kernel: Any, scheme: str, **values: Any) -> dict[str, Any] | None:
    """``savings_record(savings(kernel, scheme, **values))``, computed without sympy; None where it cannot be.

    The counts and closed forms come from :mod:`costmodel.polynomial`, whose
    text is sympy's; anything that algebra cannot write exactly as sympy would
    (strides, explicit or valid padding with a size left open, a symbolic
    kernel, an error to report) returns None, and the caller asks sympy.
    """
    if is_symbolic(kernel):
        return None
    values = {key: value for key, value in values.items() if value is not None}
    try:
        layer, block = _poly_comparison(kernel, scheme, values)
        symbolic_layer, symbolic_block = _poly_comparison(kernel, scheme, _symbolic(values, poly_symbol_for))
        before, after = count_layer(layer), block.counts()
        symbolic_before, symbolic_after = count_layer(symbolic_layer), symbolic_block.counts()
        record: dict[str, Any] = {
            "kernel": list(layer.kernel_shape),
            "scheme": scheme,
            "original": layer.describe(),
            "factorized": [stage.describe() for stage in block.stages],
            "receptive_field": list(block.receptive_field),
        }
        for metric in METRICS:
            numerator, denominator = getattr(after, metric), getattr(before, metric)
            exact = ratio_value(numerator, denominator)
            record.update(
                {
                    f"{metric}_before": _count_text(denominator),
                    f"{metric}_after": _count_text(numerator),
                    f"{metric}_ratio": poly_ratio_text(numerator, denominator),
                    f"{metric}_saving": None if exact is None else float(1 - exact),
                    f"{metric}_ratio_closed_form": poly_ratio_text(
                        getattr(symbolic_after, metric), getattr(symbolic_before, metric)
                    ),
                }
            )
        record["arithmetic_intensity_before"] = _as_float(ratio_value(before.flops, before.memory_bytes))
        record["arithmetic_intensity_after"] = _as_float(ratio_value(after.flops, after.memory_bytes))
        return record
    except (Unsupported, ValueError, TypeError):
        # ValueError and TypeError too: a user's mistake is reported by the sympy path, in its words.
        return None
