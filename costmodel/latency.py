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
  layer's kernel shape (:mod:`costmodel.kernel_factor`), where
  cross-validation found that it predicts better; 1 otherwise.

Beyond the calibrated channels, sizes, batches and kernel shapes a prediction
is an extrapolation, and :func:`extrapolation` says which.

The numbers come from a *device profile* (JSON), written by
``python -m validate calibrate``.  This module only reads it: the cost
model stays free of TensorFlow.

>>> profile = DeviceProfile(device="example", peak_flops_per_second=1e11,
...     bandwidth_bytes_per_second=1e10, op_overhead_seconds=1e-5, call_overhead_seconds=5e-5,
...     efficiency={"dense": 0.5, "pointwise": 0.5, "depthwise": 0.25, "asymmetric": 0.5})
>>> profile.efficiency["dense"]
{'max': 0.5, 'half_channels': 0.0}
>>> profile.ridge_point
10.0
>>> from costmodel.layer import ConvLayer
>>> depthwise = predict_layer(ConvLayer.depthwise(3, 3, 64, height=32, width=32), profile)
>>> depthwise.bound, round(depthwise.intensity, 2)
('memory', 2.24)
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import pathlib
from typing import Any

from costmodel.block import Block, layers_of
from costmodel.checks import check_range, check_real, check_text, one_line
from costmodel.counts import count_layer, input_elements, output_elements
from costmodel.jsonfile import MAX_BYTES, load_json_file
from costmodel.kernel_factor import GridFactor, KernelFactor, factor_from_dict, output_positions
from costmodel.layer import ConvLayer, is_known

# 2: relative calibration, kernel factors chosen by cross-validation, the calibrated range.
PROFILE_VERSION = 2
KINDS = ("dense", "pointwise", "depthwise", "asymmetric")
# The model forms cross-validation chooses between, and the kernel factor form each uses.
MODELS = {"roofline": None, "roofline x constant kernel factor": "constant",
          "roofline x log-linear kernel factor": "log-linear",
          "roofline x interpolated kernel factor": "grid"}  # fmt: skip
REQUIRED_FIELDS = (
    "version",
    "device",
    "peak_flops_per_second",
    "bandwidth_bytes_per_second",
    "op_overhead_seconds",
    "call_overhead_seconds",
    "call_seconds_per_byte",
    "efficiency",
    "model",
    "kernel_factors",
    "calibrated_range",
)
RANGE_FIELDS = ("channels", "sizes", "batches")
KERNEL_FACTOR_NOTED = 1.1  # explain names kernel factors further apart than this
MAX_PROFILE_BYTES = MAX_BYTES  # a calibrated profile with its measurements is a few tens of KB

# The ranges a real device's figures lie in, generously: from a microcontroller to a data-centre
# accelerator, from nanosecond to ten-second overheads.  Outside them a prediction is
# Infinity, NaN or nonsense, so a profile with such a figure is refused when read.
SANE = {
    "peak_flops_per_second": (1e3, 1e19),
    "bandwidth_bytes_per_second": (1e3, 1e16),
    "op_overhead_seconds": (0.0, 10.0),
    "call_overhead_seconds": (0.0, 10.0),
    "call_seconds_per_byte": (0.0, 1e-3),
    "efficiency.max": (1e-6, 100.0),
    "efficiency.half_channels": (0.0, 1e9),
}
MAX_DEVICE_CHARS = 200


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


def model_of(factors: dict) -> str:
    """The model a set of kernel factors belongs to: none, interpolated (grids) or log-linear.

    >>> model_of({})
    'roofline'
    """
    if not factors:
        return "roofline"
    grids = all(isinstance(factor, GridFactor) for factor in factors.values())
    return "roofline x interpolated kernel factor" if grids else "roofline x log-linear kernel factor"


class ProfileVersionError(ValueError):
    """A profile written by another version of the latency model: its numbers mean something else."""


