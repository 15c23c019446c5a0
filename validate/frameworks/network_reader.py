"""Keras models read into :class:`costmodel.network.Network` values, and checked against Keras.

:func:`load_model` builds a ``keras.applications`` model by name (always
``weights=None``: nothing is downloaded) or loads a ``.keras`` file;
:func:`read_network` walks the model's functional graph and turns every
convolution and dense layer into the :class:`~costmodel.layer.ConvLayer`
values that compute it, every other layer into its parameter count;
:func:`check_network` then confirms the counts against Keras and TensorFlow:

* parameters: the network's total (every layer) equals ``model.count_params()``;
* MACs: the convolution and dense layers' multiply-adds equal half the FLOPs
  TensorFlow's profiler counts in the ops that compute them (``Conv2D``,
  ``DepthwiseConv2dNative``, ``MatMul``; function calls followed, see
  :mod:`validate.frameworks.crosscheck`).  Bias adds, batch norm, pooling
  and activations are other ops, outside the comparison.

A layer of a kind the cost model cannot count (``Conv1D``, ``LSTM``,
attention, ...) is an error naming it; with ``skip_unknown`` it is listed as
not counted instead, its parameters still Keras's, its MACs absent.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import math
import pathlib

from costmodel.layer import ConvLayer
from costmodel.network import Network, NetworkLayer
from validate.frameworks import crosscheck
from validate.frameworks.keras_build import import_keras

__all__ = [
    "COMPARED_OPS",
    "OTHER_KINDS",
    "MacsCheck",
    "UncountableLayerError",
    "application_names",
    "check_macs",
    "check_network",
    "check_params",
    "load_model",
    "read_network",
]

#: Profiler op types that compute convolutions and dense layers: 2 FLOPs per multiply-add.
COMPARED_OPS = ("Conv2D", "DepthwiseConv2dNative", "MatMul", "BatchMatMulV2")

#: Kinds without multiply-adds in the cost model's sense, counted by their parameters alone.
OTHER_KINDS = frozenset(
    {
        "InputLayer",
        "BatchNormalization",
        "LayerNormalization",
        "GroupNormalization",
        "UnitNormalization",
        "ReLU",
        "Activation",
        "LeakyReLU",
        "PReLU",
        "ELU",
        "Softmax",
        "MaxPooling2D",
        "AveragePooling2D",
        "GlobalAveragePooling2D",
        "GlobalMaxPooling2D",
        "ZeroPadding2D",
        "Cropping2D",
        "UpSampling2D",
        "Add",
        "Subtract",
        "Multiply",
        "Average",
        "Maximum",
        "Minimum",
        "Concatenate",
        "Reshape",
        "Flatten",
        "Permute",
        "RepeatVector",
        "Dropout",
        "SpatialDropout2D",
        "GaussianNoise",
        "Identity",
        "Rescaling",
        "Normalization",
        "Resizing",
        "CenterCrop",
    }
)

#: Constructor arguments the command line sets, per option.
APPLICATION_OPTIONS = ("alpha", "input_shape", "include_top")


class UncountableLayerError(ValueError):
    """A layer whose kind the cost model has no formula for; never skipped silently."""


def application_names() -> list[str]:
    """The model constructors of ``keras.applications`` (``MobileNet``, ``ResNet50``, ...)."""
    keras = import_keras()
    return sorted(
        name for name in dir(keras.applications) if name[:1].isupper() and callable(getattr(keras.applications, name))
    )


def _application(name: str):
    keras = import_keras()
    names = application_names()
    if name in names:
        return getattr(keras.applications, name)
    by_lower = {known.lower(): known for known in names}
    if name.lower() in by_lower:
        return getattr(keras.applications, by_lower[name.lower()])
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=4, cutoff=0.5)
    hint = ", ".join(by_lower[match] for match in close) if close else ", ".join(names[:8]) + ", ..."
    raise ValueError(
        f"unknown model {name!r}: not a .keras file and not a keras.applications name; close matches: {hint}"
    )


def load_model(
    model: str, *, alpha: float | None = None, input_size: int | None = None, include_top: bool | None = None
):
    """A Keras model: a ``keras.applications`` name built with ``weights=None``, or a ``.keras`` file.

    ``alpha``, ``input_size`` (square RGB input) and ``include_top`` are passed
    to a constructor that takes them; giving one to a constructor that does
    not, or to a file, is an error.
    """
    keras = import_keras()
    path = pathlib.Path(model)
    if path.suffix in (".keras", ".h5") or path.exists():
        if alpha is not None or input_size is not None or include_top is not None:
            raise ValueError(
                "--alpha, --input-size and --include-top/--no-top apply to keras.applications "
                f"names, not to the file {model}"
            )
        if not path.exists():
            raise ValueError(f"{model} does not exist")
        try:
            loaded = keras.saving.load_model(path, compile=False)
        except Exception as error:  # Keras raises many types for a bad file
            first = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise ValueError(f"{model} is not a Keras model: {first[:200]}") from None
        if not isinstance(loaded, keras.Model):
            raise ValueError(f"{model} is not a Keras model")
        return loaded
    constructor = _application(model)
    accepted = inspect.signature(constructor).parameters
    options: dict = {"weights": None}
    given = {
        "alpha": alpha,
        "input_shape": None if input_size is None else (input_size, input_size, 3),
        "include_top": include_top,
    }
    flags = {"alpha": "--alpha", "input_shape": "--input-size", "include_top": "--include-top/--no-top"}
    for option, value in given.items():
        if value is None:
            continue
        if option not in accepted:
            raise ValueError(f"{constructor.__name__} takes no {flags[option]}")
        options[option] = value
    try:
        return constructor(**options)
    except ValueError as error:
        first = (str(error).strip().splitlines() or [""])[0]
        raise ValueError(f"{constructor.__name__}({_arguments(options)}): {first[:300]}") from None


def _arguments(options: dict) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in options.items())


# -- reading ---------------------------------------------------------------------------------------


def _shape(tensor) -> tuple:
    return tuple(tensor.shape)


def _spatial(layer, tensor) -> tuple[int, int, int]:
    shape = _shape(tensor)
    if len(shape) != 4:
        raise ValueError(
            f"layer {layer.name!r} ({type(layer).__name__}) reads a tensor of shape {shape}, "
            "not (batch, height, width, channels)"
        )
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise ValueError(f"layer {layer.name!r} is channels_first; only channels_last models are read")
    _, height, width, channels = shape
    if height is None or width is None:
        raise ValueError(
            f"layer {layer.name!r} reads an input of unknown size {shape}; "
            "give the model a fixed input size (--input-size)"
        )
    return int(height), int(width), int(channels)


def _conv_common(layer, height: int, width: int) -> dict:
    return {
        "stride": tuple(layer.strides),
        "dilation": tuple(layer.dilation_rate),
        "padding": layer.padding,
        "height": height,
        "width": width,
    }


def _convs(layer, input_tensor) -> tuple[ConvLayer, ...] | None:
    """The ConvLayers computing one Keras layer, or None when it is not a convolution or dense layer."""
    kind = type(layer).__name__
    if kind == "Dense":
        shape = _shape(input_tensor)
        positions = math.prod(int(size) for size in shape[1:-1]) if len(shape) > 2 else 1
        return (
            ConvLayer(
                1,
                1,
                c_in=int(shape[-1]),
                c_out=int(layer.units),
                height=positions,
                width=1,
                padding="valid",
                bias=bool(layer.use_bias),
            ),
        )
    if kind not in ("Conv2D", "DepthwiseConv2D", "SeparableConv2D"):
        return None
    height, width, channels = _spatial(layer, input_tensor)
    k_h, k_w = (int(size) for size in layer.kernel_size)
    common = _conv_common(layer, height, width)
    if kind == "Conv2D":
        return (
            ConvLayer(
                k_h,
                k_w,
                c_in=channels,
                c_out=int(layer.filters),
                groups=int(layer.groups),
                bias=bool(layer.use_bias),
                **common,
            ),
        )
    if kind == "DepthwiseConv2D":
        return (
            ConvLayer.depthwise(k_h, k_w, channels, int(layer.depth_multiplier), bias=bool(layer.use_bias), **common),
        )
    depthwise = ConvLayer.depthwise(k_h, k_w, channels, int(layer.depth_multiplier), **common)
    out_h, out_w = depthwise.output_hw
    pointwise = ConvLayer(
        1,
        1,
        c_in=depthwise.c_out,
        c_out=int(layer.filters),
        padding="valid",
        height=int(out_h),
        width=int(out_w),
        bias=bool(layer.use_bias),
    )
    return (depthwise, pointwise)


@dataclasses.dataclass
class _Walk:
    """The state of one walk through a (possibly nested) model."""

    skip_unknown: bool
    layers: list = dataclasses.field(default_factory=list)
    renamed: dict = dataclasses.field(default_factory=dict)  # nested model name -> its last layer


def _nodes_in_order(model) -> list:
    """The model's nodes from its inputs to its outputs, ties in the order of ``model.layers``."""
    position = {id(layer): index for index, layer in enumerate(model.layers)}
    by_depth = getattr(model, "_nodes_by_depth", None)
    if by_depth is None:  # e.g. a Sequential model nested inside another, as in ConvNeXt
        raise ValueError(
            f"model {model.name!r} is a {type(model).__name__} without a functional graph to "
            "read; only functional models (and Sequential models at the top) are read"
        )
    nodes = []
    for depth in sorted(by_depth, reverse=True):  # Keras 3: larger depth = nearer the inputs
        nodes.extend(sorted(by_depth[depth], key=lambda node: position.get(id(node.operation), -1)))
    return nodes


