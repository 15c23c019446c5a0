"""A whole network's predicted seconds: every op it runs, per kernel the runtime really executes.

The layer model (:mod:`costmodel.latency.predict`) times convolutions and
dense layers.  A network also runs batch norm, activations, adds,
multiplies, pooling, padding and concatenation, each at least one kernel of
its own unless the runtime fuses it into the convolution before it.  Which
kernels each kind of layer becomes is not assumed: ``validate calibrate``
traces a probe network with TensorFlow's profiler and records, per layer
signature (:func:`signature`), how many kernels it ran over the whole tensor
and how many over small vectors (a batch norm's scale and offset, computed
at every call), in the profile's ``layer_kernels`` (the nn-Meter idea,
Zhang et al. 2021: predict per kernel the runtime runs, after its fusion).
Then::

    network seconds = call overhead + call seconds per byte x (input + output bytes)
                      + sum over layers of its seconds

    convolution or dense layer:  its layer-model seconds + its extra kernels (below)
    any other layer:             fixed seconds + full x bytes in and out / bandwidth

    fixed seconds = the signature's measured fixed seconds, where the calibration measured them
                    (chains at one pixel: validate.experiments.layer_overheads),
                    else (full + small) x op overhead

where ``full`` and ``small`` are the layer signature's measured kernel counts
(for a convolution, the kernels besides the convolution itself: an unfused
bias add or activation).  The op overhead is a convolution kernel's; an
element-wise kernel costs a fraction of it, which is why the fixed seconds are
measured per signature.  A signature the profile never measured is taken
as one full-tensor kernel, and the prediction says it extrapolates.

Nothing here imports a framework: a network's JSON (:meth:`Network.from_dict`)
and a profile are enough.

>>> from costmodel.layer import ConvLayer
>>> from costmodel.network import Network, NetworkLayer
>>> from costmodel.latency.profile import DeviceProfile
>>> profile = DeviceProfile("example", 1e11, 1e10, 1e-5, 5e-5, dict.fromkeys(
...     ("dense", "pointwise", "depthwise", "asymmetric"), 1.0),
...     layer_kernels={"Conv2D": {"full": 0, "small": 0}, "ReLU": {"full": 1, "small": 0}})
>>> conv = NetworkLayer("conv", "Conv2D", (ConvLayer(1, 1, c_in=8, c_out=8, height=4, width=4),))
>>> relu = NetworkLayer("relu", "ReLU", params_given=0, inputs=("conv",), output_shape=(4, 4, 8))
>>> prediction = predict_network(Network("tiny", (4, 4, 8), (conv, relu)), profile)
>>> [round(row["seconds"] * 1e6, 4) for row in prediction.layer_rows()]  # 10 us + bytes moved (conv: weights too)
[10.128, 10.1024]
"""

from __future__ import annotations

import dataclasses
import math

from costmodel.latency.predict import extrapolation, predict_layer
from costmodel.latency.profile import DeviceProfile
from costmodel.network import Network, NetworkLayer

#: The bytes of one element: every network here runs in float32.
ELEMENT_BYTES = 4


def signature(layer: NetworkLayer) -> str:
    """What decides which kernels a layer runs: its kind, a convolution's bias, its activation.

    >>> from costmodel.layer import ConvLayer
    >>> signature(NetworkLayer("c", "Conv2D", (ConvLayer(3, 3, c_in=8, c_out=8, bias=True),), activation="relu"))
    'Conv2D+bias:relu'
    """
    text = layer.kind
    if layer.convs and any(conv.bias for conv in layer.convs):
        text += "+bias"
    return f"{text}:{layer.activation}" if layer.activation else text


def _elements(shape: tuple) -> int:
    return math.prod(int(size) for size in shape) if shape else 0


@dataclasses.dataclass(frozen=True)
class LayerTime:
    """One layer's predicted seconds: its convolutions' (layer model) and its other kernels'."""

    layer: NetworkLayer
    conv_seconds: float
    kernel_seconds: float
    full_kernels: int
    small_kernels: int
    measured: bool  # whether the profile measured this signature's kernels

    @property
    def seconds(self) -> float:
        return self.conv_seconds + self.kernel_seconds


