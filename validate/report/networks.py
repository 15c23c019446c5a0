"""The report's Networks section: whole networks rewritten and timed, the latency model scored on them, the papers.

The tables come from what ``python -m validate network`` and ``python -m
validate networks`` stored in a results folder: ``networks.csv`` (the
``networks`` table of :mod:`validate.results.schema`, one measured rewrite per
row, with the whole-network model's predicted seconds of both networks) and
``networks_papers.json`` (the papers' published figures beside the cost
model's counts of Keras-read networks, computed when it was measured).  The
whole-network model is scored per machine by
:mod:`validate.results.network_scores`.  No framework is imported here.
"""

from __future__ import annotations

import json

import pandas as pd

from validate.report.data import MISSING, Results, interval_columns, measured
from validate.results import network_scores, schema

PAPERS_FILE = "networks_papers.json"
#: The scores table's last column: the worst network on the seconds row, the advisor's record on its own.
RECORD = "worst network, or the advisor's record"


def _network_frames(results: Results) -> pd.DataFrame:
    return measured(results.networks)


def has_networks(results: Results) -> bool:
    return not _network_frames(results).empty


def has_papers(results: Results) -> bool:
    return any((folder / PAPERS_FILE).exists() for folder in results.folders)


def networks_table(results: Results) -> pd.DataFrame:
    """One row per measured rewrite: counts before and after, and the MAC, predicted and measured ratios."""
    frame = _network_frames(results)
    return pd.DataFrame(
        {
            "model": frame["model"],
            "input": frame["input_size"],
            "rules": frame["rules"],
            "device": frame["device"],
            "machine": frame["machine"],
            "layers rewritten": frame["changes"],
            "params (M)": frame["params_original"] / 1e6,
            "params rewritten (M)": frame["params_rewritten"] / 1e6,
            "MACs (M)": frame["macs_original"] / 1e6,
            "MACs rewritten (M)": frame["macs_rewritten"] / 1e6,
            "MAC ratio": frame["macs_ratio"],
            "predicted time ratio": frame["predicted_ratio"],
            "measured time ratio": frame["measured_ratio"],
            **interval_columns(frame, schema.NETWORKS),
            "processes": frame["processes"],
            "original (ms)": 1e3 * frame["original_geomean_seconds"],
            "rewritten (ms)": 1e3 * frame["rewritten_geomean_seconds"],
        }
    ).reset_index(drop=True)


def scores_by_machine(results: Results) -> dict[str, dict]:
    """Per machine, :func:`validate.results.network_scores.score` of its measured network rows."""
    frame = _network_frames(results)
    return {
        machine: network_scores.score(part.to_dict("records")) for machine, part in frame.groupby("machine", sort=False)
    }


def has_network_predictions(results: Results) -> bool:
    """Whether any measured network row carries the whole-network model's predicted seconds."""
    return any(scores["pairs"] for scores in scores_by_machine(results).values())


def network_model_table(results: Results) -> pd.DataFrame:
    """Each measured network, original and rewritten: predicted against measured milliseconds, and the error."""
    rows = []
    for machine, scores in scores_by_machine(results).items():
        for pair in scores["pairs"]:
            low, high = pair["measured_low"], pair["measured_high"]
            known = all(isinstance(value, float) and pd.notna(value) for value in (low, high))
            rows.append({
                "machine": machine,
                "network": pair["network"],
                "predicted (ms)": 1e3 * pair["predicted_seconds"],
                "measured (ms)": 1e3 * pair["measured_seconds"],
                "95% CI (ms)": f"[{1e3 * low:.3g}, {1e3 * high:.3g}]" if known else MISSING,
                "error": f"{pair['error']:+.1%}",
                "extrapolates": pair["extrapolation"] or "no",
            })  # fmt: skip
    return pd.DataFrame(rows)


def network_scores_table(results: Results) -> pd.DataFrame:
    """Per machine: the shares within ±10% and ±20%, the median error, the worst network, the advisor's record."""
    rows = []
    for machine, scores in scores_by_machine(results).items():
        worst = scores["worst"]
        for quantity, label in (("seconds", "whole-network seconds"), ("ratios", "rewrite time ratio")):
            figures = scores[quantity]
            if not figures:
                continue
            rows.append({
                "machine": machine,
                "quantity": label,
                "measured": figures["count"],
                "within ±10%": f"{figures['within_10_percent']:.0%}",
                "within ±20%": f"{figures['within_20_percent']:.0%}",
                "median error (%)": figures["median_absolute_percentage_error"],
                "inside measured 95% CI": (
                    f"{scores['inside_interval']:.0%} (CI ±{scores['interval_half_width']:.0%})"
                    if quantity == "seconds" and scores["inside_interval"] is not None else MISSING
                ),
                RECORD: f"{worst['network']} ({worst['error']:+.1%})" if quantity == "seconds" and worst else MISSING,
            })  # fmt: skip
        advice = scores["advisor"]
        if advice["networks"]:
            agreement = advice["top1_agreement"]
            rows.append({
                "machine": machine,
                "quantity": "advisor's first choice = measured fastest",
                "measured": len(advice["networks"]),
                "within ±10%": MISSING,
                "within ±20%": MISSING,
                "median error (%)": None,
                "inside measured 95% CI": MISSING,
                RECORD: (
                    f"agrees on {agreement:.0%} of the {advice['decided']} decided by measurement"
                    if agreement is not None else "no network decided by its measurement"
                ),
            })  # fmt: skip
    return pd.DataFrame(rows)


def findings(results: Results) -> list[str]:
    """One sentence per machine on how far the whole-network model is from measurement."""
    lines = []
    for machine, scores in scores_by_machine(results).items():
        figures, worst = scores["seconds"], scores["worst"]
        if not figures:
            continue
        lines.append(
            f"On {machine}, the whole-network latency model predicts {figures['within_10_percent']:.0%} of "
            f"{figures['count']} measured networks' seconds within ±10% and {figures['within_20_percent']:.0%} "
            f"within ±20% (median error {figures['median_absolute_percentage_error']:.1f}%); it misses "
            f"{worst['network']} by most ({worst['error']:+.1%})."
        )
    return lines


def papers_table(results: Results) -> pd.DataFrame:
    """The published MobileNet figures beside ours, from the first folder that stored them."""
    for folder in results.folders:
        path = folder / PAPERS_FILE
        if path.exists():
            try:
                rows = json.loads(path.read_text())
            except json.JSONDecodeError as error:
                raise ValueError(f"{path} is not JSON: {error}") from None
            return pd.DataFrame(rows)
    return pd.DataFrame()