def _walk(model, walk: _Walk, outer_inputs: tuple = (), prefix: str = "") -> None:
    keras = import_keras()
    seen: dict[str, int] = {}
    for node in _nodes_in_order(model):
        layer = node.operation
        kind = type(layer).__name__
        if kind == "InputLayer":
            continue
        name = prefix + layer.name
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            raise ValueError(
                f"layer {name!r} is called {seen[name]} times (a shared layer); shared layers are not read"
            )
        parents = tuple(
            prefix + parent.operation.name
            for parent in node.parent_nodes
            if type(parent.operation).__name__ != "InputLayer"
        )
        inputs = tuple(walk.renamed.get(parent, parent) for parent in parents) or outer_inputs
        if isinstance(layer, keras.Model):
            _walk(layer, walk, inputs, prefix=f"{name}/")
            walk.renamed[name] = walk.layers[-1].name
            continue
        output = tuple(int(size) for size in _shape(node.output_tensors[0])[1:] if size is not None)
        convs = _convs(layer, node.input_tensors[0]) if node.input_tensors else None
        if convs is not None:
            walk.layers.append(NetworkLayer(name, kind, convs, inputs=inputs, output_shape=output))
            _check_output(walk.layers[-1], node)
        elif kind in OTHER_KINDS:
            walk.layers.append(
                NetworkLayer(name, kind, params_given=int(layer.count_params()), inputs=inputs, output_shape=output)
            )
        elif walk.skip_unknown:
            walk.layers.append(
                NetworkLayer(
                    name,
                    kind,
                    params_given=int(layer.count_params()),
                    inputs=inputs,
                    output_shape=output,
                    counted=False,
                )
            )
        else:
            raise UncountableLayerError(
                f"layer {name!r} is a {kind}, which the cost model cannot count; --skip-unknown lists it as not counted"
            )


