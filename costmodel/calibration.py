"""Fitting a device profile to measurements, and scoring predictions honestly.

Pure numpy: the measurements come from :mod:`validate.calibrate` (which runs
TensorFlow); the fitting and the scoring are here so they are tested on
synthetic data with known answers.

The ceilings (peak FLOP/s, bandwidth) and the overheads are measured by
microbenchmarks; only the per-kind efficiency curves are fitted::

    measured ≈ call_overhead + repeats * (op_overhead + max(FLOPs / (peak * e(C)), bytes / bandwidth))
    e(C) = max * C / (C + half_channels)

one kind at a time, by minimising the squared *relative* error: for each
``half_channels`` on a log grid, the best ``max`` on a log grid refined
twice around its minimum (the ``max`` in the model makes it piecewise, so a
closed form would need cases; the search resolves 0.1% and is instant).  Relative errors make a 10 ms layer
and a 0.1 ms layer count alike, as the accuracy figures do.

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
from costmodel.latency import KINDS, DeviceProfile, channel_width, layer_kind, predict_layer
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
) -> DeviceProfile:
    """A profile with every efficiency 1: its predictions give the raw roofline terms."""
    return DeviceProfile(
        device,
        peak_flops_per_second,
        bandwidth_bytes_per_second,
        op_overhead_seconds,
        call_overhead_seconds,
        dict.fromkeys(KINDS, 1.0),
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

    @classmethod
    def of(cls, observations: Sequence[Observation]) -> _Terms:
        counts = [count_layer(o.layer) for o in observations]
        return cls(
            flops=np.array([float(c.flops) for c in counts]),
            traffic=np.array([float(c.memory_bytes) for c in counts]),
            width=np.array([channel_width(o.layer) for o in observations]),
            repeats=np.array([float(o.repeats) for o in observations]),
            seconds=np.array([o.seconds for o in observations]),
        )


def _costs(maxima: np.ndarray, half: float, terms: _Terms, unit: DeviceProfile) -> np.ndarray:
    """Sum of squared relative errors for each candidate maximum efficiency (vectorised)."""
    efficiency = maxima[:, None] * terms.width / (terms.width + half)
    compute = terms.flops / (unit.peak_flops_per_second * efficiency)
    memory = terms.traffic / unit.bandwidth_bytes_per_second
    predicted = unit.call_overhead_seconds + terms.repeats * (unit.op_overhead_seconds + np.maximum(compute, memory))
    return np.sum(((predicted - terms.seconds) / terms.seconds) ** 2, axis=1)


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
    unit = _unit_profile("fit", **ceilings)
    efficiencies = {}
    for kind in KINDS:
        observed = [o for o in observations if layer_kind(o.layer) == kind]
        if not observed:
            raise ValueError(f"no calibration measurement of a {kind} layer: cannot fit its efficiency")
        efficiencies[kind] = _fit_kind(_Terms.of(observed), unit)
    return efficiencies


def fit_profile(device: str, observations: list[Observation], **ceilings: Any) -> DeviceProfile:
    """A complete profile: measured ceilings and overheads, fitted efficiencies."""
    efficiency = fit_efficiencies(observations, **ceilings)
    return DeviceProfile(device=device, efficiency=efficiency, **ceilings)


def residuals(observations: list[Observation], profile: DeviceProfile) -> list[dict]:
    """(predicted - measured) / measured for each observation, with what it was."""
    rows = []
    for observation in observations:
        predicted = (
            profile.call_overhead_seconds + observation.repeats * predict_layer(observation.layer, profile).seconds
        )
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
    layers: Sequence[ConvLayer], repeats: int, efficiency: dict, **ceilings: Any
) -> list[Observation]:
    """What a device with exactly these parameters would measure (for tests and examples)."""
    profile = DeviceProfile("synthetic", efficiency=efficiency, **ceilings)
    return [
        Observation(layer, repeats, profile.call_overhead_seconds + repeats * predict_layer(layer, profile).seconds)
        for layer in layers
    ]
