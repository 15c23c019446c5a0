"""Results on disk, written so that a completed measurement is never lost.

A measuring run can take hours and die at any moment (Ctrl-C, kill -9, the
OOM killer, a full disk).  The store is built around what survives that:

* **The truth is an SQLite database**, ``<out>/results.sqlite``, in WAL mode
  with full syncs.  :meth:`ResultStore.record` writes a configuration's raw
  samples and its row in *one transaction*: after a kill, a configuration is
  either complete with all its samples or absent, never half there.  A full
  disk fails the transaction, which SQLite rolls back, and raises
  :class:`StoreWriteError` with one line.
* **The CSV files are exports** (one per measured table, ``seed.csv``,
  ``factorizations.csv``, ``networks.csv``, and ``samples.csv``), for people,
  scripts and the report.  They are appended to after each commit and
  rewritten from the database (atomically) whenever the store is opened, so
  whatever a kill or a full disk did to them is repaired on the next run.  A
  CSV that differs from the database (edited by hand) is kept beside the new
  export as ``<name>.csv.replaced`` and reported, never silently overwritten.
* **One writer per folder.**  Opening takes an exclusive ``flock`` on
  ``<out>/.lock``; a second process is refused with a message naming the
  first one's process id and command.  The kernel drops the lock when its
  holder dies, so a killed run never blocks the next.
* **Every other file** (``metadata.json``, device profiles, accuracy tables)
  goes through :meth:`ResultStore.write_file`: a uniquely named temporary
  file, fsync, then rename, so a reader sees the old file or the new, never
  a torn one, and two writers never share a temporary name.
* **Folders from before the database** (CSV files only, schema version 1) are
  imported on resume, strictly: each row is parsed with its table's schema
  (:mod:`validate.results.schema`); a row that does not parse is refused with
  its file and line, except a torn *last* line (no final newline), which is
  dropped and reported; samples without a completed configuration are
  dropped and reported.  Everything dropped is listed in
  :attr:`ResultStore.repairs`, which the command line prints.

Results from different machines are never mixed: resuming into a folder whose
``metadata.json`` names another machine raises :class:`MachineMismatchError`,
and starting a fresh run in a folder that holds results raises
:class:`ResultsExistError`.

Only the standard library is used (no pandas, no TensorFlow).
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import json
import os
import sqlite3
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from costmodel.jsonfile import JSONFileError, load_json_file
from validate.results.schema import (
    CONFIG_KEY,
    MEASURED_TABLES,
    SAMPLES,
    SCHEMA_VERSION,
    STORED_TABLES,
    SchemaError,
    Table,
    Value,
    check_version,
)

__all__ = [
    "DATABASE_FILE",
    "METADATA_FILE",
    "MachineMismatchError",
    "ResultStore",
    "ResultsExistError",
    "StoreBusyError",
    "StoreCorruptError",
    "StoreWriteError",
    "read_metadata",
]

METADATA_FILE = "metadata.json"
DATABASE_FILE = "results.sqlite"
LOCK_FILE = ".lock"
#: metadata.json is small; anything bigger is not ours.
MAX_METADATA_BYTES = 16 * 1024 * 1024

# "\n" rather than the csv module's default "\r\n": plain text on every platform.
_LINE_END = "\n"
_SQL_TYPES = {"text": "TEXT", "int": "INTEGER", "float": "REAL", "bool": "INTEGER"}


class ResultsExistError(ValueError):
    """The output folder already holds results and resuming was not asked for."""


class StoreBusyError(RuntimeError):
    """Another process is writing to the same results folder."""


class StoreCorruptError(ValueError):
    """A results file that cannot be read as it stands; the message names the file and the line."""


class StoreWriteError(OSError):
    """A write that failed (disk full, permissions); nothing half-written is left behind."""


class MachineMismatchError(ValueError):
    """Resuming into a folder whose results were measured on another machine.

    ``differences`` is ``{field: (value in the folder, value of this machine)}``.
    """

    def __init__(self, message: str, differences: dict[str, tuple[object, object]]):
        super().__init__(message)
        self.differences = differences


class ResultStore:
    """The results of one folder: typed tables in SQLite, CSV exports, metadata, other files.

    Parameters
    ----------
    out_dir : str or path-like
        Folder of the results; created (with parents) if missing.
    metadata : dict
        JSON-serialisable.  ``metadata["machine"]`` is the machine fingerprint
        (see :func:`validate.results.environment.machine_info`); every other
        key describes this run.  ``metadata.json`` is written as
        ``{"schema_version": ..., "machine": ..., "runs": [run, ...]}``.
    resume : bool
        Continue the results already in ``out_dir`` (append this run to its
        ``"runs"``).  Without it a folder that holds results is refused.

    Use it as a context manager, or call :meth:`close`, to release the folder.

    Examples
    --------
    >>> import tempfile
    >>> out = tempfile.mkdtemp()
    >>> machine = {"cpu_model": "Example CPU"}
    >>> with ResultStore(out, {"machine": machine, "command": "validate seed"}) as store:
    ...     store.record("conv3x3-f16", "seed", [{"layer_type": "conv3x3", "geomean_seconds": 0.0021}],
    ...                  [{"role": "network", "sample": 0, "seconds": 0.0020}])
    ...     row = store.read("seed")[0]
    >>> row["config_key"], row["geomean_seconds"], row["filters"]
    ('conv3x3-f16', 0.0021, None)
    >>> with ResultStore(out, {"machine": machine}, resume=True) as store:
    ...     sorted(store.completed_keys("seed"))
    ['conv3x3-f16']
    >>> ResultStore(out, {"machine": machine})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    validate.results.store.ResultsExistError: ... already holds results (seed); pass --resume to continue ...
    """

    def __init__(self, out_dir: str | os.PathLike[str], metadata: dict, *, resume: bool = False) -> None:
        machine, this_run = _split_metadata(metadata)
        self.out_dir = Path(out_dir)
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreWriteError(f"cannot create the results folder {self.out_dir}: {error.strerror}") from None
        #: What opening repaired or dropped, one sentence each, for the user to see.
        self.repairs: list[str] = []
        self._lock: io.TextIOWrapper | None = _acquire_lock(self.out_dir, this_run.get("command"))
        self._db: sqlite3.Connection | None = None
        try:
            self._open(machine, this_run, resume)
        except BaseException:
            self.close()
            raise

    # --- opening -------------------------------------------------------------------------------

    def _open(self, machine: dict, this_run: dict, resume: bool) -> None:
        stored = read_metadata(self.out_dir)
        version = check_version(stored.get("schema_version") if stored else None, str(self.out_dir / METADATA_FILE))
        database_path = self.out_dir / DATABASE_FILE
        had_database = database_path.exists()
        legacy_tables = [] if had_database else _csv_tables(self.out_dir)
        self._db = _connect(database_path)
        existing = self._tables_with_rows() or legacy_tables
        if existing and not resume:
            raise ResultsExistError(
                f"{self.out_dir} already holds results ({', '.join(existing)}); "
                "pass --resume to continue them or choose another --out"
            )
        if existing and stored is None:
            raise ResultsExistError(
                f"{self.out_dir} holds results ({', '.join(existing)}) but no "
                f"{METADATA_FILE}, so the machine that measured them is unknown and "
                "they cannot be resumed; choose another --out"
            )
        runs: list = []
        if resume and stored is not None:
            _check_same_machine(self.out_dir, stored.get("machine"), machine)
            runs = list(stored.get("runs") or [])
        if legacy_tables:
            self._import_csv_folder(version)
        self._runs: list[dict] = [*runs, this_run]
        self._metadata = {"schema_version": SCHEMA_VERSION, "machine": machine, "runs": self._runs}
        self.write_file(METADATA_FILE, json.dumps(self._metadata, indent=2, ensure_ascii=False) + "\n")
        self._export_all()

    def _tables_with_rows(self) -> list[str]:
        return [name for name in MEASURED_TABLES if self._count(name)]

    def _count(self, table: str) -> int:
        assert self._db is not None
        return int(self._db.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0])

    # --- writing ---------------------------------------------------------------------------------

    def record(
        self, config_key: str, table: str, rows: Sequence[Mapping[str, object]], samples: Sequence[Mapping[str, object]]
    ) -> None:
        """Store one measured configuration, its rows and its raw samples, in one transaction.

        Parameters
        ----------
        config_key : str
            Identifies the configuration across runs, e.g. ``"conv5x5-f16-graph"``.
        table : str
            A measured table's name (:data:`validate.results.schema.MEASURED_TABLES`).
        rows : sequence of dict
            At least one row; each gets ``config_key``.  Missing columns have no value.
        samples : sequence of dict
            Raw samples (``role``, ``sample``, ``seconds``), possibly none.

        Raises
        ------
        ValueError
            An unknown table, an empty ``rows``, another row's ``config_key``,
            or a value of the wrong type (:class:`~validate.results.schema.SchemaError`):
            checked before anything is written.
        StoreWriteError
            The database could not be written (disk full, ...); nothing of this
            configuration is stored.
        """
        if not isinstance(config_key, str) or not config_key:
            raise ValueError(f"config_key must be a non-empty str, got {config_key!r}")
        schema = _measured_table(table)
        if not rows:
            raise ValueError(
                f"rows of {config_key!r} is empty: without a row the configuration would never count as complete"
            )
        typed_rows = [schema.row(_keyed(config_key, row), f"{table} row {config_key}") for row in rows]
        typed_samples = [SAMPLES.row(_keyed(config_key, row), f"sample of {config_key}") for row in samples]
        assert self._db is not None
        try:
            with self._db:  # one transaction: all of it, or none of it
                _insert(self._db, SAMPLES, typed_samples)
                _insert(self._db, schema, typed_rows)
        except sqlite3.Error as error:
            raise StoreWriteError(
                f"could not store {config_key} in {self.out_dir / DATABASE_FILE}: {error}; "
                "nothing of it was kept, the earlier results are intact"
            ) from None
        # The exports follow the database; a failure here is repaired on the next open.
        try:
            _append_csv(self.out_dir / SAMPLES.file_name, SAMPLES, typed_samples)
            _append_csv(self.out_dir / schema.file_name, schema, typed_rows)
        except OSError as error:
            raise StoreWriteError(
                f"{config_key} is stored in {DATABASE_FILE}, but its CSV export failed "
                f"({error.strerror}); the next run rewrites the CSV files"
            ) from None

    def write_file(self, name: str, text: str) -> Path:
        """Write ``<out>/<name>`` atomically (unique temporary file, fsync, rename).

        Raises
        ------
        ValueError
            If ``name`` is not a plain file name (no folders, not hidden).
        StoreWriteError
            If the write failed; the previous file, if any, is left as it was.
        """
        if not name or name != Path(name).name or name.startswith("."):
            raise ValueError(f"a results file name must be a plain file name, got {name!r}")
        path = self.out_dir / name
        try:
            atomic_write_text(path, text)
        except OSError as error:
            raise StoreWriteError(f"could not write {path}: {error.strerror or error}") from None
        return path

    def finish_run(self, facts: Mapping[str, object]) -> None:
        """Add what is known only at the end (wall and timed seconds, load after) to this run's entry."""
        this_run = self._runs[-1]
        this_run.update(json.loads(json.dumps(dict(facts))))
        self.write_file(METADATA_FILE, json.dumps(self._metadata, indent=2, ensure_ascii=False) + "\n")

    # --- reading ---------------------------------------------------------------------------------

    @property
    def metadata(self) -> dict:
        """What ``metadata.json`` holds (a copy)."""
        return json.loads(json.dumps(self._metadata))

    def read(self, table: str) -> list[dict[str, Value]]:
        """Every row of ``table``, typed, in the order stored."""
        schema = STORED_TABLES.get(table)
        if schema is None:
            raise ValueError(f"unknown table {table!r}; tables: {', '.join(STORED_TABLES)}")
        return _select(self._connection(), schema)

    def completed_keys(self, table: str) -> set[str]:
        """The configurations ``table`` holds: what resuming skips."""
        _measured_table(table)
        return {str(key) for (key,) in self._connection().execute(f'SELECT "{CONFIG_KEY}" FROM "{table}"')}

    def close(self) -> None:
        """Close the database and release the folder for the next writer."""
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._lock is not None:
            self._lock.close()  # closing the descriptor drops the flock
            self._lock = None

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            raise ValueError(f"the results store of {self.out_dir} is closed")
        return self._db

    # --- CSV import and export ---------------------------------------------------------------------

    def _import_csv_folder(self, version: int) -> None:
        """Fill the new database from a folder of CSV files (schema version ``version``)."""
        imported: dict[str, list[dict[str, Value]]] = {}
        for table in STORED_TABLES.values():
            path = self.out_dir / table.file_name
            if path.exists():
                rows, torn = read_csv_strictly(path, table)
                if torn:
                    self.repairs.append(f"{path.name}: dropped the torn last line {torn} (a write cut short)")
                imported[table.name] = rows
        complete: set[object] = set()
        for name in MEASURED_TABLES:
            unique: dict[object, dict[str, Value]] = {}
            for row in imported.get(name, []):
                unique.setdefault(row[CONFIG_KEY], row)
            if len(unique) < len(imported.get(name, [])):
                self.repairs.append(
                    f"{name}.csv: kept the first of {len(imported[name]) - len(unique)} repeated configuration row(s)"
                )
            imported[name] = list(unique.values())
            complete |= set(unique)
        samples = imported.get(SAMPLES.name, [])
        kept = [row for row in samples if row[CONFIG_KEY] in complete]
        if len(kept) < len(samples):
            orphans = {row[CONFIG_KEY] for row in samples} - complete
            self.repairs.append(
                f"samples.csv: dropped {len(samples) - len(kept)} sample(s) of "
                f"{len(orphans)} configuration(s) that never completed"
            )
        imported[SAMPLES.name] = kept
        db = self._connection()
        with db:
            for name, rows in imported.items():
                _insert(db, STORED_TABLES[name], rows)
        self.repairs.append(
            f"imported {sum(len(rows) for name, rows in imported.items() if name != SAMPLES.name)} "
            f"row(s) from the CSV files (schema version {version}) into {DATABASE_FILE}"
        )

    def _export_all(self) -> None:
        """Rewrite each table's CSV from the database, keeping a CSV that was edited by hand."""
        db = self._connection()
        for table in STORED_TABLES.values():
            path = self.out_dir / table.file_name
            rows = _select(db, table)
            if not rows and not path.exists():
                continue
            text = csv_text(table, rows)
            old = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
            if old == text:
                continue
            # An export that a kill or a full disk cut short is a prefix of the new one, but
            # for a torn last line: it is simply completed.  Anything else was edited.
            complete_lines = old if old.endswith("\n") else old[: old.rfind("\n") + 1]
            if old and not text.startswith(complete_lines):
                kept = path.with_name(path.name + ".replaced")
                os.replace(path, kept)
                self.repairs.append(
                    f"{path.name} differed from {DATABASE_FILE} (edited by hand?): "
                    f"kept it as {kept.name} and wrote it anew from the database"
                )
            self.write_file(table.file_name, text)


