"""Scores of the whole-network latency model on measured ``networks`` rows, and of the advisor's ranking.

* **seconds**: each row's predicted seconds of the original and of the
  rewritten network against their measured ones (the geometric mean over the
  worker processes of each process's median), and the share of predictions
  inside the measurement's 95% interval (±10% means little where that
  interval is wider);
* **ratios**: the predicted time ratio, rewritten / original, against the
  measured one;
* **advisor**: per network (model, width, input size, device), the options are
  "leave as is" (ratio 1) and each measured rewrite; the predicted first choice
  is the lowest predicted ratio, the measured one the lowest measured ratio.
  The first choice is *decided* when the measured best and second best are
  apart beyond their intervals (a rerun interval where there is one, else the
  95% interval; "leave as is" has none); top-1 agreement is counted on the
  decided networks.  Rank correlation is Spearman's, over every option.

>>> rows = [{"model": "m", "alpha": None, "input_size": 8, "device": "cpu", "rules": "fuse",
...          "predicted_original_seconds": 1.0, "original_geomean_seconds": 1.05,
...          "predicted_rewritten_seconds": 2.0, "rewritten_geomean_seconds": 1.8,
...          "predicted_ratio": 2.0, "measured_ratio": 1.71, "ratio_ci_low": 1.7, "ratio_ci_high": 1.72}]
>>> scores = score(rows)
>>> scores["seconds"]["count"], scores["advisor"]["decided"], scores["advisor"]["top1_agreement"]
(2, 1, 1.0)
"""

from __future__ import annotations

import numpy as np

from costmodel.latency.calibration import accuracy

AS_IS = "leave as is"


def _usable(row: dict, *columns: str) -> bool:
    return all(isinstance(row.get(column), (int, float)) and row[column] == row[column] for column in columns)


def _present(value):
    """None for a missing cell, whether the row came from the store (None) or from pandas (NaN)."""
    return None if value is None or value != value else value


def _network(row: dict) -> tuple:
    return (row["model"], _present(row.get("alpha")), _present(row.get("input_size")), row["device"])


def _interval(row: dict) -> tuple[float, float]:
    if _usable(row, "rerun_low", "rerun_high"):
        return row["rerun_low"], row["rerun_high"]
    return row["ratio_ci_low"], row["ratio_ci_high"]


def _spearman(first: list[float], second: list[float]) -> float | None:
    if len(first) < 3:
        return None
    ranks = [np.argsort(np.argsort(values)).astype(float) for values in (first, second)]
    if ranks[0].std() == 0 or ranks[1].std() == 0:
        return None
    return float(np.corrcoef(ranks[0], ranks[1])[0, 1])


def advisor(rows: list[dict]) -> dict:
    """Per network, the predicted and measured first choice among "leave as is" and its rewrites."""
    grouped: dict[tuple, list[dict]] = {}
    for row in rows:
        if _usable(row, "predicted_ratio", "measured_ratio", "ratio_ci_low", "ratio_ci_high"):
            grouped.setdefault(_network(row), []).append(row)
    networks, predicted_all, measured_all = [], [], []
    for key, group in grouped.items():
        options = [(AS_IS, 1.0, 1.0, (1.0, 1.0))] + [
            (row["rules"], row["predicted_ratio"], row["measured_ratio"], _interval(row)) for row in group
        ]
        by_measured = sorted(options, key=lambda option: option[2])
        best, second = by_measured[0], by_measured[1]
        predicted_best = min(options, key=lambda option: option[1])[0]
        decided = best[3][1] < second[3][0]
        networks.append({
            "network": " ".join(str(part) for part in key if part is not None),
            "options": len(options),
            "predicted_first": predicted_best,
            "measured_first": best[0],
            "decided": decided,
            "agrees": predicted_best == best[0],
        })  # fmt: skip
        predicted_all.append([option[1] for option in options])
        measured_all.append([option[2] for option in options])
    decided = [network for network in networks if network["decided"]]
    computed = [_spearman(p, m) for p, m in zip(predicted_all, measured_all, strict=True)]
    correlations = [value for value in computed if value is not None]
    return {
        "networks": networks,
        "decided": len(decided),
        "top1_agreement": float(np.mean([n["agrees"] for n in decided])) if decided else None,
        "top1_agreement_all": float(np.mean([n["agrees"] for n in networks])) if networks else None,
        "rank_correlation": float(np.mean(correlations)) if correlations else None,
    }


