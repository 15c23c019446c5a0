"""Results on disk, written so that nothing measured is ever lost.

A measuring run can take hours and can die at any moment (Ctrl-C, the OOM
killer, a lost SSH session, a driver crash).  :class:`ResultStore` therefore
writes every result the moment it exists, and makes each write durable before
the next measurement starts:

* each table is a CSV file, ``<out_dir>/<table>.csv``, only ever *appended*
  to, and every append is flushed and ``os.fsync``-ed;
* ``metadata.json`` records which machine measured the results, and one entry
  per run (command line, date, threads, ...) in its ``"runs"`` list; it is
  replaced atomically (write a temporary file, then rename), never edited in
  place;
* a configuration is complete once its row is in its main table.
  :meth:`ResultStore.record` writes the raw samples first and that row last,
  so a run killed in between leaves only samples without a main row
  ("orphans"), which are dropped when the folder is reopened with
  ``resume=True``;
* a run killed in the middle of a write can leave a torn last line; reopening
  with ``resume=True`` cuts it off (see ``repaired_tables``).

Results from different machines are never mixed: resuming into a folder whose
``metadata.json`` names another machine raises :class:`MachineMismatchError`,
and starting a fresh run in a folder that already holds results raises
:class:`ResultsExistError` rather than overwrite or append to them.

Only the standard library is used (no pandas, no TensorFlow), so the store
opens instantly; the CSV files are plain comma-separated UTF-8 with a header
line, which ``pandas.read_csv`` reads as they are.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = [
    "METADATA_FILE",
    "SAMPLES_TABLE",
    "MachineMismatchError",
    "ResultStore",
    "ResultsExistError",
]

#: Name of the JSON file holding the machine fingerprint and the runs.
METADATA_FILE = "metadata.json"

#: Table that :meth:`ResultStore.record` writes raw samples to.
SAMPLES_TABLE = "samples"

#: Column naming the configuration a row belongs to; the resume key.
CONFIG_KEY = "config_key"

_TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# "\n" rather than the csv module's default "\r\n": plain text on every
# platform, and pandas reads either.
_CSV_OPTIONS = {"lineterminator": "\n"}


class ResultsExistError(ValueError):
    """The output folder already holds results and resuming was not asked for."""


class MachineMismatchError(ValueError):
    """Resuming into a folder whose results were measured on another machine.

    Attributes
    ----------
    differences : dict
        ``{field: (value in the folder, value of this machine)}`` for every
        field of the machine fingerprint that differs; a field missing on one
        side has the value ``None`` there.
    """

    def __init__(self, message: str, differences: dict[str, tuple[object, object]]):
        super().__init__(message)
        self.differences = differences


class ResultStore:
    """Append-only CSV tables plus a ``metadata.json``, in one folder.

    Parameters
    ----------
    out_dir : str or path-like
        Folder of the results; created (with parents) if missing.
    metadata : dict
        JSON-serialisable.  ``metadata["machine"]`` is the machine fingerprint
        (CPU model, cores, platform, GPU names, TensorFlow/Keras versions,
        backend; see :func:`validate.results.environment.machine_info`); every other
        key describes this run (see :func:`validate.results.environment.run_info`).
        ``metadata.json`` is written as ``{"machine": ..., "runs": [run, ...]}``.
    resume : bool
        Continue the results already in ``out_dir``: keep its tables, append
        this run to its ``"runs"``, cut off torn last lines and drop orphan
        samples.  Without it a folder that already holds results is refused.

    Attributes
    ----------
    out_dir : pathlib.Path
        The results folder.
    dropped_orphan_samples : int
        Sample rows removed on opening because their configuration has no row
        in any other table (it was interrupted before completing); 0 unless
        resuming.
    repaired_tables : tuple of str
        Tables whose torn last line (from a write cut short by a kill) was cut
        off on opening.

    Raises
    ------
    ResultsExistError
        If ``out_dir`` holds result CSVs and ``resume`` is false, or holds
        result CSVs but no ``metadata.json`` (the machine that measured them is
        unknown, so they cannot be resumed either).
    MachineMismatchError
        If ``resume`` is true and ``metadata.json`` names a different machine.
    TypeError
        If ``metadata`` or ``metadata["machine"]`` is not a dict.
    ValueError
        If ``metadata`` has no ``"machine"``, or uses the reserved key
        ``"runs"``.

    Examples
    --------
    >>> import tempfile
    >>> out = tempfile.mkdtemp()
    >>> machine = {"cpu_model": "Example CPU"}
    >>> store = ResultStore(out, {"machine": machine, "command": "validate run"})
    >>> store.record("conv3x3-f16", "latency", [{"median_seconds": 0.0021}],
    ...              [{"sample": 0, "seconds": 0.0020}, {"sample": 1, "seconds": 0.0022}])
    >>> store.read("latency")
    [{'config_key': 'conv3x3-f16', 'median_seconds': '0.0021'}]
    >>> sorted(ResultStore(out, {"machine": machine}, resume=True).completed_keys("latency"))
    ['conv3x3-f16']
    >>> ResultStore(out, {"machine": machine})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    validate.results.store.ResultsExistError: ... (latency.csv, samples.csv); pass --resume to continue ...
    """

    def __init__(
        self, out_dir: str | os.PathLike[str], metadata: dict, *, resume: bool = False
    ) -> None:
        machine, this_run = _split_metadata(metadata)
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.dropped_orphan_samples = 0
        self.repaired_tables: tuple[str, ...] = ()
        # Column order of each table, fixed by its first row ever written.
        self._headers: dict[str, list[str]] = {}

        existing_tables = self._existing_tables()
        stored = self._read_metadata()
        if existing_tables and not resume:
            raise ResultsExistError(
                f"{self.out_dir} already holds results ({_csv_names(existing_tables)}); "
                "pass --resume to continue them or choose another --out"
            )
        if existing_tables and stored is None:
            raise ResultsExistError(
                f"{self.out_dir} holds results ({_csv_names(existing_tables)}) but no "
                f"{METADATA_FILE}, so the machine that measured them is unknown and they "
                "cannot be resumed; choose another --out"
            )
        runs: list = []
        if resume and stored is not None:
            _check_same_machine(self.out_dir, stored.get("machine", {}), machine)
            runs = list(stored.get("runs", []))
        self._metadata = {"machine": machine, "runs": [*runs, this_run]}
        _write_json_atomically(self.out_dir / METADATA_FILE, self._metadata)

        if resume and existing_tables:
            self.repaired_tables = tuple(
                table for table in existing_tables if _cut_torn_last_line(self.path(table))
            )
            self.dropped_orphan_samples = self._drop_orphan_samples(existing_tables)

    @property
    def metadata(self) -> dict:
        """What ``metadata.json`` holds: ``{"machine": ..., "runs": [...]}`` (a copy)."""
        return json.loads(json.dumps(self._metadata))

    def path(self, table: str) -> Path:
        """File of ``table``: ``<out_dir>/<table>.csv``.

        Raises
        ------
        ValueError
            If ``table`` is not a simple identifier (letters, digits and
            underscores, not starting with a digit), which keeps it a plain
            file name inside ``out_dir``.
        """
        if not isinstance(table, str):
            raise TypeError(f"table must be a str, got {table!r}")
        if not _TABLE_NAME.fullmatch(table):
            raise ValueError(
                f"table must be a simple identifier (letters, digits, underscores), got {table!r}"
            )
        return self.out_dir / f"{table}.csv"

    def append(self, table: str, rows: Sequence[Mapping[str, object]]) -> None:
        """Append ``rows`` to ``table`` and make them durable before returning.

        The first row ever written to a table fixes its columns and their
        order (on resume they are read back from the file's header).  Every
        row is checked before anything is written, so a bad row writes
        nothing.

        Parameters
        ----------
        table : str
            Table name, a simple identifier; see :meth:`path`.
        rows : sequence of dict
            One dict per row, ``{column: value}``.  Values are written with
            ``str`` (floats with ``repr``, so they round-trip exactly);
            ``None`` and missing columns are written empty.  An empty
            sequence writes nothing.

        Raises
        ------
        ValueError
            If a row has a column the table does not have (the message names
            it), or ``table`` is not a simple identifier.
        TypeError
            If ``rows`` is not a sequence of dicts, or a column name is not a
            string.
        """
        path = self.path(table)
        rows = _checked_rows(rows)
        if not rows:
            return
        header = self._header(table)
        is_new_table = header is None
        if is_new_table:
            header = list(rows[0])
        _check_columns(table, header, rows)
        self._headers[table] = header
        with open(path, "a", encoding="utf-8", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=header, restval="", **_CSV_OPTIONS)
            # Size 0 rather than is_new_table: a file cut down to nothing by a
            # kill before its header reached the disk needs the header too.
            if file.tell() == 0:
                writer.writeheader()
            writer.writerows(rows)
            file.flush()
            os.fsync(file.fileno())
        if is_new_table:
            # A new file's name lives in the directory, which has its own
            # buffers: sync it too so the file itself survives a power cut.
            _fsync_directory(self.out_dir)

    def record(
        self,
        config_key: str,
        main_table: str,
        main_rows: Sequence[Mapping[str, object]],
        samples_rows: Sequence[Mapping[str, object]],
    ) -> None:
        """Store one measured configuration: its samples, then its main rows.

        Every row gets a ``config_key`` column (first, in a new table).  The
        samples go to the ``samples`` table first and the main rows last,
        because a main row is what marks the configuration complete
        (:meth:`completed_keys`): a kill between the two writes leaves orphan
        samples, which resuming drops, never a "complete" configuration
        without its samples.

        Parameters
        ----------
        config_key : str
            Identifies the configuration across runs, e.g.
            ``"conv5x5-f16-graph"``.
        main_table : str
            Table of the summary rows, e.g. ``"latency"``; not ``"samples"``.
        main_rows : sequence of dict
            At least one row; usually exactly one.  The rows of one call are
            written together, but a kill in the middle of that write could
            keep the first of several, which would then count as complete.
        samples_rows : sequence of dict
            Raw samples, possibly none.

        Raises
        ------
        ValueError
            If ``main_rows`` is empty, ``main_table`` is ``"samples"``, a row
            carries a different ``config_key``, or :meth:`append` would refuse
            a row (checked for both tables before either is written).
        """
        if not isinstance(config_key, str) or not config_key:
            raise ValueError(f"config_key must be a non-empty str, got {config_key!r}")
        if main_table == SAMPLES_TABLE:
            raise ValueError(f"main_table must not be {SAMPLES_TABLE!r}: it holds the samples")
        keyed_main = _with_config_key(config_key, _checked_rows(main_rows))
        keyed_samples = _with_config_key(config_key, _checked_rows(samples_rows))
        if not keyed_main:
            raise ValueError(
                f"main_rows of {config_key!r} is empty: without a main row the "
                "configuration would never count as complete"
            )
        # Check both tables first so that a bad main row cannot leave orphan
        # samples behind in the middle of a run.
        for table, rows in ((SAMPLES_TABLE, keyed_samples), (main_table, keyed_main)):
            self.path(table)
            if rows:
                _check_columns(table, self._header(table) or list(rows[0]), rows)
        self.append(SAMPLES_TABLE, keyed_samples)
        self.append(main_table, keyed_main)

    def completed_keys(self, table: str) -> set[str]:
        """Values of the ``config_key`` column of ``table``: what to skip on resume.

        Raises
        ------
        ValueError
            If ``table`` exists but has no ``config_key`` column.

        Examples
        --------
        >>> import tempfile
        >>> store = ResultStore(tempfile.mkdtemp(), {"machine": {}})
        >>> store.completed_keys("latency")
        set()
        """
        header = self._header(table)
        if header is None:
            return set()
        if CONFIG_KEY not in header:
            raise ValueError(
                f"table {table!r} has no {CONFIG_KEY!r} column; its columns: {header}"
            )
        return {row[CONFIG_KEY] for row in self.read(table)}

    def read(self, table: str) -> list[dict[str, str]]:
        """All rows of ``table`` as dicts of strings; ``[]`` if it has none yet."""
        path = self.path(table)
        if not path.exists():
            return []
        with open(path, encoding="utf-8", newline="") as file:
            return list(csv.DictReader(file))

    def _existing_tables(self) -> list[str]:
        return sorted(
            path.stem for path in self.out_dir.glob("*.csv")
            if path.is_file() and _TABLE_NAME.fullmatch(path.stem)
        )

    def _header(self, table: str) -> list[str] | None:
        """Columns of ``table``, from memory or its file's first line; None if it has none."""
        if table in self._headers:
            return self._headers[table]
        path = self.path(table)
        if not path.exists():
            return None
        with open(path, encoding="utf-8", newline="") as file:
            header = next(csv.reader(file), None)
        if header:
            self._headers[table] = header
        return header or None

    def _read_metadata(self) -> dict | None:
        path = self.out_dir / METADATA_FILE
        if not path.exists():
            return None
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as error:
            raise ValueError(f"{path} is not valid JSON: {error}") from error
        if not isinstance(stored, dict):
            raise ValueError(f"{path} must hold a JSON object, got {type(stored).__name__}")
        return stored

    def _drop_orphan_samples(self, tables: list[str]) -> int:
        """Rewrite the samples table without rows of incomplete configurations."""
        samples_path = self.path(SAMPLES_TABLE)
        header = self._header(SAMPLES_TABLE)
        if header is None or CONFIG_KEY not in header:
            return 0
        complete = set()
        for table in tables:
            table_header = self._header(table)
            if table != SAMPLES_TABLE and table_header and CONFIG_KEY in table_header:
                complete |= self.completed_keys(table)
        key_column = header.index(CONFIG_KEY)
        with open(samples_path, encoding="utf-8", newline="") as file:
            records = list(csv.reader(file))[1:]
        kept = [record for record in records if record[key_column] in complete]
        if len(kept) == len(records):
            return 0
        # Rewrite into a new file and rename it over the old one: a kill during
        # the rewrite leaves either the old file or the new, never half of one.
        temporary = samples_path.with_name(samples_path.name + ".tmp")
        with open(temporary, "w", encoding="utf-8", newline="") as file:
            writer = csv.writer(file, **_CSV_OPTIONS)
            writer.writerow(header)
            writer.writerows(kept)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, samples_path)
        _fsync_directory(self.out_dir)
        return len(records) - len(kept)


