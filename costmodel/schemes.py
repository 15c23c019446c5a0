"""The factorizations: named transforms from one layer to a block.

Every scheme is a function ``(layer, **options) -> Block`` registered in
:data:`SCHEMES`; adding one is one function and one line.  Names join with
``+`` to compose: ``"stack+asymmetric"`` stacks 3x3 layers, then splits each
of them into 1x3 and 3x1.

Conventions shared by every scheme, so that the factorized block computes the
same output positions as the original layer (one exception: TensorFlow's
'same' padding puts the extra zero of an *even* kernel after the input, so a
stack of 2x2 layers under 'same' reads windows shifted by one position from
the 3x3 it replaces; same counts, same sizes, other place):

* the intermediate width ``mid`` defaults to the layer's ``c_out``
  (Szegedy et al.'s assumption);
* along each axis, the stride goes to the last layer whose kernel spans that
  axis, explicit padding to the first one, and dilation to each one;
* every factor layer keeps the original's bias flag and groups.

>>> from costmodel.layer import ConvLayer
>>> block = factorize(ConvLayer(5, 5, c_in=64, c_out=64), "stack")
>>> block.describe()
'3x3 conv 64->64 -> 3x3 conv 64->64'
>>> factorize(ConvLayer(4, 4, c_in=8, c_out=8), "stack")
Traceback (most recent call last):
...
ValueError: stack of 3x3 layers cannot give a 4x4 receptive field exactly ...; nearest kernel sizes that work: 3 and 5
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable
from typing import Any

from costmodel.block import Block, Stage
from costmodel.exact import divide, exact, is_known, same_size
from costmodel.layer import ConvLayer, Size, as_size


@dataclasses.dataclass(frozen=True)
class Scheme:
    """A registered factorization.

    ``width_option`` names the option whose value sets the block's
    intermediate width, the one a break-even analysis solves for.
    """

    name: str
    build: Callable[..., Block]
    width_option: str
    summary: str
    ranks: tuple[int, ...] = (1, 2, 3)  # the kernel ranks it factorizes

    @functools.cached_property
    def options(self) -> tuple[str, ...]:
        """The keyword options ``build`` accepts besides the layer."""
        return tuple(inspect.signature(self.build).parameters)[1:]


def _chain(layer: ConvLayer, specs: list[dict]) -> list[ConvLayer]:
    """Layers built from the original's fields, each fed the previous one's output size."""
    layers: list[ConvLayer] = []
    depth, height, width = layer.depth, layer.height, layer.width
    for spec in specs:
        built = layer.replace(depth=depth, height=height, width=width, **spec)
        depth = exact(built.output_d) if built.rank == 3 else depth
        height, width = (exact(size) for size in built.output_hw)
        layers.append(built)
    return layers


def _per_axis(layer: ConvLayer, spans: tuple[bool, ...], *, first: bool, last: bool) -> dict:
    """Stride, dilation and padding of one factor layer, axis by axis.

    ``spans`` says along which axes, (height, width) or (depth, height,
    width), this factor's kernel is longer than 1; ``first``/``last`` say
    whether it is the first/last factor spanning them.  A 2-D ``spans`` leaves
    a 3-D layer's depth axis to the factor that spans it, or to none.
    """
    depth_span, plane = (spans[0], spans[1:]) if len(spans) == 3 else (False, spans)
    stride = tuple(layer.stride[a] if plane[a] and last else 1 for a in (0, 1))
    dilation = tuple(layer.dilation[a] if plane[a] else 1 for a in (0, 1))
    padding: Any = layer.padding
    if not isinstance(padding, str):
        padding = tuple(layer.padding[a] if plane[a] and first else 0 for a in (0, 1))
    placement = {"stride": stride, "dilation": dilation, "padding": padding}
    if layer.rank == 3:
        placement.update(
            stride_d=layer.stride_d if depth_span and last else 1,
            dilation_d=layer.dilation_d if depth_span else 1,
            padding_d=layer.padding_d if depth_span and first else 0,
        )
    return placement


def _spans(layer: ConvLayer) -> tuple[bool, ...]:
    """Along which of the layer's planes' axes ((height, width), or (depth, height, width)) its kernel spans."""
    axes = (layer.kernel_d, *layer.kernel) if layer.rank == 3 else layer.kernel
    return tuple(side != 1 for side in axes)


def _nearest_stackable(kernel: int, m: int) -> str:
    below = ((kernel - 1) // (m - 1)) * (m - 1) + 1
    sizes = [size for size in (below, below + m - 1) if size >= m]
    return " and ".join(str(size) for size in sizes)


def _stack_depth(layer: ConvLayer, m: int) -> Size:
    """How many m x m layers reach the layer's kernel: n with n(m-1)+1 = k."""
    spans = [k for k in layer.kernel_shape if k != 1]
    if any(not same_size(spans[0], other) for other in spans[1:]):
        raise ValueError(f"stack covers kernels of equal sides (k x k, 1 x k, k x k x k, ...), not {layer.kernel_text}")
    if not spans:
        raise ValueError(f"stack needs a kernel larger than {layer.kernel_text}")
    kernel = spans[0]
    depth = divide(kernel - 1, m - 1)
    if is_known(kernel) and not isinstance(depth, int):
        raise ValueError(
            f"stack of {m}x{m} layers cannot give a {layer.kernel_text} receptive "
            f"field exactly (n layers of {m}x{m} cover {_cover(m)}); nearest kernel sizes that "
            f"work: {_nearest_stackable(int(kernel), m)}"
        )
    if isinstance(depth, int) and depth > MAX_STACK_DEPTH:
        raise ValueError(
            f"stack of {depth} layers is more than this model builds ({MAX_STACK_DEPTH}); "
            f"kernel {layer.kernel_text} is too large for m={m}"
        )
    return depth