def seconds_pairs(rows: list[dict]) -> list[dict]:
    """Each network measured, original and rewritten: predicted and measured seconds, and its error."""
    pairs = []
    for row in rows:
        for role in ("original", "rewritten"):
            if not _usable(row, f"predicted_{role}_seconds", f"{role}_geomean_seconds"):
                continue
            predicted, measured = float(row[f"predicted_{role}_seconds"]), float(row[f"{role}_geomean_seconds"])
            name = " ".join(str(part) for part in _network(row)[:3] if part is not None)
            pairs.append({
                "network": name if role == "original" else f"{name} {row['rules']}",
                "predicted_seconds": predicted,
                "measured_seconds": measured,
                "measured_low": row.get(f"{role}_ci_low_seconds"),
                "measured_high": row.get(f"{role}_ci_high_seconds"),
                "error": predicted / measured - 1,
                "extrapolation": row.get("extrapolation") or "",
            })  # fmt: skip
    # One network measured beside several rewrites is one network: its original counted once (the first).
    seen, unique = set(), []
    for pair in pairs:
        if pair["network"] not in seen:
            seen.add(pair["network"])
            unique.append(pair)
    return unique


def score(rows: list[dict]) -> dict:
    """Accuracy of seconds and ratios, the worst network, and the advisor's agreement."""
    pairs = seconds_pairs(rows)
    ratios = [row for row in rows if _usable(row, "predicted_ratio", "measured_ratio")]
    result: dict = {"pairs": pairs, "advisor": advisor(rows)}
    result["seconds"] = (
        accuracy([p["predicted_seconds"] for p in pairs], [p["measured_seconds"] for p in pairs]) if pairs else None
    )
    result["ratios"] = (
        accuracy([r["predicted_ratio"] for r in ratios], [r["measured_ratio"] for r in ratios]) if ratios else None
    )
    result["worst"] = max(pairs, key=lambda pair: abs(pair["error"])) if pairs else None
    # A prediction within ±10% is only decidable where the measurement's own interval is narrower than that.
    bounded = [pair for pair in pairs if _usable(pair, "measured_low", "measured_high")]
    result["inside_interval"] = (
        float(np.mean([p["measured_low"] <= p["predicted_seconds"] <= p["measured_high"] for p in bounded]))
        if bounded else None
    )  # fmt: skip
    result["interval_half_width"] = (
        float(np.median([(p["measured_high"] - p["measured_low"]) / 2 / p["measured_seconds"] for p in bounded]))
        if bounded else None
    )  # fmt: skip
    return result


def render(scores: dict) -> str:
    """The scores as the command prints them."""
    lines = []
    for pair in scores["pairs"]:
        lines.append(
            f"  {pair['network']}: predicted {pair['predicted_seconds'] * 1e3:.2f} ms, measured "
            f"{pair['measured_seconds'] * 1e3:.2f} ms ({pair['error']:+.1%})"
        )
    for name, label in (("seconds", "whole-network seconds"), ("ratios", "rewrite time ratios")):
        figures = scores[name]
        if figures:
            lines.append(
                f"{label}: {figures['within_10_percent']:.0%} within ±10%, {figures['within_20_percent']:.0%} "
                f"within ±20%, median error {figures['median_absolute_percentage_error']:.1f}% "
                f"({figures['count']} measured)"
            )
    if scores["inside_interval"] is not None:
        lines.append(
            f"predicted seconds inside the measured 95% interval: {scores['inside_interval']:.0%} (the intervals' "
            f"median half-width ±{scores['interval_half_width']:.0%} of the measurement)"
        )
    advice = scores["advisor"]
    if advice["networks"]:
        agreement = "n/a" if advice["top1_agreement"] is None else f"{advice['top1_agreement']:.0%}"
        correlation = "n/a" if advice["rank_correlation"] is None else f"{advice['rank_correlation']:.2f}"
        lines.append(
            f"advisor: first choice agrees with the measured fastest on {agreement} of the {advice['decided']} "
            f"network(s) where the measurement decides it ({len(advice['networks'])} in all); "
            f"mean rank correlation {correlation}"
        )
    return "\n".join(lines) if lines else "no measured network with a prediction"
