"""What to measure: the seed's experiment and the factorization sweep, as plans.

A plan is a list of frozen, hashable configurations; each has a ``key`` that
names it in the result files, so an interrupted run knows what is done.  The
key names the backend too (``tensorflow``, ``jax``, ``torch``), so results of
two backends can never be taken for one another.  Modes are the backend's
own (``jit`` on JAX); see :mod:`validate.frameworks.backends`.
Everything here is pure: no framework, the layers are costmodel values.

>>> plan = seed_plan(preset("quick"), devices=["cpu"])
>>> plan[0].key
'seed|tensorflow|cpu|graph|conv5x5|f8'
>>> plan[0].unit.describe()
'5x5 conv 8->8'
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any, ClassVar

from costmodel import ConvLayer, factorize
from costmodel.block import Block
from costmodel.counts import count_layer
from validate.results import schema
from validate.results.ratios import SEED_REFERENCE

# The seed's six layer types (Uchida's conv-benchmark, 2017): kernel and whether depthwise.
SEED_LAYER_TYPES = {
    "conv5x5": ((5, 5), False),
    "conv3x3": ((3, 3), False),
    "conv3x3sep": ((3, 3), True),  # DepthwiseConv2D alone, as in the seed: no pointwise after it
    "conv1x1": ((1, 1), False),
    "conv1x3": ((1, 3), False),
    "conv3x1": ((3, 1), False),
}
SEED_LAYERS, SEED_IMAGE, SEED_BATCH = 16, 32, 32


@dataclasses.dataclass(frozen=True)
class Case:
    """One factorization to test: a kernel, a scheme and its options."""

    kernel: int
    scheme: str
    options: tuple = ()  # sorted (name, value) pairs, hashable

    @property
    def name(self) -> str:
        return f"{self.kernel}x{self.kernel} {self.scheme_key}"

    @property
    def options_text(self) -> str:
        """The options as the ``options`` column stores them: 'm=2', '' for none."""
        return ",".join(f"{name}={value}" for name, value in self.options)

    @property
    def scheme_key(self) -> str:
        """The scheme and its options, without the kernel: 'stack,m=2'."""
        return ",".join(filter(None, (self.scheme, self.options_text)))

    @classmethod
    def from_columns(cls, kernel: int, scheme: str, options: str) -> Case:
        """The case of a stored row, from its typed columns.

        >>> Case.from_columns(3, "stack", "m=2").name
        '3x3 stack,m=2'
        """
        pairs = (option.split("=") for option in options.split(",") if option)
        return cls(int(kernel), scheme, tuple(sorted((name, int(value)) for name, value in pairs)))


# The factorizations every run covers: the textbook claims and the seed's own question (2x2).
CASES = (
    Case(5, "stack"),
    Case(7, "stack"),
    Case(3, "stack", (("m", 2),)),
    Case(3, "asymmetric"),
    Case(7, "asymmetric"),
    Case(3, "depthwise-separable"),
    Case(5, "depthwise-separable"),
    Case(7, "depthwise-separable"),
)


@dataclasses.dataclass(frozen=True)
class Preset:
    """How much to measure: grids, modes and a time budget per configuration."""

    name: str
    seed_filters: tuple
    seed_modes: tuple
    cases: tuple
    channels: tuple
    sizes: tuple
    batches: tuple
    repeats: int
    activations: tuple
    factorization_modes: tuple
    budget_seconds: float  # per configuration, shared by its processes
    max_samples: int  # per configuration, shared by its processes
    processes: int  # worker processes that each measure every configuration (docs/validate.md)


PRESETS = {
    "quick": Preset(
        "quick",
        seed_filters=(8, 32),
        seed_modes=("graph", "predict"),
        cases=(CASES[0], CASES[3], CASES[5]),
        channels=(32,),
        sizes=(16,),
        batches=(8,),
        repeats=4,
        activations=(None,),
        factorization_modes=("graph",),
        budget_seconds=0.4,
        max_samples=40,
        processes=2,
    ),
    "default": Preset(
        "default",
        seed_filters=(8, 16, 32, 64),
        seed_modes=("graph", "predict"),
        cases=CASES,
        channels=(16, 64, 128),
        sizes=(16, 32),
        batches=(8,),
        repeats=4,
        activations=(None,),
        factorization_modes=("graph",),
        budget_seconds=1.0,
        max_samples=100,
        processes=2,
    ),
    "full": Preset(
        "full",
        seed_filters=(8, 16, 32, 64),
        seed_modes=("graph", "eager", "predict", "xla"),
        cases=CASES,
        channels=(8, 16, 32, 64, 128, 256),
        sizes=(8, 16, 32, 64),
        batches=(1, 8, 32),
        repeats=8,
        activations=(None, "relu"),
        factorization_modes=("graph",),
        budget_seconds=2.0,
        max_samples=200,
        processes=5,
    ),
    # Sized for scripts/gpu_check.sh: calibrate, seed and factorizations on every backend of a
    # GPU machine within 5 minutes.  Wider and larger than quick, so the GPU has work to do.
    "gpu": Preset(
        "gpu",
        seed_filters=(8, 32),
        seed_modes=("graph", "predict"),
        cases=(CASES[0], CASES[3], CASES[5]),
        channels=(64, 256),
        sizes=(32, 64),
        batches=(8,),
        repeats=4,
        activations=(None,),
        factorization_modes=("graph",),
        budget_seconds=0.2,
        max_samples=30,
        processes=2,
    ),
}


def preset(name: str, **overrides) -> Preset:
    """A named preset, with some fields replaced (e.g. ``channels=(8, 64)``)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    chosen = {key: value for key, value in overrides.items() if value is not None}
    return dataclasses.replace(PRESETS[name], **chosen)


