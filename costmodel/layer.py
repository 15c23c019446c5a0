"""One convolution layer, described once, validated once.

:class:`ConvLayer` is the single source of truth for what the cost model counts
and what the validator builds and times.  Every size may be a plain integer or
a sympy expression in positive integer symbols; impossible values are refused
at construction with an error that names the field and the value.

>>> from costmodel.layer import ConvLayer
>>> ConvLayer(5, 5, c_in=64, c_out=64).kernel
(5, 5)
>>> ConvLayer(3, 3, c_in=64, c_out=30, groups=4)
Traceback (most recent call last):
...
ValueError: c_out=30 is not divisible by groups=4
"""

from __future__ import annotations

import dataclasses
from typing import Any

from costmodel.exact import Size, ceil_div, exact, floor_div, is_integer, is_known, is_symbolic, same_size
from costmodel.polynomial import Poly

Padding = str | tuple

PADDING_MODES = ("same", "valid")


def as_size(field: str, value: Any, minimum: int = 1) -> Size:
    """Return ``value`` as an exact size (``int`` or sympy expression), or raise.

    Parameters
    ----------
    field : str
        The field's name, quoted in the error.
    value : int or sympy.Expr
        What the user gave.
    minimum : int
        The smallest integer allowed (1 for sizes, 0 for paddings).

    >>> as_size("c_in", 8)
    8
    >>> as_size("c_in", 0)
    Traceback (most recent call last):
    ...
    ValueError: c_in must be an integer >= 1, got 0
    >>> as_size("c_in", 2.5)
    Traceback (most recent call last):
    ...
    TypeError: c_in must be an integer or a sympy symbol, got 2.5 (float)
    """
    if isinstance(value, Poly):
        return value  # a symbol of the sympy-free algebra (costmodel.polynomial): a size by construction
    if not (is_integer(value) or is_symbolic(value)):
        raise TypeError(f"{field} must be an integer or a sympy symbol, got {value!r} ({type(value).__name__})")
    if is_symbolic(value):
        import sympy

        if value.has(sympy.Float):
            raise TypeError(f"{field} must be exact, got the float expression {value}")
        if value.is_number:
            if not value.is_integer:
                raise ValueError(f"{field} must be an integer >= {minimum}, got {value}")
            value = int(value)
        elif value.is_positive is False or value.is_integer is False:
            raise ValueError(f"{field} must be a positive integer expression, got {value}")
        else:
            return value
    value = int(value)
    if value < minimum:
        raise ValueError(f"{field} must be an integer >= {minimum}, got {value}")
    return value


def as_pair(field: str, value: Any, minimum: int = 1) -> tuple[Size, Size]:
    """Return a (height, width) pair from one value or two.

    >>> as_pair("stride", 2)
    (2, 2)
    >>> as_pair("stride", (1, 2))
    (1, 2)
    """
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{field} must be one value or a (height, width) pair, got {value!r}")
        return (as_size(f"{field}[0]", value[0], minimum), as_size(f"{field}[1]", value[1], minimum))
    size = as_size(field, value, minimum)
    return (size, size)


def as_padding(value: Any) -> Padding:
    """Return 'same', 'valid' or an explicit (rows, columns) zero padding per side.

    >>> as_padding("SAME")
    'same'
    >>> as_padding(1)
    (1, 1)
    """
    if isinstance(value, str):
        mode = value.lower()
        if mode not in PADDING_MODES:
            raise ValueError(f"padding must be 'same', 'valid' or a number of zeros per side, got {value!r}")
        return mode
    return as_pair("padding", value, minimum=0)


__all__ = [
    "AXES_OF_RANK",
    "RANKS",
    "ConvLayer",
    "Padding",
    "Size",
    "as_pair",
    "as_padding",
    "as_size",
    "is_known",
    "output_length",
    "transposed_output_length",
]

#: Spatial ranks a layer may have: 1-D (audio, sequences), 2-D (images), 3-D (video, volumes).
RANKS = (1, 2, 3)
#: The input axes a layer of each rank has (a 1-D layer runs along the width).
AXES_OF_RANK = {1: ("width",), 2: ("height", "width"), 3: ("depth", "height", "width")}


