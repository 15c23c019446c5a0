"""Predicted *time*, not just multiply-adds: a calibrated roofline plus per-op overhead.

Counting MACs predicts that a depthwise 3x3 at 64 channels costs 1/64 of a
dense 3x3; measured, it costs far more, because it is bound by memory
traffic, not arithmetic (the roofline model, Williams et al. 2009), and
every op has a fixed cost besides (dispatch, kernel launch).  This model
adds exactly those two things to the exact counts of :mod:`costmodel.counts`:

    layer seconds = op overhead + max(FLOPs / peak FLOP/s, bytes / bandwidth) / efficiency[kind]

    stack seconds = call overhead + repeats x sum of its layers' seconds

* ``peak`` and ``bandwidth`` are the device's measured ceilings; their ratio
  is the *ridge point*: a layer whose arithmetic intensity (FLOPs per byte of
  minimal traffic) is below it is memory-bound, above it compute-bound.
* ``efficiency[kind]`` is the share of the roofline one kind of layer really
  reaches on this device (dense k x k, pointwise 1x1, depthwise, asymmetric
  1 x k / k x 1), fitted from a handful of calibration measurements.
* ``op overhead`` is the fixed cost of one op inside a compiled graph;
  ``call overhead`` the fixed cost of one call of the whole graph.

The numbers come from a *device profile* (JSON), written by
``python -m validate calibrate``.  This module only reads it: the cost
model stays free of TensorFlow.

>>> profile = DeviceProfile(device="example", peak_flops_per_second=1e11,
...     bandwidth_bytes_per_second=1e10, op_overhead_seconds=1e-5, call_overhead_seconds=5e-5,
...     efficiency={"dense": 0.5, "pointwise": 0.5, "depthwise": 0.25, "asymmetric": 0.5})
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
import pathlib

from costmodel.block import Block
from costmodel.counts import count_layer
from costmodel.layer import ConvLayer, is_known

PROFILE_VERSION = 1
KINDS = ("dense", "pointwise", "depthwise", "asymmetric")
REQUIRED_FIELDS = ("version", "device", "peak_flops_per_second", "bandwidth_bytes_per_second",
                   "op_overhead_seconds", "call_overhead_seconds", "efficiency")


def layer_kind(layer: ConvLayer) -> str:
    """Which efficiency applies: 'depthwise', 'pointwise' (1x1), 'asymmetric' (1 x k, k x 1) or 'dense'.

    >>> layer_kind(ConvLayer(1, 7, c_in=8, c_out=8))
    'asymmetric'
    """
    if layer.is_depthwise:
        return "depthwise"
    if layer.kernel_h == 1 and layer.kernel_w == 1:
        return "pointwise"
    if layer.kernel_h == 1 or layer.kernel_w == 1:
        return "asymmetric"
    return "dense"


def _positive_number(field: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"device profile field {field} must be a number, got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"device profile field {field} must be a finite number > 0, got {value!r}")
    return float(value)


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
    version: int = PROFILE_VERSION
    extra: dict = dataclasses.field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.version != PROFILE_VERSION:
            raise ValueError(f"device profile version {self.version!r} is not supported "
                             f"(this cost model reads version {PROFILE_VERSION}); calibrate again")
        for field in ("peak_flops_per_second", "bandwidth_bytes_per_second"):
            object.__setattr__(self, field, _positive_number(field, getattr(self, field)))
        for field in ("op_overhead_seconds", "call_overhead_seconds"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                    math.isfinite(value) and value >= 0):
                raise ValueError(f"device profile field {field} must be a finite number >= 0, got {value!r}")
        if not isinstance(self.efficiency, dict):
            raise TypeError(f"device profile field efficiency must be an object, got {self.efficiency!r}")
        missing = [kind for kind in KINDS if kind not in self.efficiency]
        if missing:
            raise ValueError(f"device profile efficiency lacks the kind {missing[0]!r} "
                             f"(needs {', '.join(KINDS)})")
        for kind in KINDS:
            _positive_number(f"efficiency.{kind}", self.efficiency[kind])

    @property
    def ridge_point(self) -> float:
        """FLOPs per byte above which a layer is compute-bound on this device."""
        return self.peak_flops_per_second / self.bandwidth_bytes_per_second

    def as_dict(self) -> dict:
        fields = {name: getattr(self, name) for name in REQUIRED_FIELDS}
        return {**fields, **self.extra}

    @classmethod
    def from_dict(cls, document) -> "DeviceProfile":
        """A profile from its JSON object, refusing a missing field, a wrong version or nonsense."""
        if not isinstance(document, dict):
            raise ValueError(f"a device profile is a JSON object, got {type(document).__name__}")
        missing = [field for field in REQUIRED_FIELDS if field not in document]
        if missing:
            raise ValueError(f"device profile lacks the field {missing[0]!r}")
        fields = {name: document[name] for name in REQUIRED_FIELDS}
        extra = {key: value for key, value in document.items() if key not in REQUIRED_FIELDS}
        return cls(**fields, extra=extra)

    @classmethod
    def load(cls, path) -> "DeviceProfile":
        """Read a profile file; every problem is a ValueError naming the file."""
        path = pathlib.Path(path)
        try:
            document = json.loads(path.read_text())
        except FileNotFoundError:
            raise ValueError(f"device profile {path} does not exist; run python -m validate calibrate") from None
        except json.JSONDecodeError as error:
            raise ValueError(f"device profile {path} is not JSON: {error}") from None
        try:
            return cls.from_dict(document)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{path}: {error}") from None

    def save(self, path) -> None:
        pathlib.Path(path).write_text(json.dumps(self.as_dict(), indent=2) + "\n")


@dataclasses.dataclass(frozen=True)
class LayerPrediction:
    """Predicted seconds of one layer and the terms they come from."""

    layer: ConvLayer
    kind: str
    overhead_seconds: float
    compute_seconds: float
    memory_seconds: float
    efficiency: float
    intensity: float

    @property
    def roofline_seconds(self) -> float:
        """The slower of compute and memory, scaled by this kind's efficiency."""
        return max(self.compute_seconds, self.memory_seconds) / self.efficiency

    @property
    def seconds(self) -> float:
        return self.overhead_seconds + self.roofline_seconds

    @property
    def bound(self) -> str:
        """'overhead', 'memory' or 'compute': the largest term of the prediction."""
        if self.overhead_seconds >= self.roofline_seconds:
            return "overhead"
        return "memory" if self.memory_seconds > self.compute_seconds else "compute"

    def as_row(self, profile: DeviceProfile) -> dict:
        return {"layer": self.layer.describe(), "kind": self.kind, "seconds": self.seconds,
                "overhead_seconds": self.overhead_seconds, "compute_seconds": self.compute_seconds,
                "memory_seconds": self.memory_seconds, "efficiency": self.efficiency,
                "intensity": self.intensity, "ridge_point": profile.ridge_point, "bound": self.bound}


