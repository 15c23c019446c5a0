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
from collections.abc import Callable, Mapping
from typing import Literal

#: Version of the tables below, stored in every results folder's metadata.json.
#: Version 1 is the CSV-only layout written before this module existed (same
#: columns, no typed store); it is read and upgraded.  Bump this when a column
#: changes meaning or type.  Version 3: every measured value is combined over several worker
#: processes (``processes``, the rerun interval, ``process_errors``; samples name their ``process``);
#: a version 2 folder's rows were measured in one process and read with ``processes`` empty.
#: Version 4: the combined time is named for what it is, ``*_geomean_seconds`` (the geometric mean
#: of the processes' medians; it was ``*_median_seconds``), a case's scheme options have a column
#: of their own, and network rows are combined over processes too.  Older folders are read with
#: their columns renamed (:attr:`Column.formerly`).  Version 5: a network row's ``predicted_ratio``
#: is the whole network's (it was its convolutions' alone), beside the predicted seconds of both
#: networks and why they extrapolate; older rows keep their conv-only ratio.  Version 6: rows record
#: their thread count, what a converting runtime (LiteRT) made of each timed model (its operators, the
#: nodes its delegate took, its output's error against Keras and that error's bound) and the row's
#: flag when a bound is passed; network rows name their mode.  Older rows have these empty.
SCHEMA_VERSION = 6
KNOWN_VERSIONS = (1, 2, 3, 4, 5, 6)

Kind = Literal["text", "int", "float", "bool"]
Value = str | int | float | bool | None

_TRUTH = {"true": True, "false": False, "1": True, "0": False}


class SchemaError(ValueError):
    """A stored value that does not have its column's type; the message says where."""


@dataclasses.dataclass(frozen=True)
class Column:
    """One column: its name, the kind of value it holds, and how rows of older versions fill it.

    ``formerly`` are the names it had; ``fill``, when given, is its value in a row that has none
    (a row of a version before the column), from the row's other columns.
    """

    name: str
    kind: Kind = "text"
    formerly: tuple[str, ...] = ()
    fill: Callable[[Mapping[str, Value]], Value] | None = dataclasses.field(default=None, compare=False)

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
        elif isinstance(value, (int, float)) and not isinstance(value, bool) or hasattr(value, "__float__"):
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
        return self.filled({column.name: column.check(values.get(column.name), where) for column in self.columns})

    def parse(self, texts: Mapping[str, str | None], where: str) -> dict[str, Value]:
        """A typed row from CSV text; columns the text lacks (an older file) have no value.

        A column an older version named otherwise is read from its former name.
        """
        return self.filled({column.name: column.parse(_text_of(texts, column), where) for column in self.columns})

    def filled(self, row: dict[str, Value]) -> dict[str, Value]:
        """``row`` with the columns an older version lacked filled in (:attr:`Column.fill`)."""
        for column in self.columns:
            if column.fill is not None and row.get(column.name) in (None, ""):
                row[column.name] = column.fill(row)
        return row

    def renamed(self) -> dict[str, str]:
        """Former column name -> current name, for reading older folders."""
        return {old: column.name for column in self.columns for old in column.formerly}

    def format(self, row: Mapping[str, Value]) -> dict[str, str]:
        """The CSV text of a typed row."""
        return {column.name: column.format(row.get(column.name)) for column in self.columns}


def _text_of(texts: Mapping[str, str | None], column: Column) -> str | None:
    for name in (column.name, *column.formerly):
        if name in texts:
            return texts[name]
    return None


@dataclasses.dataclass(frozen=True)
class Timed:
    """One timed quantity of a measured row: its columns' prefix and the role of its raw samples."""

    prefix: str
    role: str

    @property
    def seconds(self) -> str:
        """The column of its combined time: the geometric mean of every process's median."""
        return f"{self.prefix}{GEOMEAN_SECONDS}"