def output_length(length: Size, kernel: Size, stride: Size, dilation: Size, padding: Any) -> Size:
    """Output positions along one axis, by TensorFlow's rules.

    ``padding`` is 'same', 'valid' or the zeros added on each side.

    >>> output_length(32, 5, 1, 1, "valid")
    28
    >>> from costmodel.symbols import H
    >>> output_length(H, 3, 2, 1, "same")
    ceiling(H/2)
    """
    if padding == "same":
        return ceil_div(length, stride)
    zeros = 0 if padding == "valid" else padding
    span = dilation * (kernel - 1) + 1
    return exact(floor_div(length + 2 * zeros - span, stride) + 1)


def transposed_output_length(length: Size, kernel: Size, stride: Size, dilation: Size, padding: Any) -> Size:
    """Output positions of a transposed convolution along one axis, by Keras's rules (no output padding).

    Every input position scatters the kernel into the output, ``stride`` apart.

    >>> transposed_output_length(16, 3, 2, 1, "same"), transposed_output_length(16, 3, 2, 1, "valid")
    (32, 33)
    >>> transposed_output_length(16, 4, 2, 1, 1)
    32
    """
    span = dilation * (kernel - 1) + 1
    if padding == "same":
        return exact(length * stride)
    if padding == "valid":
        return exact(length * stride + _at_least(span - stride, 0))
    return exact((length - 1) * stride + span - 2 * padding)


def _at_least(value: Size, floor: int) -> Size:
    """``max(value, floor)`` for a number; a symbolic value is kept (assumed >= floor)."""
    return max(value, floor) if is_known(value) else value


