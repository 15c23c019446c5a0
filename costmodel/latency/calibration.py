"""Fitting a device profile to measurements, and scoring predictions honestly.

Pure numpy: the measurements come from :mod:`validate.experiments.calibrate` (which runs
TensorFlow); the fitting and the scoring are here so they are tested on
synthetic data with known answers.

The ceilings (peak FLOP/s, bandwidth) and the overheads are measured by
microbenchmarks; the per-kind efficiency curves are fitted::

    measured ≈ call_overhead + repeats * (op_overhead + max(FLOPs / (peak * e(C)), bytes / bandwidth))
    e(C) = max * C / (C + half_channels)

one kind at a time, by minimising the squared *relative* error: for each
``half_channels`` on a log grid, the best ``max`` on a log grid refined
twice around its minimum (the ``max`` in the model makes it piecewise, so a
closed form would need cases; the search resolves 0.1% and is instant).  Relative errors make a 10 ms layer
and a 0.1 ms layer count alike, as the accuracy figures do.

Then, per kernel shape, a kernel factor (:mod:`costmodel.latency.kernel_factors`) on
top of the roofline, if cross-validation says it predicts better: each cell of
the calibration grid (one channel width and size, every shape) that lies
between others in width or in size, and within their range in both, is left
out in turn, the rest fitted, and the cell's
times *relative to each other* predicted, as a factorization's ratio needs
(:meth:`_Calibration.leave_one_cell_out`).  The simplest form within one
standard error of the best is kept (:func:`choose_model`).

>>> from costmodel.layer import ConvLayer
>>> truth = {"dense": 0.5, "pointwise": 0.4, "depthwise": 0.1, "asymmetric": 0.3}  # constant
>>> ceilings = dict(peak_flops_per_second=1e11, bandwidth_bytes_per_second=1e10,
...                 op_overhead_seconds=1e-5, call_overhead_seconds=4e-5)
>>> layers = [ConvLayer(3, 3, c_in=32, c_out=32, height=16, width=16),
...           ConvLayer(1, 1, c_in=32, c_out=32, height=16, width=16),
...           ConvLayer.depthwise(3, 3, 32, height=16, width=16),
...           ConvLayer(1, 3, c_in=32, c_out=32, height=16, width=16)]
>>> observations = synthetic_observations(layers, repeats=4, efficiency=truth, **ceilings)
>>> profile = fit_profile("example", observations, **ceilings)
>>> {kind: round(entry["max"], 2) for kind, entry in profile.efficiency.items()} == truth
True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from costmodel.counts import count_layer
from costmodel.latency.kernel_factors import GridFactor, KernelFactor, fit_kernel_factor, output_positions
from costmodel.latency.predict import (
    call_seconds,
    channel_width,
    efficiency_at,
    kernel_shape,
    layer_kind,
    predict_seconds,
)
from costmodel.latency.profile import KINDS, MODELS, DeviceProfile, model_of
from costmodel.layer import ConvLayer


@dataclasses.dataclass(frozen=True)
class Observation:
    """One measured stack: a layer repeated ``repeats`` times, seconds per call."""

    layer: ConvLayer
    repeats: int
    seconds: float

    def __post_init__(self) -> None:
        if not self.seconds > 0:
            raise ValueError(f"measured seconds must be > 0, got {self.seconds!r}")
        if not (isinstance(self.repeats, int) and self.repeats >= 1):
            raise ValueError(f"repeats must be an integer >= 1, got {self.repeats!r}")


def _unit_profile(
    device: str,
    peak_flops_per_second: float,
    bandwidth_bytes_per_second: float,
    op_overhead_seconds: float,
    call_overhead_seconds: float,
    call_seconds_per_byte: float = 0.0,
) -> DeviceProfile:
    """A profile with every efficiency 1: its predictions give the raw roofline terms."""
    return DeviceProfile(
        device,
        peak_flops_per_second,
        bandwidth_bytes_per_second,
        op_overhead_seconds,
        call_overhead_seconds,
        dict.fromkeys(KINDS, 1.0),
        call_seconds_per_byte=call_seconds_per_byte,
    )


EFFICIENCY_RANGE = (1e-4, 4.0)  # beyond 1: the peak microbenchmark undershot the device
HALF_CHANNELS = np.concatenate([[0.0], np.geomspace(1.0, 1024.0, 41)])


@dataclasses.dataclass(frozen=True)
class _Terms:
    """The observations of one kind as arrays, counted once (sympy is slow, numpy is not)."""

    flops: np.ndarray
    traffic: np.ndarray
    width: np.ndarray
    repeats: np.ndarray
    seconds: np.ndarray
    call: np.ndarray  # each stack's fixed cost per call, from the measured overheads

    @classmethod
    def of(cls, observations: Sequence[Observation], unit: DeviceProfile) -> _Terms:
        counts = [count_layer(o.layer) for o in observations]
        return cls(
            flops=np.array([float(c.flops) for c in counts]),
            traffic=np.array([float(c.memory_bytes) for c in counts]),
            width=np.array([channel_width(o.layer) for o in observations]),
            repeats=np.array([float(o.repeats) for o in observations]),
            seconds=np.array([o.seconds for o in observations]),
            call=np.array([call_seconds(o.layer, unit) for o in observations]),
        )


def _costs(maxima: np.ndarray, half: float, terms: _Terms, unit: DeviceProfile) -> np.ndarray:
    """Sum of squared relative errors for each candidate maximum efficiency (vectorised)."""
    efficiency = maxima[:, None] * terms.width / (terms.width + half)
    predicted = terms.call + terms.repeats * _layer_seconds(terms, unit, efficiency)
    return np.sum(((predicted - terms.seconds) / terms.seconds) ** 2, axis=1)


def _layer_seconds(terms: _Terms, unit: DeviceProfile, efficiency: np.ndarray) -> np.ndarray:
    """Op overhead plus the slower of compute at ``efficiency`` and memory traffic (vectorised)."""
    compute = terms.flops / (unit.peak_flops_per_second * efficiency)
    return unit.op_overhead_seconds + np.maximum(compute, terms.traffic / unit.bandwidth_bytes_per_second)


def _best_maximum(half: float, terms: _Terms, unit: DeviceProfile) -> tuple[float, float]:
    """(best maximum efficiency, its cost) for one half-saturation width."""
    low, high = np.log(EFFICIENCY_RANGE)
    for _ in range(3):  # coarse grid, then finer grids around the best point
        grid = np.exp(np.linspace(low, high, 81))
        costs = _costs(grid, half, terms, unit)
        best = int(np.argmin(costs))
        low, high = np.log(grid[max(best - 1, 0)]), np.log(grid[min(best + 1, grid.size - 1)])
    return float(grid[best]), float(costs[best])


def _fit_kind(terms: _Terms, unit: DeviceProfile) -> dict:
    # With a single width in the data, how efficiency changes with width is unknowable: constant.
    halves = HALF_CHANNELS if np.unique(terms.width).size > 1 else [0.0]
    fits = [(*_best_maximum(half, terms, unit), half) for half in halves]
    maximum, _, half = min(fits, key=lambda fit: fit[1])
    return {"max": maximum, "half_channels": float(half)}


def fit_efficiencies(observations: list[Observation], **ceilings: Any) -> dict[str, dict]:
    """Per kind, the efficiency curve minimising the squared relative error.

    Every kind needs at least one observation; it needs two channel widths for
    the curve to rise with width (otherwise it is fitted as a constant).
    """
    return _Calibration(observations, ceilings).efficiencies(np.ones(len(observations), bool))


class _Calibration:
    """The observations as arrays, counted once, for fitting and cross-validating every model form."""

    def __init__(self, observations: Sequence[Observation], ceilings: dict) -> None:
        if not observations:
            raise ValueError("no calibration measurements to fit")
        self.unit = _unit_profile("fit", **ceilings)
        self.terms = _Terms.of(observations, self.unit)
        self.kinds = np.array([layer_kind(o.layer) for o in observations])
        self.shapes = np.array([kernel_shape(o.layer) for o in observations])
        self.positions = np.array([output_positions(o.layer) for o in observations])
        # The layer's own seconds in the stack: what a kernel factor is fitted to.
        seconds = self.terms.seconds
        per_layer = (seconds - self.terms.call) / self.terms.repeats
        self.layer_seconds = np.maximum(per_layer, MIN_LAYER_SHARE * seconds / self.terms.repeats)

    def _subset(self, mask: np.ndarray) -> _Terms:
        return _Terms(*(getattr(self.terms, f.name)[mask] for f in dataclasses.fields(_Terms)))

    def efficiencies(self, mask: np.ndarray, only: str | None = None, known: dict | None = None) -> dict:
        """Each kind's curve fitted on the masked observations (``only``: refit that kind, keep ``known``'s)."""
        fitted = dict(known or {})
        for kind in [only] if only else KINDS:
            chosen = mask & (self.kinds == kind)
            if not chosen.any():
                raise ValueError(f"no calibration measurement of a {kind} layer: cannot fit its efficiency")
            fitted[kind] = _fit_kind(self._subset(chosen), self.unit)
        return fitted

    def unfactored(self, efficiencies: dict) -> np.ndarray:
        """Each observation's layer seconds under the roofline with these efficiencies (no kernel factor)."""
        pairs = zip(self.kinds, self.terms.width, strict=True)
        efficiency = np.array([efficiency_at(efficiencies[kind], width) for kind, width in pairs])
        return _layer_seconds(self.terms, self.unit, efficiency)

    def factor(self, mask: np.ndarray, unfactored: np.ndarray, form: str) -> KernelFactor | GridFactor:
        """One shape's kernel factor from the masked observations."""
        log_factors = np.log(self.layer_seconds[mask] / unfactored[mask])
        return fit_kernel_factor(self.terms.width[mask], self.positions[mask], log_factors, form)

    def factors(self, unfactored: np.ndarray, form: str) -> dict[str, KernelFactor | GridFactor]:
        return {shape: self.factor(self.shapes == shape, unfactored, form) for shape in np.unique(self.shapes)}

    def _inside(self, cell: np.ndarray, others: np.ndarray) -> bool:
        """Whether a (width, positions) cell lies between ``others`` in one of the two, and within them in the other.

        Such a cell is an interpolation; a corner of the grid could only be
        extrapolated, which is not how the profile is used.
        """
        if not others.any():
            return False
        within, between = [], []
        for value, measured in ((cell[0], self.terms.width[others]), (cell[1], self.positions[others])):
            within.append(measured.min() <= value <= measured.max())
            between.append(measured.min() < value < measured.max())
        return all(within) and any(between)

    def leave_one_cell_out(self) -> dict[str, np.ndarray]:
        """Per model form, each observation's error on *relative* time, predicted from a fit without its cell.

        A cell is one channel width and one size: every kernel shape measured
        there.  Each cell lying inside the range of the others is left out in
        turn (an interpolation, as the sweep's shapes are; beyond the range a
        prediction is flagged as an extrapolation instead), everything is
        fitted on the rest, and the cell's layers are predicted.  The error
        scored is the log error minus its mean over the cell: how well the model
        predicts one layer's time *relative to* the others at the same width and
        size, which is what a factorization's time ratio needs and what drift
        between calibrations cannot touch.  NaN where a cell is not scored.
        """
        cells = np.column_stack([self.terms.width, self.positions])
        errors = {model: np.full(self.kinds.size, np.nan) for model in MODELS}
        for cell in np.unique(cells, axis=0):
            held_out = np.all(cells == cell, axis=1)
            rest = ~held_out
            if not self._inside(cell, rest) or any(not (rest & (self.kinds == kind)).any() for kind in KINDS):
                continue
            unfactored = self.unfactored(self.efficiencies(rest))
            for model, form in MODELS.items():
                predicted = unfactored[held_out].copy()
                if form is not None:
                    for offset, index in enumerate(np.flatnonzero(held_out)):
                        same_shape = rest & (self.shapes == self.shapes[index])
                        if same_shape.any():
                            factor = self.factor(same_shape, unfactored, form)
                            predicted[offset] *= factor.at(*cell)
                log_error = np.log(predicted / self.layer_seconds[held_out])
                errors[model][held_out] = log_error - log_error.mean()
        return errors


