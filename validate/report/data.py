"""Results folders read into tidy pandas frames, never mixing machines silently.

A results folder is what ``python -m validate`` writes under ``--out``:
``seed.csv``, ``factorizations.csv``, ``samples.csv``, ``metadata.json``,
and, after ``validate calibrate``, ``device_profile_<device>.json`` and
``accuracy_<device>.csv``.  Every file is optional, but a folder holding none
of them is an error: a typo in a path must not give an empty report.

Several folders are several machines (this machine's CPU run, a GPU run
committed under ``docs/results/<name>/``).  Each row gets a ``machine``
column from its folder's metadata.  When two folders hold rows for the same
device label but were measured on different machines, the label is made
unique (``"cpu (AMD EPYC 7763)"``), so a chart or a median never pools two
machines' timings under one name.

The CSV files are all text; here each column gets its type: numbers (an
empty cell is NaN, ``inf`` is infinity), the flag columns as pandas'
nullable ``boolean``, the rest text with empty strings for missing values.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import pandas as pd

from costmodel.latency import DeviceProfile
from validate.experiments.runner import FACTORIZATION_COLUMNS, SEED_COLUMNS

SEED_FILE = "seed.csv"
FACTORIZATION_FILE = "factorizations.csv"
SAMPLES_FILE = "samples.csv"
METADATA_FILE = "metadata.json"
ACCURACY_PATTERN = "accuracy_*.csv"
PROFILE_PATTERN = "device_profile_*.json"

# Columns that hold words, and the flag columns; every other known column is a number.
TEXT_COLUMNS = frozenset({"config_key", "backend", "flops_checked_by", "device", "mode",
                          "layer_type", "case", "scheme",
                          "activation", "verdict", "reason", "stop_reason", "original_stop_reason",
                          "factorized_stop_reason", "error", "role", "model", "quantity"})
BOOL_COLUMNS = frozenset({"noisy", "original_noisy", "factorized_noisy", "diverges", "sign_flip"})
SAMPLES_COLUMNS = ["config_key", "role", "sample", "seconds"]
ACCURACY_COLUMNS = ["device", "model", "quantity", "count", "within_10_percent",
                    "within_20_percent", "median_absolute_percentage_error"]
_TRUTH = {"true": True, "false": False, "1": True, "0": False}


@dataclasses.dataclass
class Results:
    """Everything the report shows, from one or more results folders.

    Attributes
    ----------
    seed, factorizations : pandas.DataFrame
        One row per configuration, in the CSV schema of
        :data:`validate.experiments.runner.SEED_COLUMNS` / ``FACTORIZATION_COLUMNS``
        (columns an older run lacks are added empty), plus ``machine`` and
        ``folder``.  Rows whose ``error`` is not empty failed to measure.
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
    """

    seed: pd.DataFrame
    factorizations: pd.DataFrame
    samples: pd.DataFrame | None
    accuracy: pd.DataFrame
    profiles: dict
    metadata: list
    folders: list

    @property
    def devices(self) -> list[str]:
        """Every device label that has rows or a profile, in first-seen order."""
        labels = [*self.seed.get("device", []), *self.factorizations.get("device", []),
                  *self.accuracy.get("device", []), *self.profiles]
        return list(dict.fromkeys(labels))


def measured(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows that were measured (no ``error``)."""
    return frame[frame["error"] == ""] if "error" in frame else frame


