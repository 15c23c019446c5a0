"""Many configurations at once: kernel sizes x schemes x a grid of sizes, exactly.

Each (kernel, scheme) pair is factorized once, with every swept channel count
a symbol of :mod:`costmodel.polynomial` (no sympy), which gives the block's
structure: its layers, and each layer's channels as a product of the swept
sizes.  The counts are then evaluated over the whole grid
in one vectorised pass, by the very formulas of :mod:`costmodel.counts`, on
numpy integer arrays.  Building the block once per configuration would be a
thousand times slower.

Results are exact or refused, never wrapped: the counts grow with every size,
so their largest values are those at the grid's largest corner, computed first
in Python integers.  When they fit in int64 (with a factor of two to spare) the
grid is evaluated in int64; otherwise in numpy arrays of Python integers,
slower but exact.  Sympy is imported only where the structure cannot be built
that way (a kernel that does not fit the largest swept height, for one).

>>> rows = sweep(["5x5"], ["stack"], c_in=[32, 64], c_out=64)
>>> [(row["c_in"], row["macs_ratio"]) for row in rows]
[(32, '27/25'), (64, '18/25')]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from fractions import Fraction
from typing import Any

import numpy as np

from costmodel.analysis import SYMBOL_NAMES, poly_symbol_for, savings, symbol_for
from costmodel.counts import macs, params
from costmodel.exact import is_symbolic
from costmodel.kernel import parse_kernel_shape
from costmodel.layer import AXES_OF_RANK, ConvLayer, output_length
from costmodel.polynomial import Poly

SWEEPABLE = ("c_in", "c_out", "mid", "depth", "height", "width", "batch")
SWEPT_METRICS = ("params", "macs")
# A sweep evaluates numbers, so sizes left out take the seed experiment's values.
SWEEP_DEFAULTS = {"c_in": 64, "c_out": 64, "height": 32, "width": 32, "batch": 1}
# A 3-D layer's depth when none is given: 16 frames, as in the video networks' clips (Tran et al. 2018).
DEFAULT_DEPTH = 16
INT64_SAFE = 2**62  # below this every count and every intermediate product fits in int64


def _grid(values: dict) -> tuple[dict, dict]:
    """Split values into swept axes (lists) and fixed ones."""
    axes, fixed = {}, {}
    values = {k: v for k, v in values.items() if v is not None}
    for name, value in values.items():
        # A (height, width) pair of a structural option (stride=(2, 3)) is one value, not an axis.
        if isinstance(value, (list, range)) or (isinstance(value, tuple) and name in SWEEPABLE):
            if name not in SWEEPABLE:
                raise ValueError(f"{name} cannot be swept; sweepable sizes: {', '.join(SWEEPABLE)}")
            if not value:
                raise ValueError(f"{name} was given an empty list")
            if len(value) == 1:
                fixed[name] = value[0]
            else:
                axes[name] = list(value)
        elif value is not None:
            fixed[name] = value
    return axes, fixed


def _evaluate(expression: Any, columns: dict) -> Any:
    """A layer's size (an int, a swept symbol, or a product or sum of them) over the grid.

    ``columns`` maps each swept size's symbol name ('C_in', 'H', ...) to its column.
    """
    if isinstance(expression, Poly):
        total: Any = 0
        for monomial, coefficient in expression.terms.items():
            term: Any = coefficient
            for name, exponent in monomial:
                term = term * columns[name] ** exponent
            total = total + term
        return total
    if not is_symbolic(expression):
        return expression
    if expression.is_Symbol:
        return columns[expression.name]
    if expression.is_Integer:
        return int(expression)
    if expression.is_Mul or expression.is_Add:
        parts = [_evaluate(arg, columns) for arg in expression.args]
        total = parts[0]
        for part in parts[1:]:
            total = total * part if expression.is_Mul else total + part
        return total
    if expression.is_Pow and expression.exp.is_Integer and expression.exp > 0:
        return _evaluate(expression.base, columns) ** int(expression.exp)
    raise RuntimeError(f"bug: a swept layer size {expression} is not a sum or product of sizes")


@dataclasses.dataclass(frozen=True)
class _GridLayer:
    """A layer's sizes as arrays over the grid: what the count formulas read from a ConvLayer."""

    kernel_h: int
    kernel_w: int
    kernel_d: int
    c_in: Any
    c_out: Any
    groups: Any
    bias: bool
    depth: Any
    height: Any
    width: Any
    batch: Any
    dtype_bytes: Any
    output_d: Any
    output_hw: tuple[Any, Any]
    transposed: bool = False


