"""The latency model's data-driven part: a measured factor per kernel shape.

One efficiency curve per kind (:mod:`costmodel.latency.predict`) averages over the
algorithms a library picks by shape: oneDNN runs a 5x5 and a 7x7 kernel, or a
narrow and a wide one, through different code, and their times do not lie on
one roofline curve.  A *kernel factor* is what the calibration measured on top
of the roofline for one kernel shape (``"dense 5x5"``, ``"depthwise 3x3"``,
``"asymmetric 1x7"``), as a log-linear function of the channel width ``C`` and
the output positions ``P`` (batch x output height x output width, the rows of
the matrix kernel)::

    log factor = intercept + per_log_width x log C + per_log_positions x log P

fitted by least squares on the log of measured / roofline seconds (or its
mean alone, the ``constant`` form), or, the ``grid`` form, interpolated
piecewise-linearly in log C and log P between the measured points
(:class:`GridFactor`: exact at every measured point, so it follows a library's
changes of algorithm from one width to the next, which no smooth curve does).
``C`` and ``P`` are clamped to the range the shape was measured over: beyond
it the factor stays at the edge's value, and
:func:`costmodel.latency.predict.extrapolation` says so.

The factor predicts but does not explain; the roofline terms it multiplies
still do, and ``explain`` names a factor far from 1 as what it is: this
kernel, at this shape, runs slower or faster than its kind's curve.

>>> factor = fit_kernel_factor([12, 48, 12, 48], [1152, 1152, 12800, 12800], [0.0, 0.2, 0.1, 0.3])
>>> round(factor.at(24, 4000), 3), round(factor.at(1000, 4000), 3) == round(factor.at(48, 4000), 3)
(1.164, True)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from costmodel.checks import check_range, check_real
from costmodel.layer import ConvLayer

FORMS = ("constant", "log-linear", "grid")  # the intercept alone, also both slopes, or interpolation
SANE_COEFFICIENT = (-50.0, 50.0)
SANE_RANGE = (1e-9, 1e15)
# A factor is at most e^20 (about 5e8) either way: a measured kernel departs from its kind's roofline
# by orders of magnitude at most, and beyond this a prediction would overflow or vanish.
SANE_LOG_FACTOR = (-20.0, 20.0)


def output_positions(layer: ConvLayer) -> float:
    """Batch x output height x output width: the rows of the layer's matrix kernel.

    >>> output_positions(ConvLayer(3, 3, c_in=8, c_out=8, height=16, width=16, batch=8))
    2048.0
    """
    height, width = layer.output_hw
    return float(layer.batch * height * width)


@dataclasses.dataclass(frozen=True)
class KernelFactor:
    """``exp(intercept + per_log_width log C + per_log_positions log P)``, C and P clamped to their ranges."""

    intercept: float
    per_log_width: float
    per_log_positions: float
    width_range: tuple[float, float]
    positions_range: tuple[float, float]

    def __post_init__(self) -> None:
        for field in ("intercept", "per_log_width", "per_log_positions"):
            value = check_real(f"kernel factor {field}", getattr(self, field), minimum=-math.inf, sane=SANE_COEFFICIENT)
            object.__setattr__(self, field, value)
        for field in ("width_range", "positions_range"):
            pair = check_range(f"kernel factor {field}", getattr(self, field), minimum=0, sane=SANE_RANGE)
            object.__setattr__(self, field, pair)
        for width in self.width_range:  # the log factor is linear, so its extremes are at the corners
            for positions in self.positions_range:
                log_factor = self._log_at(width, positions)
                if not SANE_LOG_FACTOR[0] <= log_factor <= SANE_LOG_FACTOR[1]:
                    raise ValueError(
                        f"kernel factor reaches e^{log_factor:.3g} at width {width:g}, positions {positions:g}; "
                        f"a factor must lie between e^{SANE_LOG_FACTOR[0]:g} and e^{SANE_LOG_FACTOR[1]:g}"
                    )

    def _log_at(self, width: float, positions: float) -> float:
        return self.intercept + self.per_log_width * math.log(width) + self.per_log_positions * math.log(positions)

    def at(self, width: float, positions: float) -> float:
        """The factor at channel width ``width`` and ``positions`` output positions."""
        width = min(max(width, self.width_range[0]), self.width_range[1])
        positions = min(max(positions, self.positions_range[0]), self.positions_range[1])
        return math.exp(self._log_at(width, positions))

    def as_dict(self) -> dict:
        return {**dataclasses.asdict(self), "width_range": list(self.width_range),
                "positions_range": list(self.positions_range)}  # fmt: skip

    @classmethod
    def from_dict(cls, entry: Any) -> KernelFactor:
        fields = [field.name for field in dataclasses.fields(cls)]
        if not isinstance(entry, dict) or set(entry) != set(fields):
            keys = sorted(map(str, entry)) if isinstance(entry, dict) else type(entry).__name__
            raise ValueError(f"a kernel factor needs exactly {', '.join(fields)}, got {keys}")
        return cls(**entry)


@dataclasses.dataclass(frozen=True)
class GridFactor:
    """The measured log factors at (width, positions) points, interpolated between them.

    Within each measured positions level, piecewise-linear in log width; then
    piecewise-linear in log positions between the levels; both clamped at the
    ends (``numpy.interp``).

    >>> grid = GridFactor(((16, 1152, 0.0), (64, 1152, 0.4), (16, 4608, 0.2), (64, 4608, 0.6)))
    >>> round(grid.at(32, 1152), 3) == round(math.exp(0.2), 3), round(grid.at(500, 4608), 3) == round(math.exp(0.6), 3)
    (True, True)
    """

    points: tuple[tuple[float, float, float], ...]  # (width, positions, log factor)

    def __post_init__(self) -> None:
        if not isinstance(self.points, (list, tuple)) or not self.points:
            raise ValueError("a kernel factor grid needs at least one [width, positions, log factor] point")
        checked = []
        for point in self.points:
            if not isinstance(point, (list, tuple)) or len(point) != 3:
                raise ValueError(f"a kernel factor grid point is [width, positions, log factor], got {point!r}")
            width, positions = (
                check_real("kernel factor grid point", v, minimum=0, sane=SANE_RANGE) for v in point[:2]
            )
            log_factor = check_real("kernel factor grid log factor", point[2], minimum=-math.inf, sane=SANE_LOG_FACTOR)
            checked.append((width, positions, log_factor))
        if len({point[:2] for point in checked}) != len(checked):
            raise ValueError("a kernel factor grid has two points at the same width and positions")
        object.__setattr__(self, "points", tuple(sorted(checked)))

    @property
    def width_range(self) -> tuple[float, float]:
        widths = [point[0] for point in self.points]
        return (min(widths), max(widths))

    @property
    def positions_range(self) -> tuple[float, float]:
        positions = [point[1] for point in self.points]
        return (min(positions), max(positions))

    def at(self, width: float, positions: float) -> float:
        target = (math.log(width), math.log(positions))
        # Either axis first: where a point is missing (a cell left out), one order brackets the
        # target at every step and the other must clamp; the orders that clamp least are averaged
        # (on a full grid both give the same bilinear value).
        candidates = [self._interpolate(target, first) for first in (0, 1)]
        fewest = min(clamps for _, clamps in candidates)
        chosen = [value for value, clamps in candidates if clamps == fewest]
        return math.exp(sum(chosen) / len(chosen))

    def _interpolate(self, target: tuple[float, float], first: int) -> tuple[float, int]:
        """(log factor, number of inner steps that had to clamp), interpolating along axis ``first`` first."""
        second = 1 - first
        logs = [((math.log(w), math.log(p)), f) for w, p, f in self.points]
        levels = sorted({point[second] for point, _ in logs})
        values, clamps = [], 0
        for level in levels:
            row = sorted((point[first], f) for point, f in logs if point[second] == level)
            along = [x for x, _ in row]
            clamps += not along[0] <= target[first] <= along[-1]
            values.append(float(np.interp(target[first], along, [f for _, f in row])))
        return float(np.interp(target[second], levels, values)), clamps

    def as_dict(self) -> dict:
        return {"points": [list(point) for point in self.points]}


def factor_from_dict(entry: Any) -> KernelFactor | GridFactor:
    """A kernel factor from its JSON object: a grid (``points``) or a log-linear fit."""
    if isinstance(entry, dict) and set(entry) == {"points"}:
        points = entry["points"]
        return GridFactor(tuple(tuple(point) if isinstance(point, list) else point for point in points)
                          if isinstance(points, list) else points)  # fmt: skip
    return KernelFactor.from_dict(entry)


def fit_kernel_factor(
    widths: Sequence[float], positions: Sequence[float], log_factors: Sequence[float], form: str = "log-linear"
) -> KernelFactor | GridFactor:
    """Least squares of ``log_factors`` on log width and log positions (or the mean, for ``constant``).

    A slope is fitted only where its variable takes two values or more and
    there are more points than coefficients; otherwise it is 0, so a shape
    measured at one size gets no slope along size.
    """
    if form not in FORMS:
        raise ValueError(f"unknown kernel factor form {form!r}; known: {', '.join(FORMS)}")
    if form == "grid":
        return GridFactor(tuple(zip(map(float, widths), map(float, positions), map(float, log_factors), strict=True)))
    width_values, position_values = np.asarray(widths, float), np.asarray(positions, float)
    log_width, log_positions = np.log(width_values), np.log(position_values)
    target = np.asarray(log_factors, float)
    if target.size == 0:
        raise ValueError("a kernel factor needs at least one measurement")
    columns = [np.ones_like(target)]
    varying = []
    if form == "log-linear":
        for index, values in enumerate((log_width, log_positions)):
            if np.ptp(values) > 0 and target.size > len(columns) + 1:
                columns.append(values)
                varying.append(index)
    solution = np.linalg.lstsq(np.column_stack(columns), target, rcond=None)[0]
    slopes = [0.0, 0.0]
    for index, coefficient in zip(varying, solution[1:], strict=True):
        slopes[index] = float(coefficient)
    return KernelFactor(
        intercept=float(solution[0]),
        per_log_width=slopes[0],
        per_log_positions=slopes[1],
        width_range=(float(width_values.min()), float(width_values.max())),
        positions_range=(float(position_values.min()), float(position_values.max())),
    )
