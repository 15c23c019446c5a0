"""Keras models built from costmodel layers: what is timed is what is counted.

The cost model's :class:`~costmodel.layer.ConvLayer` and
:class:`~costmodel.block.Block` are the one source of truth.  This module
turns exactly those values into Keras layers, so that the latencies the
validator measures and the counts the cost model predicts describe the same
computation; a size is never re-typed by hand on the TensorFlow side.  The
cross-checks in :mod:`validate.frameworks.crosscheck` then confirm that Keras agrees
with the cost model on parameters and FLOPs, and that a factorized block
computes what the layer it replaces computes.

Mapping of one :class:`~costmodel.layer.ConvLayer`:

* a depthwise layer (``groups == c_in``, see ``ConvLayer.is_depthwise``)
  becomes ``keras.layers.DepthwiseConv2D`` with
  ``depth_multiplier = c_out // c_in``; any other layer becomes
  ``keras.layers.Conv2D`` with its ``groups``;
* ``'same'`` and ``'valid'`` padding are passed through; explicit zeros per
  side become ``keras.layers.ZeroPadding2D`` followed by a ``'valid'``
  convolution (an explicit ``(0, 0)`` is just ``'valid'``);
* stride, dilation and the bias flag are passed through.  A depthwise layer
  with unequal row and column strides is refused: TensorFlow's
  ``DepthwiseConv2dNative`` does not implement it.

Weights are drawn with numpy from ``seed``, independently of Keras' own
initialisers and random state, so the same seed gives the same model in any
process.  Each convolution's weights are normal with standard deviation
``1/sqrt(fan_in)`` (``fan_in = k_h * k_w * c_in / groups``), which keeps
activations of order one through a deep linear stack, so float32 comparisons
can use fixed tolerances; biases are normal with standard deviation 0.1.

Keras (and through it the backend's framework) is imported inside the
functions that need it (with ``KERAS_BACKEND`` defaulting to
``'tensorflow'``): importing this module costs nothing, and the cost model
never pulls it in.
"""

from __future__ import annotations

import os
import re

import numpy as np

from costmodel.block import Block, layers_of
from costmodel.layer import ConvLayer, is_known

__all__ = [
    "build_model",
    "concrete",
    "conv_layers",
    "import_keras",
    "keras_layers",
    "layers_of",
    "random_input",
    "shape_preserving",
]

#: Fields of a ConvLayer that must be concrete numbers for Keras to build it.
_BUILD_FIELDS = ("kernel_h", "kernel_w", "c_in", "c_out", "groups", "stride", "dilation", "padding", "height", "width")


def import_keras():
    """Keras 3, imported on first use, on the backend ``KERAS_BACKEND`` names (default TensorFlow).

    The command line sets ``KERAS_BACKEND`` before this runs (see
    :func:`validate.frameworks.backends.select_keras_backend`); the models built here are
    the same Keras models on every backend.
    """
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    return keras


def _int(field: str, value) -> int:
    """``value`` as a plain ``int``, or a ValueError naming the field if it is symbolic."""
    if not is_known(value):
        raise ValueError(f"{field}={value} is symbolic; Keras needs a concrete number")
    return int(value)


def concrete(layer: ConvLayer) -> dict:
    """The layer's build fields as plain ints (pairs as tuples; padding stays a mode string).

    >>> concrete(ConvLayer(3, 3, c_in=4, c_out=8, height=16, width=16))["stride"]
    (1, 1)
    >>> from costmodel.symbols import H
    >>> concrete(ConvLayer(3, 3, c_in=4, c_out=8, height=H, width=16))
    Traceback (most recent call last):
    ...
    ValueError: height=H is symbolic; Keras needs a concrete number
    """
    values: dict[str, object] = {}
    for field in _BUILD_FIELDS:
        value = getattr(layer, field)
        if isinstance(value, str):
            values[field] = value
        elif isinstance(value, tuple):
            values[field] = tuple(_int(f"{field}[{axis}]", part) for axis, part in enumerate(value))
        else:
            values[field] = _int(field, value)
    return values


