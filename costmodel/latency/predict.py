"""Predicted *time*, not just multiply-adds: a calibrated roofline plus per-op overhead.

Counting MACs predicts that a depthwise 3x3 at 64 channels costs 1/64 of a
dense 3x3; measured, it costs far more, because it is bound by memory
traffic, not arithmetic (the roofline model, Williams et al. 2009), and
every op has a fixed cost besides (dispatch, kernel launch).  This model
adds exactly those two things to the exact counts of :mod:`costmodel.counts`:

    layer seconds = kernel factor x (op overhead + max(FLOPs / (peak FLOP/s x efficiency), bytes / bandwidth))

    efficiency = max[kind] x C / (C + half_channels[kind])

    stack seconds = call overhead + call seconds per byte x tensor bytes in and out
                    + repeats x sum of its layers' seconds

* ``peak`` and ``bandwidth`` are the device's measured ceilings; their ratio
  is the *ridge point*: a layer whose arithmetic intensity (FLOPs per byte of
  minimal traffic) is below it is memory-bound, above it compute-bound.
* ``efficiency`` is the share of the peak compute rate a layer really
  reaches: per kind (dense k x k, pointwise 1x1, depthwise, asymmetric
  1 x k / k x 1), it rises with the layer's channel width C (output channels
  per group; channels for a depthwise layer) and saturates: narrow layers
  leave the vector units and the matrix kernels' tiles half empty, and a
  depthwise kernel does too little work per element to keep them busy at
  any width.  Two numbers per kind, fitted from a handful of calibration
  measurements; ``half_channels = 0`` is a constant efficiency.
* ``op overhead`` is the fixed cost of one op inside a compiled graph;
  ``call overhead`` the fixed cost of one call of the whole graph, which
  grows with the bytes of the tensor it is given and the one it returns
  (measured here: 0.4 ms for a one-pixel graph, about 1 ms with 2.4 to 13 MB in and out).
* ``kernel factor`` is what the calibration measured on top of that for the
  layer's kernel shape (:mod:`costmodel.latency.kernel_factors`), where
  cross-validation found that it predicts better; 1 otherwise.

Beyond the calibrated channels, sizes, batches and kernel shapes a prediction
is an extrapolation, and :func:`extrapolation` says which.

The numbers come from a device profile (:mod:`costmodel.latency.profile`).

>>> profile = DeviceProfile(device="example", peak_flops_per_second=1e11,
...     bandwidth_bytes_per_second=1e10, op_overhead_seconds=1e-5, call_overhead_seconds=5e-5,
...     efficiency={"dense": 0.5, "pointwise": 0.5, "depthwise": 0.25, "asymmetric": 0.5})
>>> from costmodel.layer import ConvLayer
>>> depthwise = predict_layer(ConvLayer.depthwise(3, 3, 64, height=32, width=32), profile)
>>> depthwise.bound, round(depthwise.intensity, 2)
('memory', 2.24)
"""

from __future__ import annotations

import dataclasses
from typing import Any

from costmodel.block import Block, layers_of
from costmodel.counts import count_layer, input_elements, output_elements
from costmodel.latency.kernel_factors import output_positions
from costmodel.latency.profile import DeviceProfile
from costmodel.layer import ConvLayer, is_known


def layer_kind(layer: ConvLayer) -> str:
    """Which efficiency applies: 'depthwise', 'pointwise' (1x1), 'asymmetric' (1 x k, k x 1) or 'dense'.

    >>> layer_kind(ConvLayer(1, 7, c_in=8, c_out=8))
    'asymmetric'
    """
    if layer.is_depthwise:
        return "depthwise"
    sides = (layer.kernel_d, layer.kernel_h, layer.kernel_w)
    if all(side == 1 for side in sides):
        return "pointwise"
    if layer.kernel_h == 1 or layer.kernel_w == 1 or (layer.rank == 3 and layer.kernel_d == 1):
        return "asymmetric"
    return "dense"


def kernel_shape(layer: ConvLayer) -> str:
    """The name kernel factors are kept under: kind and kernel, e.g. 'depthwise 3x3'.

    >>> kernel_shape(ConvLayer(1, 7, c_in=8, c_out=8))
    'asymmetric 1x7'
    """
    if layer.rank == 3 or layer.transposed:  # never calibrated: such a layer is always flagged as extrapolated
        return f"{layer_kind(layer)} {layer.kernel_text}{'-transpose' if layer.transposed else ''}"
    # A 1-D layer of kernel k is the 1 x k 2-D convolution TensorFlow runs it as.
    return f"{layer_kind(layer)} {layer.kernel_h}x{layer.kernel_w}"


def channel_width(layer: ConvLayer) -> float:
    """The width C the efficiency depends on: output channels per group, or a depthwise layer's channels."""
    width = layer.c_in if layer.is_depthwise else layer.c_out / layer.groups
    return float(width)


def efficiency_at(entry: dict, width: float) -> float:
    """max x C / (C + half_channels).

    >>> efficiency_at({"max": 0.9, "half_channels": 32.0}, 32.0)
    0.45
    """
    return entry["max"] * width / (width + entry["half_channels"])