def typed(frame: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """A frame read as text, with numbers, flags and text in their own types.

    ``columns``, when given, are the schema: missing ones are added empty
    (an older run's file lacks the newer columns), so later code can rely on them.
    """
    frame = frame.copy()
    for column in columns or []:
        if column not in frame:
            frame[column] = ""
    for column in frame.columns:
        values = frame[column].fillna("").astype(str).str.strip()
        if column in TEXT_COLUMNS:
            frame[column] = values
        elif column in BOOL_COLUMNS:
            frame[column] = values.str.lower().map(_TRUTH).astype("boolean")
        else:
            numbers = pd.to_numeric(values, errors="coerce").astype(float)
            # A column of words this module does not know (a newer schema) stays text.
            blank = values.str.lower().isin(["", "nan"])
            frame[column] = values if (numbers.isna() & ~blank).any() else numbers
    return frame


def _read_csv(path: pathlib.Path, columns: list[str] | None = None) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        frame = pd.DataFrame(columns=columns or [])
    except pd.errors.ParserError as error:
        raise ValueError(f"{path} is not a readable CSV file: {error}") from None
    return typed(frame, columns)


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
    seed: pd.DataFrame | None = None
    factorizations: pd.DataFrame | None = None
    samples: pd.DataFrame | None = None
    accuracy: list = dataclasses.field(default_factory=list)
    profiles: dict = dataclasses.field(default_factory=dict)

    def frames(self) -> list[pd.DataFrame]:
        return [f for f in (self.seed, self.factorizations, *self.accuracy) if f is not None]

    def device_labels(self) -> set[str]:
        labels = {label for frame in self.frames() for label in frame["device"]}
        return labels | set(self.profiles)


def _read_metadata(path: pathlib.Path) -> dict:
    file = path / METADATA_FILE
    if not file.exists():
        return {}
    try:
        document = json.loads(file.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{file} is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise ValueError(f"{file} must hold a JSON object")
    return document


def _read_folder(path: pathlib.Path) -> _Folder:
    if not path.is_dir():
        raise ValueError(f"results folder {path} does not exist")
    folder = _Folder(path, _read_metadata(path))
    if (path / SEED_FILE).exists():
        folder.seed = _read_csv(path / SEED_FILE, SEED_COLUMNS)
    if (path / FACTORIZATION_FILE).exists():
        folder.factorizations = _read_csv(path / FACTORIZATION_FILE, FACTORIZATION_COLUMNS)
    if (path / SAMPLES_FILE).exists():
        folder.samples = _read_csv(path / SAMPLES_FILE, SAMPLES_COLUMNS)
    folder.accuracy = [_read_csv(file, ACCURACY_COLUMNS) for file in sorted(path.glob(ACCURACY_PATTERN))]
    for file in sorted(path.glob(PROFILE_PATTERN)):
        profile = DeviceProfile.load(file)
        folder.profiles[profile.device] = profile
    if not folder.frames() and not folder.profiles:
        raise ValueError(f"results folder {path} holds no results (none of {SEED_FILE}, "
                         f"{FACTORIZATION_FILE}, {ACCURACY_PATTERN}, {PROFILE_PATTERN})")
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
        renames.append({device: device if len(machines_of[device]) == 1
                        else f"{device} ({_hardware(folder.metadata, device)})"
                        for device in folder.device_labels()})
    # Two machines with the same hardware name (e.g. after a software upgrade): add the folder.
    owners: dict[str, str] = {}
    for folder, rename in zip(folders, renames):
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


def _concat(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    frames = [frame for frame in frames if frame is not None]
    if not frames:
        return typed(pd.DataFrame(columns=[*columns, "machine", "folder"]), columns)
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
    tagged = {"seed": [], "factorizations": [], "samples": [], "accuracy": []}
    profiles = {}
    for folder, rename in zip(read, renames):
        for name in ("seed", "factorizations", "samples"):
            frame = getattr(folder, name)
            if frame is not None:
                tagged[name].append(_tag(frame, folder, rename))
        tagged["accuracy"].extend(_tag(frame, folder, rename) for frame in folder.accuracy)
        profiles.update({rename[device]: profile for device, profile in folder.profiles.items()})
    return Results(seed=_concat(tagged["seed"], SEED_COLUMNS),
                   factorizations=_concat(tagged["factorizations"], FACTORIZATION_COLUMNS),
                   samples=_concat(tagged["samples"], SAMPLES_COLUMNS) if tagged["samples"] else None,
                   accuracy=_concat(tagged["accuracy"], ACCURACY_COLUMNS),
                   profiles=profiles, metadata=[folder.metadata for folder in read],
                   folders=[folder.path for folder in read])