def keras_layers(layer: ConvLayer, name: str | None = None) -> list:
    """The Keras layers computing one :class:`ConvLayer`, in the order to apply them.

    Parameters
    ----------
    layer : ConvLayer
        Every size must be a number; a symbolic one raises ValueError naming the field.
    name : str, optional
        Name of the convolution layer (its padding layer gets ``name + '_pad'``).

    Returns
    -------
    list
        ``[conv]``, or ``[ZeroPadding2D, conv]`` for explicit padding.
    """
    keras = import_keras()
    sizes = concrete(layer)
    layers = []
    padding = sizes["padding"]
    if isinstance(padding, tuple):
        rows, columns = padding
        if rows or columns:
            layers.append(
                keras.layers.ZeroPadding2D(
                    padding=((rows, rows), (columns, columns)), name=None if name is None else f"{name}_pad"
                )
            )
        padding = "valid"
    common = {
        "kernel_size": (sizes["kernel_h"], sizes["kernel_w"]),
        "strides": sizes["stride"],
        "padding": padding,
        "dilation_rate": sizes["dilation"],
        "use_bias": layer.bias,
        "dtype": "float32",
        "name": name,
    }
    if layer.is_depthwise:
        if sizes["stride"][0] != sizes["stride"][1]:
            # Refused by the op itself at run time ("only supports equal length strides").
            raise ValueError(
                f"stride={sizes['stride']}: TensorFlow's DepthwiseConv2dNative needs equal row "
                f"and column strides, so {layer.describe()} cannot be built"
            )
        conv = keras.layers.DepthwiseConv2D(depth_multiplier=sizes["c_out"] // sizes["c_in"], **common)
    else:
        conv = keras.layers.Conv2D(filters=sizes["c_out"], groups=sizes["groups"], **common)
    layers.append(conv)
    return layers


def shape_preserving(layers: list[ConvLayer]) -> bool:
    """True when the sequence maps its input shape (H, W, C) onto itself, so it can repeat."""
    first, last = layers[0], layers[-1]
    out_h, out_w = last.output_hw
    return (first.c_in, first.height, first.width) == (last.c_out, out_h, out_w)


def build_model(block_or_layer: ConvLayer | Block, *, repeats: int = 1, activation: str | None = None, seed: int = 0):
    """A functional Keras model computing a layer or a block, optionally repeated.

    Parameters
    ----------
    block_or_layer : ConvLayer or Block
        The unit to build; a block contributes ``Block.layers()`` in order.
    repeats : int
        How many copies of the unit to stack (each with its own weights), as a
        deep stack of identical layers is built.  Only a unit that maps its
        input shape onto itself can repeat; otherwise ValueError.
    activation : str, optional
        A Keras activation name (e.g. ``'relu'``) applied *between* consecutive
        convolutions of the whole model, repeats included, never after the
        last one: the model's output is a convolution's output.  None builds a
        purely linear model, which the equivalence checks need.
    seed : int
        Seed of the weights (see the module docstring).

    Returns
    -------
    keras.Model
        Input shape ``(height, width, c_in)`` of the first layer, batch left None.
    """
    keras = import_keras()
    unit = layers_of(block_or_layer)
    for layer in unit:
        concrete(layer)  # a symbolic size is refused before anything else is checked
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be an integer >= 1, got {repeats!r}")
    if repeats > 1 and not shape_preserving(unit):
        first, last = unit[0], unit[-1]
        raise ValueError(
            f"cannot repeat a unit {repeats} times: it maps {first.height}x{first.width}x{first.c_in} "
            f"to {last.output_hw[0]}x{last.output_hw[1]}x{last.c_out}, and a repeated unit must "
            "map its input shape onto itself"
        )
    input_shape = concrete(unit[0])
    inputs = keras.Input(
        shape=(input_shape["height"], input_shape["width"], input_shape["c_in"]), dtype="float32", name="input"
    )
    outputs = inputs
    sequence = unit * repeats
    for index, layer in enumerate(sequence):
        for keras_layer in keras_layers(layer, name=f"conv{index}"):
            outputs = keras_layer(outputs)
        if activation is not None and index < len(sequence) - 1:
            outputs = keras.layers.Activation(activation, name=f"{activation}{index}")(outputs)
    label = getattr(block_or_layer, "name", "") or block_or_layer.describe()
    label = re.sub(r"\W+", "_", label).strip("_")
    model = keras.Model(inputs, outputs, name=label)
    _set_random_weights(model, seed)
    return model


def conv_layers(model) -> list:
    """The model's convolution layers (``Conv2D`` and ``DepthwiseConv2D``), in order."""
    keras = import_keras()
    kinds = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)
    return [layer for layer in model.layers if isinstance(layer, kinds)]


def _set_random_weights(model, seed: int) -> None:
    keras = import_keras()
    rng = np.random.default_rng(seed)
    for conv in conv_layers(model):
        kernel_shape = tuple(conv.kernel.shape)
        # A depthwise kernel is (kh, kw, c_in, multiplier): each output reads one input channel.
        depth_read = 1 if isinstance(conv, keras.layers.DepthwiseConv2D) else kernel_shape[2]
        fan_in = kernel_shape[0] * kernel_shape[1] * depth_read
        values = [rng.standard_normal(kernel_shape) / np.sqrt(fan_in)]
        if conv.use_bias:
            values.append(0.1 * rng.standard_normal(tuple(conv.bias.shape)))
        conv.set_weights([value.astype(np.float32) for value in values])


def random_input(block_or_layer: ConvLayer | Block, batch: int, seed: int = 0) -> np.ndarray:
    """Standard normal float32 input (batch, height, width, c_in) for the first layer (NHWC).

    >>> random_input(ConvLayer(3, 3, c_in=4, c_out=8, height=6, width=5), batch=2).shape
    (2, 6, 5, 4)
    """
    first = concrete(layers_of(block_or_layer)[0])
    batch = _int("batch", batch)
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    shape = (batch, first["height"], first["width"], first["c_in"])
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
