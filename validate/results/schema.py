"""The one declaration of every stored table: its columns, their types, and the schema version.

Everything that writes or reads results (the runner, the store, the
summaries, the accuracy scores, the report) takes its columns and their types
from here, so a column is declared once.  Rows travel as dicts of Python
values (``int``, ``float``, ``bool``, ``str``, or ``None`` for "no value",
e.g. in an error row); text is only what the CSV files hold.

>>> row = FACTORIZATIONS.parse({"config_key": "k", "kernel": "5", "diverges": "True",
...                             "measured_ratio": "0.8"}, where="factorizations.csv line 2")
>>> row["kernel"], row["diverges"], row["measured_ratio"], row["model_time_ratio"], row["error"]
(5, True, 0.8, None, '')
>>> FACTORIZATIONS.format(row)["measured_ratio"], FACTORIZATIONS.format(row)["model_time_ratio"]
('0.8', '')
>>> SEED.parse({"filters": "sixteen"}, where="seed.csv line 3")
Traceback (most recent call last):
...
validate.results.schema.SchemaError: seed.csv line 3, column 'filters': expected a whole number, got 'sixteen'
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Literal

#: Version of the tables below, stored in every results folder's metadata.json.
#: Version 1 is the CSV-only layout written before this module existed (same
#: columns, no typed store); it is read and upgraded.  Bump this when a column
#: changes meaning or type.  Version 3: every measured value is combined over several worker
#: processes (``processes``, the rerun interval, ``process_errors``; samples name their ``process``);
#: a version 2 folder's rows were measured in one process and read with ``processes`` empty.
SCHEMA_VERSION = 3
KNOWN_VERSIONS = (1, 2, 3)

Kind = Literal["text", "int", "float", "bool"]
Value = str | int | float | bool | None

_TRUTH = {"true": True, "false": False, "1": True, "0": False}


class SchemaError(ValueError):
    """A stored value that does not have its column's type; the message says where."""


@dataclasses.dataclass(frozen=True)
class Column:
    """One column: its name and the kind of value it holds."""

    name: str
    kind: Kind = "text"

    def parse(self, text: str | None, where: str) -> Value:
        """The typed value of a CSV cell; an empty cell is ``""`` for text, else None."""
        text = "" if text is None else text.strip()
        if self.kind == "text":
            return text
        if text == "":
            return None
        try:
            if self.kind == "int":
                return int(text)
            if self.kind == "float":
                return float(text)
            return _TRUTH[text.lower()]
        except (ValueError, KeyError):
            expected = {"int": "a whole number", "float": "a number", "bool": "True or False"}[self.kind]
            raise SchemaError(f"{where}, column {self.name!r}: expected {expected}, got {text!r}") from None

    def check(self, value: object, where: str) -> Value:
        """``value`` as this column stores it, or a SchemaError naming the column."""
        if value is None or (self.kind == "text" and value == ""):
            return "" if self.kind == "text" else None
        if self.kind == "text":
            if not isinstance(value, str):
                raise SchemaError(f"{where}, column {self.name!r}: expected text, got {value!r}")
            return value
        if self.kind == "bool":
            if isinstance(value, bool):
                return value
        elif self.kind == "int":
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if hasattr(value, "__index__"):  # numpy and sympy integers
                return int(value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        elif hasattr(value, "__float__"):  # numpy floats, fractions
            return float(value)
        raise SchemaError(f"{where}, column {self.name!r}: expected {self.kind}, got {value!r}")

    def format(self, value: Value) -> str:
        """The CSV text of a value: floats round-trip exactly (``repr``), None is empty."""
        if value is None:
            return ""
        if isinstance(value, float):
            return repr(value) if math.isfinite(value) else str(value)
        return str(value)


@dataclasses.dataclass(frozen=True)
class Table:
    """A stored table: a name (its CSV is ``<name>.csv``) and its columns, in order."""

    name: str
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]

    @property
    def file_name(self) -> str:
        return f"{self.name}.csv"

    def kinds(self) -> dict[str, Kind]:
        return {column.name: column.kind for column in self.columns}

    def row(self, values: Mapping[str, object], where: str = "row") -> dict[str, Value]:
        """A complete typed row, in column order, from a partial dict (missing means no value).

        Raises
        ------
        SchemaError
            If ``values`` has a column this table lacks, or a value of the wrong type.
        """
        unknown = sorted(set(values) - set(self.column_names))
        if unknown:
            raise SchemaError(f"{where}: table {self.name!r} has no column(s) {unknown}")
        return {column.name: column.check(values.get(column.name), where) for column in self.columns}

    def parse(self, texts: Mapping[str, str | None], where: str) -> dict[str, Value]:
        """A typed row from CSV text; columns the text lacks (an older file) have no value."""
        return {column.name: column.parse(texts.get(column.name), where) for column in self.columns}

    def format(self, row: Mapping[str, Value]) -> dict[str, str]:
        """The CSV text of a typed row."""
        return {column.name: column.format(row.get(column.name)) for column in self.columns}


