"""How well a second measurement of the same configurations agrees with the stored one.

``validate retest`` measures a sample of a folder's configurations again and
scores them here; the report shows the scores from ``retest.json``.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path

from costmodel.jsonfile import load_json_file
from validate.results.schema import MEASURED_TABLES, MeasuredTable, SchemaError

RETEST_FILE = "retest.json"
#: The layout of ``retest.json``: ``{"schema": RETEST_SCHEMA, "version": RETEST_VERSION, "tables": [entry,
#: ...]}``, one entry per table as :func:`agreement` returns it.  A file without a version is the
#: first layout (the same entries, no header), read as version 0.
RETEST_SCHEMA = "validate.retest"
RETEST_VERSION = 1
#: Every entry has these; one that compared something has the scores too (:data:`SCORES`).
ENTRY_KEYS = ("table", "compared")
SCORES = (
    "inside_confidence_interval", "inside_rerun_interval", "within_5_percent", "within_10_percent",
    "median_absolute_change", "median_confidence_width", "median_rerun_width", "rows",
)  # fmt: skip
ROW_KEYS = ("config_key", "device", "stored", "low", "high", "rerun_low", "rerun_high", "retest")


def agreement(table: MeasuredTable, first: list[dict], second: dict[str, dict]) -> dict:
    """How well ``second`` (key -> row) reproduces ``first``: coverage, ±5%/±10%, interval widths."""
    value, (low, high), (rerun_low, rerun_high) = table.value, table.interval, table.rerun
    pairs = [(row, second[row["config_key"]]) for row in first if row["config_key"] in second]
    pairs = [(old, new) for old, new in pairs if not new["error"] and new[value]]
    if not pairs:
        return {"table": table.name, "compared": 0}
    changes = [new[value] / old[value] - 1 for old, new in pairs]
    rerun = [(old, new) for old, new in pairs if old[rerun_low] is not None]
    return {
        "table": table.name,
        "compared": len(pairs),
        "inside_confidence_interval": _share(old[low] <= new[value] <= old[high] for old, new in pairs),
        "inside_rerun_interval": _share(old[rerun_low] <= new[value] <= old[rerun_high] for old, new in rerun)
        if rerun
        else None,
        "within_5_percent": _share(abs(change) <= 0.05 for change in changes),
        "within_10_percent": _share(abs(change) <= 0.10 for change in changes),
        "median_absolute_change": statistics.median(abs(change) for change in changes),
        "median_confidence_width": _median_width([(old[low], old[high], old[value]) for old, _ in pairs]),
        "median_rerun_width": _median_width([(old[rerun_low], old[rerun_high], old[value]) for old, _ in rerun]),
        "rows": [
            {"config_key": old["config_key"], "device": old.get("device"), "stored": old[value],
             "low": old[low], "high": old[high],
             "rerun_low": old[rerun_low], "rerun_high": old[rerun_high], "retest": new[value]}
            for old, new in pairs
        ],
    }  # fmt: skip


def retest_document(results: list[dict]) -> dict:
    """What ``retest.json`` holds: the entries of :func:`agreement`, with the layout's name and version."""
    return {"schema": RETEST_SCHEMA, "version": RETEST_VERSION, "tables": results}


def read_retest(path: Path) -> dict:
    """A ``retest.json``, checked against its layout; a file of an unknown version or shape is refused.

    Raises
    ------
    SchemaError
        Naming the file and what is wrong with it.
    """
    document = load_json_file(path, what="retest results")
    version = document.get("version", 0) if isinstance(document, dict) else None
    if not isinstance(document, dict) or document.get("schema", RETEST_SCHEMA) != RETEST_SCHEMA:
        raise SchemaError(f"{path}: not a retest file ({RETEST_SCHEMA})")
    if version not in (0, RETEST_VERSION):
        raise SchemaError(f"{path}: retest file version {version!r} is not one this code reads (0, {RETEST_VERSION})")
    tables = document.get("tables")
    if not isinstance(tables, list):
        raise SchemaError(f"{path}: 'tables' must be a list")
    for number, entry in enumerate(tables, 1):
        where = f"{path}, table entry {number}"
        _require(entry, ENTRY_KEYS, where)
        if entry["table"] not in MEASURED_TABLES:
            raise SchemaError(f"{where}: unknown table {entry['table']!r}")
        if entry["compared"]:
            _require(entry, SCORES, where)
            for row in entry["rows"]:
                _require(row, ROW_KEYS, f"{where}, row")
    return {"schema": RETEST_SCHEMA, "version": RETEST_VERSION, "tables": tables}


def _require(entry: object, keys: tuple[str, ...], where: str) -> None:
    if not isinstance(entry, dict):
        raise SchemaError(f"{where}: expected an object, got {type(entry).__name__}")
    missing = [key for key in keys if key not in entry]
    if missing:
        raise SchemaError(f"{where}: missing {', '.join(missing)}")


#: The accuracy table's name for the measurement scored against itself.
TEST_RETEST = "test-retest"


def ceiling(retest: dict) -> list[dict]:
    """The test-retest rows of the accuracy table: the stored ratios "predicting" their rerun.

    No model can predict a rerun better than the first measurement does, so these figures are the
    ceiling a perfect latency model could reach on this machine (issue: a model's error is judged
    against the measurement's own).  One row per device of the retested rows of every table whose
    value the latency model predicts (``scored`` in its descriptor).
    """
    from costmodel.latency.calibration import accuracy

    rows = []
    for entry in retest.get("tables", []):
        table = MEASURED_TABLES.get(entry.get("table", ""))
        if table is None or not table.scored or not entry.get("compared"):
            continue
        devices = sorted({row["device"] for row in entry["rows"] if row.get("device")})
        for device in devices:
            pairs = [(row["stored"], row["retest"]) for row in entry["rows"] if row.get("device") == device]
            scores = accuracy([stored for stored, _ in pairs], [again for _, again in pairs])
            rows.append({"device": device, "model": TEST_RETEST, "quantity": "time ratio", **scores})
    return rows


def _median_width(intervals: list[tuple[float, float, float]]) -> float | None:
    """Median of (high - low) / value over the bounded intervals (one process, few samples: unbounded)."""
    widths = [(high - low) / value for low, high, value in intervals if math.isfinite(high - low)]
    return statistics.median(widths) if widths else None


def _share(flags) -> float:
    flags = list(flags)
    return sum(flags) / len(flags) if flags else math.nan


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
            + (f"{entry['median_confidence_width']:.1%}" if entry["median_confidence_width"] is not None else "-")
            + (f" (rerun {entry['median_rerun_width']:.1%})" if entry["median_rerun_width"] is not None else "")
        )
    return "\n".join(lines)