def kernel_shape(layer: ConvLayer) -> str:
    """The name kernel factors are kept under: kind and kernel, e.g. 'depthwise 3x3'.

    >>> kernel_shape(ConvLayer(1, 7, c_in=8, c_out=8))
    'asymmetric 1x7'
    """
    if layer.rank == 3 or layer.transposed:  # never calibrated: such a layer is always flagged as extrapolated
        return f"{layer_kind(layer)} {layer.kernel_text}{'-transpose' if layer.transposed else ''}"
    # A 1-D layer of kernel k is the 1 x k 2-D convolution TensorFlow runs it as.
    return f"{layer_kind(layer)} {layer.kernel_h}x{layer.kernel_w}"


def _profile_number(field: str, value: Any, *, allow_zero: bool) -> float:
    """One figure of a profile: finite, > 0 (or >= 0), inside its sane range; errors name the field."""
    sane = SANE["efficiency." + field.rsplit(".", 1)[-1]] if field.startswith("efficiency.") else SANE[field]
    return check_real(f"device profile field {field}", value, minimum=0, allow_minimum=allow_zero, sane=sane)


def _efficiency_table(efficiency: Any) -> dict:
    """{kind: {"max": e, "half_channels": h}} from that, or from {kind: e} (a constant e)."""
    if not isinstance(efficiency, dict):
        raise TypeError(f"device profile field efficiency must be an object, got {efficiency!r}")
    missing = [kind for kind in KINDS if kind not in efficiency]
    if missing:
        raise ValueError(f"device profile efficiency lacks the kind {missing[0]!r} (needs {', '.join(KINDS)})")
    table = {}
    for kind in KINDS:
        entry = efficiency[kind]
        if not isinstance(entry, dict):
            entry = {"max": entry, "half_channels": 0.0}
        if set(entry) != {"max", "half_channels"}:
            names = ", ".join(sorted(repr(check_text("a key", key, 60)) for key in entry))
            raise ValueError(f"device profile efficiency.{kind} needs exactly max and half_channels, got [{names}]")
        table[kind] = {
            "max": _profile_number(f"efficiency.{kind}.max", entry["max"], allow_zero=False),
            "half_channels": _profile_number(
                f"efficiency.{kind}.half_channels", entry["half_channels"], allow_zero=True
            ),
        }
    return table


def _kernel_factors(factors: Any) -> dict[str, KernelFactor | GridFactor]:
    if not isinstance(factors, dict):
        raise TypeError(f"device profile field kernel_factors must be an object, got {type(factors).__name__}")
    table = {}
    for shape, entry in factors.items():
        check_text("a kernel shape", shape, 60)
        if isinstance(entry, (KernelFactor, GridFactor)):
            table[shape] = entry
            continue
        try:
            table[shape] = factor_from_dict(entry)
        except (TypeError, ValueError) as error:
            raise ValueError(f"device profile kernel_factors[{shape!r}]: {error}") from None
    return table


