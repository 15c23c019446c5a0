"""Frames the charts and tables need that the CSV files do not hold, from the cost model.

The result rows say which configuration was measured (kernel, scheme,
channels, size, batch); the cost model rebuilds its layers from that, so
arithmetic intensities and theory curves come from the same exact counts
that the predictions came from, never from retyped formulas.
"""

from __future__ import annotations

import functools

import pandas as pd

from costmodel.counts import count_layer
from costmodel.sweep import sweep
from validate.experiments.plans import Case, FactorizationConfig
from validate.report.data import Results, measured
from validate.results.ratios import SEED_REFERENCE

# The schemes whose savings the kernel-size chart draws, as 'scheme[,option=value]' keys.
THEORY_SCHEMES = ("stack", "stack,m=2", "asymmetric", "depthwise-separable")
THEORY_KERNELS = tuple(range(2, 12))
THEORY_WIDTH = 64  # equal input, intermediate and output widths, Szegedy et al.'s assumption


def scheme_keys(frame: pd.DataFrame) -> pd.Series:
    """Each row's scheme and options, without the kernel ('stack,m=2'), from its typed columns."""
    return pd.Series(
        [
            ",".join(filter(None, (scheme, options)))
            for scheme, options in zip(frame["scheme"], frame["options"], strict=True)
        ],
        index=frame.index,
        dtype=str,
    )


def scheme_label(key: str) -> str:
    """A scheme key in words for a legend: 'stack,m=2' -> 'stack (m=2)'."""
    scheme, *options = key.split(",")
    return f"{scheme} ({', '.join(options)})" if options else scheme


def _intensity(counts) -> float:
    return float(counts.flops) / float(counts.memory_bytes)


@functools.cache
def _stack_counts(case: Case, channels: int, size: int, batch: int) -> dict:
    """FLOPs per stacked unit and arithmetic intensity of the original layer and its block."""
    config = FactorizationConfig("any", "graph", case, channels, size, batch, repeats=1, activation=None)
    original, factorized = count_layer(config.original), config.factorized.counts()
    return {
        "original": (float(original.flops), _intensity(original)),
        "factorized": (float(factorized.flops), _intensity(factorized)),
    }


def roofline_points(results: Results) -> pd.DataFrame:
    """One point per measured stack: its arithmetic intensity and the FLOP/s it achieved.

    Achieved FLOP/s is the stack's FLOPs (the profiler's count in the row,
    which the run checked equal to the cost model's) over its median
    seconds.  A stack of identical units has the intensity of one unit.
    """
    rows = []
    for row in measured(results.factorizations).itertuples(index=False):
        case = Case.from_columns(row.kernel, row.scheme, row.options)
        counts = _stack_counts(case, int(row.channels), int(row.size), int(row.batch))
        for role in ("original", "factorized"):
            unit_flops, intensity = counts[role]
            flops = getattr(row, f"flops_{role}")
            if pd.isna(flops):
                flops = unit_flops * row.repeats
            seconds = getattr(row, f"{role}_geomean_seconds")
            rows.append(
                {
                    "device": row.device,
                    "case": row.case,
                    "role": role,
                    "channels": row.channels,
                    "size": row.size,
                    "batch": row.batch,
                    "intensity": intensity,
                    "flops": flops,
                    "seconds": seconds,
                    "achieved_flops_per_second": flops / seconds,
                }
            )
    return pd.DataFrame(
        rows,
        columns=[
            "device",
            "case",
            "role",
            "channels",
            "size",
            "batch",
            "intensity",
            "flops",
            "seconds",
            "achieved_flops_per_second",
        ],
    )


@functools.cache
def _scheme_savings(key: str, kernels: tuple, width: int) -> tuple:
    """(kernel, MAC saving) pairs of one scheme key; derived once, reused by every chart."""
    scheme, *options = key.split(",")
    values = {name: int(value) for name, value in (option.split("=") for option in options)}
    swept = sweep([f"{k}x{k}" for k in kernels], [scheme], c_in=width, c_out=width, **values)
    return tuple((int(entry["kernel"].split("x")[0]), entry["macs_saving"]) for entry in swept if "error" not in entry)


def theory_savings(keys=THEORY_SCHEMES, kernels=THEORY_KERNELS, width: int = THEORY_WIDTH) -> pd.DataFrame:
    """The MAC saving of each scheme key at each square kernel size, equal widths.

    Kernel sizes a scheme cannot factorize exactly (a stack of 3x3 layers
    needs an odd kernel) are left out; the curve joins the sizes that exist.
    """
    rows = [
        {"scheme_key": key, "kernel": kernel, "macs_ratio": 1 - saving, "macs_saving": saving}
        for key in dict.fromkeys(keys)
        for kernel, saving in _scheme_savings(key, tuple(kernels), width)
    ]
    return pd.DataFrame(rows, columns=["scheme_key", "kernel", "macs_ratio", "macs_saving"])


def seed_expectation(seed: pd.DataFrame) -> pd.DataFrame:
    """Measured milliseconds per call beside what MACs predict from the measured conv3x3.

    ``expected_ms`` = conv3x3's measured time at the same device, mode and
    filters x the layer type's MAC ratio to conv3x3: the seed's "theory"
    column turned into a time.  NaN where conv3x3 was not measured.
    """
    frame = measured(seed)[
        ["device", "mode", "layer_type", "filters", "geomean_seconds", "macs_ratio_vs_conv3x3"]
    ].copy()
    frame["measured_ms"] = 1000 * frame["geomean_seconds"]
    if frame.empty:
        return frame.assign(expected_ms=frame["measured_ms"])
    reference = (
        frame[frame["layer_type"] == SEED_REFERENCE].groupby(["device", "mode", "filters"])["measured_ms"].median()
    )
    keys = pd.MultiIndex.from_frame(frame[["device", "mode", "filters"]])
    frame["expected_ms"] = reference.reindex(keys).to_numpy() * frame["macs_ratio_vs_conv3x3"].to_numpy()
    return frame.reset_index(drop=True)