MIN_LAYER_SHARE = 0.05  # a layer's seconds are at least this share of its stack's per-layer seconds


def choose_model(errors: dict[str, np.ndarray]) -> tuple[str, dict]:
    """The simplest model form within one standard error of the best, by mean absolute log error.

    The one-standard-error rule (Breiman et al. 1984; Hastie, Tibshirani and
    Friedman, section 7.10): a more flexible form must beat a simpler one by
    more than the cross-validation's own noise, measured as the standard error
    of the per-observation difference, or the simpler one is kept.
    """
    scored = {model: np.abs(error[np.isfinite(error)]) for model, error in errors.items()}
    if not all(values.size for values in scored.values()):
        return "roofline", {}
    means = {model: float(values.mean()) for model, values in scored.items()}
    best = min(means, key=means.__getitem__)
    chosen = best
    for model in MODELS:  # simplest first
        difference = scored[model] - scored[best]
        standard_error = float(difference.std(ddof=1) / np.sqrt(difference.size)) if difference.size > 1 else 0.0
        if means[model] - means[best] <= standard_error:
            chosen = model
            break
    table = {
        model: {
            "count": int(values.size),
            "mean_absolute_log_error": means[model],
            "within_10_percent": float(np.mean(np.abs(np.expm1(errors[model][np.isfinite(errors[model])])) <= 0.10)),
        }
        for model, values in scored.items()
    }
    return chosen, table