# --- the lock ------------------------------------------------------------------------------------


def _acquire_lock(out_dir: Path, command: object) -> io.TextIOWrapper:
    path = out_dir / LOCK_FILE
    try:
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 (held open: the lock lives as long as the store)
    except OSError as error:
        raise StoreWriteError(f"cannot write in {out_dir}: {error.strerror}") from None
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise StoreBusyError(
            f"{out_dir} is being written by {holder}; wait for it to finish or choose another --out"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"process {os.getpid()} ({command or 'validate'})\n")
    handle.flush()
    return handle


# --- files ---------------------------------------------------------------------------------------


def atomic_write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that readers see the old file or the new, never a part."""
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _fsync_directory(path.parent)


def read_metadata(out_dir: Path) -> dict | None:
    """``<out_dir>/metadata.json`` checked for shape, or None if there is none.

    Raises
    ------
    StoreCorruptError
        If it is not a regular file, too large, not UTF-8 JSON, or not of the
        shape ``{"machine": {...}, "runs": [{...}, ...]}``.
    """
    path = out_dir / METADATA_FILE
    if not path.exists() and not path.is_symlink():
        return None
    try:
        stored = load_json_file(path, what="results metadata", max_bytes=MAX_METADATA_BYTES)
    except JSONFileError as error:
        raise StoreCorruptError(str(error)) from None
    if not isinstance(stored, dict):
        raise StoreCorruptError(f"{path} must hold a JSON object, got {type(stored).__name__}")
    if not isinstance(stored.get("machine", {}), dict):
        raise StoreCorruptError(f"{path}: 'machine' must be an object, got {stored['machine']!r:.80}")
    runs = stored.get("runs", [])
    if not isinstance(runs, list) or not all(isinstance(run, dict) for run in runs):
        raise StoreCorruptError(f"{path}: 'runs' must be a list of objects")
    try:
        check_version(stored.get("schema_version"), str(path))
    except SchemaError as error:
        raise StoreCorruptError(str(error)) from None
    return stored


def csv_text(table: Table, rows: Iterable[Mapping[str, Value]]) -> str:
    """The CSV export of typed rows: a header line, then one line per row."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=table.column_names, lineterminator=_LINE_END)
    writer.writeheader()
    writer.writerows(table.format(row) for row in rows)
    return buffer.getvalue()


