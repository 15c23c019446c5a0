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

from costmodel.counts import count_layer
from costmodel.layer import ConvLayer
from costmodel.network import Network, NetworkLayer
from validate.frameworks import crosscheck, model_file
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

#: Profiler op types that compute convolutions and dense layers: 2 FLOPs per multiply-add.  TensorFlow
#: runs every 1-D convolution as a 2-D one (Conv2D, DepthwiseConv2dNative, Conv2DBackpropInput).
COMPARED_OPS = ("Conv2D", "DepthwiseConv2dNative", "Conv3D", "Conv2DBackpropInput", "MatMul", "BatchMatMulV2")
#: Layer kinds whose op TensorFlow's profiler counts nothing for (Conv3DBackpropInputV2 has no FLOP
#: statistic; nor has Einsum, which some EinsumDense layers run as): their MACs cannot be crossed with
#: it, and the check says which were left out.
PROFILER_BLIND_KINDS = ("Conv3DTranspose",)

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
        *(
            f"{kind}{rank}D"
            for rank in (1, 2, 3)
            for kind in (
                "MaxPooling",
                "AveragePooling",
                "GlobalAveragePooling",
                "GlobalMaxPooling",
                "ZeroPadding",
                "Cropping",
                "UpSampling",
                "SpatialDropout",
            )
        ),
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
        "GaussianNoise",
        "GaussianDropout",
        "AlphaDropout",
        "Identity",
        "Rescaling",
        "Normalization",
        "Resizing",
        "CenterCrop",
        # keras.applications' own elementwise layers: ConvNeXt's learned scale and stochastic depth,
        # InceptionResNetV2's residual scaling (x + scale * y).
        "LayerScale",
        "StochasticDepth",
        "CustomScaleLayer",
    }
)

