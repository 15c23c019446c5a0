"""Results folders read into tidy pandas frames, never mixing machines silently.

A results folder is what ``python -m validate`` writes under ``--out``: a
CSV file per measured table (``seed.csv``, ``factorizations.csv``,
``networks.csv``: :data:`validate.results.schema.MEASURED_TABLES` names them),
``samples.csv``, ``metadata.json``, and, after ``validate calibrate``,
``device_profile_<device>.json`` and ``accuracy_<device>.csv``.  Every file is
optional, but a folder holding none of them is an error: a typo in a path
must not give an empty report.

Several folders are several machines (this machine's CPU run, a GPU run
committed under ``docs/results/<name>/``, once one is measured).  Each row gets a ``machine``
column from its folder's metadata.  When two folders hold rows for the same
device label but were measured on different machines, the label is made
unique (``"cpu (AMD EPYC 7763)"``), so a chart or a median never pools two
machines' timings under one name.

Each CSV is read strictly with its table's schema
(:mod:`validate.results.schema`): a value that does not have its column's
type is an error naming the file and the line.  In the frames, whole numbers
are pandas' nullable ``Int64`` (no value is ``<NA>``), other numbers floats (no
value is NaN), flags the nullable ``boolean``, text ``str`` with empty strings
for missing values.
"""

from __future__ import annotations

import dataclasses
import json
import math
import pathlib
import sys

import pandas as pd

from costmodel.latency import DeviceProfile, ProfileVersionError
from validate.results import agreement, schema
from validate.results.store import read_csv_strictly, read_metadata

SAMPLES_FILE = schema.SAMPLES.file_name
METADATA_FILE = "metadata.json"
ACCURACY_PATTERN = "accuracy_*.csv"
PROFILE_PATTERN = "device_profile_*.json"
RETEST_FILE = agreement.RETEST_FILE


@dataclasses.dataclass
class Results:
    """Everything the report shows, from one or more results folders.

    Attributes
    ----------
    tables : dict of pandas.DataFrame
        Per measured table (:data:`validate.results.schema.MEASURED_TABLES`), one row per
        configuration with the table's columns (columns an older run lacks have no value), plus
        ``machine`` and ``folder``.  Rows whose ``error`` is not empty failed to measure.
        ``seed``, ``factorizations`` and ``networks`` name them.
    samples : pandas.DataFrame or None
        Every raw sample (``config_key``, ``role``, ``sample``, ``seconds``,
        ``machine``, ``folder``); None when no folder has ``samples.csv``.
    accuracy : pandas.DataFrame
        The latency model and the naive model scored per device.
    profiles : dict
        Device label -> :class:`costmodel.latency.DeviceProfile`.
    metadata : list of dict
        Each folder's ``metadata.json`` (or ``{}``), in folder order.
    folders : list of pathlib.Path
        The folders read, in the order given.
    retests : list of dict or None
        Each folder's ``retest.json`` (``validate retest``), or None, in folder order.
    """

    tables: dict[str, pd.DataFrame]
    samples: pd.DataFrame | None
    accuracy: pd.DataFrame
    profiles: dict
    metadata: list
    folders: list
    retests: list = dataclasses.field(default_factory=list)

    @property
    def seed(self) -> pd.DataFrame:
        return self.tables[schema.SEED.name]

    @property
    def factorizations(self) -> pd.DataFrame:
        return self.tables[schema.FACTORIZATIONS.name]

    @property
    def networks(self) -> pd.DataFrame:
        return self.tables[schema.NETWORKS.name]

    @property
    def devices(self) -> list[str]:
        """Every device label that has rows or a profile, in first-seen order."""
        labels = [label for frame in (*self.tables.values(), self.accuracy) for label in frame.get("device", [])]
        return list(dict.fromkeys([*labels, *self.profiles]))


#: What a table cell shows where there is no value.
MISSING = "–"


def interval_columns(frame: pd.DataFrame, table: schema.MeasuredTable) -> dict[str, list[str]]:
    """A measured table's 95% confidence and rerun intervals as text columns, named by its descriptor."""

    def texts(low_name: str, high_name: str) -> list[str]:
        return [
            f"[{low:.3g}, {high:.3g}]" if pd.notna(low) and pd.notna(high) and math.isfinite(high - low) else MISSING
            for low, high in zip(frame[low_name], frame[high_name], strict=True)
        ]

    return {"95% CI": texts(*table.interval), "rerun interval": texts(*table.rerun)}