def read_database(out_dir: Path, table: str) -> list[dict[str, Value]]:
    """Every row of ``table`` in ``<out_dir>/results.sqlite``, read-only (no lock, no export).

    For a folder another process has finished writing, e.g. a worker process's.

    Raises
    ------
    StoreCorruptError
        If the database is missing or unreadable.
    """
    path = Path(out_dir) / DATABASE_FILE
    if not path.is_file():
        raise StoreCorruptError(f"{path} does not exist")
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            return _select(db, STORED_TABLES[table])
        finally:
            db.close()
    except sqlite3.DatabaseError as error:
        raise StoreCorruptError(f"{path} is not a readable results database: {error}") from None


def read_csv_strictly(path: Path, table: Table) -> tuple[list[dict[str, Value]], int | None]:
    """Typed rows of a CSV file, and the line number of a torn last line that was left out (or None).

    A line that does not parse is refused with its line number, except the
    last line of a file that does not end with a newline (a write cut short),
    which is left out and returned.  A complete last line without a newline
    is kept.

    Raises
    ------
    StoreCorruptError
        Naming the file, the line and the problem.
    """
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise StoreCorruptError(f"{path} is not UTF-8 text (byte {error.start})") from None
    if not text.strip():
        return [], None
    ends_cleanly = text.endswith("\n")
    last_line = text.count("\n") + (0 if ends_cleanly else 1)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records: list[tuple[int, list[str]]] = []
    while True:
        line = reader.line_num + 1
        try:
            record = next(reader)
            if record:  # a blank line holds no row
                records.append((line, record))
        except StopIteration:
            break
        except csv.Error as error:
            if not ends_cleanly and reader.line_num >= last_line:
                return _parsed(path, table, records), line
            raise StoreCorruptError(f"{path} line {line}: {error}; fix or remove the line, then resume") from None
    if not records:
        return [], None
    (_, header), body = records[0], records[1:]
    unknown = sorted(set(header) - set(table.column_names) - set(table.renamed()))  # former names: older files
    keyed = CONFIG_KEY in table.column_names
    if unknown or (keyed and CONFIG_KEY not in header):
        problem = f"columns {unknown} are not" if unknown else f"'{CONFIG_KEY}' is missing from"
        raise StoreCorruptError(f"{path} line 1: {problem} the {table.name} table's columns")
    if body and not ends_cleanly:
        try:
            _parse_record(path, table, header, *body[-1], next_line=last_line + 1)
        except SchemaError:
            return _parsed(path, table, records[:-1]), body[-1][0]
    return _parsed(path, table, records), None


