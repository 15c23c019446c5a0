"""How well each model predicts the held-out factorization sweep.

Two models, scored on the same measured rows (none of which the latency
model was fitted on, see :func:`validate.experiments.calibrate.assert_held_out`):

* ``naive``: time proportional to MACs, one constant (seconds per MAC)
  fitted on the calibration set; its time ratio is the MAC ratio;
* ``latency``: the calibrated roofline plus per-op overhead
  (:mod:`costmodel.latency`).

For each: the share of block latencies (every original and factorized
stack) within ±10% and ±20% of the measurement, their median absolute
percentage error, and the same for the factorized / original time ratios.
"""

from __future__ import annotations

from costmodel.latency.calibration import accuracy

QUANTITIES = ("block latency", "time ratio")


def _scored(rows: list[dict]) -> list[dict]:
    return [row for row in rows if not row.get("error") and row.get("model_time_ratio") is not None]


def score(rows: list[dict], seconds_per_mac: float | None) -> list[dict]:
    """One row per (model, quantity) with count, within_10_percent, within_20_percent, MdAPE.

    ``rows`` are typed factorization rows (:data:`validate.results.schema.FACTORIZATIONS`); those without
    a latency-model prediction or with an error are left out.  Without
    ``seconds_per_mac`` (a profile not written by ``calibrate``) the naive
    model's block latencies cannot be scored; its ratios still are.
    """
    rows = _scored(rows)
    if not rows:
        return []
    measured_blocks = [row[f"{role}_geomean_seconds"] for row in rows for role in ("original", "factorized")]
    model_blocks = [row[f"model_{role}_seconds"] for row in rows for role in ("original", "factorized")]
    naive_blocks = (
        None
        if seconds_per_mac is None
        else [seconds_per_mac * row[f"macs_{role}"] for row in rows for role in ("original", "factorized")]
    )
    measured_ratios = [row["measured_ratio"] for row in rows]
    predictions = {
        "naive": (naive_blocks, [row["predicted_ratio"] for row in rows]),
        "latency": (model_blocks, [row["model_time_ratio"] for row in rows]),
    }
    table = []
    for model, (blocks, ratios) in predictions.items():
        if blocks is not None:
            table.append({"model": model, "quantity": "block latency", **accuracy(blocks, measured_blocks)})
        table.append({"model": model, "quantity": "time ratio", **accuracy(ratios, measured_ratios)})
    return table


def accuracy_summary(table: list[dict]) -> str:
    """The accuracy table as text."""
    from costmodel import render

    shown = [
        {
            "model": row["model"],
            "quantity": row["quantity"],
            "n": row["count"],
            "within ±10%": f"{row['within_10_percent']:.0%}",
            "within ±20%": f"{row['within_20_percent']:.0%}",
            "MdAPE": f"{row['median_absolute_percentage_error']:.1f}%",
        }
        for row in table
    ]
    return render.table(shown)