@dataclasses.dataclass(frozen=True)
class ConvLayer:
    """A convolution of rank 1, 2 or 3: what it computes, on what input, in what precision.

    A 2-D layer is the default.  A 1-D layer runs along the width axis
    (``kernel_h`` = ``height`` = 1: a ``Conv1D`` of kernel k is exactly a 1 x k
    convolution over a 1 x L input, so every formula is the 2-D one).  A 3-D
    layer adds a leading depth axis (``kernel_d``, ``depth``, ``stride_d``,
    ``dilation_d``, ``padding_d``).  A transposed layer scatters each input
    position through the kernel, and its output grows by the stride.

    Parameters
    ----------
    kernel_h, kernel_w : int or sympy.Expr
        Kernel height and width.
    c_in, c_out : int or sympy.Expr
        Input and output channels.
    groups : int or sympy.Expr
        Channel groups; ``groups == c_in`` is a depthwise convolution whose
        depth multiplier is ``c_out / c_in``.
    stride, dilation : int or (int, int)
        One value for both axes or a (height, width) pair.
    padding : 'same', 'valid', int or (int, int)
        TensorFlow's modes, or explicit zeros on each side of (rows, columns).
    bias : bool
        Whether the layer adds a bias per output channel.
    height, width : int or sympy.Expr
        Input height and width; the symbols ``H`` and ``W`` when not given
        (``None``), which is the one case that imports sympy for a numeric layer.
    batch : int or sympy.Expr
        Images per call; counts are per batch, so the default 1 means per image.
    dtype_bytes : int
        Bytes per element (4 for float32), for memory traffic.
    rank : 1, 2 or 3
        Spatial axes.  For a 1-D layer one stride, dilation or padding value
        applies to the width axis; for a 3-D layer to all three axes, and a
        (depth, height, width) triple sets each.
    kernel_d, depth, stride_d, dilation_d, padding_d : int or sympy.Expr
        The depth axis of a 3-D layer (1, and 0 zeros, otherwise);
        ``padding_d`` is read only with explicit padding.
    transposed : bool
        A transposed convolution (``Conv2DTranspose``): its multiply-adds are
        one per weight per *input* position, the convention fvcore follows.

    >>> layer = ConvLayer(3, 3, c_in=32, c_out=32, height=16, width=16, padding="valid")
    >>> layer.output_hw
    (14, 14)
    """

    kernel_h: Size
    kernel_w: Size
    c_in: Size
    c_out: Size
    groups: Size = 1
    stride: tuple = (1, 1)
    dilation: tuple = (1, 1)
    padding: Padding = "same"
    bias: bool = False
    height: Size = None  # None: the symbol H, made in __post_init__
    width: Size = None  # None: the symbol W
    batch: Size = 1
    dtype_bytes: Size = 4
    rank: int = 2
    kernel_d: Size = 1
    depth: Size = None  # None: 1, or the symbol D for a 3-D layer
    stride_d: Size = 1
    dilation_d: Size = 1
    padding_d: Size = 0
    transposed: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.rank, bool) or self.rank not in RANKS:
            raise ValueError(f"rank must be 1, 2 or 3, got {self.rank!r}")
        if self.rank == 1 and self.height is None:
            object.__setattr__(self, "height", 1)
        if self.depth is None:
            if self.rank == 3:
                from costmodel import symbols

                object.__setattr__(self, "depth", symbols.D)
            else:
                object.__setattr__(self, "depth", 1)
        if self.height is None or self.width is None:
            from costmodel import symbols  # sympy, only for a layer whose size is left open

            object.__setattr__(self, "height", symbols.H if self.height is None else self.height)
            object.__setattr__(self, "width", symbols.W if self.width is None else self.width)
        self._spread_axis_values()
        for field in ("kernel_h", "kernel_w", "c_in", "c_out", "groups", "height", "width", "batch", "dtype_bytes"):
            object.__setattr__(self, field, as_size(field, getattr(self, field)))
        for field in ("kernel_d", "depth", "stride_d", "dilation_d"):
            object.__setattr__(self, field, as_size(field, getattr(self, field)))
        object.__setattr__(self, "padding_d", as_size("padding_d", self.padding_d, minimum=0))
        object.__setattr__(self, "stride", as_pair("stride", self.stride))
        object.__setattr__(self, "dilation", as_pair("dilation", self.dilation))
        object.__setattr__(self, "padding", as_padding(self.padding))
        for field in ("bias", "transposed"):
            if not isinstance(getattr(self, field), bool):
                raise TypeError(f"{field} must be True or False, got {getattr(self, field)!r}")
        self._check_rank()
        self._check_groups()
        self._check_kernel_fits()

    def _spread_axis_values(self) -> None:
        """One stride, dilation or explicit padding for the layer's own axes (see ``rank``)."""
        for field, depth_field, neutral in (
            ("stride", "stride_d", 1),
            ("dilation", "dilation_d", 1),
            ("padding", "padding_d", 0),
        ):
            value = getattr(self, field)
            if isinstance(value, str) or (isinstance(value, (tuple, list)) and len(value) == 2):
                continue
            if isinstance(value, (tuple, list)) and self.rank == 1 and len(value) == 1:
                object.__setattr__(self, field, (neutral, value[0]))
            elif isinstance(value, (tuple, list)):
                if self.rank != 3 or len(value) != 3:
                    continue  # as_pair names the problem
                object.__setattr__(self, depth_field, value[0])
                object.__setattr__(self, field, tuple(value[1:]))
            elif self.rank == 1:
                object.__setattr__(self, field, (neutral, value))
            elif self.rank == 3 and getattr(self, depth_field) == neutral:
                object.__setattr__(self, depth_field, value)

    def _check_rank(self) -> None:
        """Axes a layer of lower rank does not have must stay neutral."""
        neutral = {"kernel_d": 1, "depth": 1, "stride_d": 1, "dilation_d": 1, "padding_d": 0}
        if self.rank == 1:
            rows = self.padding if isinstance(self.padding, str) else self.padding[0]
            neutral_rows = {"kernel_h": 1, "height": 1, "stride[0]": 1, "dilation[0]": 1}
            given = {"kernel_h": self.kernel_h, "height": self.height}
            given.update({"stride[0]": self.stride[0], "dilation[0]": self.dilation[0]})
            for field, value in given.items():
                if value != neutral_rows[field]:
                    raise ValueError(f"a 1-D layer runs along the width axis: {field} must be 1, got {value}")
            if rows not in ("same", "valid", 0):
                raise ValueError(f"a 1-D layer pads only its width: padding rows must be 0, got {rows}")
        if self.rank != 3:
            for field, value in neutral.items():
                if getattr(self, field) != value:
                    raise ValueError(f"{field} is an axis of 3-D layers only; a {self.rank}-D layer has {value}")

    def _check_groups(self) -> None:
        for field in ("c_in", "c_out"):
            channels = getattr(self, field)
            if is_known(channels) and is_known(self.groups) and channels % self.groups:
                raise ValueError(f"{field}={channels} is not divisible by groups={self.groups}")

    def _check_kernel_fits(self) -> None:
        if self.padding == "same":
            return  # TensorFlow pads as much as needed
        for axis, length in (("depth", self.depth), ("height", self.height), ("width", self.width)):
            out = self._output_length(axis, length)
            if is_known(out) and out < 1:
                raise ValueError(
                    f"kernel {self.kernel_text} (dilation {self.dilation}) does not fit "
                    f"the {self.padding!r}-padded input: {axis}={length} gives {out} output positions"
                )

    def axis_geometry(self, axis: str) -> tuple[Size, Size, Size, Any]:
        """(kernel, stride, dilation, padding) along ``'depth'``, ``'height'`` or ``'width'``."""
        if axis == "depth":
            padding = self.padding if isinstance(self.padding, str) else self.padding_d
            return self.kernel_d, self.stride_d, self.dilation_d, padding
        index = 0 if axis == "height" else 1
        padding = self.padding if isinstance(self.padding, str) else self.padding[index]
        return self.kernel[index], self.stride[index], self.dilation[index], padding

    def _output_length(self, axis: str, length: Size) -> Size:
        length_of = transposed_output_length if self.transposed else output_length
        return length_of(length, *self.axis_geometry(axis))

    @classmethod
    def depthwise(
        cls, kernel_h: Size, kernel_w: Size, channels: Size, multiplier: Size = 1, **options: Any
    ) -> ConvLayer:
        """A depthwise convolution: one group per input channel.

        >>> ConvLayer.depthwise(3, 3, channels=32, multiplier=2).c_out
        64
        """
        multiplier = as_size("multiplier", multiplier)
        return cls(kernel_h, kernel_w, c_in=channels, c_out=channels * multiplier, groups=channels, **options)

    @property
    def kernel(self) -> tuple[Size, Size]:
        """(height, width) of the kernel: the plane every 2-D formula reads."""
        return (self.kernel_h, self.kernel_w)

    @property
    def kernel_shape(self) -> tuple[Size, ...]:
        """The kernel along the layer's own axes: ``(k,)``, ``(k_h, k_w)`` or ``(k_d, k_h, k_w)``."""
        return {1: (self.kernel_w,), 2: self.kernel, 3: (self.kernel_d, *self.kernel)}[self.rank]

    @property
    def kernel_text(self) -> str:
        """``'7'``, ``'3x3'``, ``'3x3x3'``."""
        return "x".join(map(str, self.kernel_shape))

    @property
    def output_d(self) -> Size:
        """Output depth (1 for a layer of rank 1 or 2)."""
        return self._output_length("depth", self.depth) if self.rank == 3 else 1

    @property
    def output_positions(self) -> Size:
        """Output positions per image: D_out * H_out * W_out."""
        out_h, out_w = self.output_hw
        return exact(self.output_d * out_h * out_w)

    @property
    def input_positions(self) -> Size:
        """Input positions per image: D * H * W."""
        return exact(self.depth * self.height * self.width)

    @property
    def is_depthwise(self) -> bool:
        """True when every input channel is its own group (and there is more than one)."""
        return self.groups != 1 and same_size(self.groups, self.c_in)

    @property
    def output_hw(self) -> tuple[Size, Size]:
        """Output (height, width)."""
        return (self._output_length("height", self.height), self._output_length("width", self.width))

    def replace(self, **changes: Any) -> ConvLayer:
        """A copy with some fields changed, validated again."""
        return dataclasses.replace(self, **changes)

    def describe(self) -> str:
        """A short human label, e.g. ``'3x3 conv 64->64'`` or ``'3x3 depthwise 64->64'``.

        >>> ConvLayer(1, 7, c_in=8, c_out=16).describe()
        '1x7 conv 8->16'
        >>> ConvLayer(1, 7, c_in=8, c_out=16, rank=1, width=100).describe()
        '7 conv1d 8->16'
        >>> ConvLayer(3, 3, c_in=8, c_out=8, rank=3, kernel_d=3, transposed=True).describe()
        '3x3x3 conv3d-transpose 8->8'
        """
        kind = "depthwise" if self.is_depthwise else "conv"
        if self.groups != 1 and not self.is_depthwise:
            kind = f"conv/{self.groups}g"
        if self.rank != 2:
            kind = kind.replace("conv", f"conv{self.rank}d", 1).replace("depthwise", f"depthwise{self.rank}d", 1)
        if self.transposed:
            kind += "-transpose"
        return f"{self.kernel_text} {kind} {self.c_in}->{self.c_out}"