def measured(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows that were measured (no ``error``)."""
    return frame[frame["error"] == ""] if "error" in frame else frame


def typed(rows: list[dict], table: schema.Table) -> pd.DataFrame:
    """Typed rows as a frame: whole numbers ``Int64``, other numbers floats (NaN for no value), flags
    ``boolean``, text str."""
    frame = pd.DataFrame(rows, columns=table.column_names)
    for column in table.columns:
        if column.kind == "int":
            frame[column.name] = frame[column.name].astype("Int64")
        elif column.kind == "float":
            frame[column.name] = pd.to_numeric(frame[column.name]).astype(float)
        elif column.kind == "bool":
            frame[column.name] = frame[column.name].astype("boolean")
        else:
            frame[column.name] = frame[column.name].astype(object).fillna("").astype(str)
    return frame


def _read_csv(path: pathlib.Path, table: schema.Table) -> pd.DataFrame:
    rows, _torn = read_csv_strictly(path, table)  # a torn last line is the measuring run's to repair
    return typed(rows, table)


def machine_label(metadata: dict) -> str:
    """The machine in words: CPU model, and its GPUs if any, e.g. 'Intel Xeon + NVIDIA H200'."""
    machine = metadata.get("machine") or {}
    label = str(machine.get("cpu_model") or "unknown machine")
    gpus = machine.get("gpus") or []
    return f"{label} + {', '.join(map(str, gpus))}" if gpus else label


def _hardware(metadata: dict, device: str) -> str:
    """The part of the machine a device label stands for: the GPU for 'gpu', else the CPU.

    A backend other than TensorFlow (the reference) is named too, so the same
    GPU measured through JAX and through TensorFlow gets two labels.
    """
    machine = metadata.get("machine") or {}
    if device.startswith("gpu") and machine.get("gpus"):
        hardware = ", ".join(map(str, machine["gpus"]))
    else:
        hardware = str(machine.get("cpu_model") or "unknown machine")
    backend = machine.get("backend", "tensorflow")
    return hardware if backend == "tensorflow" else f"{hardware}, {backend}"


def _fingerprint(metadata: dict) -> str:
    """What must match for two folders to be the same machine (as the store decides)."""
    return json.dumps(metadata.get("machine") or {}, sort_keys=True)


@dataclasses.dataclass
class _Folder:
    """One folder's files, before device labels are made unique across folders."""

    path: pathlib.Path
    metadata: dict
    tables: dict[str, pd.DataFrame] = dataclasses.field(default_factory=dict)
    samples: pd.DataFrame | None = None
    accuracy: list = dataclasses.field(default_factory=list)
    profiles: dict = dataclasses.field(default_factory=dict)
    retest: dict | None = None

    def frames(self) -> list[pd.DataFrame]:
        return [*self.tables.values(), *self.accuracy]

    def device_labels(self) -> set[str]:
        labels = {label for frame in self.frames() for label in frame["device"]}
        return labels | set(self.profiles)


def _read_metadata(path: pathlib.Path) -> dict:
    return read_metadata(path) or {}


def _read_folder(path: pathlib.Path) -> _Folder:
    if not path.is_dir():
        raise ValueError(f"results folder {path} does not exist")
    folder = _Folder(path, _read_metadata(path))
    for table in schema.MEASURED_TABLES.values():
        if (path / table.file_name).exists():
            folder.tables[table.name] = _read_csv(path / table.file_name, table)
    if (path / SAMPLES_FILE).exists():
        folder.samples = _read_csv(path / SAMPLES_FILE, schema.SAMPLES)
    folder.accuracy = [_read_csv(file, schema.ACCURACY) for file in sorted(path.glob(ACCURACY_PATTERN))]
    if (path / RETEST_FILE).exists():
        folder.retest = agreement.read_retest(path / RETEST_FILE)
        ceiling = agreement.ceiling(folder.retest)
        if ceiling:
            folder.accuracy.append(typed(ceiling, schema.ACCURACY))
    older = []
    for file in sorted(path.glob(PROFILE_PATTERN)):
        try:
            profile = DeviceProfile.load(file)
        except ProfileVersionError as error:  # the measurements still render; only the model's view is left out
            print(f"validate.report: {error}; its roofline is left out of the report", file=sys.stderr)
            older.append(file.name)
            continue
        folder.profiles[profile.device] = profile
    if not folder.frames() and not folder.profiles and older:
        raise ValueError(
            f"results folder {path} holds only device profiles of an older latency model "
            f"({', '.join(older)}): recalibrate with python -m validate calibrate"
        )
    if not folder.frames() and not folder.profiles:
        files = [table.file_name for table in schema.MEASURED_TABLES.values()]
        raise ValueError(
            f"results folder {path} holds no results (none of {', '.join(files)}, "
            f"{ACCURACY_PATTERN}, {PROFILE_PATTERN})"
        )
    if not folder.metadata and folder.profiles:
        # A folder with only a calibration: the profile records its machine too.
        first = next(iter(folder.profiles.values()))
        folder.metadata = {"machine": first.extra.get("machine") or {}}
    return folder


def _unique_labels(folders: list[_Folder]) -> list[dict]:
    """Per folder, device -> label, qualified where another machine uses the same device name."""
    machines_of: dict[str, set[str]] = {}
    for folder in folders:
        for device in folder.device_labels():
            machines_of.setdefault(device, set()).add(_fingerprint(folder.metadata))
    renames = []
    for folder in folders:
        renames.append(
            {
                device: device if len(machines_of[device]) == 1 else f"{device} ({_hardware(folder.metadata, device)})"
                for device in folder.device_labels()
            }
        )
    # Two machines with the same hardware name (e.g. after a software upgrade): add the folder.
    owners: dict[str, str] = {}
    for folder, rename in zip(folders, renames, strict=False):
        for device, label in rename.items():
            if owners.setdefault(label, _fingerprint(folder.metadata)) != _fingerprint(folder.metadata):
                rename[device] = f"{device} ({_hardware(folder.metadata, device)}, {folder.path.name})"
    return renames


def _tag(frame: pd.DataFrame, folder: _Folder, rename: dict) -> pd.DataFrame:
    frame = frame.copy()
    if "device" in frame:
        frame["device"] = frame["device"].map(lambda device: rename.get(device, device))
    frame["machine"] = machine_label(folder.metadata)
    frame["folder"] = str(folder.path)
    return frame


def _concat(frames: list[pd.DataFrame], table: schema.Table) -> pd.DataFrame:
    frames = [frame for frame in frames if frame is not None]
    if not frames:
        empty = typed([], table)
        return empty.assign(machine=pd.Series(dtype=str), folder=pd.Series(dtype=str))
    return pd.concat(frames, ignore_index=True)


def load_results(*folders) -> Results:
    """Read one or more results folders into a :class:`Results`.

    Parameters
    ----------
    *folders : str or os.PathLike
        Results folders, each from one machine.

    Raises
    ------
    ValueError
        No folder given, a folder that does not exist or holds no results
        (named in the message), or a file that cannot be read.
    """
    if not folders:
        raise ValueError("load_results needs at least one results folder")
    read = [_read_folder(pathlib.Path(folder)) for folder in folders]
    renames = _unique_labels(read)
    tagged: dict[str, list[pd.DataFrame]] = {name: [] for name in schema.STORED_TABLES}
    accuracy: list[pd.DataFrame] = []
    profiles = {}
    for folder, rename in zip(read, renames, strict=False):
        for name, frame in folder.tables.items():
            tagged[name].append(_tag(frame, folder, rename))
        if folder.samples is not None:
            tagged[schema.SAMPLES.name].append(_tag(folder.samples, folder, rename))
        accuracy.extend(_tag(frame, folder, rename) for frame in folder.accuracy)
        profiles.update({rename[device]: profile for device, profile in folder.profiles.items()})
    samples = tagged[schema.SAMPLES.name]
    return Results(
        tables={name: _concat(tagged[name], table) for name, table in schema.MEASURED_TABLES.items()},
        samples=_concat(samples, schema.SAMPLES) if samples else None,
        accuracy=_concat(accuracy, schema.ACCURACY),
        profiles=profiles,
        metadata=[folder.metadata for folder in read],
        folders=[folder.path for folder in read],
        retests=[folder.retest for folder in read],
    )
