"""A block: an ordered sequence of layers, each possibly repeated.

A :class:`Stage` is one layer applied ``repeats`` times in a row.  Repeats may
be symbolic, which is how a stack of 3x3 layers replacing a k x k layer is
written for *any* k: ``(k - 1)/2`` layers whose count is a symbol.

>>> from costmodel.layer import ConvLayer
>>> block = Block.of(ConvLayer(3, 3, c_in=8, c_out=16), ConvLayer(3, 3, c_in=16, c_out=16))
>>> block.receptive_field
(5, 5)
>>> block.counts().params
3456
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any, Union

from costmodel.counts import Counts, count_layer
from costmodel.exact import exact, is_symbolic, same_size
from costmodel.layer import AXES_OF_RANK, ConvLayer, Size, as_size

__all__ = ["Block", "Stage", "Unit", "same_size"]

Unit = Union[ConvLayer, "Block"]


@dataclasses.dataclass(frozen=True)
class Stage:
    """One layer or sub-block, applied ``repeats`` times in a row.

    ``repeats`` may be a symbol (assumed >= 1).  A repeated stage must map its
    input shape onto itself, so every repeat costs the same.
    """

    unit: Unit
    repeats: Size = 1

    def __post_init__(self) -> None:
        if not isinstance(self.unit, (ConvLayer, Block)):
            raise TypeError(f"a stage holds a ConvLayer or a Block, got {type(self.unit).__name__}")
        repeats: Any = self.repeats
        if is_symbolic(repeats) and not repeats.is_number:
            if repeats.is_positive is False:  # undecided (e.g. (k-5)/2) is assumed >= 1
                raise ValueError(f"repeats must be positive, got {self.repeats}")
        else:
            object.__setattr__(self, "repeats", as_size("repeats", self.repeats))
        if self.repeats != 1:
            self._check_repeatable()

    @property
    def first(self) -> ConvLayer:
        return self.unit if isinstance(self.unit, ConvLayer) else self.unit.first

    @property
    def last(self) -> ConvLayer:
        return self.unit if isinstance(self.unit, ConvLayer) else self.unit.last

    def counts(self) -> Counts:
        unit_counts = count_layer(self.unit) if isinstance(self.unit, ConvLayer) else self.unit.counts()
        return unit_counts * self.repeats

    def describe(self) -> str:
        label = self.unit.describe()
        if isinstance(self.unit, Block) and len(self.unit.stages) > 1:
            label = f"[{label}]"
        return label if self.repeats == 1 else f"{self.repeats} x {label}"

    def _check_repeatable(self) -> None:
        first, last = self.first, self.last
        keeps_shape = (
            same_size(first.c_in, last.c_out)
            and same_size(last.output_d, first.depth)
            and same_size(last.output_hw[0], first.height)
            and same_size(last.output_hw[1], first.width)
        )
        if not keeps_shape:
            raise ValueError(
                f"a unit repeated {self.repeats} times must keep its input shape; {self.unit.describe()} does not"
            )


@dataclasses.dataclass(frozen=True)
class Block:
    """Layers applied in order; each one's output is the next one's input.

    Parameters
    ----------
    stages : tuple of Stage
        The layers (or sub-blocks), in order.
    name : str
        What the block is, for tables (e.g. ``'stack'``).
    """

    stages: tuple
    name: str = ""

    def __post_init__(self) -> None:
        stages = tuple(self.stages)
        if not stages:
            raise ValueError("a block needs at least one layer")
        object.__setattr__(self, "stages", stages)
        for before, after in zip(stages, stages[1:], strict=False):  # neighbours
            _check_chain(before.last, after.first)

    @classmethod
    def of(cls, *units: Unit, name: str = "") -> Block:
        """A block of layers (or sub-blocks) applied once each."""
        return cls(tuple(Stage(unit) for unit in units), name=name)

    def __iter__(self) -> Iterator[Stage]:
        return iter(self.stages)

    @property
    def first(self) -> ConvLayer:
        return self.stages[0].first

    @property
    def last(self) -> ConvLayer:
        return self.stages[-1].last

    @property
    def depth(self) -> Size:
        """Number of layers, counting repeats."""
        total: Any = 0
        for stage in self.stages:
            inner = 1 if isinstance(stage.unit, ConvLayer) else stage.unit.depth
            total += stage.repeats * inner
        return exact(total)

    def layers(self) -> list[ConvLayer]:
        """Every layer in order, repeats expanded; needs numeric repeat counts."""
        expanded: list[ConvLayer] = []
        for stage in self.stages:
            if not isinstance(stage.repeats, int):
                raise ValueError(f"cannot list {stage.repeats} layers: the count is symbolic")
            expanded.extend(layers_of(stage.unit) * stage.repeats)
        return expanded

    def counts(self) -> Counts:
        """Summed counts of every layer (intermediate tensors are written and read back)."""
        total = self.stages[0].counts()
        for stage in self.stages[1:]:
            total = total + stage.counts()
        return total

    @property
    def receptive_field(self) -> tuple[Size, ...]:
        """The input window one output position sees, along the layers' own axes.

        (height, width) for 2-D layers; (width,) for 1-D and (depth, height, width) for 3-D ones.
        """
        return tuple(_expanded(1 + _reach(self, axis)[0]) for axis in AXES_OF_RANK[self.first.rank])

    def describe(self) -> str:
        """One line: each stage's label, with its repeat count when not 1."""
        return " -> ".join(stage.describe() for stage in self.stages)