def _grid_layers(
    layers: list[ConvLayer], columns: dict, depth: Any, height: Any, width: Any
) -> tuple[list[_GridLayer], Any, Any]:
    """The layers over the grid, chained from the input ``depth`` x ``height`` x ``width`` (columns or numbers).

    Each layer's input is the previous one's output, computed here; the
    layers' own heights and widths are not read, so a block built for one
    height serves every height.  Returns the layers, whether every output
    length is >= 1 (the configuration exists), and whether every channel
    count divides by its groups.
    """
    grid_layers, fits, divides = [], True, True
    for layer in layers:
        lengths = [
            output_length(length, *layer.axis_geometry(axis))
            for axis, length in (("depth", depth), ("height", height), ("width", width))
        ]
        fits = fits & (lengths[0] >= 1) & (lengths[1] >= 1) & (lengths[2] >= 1)
        c_in, c_out = _evaluate(layer.c_in, columns), _evaluate(layer.c_out, columns)
        groups = _evaluate(layer.groups, columns)
        divides = divides & (c_in % groups == 0) & (c_out % groups == 0)
        # A layer that does not fit counts zero positions, so no count goes negative (or past the
        # largest corner's); the configuration is reported as an error anyway.
        out_d, out_h, out_w = (
            np.maximum(length, 0) if isinstance(length, np.ndarray) else max(length, 0) for length in lengths
        )
        grid_layers.append(
            _GridLayer(
                kernel_h=layer.kernel_h,
                kernel_w=layer.kernel_w,
                kernel_d=layer.kernel_d,
                c_in=c_in,
                c_out=c_out,
                groups=groups,
                bias=layer.bias,
                depth=depth,
                height=height,
                width=width,
                batch=_evaluate(layer.batch, columns),
                dtype_bytes=layer.dtype_bytes,
                output_d=out_d,
                output_hw=(out_h, out_w),
            )
        )
        depth, height, width = out_d, out_h, out_w
    return grid_layers, fits, divides


def _counts(layers: list[ConvLayer], columns: dict, fixed: dict) -> dict:
    depth, height, width = (
        columns.get(SYMBOL_NAMES[name], fixed.get(name, 1)) for name in ("depth", "height", "width")
    )
    grid_layers, fits, divides = _grid_layers(layers, columns, depth, height, width)
    total_params: Any = sum(params(layer) for layer in grid_layers)
    total_macs: Any = sum(macs(layer) for layer in grid_layers)
    return {"params": total_params, "macs": total_macs, "fits": fits, "divides": divides}


def _columns(axes: dict, grid: list[np.ndarray]) -> dict:
    return {SYMBOL_NAMES[name]: column for name, column in zip(axes, grid, strict=True)}


# A height or width that every kernel of a sensible size fits: the structure of a factorized block
# does not depend on the input's size, so a sweep over sizes derives it at this one.
_ROOMY = 10**12


def _structure(kernel: Any, scheme: str, fixed: dict, axes: dict) -> tuple[list[ConvLayer], list[ConvLayer]]:
    """The original layer and the factorized block's layers, with the swept channels as symbols.

    Without sympy: channels and batch as :class:`~costmodel.polynomial.Poly`
    symbols, and a swept height or width at its largest value (the layers'
    kernels, strides and channels do not depend on it, and :func:`_grid_layers`
    recomputes every length), or at a roomy one if the kernel does not fit the
    largest (then no row fits, and each says so).  Sympy symbols only if even
    that is refused.  An error that no swept size changes is raised as it is.
    """
    spatial = [name for name in axes if name in ("depth", "height", "width")]

    def build(size: Any) -> tuple[list[ConvLayer], list[ConvLayer]]:
        structural = {
            name: (size(values) if name in spatial else poly_symbol_for(name)) for name, values in axes.items()
        }
        comparison = savings(kernel, scheme, **fixed, **structural)
        return [comparison.layer], comparison.block.layers()

    try:
        return build(max)
    except ValueError:
        if not spatial:
            raise
    try:
        return build(lambda values: _ROOMY)
    except ValueError as error:
        if "does not fit" not in str(error):
            raise
    return _symbolic_structure(kernel, scheme, fixed, axes)


def _symbolic_structure(kernel: Any, scheme: str, fixed: dict, axes: dict) -> tuple[list[ConvLayer], list[ConvLayer]]:
    comparison = savings(kernel, scheme, **fixed, **{name: symbol_for(name) for name in axes})
    return [comparison.layer], comparison.block.layers()


def sweep_arrays(kernels: Iterable, schemes: Iterable[str], **values: Any) -> list[dict]:
    """Counts for every kernel x scheme over the grid, as numpy arrays.

    Returns one dict per (kernel, scheme): the grid columns and
    ``params_before``, ``params_after``, ``macs_before``, ``macs_after``
    (int64 arrays, or object arrays of Python ints past int64), ``exists``
    (bool array: every output length >= 1 and every channel count divisible
    by its groups), or ``error`` when the scheme cannot factorize that kernel.
    """
    results = []
    schemes = list(schemes)
    for kernel in kernels:
        results.extend(_sweep_kernel(kernel, schemes, values))
    return results


