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

from collections.abc import Callable, Sequence

from validate.experiments import runner
from validate.harness.combine import Combined, combine_processes
from validate.harness.stats import Measurement
from validate.results.schema import MeasuredTable, Timed

#: What an experiment adds to a combined row once its value is known (a verdict, the latency
#: model's columns): ``finish(config, row) -> columns``.
Finish = Callable[[object, dict], dict]


def pool(
    table: MeasuredTable,
    plan: Sequence,
    process_rows: Sequence[dict[str, dict]],
    process_samples: Sequence[Sequence[dict]],
    *,
    finish: Finish | None = None,
) -> list[runner.Outcome]:
    """One outcome per configuration of ``plan``, from every process's rows and samples.

    ``process_rows[k]`` maps config keys to process k+1's row; ``process_samples[k]``
    is its samples.  The statistics are combined over all configurations at once
    (their variances inform one another; see :mod:`validate.harness.combine`).
    What is combined, and into which columns, is the table's descriptor's.
    """
    measured = {
        config.key: [(k + 1, rows[config.key]) for k, rows in enumerate(process_rows) if config.key in rows]
        for config in plan
    }
    good = {key: [(k, row) for k, row in rows if not row.get("error")] for key, rows in measured.items()}
    # Each timed quantity's time, and a ratio's value from each process's own (interleaved) ratio.
    quantities = [timed.seconds for timed in table.timed] + ([table.value] if table.is_ratio else [])
    combined = {
        column: combine_processes({key: [row[column] for _, row in rows] for key, rows in good.items() if rows})
        for column in quantities
    }
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
        row = _pooled_row(table, config, rows, samples.get(config.key, []), combined)
        if finish is not None:
            row |= finish(config, row)
        row["process_errors"] = "; ".join(errors)[:1000]
        outcomes.append(runner.Outcome(row, samples.get(config.key, [])))
    return outcomes


def _pooled_row(table: MeasuredTable, config, rows: list[tuple[int, dict]], samples: list[dict], combined) -> dict:
    checked = [row for _, row in rows if row.get(table.checked_count) is not None]
    row = dict(checked[0] if checked else rows[0][1])
    if not checked:
        row[table.checked_by] = "not checked: the cross-checking process failed on this configuration"
    row["processes"] = len(rows)
    for timed in table.timed:
        _set_measurement(
            row,
            timed,
            [s["seconds"] for s in samples if s["role"] == timed.role],
            combined[timed.seconds].get(config.key),
        )
    low, high = table.interval
    rerun_low, rerun_high = table.rerun
    value: Combined | None = combined[table.value].get(config.key)
    row[rerun_low] = row[rerun_high] = None  # one process: no rerun interval can be known
    if value is not None:
        row[table.value], row[low], row[high] = value.estimate, value.low, value.high
        row[rerun_low], row[rerun_high] = value.rerun_low, value.rerun_high
    return row


def _set_measurement(row: dict, timed: Timed, seconds: list[float], estimate: Combined | None) -> None:
    """Spread (IQR) over every process's samples; the time and its interval combined over processes."""
    prefix = timed.prefix
    if seconds:
        pooled = Measurement(
            timed.role, tuple(seconds), row.get(f"{prefix}stop_reason") or "", row.get(f"{prefix}calls_per_sample") or 1
        )
        row |= runner.measurement_columns(pooled, prefix)
    if estimate is not None:
        row[timed.seconds] = estimate.estimate
        row[f"{prefix}ci_low_seconds"], row[f"{prefix}ci_high_seconds"] = estimate.low, estimate.high
