"""Fitting a device profile to measurements, and scoring predictions honestly.

Pure numpy: the measurements come from :mod:`validate.calibrate` (which runs
TensorFlow); the fitting and the scoring are here so they are tested on
synthetic data with known answers.

The ceilings (peak FLOP/s, bandwidth) and the overheads are measured by
microbenchmarks; only the per-kind efficiencies are fitted.  The model is
linear in ``x = 1/efficiency``::

    measured ≈ call_overhead + repeats * (op_overhead + roofline_seconds * x)

so each kind's ``x`` has a closed-form least-squares solution.  Residuals are
taken *relative* to the measurement, so a 10 ms layer and a 0.1 ms layer
count alike, as the accuracy figures do.

>>> from costmodel.layer import ConvLayer
>>> truth = {"dense": 0.5, "pointwise": 0.4, "depthwise": 0.1, "asymmetric": 0.3}
>>> ceilings = dict(peak_flops_per_second=1e11, bandwidth_bytes_per_second=1e10,
...                 op_overhead_seconds=1e-5, call_overhead_seconds=4e-5)
>>> layers = [ConvLayer(3, 3, c_in=32, c_out=32, height=16, width=16),
...           ConvLayer(1, 1, c_in=32, c_out=32, height=16, width=16),
...           ConvLayer.depthwise(3, 3, 32, height=16, width=16),
...           ConvLayer(1, 3, c_in=32, c_out=32, height=16, width=16)]
>>> observations = synthetic_observations(layers, repeats=4, efficiency=truth, **ceilings)
>>> profile = fit_profile("example", observations, **ceilings)
>>> {kind: round(value, 6) for kind, value in profile.efficiency.items()} == truth
True
"""

from __future__ import annotations

import dataclasses

import numpy as np

from costmodel.counts import count_layer
from costmodel.latency import KINDS, DeviceProfile, layer_kind, predict_layer


@dataclasses.dataclass(frozen=True)
class Observation:
    """One measured stack: a layer repeated ``repeats`` times, seconds per call."""

    layer: object
    repeats: int
    seconds: float

    def __post_init__(self) -> None:
        if not self.seconds > 0:
            raise ValueError(f"measured seconds must be > 0, got {self.seconds!r}")
        if not (isinstance(self.repeats, int) and self.repeats >= 1):
            raise ValueError(f"repeats must be an integer >= 1, got {self.repeats!r}")


def _unit_profile(device: str, peak_flops_per_second: float, bandwidth_bytes_per_second: float,
                  op_overhead_seconds: float, call_overhead_seconds: float) -> DeviceProfile:
    """A profile with every efficiency 1: its predictions give the raw roofline terms."""
    return DeviceProfile(device, peak_flops_per_second, bandwidth_bytes_per_second,
                         op_overhead_seconds, call_overhead_seconds, dict.fromkeys(KINDS, 1.0))


def fit_efficiencies(observations: list[Observation], **ceilings) -> dict[str, float]:
    """Per-kind efficiencies by relative least squares on ``x = 1/efficiency``.

    Every kind needs at least one observation; an efficiency the data push to
    zero or below (overheads larger than the measurement) is an error.
    """
    unit = _unit_profile("fit", **ceilings)
    sums = {kind: [0.0, 0.0] for kind in KINDS}
    for observation in observations:
        prediction = predict_layer(observation.layer, unit)
        fixed = unit.call_overhead_seconds + observation.repeats * unit.op_overhead_seconds
        slope = observation.repeats * prediction.roofline_seconds
        weight = slope / observation.seconds
        sums[prediction.kind][0] += weight * (observation.seconds - fixed) / observation.seconds
        sums[prediction.kind][1] += weight * weight
    efficiencies = {}
    for kind, (numerator, denominator) in sums.items():
        if denominator == 0:
            raise ValueError(f"no calibration measurement of a {kind} layer: cannot fit its efficiency")
        inverse = numerator / denominator
        if not inverse > 0:
            raise ValueError(f"the {kind} measurements are faster than the overheads alone; "
                             "the overhead microbenchmark is off")
        efficiencies[kind] = 1.0 / inverse
    return efficiencies


def fit_profile(device: str, observations: list[Observation], **ceilings) -> DeviceProfile:
    """A complete profile: measured ceilings and overheads, fitted efficiencies."""
    efficiency = fit_efficiencies(observations, **ceilings)
    return DeviceProfile(device=device, efficiency=efficiency, **ceilings)


def residuals(observations: list[Observation], profile: DeviceProfile) -> list[dict]:
    """(predicted - measured) / measured for each observation, with what it was."""
    rows = []
    for observation in observations:
        predicted = profile.call_overhead_seconds + observation.repeats * predict_layer(
            observation.layer, profile).seconds
        rows.append({"layer": observation.layer.describe(), "kind": layer_kind(observation.layer),
                     "height": int(observation.layer.height), "repeats": observation.repeats,
                     "measured_seconds": observation.seconds, "predicted_seconds": predicted,
                     "relative_error": (predicted - observation.seconds) / observation.seconds})
    return rows


def fit_seconds_per_mac(observations: list[Observation]) -> float:
    """The naive model's one constant: seconds = c x MACs, by relative least squares."""
    macs = np.array([float(count_layer(o.layer).macs) * o.repeats for o in observations])
    seconds = np.array([o.seconds for o in observations])
    ratio = macs / seconds
    return float(ratio.sum() / (ratio * ratio).sum())


def accuracy(predicted, measured) -> dict:
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
    return {"count": int(error.size), "within_10_percent": float(np.mean(error <= 0.10)),
            "within_20_percent": float(np.mean(error <= 0.20)),
            "median_absolute_percentage_error": float(100 * np.median(error))}


def synthetic_observations(layers, repeats: int, efficiency: dict, **ceilings) -> list[Observation]:
    """What a device with exactly these parameters would measure (for tests and examples)."""
    profile = DeviceProfile("synthetic", efficiency=efficiency, **ceilings)
    return [Observation(layer, repeats, profile.call_overhead_seconds
                        + repeats * predict_layer(layer, profile).seconds) for layer in layers]
