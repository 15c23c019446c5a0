"""``validate retest RESULTS_DIR``: measure stored configurations again, and say how well they agree.

A sample of the folder's configurations is measured again exactly as it was
measured the first time (the stored command, with its preset, processes and
budget), in fresh worker processes, into ``RESULTS_DIR/retest``.  Then, per
table, the share of re-measured values that fall inside

* the stored 95% confidence interval (an honest interval holds a rerun of
  equal size about 83% of the time: both estimates carry error), and
* the stored 95% rerun interval (built to hold a rerun 95% of the time),

the share within ±5% and ±10% of the stored value, and the median relative
width of both intervals (an interval that covers everything says nothing).
The figures are printed and written to ``RESULTS_DIR/retest.json``, which the
report shows.
"""

from __future__ import annotations

import json
import math
import random
import shlex
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

from validate.results.store import ResultStore, StoreCorruptError, read_database, read_metadata

RETEST_FOLDER = "retest"
RETEST_FILE = "retest.json"
KEYS_FILE = "retest-keys.txt"

#: Per table: the measured value, its confidence and rerun interval columns.
VALUES = {
    "factorizations": ("measured_ratio", ("ratio_ci_low", "ratio_ci_high"), ("rerun_low", "rerun_high")),
    "seed": ("median_seconds", ("ci_low_seconds", "ci_high_seconds"), ("rerun_low_seconds", "rerun_high_seconds")),
}


class RetestError(ValueError):
    """A folder that cannot be retested here; the message says why."""


def stored_rows(folder: Path, table: str) -> list[dict]:
    """The folder's successful rows of ``table`` (none when it has no such table)."""
    try:
        return [row for row in read_database(folder, table) if not row["error"] and row[VALUES[table][0]]]
    except StoreCorruptError:
        return []


def stored_command(metadata: dict, table: str) -> list[str]:
    """The arguments of the last run in the folder that measured ``table``."""
    for run in reversed(metadata.get("runs") or []):
        words = shlex.split(str(run.get("command", "")))
        if words[1:2] == [table] and "--worker" not in words:
            return words[1:]
    raise RetestError(f"no run in the folder's metadata.json measured {table}; cannot tell how to measure it again")


def choose(rows: list[dict], count: int, seed: int) -> list[dict]:
    """A reproducible random sample of ``count`` rows (all of them if there are fewer)."""
    rows = sorted(rows, key=lambda row: row["config_key"])
    return rows if count >= len(rows) else random.Random(seed).sample(rows, count)


def agreement(table: str, first: list[dict], second: dict[str, dict]) -> dict:
    """How well ``second`` (key -> row) reproduces ``first``: coverage, ±5%/±10%, interval widths."""
    value, (low, high), (rerun_low, rerun_high) = VALUES[table]
    pairs = [(row, second[row["config_key"]]) for row in first if row["config_key"] in second]
    pairs = [(old, new) for old, new in pairs if not new["error"] and new[value]]
    if not pairs:
        return {"table": table, "compared": 0}
    changes = [new[value] / old[value] - 1 for old, new in pairs]
    rerun = [(old, new) for old, new in pairs if old[rerun_low] is not None]
    return {
        "table": table,
        "compared": len(pairs),
        "inside_confidence_interval": _share(old[low] <= new[value] <= old[high] for old, new in pairs),
        "inside_rerun_interval": _share(old[rerun_low] <= new[value] <= old[rerun_high] for old, new in rerun)
        if rerun
        else None,
        "within_5_percent": _share(abs(change) <= 0.05 for change in changes),
        "within_10_percent": _share(abs(change) <= 0.10 for change in changes),
        "median_absolute_change": statistics.median(abs(change) for change in changes),
        "median_confidence_width": statistics.median((old[high] - old[low]) / old[value] for old, _ in pairs),
        "median_rerun_width": statistics.median((old[rerun_high] - old[rerun_low]) / old[value] for old, _ in rerun)
        if rerun
        else None,
        "rows": [
            {"config_key": old["config_key"], "stored": old[value], "low": old[low], "high": old[high],
             "rerun_low": old[rerun_low], "rerun_high": old[rerun_high], "retest": new[value]}
            for old, new in pairs
        ],
    }  # fmt: skip