def _calibrated_range(calibrated: Any) -> dict | None:
    """{channels, sizes, batches: [low, high], kernels: [shape, ...]}, or None (not recorded)."""
    if calibrated is None:
        return None
    if not isinstance(calibrated, dict) or set(calibrated) != {*RANGE_FIELDS, "kernels"}:
        raise ValueError(f"device profile calibrated_range needs exactly {', '.join(RANGE_FIELDS)} and kernels")
    table: dict[str, Any] = {}
    for field in RANGE_FIELDS:
        table[field] = list(check_range(f"calibrated_range.{field}", calibrated[field], minimum=1, sane=(1, 1e9)))
    kernels = calibrated["kernels"]
    if not isinstance(kernels, (list, tuple)):
        raise ValueError("device profile calibrated_range.kernels must be a list of kernel shapes")
    table["kernels"] = [check_text("a calibrated kernel shape", shape, 60) for shape in kernels]
    return table


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
class DeviceProfile:
    """One device's measured ceilings, overheads and per-kind efficiencies.

    Fields beyond the model's (``residuals``, ``machine``, ``measurements``)
    are kept as given, for the record.
    """

    device: str
    peak_flops_per_second: float
    bandwidth_bytes_per_second: float
    op_overhead_seconds: float
    call_overhead_seconds: float
    efficiency: dict
    call_seconds_per_byte: float = 0.0
    model: str = "roofline"
    kernel_factors: dict = dataclasses.field(default_factory=dict)
    calibrated_range: dict | None = None  # None: not recorded, so every prediction is an extrapolation
    version: int = PROFILE_VERSION
    extra: dict = dataclasses.field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        self._check_version(self.version)
        check_text("device profile field device", self.device, MAX_DEVICE_CHARS)
        for field in ("peak_flops_per_second", "bandwidth_bytes_per_second"):
            object.__setattr__(self, field, _profile_number(field, getattr(self, field), allow_zero=False))
        for field in ("op_overhead_seconds", "call_overhead_seconds", "call_seconds_per_byte"):
            object.__setattr__(self, field, _profile_number(field, getattr(self, field), allow_zero=True))
        object.__setattr__(self, "efficiency", _efficiency_table(self.efficiency))
        if not isinstance(self.model, str) or self.model not in MODELS:
            raise ValueError(
                f"device profile model {one_line(repr(self.model))[:80]} is not one of {', '.join(MODELS)}"
            )
        object.__setattr__(self, "kernel_factors", _kernel_factors(self.kernel_factors))
        self._check_factors_fit_the_model()
        object.__setattr__(self, "calibrated_range", _calibrated_range(self.calibrated_range))

    def _check_factors_fit_the_model(self) -> None:
        """The roofline alone has no kernel factors; the other models have factors of their own form only."""
        form = MODELS[self.model]
        if form is None and self.kernel_factors:
            raise ValueError(
                f"device profile model {self.model!r} has no kernel factors, but kernel_factors is not empty"
            )
        wanted = GridFactor if form == "grid" else KernelFactor
        for shape, factor in self.kernel_factors.items():
            if not isinstance(factor, wanted):
                raise ValueError(
                    f"device profile kernel_factors[{shape!r}] is not of the form the model {self.model!r} uses"
                )

    @staticmethod
    def _check_version(version: Any) -> None:
        if type(version) is not int:  # not bool, not float: versions are whole numbers
            raise TypeError(f"device profile field version must be an integer, got {type(version).__name__}")
        if version != PROFILE_VERSION:
            older = "an older" if version < PROFILE_VERSION else "a newer"
            raise ProfileVersionError(
                f"device profile version {version} was written by {older} latency model "
                f"(this one reads version {PROFILE_VERSION}); recalibrate: python -m validate calibrate"
            )

    @property
    def ridge_point(self) -> float:
        """FLOPs per byte above which a layer is compute-bound on this device."""
        return self.peak_flops_per_second / self.bandwidth_bytes_per_second

    def as_dict(self) -> dict:
        fields = {name: getattr(self, name) for name in REQUIRED_FIELDS}
        fields["kernel_factors"] = {shape: factor.as_dict() for shape, factor in self.kernel_factors.items()}
        return {**fields, **self.extra}

    @classmethod
    def from_dict(cls, document: Any) -> DeviceProfile:
        """A profile from its JSON object, refusing a missing field, a wrong version or nonsense."""
        if not isinstance(document, dict):
            raise ValueError(f"a device profile is a JSON object, got {type(document).__name__}")
        if "version" in document:  # an old profile is refused for its version, not for a field it lacks
            cls._check_version(document["version"])
        missing = [field for field in REQUIRED_FIELDS if field not in document]
        if missing:
            raise ValueError(f"device profile lacks the field {missing[0]!r}")
        fields = {name: document[name] for name in REQUIRED_FIELDS}
        extra = {key: value for key, value in document.items() if key not in REQUIRED_FIELDS}
        return cls(**fields, extra=extra)

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], max_bytes: int = MAX_PROFILE_BYTES, size_hint: str = ""
    ) -> DeviceProfile:
        """Read a profile file; every problem is one ValueError line naming the file (and the field).

        The file must be a regular file of at most ``max_bytes`` (see
        :func:`costmodel.jsonfile.load_json_file` for everything else it must be).
        """
        document = load_json_file(path, what="device profile", max_bytes=max_bytes, size_hint=size_hint)
        try:
            return cls.from_dict(document)
        except (TypeError, ValueError) as error:
            reason = str(error).removeprefix("device profile ")
            kind = ProfileVersionError if isinstance(error, ProfileVersionError) else ValueError
            raise kind(f"device profile {one_line(str(path))[:200]}: {reason}") from None

    def save(self, path: str | os.PathLike[str]) -> None:
        pathlib.Path(path).write_text(json.dumps(self.as_dict(), indent=2) + "\n")


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