@dataclasses.dataclass(frozen=True)
class MeasuredTable(Table):
    """A table of measured configurations, and everything that is done with it, declared once.

    Pooling over processes, the test-retest agreement, ``validate retest``, the runner's timed
    seconds, the session and the report's loader all read this, never a table's name.

    Attributes
    ----------
    config_type : str
        The class of :mod:`validate.experiments.plans` whose configurations it holds (one row each).
    timed : tuple of Timed
        Its timed quantities.  With two, the row's value is the ratio second / first, measured
        interleaved, and combined over processes from each process's own ratio.
    value, interval, rerun : str, (str, str), (str, str)
        The measured value's column, its 95% confidence interval's, and its rerun interval's.
    commands, measuring_options : tuple of str
        The ``validate`` commands that measure it, and the options such a command needs to (``retest``
        measures it again with the stored command).
    scored : bool
        Whether the latency model's prediction of its value is scored in the accuracy tables (and
        the test-retest ceiling is given beside it).
    checked_count, checked_by : str
        A count only the cross-checking process fills in (the others leave it empty), and the column
        that says how the counts were checked.
    """

    config_type: str = ""
    timed: tuple[Timed, ...] = ()
    value: str = ""
    interval: tuple[str, str] = ("", "")
    rerun: tuple[str, str] = ("", "")
    commands: tuple[str, ...] = ()
    measuring_options: tuple[str, ...] = ()
    scored: bool = False
    checked_count: str = ""
    checked_by: str = ""

    @property
    def is_ratio(self) -> bool:
        return len(self.timed) == 2


def _options_of_case(row: Mapping[str, Value]) -> str:
    """The options a case's name holds ('3x3 stack,m=2' -> 'm=2'): rows before version 4 had only the name.

    >>> _options_of_case({"case": "3x3 stack,m=2"}), _options_of_case({"case": "5x5 stack"})
    ('m=2', '')
    """
    return str(row.get("case") or "").partition(",")[2]


def _text(*names: str) -> list[Column]:
    return [Column(name, "text") for name in names]


def _ints(*names: str) -> list[Column]:
    return [Column(name, "int") for name in names]


def _floats(*names: str) -> list[Column]:
    return [Column(name, "float") for name in names]


#: The combined time of a timed quantity: the geometric mean, over the row's processes, of each
#: process's median (one process: its median).  Version 3 called it ``median_seconds``.
GEOMEAN_SECONDS = "geomean_seconds"


def measurement_columns(prefix: str = "") -> list[Column]:
    """The statistics of one timed quantity (:class:`validate.harness.stats.Measurement`, combined).

    ``geomean_seconds`` and ``ci_*`` are combined over processes; ``iqr_seconds`` and
    ``relative_iqr`` are the spread of every process's samples together.
    """
    statistics: tuple[tuple[str, Kind], ...] = (
        (GEOMEAN_SECONDS, "float"),
        ("iqr_seconds", "float"),
        ("relative_iqr", "float"),
        ("ci_low_seconds", "float"),
        ("ci_high_seconds", "float"),
        ("noisy", "bool"),
        ("samples", "int"),
        ("calls_per_sample", "int"),
        ("stop_reason", "text"),
    )
    return [
        Column(f"{prefix}{name}", kind, (f"{prefix}median_seconds",) if name == GEOMEAN_SECONDS else ())
        for name, kind in statistics
    ]


CONFIG_KEY = "config_key"
#: The row's flag when a converted model's output error passes its bound (int8 quantization error).
OUTPUT_CHECK = "output_check"


def runtime_columns(*prefixes: str) -> list[Column]:
    """The threads a row ran with, and what a converting runtime made of each of its timed models.

    Per timed model (its prefix): the operators it runs (``CONV_2D x4``), the nodes the delegate
    took (``4/4``), and its output's error against the Keras model's with that error's bound; then
    the row's :data:`OUTPUT_CHECK` flag.  Empty on a backend that runs the Keras model itself.
    """
    per_model = [
        column
        for prefix in prefixes
        for column in (
            *_text(f"{prefix}operators", f"{prefix}delegated_nodes"),
            *_floats(f"{prefix}output_error", f"{prefix}output_error_bound"),
        )
    ]
    return [Column("threads", "int"), *per_model, Column(OUTPUT_CHECK, "text")]


def process_columns(rerun: tuple[str, str]) -> list[Column]:
    """How many worker processes a row combines, its rerun interval, and what the others lost."""
    return [Column("processes", "int"), *_floats(*rerun), Column("process_errors", "text")]


SEED_NETWORK = Timed("", "network")
SEED = MeasuredTable(
    "seed",
    (
        *_text(CONFIG_KEY, "backend", "device", "mode", "layer_type"),
        *_ints("filters", "layers", "batch", "image"),
        *measurement_columns(),
        *_ints("macs"),
        *_floats("macs_ratio_vs_conv3x3"),
        *_ints("params", "flops"),
        *_text("flops_checked_by", "error"),
        *runtime_columns(""),
        *process_columns(("rerun_low_seconds", "rerun_high_seconds")),
    ),
    config_type="SeedConfig",
    timed=(SEED_NETWORK,),
    value=SEED_NETWORK.seconds,
    interval=("ci_low_seconds", "ci_high_seconds"),
    rerun=("rerun_low_seconds", "rerun_high_seconds"),
    commands=("seed", "sweep"),
    checked_count="params",
    checked_by="flops_checked_by",
)