def _parsed(path: Path, table: Table, records: list[tuple[int, list[str]]]) -> list[dict[str, Value]]:
    """Every record after the header, typed, or a StoreCorruptError naming the first bad line."""
    if not records:
        return []
    header = records[0][1]
    following = [line for line, _ in records[1:]] + [None]
    try:
        return [
            _parse_record(path, table, header, line, record, next_line)
            for (line, record), next_line in zip(records[1:], following[1:], strict=True)
        ]
    except SchemaError as error:
        raise StoreCorruptError(f"{error}; fix or remove the line, then resume") from None


def _parse_record(
    path: Path, table: Table, header: list[str], line: int, record: list[str], next_line: int | None
) -> dict[str, Value]:
    if len(record) != len(header):
        joined = next_line is not None and next_line > line + 1
        raise SchemaError(
            f"{path} line {line}: {len(record)} fields where the header has {len(header)}"
            + (" (a stray quote character joins it to the lines after it)" if joined else "")
        )
    row = table.parse(dict(zip(header, record, strict=True)), where=f"{path} line {line}")
    if CONFIG_KEY in row and not row[CONFIG_KEY]:
        raise SchemaError(f"{path} line {line}: empty {CONFIG_KEY}")
    return row


def _csv_tables(out_dir: Path) -> list[str]:
    return [name for name in MEASURED_TABLES if (out_dir / f"{name}.csv").exists()]