def _text(*names: str) -> list[Column]:
    return [Column(name, "text") for name in names]


def _ints(*names: str) -> list[Column]:
    return [Column(name, "int") for name in names]


def _floats(*names: str) -> list[Column]:
    return [Column(name, "float") for name in names]


def measurement_columns(prefix: str = "") -> list[Column]:
    """The statistics of one timed measurement (:class:`validate.harness.stats.Measurement`)."""
    statistics: tuple[tuple[str, Kind], ...] = (
        ("median_seconds", "float"), ("iqr_seconds", "float"), ("relative_iqr", "float"),
        ("ci_low_seconds", "float"), ("ci_high_seconds", "float"), ("noisy", "bool"),
        ("samples", "int"), ("calls_per_sample", "int"), ("stop_reason", "text"))
    return [Column(f"{prefix}{name}", kind) for name, kind in statistics]


CONFIG_KEY = "config_key"


def process_columns(rerun: tuple[str, str]) -> list[Column]:
    """How many worker processes a row combines, its rerun interval, and what the others lost."""
    return [Column("processes", "int"), *_floats(*rerun), Column("process_errors", "text")]


SEED = Table("seed", (
    *_text(CONFIG_KEY, "backend", "device", "mode", "layer_type"),
    *_ints("filters", "layers", "batch", "image"),
    *measurement_columns(),
    *_ints("macs"), *_floats("macs_ratio_vs_conv3x3"), *_ints("params", "flops"),
    *_text("flops_checked_by", "error"),
    *process_columns(("rerun_low_seconds", "rerun_high_seconds")),
))

FACTORIZATIONS = Table("factorizations", (
    *_text(CONFIG_KEY, "backend", "device", "mode", "case"), *_ints("kernel"), *_text("scheme"),
    *_ints("channels", "size", "batch", "repeats"), *_text("activation"),
    *_floats("predicted_ratio", "measured_ratio", "ratio_ci_low", "ratio_ci_high", "divergence"),
    Column("diverges", "bool"), Column("sign_flip", "bool"), *_text("verdict"),
    *_floats("model_time_ratio", "model_original_seconds", "model_factorized_seconds"), *_text("reason"),
    *_floats("predicted_params_ratio", "predicted_flops_ratio"), *_ints("macs_original", "macs_factorized"),
    *measurement_columns("original_"), *measurement_columns("factorized_"),
    *_ints("params_original", "params_factorized", "flops_original", "flops_factorized"),
    *_text("flops_checked_by"), *_floats("equivalence_max_error"), *_text("error"),
    *process_columns(("rerun_low", "rerun_high")),
))

#: One rewritten whole network (``validate network MODEL --apply RULES --measure``): its counts, the
#: cost model's and the latency model's ratios, and the measured end-to-end ratio at batch 1.
NETWORKS = Table("networks", (
    *_text(CONFIG_KEY, "backend", "device", "model"), *_ints("input_size"), *_floats("alpha"),
    *_text("rules"), *_ints("changes", "params_original", "params_rewritten", "macs_original", "macs_rewritten"),
    *_floats("macs_ratio", "params_ratio", "predicted_ratio", "measured_ratio", "ratio_ci_low", "ratio_ci_high"),
    *measurement_columns("original_"), *measurement_columns("rewritten_"),
    *_text("macs_checked_by", "error"),
))

SAMPLES = Table("samples", (*_text(CONFIG_KEY, "role"), *_ints("sample"), *_floats("seconds"), *_ints("process")))

ACCURACY = Table("accuracy", (
    *_text("device", "model", "quantity"), *_ints("count"),
    *_floats("within_10_percent", "within_20_percent", "median_absolute_percentage_error"),
))

#: The tables of measured configurations, by name: each row is one configuration.
MEASURED_TABLES = {table.name: table for table in (SEED, FACTORIZATIONS, NETWORKS)}
#: Every table the results store keeps.
STORED_TABLES = {**MEASURED_TABLES, SAMPLES.name: SAMPLES}


def check_version(version: object, source: str) -> int:
    """The schema version of a results folder, refusing one this code does not know."""
    if version is None:
        return 1
    if isinstance(version, int) and not isinstance(version, bool) and version in KNOWN_VERSIONS:
        return version
    raise SchemaError(f"{source}: results schema version {version!r} is not one this code reads "
                      f"({', '.join(map(str, KNOWN_VERSIONS))}); update the project or measure again")
