"""The report's Networks section: whole networks rewritten and timed, and the MobileNet papers reproduced.

Both tables come from what ``python -m validate network`` stored in a results
folder: ``networks.csv`` (the ``networks`` table of
:mod:`validate.results.schema`, one measured rewrite per row) and
``networks_papers.json`` (the papers' published figures beside the cost
model's counts of Keras-read networks, computed when it was measured).  No
framework is imported here.
"""

from __future__ import annotations

import json

import pandas as pd

from validate.report.data import Results, interval_columns, measured
from validate.results import schema

PAPERS_FILE = "networks_papers.json"


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
