"""Exact counts for one layer: parameters, multiply-adds, FLOPs, elements, bytes.

The counting convention is stated once, in :mod:`costmodel`'s docstring, and
every function here follows it.  Each function is pure and exact: it returns
integers or sympy expressions, never floats, so the same call gives both the
number and the closed form.

>>> from costmodel.layer import ConvLayer
>>> macs(ConvLayer(3, 3, c_in=64, c_out=64, height=32, width=32))
37748736
>>> from costmodel.symbols import C_IN, C_OUT, H, W
>>> macs(ConvLayer(3, 3, c_in=C_IN, c_out=C_OUT))
9*C_in*C_out*H*W
"""

from __future__ import annotations

import dataclasses

import sympy

from costmodel.layer import ConvLayer, Size


def _exact(value) -> Size:
    """Integers stay ``int``; anything symbolic stays a sympy expression."""
    value = sympy.S(value)
    return int(value) if value.is_Integer else value


def output_shape(layer: ConvLayer) -> tuple[Size, Size, Size, Size]:
    """(batch, height, width, channels) of the layer's output (NHWC, as TensorFlow).

    >>> output_shape(ConvLayer(5, 5, c_in=3, c_out=8, height=32, width=32, padding="valid"))
    (1, 28, 28, 8)
    """
    out_h, out_w = layer.output_hw
    return (layer.batch, _exact(out_h), _exact(out_w), layer.c_out)


def weights(layer: ConvLayer) -> Size:
    """Kernel weights: k_h * k_w * (C_in / groups) * C_out."""
    return _exact(sympy.S(layer.kernel_h) * layer.kernel_w * layer.c_in / layer.groups * layer.c_out)


def params(layer: ConvLayer) -> Size:
    """Trainable parameters: the weights, plus C_out when the layer has a bias.

    >>> params(ConvLayer(3, 3, c_in=64, c_out=64, bias=True))
    36928
    """
    return _exact(weights(layer) + (layer.c_out if layer.bias else 0))


def output_elements(layer: ConvLayer) -> Size:
    """Elements the layer writes: N * H_out * W_out * C_out (its activations)."""
    batch, out_h, out_w, channels = output_shape(layer)
    return _exact(sympy.S(batch) * out_h * out_w * channels)


def input_elements(layer: ConvLayer) -> Size:
    """Elements the layer reads: N * H * W * C_in (padding zeros are not read)."""
    return _exact(sympy.S(layer.batch) * layer.height * layer.width * layer.c_in)


def macs(layer: ConvLayer) -> Size:
    """Multiply-adds: one per weight per output position, N * H_out * W_out * k_h * k_w * C_in/g * C_out.

    Positions where the kernel overlaps padding zeros are counted too, as
    every dense convolution kernel computes them.
    """
    batch, out_h, out_w, _ = output_shape(layer)
    return _exact(sympy.S(batch) * out_h * out_w * weights(layer))


def flops(layer: ConvLayer) -> Size:
    """Floating-point operations: 2 per multiply-add, plus one add per output for a bias.

    >>> flops(ConvLayer(1, 1, c_in=2, c_out=3, height=1, width=1, bias=True))
    15
    """
    bias_adds = output_elements(layer) if layer.bias else 0
    return _exact(2 * sympy.S(macs(layer)) + bias_adds)


def memory_bytes(layer: ConvLayer) -> Size:
    """Minimal memory traffic: input read once, parameters read once, output written once."""
    elements = sympy.S(input_elements(layer)) + params(layer) + output_elements(layer)
    return _exact(elements * layer.dtype_bytes)


@dataclasses.dataclass(frozen=True)
class Counts:
    """Every count of a layer or a block, exact.

    ``activation_elements`` is every element written: for a block that includes
    its intermediate tensors, which is what makes factorized blocks move more
    memory than their multiply-adds suggest.
    """

    params: Size
    macs: Size
    flops: Size
    activation_elements: Size
    memory_bytes: Size

    @property
    def arithmetic_intensity(self) -> sympy.Expr:
        """FLOPs per byte of minimal memory traffic (exact, a Rational for numbers).

        >>> count_layer(ConvLayer.depthwise(3, 3, 64, height=32, width=32)).arithmetic_intensity
        4608/2057
        """
        return sympy.cancel(sympy.S(self.flops) / self.memory_bytes)

    def __add__(self, other: "Counts") -> "Counts":
        return Counts(*(_exact(sympy.S(a) + b) for a, b in zip(
            dataclasses.astuple(self), dataclasses.astuple(other))))

    def __mul__(self, times: Size) -> "Counts":
        return Counts(*(_exact(sympy.S(value) * times) for value in dataclasses.astuple(self)))

    def as_dict(self) -> dict:
        """The counts and the intensity, keyed by name."""
        return {**dataclasses.asdict(self), "arithmetic_intensity": self.arithmetic_intensity}


def count_layer(layer: ConvLayer) -> Counts:
    """All counts of one layer.

    >>> count_layer(ConvLayer(3, 3, c_in=8, c_out=8, height=4, width=4)).macs
    9216
    """
    return Counts(params=params(layer), macs=macs(layer), flops=flops(layer),
                  activation_elements=output_elements(layer),
                  memory_bytes=memory_bytes(layer))