# Every layer of a stack is an object; a kernel of a billion would be a billion of them.  The
# command line's --max-kernel refuses such a kernel before any work; this bound keeps the library
# from trying too (a kernel of 4097 with m=2 is the deepest stack it builds).
MAX_STACK_DEPTH = 4096


def _cover(m: int) -> str:
    return f"{m - 1}n+1" if m > 2 else "n+1"


def stack(layer: ConvLayer, m: int = 3, mid: Size | None = None) -> Block:
    """k x k -> n layers of m x m with n(m-1)+1 = k: 5x5 -> two 3x3, 7x7 -> three 3x3.

    A symbolic kernel gives a symbolic number of layers: the middle ones form
    one repeated stage, which needs 'same' padding (every repeat keeps the size).

    >>> stack(ConvLayer(3, 3, c_in=8, c_out=8), m=2).describe()
    '2x2 conv 8->8 -> 2x2 conv 8->8'
    """
    m = as_size("m", m)
    if m < 2:
        raise ValueError(f"stack needs m >= 2, got m={m}")
    mid = layer.c_out if mid is None else as_size("mid", mid)
    depth = _stack_depth(layer, m)
    spans = _spans(layer)
    small = {"kernel_h": m if spans[-2] else 1, "kernel_w": m if spans[-1] else 1}
    if layer.rank == 3:
        small["kernel_d"] = m if spans[0] else 1
    if depth == 1:
        return Block.of(layer, name="stack")

    def factor(c_in: Size, c_out: Size, first: bool, last: bool) -> dict:
        # Every factor spans the original's axes, so stride and padding go to the last/first one.
        placement = _per_axis(layer, (True,) * len(spans), first=first, last=last)
        return {**small, "c_in": c_in, "c_out": c_out, **placement}

    if isinstance(depth, int):
        specs = (
            [factor(layer.c_in, mid, True, False)]
            + [factor(mid, mid, False, False)] * (depth - 2)
            + [factor(mid, layer.c_out, False, True)]
        )
        return Block.of(*_chain(layer, specs), name="stack")
    if layer.padding != "same":
        raise ValueError(
            "stack with a symbolic kernel size needs 'same' padding, "
            f"got {layer.padding!r}; give the kernel size as a number"
        )
    head, middle, tail = _chain(
        layer,
        [factor(layer.c_in, mid, True, False), factor(mid, mid, False, False), factor(mid, layer.c_out, False, True)],
    )
    return Block((Stage(head), Stage(middle, depth - 2), Stage(tail)), name="stack")