def _split_metadata(metadata: dict) -> tuple[dict, dict]:
    """(machine, this run's info), both normalised through JSON."""
    if not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict, got {metadata!r}")
    if "machine" not in metadata:
        raise ValueError("metadata must have a 'machine' entry (the machine fingerprint)")
    if not isinstance(metadata["machine"], dict):
        raise TypeError(f"metadata['machine'] must be a dict, got {metadata['machine']!r}")
    if "runs" in metadata:
        raise ValueError("metadata must not have a 'runs' entry: the store keeps that list")
    # A JSON round trip turns tuples into lists and fails here, not halfway
    # through writing metadata.json, if something is not serialisable; it also
    # makes this machine comparable with the one read back from the file.
    normalised = json.loads(json.dumps(metadata))
    machine = normalised.pop("machine")
    return machine, normalised


def _check_same_machine(out_dir: Path, stored: dict, current: dict) -> None:
    differences = {
        field: (stored.get(field), current.get(field))
        for field in sorted(set(stored) | set(current))
        if stored.get(field) != current.get(field)
    }
    if differences:
        described = "; ".join(
            f"{field}: {old!r} in the folder, {new!r} here"
            for field, (old, new) in differences.items()
        )
        raise MachineMismatchError(
            f"{out_dir} holds results measured on a different machine ({described}); "
            "results from different machines are never mixed: choose another --out",
            differences,
        )