def _share(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f}%"


def explain(original: ConvLayer, factorized: Block, profile: DeviceProfile, repeats: int = 1) -> str:
    """Why the measured ratio is not the MAC ratio, in one line, from the model's terms.

    Each candidate reason is weighed by the share of the factorized block's
    predicted time it accounts for, and the two largest are given: time in
    memory-bound layers (under the ridge point, where a MAC saving cannot
    show); fixed overheads (more layers, more of them); and time lost to a
    factor kind reaching a smaller share of peak compute than the original;
    and kernels the calibration measured running faster or slower than their
    kind's roofline, unlike the original's (kernel factors more than 10% apart).
    """
    before, after = predict_layers(original, profile), predict_layers(factorized, profile)
    total = predict_seconds(factorized, profile, repeats)
    reasons = []
    memory_bound = [p for p in after if p.bound == "memory"]
    if memory_bound:
        slowest = max(memory_bound, key=lambda p: p.seconds)
        reasons.append(
            (
                repeats * sum(p.seconds for p in memory_bound) / total,
                f"{slowest.layer.describe()}: {slowest.intensity:.1f} FLOP/byte, under the ridge "
                f"at {profile.ridge_point:.0f} FLOP/byte: memory-bound, so its MAC saving cannot appear",
            )
        )
    overhead = call_seconds(factorized, profile) + repeats * sum(p.overhead_seconds for p in after)
    reasons.append(
        (
            overhead / total,
            f"{original.c_out} channels, {original.height}x{original.width}: fixed per-op "
            f"overhead is {_share(overhead, total)} of the factorized block's predicted time",
        )
    )
    original_efficiency = before[0].efficiency
    slower = [p for p in after if p.bound == "compute" and p.efficiency < original_efficiency]
    if slower:
        weakest = min(slower, key=lambda p: p.efficiency)
        lost = repeats * sum(p.compute_seconds * (1 - p.efficiency / original_efficiency) for p in slower)
        reasons.append(
            (
                lost / total,
                f"{weakest.kind} layers reach {weakest.efficiency:.0%} of the peak compute rate "
                f"here, the original {before[0].kind} layer {original_efficiency:.0%}",
            )
        )
    original_factor = before[0].kernel_factor
    unlike = [p for p in after if abs(math.log(p.kernel_factor / original_factor)) > math.log(KERNEL_FACTOR_NOTED)]
    if unlike:
        furthest = max(unlike, key=lambda p: abs(math.log(p.kernel_factor / original_factor)))
        shifted = repeats * sum(abs(p.kernel_factor - original_factor) * p.unfactored_seconds for p in unlike)
        reasons.append(
            (
                shifted / total,
                f"measured {kernel_shape(furthest.layer)} kernels take {furthest.kernel_factor:.2f}x their kind's "
                f"roofline time at this shape, the original {kernel_shape(before[0].layer)} {original_factor:.2f}x",
            )
        )
    reasons.sort(key=lambda reason: reason[0], reverse=True)
    return "; ".join(text for _, text in reasons[:2])