def _append_csv(path: Path, table: Table, rows: list[dict[str, Value]]) -> None:
    if not rows:
        return
    new = not path.exists() or path.stat().st_size == 0
    with open(path, "a", encoding="utf-8", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=table.column_names, lineterminator=_LINE_END)
        if new:
            writer.writeheader()
        writer.writerows(table.format(row) for row in rows)
        file.flush()


def _fsync_directory(directory: Path) -> None:
    # A new or renamed file's name lives in the directory: sync it so the rename survives a power cut.
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


# --- the database --------------------------------------------------------------------------------


def _connect(path: Path) -> sqlite3.Connection:
    try:
        db = sqlite3.connect(path)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        for table in STORED_TABLES.values():
            columns = ", ".join(f'"{column.name}" {_SQL_TYPES[column.kind]}' for column in table.columns)
            db.execute(f'CREATE TABLE IF NOT EXISTS "{table.name}" ({columns})')
            _rename_former_columns(db, table)
            _add_missing_columns(db, table)
        db.commit()
    except sqlite3.DatabaseError as error:
        raise StoreCorruptError(f"{path} is not a readable results database: {error}") from None
    return db


def _present_columns(db: sqlite3.Connection, table: Table) -> set[str]:
    return {row[1] for row in db.execute(f'PRAGMA table_info("{table.name}")')}