def asymmetric(layer: ConvLayer, mid: Size | None = None, order: str = "1xk-first") -> Block:
    """k_h x k_w -> 1 x k_w then k_h x 1 (or the other order): 3x3 -> 1x3 + 3x1.

    >>> asymmetric(ConvLayer(7, 7, c_in=8, c_out=8)).describe()
    '1x7 conv 8->8 -> 7x1 conv 8->8'
    """
    orders = ("1xk-first", "kx1-first")
    if order not in orders:
        raise ValueError(f"order must be one of {', '.join(orders)}; got {order!r}")
    if layer.rank == 3:
        return _asymmetric_3d(layer, mid, reverse=order == "kx1-first")
    if layer.rank == 1:
        raise ValueError(
            f"asymmetric splits a kernel along two or three axes; a 1-D kernel {layer.kernel_text} has one"
        )
    if layer.kernel_h == 1 or layer.kernel_w == 1:
        raise ValueError(f"asymmetric splits a kernel wider than 1 on both axes, got {layer.kernel_h}x{layer.kernel_w}")
    mid = layer.c_out if mid is None else as_size("mid", mid)
    row = {"kernel_h": 1, "kernel_w": layer.kernel_w, **_per_axis(layer, (False, True), first=True, last=True)}
    column = {"kernel_h": layer.kernel_h, "kernel_w": 1, **_per_axis(layer, (True, False), first=True, last=True)}
    first, second = (row, column) if order == "1xk-first" else (column, row)
    specs = [{**first, "c_in": layer.c_in, "c_out": mid}, {**second, "c_in": mid, "c_out": layer.c_out}]
    return Block.of(*_chain(layer, specs), name="asymmetric")


def _asymmetric_3d(layer: ConvLayer, mid: Size | None, reverse: bool) -> Block:
    """k_d x k_h x k_w -> k_d x 1 x 1, 1 x k_h x 1, 1 x 1 x k_w: one factor per axis (width first if reversed)."""
    if 1 in layer.kernel_shape:
        raise ValueError(f"asymmetric splits a 3-D kernel longer than 1 on every axis, got {layer.kernel_text}")
    mid = layer.c_out if mid is None else as_size("mid", mid)
    axes = [2, 1, 0] if reverse else [0, 1, 2]
    specs = []
    for position, axis in enumerate(axes):
        spans = tuple(each == axis for each in range(3))
        sides = [side if spans[each] else 1 for each, side in enumerate(layer.kernel_shape)]
        specs.append(
            {
                "kernel_d": sides[0],
                "kernel_h": sides[1],
                "kernel_w": sides[2],
                "c_in": layer.c_in if position == 0 else mid,
                "c_out": layer.c_out if position == 2 else mid,
                **_per_axis(layer, spans, first=True, last=True),
            }
        )
    return Block.of(*_chain(layer, specs), name="asymmetric")


def two_plus_one_d(layer: ConvLayer, mid: Size | None = None) -> Block:
    """k_d x k_h x k_w -> 1 x k_h x k_w (space) then k_d x 1 x 1 (time): R(2+1)D (Tran et al., CVPR 2018).

    >>> two_plus_one_d(ConvLayer(3, 3, c_in=8, c_out=8, rank=3, kernel_d=3, depth=8)).describe()
    '1x3x3 conv3d 8->8 -> 3x1x1 conv3d 8->8'
    """
    if layer.rank != 3:
        raise ValueError(f"2plus1d splits a 3-D kernel into space and time; {layer.kernel_text} is {layer.rank}-D")
    if layer.kernel_d == 1 or (layer.kernel_h == 1 and layer.kernel_w == 1):
        raise ValueError(f"2plus1d needs a kernel longer than 1 in time and in space, got {layer.kernel_text}")
    mid = layer.c_out if mid is None else as_size("mid", mid)
    space = (False, layer.kernel_h != 1, layer.kernel_w != 1)
    specs = [
        {"kernel_d": 1, "c_in": layer.c_in, "c_out": mid, **_per_axis(layer, space, first=True, last=True)},
        {
            "kernel_d": layer.kernel_d,
            "kernel_h": 1,
            "kernel_w": 1,
            "c_in": mid,
            "c_out": layer.c_out,
            **_per_axis(layer, (True, False, False), first=True, last=True),
        },
    ]
    return Block.of(*_chain(layer, specs), name="2plus1d")