def seed_layer(layer_type: str, filters: int) -> ConvLayer:
    """One of the seed's layers: 'same' padding, no bias, 32x32 input, batch 32."""
    if layer_type not in SEED_LAYER_TYPES:
        raise ValueError(f"unknown seed layer type {layer_type!r}; known: {', '.join(SEED_LAYER_TYPES)}")
    (kernel_h, kernel_w), depthwise = SEED_LAYER_TYPES[layer_type]
    common: dict[str, Any] = {"height": SEED_IMAGE, "width": SEED_IMAGE, "batch": SEED_BATCH, "padding": "same"}
    if depthwise:
        return ConvLayer.depthwise(kernel_h, kernel_w, filters, **common)
    return ConvLayer(kernel_h, kernel_w, c_in=filters, c_out=filters, **common)


@dataclasses.dataclass(frozen=True)
class SeedConfig:
    """One network of the seed's experiment: 16 identical layers of one type."""

    device: str
    mode: str
    layer_type: str
    filters: int
    backend: str = "tensorflow"

    table: ClassVar[schema.MeasuredTable] = schema.SEED

    @property
    def key(self) -> str:
        return f"seed|{self.backend}|{self.device}|{self.mode}|{self.layer_type}|f{self.filters}"

    def identity(self) -> dict:
        """The columns that say which configuration a row is about."""
        return {
            "config_key": self.key, "backend": self.backend, "device": self.device, "mode": self.mode,
            "layer_type": self.layer_type, "filters": self.filters, "layers": self.repeats,
            "batch": self.batch, "image": self.unit.height,
        }  # fmt: skip

    @property
    def unit(self) -> ConvLayer:
        return seed_layer(self.layer_type, self.filters)

    @property
    def repeats(self) -> int:
        return SEED_LAYERS

    @property
    def batch(self) -> int:
        return SEED_BATCH

    def theory(self) -> dict:
        """MACs of the network and its MAC ratio to conv3x3 at the same filters."""
        macs = count_layer(self.unit).macs * SEED_LAYERS
        reference = count_layer(seed_layer(SEED_REFERENCE, self.filters)).macs * SEED_LAYERS
        return {"macs": macs, "macs_ratio_vs_conv3x3": macs / reference}


def seed_plan(
    chosen: Preset, devices: list[str], modes: tuple | None = None, backend: str = "tensorflow"
) -> list[SeedConfig]:
    """Every (device, mode, layer type, filters) of the seed experiment, in a stable order."""
    return [
        SeedConfig(device, mode, layer_type, filters, backend)
        for device, mode, layer_type, filters in itertools.product(
            devices, modes or chosen.seed_modes, SEED_LAYER_TYPES, chosen.seed_filters
        )
    ]