def _check_output(layer: NetworkLayer, node) -> None:
    """The last ConvLayer's output size must be Keras's: otherwise the reading is wrong."""
    if layer.kind == "Dense":
        return
    out_h, out_w = layer.convs[-1].output_hw
    expected = _shape(node.output_tensors[0])[1:]
    if (int(out_h), int(out_w), int(layer.convs[-1].c_out)) != tuple(expected):
        raise RuntimeError(
            f"bug: layer {layer.name!r} read as {layer.convs[-1].describe()} giving "
            f"{out_h}x{out_w}, Keras says {expected}"
        )


def read_network(model, *, skip_unknown: bool = False, name: str | None = None) -> Network:
    """The cost model's view of a Keras model: every layer in graph order.

    Raises
    ------
    UncountableLayerError
        A layer of a kind the cost model cannot count (unless ``skip_unknown``).
    ValueError
        A layer the reader cannot describe (channels_first, unknown input size, shared).
    """
    walk = _Walk(skip_unknown)
    _walk(model, walk)
    input_shape = tuple(int(size) if size is not None else 0 for size in model.inputs[0].shape[1:])
    return Network(name or model.name, input_shape, tuple(walk.layers))


# -- cross-checks ----------------------------------------------------------------------------------


def check_params(network: Network, model) -> int:
    """The network's parameters (every layer) must equal ``model.count_params()``."""
    counted = int(model.count_params())
    if counted != network.params:
        raise crosscheck.CrossCheckError(
            f"parameters of {network.name!r}: Keras counts {counted}, the cost model {network.params} "
            f"(difference {counted - network.params:+d})"
        )
    return counted


@dataclasses.dataclass(frozen=True)
class MacsCheck:
    """The outcome of :func:`check_macs`: the agreed MACs, or why they were not checked."""

    macs: int
    checked_by: str
    profiler_flops_by_op: dict

    @property
    def checked(self) -> bool:
        return not self.checked_by.startswith("not checked")


def check_macs(network: Network, model) -> MacsCheck:
    """The conv and dense MACs must equal half the profiler's FLOPs in :data:`COMPARED_OPS`.

    Not checked (and said so) on a backend other than TensorFlow, where the
    profiler cannot see a function call's graph, or where layers are uncounted.
    """
    if network.uncounted:
        names = ", ".join(layer.name for layer in network.uncounted[:3])
        return MacsCheck(network.macs, f"not checked: uncounted layers ({names}) may hold the same ops", {})
    try:
        by_op = crosscheck.profiler_flops_by_op(model, 1)
    except crosscheck.UncountedOpsError as error:
        return MacsCheck(network.macs, f"not checked: {error}", {})
    flops = sum(by_op.get(op, 0) for op in COMPARED_OPS)
    if flops != 2 * network.macs:
        raise crosscheck.CrossCheckError(
            f"MACs of {network.name!r}: TensorFlow's profiler counts {flops} FLOPs in "
            f"{', '.join(COMPARED_OPS)}, i.e. {flops / 2:.0f} MACs; the cost model {network.macs} "
            f"(difference {flops / 2 - network.macs:+.0f}); profiler per op: {by_op}"
        )
    return MacsCheck(network.macs, "tensorflow profiler", by_op)


def check_network(network: Network, model) -> MacsCheck:
    """Both checks; raises :class:`~validate.frameworks.crosscheck.CrossCheckError` on a mismatch."""
    check_params(network, model)
    return check_macs(network, model)