def _sweep_kernel(kernel: Any, schemes: Iterable[str], values: dict) -> list[dict]:
    """:func:`sweep_arrays` for one kernel: its rank says which of depth, height and width it has."""
    rank = len(parse_kernel_shape(kernel, values.get("rank")))
    absent = [name for name in ("depth", "height", "width") if name not in AXES_OF_RANK[rank]]
    given = [name for name in absent if values.get(name) is not None]
    if given:
        raise ValueError(f"kernel {kernel!r} is {rank}-D: it has no {given[0]} axis (a 1-D layer runs along the width)")
    defaults = {name: value for name, value in SWEEP_DEFAULTS.items() if name not in absent}
    if rank == 3:
        defaults["depth"] = DEFAULT_DEPTH
    axes, fixed = _grid({**defaults, **values, "rank": rank})
    corner = [np.array([max(values)], dtype=object) for values in axes.values()]
    exact_grid = [
        column.ravel()
        for column in np.meshgrid(*[np.array(values, dtype=object) for values in axes.values()], indexing="ij")
    ]
    int64_grid: list[np.ndarray] | None = None
    results = []
    for scheme in schemes:
        sizes = {name: value for name, value in fixed.items() if name in SWEEPABLE}
        entry = {"kernel": "x".join(map(str, parse_kernel_shape(kernel, rank))), "scheme": scheme, **sizes}
        try:
            before, after = _structure(kernel, scheme, fixed, axes)
        except ValueError as error:
            results.append({**entry, **dict(zip(axes, exact_grid, strict=True)), "error": str(error)})
            continue
        largest = [_counts(layers, _columns(axes, corner), fixed) for layers in (before, after)]
        fits_int64 = all(
            int(np.max(np.asarray(found[metric], dtype=object))) < INT64_SAFE
            for found in largest
            for metric in SWEPT_METRICS
        )
        if fits_int64 and int64_grid is None:
            int64_grid = [column.astype(np.int64) for column in exact_grid]
        grid = int64_grid if fits_int64 and int64_grid is not None else exact_grid
        columns = _columns(axes, grid)
        counted = [_counts(layers, columns, fixed) for layers in (before, after)]
        size = len(grid[0]) if grid else 1
        entry.update(dict(zip(axes, grid, strict=True)))
        for when, found in zip(("before", "after"), counted, strict=True):
            for metric in SWEPT_METRICS:
                entry[f"{metric}_{when}"] = np.broadcast_to(np.asarray(found[metric]), (size,))
        entry["exists"] = np.broadcast_to(
            np.asarray(counted[1]["fits"] & counted[0]["fits"] & counted[0]["divides"] & counted[1]["divides"]), (size,)
        )
        entry["channels_divide"] = np.broadcast_to(np.asarray(counted[0]["divides"] & counted[1]["divides"]), (size,))
        results.append(entry)
    return results


def ratio_text(ratio: Fraction) -> str:
    """'18/25', or '2' for a whole ratio (as sympy prints a Rational)."""
    return f"{ratio.numerator}/{ratio.denominator}" if ratio.denominator != 1 else str(ratio.numerator)


def sweep(kernels: Iterable, schemes: Iterable[str], **values: Any) -> list[dict]:
    """One row per configuration, with exact ratios as fraction strings.

    Lists in ``values`` are swept (every combination); scalars are fixed.
    A scheme that cannot factorize a kernel gives one row with ``error``.
    """
    rows = []
    for result in sweep_arrays(kernels, schemes, **values):
        base = {
            name: result[name]
            for name in ("kernel", "scheme", *SWEEPABLE)
            if name in result and np.ndim(result[name]) == 0
        }
        if "error" in result:
            rows.append({**base, "error": result["error"]})
            continue
        axes = [name for name in SWEEPABLE if name in result and np.ndim(result[name]) == 1]
        for i in range(len(result["exists"])):
            sizes = {**base, **{name: int(result[name][i]) for name in axes}}
            row = {name: sizes[name] for name in ("kernel", "scheme", *SWEEPABLE) if name in sizes}
            if not result["exists"][i]:
                reason = (
                    "kernel does not fit the input"
                    if result["channels_divide"][i]
                    else "channels are not divisible by groups"
                )
                rows.append({**row, "error": reason})
                continue
            for metric in SWEPT_METRICS:
                before, after = int(result[f"{metric}_before"][i]), int(result[f"{metric}_after"][i])
                exact = Fraction(after, before)
                row.update(
                    {
                        f"{metric}_before": before,
                        f"{metric}_after": after,
                        f"{metric}_ratio": ratio_text(exact),
                        f"{metric}_saving": float(1 - exact),
                    }
                )
            rows.append(row)
    return rows
