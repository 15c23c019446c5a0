"""The row the results keep for a configuration, from the rows of its worker processes.

Each worker process stored an ordinary row per configuration (its own ratio,
times and within-process intervals).  Here they become one row: the estimates
combined over processes with intervals that include the variation between
processes (:mod:`validate.harness.combine`), the verdict judged again on those
intervals, and the latency model's columns added.  The counts come from the
process that cross-checked them.  A process that failed on a configuration is
named in ``process_errors``; a configuration no process measured is an error
row.  Every raw sample is kept, with the process that took it.
"""

from __future__ import annotations

from collections.abc import Sequence

from costmodel.latency import DeviceProfile
from validate.experiments import runner
from validate.harness.combine import Combined, combine_processes
from validate.harness.stats import Measurement
from validate.results.divergence import judge

#: The timed quantities of each table: (column prefix, sample role).
TIMED = {"seed": (("", "network"),), "factorizations": (("original_", "original"), ("factorized_", "factorized"))}
#: The rerun interval's columns, per table.
RERUN = {"seed": ("rerun_low_seconds", "rerun_high_seconds"), "factorizations": ("rerun_low", "rerun_high")}


def pool(
    table: str,
    plan: Sequence,
    process_rows: Sequence[dict[str, dict]],
    process_samples: Sequence[Sequence[dict]],
    *,
    profiles: dict[str, DeviceProfile] | None = None,
) -> list[runner.Outcome]:
    """One outcome per configuration of ``plan``, from every process's rows and samples.

    ``process_rows[k]`` maps config keys to process k+1's row; ``process_samples[k]``
    is its samples.  The statistics are combined over all configurations at once
    (their variances inform one another; see :mod:`validate.harness.combine`).
    """
    measured = {
        config.key: [(k + 1, rows[config.key]) for k, rows in enumerate(process_rows) if config.key in rows]
        for config in plan
    }
    good = {key: [(k, row) for k, row in rows if not row.get("error")] for key, rows in measured.items()}
    combined = {
        prefix: combine_processes(
            {key: [row[f"{prefix}median_seconds"] for _, row in rows] for key, rows in good.items() if rows}
        )
        for prefix, _ in TIMED[table]
    }
    if table == "factorizations":
        combined["ratio"] = combine_processes(
            {key: [row["measured_ratio"] for _, row in rows] for key, rows in good.items() if rows}
        )
    samples: dict[str, list[dict]] = {}
    for k, process in enumerate(process_samples):
        for sample in process:
            samples.setdefault(sample["config_key"], []).append({**sample, "process": k + 1})
    outcomes = []
    for config in plan:
        failed = [(k, row["error"]) for k, row in measured[config.key] if row.get("error")]
        errors = [f"process {k}: {error}" for k, error in failed]
        missing = [k + 1 for k, rows in enumerate(process_rows) if config.key not in rows]
        errors += [f"process {k}: no row (it stopped before this configuration)" for k in missing]
        checked_failed = any(runner.is_cross_check_failure(error) for _, error in failed)
        rows = good[config.key]
        if not rows or checked_failed:
            reason = "; ".join(errors) or "no process measured it"
            row = runner.identity(config) | {"error": reason[:1000], "processes": len(rows)}
            outcomes.append(runner.Outcome(row, [], check_failed=checked_failed))
            continue
        row = _pooled_row(table, config, rows, samples.get(config.key, []), combined, profiles or {})
        row["process_errors"] = "; ".join(errors)[:1000]
        outcomes.append(runner.Outcome(row, samples.get(config.key, [])))
    return outcomes


def _pooled_row(
    table: str, config, rows: list[tuple[int, dict]], samples: list[dict], combined: dict, profiles
) -> dict:
    checked = [row for _, row in rows if row.get("params") is not None or row.get("params_original") is not None]
    row = dict(checked[0] if checked else rows[0][1])
    if not checked:
        row["flops_checked_by"] = "not checked: the cross-checking process failed on this configuration"
    row["processes"] = len(rows)
    for prefix, role in TIMED[table]:
        _set_measurement(
            row, prefix, [s["seconds"] for s in samples if s["role"] == role], combined[prefix].get(config.key)
        )
    low_name, high_name = RERUN[table]
    if table == "seed":
        estimate = combined[""].get(config.key)
        row[low_name], row[high_name] = (estimate.rerun_low, estimate.rerun_high) if estimate else (None, None)
        return row
    ratio: Combined | None = combined["ratio"].get(config.key)
    row[low_name] = row[high_name] = None  # one process: no rerun interval can be known
    if ratio is not None:
        row["measured_ratio"], row["ratio_ci_low"], row["ratio_ci_high"] = ratio.estimate, ratio.low, ratio.high
        row[low_name], row[high_name] = ratio.rerun_low, ratio.rerun_high
    verdict = judge(config.predicted_ratio(), row["measured_ratio"], row["ratio_ci_low"], row["ratio_ci_high"])
    row |= verdict.as_row() | runner.model_columns(config, profiles.get(config.device), verdict.diverges)
    return row


def _set_measurement(row: dict, prefix: str, seconds: list[float], estimate: Combined | None) -> None:
    """Spread (IQR) over every process's samples; median and interval combined over processes."""
    if seconds:
        pooled = Measurement(
            prefix.rstrip("_") or "network",
            tuple(seconds),
            row.get(f"{prefix}stop_reason") or "",
            row.get(f"{prefix}calls_per_sample") or 1,
        )
        row |= runner.measurement_columns(pooled, prefix)
    if estimate is not None:
        row[f"{prefix}median_seconds"] = estimate.estimate
        row[f"{prefix}ci_low_seconds"], row[f"{prefix}ci_high_seconds"] = estimate.low, estimate.high