def calibrated_range(observations: Sequence[Observation]) -> dict:
    """The channel widths, sizes, batches and kernel shapes the calibration measured."""
    layers = [o.layer for o in observations]
    widths = [channel_width(layer) for layer in layers]
    sizes = [float(side) for layer in layers for side in (layer.height, layer.width)]
    batches = [float(layer.batch) for layer in layers]
    return {
        "channels": [min(widths), max(widths)],
        "sizes": [min(sizes), max(sizes)],
        "batches": [min(batches), max(batches)],
        "kernels": sorted({kernel_shape(layer) for layer in layers}),
    }


def fit_profile(device: str, observations: list[Observation], **ceilings: Any) -> DeviceProfile:
    """A complete profile: measured ceilings and overheads, fitted efficiencies, and, where
    leave-one-out cross-validation says they predict better, per-shape kernel factors.

    The cross-validation scores go to the profile's ``cross_validation`` field.
    """
    calibration = _Calibration(observations, ceilings)
    efficiency = calibration.efficiencies(np.ones(len(observations), bool))
    model, scores = choose_model(calibration.leave_one_cell_out())
    form = MODELS[model]
    factors = {} if form is None else calibration.factors(calibration.unfactored(efficiency), form)
    return DeviceProfile(
        device=device,
        efficiency=efficiency,
        model=model,
        kernel_factors=factors,
        calibrated_range=calibrated_range(observations),
        extra={"cross_validation": scores},
        **ceilings,
    )


