"""The tables printed at the end of a run, from the typed rows of the store.

>>> rows = [{"config_key": "k", "case": "5x5 stack", "channels": 64, "size": 32, "batch": 8,
...          "activation": "linear", "device": "cpu", "mode": "graph", "predicted_ratio": 0.72,
...          "measured_ratio": 0.8, "ratio_ci_low": 0.78, "ratio_ci_high": 0.82,
...          "divergence": 1.111, "verdict": "diverges: ...", "error": ""}]
>>> print(factorization_summary(rows).splitlines()[2])
cpu     graph  5x5 stack  64  32    8      linear      0.720      0.800  [0.780, 0.820]  1.11        diverges: ...
"""

from __future__ import annotations

from costmodel import render
from validate.results.ratios import ratios_to_reference

FACTORIZATION_COLUMNS = [
    "device",
    "mode",
    "case",
    "c",
    "size",
    "batch",
    "activation",
    "predicted",
    "measured",
    "95% CI",
    "divergence",
    "verdict",
]


def _number(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def factorization_summary(rows: list[dict]) -> str:
    """Predicted vs measured ratio for every factorization row, errors included."""
    table = []
    for row in rows:
        entry = {
            "device": row["device"],
            "mode": row["mode"],
            "case": row["case"],
            "c": row["channels"],
            "size": row["size"],
            "batch": row["batch"],
            "activation": row["activation"],
        }
        if row.get("error"):
            table.append({**entry, "verdict": f"FAILED: {row['error']}"})
            continue
        table.append(
            {
                **entry,
                "predicted": _number(row["predicted_ratio"]),
                "measured": _number(row["measured_ratio"]),
                "95% CI": f"[{_number(row['ratio_ci_low'])}, {_number(row['ratio_ci_high'])}]",
                "divergence": _number(row["divergence"], 2),
                "verdict": row["verdict"],
            }
        )
    return render.table(table, FACTORIZATION_COLUMNS)


def seed_summary(rows: list[dict]) -> str:
    """Milliseconds per call of each 16-layer network, and its ratio to conv3x3: measured vs MACs."""
    seconds: dict[tuple, dict[str, float]] = {}
    for row in rows:
        if not row.get("error"):
            seconds.setdefault((row["device"], row["mode"], row["filters"]), {})[row["layer_type"]] = row[
                "geomean_seconds"
            ]
    ratios = {group: ratios_to_reference(values) for group, values in seconds.items()}
    table = []
    for row in rows:
        entry = {"device": row["device"], "mode": row["mode"], "layer": row["layer_type"], "filters": row["filters"]}
        if row.get("error"):
            table.append({**entry, "note": f"FAILED: {row['error']}"})
            continue
        measured = ratios[row["device"], row["mode"], row["filters"]].get(row["layer_type"])
        table.append(
            {
                **entry,
                "ms/call": _number(1000 * row["geomean_seconds"], 3),
                "rel. IQR": _number(row["relative_iqr"], 3),
                "theory vs 3x3": _number(row["macs_ratio_vs_conv3x3"]),
                "measured vs 3x3": "-" if measured is None else f"{measured:.3f}",
                "note": "noisy" if row["noisy"] else "",
            }
        )
    columns = ["device", "mode", "layer", "filters", "ms/call", "rel. IQR", "theory vs 3x3", "measured vs 3x3", "note"]
    return render.table(table, columns)


def profile_summary(profile) -> str:
    """A device profile in a few lines: ceilings, ridge point, overheads, efficiencies, fit."""
    residuals = [abs(row["relative_error"]) for row in profile.extra.get("calibration_residuals", [])]
    within = sum(error <= 0.10 for error in residuals)
    lines = [
        f"device {profile.device}: peak {profile.peak_flops_per_second / 1e9:.1f} GFLOP/s, "
        f"bandwidth {profile.bandwidth_bytes_per_second / 1e9:.1f} GB/s, ridge point "
        f"{profile.ridge_point:.1f} FLOP/byte",
        f"overheads: {profile.call_overhead_seconds * 1e6:.1f} us per call "
        f"+ {profile.call_seconds_per_byte * 1e12:.1f} us per MB in and out, "
        f"{profile.op_overhead_seconds * 1e6:.1f} us per op",
        "compute efficiency, max x C/(C + half): "
        + ", ".join(
            f"{kind} {entry['max']:.0%} (half at {entry['half_channels']:.0f} channels)"
            for kind, entry in profile.efficiency.items()
        ),
    ]
    if residuals:
        lines.append(f"fit: {within} of {len(residuals)} calibration layers within ±10%")
    scores = profile.extra.get("cross_validation") or {}
    if scores:
        lines.append(
            "cross-validation (relative time, held-out cells): "
            + ", ".join(f"{model} {entry['mean_absolute_log_error']:.3f}" for model, entry in scores.items())
        )
    lines.append(
        f"model: {profile.model}"
        + (f", kernel factors for {len(profile.kernel_factors)} shapes" if profile.kernel_factors else "")
    )
    return "\n".join(lines)