#: ``keras.ops`` operations called directly in a functional graph (nodes that are not layers), all
#: without multiply-adds in the cost model's sense: elementwise arithmetic (an elementwise product
#: is one multiplication per element, not a multiply-add of a convolution or dense layer, so it
#: counts 0 MACs, as keras.layers.Multiply does), activations, reductions and reshaping.  Any other
#: operation (a matmul or einsum between two activations, as attention computes) is refused by name.
ELEMENTWISE_OPS = frozenset(
    {
        *("Add", "Subtract", "Multiply", "Divide", "TrueDivide", "FloorDivide", "Negative", "Abs", "Square"),
        *("Sqrt", "Rsqrt", "Power", "Exp", "Log", "Maximum", "Minimum", "Clip", "Where", "Sign", "Erf"),
        *("Relu", "Relu6", "Sigmoid", "HardSigmoid", "HardSilu", "HardSwish", "Silu", "Swish", "Gelu", "Tanh"),
        *("Softmax", "LogSoftmax", "Elu", "Selu", "LeakyRelu", "Softplus", "Softsign"),
        *("Mean", "Sum", "Max", "Min", "Prod", "Var", "Std"),
        *("Reshape", "Transpose", "ExpandDims", "Squeeze", "Concatenate", "Stack", "Split", "Flatten"),
        *("GetItem", "Slice", "Take", "Tile", "Repeat", "BroadcastTo", "Pad", "Cast", "Identity", "ZerosLike"),
        *("OnesLike", "Image", "Resize", "StopGradient", "Shape"),
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
    model: str,
    *,
    alpha: float | None = None,
    input_size: int | None = None,
    include_top: bool | None = None,
    limits: model_file.FileLimits = model_file.DEFAULT_LIMITS,
):
    """A Keras model: a ``keras.applications`` name built with ``weights=None``, or a ``.keras`` file.

    ``alpha``, ``input_size`` (square RGB input) and ``include_top`` are passed
    to a constructor that takes them; giving one to a constructor that does
    not, or to a file, is an error.  A file is checked and loaded by
    :mod:`validate.frameworks.model_file` (bounded, then safe mode).
    """
    path = pathlib.Path(model)
    if model_file.names_a_file(model):
        if alpha is not None or input_size is not None or include_top is not None:
            raise ValueError(
                "--alpha, --input-size and --include-top/--no-top apply to keras.applications "
                f"names, not to the file {model}"
            )
        checked = model_file.check_model_file(path, limits)  # before Keras is even imported
        return model_file.load_checked_file(checked, import_keras())
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
#
# One handler per Keras layer class that computes multiply-adds (a plain dict, as fvcore's registry):
# each turns the layer and the tensor it reads into the ConvLayers that compute it.


def _shape(tensor) -> tuple:
    return tuple(tensor.shape)


def _spatial(layer, tensor, rank: int) -> tuple[tuple[int, ...], int]:
    """The input's spatial sizes (``rank`` of them) and channels, channels_last and fully known."""
    shape = _shape(tensor)
    if len(shape) != rank + 2:
        axes = {1: "(batch, length, channels)", 2: "(batch, height, width, channels)"}
        raise ValueError(
            f"layer {layer.name!r} ({type(layer).__name__}) reads a tensor of shape {shape}, "
            f"not {axes.get(rank, '(batch, depth, height, width, channels)')}"
        )
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise ValueError(f"layer {layer.name!r} is channels_first; only channels_last models are read")
    if any(size is None for size in shape[1:]):
        raise ValueError(
            f"layer {layer.name!r} reads an input of unknown size {shape}; "
            "give the model a fixed input size (--input-size)"
        )
    return tuple(int(size) for size in shape[1:-1]), int(shape[-1])


def _geometry(layer, tensor, rank: int) -> tuple[dict, int]:
    """The ConvLayer fields a Keras convolution of this rank sets, and its input channels.

    A 1-D layer runs along the width (see :class:`~costmodel.layer.ConvLayer`);
    its ``causal`` padding has the output positions of ``same`` (ceil(L / stride))
    and the same multiply-adds, so it is counted as ``same``.
    """
    sizes, channels = _spatial(layer, tensor, rank)
    kernel = tuple(int(side) for side in layer.kernel_size)
    strides = tuple(int(step) for step in layer.strides)
    dilation = tuple(int(step) for step in layer.dilation_rate)
    padding = "same" if layer.padding == "causal" else layer.padding
    fields: dict = {"rank": rank, "padding": padding}
    if rank == 1:
        fields.update(kernel_h=1, kernel_w=kernel[0], height=1, width=sizes[0], stride=strides, dilation=dilation)
    elif rank == 2:
        fields.update(kernel_h=kernel[0], kernel_w=kernel[1], height=sizes[0], width=sizes[1])
        fields.update(stride=strides, dilation=dilation)
    else:
        fields.update(kernel_d=kernel[0], kernel_h=kernel[1], kernel_w=kernel[2])
        fields.update(depth=sizes[0], height=sizes[1], width=sizes[2], stride=strides, dilation=dilation)
    return fields, channels


def _rank_of(layer) -> int:
    return len(layer.kernel_size)


def _conv(layer, tensor) -> tuple[ConvLayer, ...]:
    """``Conv1D``, ``Conv2D``, ``Conv3D``: groups, strides, dilation and padding as given."""
    fields, channels = _geometry(layer, tensor, _rank_of(layer))
    return (
        _conv_layer(
            fields, c_in=channels, c_out=int(layer.filters), groups=int(layer.groups), bias=bool(layer.use_bias)
        ),
    )


def _conv_layer(fields: dict, **more) -> ConvLayer:
    values = {**fields, **more}
    return ConvLayer(values.pop("kernel_h"), values.pop("kernel_w"), **values)


def _depthwise(layer, tensor) -> tuple[ConvLayer, ...]:
    """``DepthwiseConv1D``, ``DepthwiseConv2D``: one group per input channel, times the depth multiplier."""
    fields, channels = _geometry(layer, tensor, _rank_of(layer))
    wide = channels * int(layer.depth_multiplier)
    return (_conv_layer(fields, c_in=channels, c_out=wide, groups=channels, bias=bool(layer.use_bias)),)


def _separable(layer, tensor) -> tuple[ConvLayer, ...]:
    """``SeparableConv1D``, ``SeparableConv2D``: the depthwise half, then a 1x1 convolution with the bias."""
    fields, channels = _geometry(layer, tensor, _rank_of(layer))
    wide = channels * int(layer.depth_multiplier)
    depthwise = _conv_layer(fields, c_in=channels, c_out=wide, groups=channels)
    out_h, out_w = depthwise.output_hw
    pointwise = ConvLayer(
        1,
        1,
        c_in=wide,
        c_out=int(layer.filters),
        padding="valid",
        height=int(out_h),
        width=int(out_w),
        rank=depthwise.rank,
        bias=bool(layer.use_bias),
    )
    return (depthwise, pointwise)


def _transposed(layer, tensor) -> tuple[ConvLayer, ...]:
    """``Conv1DTranspose``, ``Conv2DTranspose``, ``Conv3DTranspose``: every input position scatters the kernel."""
    if getattr(layer, "output_padding", None) is not None:
        raise UncountableLayerError(
            f"layer {layer.name!r} is a {type(layer).__name__} with output_padding={layer.output_padding}, "
            "which the reader does not read (the default, None, it does)"
        )
    fields, channels = _geometry(layer, tensor, _rank_of(layer))
    return (_conv_layer(fields, c_in=channels, c_out=int(layer.filters), bias=bool(layer.use_bias), transposed=True),)


def _dense(layer, tensor) -> tuple[ConvLayer, ...]:
    """``Dense``: a 1x1 convolution over every position of its input but the last axis."""
    shape = _shape(tensor)
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


def _einsum_dense(layer, tensor) -> tuple[ConvLayer, ...]:
    """``EinsumDense``: a 1x1 convolution, grouped over the axes the input, kernel and output share.

    For ``input,kernel->output`` with the input's first axis the batch: the
    axes only input and kernel have are summed (C_in), the axes only kernel
    and output have are the outputs (C_out), the axes all three have are
    groups, and the input's other axes are positions.  One multiply-add per
    (position, group, summed, output) index, as ``tf.einsum`` computes it.
    """
    equation = str(layer.equation).replace(" ", "")
    try:
        operands, output = equation.split("->")
        source, kernel = operands.split(",")
    except ValueError:
        raise UncountableLayerError(f"layer {layer.name!r} is an EinsumDense of equation {equation!r}") from None
    shape = _shape(tensor)
    if "." in equation or len(source) != len(shape) or any(size is None for size in shape[1:]):
        raise UncountableLayerError(
            f"layer {layer.name!r} is an EinsumDense of equation {equation!r} over an input of shape {shape}, "
            "which the reader does not read (ellipses, or sizes left open)"
        )
    sizes = {letter: int(size) for letter, size in zip(source[1:], shape[1:], strict=True)}
    sizes.update({letter: int(size) for letter, size in zip(kernel, layer.kernel.shape, strict=True)})

    def product(letters) -> int:
        return math.prod(sizes[letter] for letter in letters)

    summed = [letter for letter in kernel if letter in source and letter not in output]
    outputs = [letter for letter in kernel if letter in output and letter not in source]
    groups = [letter for letter in kernel if letter in source and letter in output]
    positions = [letter for letter in source[1:] if letter not in kernel]
    if any(letter not in output for letter in positions):
        raise UncountableLayerError(
            f"layer {layer.name!r} is an EinsumDense of equation {equation!r} that also sums input axes "
            "without the kernel, which has no formula in the cost model"
        )
    bias = getattr(layer, "bias", None)
    bias_size = 0 if bias is None else math.prod(int(size) for size in bias.shape)
    c_out = product(outputs) * product(groups)
    if bias_size not in (0, c_out):
        raise UncountableLayerError(
            f"layer {layer.name!r} is an EinsumDense whose bias ({bias_size} values) is not one per output "
            f"({c_out}), which the cost model does not count"
        )
    return (
        ConvLayer(
            1,
            1,
            c_in=product(summed) * product(groups),
            c_out=c_out,
            groups=product(groups),
            height=product(positions),
            width=1,
            padding="valid",
            bias=bias_size > 0,
        ),
    )


#: Keras layer class -> the function giving the ConvLayers that compute it.
CONV_HANDLERS = {
    **dict.fromkeys(("Conv1D", "Conv2D", "Conv3D"), _conv),
    **dict.fromkeys(("DepthwiseConv1D", "DepthwiseConv2D"), _depthwise),
    **dict.fromkeys(("SeparableConv1D", "SeparableConv2D"), _separable),
    **dict.fromkeys(("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"), _transposed),
    "Dense": _dense,
    "EinsumDense": _einsum_dense,
}


def _convs(layer, input_tensor) -> tuple[ConvLayer, ...] | None:
    """The ConvLayers computing one Keras layer, or None when it is not a convolution or dense layer."""
    handler = CONV_HANDLERS.get(type(layer).__name__)
    return None if handler is None else handler(layer, input_tensor)


@dataclasses.dataclass
class _Walk:
    """The state of one walk through a (possibly nested) model."""

    skip_unknown: bool
    layers: list = dataclasses.field(default_factory=list)
    renamed: dict = dataclasses.field(default_factory=dict)  # nested model name -> its last layer


def _graph_of(model):
    """The functional graph of a model: its own, or the one a built Sequential model keeps inside."""
    if getattr(model, "_nodes_by_depth", None) is not None:
        return model
    functional = getattr(model, "_functional", None)  # a Sequential model, once it knows its input
    if functional is not None and getattr(functional, "_nodes_by_depth", None) is not None:
        return functional
    raise ValueError(
        f"model {model.name!r} is a {type(model).__name__} that has no input shape yet, so it has no "
        "graph to read; start it with keras.Input(shape) (or build it on an input)"
    )


def _nodes_in_order(model) -> list:
    """The model's nodes from its inputs to its outputs, ties in the order of ``model.layers``."""
    graph = _graph_of(model)
    position = {id(layer): index for index, layer in enumerate(graph.layers)}
    by_depth = graph._nodes_by_depth
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
        is_layer = isinstance(layer, keras.layers.Layer)
        if not is_layer:
            kind = f"ops.{kind}"  # a keras.ops call in the graph, not a layer: it holds no weights
        try:
            convs = _convs(layer, node.input_tensors[0]) if node.input_tensors and is_layer else None
        except UncountableLayerError:
            if not walk.skip_unknown:
                raise
            convs = None
        activation = _activation_name(layer) if is_layer else ""
        if convs is not None:
            walk.layers.append(
                NetworkLayer(name, kind, convs, inputs=inputs, output_shape=output, activation=activation)
            )
            _check_output(walk.layers[-1], node)
            continue
        known = kind in OTHER_KINDS if is_layer else kind[len("ops.") :] in ELEMENTWISE_OPS
        if not known and not walk.skip_unknown:
            what = f"a {kind}" if is_layer else f"a keras.{kind} operation"
            raise UncountableLayerError(
                f"layer {name!r} is {what}, which the cost model cannot count; --skip-unknown lists it as not counted"
            )
        params = int(layer.count_params()) if is_layer else 0
        walk.layers.append(
            NetworkLayer(
                name,
                kind,
                params_given=params,
                inputs=inputs,
                output_shape=output,
                counted=known,
                activation=activation,
            )  # fmt: skip
        )


def _activation_name(layer) -> str:
    """The activation a layer applies by name (``relu``, ``swish``); empty for none or a linear one."""
    activation = getattr(layer, "activation", None)
    if activation is None:
        return ""
    name = activation if isinstance(activation, str) else getattr(activation, "__name__", type(activation).__name__)
    return "" if name == "linear" else str(name)


def _check_output(layer: NetworkLayer, node) -> None:
    """The last ConvLayer's output size must be Keras's: otherwise the reading is wrong."""
    if layer.kind in ("Dense", "EinsumDense"):
        return
    last = layer.convs[-1]
    out_h, out_w = last.output_hw
    spatial = {1: (out_w,), 2: (out_h, out_w), 3: (last.output_d, out_h, out_w)}[last.rank]
    read = tuple(int(size) for size in (*spatial, last.c_out))
    expected = tuple(_shape(node.output_tensors[0])[1:])
    if read != expected:
        raise RuntimeError(f"bug: layer {layer.name!r} read as {last.describe()} giving {read}, Keras says {expected}")


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
    blind = [layer for layer in network.conv_layers if layer.kind in PROFILER_BLIND_KINDS]
    einsums = [layer for layer in network.conv_layers if layer.kind == "EinsumDense"]
    if einsums:
        # TensorFlow runs an EinsumDense as a BatchMatMulV2 (counted) or as an Einsum op (no FLOP statistic).
        einsum_ops = crosscheck.op_type_counts(model, 1).get("Einsum", 0)
        if einsum_ops == len(einsums):
            blind += einsums
        elif einsum_ops:
            return MacsCheck(
                network.macs,
                f"not checked: {einsum_ops} of {len(einsums)} EinsumDense layers run as Einsum ops, "
                "which the profiler counts no FLOPs for, and which ones cannot be told",
                by_op,
            )
    try:
        expected = sum(
            profiler_macs(conv) for layer in network.conv_layers if layer not in blind for conv in layer.convs
        )
    except crosscheck.UncountedOpsError as error:
        return MacsCheck(network.macs, f"not checked: {error}", by_op)
    flops = sum(by_op.get(op, 0) for op in COMPARED_OPS)
    if flops != 2 * expected:
        raise crosscheck.CrossCheckError(
            f"MACs of {network.name!r}: TensorFlow's profiler counts {flops} FLOPs in "
            f"{', '.join(COMPARED_OPS)}, i.e. {flops / 2:.0f} MACs; the cost model {expected} "
            f"(difference {flops / 2 - expected:+.0f}); profiler per op: {by_op}"
        )
    checked_by = "tensorflow profiler"
    if blind:
        left_out = sum(layer.macs for layer in blind)
        checked_by += (
            f" (but {len(blind)} {'/'.join(sorted({layer.kind for layer in blind}))} layers, {left_out} MACs, "
            "which it counts no FLOPs for: "
            + ", ".join(layer.name for layer in blind[:3])
            + (", ..." if len(blind) > 3 else "")
            + ")"
        )
    return MacsCheck(network.macs, checked_by, by_op)


def profiler_macs(conv: ConvLayer) -> int:
    """The multiply-adds TensorFlow's profiler counts for one ConvLayer (half its FLOPs).

    The cost model's own count, except for a transposed convolution: the
    profiler counts ``Conv2DBackpropInput`` as output positions x weights /
    (stride_h x stride_w), which is the cost model's input positions x weights
    under 'same' padding, and more under 'valid' (the output's border, where
    fewer kernel taps land, is counted in full).
    """
    counts = count_layer(conv)
    if not conv.transposed:
        return int(counts.macs)
    weights = int(counts.params) - (int(conv.c_out) if conv.bias else 0)
    product = int(conv.output_positions) * weights
    strides = int(conv.stride[0]) * int(conv.stride[1])
    if product % strides:
        raise crosscheck.UncountedOpsError(f"{conv.describe()}: the profiler's count is not a whole number")
    return product // strides


def check_network(network: Network, model) -> MacsCheck:
    """Both checks; raises :class:`~validate.frameworks.crosscheck.CrossCheckError` on a mismatch."""
    check_params(network, model)
    return check_macs(network, model)
