"""The report's prose, generated from the data: what was measured, and where theory and measurement part.

Every number in these sentences is computed from the results, so the text
can never drift from the tables beside it.
"""

from __future__ import annotations

import pandas as pd

from validate.report import networks
from validate.report.data import Results, machine_label, measured
from validate.results.ratios import ratios_to_reference

DEPTHWISE_SEED_TYPE = "conv3x3sep"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def intro(results: Results) -> list[str]:
    """Paragraphs saying what was measured, on what, and how to read the figures."""
    machines = list(dict.fromkeys(machine_label(metadata) for metadata in results.metadata))
    seed, factorizations = results.seed, results.factorizations
    failed = int((seed["error"] != "").sum() + (factorizations["error"] != "").sum())
    paragraphs = [
        "This report sets the cost model's exact predictions (multiply-adds, and the calibrated "
        "latency model where a device profile exists) beside latencies measured in TensorFlow on "
        f"{_plural(len(machines), 'machine')}: {'; '.join(machines)}. "
        f"Devices: {', '.join(results.devices) or 'none'}.",
        f"It holds {_plural(len(measured(seed)), 'seed configuration')} (the seed's experiment: "
        "16 identical layers of each of six types, 32x32 input, batch 32) and "
        f"{_plural(len(measured(factorizations)), 'factorization configuration')} (an original layer "
        "and its factorized block, each stacked and timed interleaved in several worker processes, the "
        "measured ratio being the geometric mean of the processes' median per-pair ratios, with 95% "
        "confidence and rerun intervals from the spread between processes)"
        + (f"; {_plural(failed, 'configuration')} failed to measure and are left out." if failed else "."),
        "A ratio is factorized time / original time: below 1 the factorization is faster. The "
        "divergence is measured / predicted: 1 when theory is right, above 1 when the factorized "
        "block is slower than its MACs promise.",
    ]
    return paragraphs


def _largest(frame: pd.DataFrame) -> str:
    row = frame.loc[(frame["divergence"] - 1).abs().idxmax()]
    reason = row["reason"] or "no reason recorded (the run had no device profile)"
    return (
        f"The largest divergence: {row['case']} on {row['device']} at {row['channels']:g} channels, "
        f"{row['size']:g}x{row['size']:g}, batch {row['batch']:g}: predicted ratio "
        f"{row['predicted_ratio']:.3g}, measured {row['measured_ratio']:.3g} "
        f"(divergence {row['divergence']:.2f}; {row['verdict']}). Why: {reason}."
    )


def _factorization_findings(frame: pd.DataFrame) -> list[str]:
    if frame.empty:
        return ["No factorization was measured, so no divergence can be reported."]
    diverging = int(frame["diverges"].fillna(False).sum())
    flips = int(frame["sign_flip"].fillna(False).sum())
    lines = [
        f"{diverging} of {len(frame)} factorization rows diverge from the MAC model (off by more "
        "than 10% with a 95% interval that excludes the prediction); "
        f"{_plural(flips, 'sign flip')} (theory and measurement disagree, with confidence, on "
        "which block is faster).",
        _largest(frame),
    ]
    for device, part in frame.groupby("device", sort=False):
        paid = int((part["measured_ratio"] < 1).sum())
        lines.append(
            f"On {device} the factorized block was faster than the original in {paid} of "
            f"{len(part)} configurations; MACs promised it in "
            f"{int((part['predicted_ratio'] < 1).sum())}."
        )
    return lines


def _accuracy_findings(accuracy: pd.DataFrame) -> list[str]:
    lines = []
    ratios = accuracy[accuracy["quantity"] == "time ratio"]
    for device, part in ratios.groupby("device", sort=False):
        share = part.set_index("model")["within_10_percent"]
        if {"latency", "naive"} <= set(share.index):
            lines.append(
                f"On {device}, the latency model predicts the time ratio within ±10% for "
                f"{share['latency']:.0%} of the held-out rows, the naive MACs model for "
                f"{share['naive']:.0%}."
            )
    return lines


def _seed_findings(seed: pd.DataFrame) -> list[str]:
    lines = []
    frame = measured(seed)
    for (device, mode), part in frame.groupby(["device", "mode"], sort=False):
        widest = part[part["filters"] == part["filters"].max()].set_index("layer_type")
        measured_ratio = ratios_to_reference(widest["geomean_seconds"].to_dict()).get(DEPTHWISE_SEED_TYPE)
        if measured_ratio is None:
            continue
        lines.append(
            f"In the seed's experiment on {device} ({mode} mode, {part['filters'].max():g} "
            f"filters) the depthwise 3x3 takes {measured_ratio:.2f} of conv3x3's time where "
            f"MACs say {widest.at[DEPTHWISE_SEED_TYPE, 'macs_ratio_vs_conv3x3']:.3f}."
        )
    return lines


def findings(results: Results) -> list[str]:
    """'Where theory and measurement part', one sentence or short paragraph per finding."""
    return (
        _factorization_findings(measured(results.factorizations))
        + _accuracy_findings(results.accuracy)
        + _seed_findings(results.seed)
        + networks.findings(results)
    )