def residuals(observations: list[Observation], profile: DeviceProfile) -> list[dict]:
    """(predicted - measured) / measured for each observation, with what it was."""
    rows = []
    for observation in observations:
        predicted = predict_seconds(observation.layer, profile, observation.repeats)
        rows.append(
            {
                "layer": observation.layer.describe(),
                "kind": layer_kind(observation.layer),
                "height": int(observation.layer.height),
                "repeats": observation.repeats,
                "measured_seconds": observation.seconds,
                "predicted_seconds": predicted,
                "relative_error": (predicted - observation.seconds) / observation.seconds,
            }
        )
    return rows


CALL_ERROR_FLOOR = 0.10  # no call-cost figure is trusted closer than this share of itself


def fit_call_overhead(
    tensor_bytes: Sequence[float], seconds: Sequence[float], errors: Sequence[float]
) -> tuple[float, float]:
    """(seconds per call, seconds per byte in and out): a graph call's fixed cost as a line in its tensors' bytes.

    Weighted least squares, each point weighted by 1 / its error squared, the
    error at least ``CALL_ERROR_FLOOR`` of the point's own value (two precise
    points must not outweigh the rest: a call's fixed cost moves by that much
    from one build to the next here); points with a non-finite figure, or a
    cost of 0 or less (a microbenchmark clamped at 0 measured noise, not a
    cost), are left out.  A negative slope is no slope: then the
    weighted mean is the cost of every call.

    >>> per_call, per_byte = fit_call_overhead([0, 1e6, 4e6], [4e-4, 5e-4, 8e-4], [1e-5] * 3)
    >>> round(per_call * 1e4, 6), round(per_byte * 1e10, 6)
    (4.0, 1.0)
    """
    size, cost, error = (np.asarray(values, float) for values in (tensor_bytes, seconds, errors))
    usable = np.isfinite(size) & np.isfinite(cost) & np.isfinite(error) & (cost > 0)
    size, cost, error = size[usable], cost[usable], error[usable]
    if size.size == 0:
        raise ValueError("no call-cost measurement to fit")
    error = np.maximum(error, CALL_ERROR_FLOOR * cost)
    weights = 1.0 / np.maximum(error, 1e-12) ** 2
    design = np.column_stack([np.ones_like(size), size])
    if np.ptp(size) > 0:
        intercept, slope = np.linalg.solve(design.T @ (design * weights[:, None]), design.T @ (weights * cost))
        if slope >= 0 and intercept >= 0:
            return float(intercept), float(slope)
    return max(float(np.sum(weights * cost) / np.sum(weights)), 0.0), 0.0


