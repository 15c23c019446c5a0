"""What to factorize in a network: every scheme that applies to each layer, ranked.

For each convolution of a :class:`~costmodel.network.Network`, every
registered scheme (:data:`costmodel.schemes.SCHEMES`, default options) is
tried; those that apply are ranked by the time the latency model predicts
they save on a device (:mod:`costmodel.latency`), or by MACs without a
device profile.  The network total is what applying the best saving option
of every layer would give; its seconds are the whole network's
(:mod:`costmodel.latency.network`: every layer, per kernel the runtime runs).

>>> from costmodel.layer import ConvLayer
>>> from costmodel.network import Network, NetworkLayer
>>> net = Network("one", (16, 16, 64), (NetworkLayer("c5", "Conv2D",
...     (ConvLayer(5, 5, c_in=64, c_out=64, height=16, width=16),)),))
>>> advice = advise(net)
>>> advice.layers[0].best.scheme, advice.layers[0].best.macs_ratio  # 1/64 + 1/25
('depthwise-separable', 0.055625)
"""

from __future__ import annotations

import dataclasses

from costmodel import latency
from costmodel.latency.network import predict_network_seconds
from costmodel.layer import ConvLayer
from costmodel.network import Network, NetworkLayer
from costmodel.schemes import SCHEMES, factorize

__all__ = ["LayerAdvice", "NetworkAdvice", "Option", "advise", "predict_network_seconds"]


@dataclasses.dataclass(frozen=True)
class Option:
    """One scheme applied to one layer: MACs and, with a profile, predicted seconds before and after."""

    scheme: str
    macs_before: int
    macs_after: int
    seconds_before: float | None = None
    seconds_after: float | None = None

    @property
    def macs_ratio(self) -> float:
        return self.macs_after / self.macs_before

    @property
    def seconds_saved(self) -> float | None:
        if self.seconds_before is None or self.seconds_after is None:
            return None
        return self.seconds_before - self.seconds_after

    @property
    def time_ratio(self) -> float | None:
        if self.seconds_before is None or self.seconds_after is None:
            return None
        return self.seconds_after / self.seconds_before

    def saving(self) -> float:
        """What the ranking maximises: predicted seconds saved, or MACs saved without a profile."""
        saved = self.seconds_saved
        return saved if saved is not None else float(self.macs_before - self.macs_after)


@dataclasses.dataclass(frozen=True)
class LayerAdvice:
    """The options for one layer, best first, and the schemes that do not apply (with why)."""

    layer: NetworkLayer
    options: tuple
    not_applicable: tuple  # (scheme, reason)

    @property
    def best(self) -> Option | None:
        """The option saving the most, if it saves anything."""
        if self.options and self.options[0].saving() > 0:
            return self.options[0]
        return None


@dataclasses.dataclass(frozen=True)
class NetworkAdvice:
    """Per-layer advice and the network's totals before and after the best option of each layer."""

    network: Network
    layers: tuple
    profile_device: str | None
    macs_before: int
    macs_after: int
    seconds_before: float | None
    seconds_after: float | None

    @property
    def macs_ratio(self) -> float:
        return self.macs_after / self.macs_before

    @property
    def time_ratio(self) -> float | None:
        if self.seconds_before is None or self.seconds_after is None:
            return None
        return self.seconds_after / self.seconds_before

    def rows(self) -> list[dict]:
        """One row per layer and applicable scheme, layers in graph order, options best first."""
        rows = []
        for advice in self.layers:
            for rank, option in enumerate(advice.options, start=1):
                rows.append(
                    {
                        "layer": advice.layer.name,
                        "conv": advice.layer.convs[0].describe(),
                        "rank": rank,
                        "scheme": option.scheme,
                        "macs_before": option.macs_before,
                        "macs_after": option.macs_after,
                        "macs_ratio": option.macs_ratio,
                        "seconds_before": option.seconds_before,
                        "seconds_after": option.seconds_after,
                        "time_ratio": option.time_ratio,
                        "seconds_saved": option.seconds_saved,
                        "best": option is advice.best,
                    }
                )
        return rows


def _seconds(unit, profile: latency.DeviceProfile | None) -> float | None:
    if profile is None:
        return None
    return sum(prediction.seconds for prediction in latency.predict_layers(unit, profile))


def _macs(unit) -> int:
    from costmodel.counts import count_layer

    counts = count_layer(unit) if isinstance(unit, ConvLayer) else unit.counts()
    return int(counts.macs)


def _layer_advice(layer: NetworkLayer, profile: latency.DeviceProfile | None) -> LayerAdvice:
    (conv,) = layer.convs
    before_macs, before_seconds = _macs(conv), _seconds(conv, profile)
    options, refused = [], []
    for name in SCHEMES:
        try:
            block = factorize(conv, name)
        except ValueError as error:
            refused.append((name, str(error)))
            continue
        if block.layers() == [conv]:
            refused.append((name, f"{name} of {conv.describe()} is the layer itself"))
            continue
        options.append(Option(name, before_macs, _macs(block), before_seconds, _seconds(block, profile)))
    options.sort(key=lambda option: option.saving(), reverse=True)
    return LayerAdvice(layer, tuple(options), tuple(refused))


def advise(network: Network, profile: latency.DeviceProfile | None = None) -> NetworkAdvice:
    """Rank the schemes for every single-convolution layer of the network (dense layers excluded).

    With a device profile, by predicted seconds saved on that device; without, by MACs saved.
    """
    layers = tuple(
        _layer_advice(layer, profile)
        for layer in network.conv_layers
        if len(layer.convs) == 1 and layer.kind != "Dense"
    )
    macs_before = network.macs
    saved_macs = sum(advice.best.macs_before - advice.best.macs_after for advice in layers if advice.best)
    seconds_before = seconds_after = None
    if profile is not None:
        seconds_before = predict_network_seconds(network, profile)
        seconds_after = seconds_before - sum(advice.best.seconds_saved or 0.0 for advice in layers if advice.best)
    return NetworkAdvice(
        network,
        layers,
        profile.device if profile else None,
        macs_before,
        macs_before - saved_macs,
        seconds_before,
        seconds_after,
    )