def depthwise_separable(layer: ConvLayer, multiplier: Size = 1) -> Block:
    """k x k -> depthwise k x k (depth multiplier M) then pointwise 1x1, as in MobileNets.

    >>> depthwise_separable(ConvLayer(3, 3, c_in=32, c_out=64)).describe()
    '3x3 depthwise 32->32 -> 1x1 conv 32->64'
    """
    if layer.groups != 1:
        raise ValueError(f"depthwise-separable splits an ungrouped convolution, got groups={layer.groups}")
    multiplier = as_size("multiplier", multiplier)
    wide = layer.c_in * multiplier
    specs = [
        {"c_in": layer.c_in, "c_out": wide, "groups": layer.c_in},
        {
            "kernel_h": 1,
            "kernel_w": 1,
            "c_in": wide,
            "c_out": layer.c_out,
            "stride": (1, 1),
            "dilation": (1, 1),
            "padding": "valid",
            **({"kernel_d": 1, "stride_d": 1, "dilation_d": 1, "padding_d": 0} if layer.rank == 3 else {}),
        },
    ]
    return Block.of(*_chain(layer, specs), name="depthwise-separable")


SCHEMES: dict[str, Scheme] = {
    scheme.name: scheme
    for scheme in (
        Scheme("stack", stack, "mid", "k x k -> n stacked m x m layers (default m=3)"),
        Scheme("asymmetric", asymmetric, "mid", "k_h x k_w -> 1 x k_w then k_h x 1 (3-D: one factor per axis)", (2, 3)),
        Scheme("depthwise-separable", depthwise_separable, "multiplier", "k x k -> depthwise k x k then pointwise 1x1"),
        Scheme("2plus1d", two_plus_one_d, "mid", "k_d x k_h x k_w -> 1 x k_h x k_w then k_d x 1 x 1", (3,)),
    )
}


def scheme_names(name: str) -> list[Scheme]:
    """The registered schemes a name like ``'stack+asymmetric'`` composes, in order."""
    parts = [part.strip() for part in str(name).split("+")]
    unknown = [part for part in parts if part not in SCHEMES]
    if unknown:
        raise ValueError(
            f"unknown scheme {unknown[0]!r}; known schemes: {', '.join(SCHEMES)} (join names with '+' to compose)"
        )
    return [SCHEMES[part] for part in parts]


def factorize(layer: ConvLayer, scheme: str, **options: Any) -> Block:
    """Apply a scheme, or a ``+``-joined composition of schemes, to a layer.

    Each scheme takes the options it knows; an option no scheme knows is an error.

    >>> factorize(ConvLayer(5, 5, c_in=8, c_out=8), "stack+asymmetric").depth
    4
    """
    chain = scheme_names(scheme)
    if layer.transposed:
        raise ValueError(f"{scheme} factorizes a convolution, not a transposed one ({layer.describe()})")
    known = {option for step in chain for option in step.options}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"option {unknown[0]!r} is not one of {scheme!r}'s: {', '.join(sorted(known))}")
    block = _apply(chain[0], layer, options)
    for step in chain[1:]:
        block = _refactor(block, step, options)
    _check_equivalent_shape(layer, block)
    return dataclasses.replace(block, name="+".join(step.name for step in chain))


def _check_equivalent_shape(layer: ConvLayer, block: Block) -> None:
    """A factorization must see the same window and give the same output shape."""
    original_field = Block.of(layer).receptive_field
    checks = {
        "receptive field": (original_field, block.receptive_field),
        "output size": ((layer.output_d, *layer.output_hw), (block.last.output_d, *block.last.output_hw)),
        "output channels": ((layer.c_out,), (block.last.c_out,)),
    }
    for what, (expected, got) in checks.items():
        if not all(same_size(a, b) for a, b in zip(expected, got, strict=True)):
            raise RuntimeError(f"bug: {block.name} changed the {what} from {expected} to {got}")


def _apply(step: Scheme, layer: ConvLayer, options: dict) -> Block:
    return step.build(layer, **{k: v for k, v in options.items() if k in step.options})


def _refactor(block: Block, step: Scheme, options: dict) -> Block:
    """Factorize every layer of a block again; a layer whose result is itself stays as is."""
    stages = []
    for stage in block.stages:
        unit: ConvLayer | Block
        if isinstance(stage.unit, Block):
            unit = _refactor(stage.unit, step, options)
        else:
            unit = _apply(step, stage.unit, options)
            if len(unit.stages) == 1 and unit.stages[0].repeats == 1:
                unit = unit.stages[0].unit
        stages.append(Stage(unit, stage.repeats))
    return Block(tuple(stages), name=block.name)
