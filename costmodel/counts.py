"""Exact counts for one layer: parameters, multiply-adds, FLOPs, elements, bytes.

The counting convention is stated once, in :mod:`costmodel`'s docstring, and
every function here follows it.  Each function is pure and exact: it returns
integers or sympy expressions, never floats, so the same call gives both the
number and the closed form.  The formulas are written once, with the helpers
of :mod:`costmodel.exact`: a layer whose sizes are all numbers is counted in
integer arithmetic, without sympy.

>>> from costmodel.layer import ConvLayer
>>> macs(ConvLayer(3, 3, c_in=64, c_out=64, height=32, width=32))
37748736
>>> from costmodel.symbols import C_IN, C_OUT, H, W
>>> macs(ConvLayer(3, 3, c_in=C_IN, c_out=C_OUT))
9*C_in*C_out*H*W
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

from costmodel.exact import Size, divide, exact, is_symbolic
from costmodel.layer import ConvLayer

_exact = exact  # the name the other modules of the package import


class LayerSizes(Protocol):
    """What the formulas read from a layer: a :class:`ConvLayer`, or a sweep's layer over a grid.

    A sweep (:mod:`costmodel.sweep`) evaluates these same functions with numpy
    integer arrays in place of numbers, which is how it stays one definition.
    """

    @property
    def kernel_h(self) -> Any: ...
    @property
    def kernel_w(self) -> Any: ...
    @property
    def c_in(self) -> Any: ...
    @property
    def c_out(self) -> Any: ...
    @property
    def groups(self) -> Any: ...
    @property
    def bias(self) -> bool: ...
    @property
    def height(self) -> Any: ...
    @property
    def width(self) -> Any: ...
    @property
    def batch(self) -> Any: ...
    @property
    def dtype_bytes(self) -> Any: ...
    @property
    def output_hw(self) -> tuple[Any, Any]: ...
    @property
    def kernel_d(self) -> Any: ...
    @property
    def depth(self) -> Any: ...
    @property
    def output_d(self) -> Any: ...
    @property
    def transposed(self) -> bool: ...


def output_shape(layer: LayerSizes) -> tuple[Any, Any, Any, Any]:
    """(batch, height, width, channels) of the layer's output (NHWC, as TensorFlow).

    >>> output_shape(ConvLayer(5, 5, c_in=3, c_out=8, height=32, width=32, padding="valid"))
    (1, 28, 28, 8)
    """
    out_h, out_w = layer.output_hw
    return (layer.batch, exact(out_h), exact(out_w), layer.c_out)


def weights(layer: LayerSizes) -> Size:
    """Kernel weights: k_d * k_h * k_w * (C_in / groups) * C_out (k_d = 1 below rank 3, k_h = 1 at rank 1)."""
    return exact(divide(layer.kernel_d * layer.kernel_h * layer.kernel_w * layer.c_in, layer.groups) * layer.c_out)


def params(layer: LayerSizes) -> Size:
    """Trainable parameters: the weights, plus C_out when the layer has a bias.

    >>> params(ConvLayer(3, 3, c_in=64, c_out=64, bias=True))
    36928
    """
    return exact(weights(layer) + (layer.c_out if layer.bias else 0))


def output_elements(layer: LayerSizes) -> Size:
    """Elements the layer writes: N * D_out * H_out * W_out * C_out (its activations)."""
    batch, out_h, out_w, channels = output_shape(layer)
    return exact(batch * layer.output_d * out_h * out_w * channels)


def input_elements(layer: LayerSizes) -> Size:
    """Elements the layer reads: N * D * H * W * C_in (padding zeros are not read)."""
    return exact(layer.batch * layer.depth * layer.height * layer.width * layer.c_in)


def macs(layer: LayerSizes) -> Size:
    """Multiply-adds: one per weight per output position, N * H_out * W_out * k_h * k_w * C_in/g * C_out.

    Positions where the kernel overlaps padding zeros are counted too, as
    every dense convolution kernel computes them.  A 3-D layer has D_out in
    the product too.  A transposed layer scatters every *input* position
    through the whole kernel: N * D * H * W * k_d * k_h * k_w * C_in/g * C_out,
    whatever its padding crops (fvcore's convention for ``conv_transpose``).

    >>> macs(ConvLayer(3, 3, c_in=4, c_out=2, height=5, width=5, stride=2, transposed=True))
    1800
    """
    if layer.transposed:
        return exact(layer.batch * layer.depth * layer.height * layer.width * weights(layer))
    batch, out_h, out_w, _ = output_shape(layer)
    return exact(batch * layer.output_d * out_h * out_w * weights(layer))


def flops(layer: LayerSizes) -> Size:
    """Floating-point operations: 2 per multiply-add, plus one add per output for a bias.

    >>> flops(ConvLayer(1, 1, c_in=2, c_out=3, height=1, width=1, bias=True))
    15
    """
    bias_adds = output_elements(layer) if layer.bias else 0
    return exact(2 * macs(layer) + bias_adds)


def memory_bytes(layer: LayerSizes) -> Size:
    """Minimal memory traffic: input read once, parameters read once, output written once."""
    elements = input_elements(layer) + params(layer) + output_elements(layer)
    return exact(elements * layer.dtype_bytes)


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
    def intensity(self) -> Any:
        """FLOPs per byte of minimal memory traffic: a Fraction for numbers (no sympy), else sympy.

        >>> count_layer(ConvLayer.depthwise(3, 3, 64, height=32, width=32)).intensity
        Fraction(4608, 2057)
        """
        if is_symbolic(self.flops) or is_symbolic(self.memory_bytes):
            import sympy

            return sympy.cancel(sympy.S(self.flops) / self.memory_bytes)
        return divide(self.flops, self.memory_bytes)

    @property
    def arithmetic_intensity(self) -> Any:
        """FLOPs per byte of minimal memory traffic, as sympy (a Rational for numbers).

        >>> count_layer(ConvLayer.depthwise(3, 3, 64, height=32, width=32)).arithmetic_intensity
        4608/2057
        """
        import sympy

        return sympy.cancel(sympy.S(self.flops) / self.memory_bytes)

    def values(self) -> tuple[Size, ...]:
        """The counts in field order (``dataclasses.astuple`` would deep-copy every expression)."""
        return tuple(getattr(self, field.name) for field in dataclasses.fields(self))

    def __add__(self, other: Counts) -> Counts:
        return Counts(*(exact(a + b) for a, b in zip(self.values(), other.values(), strict=True)))

    def __mul__(self, times: Size) -> Counts:
        return Counts(*(exact(value * times) for value in self.values()))

    def as_dict(self) -> dict:
        """The counts and the intensity, keyed by name."""
        return {**dataclasses.asdict(self), "arithmetic_intensity": self.arithmetic_intensity}


def count_layer(layer: ConvLayer) -> Counts:
    """All counts of one layer.

    >>> count_layer(ConvLayer(3, 3, c_in=8, c_out=8, height=4, width=4)).macs
    9216
    """
    return Counts(
        params=params(layer),
        macs=macs(layer),
        flops=flops(layer),
        activation_elements=output_elements(layer),
        memory_bytes=memory_bytes(layer),
    )
