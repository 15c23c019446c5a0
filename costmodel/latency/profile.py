"""The device profile: one device's measured ceilings, overheads, efficiencies and kernel factors.

The numbers come from a *device profile* (JSON), written by
``python -m validate calibrate``.  This module only reads it: the cost
model stays free of TensorFlow.

A profile is a JSON object with the fields ``REQUIRED_FIELDS`` (and any others,
kept for the record); reading one checks every figure against ``SANE`` and
refuses one of another ``PROFILE_VERSION`` (:class:`ProfileVersionError`).

>>> profile = DeviceProfile(device="example", peak_flops_per_second=1e11,
...     bandwidth_bytes_per_second=1e10, op_overhead_seconds=1e-5, call_overhead_seconds=5e-5,
...     efficiency={"dense": 0.5, "pointwise": 0.5, "depthwise": 0.25, "asymmetric": 0.5})
>>> profile.efficiency["dense"]
{'max': 0.5, 'half_channels': 0.0}
>>> profile.ridge_point
10.0
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
from typing import Any

from costmodel.checks import check_range, check_real, check_text, one_line
from costmodel.jsonfile import MAX_BYTES, load_json_file
from costmodel.latency.kernel_factors import GridFactor, KernelFactor, factor_from_dict

# 2: relative calibration, kernel factors chosen by cross-validation, the calibrated range.
# 3: the kernels each layer signature runs (layer_kernels), for whole networks; a peak that is a ceiling.
# 4: a layer signature's measured fixed seconds (layer_kernels[...]["fixed_seconds"]); network-regime cells.
PROFILE_VERSION = 4
KINDS = ("dense", "pointwise", "depthwise", "asymmetric")
# The model forms cross-validation chooses between, and the kernel factor form each uses.
MODELS = {"roofline": None, "roofline x constant kernel factor": "constant",
          "roofline x log-linear kernel factor": "log-linear",
          "roofline x interpolated kernel factor": "grid"}  # fmt: skip
REQUIRED_FIELDS = (
    "version",
    "device",
    "peak_flops_per_second",
    "bandwidth_bytes_per_second",
    "op_overhead_seconds",
    "call_overhead_seconds",
    "call_seconds_per_byte",
    "efficiency",
    "model",
    "kernel_factors",
    "calibrated_range",
    "layer_kernels",
)
RANGE_FIELDS = ("channels", "sizes", "batches")
MAX_PROFILE_BYTES = MAX_BYTES  # a calibrated profile with its measurements is a few tens of KB

# The ranges a real device's figures lie in, generously: from a microcontroller to a data-centre
# accelerator, from nanosecond to ten-second overheads.  Outside them a prediction is
# Infinity, NaN or nonsense, so a profile with such a figure is refused when read.
SANE = {
    "peak_flops_per_second": (1e3, 1e19),
    "bandwidth_bytes_per_second": (1e3, 1e16),
    "op_overhead_seconds": (0.0, 10.0),
    "call_overhead_seconds": (0.0, 10.0),
    "call_seconds_per_byte": (0.0, 1e-3),
    "fixed_seconds": (0.0, 1.0),  # one layer's fixed cost: microseconds on a CPU, never a second
    "efficiency.max": (1e-6, 100.0),
    "efficiency.half_channels": (0.0, 1e9),
}
MAX_DEVICE_CHARS = 200


def model_of(factors: dict) -> str:
    """The model a set of kernel factors belongs to: none, interpolated (grids) or log-linear.

    >>> model_of({})
    'roofline'
    """
    if not factors:
        return "roofline"
    grids = all(isinstance(factor, GridFactor) for factor in factors.values())
    return "roofline x interpolated kernel factor" if grids else "roofline x log-linear kernel factor"


class ProfileVersionError(ValueError):
    """A profile written by another version of the latency model: its numbers mean something else."""


def _profile_number(field: str, value: Any, *, allow_zero: bool) -> float:
    """One figure of a profile: finite, > 0 (or >= 0), inside its sane range; errors name the field."""
    sane = SANE["efficiency." + field.rsplit(".", 1)[-1]] if field.startswith("efficiency.") else SANE[field]
    return check_real(f"device profile field {field}", value, minimum=0, allow_minimum=allow_zero, sane=sane)


def _efficiency_table(efficiency: Any) -> dict:
    """{kind: {"max": e, "half_channels": h}} from that, or from {kind: e} (a constant e)."""
    if not isinstance(efficiency, dict):
        raise TypeError(f"device profile field efficiency must be an object, got {efficiency!r}")
    missing = [kind for kind in KINDS if kind not in efficiency]
    if missing:
        raise ValueError(f"device profile efficiency lacks the kind {missing[0]!r} (needs {', '.join(KINDS)})")
    table = {}
    for kind in KINDS:
        entry = efficiency[kind]
        if not isinstance(entry, dict):
            entry = {"max": entry, "half_channels": 0.0}
        if set(entry) != {"max", "half_channels"}:
            names = ", ".join(sorted(repr(check_text("a key", key, 60)) for key in entry))
            raise ValueError(f"device profile efficiency.{kind} needs exactly max and half_channels, got [{names}]")
        table[kind] = {
            "max": _profile_number(f"efficiency.{kind}.max", entry["max"], allow_zero=False),
            "half_channels": _profile_number(
                f"efficiency.{kind}.half_channels", entry["half_channels"], allow_zero=True
            ),
        }
    return table


def _kernel_factors(factors: Any) -> dict[str, KernelFactor | GridFactor]:
    if not isinstance(factors, dict):
        raise TypeError(f"device profile field kernel_factors must be an object, got {type(factors).__name__}")
    table = {}
    for shape, entry in factors.items():
        check_text("a kernel shape", shape, 60)
        if isinstance(entry, (KernelFactor, GridFactor)):
            table[shape] = entry
            continue
        try:
            table[shape] = factor_from_dict(entry)
        except (TypeError, ValueError) as error:
            raise ValueError(f"device profile kernel_factors[{shape!r}]: {error}") from None
    return table


def _calibrated_range(calibrated: Any) -> dict | None:
    """{channels, sizes, batches: [low, high], kernels: [shape, ...]}, or None (not recorded)."""
    if calibrated is None:
        return None
    if not isinstance(calibrated, dict) or set(calibrated) != {*RANGE_FIELDS, "kernels"}:
        raise ValueError(f"device profile calibrated_range needs exactly {', '.join(RANGE_FIELDS)} and kernels")
    table: dict[str, Any] = {}
    for field in RANGE_FIELDS:
        table[field] = list(check_range(f"calibrated_range.{field}", calibrated[field], minimum=1, sane=(1, 1e9)))
    kernels = calibrated["kernels"]
    if not isinstance(kernels, (list, tuple)):
        raise ValueError("device profile calibrated_range.kernels must be a list of kernel shapes")
    table["kernels"] = [check_text("a calibrated kernel shape", shape, 60) for shape in kernels]
    return table


MAX_KERNELS_PER_LAYER = 1000  # a layer of a real network runs a handful of kernels


def _layer_kernels(kernels: Any) -> dict[str, dict]:
    """{signature: {"full": n, "small": m}}: the kernels a layer runs over its tensor and over small vectors.

    Means over the probe's layers of that signature, so not always whole numbers.  Where the
    calibration measured it, ``fixed_seconds`` is one such layer's fixed cost (its kernels at one pixel).
    """
    if not isinstance(kernels, dict):
        raise TypeError(f"device profile field layer_kernels must be an object, got {type(kernels).__name__}")
    table = {}
    for name, entry in kernels.items():
        check_text("a layer signature", name, 120)
        if not isinstance(entry, dict) or not {"full", "small"} <= set(entry):
            raise ValueError(f"device profile layer_kernels[{name!r}] needs full and small kernel counts")
        counts = {}
        for field in ("full", "small"):
            value = entry[field]
            counts[field] = check_real(
                f"device profile layer_kernels[{name!r}].{field}", value, minimum=0, allow_minimum=True,
                sane=(0, MAX_KERNELS_PER_LAYER),
            )  # fmt: skip
        if "fixed_seconds" in entry:
            counts["fixed_seconds"] = check_real(
                f"device profile layer_kernels[{name!r}].fixed_seconds", entry["fixed_seconds"], minimum=0,
                allow_minimum=True, sane=SANE["fixed_seconds"],
            )  # fmt: skip
        table[name] = {**entry, **counts}
    return table


@dataclasses.dataclass(frozen=True)
class DeviceProfile:
    """One device's measured ceilings, overheads and per-kind efficiencies.

    Fields beyond the model's (``residuals``, ``machine``, ``measurements``)
    are kept as given, for the record.
    """

    device: str
    peak_flops_per_second: float
    bandwidth_bytes_per_second: float
    op_overhead_seconds: float
    call_overhead_seconds: float
    efficiency: dict
    call_seconds_per_byte: float = 0.0
    model: str = "roofline"
    kernel_factors: dict = dataclasses.field(default_factory=dict)
    calibrated_range: dict | None = None  # None: not recorded, so every prediction is an extrapolation
    layer_kernels: dict = dataclasses.field(default_factory=dict)  # empty: whole networks extrapolate
    version: int = PROFILE_VERSION
    extra: dict = dataclasses.field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        self._check_version(self.version)
        check_text("device profile field device", self.device, MAX_DEVICE_CHARS)
        for field in ("peak_flops_per_second", "bandwidth_bytes_per_second"):
            object.__setattr__(self, field, _profile_number(field, getattr(self, field), allow_zero=False))
        for field in ("op_overhead_seconds", "call_overhead_seconds", "call_seconds_per_byte"):
            object.__setattr__(self, field, _profile_number(field, getattr(self, field), allow_zero=True))
        object.__setattr__(self, "efficiency", _efficiency_table(self.efficiency))
        if not isinstance(self.model, str) or self.model not in MODELS:
            raise ValueError(
                f"device profile model {one_line(repr(self.model))[:80]} is not one of {', '.join(MODELS)}"
            )
        object.__setattr__(self, "kernel_factors", _kernel_factors(self.kernel_factors))
        self._check_factors_fit_the_model()
        object.__setattr__(self, "calibrated_range", _calibrated_range(self.calibrated_range))
        object.__setattr__(self, "layer_kernels", _layer_kernels(self.layer_kernels))

    def _check_factors_fit_the_model(self) -> None:
        """The roofline alone has no kernel factors; the other models have factors of their own form only."""
        form = MODELS[self.model]
        if form is None and self.kernel_factors:
            raise ValueError(
                f"device profile model {self.model!r} has no kernel factors, but kernel_factors is not empty"
            )
        wanted = GridFactor if form == "grid" else KernelFactor
        for shape, factor in self.kernel_factors.items():
            if not isinstance(factor, wanted):
                raise ValueError(
                    f"device profile kernel_factors[{shape!r}] is not of the form the model {self.model!r} uses"
                )

    @staticmethod
    def _check_version(version: Any) -> None:
        if type(version) is not int:  # not bool, not float: versions are whole numbers
            raise TypeError(f"device profile field version must be an integer, got {type(version).__name__}")
        if version != PROFILE_VERSION:
            older = "an older" if version < PROFILE_VERSION else "a newer"
            raise ProfileVersionError(
                f"device profile version {version} was written by {older} latency model "
                f"(this one reads version {PROFILE_VERSION}); recalibrate: python -m validate calibrate"
            )

    @property
    def ridge_point(self) -> float:
        """FLOPs per byte above which a layer is compute-bound on this device."""
        return self.peak_flops_per_second / self.bandwidth_bytes_per_second

    def as_dict(self) -> dict:
        fields = {name: getattr(self, name) for name in REQUIRED_FIELDS}
        fields["kernel_factors"] = {shape: factor.as_dict() for shape, factor in self.kernel_factors.items()}
        return {**fields, **self.extra}

    @classmethod
    def from_dict(cls, document: Any) -> DeviceProfile:
        """A profile from its JSON object, refusing a missing field, a wrong version or nonsense."""
        if not isinstance(document, dict):
            raise ValueError(f"a device profile is a JSON object, got {type(document).__name__}")
        if "version" in document:  # an old profile is refused for its version, not for a field it lacks
            cls._check_version(document["version"])
        missing = [field for field in REQUIRED_FIELDS if field not in document]
        if missing:
            raise ValueError(f"device profile lacks the field {missing[0]!r}")
        fields = {name: document[name] for name in REQUIRED_FIELDS}
        extra = {key: value for key, value in document.items() if key not in REQUIRED_FIELDS}
        return cls(**fields, extra=extra)

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], max_bytes: int = MAX_PROFILE_BYTES, size_hint: str = ""
    ) -> DeviceProfile:
        """Read a profile file; every problem is one ValueError line naming the file (and the field).

        The file must be a regular file of at most ``max_bytes`` (see
        :func:`costmodel.jsonfile.load_json_file` for everything else it must be).
        """
        document = load_json_file(path, what="device profile", max_bytes=max_bytes, size_hint=size_hint)
        try:
            return cls.from_dict(document)
        except (TypeError, ValueError) as error:
            reason = str(error).removeprefix("device profile ")
            kind = ProfileVersionError if isinstance(error, ProfileVersionError) else ValueError
            raise kind(f"device profile {one_line(str(path))[:200]}: {reason}") from None

    def save(self, path: str | os.PathLike[str]) -> None:
        pathlib.Path(path).write_text(json.dumps(self.as_dict(), indent=2) + "\n")
