"""Whole networks: every convolution and dense layer of a model, counted with the cost model's formulas.

A :class:`Network` is a list of :class:`NetworkLayer` values in graph order.
Each convolution (``Conv2D`` with its groups, ``DepthwiseConv2D``, the two
halves of a ``SeparableConv2D``) and each ``Dense`` layer carries the
:class:`~costmodel.layer.ConvLayer` values that compute it, so its
parameters and multiply-adds are :func:`costmodel.counts.count_layer`'s,
never a second formula.  A dense layer is a 1x1 convolution over its input
positions (``height`` = positions, ``width`` = 1).  Every other layer (batch
norm, pooling, activations, merges) carries only the parameter count its
framework reports: the cost model has no MAC formula for it, and the network's
MAC total covers convolutions and dense layers only, as the papers' do.

Nothing here imports a framework: :mod:`validate.frameworks.network_reader`
turns a Keras model into a :class:`Network`, and counting one takes
milliseconds.

>>> first = NetworkLayer("conv", "Conv2D", (ConvLayer(3, 3, c_in=3, c_out=8, height=8, width=8),))
>>> relu = NetworkLayer("relu", "ReLU", params_given=0, inputs=("conv",))
>>> net = Network("tiny", (8, 8, 3), (first, relu))
>>> net.params, net.macs
(216, 13824)
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import functools
from typing import Any

from costmodel.counts import count_layer, output_shape
from costmodel.layer import ConvLayer, is_known
from costmodel.schemes import SCHEMES, factorize

__all__ = [
    "FUSE",
    "NETWORK_VERSION",
    "Change",
    "Network",
    "NetworkLayer",
    "Rule",
    "fused_conv",
    "parse_rules",
    "plan_changes",
    "rewrite",
]

#: Version of :meth:`Network.as_dict`'s layout, refused on mismatch by :meth:`Network.from_dict`.
NETWORK_VERSION = 1
#: The inverse of depthwise-separable: a depthwise + pointwise pair becomes one k x k convolution.
FUSE = "fuse"
#: Kinds whose ConvLayers the cost model counts.
CONV_KINDS = ("Conv2D", "DepthwiseConv2D", "SeparableConv2D")
DENSE_KIND = "Dense"
#: Kinds a fuse may skip between a depthwise and its pointwise: they act per channel (or per element).
PER_CHANNEL_KINDS = ("BatchNormalization", "ReLU", "Activation", "LeakyReLU", "PReLU", "ELU", "Softmax")


def _int(value) -> int:
    if not is_known(value):
        raise ValueError(f"a network count needs concrete sizes; got {value}")
    return int(value)


@functools.lru_cache(maxsize=4096)
def _layer_counts(layer: ConvLayer) -> tuple[int, int]:
    counts = count_layer(layer)
    return _int(counts.params), _int(counts.macs)


@dataclasses.dataclass(frozen=True)
class NetworkLayer:
    """One layer of a network, as the cost model sees it.

    Parameters
    ----------
    name : str
        The layer's name in the model (unique within it).
    kind : str
        The framework's class name: ``Conv2D``, ``DepthwiseConv2D``,
        ``SeparableConv2D``, ``Dense``, ``BatchNormalization``, ...
    convs : tuple of ConvLayer
        What the cost model counts: one ConvLayer (two for a separable
        convolution, a 1x1 one for a dense layer), or none for any other layer.
    params_given : int, optional
        The parameters of a layer without ConvLayers, as its framework counts them.
    inputs : tuple of str
        Names of the layers whose outputs it reads (the graph's edges).
    output_shape : tuple of int
        Its output per image, without the batch axis.
    counted : bool
        False for a layer of a kind the cost model cannot count, listed as not
        counted (its parameters are still the framework's).
    activation : str
        The activation function it applies, as its framework names it (``relu``,
        ``swish``): an ``Activation`` layer's, or a convolution's or dense
        layer's own; empty for none.  The latency model needs it, as the
        runtime runs a ``swish`` as two kernels and may fuse a ``relu`` into the
        convolution before it.
    """

    name: str
    kind: str
    convs: tuple = ()
    params_given: int | None = None
    inputs: tuple = ()
    output_shape: tuple = ()
    counted: bool = True
    activation: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"a network layer needs a name, got {self.name!r}")
        object.__setattr__(self, "convs", tuple(self.convs))
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "output_shape", tuple(self.output_shape))
        for conv in self.convs:
            if not isinstance(conv, ConvLayer):
                raise TypeError(f"layer {self.name!r}: convs must be ConvLayer values, got {type(conv).__name__}")
        if self.convs and self.params_given is not None:
            raise ValueError(f"layer {self.name!r}: params come from its ConvLayers; do not give params_given")
        if not self.convs and self.params_given is None:
            raise ValueError(f"layer {self.name!r} ({self.kind}) has no ConvLayers, so it needs params_given")
        if self.params_given is not None and (isinstance(self.params_given, bool) or self.params_given < 0):
            raise ValueError(f"layer {self.name!r}: params_given must be an integer >= 0, got {self.params_given!r}")

    @property
    def is_conv(self) -> bool:
        """True for a convolution or dense layer: one whose MACs are counted."""
        return bool(self.convs)

    @property
    def params(self) -> int:
        if self.convs:
            return sum(_layer_counts(conv)[0] for conv in self.convs)
        return int(self.params_given or 0)

    @property
    def macs(self) -> int:
        """Multiply-adds per call (per image at batch 1); 0 for a layer the cost model does not count."""
        return sum(_layer_counts(conv)[1] for conv in self.convs)

    def row(self) -> dict:
        """The layer-table row: name, kind, kernel, stride, channels in and out, output size, params, MACs."""
        row: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "kernel": "",
            "stride": "",
            "c_in": "",
            "c_out": "",
            "output": "x".join(map(str, self.output_shape)),
            "params": self.params,
            "macs": self.macs,
            "counted": self.counted,
        }
        if self.convs:
            first, last = self.convs[0], self.convs[-1]
            row.update(c_in=_int(first.c_in), c_out=_int(last.c_out))
            if self.kind != DENSE_KIND:
                row.update(
                    kernel=f"{first.kernel_h}x{first.kernel_w}",
                    stride="x".join(map(str, first.stride))
                    if first.stride[0] != first.stride[1]
                    else str(first.stride[0]),
                )
                if not self.output_shape:
                    row["output"] = "x".join(str(_int(size)) for size in output_shape(last)[1:])
        return row

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "convs": [_conv_dict(conv) for conv in self.convs],
            "params_given": self.params_given,
            "inputs": list(self.inputs),
            "output_shape": list(self.output_shape),
            "counted": self.counted,
            "activation": self.activation,
        }

    @classmethod
    def from_dict(cls, document: dict) -> NetworkLayer:
        return cls(
            name=document["name"],
            kind=document["kind"],
            convs=tuple(_conv_from_dict(conv) for conv in document.get("convs", ())),
            params_given=document.get("params_given"),
            inputs=tuple(document.get("inputs", ())),
            output_shape=tuple(document.get("output_shape", ())),
            counted=document.get("counted", True),
            activation=document.get("activation", ""),
        )


def _conv_dict(conv: ConvLayer) -> dict:
    values = {field.name: getattr(conv, field.name) for field in dataclasses.fields(conv)}
    for name, value in values.items():
        if isinstance(value, tuple):
            values[name] = [_int(part) for part in value]
        elif not isinstance(value, (str, bool)):
            values[name] = _int(value)
    return values


def _conv_from_dict(values: dict) -> ConvLayer:
    fields: dict[str, Any] = {
        name: tuple(value) if isinstance(value, list) else value for name, value in values.items()
    }
    return ConvLayer(**fields)


@dataclasses.dataclass(frozen=True)
class Network:
    """A whole model: its layers in graph order, each counted by the cost model.

    ``params`` counts every layer (the framework's own total); ``macs`` sums
    the convolution and dense layers, per image.
    """

    name: str
    input_shape: tuple
    layers: tuple

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "input_shape", tuple(self.input_shape))
        names = [layer.name for layer in self.layers]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"network {self.name!r} has two layers named {duplicates[0]!r}")

    @functools.cached_property
    def params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @functools.cached_property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def conv_layers(self) -> list[NetworkLayer]:
        """The convolution and dense layers, whose MACs are counted."""
        return [layer for layer in self.layers if layer.is_conv]

    @property
    def uncounted(self) -> list[NetworkLayer]:
        """Layers of a kind the cost model cannot count (listed with ``--skip-unknown``)."""
        return [layer for layer in self.layers if not layer.counted]

    def layer(self, name: str) -> NetworkLayer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"network {self.name!r} has no layer {name!r}")

    def consumers(self) -> dict[str, list[str]]:
        """Layer name -> names of the layers that read its output."""
        readers: dict[str, list[str]] = {layer.name: [] for layer in self.layers}
        for layer in self.layers:
            for source in layer.inputs:
                readers.setdefault(source, []).append(layer.name)
        return readers

    def table(self) -> list[dict]:
        """One row per convolution or dense layer, with its share of the network's MACs."""
        total = self.macs or 1
        return [{**layer.row(), "macs_share": layer.macs / total} for layer in self.conv_layers]

    def other_by_kind(self) -> dict[str, dict]:
        """Every other layer, grouped by kind: how many, and their parameters (counted or not)."""
        kinds: dict[str, dict] = {}
        for layer in self.layers:
            if layer.is_conv:
                continue
            entry = kinds.setdefault(layer.kind, {"layers": 0, "params": 0, "counted": layer.counted})
            entry["layers"] += 1
            entry["params"] += layer.params
        return kinds

    def totals(self) -> dict:
        conv_params = sum(layer.params for layer in self.conv_layers)
        return {
            "params": self.params,
            "macs": self.macs,
            "conv_dense_params": conv_params,
            "other_params": self.params - conv_params,
            "conv_dense_layers": len(self.conv_layers),
            "layers": len(self.layers),
        }

    def as_dict(self) -> dict:
        """JSON-ready: the model, the input, the totals and every layer with its ConvLayers."""
        return {
            "version": NETWORK_VERSION,
            "model": self.name,
            "input": list(self.input_shape),
            "params": self.params,
            "macs": self.macs,
            "totals": self.totals(),
            "layers": [{**layer.as_dict(), **_numbers(layer)} for layer in self.layers],
        }

    @classmethod
    def from_dict(cls, document: dict) -> Network:
        if document.get("version") != NETWORK_VERSION:
            raise ValueError(
                f"network layout version {document.get('version')!r} is not supported "
                f"(this cost model reads version {NETWORK_VERSION})"
            )
        return cls(
            document["model"],
            tuple(document["input"]),
            tuple(NetworkLayer.from_dict(layer) for layer in document["layers"]),
        )

    def replace(self, **changes) -> Network:
        return dataclasses.replace(self, **changes)


def _numbers(layer: NetworkLayer) -> dict:
    return {"params": layer.params, "macs": layer.macs}


# -- rewriting -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Rule:
    """Rewrite matching layers with a registry scheme, or ``fuse`` depthwise + pointwise pairs.

    Parameters
    ----------
    scheme : str
        A name of :data:`costmodel.schemes.SCHEMES` (or a ``+`` composition), or ``'fuse'``.
    kernel : (int, int), optional
        Only layers with this kernel (a scheme rule needs one; ``fuse`` takes none).
    name_glob : str
        Only layers whose name matches this shell pattern (``fuse``: the depthwise layer's name).
    kinds : tuple of str
        Only layers of these kinds (default: ``Conv2D`` and ``DepthwiseConv2D``).
    min_channels : int
        Only layers with at least this many input channels.

    >>> Rule("stack", (5, 5)).matches(NetworkLayer("a", "Conv2D", (ConvLayer(5, 5, c_in=8, c_out=8),)))
    True
    """

    scheme: str
    kernel: tuple | None = None
    name_glob: str = "*"
    kinds: tuple = ("Conv2D", "DepthwiseConv2D")
    min_channels: int = 1

    def __post_init__(self) -> None:
        if self.scheme != FUSE:
            from costmodel.schemes import scheme_names

            scheme_names(self.scheme)  # an unknown name lists the known ones
            if self.kernel is None:
                raise ValueError(f"rule {self.scheme!r} needs a kernel, e.g. '5x5:{self.scheme}'")
        elif self.kernel is not None:
            raise ValueError("fuse takes no kernel: it fuses every depthwise + pointwise pair")
        unknown = [kind for kind in self.kinds if kind not in (*CONV_KINDS, DENSE_KIND)]
        if unknown:
            raise ValueError(f"unknown layer kind {unknown[0]!r}; kinds: {', '.join((*CONV_KINDS, DENSE_KIND))}")

    def matches(self, layer: NetworkLayer) -> bool:
        if layer.kind not in self.kinds or len(layer.convs) != 1:
            return False
        conv = layer.convs[0]
        if self.kernel is not None and tuple(conv.kernel) != tuple(self.kernel):
            return False
        return fnmatch.fnmatchcase(layer.name, self.name_glob) and _int(conv.c_in) >= self.min_channels

    def describe(self) -> str:
        if self.scheme == FUSE:
            return FUSE
        return f"{self.kernel[0]}x{self.kernel[1]}:{self.scheme}" if self.kernel else self.scheme


def parse_rules(
    text: str, *, name_glob: str = "*", kinds: tuple | None = None, min_channels: int = 1
) -> tuple[Rule, ...]:
    """Rules from ``'5x5:stack,7x7:asymmetric,3x3:depthwise-separable'`` or ``'fuse'``.

    >>> [rule.describe() for rule in parse_rules("5x5:stack,7:asymmetric")]
    ['5x5:stack', '7x7:asymmetric']
    >>> parse_rules("3x3:stak")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown scheme 'stak'; known schemes: stack, ...; or fuse
    """
    from costmodel.kernel import parse_kernel

    rules = []
    filters: dict[str, Any] = {"name_glob": name_glob, "min_channels": min_channels}
    if kinds:
        filters["kinds"] = tuple(kinds)
    for part in (piece.strip() for piece in text.split(",")):
        if not part:
            raise ValueError(f"empty rule in {text!r}; expected e.g. 5x5:stack or fuse")
        if part == FUSE:
            if kinds:
                raise ValueError(
                    "--kind does not apply to fuse, which fuses every DepthwiseConv2D + 1x1 Conv2D pair "
                    "(and SeparableConv2D); choose the pairs with --layers GLOB (the depthwise layer's name)"
                )
            rules.append(Rule(FUSE, **filters))
            continue
        kernel_text, colon, scheme = part.partition(":")
        if not colon:
            close = difflib.get_close_matches(part, [FUSE, *SCHEMES], n=1)
            hint = f" (did you mean KxK:{close[0]}?)" if close and close[0] != FUSE else ""
            raise ValueError(f"rule {part!r} must be KERNEL:SCHEME, e.g. 5x5:stack, or fuse{hint}")
        try:
            kernel = tuple(parse_kernel(kernel_text))
            rules.append(Rule(scheme.strip(), kernel, **filters))
        except ValueError as error:
            message = str(error)
            raise ValueError(message + ("; or fuse" if message.startswith("unknown scheme") else "")) from None
    return tuple(rules)


@dataclasses.dataclass(frozen=True)
class Change:
    """One rewrite: the layers it replaces (and drops), the layers it puts in their place."""

    rule: str
    replaced: tuple  # names of the original layers replaced or dropped
    new_layers: tuple  # NetworkLayer values that take their place

    @property
    def anchor(self) -> str:
        """The original layer whose place the new layers take (the others are dropped)."""
        return self.replaced[0]


def _factorized(layer: NetworkLayer, rule: Rule) -> Change:
    (conv,) = layer.convs
    try:
        block = factorize(conv, rule.scheme)
    except ValueError as error:
        raise ValueError(
            f"rule {rule.describe()} cannot apply to layer {layer.name!r} ({conv.describe()}): {error}"
        ) from None
    new, source = [], layer.inputs
    parts = block.layers()
    for index, part in enumerate(parts):
        name = layer.name if len(parts) == 1 else f"{layer.name}_{rule.scheme.replace('+', '_')}{index}"
        kind = "DepthwiseConv2D" if part.is_depthwise else "Conv2D"
        new.append(NetworkLayer(name, kind, (part,), inputs=source))
        source = (name,)
    last = new[-1]
    new[-1] = dataclasses.replace(last, output_shape=layer.output_shape)
    return Change(rule.describe(), (layer.name,), tuple(new))


def _fuse_partner(network: Network, layer: NetworkLayer, readers: dict) -> list[NetworkLayer] | None:
    """The layers from a depthwise layer to its pointwise partner (both included), or None."""
    if layer.kind == "SeparableConv2D":
        return [layer]
    if layer.kind != "DepthwiseConv2D" or len(layer.convs) != 1:
        return None
    chain, current = [layer], layer
    while True:
        following = readers.get(current.name, [])
        if len(following) != 1:
            return None
        current = network.layer(following[0])
        chain.append(current)
        if current.kind in PER_CHANNEL_KINDS:
            continue
        if current.kind != "Conv2D" or len(current.convs) != 1:
            return None
        pointwise = current.convs[0]
        fits = (
            pointwise.kernel == (1, 1)
            and pointwise.groups == 1
            and pointwise.stride == (1, 1)
            and pointwise.dilation == (1, 1)
        )
        return chain if fits else None


def fused_conv(depthwise: ConvLayer, pointwise: ConvLayer) -> ConvLayer:
    """The k x k convolution a depthwise + pointwise pair factorizes: the inverse of depthwise-separable.

    >>> fused_conv(ConvLayer.depthwise(3, 3, 32, stride=2, height=16, width=16),
    ...            ConvLayer(1, 1, c_in=32, c_out=64, height=8, width=8)).describe()
    '3x3 conv 32->64'
    """
    return depthwise.replace(c_out=pointwise.c_out, groups=1, bias=pointwise.bias)


def _fused(network: Network, chain: list[NetworkLayer]) -> Change:
    first, last = chain[0], chain[-1]
    depthwise, pointwise = first.convs if first.kind == "SeparableConv2D" else (first.convs[0], last.convs[0])
    conv = fused_conv(depthwise, pointwise)
    name = f"{first.name}_fused"
    fused = NetworkLayer(name, "Conv2D", (conv,), inputs=first.inputs, output_shape=last.output_shape)
    return Change(FUSE, tuple(layer.name for layer in chain), (fused,))


def plan_changes(network: Network, rules: tuple) -> list[Change]:
    """Every change the rules make, in graph order; a rule that cannot apply to a matched layer raises.

    A layer matched by several rules takes the first; a layer already part of
    a change is not matched again.
    """
    readers = network.consumers()
    taken: set[str] = set()
    changes: list[Change] = []
    for layer in network.layers:
        if layer.name in taken:
            continue
        for rule in rules:
            if rule.scheme == FUSE:
                if not fnmatch.fnmatchcase(layer.name, rule.name_glob) or not layer.convs:
                    continue
                if _int(layer.convs[0].c_in) < rule.min_channels:
                    continue
                chain = _fuse_partner(network, layer, readers)
                if chain is None:
                    continue
                change = _fused(network, chain)
            elif rule.matches(layer):
                change = _factorized(layer, rule)
            else:
                continue
            changes.append(change)
            taken.update(change.replaced)
            break
    return changes


def rewrite(network: Network, rules: tuple) -> tuple[Network, list[Change]]:
    """The network with every change the rules make, and the changes.

    The new layers keep the graph: a replaced layer's readers read the last
    new layer; a fused chain's readers read the fused convolution.
    """
    changes = plan_changes(network, rules)
    by_anchor = {change.anchor: change for change in changes}
    dropped = {name for change in changes for name in change.replaced[1:]}
    renamed = {name: change.new_layers[-1].name for change in changes for name in change.replaced}
    layers: list[NetworkLayer] = []
    for layer in network.layers:
        if layer.name in dropped:
            continue
        if layer.name in by_anchor:
            layers.extend(by_anchor[layer.name].new_layers)
            continue
        inputs = tuple(renamed.get(source, source) for source in layer.inputs)
        layers.append(dataclasses.replace(layer, inputs=inputs))
    rules_text = ",".join(rule.describe() for rule in rules)
    return network.replace(name=f"{network.name} [{rules_text}]", layers=tuple(layers)), changes