FACTORIZATIONS = MeasuredTable(
    "factorizations",
    (
        *_text(CONFIG_KEY, "backend", "device", "mode", "case"),
        *_ints("kernel"),
        *_text("scheme"),
        Column("options", "text", fill=_options_of_case),
        *_ints("channels", "size", "batch", "repeats"),
        *_text("activation"),
        *_floats("predicted_ratio", "measured_ratio", "ratio_ci_low", "ratio_ci_high", "divergence"),
        Column("diverges", "bool"),
        Column("sign_flip", "bool"),
        *_text("verdict"),
        *_floats("model_time_ratio", "model_original_seconds", "model_factorized_seconds"),
        *_text("reason"),
        *_floats("predicted_params_ratio", "predicted_flops_ratio"),
        *_ints("macs_original", "macs_factorized"),
        *measurement_columns("original_"),
        *measurement_columns("factorized_"),
        *_ints("params_original", "params_factorized", "flops_original", "flops_factorized"),
        *_text("flops_checked_by"),
        *_floats("equivalence_max_error"),
        *_text("error"),
        *runtime_columns("original_", "factorized_"),
        *process_columns(("rerun_low", "rerun_high")),
    ),
    config_type="FactorizationConfig",
    timed=(Timed("original_", "original"), Timed("factorized_", "factorized")),
    value="measured_ratio",
    interval=("ratio_ci_low", "ratio_ci_high"),
    rerun=("rerun_low", "rerun_high"),
    commands=("factorizations", "sweep"),
    scored=True,
    checked_count="params_original",
    checked_by="flops_checked_by",
)

#: One rewritten whole network (``validate network MODEL --apply RULES --measure``): its counts, the
#: cost model's and the latency model's ratios, and the measured end-to-end ratio at batch 1.
NETWORKS = MeasuredTable(
    "networks",
    (
        *_text(CONFIG_KEY, "backend", "device", "mode", "model"),
        *_ints("input_size"),
        *_floats("alpha"),
        *_text("rules"),
        *_ints("changes", "params_original", "params_rewritten", "macs_original", "macs_rewritten"),
        *_floats("macs_ratio", "params_ratio", "predicted_ratio", "measured_ratio", "ratio_ci_low", "ratio_ci_high"),
        *_floats("predicted_original_seconds", "predicted_rewritten_seconds"),
        *measurement_columns("original_"),
        *measurement_columns("rewritten_"),
        *_text("macs_checked_by", "extrapolation", "error"),
        *runtime_columns("original_", "rewritten_"),
        *process_columns(("rerun_low", "rerun_high")),
    ),
    config_type="NetworkConfig",
    timed=(Timed("original_", "original"), Timed("rewritten_", "rewritten")),
    value="measured_ratio",
    interval=("ratio_ci_low", "ratio_ci_high"),
    rerun=("rerun_low", "rerun_high"),
    commands=("network",),
    measuring_options=("--measure",),
    checked_count="params_original",
    checked_by="macs_checked_by",
)

SAMPLES = Table("samples", (*_text(CONFIG_KEY, "role"), *_ints("sample"), *_floats("seconds"), *_ints("process")))

ACCURACY = Table(
    "accuracy",
    (
        *_text("device", "model", "quantity"),
        *_ints("count"),
        *_floats("within_10_percent", "within_20_percent", "median_absolute_percentage_error"),
    ),
)

#: The tables of measured configurations, by name: each row is one configuration.
MEASURED_TABLES: dict[str, MeasuredTable] = {table.name: table for table in (SEED, FACTORIZATIONS, NETWORKS)}
#: Every table the results store keeps.
STORED_TABLES = {**MEASURED_TABLES, SAMPLES.name: SAMPLES}


def check_version(version: object, source: str) -> int:
    """The schema version of a results folder, refusing one this code does not know."""
    if version is None:
        return 1
    if isinstance(version, int) and not isinstance(version, bool) and version in KNOWN_VERSIONS:
        return version
    raise SchemaError(
        f"{source}: results schema version {version!r} is not one this code reads "
        f"({', '.join(map(str, KNOWN_VERSIONS))}); update the project or measure again"
    )