def _checked_rows(rows: Sequence[Mapping[str, object]]) -> list[Mapping[str, object]]:
    if isinstance(rows, (Mapping, str, bytes)) or not isinstance(rows, Sequence):
        raise TypeError(f"rows must be a list of dicts, got {type(rows).__name__}")
    for row in rows:
        if not isinstance(row, Mapping):
            raise TypeError(f"each row must be a dict, got {row!r}")
        for column in row:
            if not isinstance(column, str):
                raise TypeError(f"column names must be str, got {column!r}")
    return list(rows)


def _check_columns(table: str, header: list[str], rows: list[Mapping[str, object]]) -> None:
    known = set(header)
    for row in rows:
        for column in row:
            if column not in known:
                raise ValueError(
                    f"column {column!r} is not in table {table!r}, whose columns are "
                    f"fixed by its first row: {header}"
                )


def _with_config_key(config_key: str, rows: list[Mapping[str, object]]) -> list[dict]:
    keyed = []
    for row in rows:
        if row.get(CONFIG_KEY, config_key) != config_key:
            raise ValueError(
                f"row has {CONFIG_KEY}={row[CONFIG_KEY]!r} but is recorded under {config_key!r}"
            )
        keyed.append({CONFIG_KEY: config_key, **row})
    return keyed