@dataclasses.dataclass(frozen=True)
class FactorizationConfig:
    """An original layer and its factorized block, each stacked ``repeats`` times."""

    device: str
    mode: str
    case: Case
    channels: int
    size: int
    batch: int
    repeats: int
    activation: str | None
    backend: str = "tensorflow"

    table: ClassVar[schema.MeasuredTable] = schema.FACTORIZATIONS

    def identity(self) -> dict:
        """The columns that say which configuration a row is about; the case as typed columns."""
        return {
            "config_key": self.key, "backend": self.backend, "device": self.device, "mode": self.mode,
            "case": self.case.name, "kernel": self.case.kernel, "scheme": self.case.scheme,
            "options": self.case.options_text, "channels": self.channels, "size": self.size,
            "batch": self.batch, "repeats": self.repeats, "activation": self.activation or "linear",
        }  # fmt: skip

    @property
    def key(self) -> str:
        return (
            f"factorization|{self.backend}|{self.device}|{self.mode}|{self.case.name}|c{self.channels}"
            f"|s{self.size}|b{self.batch}|r{self.repeats}|{self.activation or 'linear'}"
        )

    @property
    def original(self) -> ConvLayer:
        return ConvLayer(
            self.case.kernel,
            self.case.kernel,
            c_in=self.channels,
            c_out=self.channels,
            height=self.size,
            width=self.size,
            batch=self.batch,
            padding="same",
        )

    @property
    def factorized(self) -> Block:
        return factorize(self.original, self.case.scheme, **dict(self.case.options))

    def predicted_ratio(self) -> float:
        """The MAC model's prediction: factorized MACs / original MACs (repeats cancel)."""
        return float(self.factorized.counts().macs / count_layer(self.original).macs)


def factorization_plan(chosen: Preset, devices: list[str], backend: str = "tensorflow") -> list[FactorizationConfig]:
    """Every configuration of the factorization sweep, in a stable order."""
    return [
        FactorizationConfig(device, mode, case, channels, size, batch, chosen.repeats, activation, backend)
        for device, mode, case, channels, size, batch, activation in itertools.product(
            devices,
            chosen.factorization_modes,
            chosen.cases,
            chosen.channels,
            chosen.sizes,
            chosen.batches,
            chosen.activations,
        )
    ]


def case_from_text(text: str) -> Case:
    """A case from '5x5:stack', '3:stack:m=2' or '7x7:depthwise-separable'.

    >>> case_from_text("3:stack:m=2").name
    '3x3 stack,m=2'
    """
    from costmodel.kernel import parse_kernel
    from costmodel.schemes import scheme_names

    parts = text.split(":")
    if len(parts) < 2:
        raise ValueError(f"a case looks like KERNEL:SCHEME[:option=value], got {text!r}")
    kernel_h, kernel_w = parse_kernel(parts[0])
    if kernel_h != kernel_w:
        raise ValueError(f"the factorization experiment uses square kernels, got {parts[0]!r}")
    scheme_names(parts[1])
    options = []
    for part in parts[2:]:
        name, equals, value = part.partition("=")
        if not equals or not value.isdigit():
            raise ValueError(f"an option looks like name=integer, got {part!r}")
        options.append((name, int(value)))
    case = Case(kernel_h, parts[1], tuple(sorted(options)))
    factorize(ConvLayer(case.kernel, case.kernel, c_in=8, c_out=8), case.scheme, **dict(case.options))
    return case


def parse_shard(text: str) -> tuple[int, int]:
    """``I/N`` as (I, N) with 1 <= I <= N: this machine's part of a sweep split over N machines.

    >>> parse_shard("2/3")
    (2, 3)
    >>> parse_shard("3/2")
    Traceback (most recent call last):
    ...
    ValueError: shard must be I/N with 1 <= I <= N, got '3/2'
    """
    index, slash, count = text.strip().partition("/")
    if not (slash and index.isascii() and index.isdigit() and count.isascii() and count.isdigit()):
        raise ValueError(f"shard must be I/N with whole numbers, e.g. 1/4, got {text!r}")
    if not 1 <= int(index) <= int(count):
        raise ValueError(f"shard must be I/N with 1 <= I <= N, got {text!r}")
    return int(index), int(count)


def shard(plan: list, index: int, count: int) -> list:
    """Every ``count``-th configuration of the plan, starting at the ``index``-th (1-based).

    The plan's order is fixed by the preset, so N machines given 1/N ... N/N measure disjoint
    parts that together are the whole plan, whichever machine runs first.

    >>> shard(list("abcde"), 2, 2)
    ['b', 'd']
    """
    return [config for position, config in enumerate(plan) if position % count == index - 1]


def add_preset_option(parser, help_text: str) -> None:
    """``--preset`` on an argparse parser or group: the one definition every command shares.

    ``--profile`` is its old name, kept for one release: "profile" now means only the latency
    model's device profile (``--device-profile``).
    """
    parser.add_argument(
        "--preset",
        "--profile",
        dest="preset",
        choices=sorted(PRESETS),
        default="default",
        help=f"{help_text}; --profile is an old name for it",
    )