@dataclasses.dataclass(frozen=True)
class LayerPrediction:
    """Predicted seconds of one layer and the terms they come from.

    ``compute_seconds`` already includes the kind's efficiency; ``kernel_factor``
    multiplies the sum of the overhead and the roofline (1 without one).
    """

    layer: ConvLayer
    kind: str
    overhead_seconds: float
    compute_seconds: float
    memory_seconds: float
    efficiency: float
    intensity: float
    kernel_factor: float = 1.0

    @property
    def roofline_seconds(self) -> float:
        """The slower of compute (at this kind's efficiency) and memory traffic."""
        return max(self.compute_seconds, self.memory_seconds)

    @property
    def unfactored_seconds(self) -> float:
        """Overhead plus roofline: the prediction before the kernel factor."""
        return self.overhead_seconds + self.roofline_seconds

    @property
    def seconds(self) -> float:
        return self.kernel_factor * self.unfactored_seconds

    @property
    def bound(self) -> str:
        """'overhead', 'memory' or 'compute': the largest term of the prediction."""
        if self.overhead_seconds >= self.roofline_seconds:
            return "overhead"
        return "memory" if self.memory_seconds > self.compute_seconds else "compute"

    def as_row(self, profile: DeviceProfile) -> dict:
        return {
            "layer": self.layer.describe(),
            "kind": self.kind,
            "seconds": self.seconds,
            "overhead_seconds": self.overhead_seconds,
            "compute_seconds": self.compute_seconds,
            "memory_seconds": self.memory_seconds,
            "efficiency": self.efficiency,
            "kernel_factor": self.kernel_factor,
            "intensity": self.intensity,
            "ridge_point": profile.ridge_point,
            "bound": self.bound,
        }


def _number(what: str, value: Any) -> float:
    if not is_known(value):
        raise ValueError(f"a time needs every size as a number; {what} is {value}")
    try:
        return float(value)
    except OverflowError:
        raise ValueError(f"{what} has {len(str(value))} digits, too many for a time in seconds") from None


def predict_layer(layer: ConvLayer, profile: DeviceProfile) -> LayerPrediction:
    """The model's seconds for one call of one layer."""
    counts = count_layer(layer)
    flops = _number("the FLOP count", counts.flops)
    traffic = _number("the memory traffic", counts.memory_bytes)
    kind = layer_kind(layer)
    width = channel_width(layer)
    efficiency = efficiency_at(profile.efficiency[kind], width)
    factor = profile.kernel_factors.get(kernel_shape(layer))
    return LayerPrediction(
        layer=layer,
        kind=kind,
        overhead_seconds=profile.op_overhead_seconds,
        compute_seconds=flops / (profile.peak_flops_per_second * efficiency),
        memory_seconds=traffic / profile.bandwidth_bytes_per_second,
        efficiency=efficiency,
        intensity=flops / traffic,
        kernel_factor=1.0 if factor is None else factor.at(width, output_positions(layer)),
    )


def _outside(what: str, value: float, bounds: list) -> str | None:
    low, high = bounds
    if low <= value <= high:
        return None
    return f"{what} {value:g} outside the calibrated {low:g} to {high:g}"


def extrapolation(unit: ConvLayer | Block, profile: DeviceProfile) -> list[str]:
    """Why a prediction for ``unit`` lies outside what the profile measured; empty inside it.

    Checked for every layer: its channel width, input height and width, batch,
    and kernel shape against the calibration's.
    """
    calibrated = profile.calibrated_range
    if calibrated is None:
        return ["the profile records no calibrated range"]
    reasons: list[str] = []
    layers = layers_of(unit)
    for layer in layers:
        checks = [
            _outside("channel width", channel_width(layer), calibrated["channels"]),
            *(_outside("size", float(side), calibrated["sizes"]) for side in (layer.height, layer.width)),
            _outside("batch", float(layer.batch), calibrated["batches"]),
            None if kernel_shape(layer) in calibrated["kernels"] else f"kernel {kernel_shape(layer)} not calibrated",
        ]
        reasons += [f"{layer.describe()}: {reason}" for reason in checks if reason]
    return list(dict.fromkeys(reasons))


def predict_layers(unit: ConvLayer | Block, profile: DeviceProfile) -> list[LayerPrediction]:
    """One prediction per layer of a layer or block, in order."""
    layers = layers_of(unit)
    return [predict_layer(layer, profile) for layer in layers]


def predict_seconds(unit: ConvLayer | Block, profile: DeviceProfile, repeats: int = 1) -> float:
    """Seconds for one call of a graph holding ``unit`` stacked ``repeats`` times.

    >>> profile = DeviceProfile("example", 1e11, 1e10, 1e-5, 5e-5,
    ...                         {"dense": 1.0, "pointwise": 1.0, "depthwise": 1.0, "asymmetric": 1.0})
    >>> round(predict_seconds(ConvLayer(1, 1, c_in=1, c_out=1, height=1, width=1), profile), 8)
    6e-05
    """
    layer_seconds = sum(prediction.seconds for prediction in predict_layers(unit, profile))
    return call_seconds(unit, profile) + repeats * layer_seconds


def tensor_bytes(unit: ConvLayer | Block) -> float:
    """Bytes of the tensor a graph holding ``unit`` is given and of the one it returns."""
    layers = layers_of(unit)
    first, last = layers[0], layers[-1]
    elements = _number("the input", input_elements(first)) * float(first.dtype_bytes)
    return elements + _number("the output", output_elements(last)) * float(last.dtype_bytes)


def call_seconds(unit: ConvLayer | Block, profile: DeviceProfile) -> float:
    """The fixed cost of one call of a graph holding ``unit``: per call, and per byte in and out."""
    return profile.call_overhead_seconds + profile.call_seconds_per_byte * tensor_bytes(unit)


def predict_time_ratio(original: ConvLayer, factorized: Block, profile: DeviceProfile, repeats: int = 1) -> float:
    """Predicted factorized / original seconds, for stacks of ``repeats`` each."""
    return predict_seconds(factorized, profile, repeats) / predict_seconds(original, profile, repeats)