def _share(flags) -> float:
    flags = list(flags)
    return sum(flags) / len(flags) if flags else math.nan


def retest(folder: Path, *, sample: int, seed: int, tables: tuple[str, ...], store_metadata: dict) -> list[dict]:
    """Measure a sample of each table's stored configurations again; the agreement per table.

    ``store_metadata`` is this machine's (``{"machine": ..., ...}``): opening the folder with it
    refuses results measured on another machine before anything is measured.  The folder stays
    locked meanwhile, and ``retest.json`` is written into it at the end.
    """
    metadata = read_metadata(folder)
    rows = {table: stored_rows(folder, table) for table in tables}
    if metadata is None or not any(rows.values()):
        raise RetestError(f"{folder} holds no measured results to retest ({', '.join(tables)})")
    # A folder of another machine is refused here, naming what differs.
    with ResultStore(folder, store_metadata, resume=True) as store:
        out = folder / RETEST_FOLDER
        shutil.rmtree(out, ignore_errors=True)  # each retest starts afresh, in a folder of its own
        results = []
        for table in tables:
            if not rows[table]:
                continue
            chosen = choose(rows[table], sample, seed)
            command = stored_command(metadata, table)
            out.mkdir(parents=True, exist_ok=True)
            keys = out / f"{table}-{KEYS_FILE}"
            keys.write_text("".join(f"{row['config_key']}\n" for row in chosen), encoding="utf-8")
            argv = [*command, "--out", str(out / table), "--keys", str(keys)]
            print(f"retest: measuring {len(chosen)} {table} configuration(s) again", file=sys.stderr)
            done = subprocess.run([sys.executable, "-m", "validate", *argv], stdout=subprocess.DEVNULL, check=False)
            if done.returncode not in (0, 1):  # 1: a cross-check failed; its row is an error, not compared
                raise RetestError(
                    f"measuring again (validate {shlex.join(argv)}) failed with exit status {done.returncode}"
                )
            again = {str(row["config_key"]): row for row in read_database(out / table, table)}
            results.append(agreement(table, chosen, again))
        store.write_file(RETEST_FILE, json.dumps({"tables": results}, indent=2, allow_nan=False) + "\n")
    return results


def summary(results: list[dict]) -> str:
    """The agreement per table, a few lines."""
    lines = []
    for entry in results:
        if not entry["compared"]:
            lines.append(f"{entry['table']}: nothing could be compared")
            continue
        rerun = entry["inside_rerun_interval"]
        lines.append(
            f"{entry['table']}: {entry['compared']} configuration(s) measured again; "
            f"inside the stored 95% interval {entry['inside_confidence_interval']:.0%}"
            + (f", inside the rerun interval {rerun:.0%}" if rerun is not None else "")
            + f"; within ±5% {entry['within_5_percent']:.0%}, within ±10% {entry['within_10_percent']:.0%}; "
            f"median change {entry['median_absolute_change']:.1%}; median interval width "
            f"{entry['median_confidence_width']:.1%}"
            + (f" (rerun {entry['median_rerun_width']:.1%})" if entry["median_rerun_width"] is not None else "")
        )
    return "\n".join(lines)


def main_retest(args, argv: list[str]) -> int:
    """``validate retest``: select the folder's backend, measure again, print and store the agreement."""
    from validate.frameworks import backends

    metadata = read_metadata(args.results)
    if metadata is None:
        raise RetestError(f"{args.results} holds no measured results to retest (no metadata.json)")
    name = str((metadata.get("machine") or {}).get("backend", "tensorflow"))
    backends.select_keras_backend(name)
    backend = backends.get_backend(name)
    from validate.experiments.session import machine_metadata
    from validate.results.environment import run_info

    store_metadata = {"machine": machine_metadata(backend), **run_info(["validate", *argv], {})}
    tables = tuple(table for table in args.tables if table in VALUES)
    results = retest(args.results, sample=args.sample, seed=args.seed, tables=tables, store_metadata=store_metadata)
    print(summary(results))
    print(f"retest: {(args.results / RETEST_FILE).resolve()}")
    return 0
