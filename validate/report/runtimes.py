"""The report's runtime comparison: one factorization, measured in several runtimes, side by side.

A runtime is a device label and an execution mode: TensorFlow's graph mode
on this CPU is one (``cpu (AMD EPYC), graph``), LiteRT with XNNPACK in float32
another (``cpu (AMD EPYC, litert), fp32``), its full-integer int8 a third.
Only configurations measured in at least two runtimes are compared (same case,
channels, size, batch, activation and depth), so every ratio beside another
was measured on the same block.  Each cell is the measured time ratio with its
95% interval; where one runtime's interval lies wholly below 1 and another's
wholly above, the runtimes disagree in sign: the factorization pays in one and
costs in the other.  No framework is imported here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from validate.report.data import MISSING, Results, measured
from validate.report.tables import CLAIM_WIDTH, CLAIMS

#: What must match for two rows to be the same block measured in two runtimes.
CONFIGURATION = ["case", "channels", "size", "batch", "activation", "repeats"]


def runtime_label(device: str, mode: str) -> str:
    """'cpu (AMD EPYC, litert), int8': the device label the report gives a folder, and the mode."""
    return f"{device}, {mode}"


def compared(results: Results) -> pd.DataFrame:
    """Measured factorization rows of configurations that at least two runtimes measured."""
    frame = measured(results.factorizations)
    frame = frame[frame["measured_ratio"].notna()].copy()
    frame["runtime"] = [runtime_label(d, m) for d, m in zip(frame["device"], frame["mode"], strict=True)]
    runtimes = frame.groupby(CONFIGURATION, dropna=False)["runtime"].transform("nunique")
    return frame[runtimes >= 2]


def has_runtime_comparison(results: Results) -> bool:
    return not compared(results).empty


def _sign(low: float, high: float) -> int:
    """-1 where the interval says faster, +1 slower, 0 undecided."""
    if np.isfinite(high) and high < 1:
        return -1
    if np.isfinite(low) and low > 1:
        return 1
    return 0


def _cell(row: pd.Series) -> str:
    interval = (
        f" [{row['ratio_ci_low']:.3g}, {row['ratio_ci_high']:.3g}]"
        if np.isfinite(row["ratio_ci_low"]) and np.isfinite(row["ratio_ci_high"])
        else ""
    )
    return f"{row['measured_ratio']:.3g}{interval}"


def runtimes_table(results: Results) -> pd.DataFrame:
    """One row per configuration: the MAC ratio, each runtime's measured ratio and 95% CI, the sign verdict."""
    frame = compared(results)
    runtimes = list(dict.fromkeys(frame["runtime"]))
    rows = []
    for key, part in frame.groupby(CONFIGURATION, dropna=False, sort=False):
        row = dict(zip(CONFIGURATION, key, strict=True))
        row["MAC ratio"] = part["predicted_ratio"].iloc[0]
        by_runtime = {entry["runtime"]: entry for _, entry in part.iterrows()}
        signs = {}
        for runtime in runtimes:
            entry = by_runtime.get(runtime)
            row[runtime] = MISSING if entry is None else _cell(entry)
            if entry is not None:
                signs[runtime] = _sign(entry["ratio_ci_low"], entry["ratio_ci_high"])
        faster = [name for name, sign in signs.items() if sign < 0]
        slower = [name for name, sign in signs.items() if sign > 0]
        row["sign"] = f"faster in {', '.join(faster)}; slower in {', '.join(slower)}" if faster and slower else "agrees"
        rows.append(row)
    return pd.DataFrame(rows).drop(columns=["repeats"])


def claims_table(results: Results) -> pd.DataFrame:
    """The literature's claims per runtime: each claim's case at the claims' width, every size measured.

    One row per claim and configuration at :data:`validate.report.tables.CLAIM_WIDTH` channels: the
    quoted figure, then :func:`runtimes_table`'s MAC ratio and each runtime's measured ratio with its 95% CI.
    """
    table = runtimes_table(results)
    parts = []
    for claim in CLAIMS:
        part = table[(table["case"] == claim.case.name) & (table["channels"] == CLAIM_WIDTH)]
        part = part.sort_values("size", kind="stable").drop(columns=["channels", "sign"])
        parts.append(part.assign(claim=claim.claim, quoted=claim.quoted))
    claims = pd.concat(parts, ignore_index=True)
    first = ["claim", "quoted"]
    return claims[first + [column for column in claims.columns if column not in first]]
