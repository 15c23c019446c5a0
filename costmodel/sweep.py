"""Many configurations at once: kernel sizes x schemes x a grid of sizes.

Each (kernel, scheme) pair is derived symbolically once, with every swept
size as a symbol; the counts are then turned into numpy functions with
``sympy.lambdify`` and evaluated over the whole grid in one vectorised call.
Substituting numbers into expressions one configuration at a time would be
a thousand times slower.

>>> rows = sweep(["5x5"], ["stack"], c_in=[32, 64], c_out=64)
>>> [(row["c_in"], row["macs_ratio"]) for row in rows]
[(32, '27/25'), (64, '18/25')]
"""

from __future__ import annotations

import itertools
from fractions import Fraction
from typing import Iterable

import numpy as np
import sympy

from costmodel.analysis import SYMBOL_FOR, savings
from costmodel.counts import count_layer
from costmodel.kernel import parse_kernel

SWEEPABLE = ("c_in", "c_out", "mid", "height", "width", "batch")
SWEPT_METRICS = ("params", "macs")
# A sweep evaluates numbers, so sizes left out take the seed experiment's values.
SWEEP_DEFAULTS = {"c_in": 64, "c_out": 64, "height": 32, "width": 32, "batch": 1}


def _grid(values: dict) -> tuple[dict, dict]:
    """Split values into swept axes (lists) and fixed ones."""
    axes, fixed = {}, {}
    values = {**SWEEP_DEFAULTS, **{k: v for k, v in values.items() if v is not None}}
    for name, value in values.items():
        if isinstance(value, (list, tuple, range)):
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


class _Compiled:
    """The counts of one (kernel, scheme) pair as numpy functions of the swept sizes."""

    def __init__(self, comparison, axes: list[str]):
        arguments = [SYMBOL_FOR[name] for name in axes]
        layers = [comparison.layer] + comparison.block.layers()
        before, after = count_layer(comparison.layer), comparison.block.counts()
        expressions = [getattr(before, m) for m in SWEPT_METRICS] + [getattr(after, m) for m in SWEPT_METRICS]
        # Every output length must be >= 1 for the configuration to exist.
        expressions.append(sympy.Min(*[length for layer in layers for length in layer.output_hw]))
        self.evaluate = sympy.lambdify(arguments, expressions, modules="numpy")

    def __call__(self, grid: list[np.ndarray]) -> list[np.ndarray]:
        size = len(grid[0]) if grid else 1
        return [np.broadcast_to(np.asarray(values, dtype=np.int64), (size,))
                for values in self.evaluate(*grid)]


def sweep_arrays(kernels: Iterable, schemes: Iterable[str], **values) -> list[dict]:
    """Counts for every kernel x scheme over the grid, as numpy arrays.

    Returns one dict per (kernel, scheme): the grid columns and
    ``params_before``, ``params_after``, ``macs_before``, ``macs_after``
    (int64 arrays), ``exists`` (bool array: every output length >= 1), or
    ``error`` when the scheme cannot factorize that kernel.
    """
    axes, fixed = _grid(values)
    grid = [column.ravel() for column in np.meshgrid(*axes.values(), indexing="ij")] if axes else []
    results = []
    for kernel, scheme in itertools.product(kernels, schemes):
        sizes = {name: value for name, value in fixed.items() if name in SWEEPABLE}
        entry = {"kernel": "x".join(map(str, parse_kernel(kernel))), "scheme": scheme,
                 **sizes, **dict(zip(axes, grid))}
        try:
            symbolic = {name: SYMBOL_FOR[name] for name in axes}
            compiled = _Compiled(savings(kernel, scheme, **fixed, **symbolic), list(axes))
        except ValueError as error:
            results.append({**entry, "error": str(error)})
            continue
        values_out = compiled(grid)
        names = [f"{m}_{when}" for when in ("before", "after") for m in SWEPT_METRICS]
        entry.update(zip(names, values_out[:-1]))
        entry["exists"] = values_out[-1] >= 1
        results.append(entry)
    return results


def sweep(kernels: Iterable, schemes: Iterable[str], **values) -> list[dict]:
    """One row per configuration, with exact ratios as fraction strings.

    Lists in ``values`` are swept (every combination); scalars are fixed.
    A scheme that cannot factorize a kernel gives one row with ``error``.
    """
    rows = []
    for result in sweep_arrays(kernels, schemes, **values):
        base = {name: result[name] for name in ("kernel", "scheme", *SWEEPABLE)
                if name in result and np.ndim(result[name]) == 0}
        if "error" in result:
            rows.append({**base, "error": result["error"]})
            continue
        axes = [name for name in SWEEPABLE if np.ndim(result.get(name)) == 1]
        for i in range(len(result["exists"])):
            sizes = {**base, **{name: int(result[name][i]) for name in axes}}
            row = {name: sizes[name] for name in ("kernel", "scheme", *SWEEPABLE) if name in sizes}
            if not result["exists"][i]:
                rows.append({**row, "error": "kernel does not fit the input"})
                continue
            for metric in SWEPT_METRICS:
                before, after = int(result[f"{metric}_before"][i]), int(result[f"{metric}_after"][i])
                exact = Fraction(after, before)
                row.update({f"{metric}_before": before, f"{metric}_after": after,
                            f"{metric}_ratio": f"{exact.numerator}/{exact.denominator}"
                            if exact.denominator != 1 else str(exact.numerator),
                            f"{metric}_saving": float(1 - exact)})
            rows.append(row)
    return rows