def fit_seconds_per_mac(observations: list[Observation]) -> float:
    """The naive model's one constant: seconds = c x MACs, by relative least squares."""
    macs = np.array([float(count_layer(o.layer).macs) * o.repeats for o in observations])
    seconds = np.array([o.seconds for o in observations])
    ratio = macs / seconds
    return float(ratio.sum() / (ratio * ratio).sum())


def accuracy(predicted: Sequence[float] | np.ndarray, measured: Sequence[float] | np.ndarray) -> dict:
    """Share within ±10% and ±20%, and the median absolute percentage error.

    >>> figures = accuracy([1.05, 0.85, 2.0], [1.0, 1.0, 1.0])
    >>> figures["within_10_percent"], figures["within_20_percent"]
    (0.3333333333333333, 0.6666666666666666)
    >>> round(figures["median_absolute_percentage_error"], 6)
    15.0
    """
    predicted, measured = np.asarray(predicted, dtype=float), np.asarray(measured, dtype=float)
    if predicted.shape != measured.shape or predicted.size == 0:
        raise ValueError("accuracy needs as many predictions as measurements, at least one")
    error = np.abs(predicted - measured) / measured
    return {
        "count": int(error.size),
        "within_10_percent": float(np.mean(error <= 0.10)),
        "within_20_percent": float(np.mean(error <= 0.20)),
        "median_absolute_percentage_error": float(100 * np.median(error)),
    }


def synthetic_observations(
    layers: Sequence[ConvLayer], repeats: int, efficiency: dict, kernel_factors: dict | None = None, **ceilings: Any
) -> list[Observation]:
    """What a device with exactly these parameters would measure (for tests and examples)."""
    factors = kernel_factors or {}
    profile = DeviceProfile(
        "synthetic", efficiency=efficiency, model=model_of(factors), kernel_factors=factors, **ceilings
    )
    return [Observation(layer, repeats, predict_seconds(layer, profile, repeats)) for layer in layers]