def _number(what: str, value) -> float:
    if not is_known(value):
        raise ValueError(f"a time needs every size as a number; {what} is {value}")
    return float(value)


def predict_layer(layer: ConvLayer, profile: DeviceProfile) -> LayerPrediction:
    """The model's seconds for one call of one layer."""
    counts = count_layer(layer)
    flops = _number("the FLOP count", counts.flops)
    traffic = _number("the memory traffic", counts.memory_bytes)
    kind = layer_kind(layer)
    return LayerPrediction(layer=layer, kind=kind, overhead_seconds=profile.op_overhead_seconds,
                           compute_seconds=flops / profile.peak_flops_per_second,
                           memory_seconds=traffic / profile.bandwidth_bytes_per_second,
                           efficiency=float(profile.efficiency[kind]), intensity=flops / traffic)


def predict_layers(unit: ConvLayer | Block, profile: DeviceProfile) -> list[LayerPrediction]:
    """One prediction per layer of a layer or block, in order."""
    layers = [unit] if isinstance(unit, ConvLayer) else unit.layers()
    return [predict_layer(layer, profile) for layer in layers]


def predict_seconds(unit: ConvLayer | Block, profile: DeviceProfile, repeats: int = 1) -> float:
    """Seconds for one call of a graph holding ``unit`` stacked ``repeats`` times.

    >>> profile = DeviceProfile("example", 1e11, 1e10, 1e-5, 5e-5,
    ...                         {"dense": 1.0, "pointwise": 1.0, "depthwise": 1.0, "asymmetric": 1.0})
    >>> round(predict_seconds(ConvLayer(1, 1, c_in=1, c_out=1, height=1, width=1), profile), 8)
    6e-05
    """
    layer_seconds = sum(prediction.seconds for prediction in predict_layers(unit, profile))
    return profile.call_overhead_seconds + repeats * layer_seconds


def predict_time_ratio(original: ConvLayer, factorized: Block, profile: DeviceProfile,
                       repeats: int = 1) -> float:
    """Predicted factorized / original seconds, for stacks of ``repeats`` each."""
    return (predict_seconds(factorized, profile, repeats)
            / predict_seconds(original, profile, repeats))


def _share(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f}%"


def explain(original: ConvLayer, factorized: Block, profile: DeviceProfile, repeats: int = 1) -> str:
    """Why the measured ratio is not the MAC ratio, in one line, from the model's terms.

    The reasons, strongest first: a factorized layer under the ridge point
    (memory-bound, so its MAC saving cannot show); fixed overheads that are a
    large share of the predicted time (more layers, more overhead); kinds
    that reach a smaller share of the roofline than the original's kind; more
    bytes moved (intermediate tensors written and read back).
    """
    before, after = predict_layers(original, profile), predict_layers(factorized, profile)
    after_seconds = predict_seconds(factorized, profile, repeats)
    reasons = []
    memory_bound = [p for p in after if p.bound == "memory"]
    if memory_bound:
        slowest = max(memory_bound, key=lambda p: p.seconds)
        reasons.append((repeats * slowest.seconds / after_seconds,
                        f"{slowest.layer.describe()}: {slowest.intensity:.1f} FLOP/byte, under the ridge "
                        f"at {profile.ridge_point:.0f} FLOP/byte: memory-bound, so its MAC saving cannot appear"))
    overhead = profile.call_overhead_seconds + repeats * sum(p.overhead_seconds for p in after)
    reasons.append((overhead / after_seconds,
                    f"{original.c_out} channels, {original.height}x{original.width}: fixed per-op "
                    f"overhead is {_share(overhead, after_seconds)} of the factorized block's predicted time"))
    original_efficiency = before[0].efficiency
    weakest = min(after, key=lambda p: p.efficiency)
    if weakest.efficiency < 0.8 * original_efficiency:
        reasons.append((1 - weakest.efficiency / original_efficiency,
                        f"{weakest.kind} layers reach {weakest.efficiency:.0%} of the roofline here, "
                        f"the original {before[0].kind} layer {original_efficiency:.0%}"))
    traffic = sum(p.memory_seconds for p in after) / before[0].memory_seconds
    if traffic > 1.2:
        reasons.append((min(1.0, (traffic - 1) / 2),
                        f"the factorized block moves {traffic:.1f}x the bytes (intermediate tensors)"))
    reasons.sort(key=lambda reason: reason[0], reverse=True)
    return "; ".join(text for _, text in reasons[:2])