@dataclasses.dataclass(frozen=True)
class NetworkPrediction:
    """The network's predicted seconds for one call at ``batch``, per layer, and why it extrapolates."""

    network: Network
    batch: int
    call_seconds: float
    layers: tuple
    extrapolation: tuple

    @property
    def seconds(self) -> float:
        return self.call_seconds + sum(layer.seconds for layer in self.layers)

    @property
    def extrapolated(self) -> bool:
        return bool(self.extrapolation)

    def layer_rows(self) -> list[dict]:
        """Per layer: name, kind, signature, kernels, seconds and share of the network's seconds."""
        total = self.seconds
        return [
            {
                "name": time.layer.name,
                "kind": time.layer.kind,
                "signature": signature(time.layer),
                "kernels": len(time.layer.convs) + time.full_kernels,
                "small_kernels": time.small_kernels,
                "seconds": time.seconds,
                "share": time.seconds / total,
            }
            for time in self.layers
        ]

    def by_kind(self) -> dict[str, float]:
        """Predicted seconds per layer kind, largest first (and the call's own)."""
        totals: dict[str, float] = {"call": self.call_seconds}
        for time in self.layers:
            totals[time.layer.kind] = totals.get(time.layer.kind, 0.0) + time.seconds
        return dict(sorted(totals.items(), key=lambda item: -item[1]))

    def as_dict(self) -> dict:
        return {
            "predicted_seconds": self.seconds,
            "batch": self.batch,
            "call_seconds": self.call_seconds,
            "extrapolated": self.extrapolated,
            "extrapolation": list(self.extrapolation),
            "seconds_by_kind": self.by_kind(),
            "layers": self.layer_rows(),
        }


def _input_elements(network: Network, layer: NetworkLayer, shapes: dict) -> int:
    if not layer.inputs:
        return _elements(network.input_shape)
    return sum(_elements(shapes.get(name, ())) for name in layer.inputs)


def _layer_time(layer: NetworkLayer, profile: DeviceProfile, elements_in: int, batch: int) -> LayerTime:
    kernels = profile.layer_kernels.get(signature(layer))
    measured = kernels is not None
    if kernels is None:  # never measured: one kernel over the whole tensor
        kernels = {"full": 0 if layer.convs else 1, "small": 0}
    conv_seconds = sum(predict_layer(_at_batch(conv, batch), profile).seconds for conv in layer.convs)
    traffic = ELEMENT_BYTES * batch * (elements_in + _elements(layer.output_shape))
    fixed = kernels.get("fixed_seconds")
    if fixed is None:  # not measured: every kernel costs the op overhead (a convolution kernel's)
        fixed = (kernels["full"] + kernels["small"]) * profile.op_overhead_seconds
    streamed = kernels["full"] * traffic / profile.bandwidth_bytes_per_second
    return LayerTime(layer, conv_seconds, fixed + streamed, kernels["full"], kernels["small"], measured)


def _at_batch(conv, batch: int):
    return conv if conv.batch == batch else dataclasses.replace(conv, batch=batch)


def _reasons(network: Network, profile: DeviceProfile, times: list[LayerTime], batch: int) -> list[str]:
    reasons: list[str] = []
    if not profile.layer_kernels:
        reasons.append("the profile measured no layer's kernels (recalibrate: python -m validate calibrate)")
    unmeasured = sorted({signature(time.layer) for time in times if not time.measured and time.layer.counted})
    if unmeasured:
        reasons.append(f"kernels never measured for {', '.join(unmeasured)} (taken as one kernel each)")
    for time in times:
        for conv in time.layer.convs:
            reasons += [
                f"{time.layer.name}: {reason.split(': ', 1)[-1]}"
                for reason in extrapolation(_at_batch(conv, batch), profile)
            ]
    return list(dict.fromkeys(reasons))


def predict_network(network: Network, profile: DeviceProfile, batch: int = 1) -> NetworkPrediction:
    """The whole network's seconds for one call of ``batch`` images, with per-layer seconds and reasons."""
    if not (isinstance(batch, int) and batch >= 1):
        raise ValueError(f"batch must be an integer >= 1, got {batch!r}")
    shapes = {layer.name: layer.output_shape or _conv_output(layer) for layer in network.layers}
    times = [_layer_time(layer, profile, _input_elements(network, layer, shapes), batch) for layer in network.layers]
    last = network.layers[-1] if network.layers else None
    tensor_bytes = (
        ELEMENT_BYTES * batch * (_elements(network.input_shape) + (_elements(shapes[last.name]) if last else 0))
    )
    call = profile.call_overhead_seconds + profile.call_seconds_per_byte * tensor_bytes
    return NetworkPrediction(network, batch, call, tuple(times), tuple(_reasons(network, profile, times, batch)))


def _conv_output(layer: NetworkLayer) -> tuple:
    if not layer.convs:
        return ()
    last = layer.convs[-1]
    height, width = last.output_hw
    return (int(height), int(width), int(last.c_out))


def predict_network_seconds(network: Network, profile: DeviceProfile, batch: int = 1) -> float:
    """:func:`predict_network`'s total seconds."""
    return predict_network(network, profile, batch).seconds