def _expanded(value: Any) -> Size:
    """A symbolic sum multiplied out (so equal fields print alike); a number as it is."""
    if is_symbolic(value):
        import sympy

        return exact(sympy.expand(value))
    return exact(value)


def _reach(unit: Unit, axis: str) -> tuple[Any, Any]:
    """(receptive field - 1, total stride) of a layer or block along one axis.

    A layer reaches dilation*(kernel-1) positions; in a sequence each reach is
    scaled by the product of the strides before it.
    """
    if isinstance(unit, ConvLayer):
        kernel, stride, dilation, _ = unit.axis_geometry(axis)
        return (dilation * (kernel - 1), stride)
    reach: Any = 0
    jump: Any = 1
    for stage in unit.stages:
        stage_reach, stage_stride = _reach(stage.unit, axis)
        # A repeated stage keeps its shape, so its stride is 1 and its reaches simply add up.
        reach += stage.repeats * stage_reach * jump
        jump *= stage_stride**stage.repeats
    return reach, jump


def _check_chain(before: ConvLayer, after: ConvLayer) -> None:
    """Refuse a block whose layers do not fit one into the next."""
    if not same_size(before.c_out, after.c_in):
        raise ValueError(
            f"layers do not chain: {before.describe()} gives {before.c_out} channels, the next layer takes {after.c_in}"
        )
    outputs = (before.output_d, *before.output_hw)
    inputs = (after.depth, after.height, after.width)
    if not all(same_size(made, taken) for made, taken in zip(outputs, inputs, strict=True)):
        raise ValueError(
            f"layers do not chain: {before.describe()} outputs {before.output_hw}, "
            f"the next layer takes {(after.height, after.width)}"
        )
    if not same_size(before.batch, after.batch):
        raise ValueError(f"layers do not chain: batch {before.batch} then {after.batch}")


def layers_of(block_or_layer: ConvLayer | Block) -> list[ConvLayer]:
    """The flat list of layers of a block (repeats expanded), or ``[layer]``."""
    if isinstance(block_or_layer, ConvLayer):
        return [block_or_layer]
    if isinstance(block_or_layer, Block):
        return block_or_layer.layers()
    raise TypeError(f"expected a ConvLayer or a Block, got {type(block_or_layer).__name__}")