def _rename_former_columns(db: sqlite3.Connection, table: Table) -> None:
    """An older version's column names (:attr:`Column.formerly`) become the current ones, values kept."""
    present = _present_columns(db, table)
    for old, new in table.renamed().items():
        if old in present and new not in present:
            db.execute(f'ALTER TABLE "{table.name}" RENAME COLUMN "{old}" TO "{new}"')


def _add_missing_columns(db: sqlite3.Connection, table: Table) -> None:
    present = _present_columns(db, table)
    for column in table.columns:
        if column.name not in present:
            db.execute(f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {_SQL_TYPES[column.kind]}')


def _insert(db: sqlite3.Connection, table: Table, rows: list[dict[str, Value]]) -> None:
    if not rows:
        return
    names = table.column_names
    quoted = ", ".join(f'"{name}"' for name in names)
    marks = ", ".join("?" for _ in names)
    db.executemany(
        f'INSERT INTO "{table.name}" ({quoted}) VALUES ({marks})', [[row[name] for name in names] for row in rows]
    )


def _select(db: sqlite3.Connection, table: Table) -> list[dict[str, Value]]:
    """Every row, typed; a database another (older) version wrote is read by its columns' former names."""
    present = _present_columns(db, table)
    former = {new: old for old, new in table.renamed().items() if old in present}
    names = [name if name in present else former.get(name) for name in table.column_names]
    quoted = ", ".join(f'"{name}"' if name else "NULL" for name in names)
    rows = []
    for values in db.execute(f'SELECT {quoted} FROM "{table.name}" ORDER BY rowid'):
        row: dict[str, Value] = {}
        for column, value in zip(table.columns, values, strict=True):
            if column.kind == "bool" and value is not None:
                value = bool(value)
            elif column.kind == "text" and value is None:
                value = ""
            row[column.name] = value
        rows.append(table.filled(row))
    return rows


def _measured_table(name: str) -> Table:
    schema = MEASURED_TABLES.get(name)
    if schema is None:
        raise ValueError(f"unknown results table {name!r}; tables: {', '.join(MEASURED_TABLES)}")
    return schema


def _keyed(config_key: str, row: Mapping[str, object]) -> dict[str, object]:
    if not isinstance(row, Mapping):
        raise TypeError(f"each row must be a dict, got {row!r}")
    if row.get(CONFIG_KEY, config_key) != config_key:
        raise ValueError(f"row has {CONFIG_KEY}={row[CONFIG_KEY]!r} but is recorded under {config_key!r}")
    return {**row, CONFIG_KEY: config_key}


# --- metadata ------------------------------------------------------------------------------------


def _split_metadata(metadata: dict) -> tuple[dict, dict]:
    """(machine, this run's info), both normalised through JSON."""
    if not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict, got {metadata!r}")
    if "machine" not in metadata:
        raise ValueError("metadata must have a 'machine' entry (the machine fingerprint)")
    if not isinstance(metadata["machine"], dict):
        raise TypeError(f"metadata['machine'] must be a dict, got {metadata['machine']!r}")
    for reserved in ("runs", "schema_version"):
        if reserved in metadata:
            raise ValueError(f"metadata must not have a {reserved!r} entry: the store keeps it")
    # A JSON round trip fails here, not halfway through writing, if something is not serialisable.
    normalised = json.loads(json.dumps(metadata))
    machine = normalised.pop("machine")
    return machine, normalised


def _check_same_machine(out_dir: Path, stored: object, current: dict) -> None:
    stored = stored if isinstance(stored, dict) else {}
    differences = {
        field: (stored.get(field), current.get(field))
        for field in sorted(set(stored) | set(current))
        if stored.get(field) != current.get(field)
    }
    if differences:
        described = "; ".join(
            f"{field}: {old!r} in the folder, {new!r} here" for field, (old, new) in differences.items()
        )
        raise MachineMismatchError(
            f"{out_dir} holds results measured on a different machine ({described}); "
            "results from different machines are never mixed: choose another --out",
            differences,
        )