def _cut_torn_last_line(path: Path) -> bool:
    """Cut ``path`` back to its last complete CSV record; True if anything was cut.

    Each append ends with a newline, so a file that does not end with a
    record-ending newline was killed mid-write.  A newline inside a quoted
    field does not end a record: with the csv module's minimal quoting a quote
    character only occurs inside quoted fields (doubled when literal), so
    counting quotes tells whether a newline is inside one.  Working on bytes
    is safe with UTF-8, whose multi-byte characters never contain the bytes
    of '"' or newline.
    """
    data = path.read_bytes()
    # Walk back over newlines until one has an even number of quotes before it
    # (so it is outside any quoted field); bytes.count keeps this fast on the
    # large samples table, and a file ending in a complete record stops at once.
    quotes_before_end = data.count(b'"')
    end = len(data)
    complete_length = 0
    while (newline := data.rfind(b"\n", 0, end)) >= 0:
        quotes_before_end -= data.count(b'"', newline, end)
        if quotes_before_end % 2 == 0:
            complete_length = newline + 1
            break
        end = newline
    if complete_length == len(data):
        return False
    with open(path, "r+b") as file:
        file.truncate(complete_length)
        file.flush()
        os.fsync(file.fileno())
    return True


def _write_json_atomically(path: Path, document: dict) -> None:
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w", encoding="utf-8") as file:
        json.dump(document, file, indent=2, ensure_ascii=False)
        file.write("\n")
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    # POSIX only: Windows cannot open a directory as a file, and there a
    # rename or a new file is durable without it.
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _csv_names(tables: list[str]) -> str:
    return ", ".join(f"{table}.csv" for table in tables)
