"""A ``.keras`` file, checked before Keras reads a byte of it.

A model file comes from the user, or from whoever sent it to the user, so it
is treated as hostile until checked (the rules Keras's own safe mode leaves to
the caller):

* it must be a regular file (not a directory, a device or a pipe), no larger
  than ``max_file_bytes``;
* a legacy HDF5 model (``.h5``, ``.hdf5``, or the HDF5 signature) is refused
  by name: its loader has no safe mode to speak of;
* it must be a zip archive whose central directory lists a ``config.json``;
  every member's declared uncompressed size is checked against the limits
  *before* anything is inflated (``config.json`` at most ``max_config_bytes``,
  all members together at most ``max_unzipped_bytes``), so a zip bomb is
  refused in the time it takes to read the directory, in bounded memory.
  ``config.json`` is then inflated a megabyte at a time up to its limit, so a
  directory that lies about its size is caught too (Python's zipfile stops a
  member at its declared size and fails its CRC);
* Keras then loads it with ``safe_mode=True``, said explicitly: a ``Lambda``
  layer's code is never deserialized, let alone run.  The minimum Keras in
  ``setup.cfg`` (3.12) is one whose safe mode has no known bypass
  (CVE-2025-1550 fixed in 3.9, CVE-2025-8747 and CVE-2025-9906 in 3.11,
  CVE-2025-9905 in 3.11.3, CVE-2025-12058 in 3.12).

Every refusal is a :class:`ModelFileError` (a ``ValueError``) of one line
that says what the file is.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import pathlib
import stat
import zipfile

__all__ = [
    "DEFAULT_LIMITS",
    "FileLimits",
    "ModelFileError",
    "check_model_file",
    "content_hash",
    "load_checked_file",
    "names_a_file",
]

MB = 1024 * 1024
#: What a legacy HDF5 file starts with.
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
HDF5_SUFFIXES = (".h5", ".hdf5")


class ModelFileError(ValueError):
    """A model file refused before (or while) Keras reads it: one line saying what the file is."""


@dataclasses.dataclass(frozen=True)
class FileLimits:
    """Bounds on a ``.keras`` file, checked before it is read.

    The defaults hold the largest ``keras.applications`` model (ConvNeXtXLarge:
    350 M parameters, 1.4 GB of float32 weights) with room to spare, and a
    configuration a hundred times larger than any of theirs.
    """

    max_file_bytes: int = 4096 * MB
    max_unzipped_bytes: int = 4096 * MB
    max_config_bytes: int = 64 * MB
    max_members: int = 10_000

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{field.name} must be an integer >= 1, got {value!r}")


DEFAULT_LIMITS = FileLimits()


def _megabytes(size: int) -> str:
    return f"{size / MB:,.1f} MB"


def names_a_file(model: str) -> bool:
    """Whether a model argument is a file (a model file's suffix, a path with a separator, or one that exists)."""
    path = pathlib.Path(model)
    return path.suffix.lower() in (".keras", *HDF5_SUFFIXES) or path.exists() or os.sep in model


def check_model_file(path: str | os.PathLike[str], limits: FileLimits = DEFAULT_LIMITS) -> pathlib.Path:
    """The path of a ``.keras`` file that passed every check; :class:`ModelFileError` otherwise."""
    path = pathlib.Path(path)
    try:
        status = path.stat()
    except FileNotFoundError:
        raise ModelFileError(f"{path} does not exist") from None
    except OSError as error:
        raise ModelFileError(f"{path} cannot be read: {error.strerror or error}") from None
    if stat.S_ISDIR(status.st_mode):
        raise ModelFileError(f"{path} is a directory, not a .keras file (a zip archive holding config.json)")
    if not stat.S_ISREG(status.st_mode):
        raise ModelFileError(f"{path} is not a regular file (a device, a pipe or a socket), so not a .keras file")
    if status.st_size > limits.max_file_bytes:
        raise ModelFileError(
            f"{path} is {_megabytes(status.st_size)}, past the limit of {_megabytes(limits.max_file_bytes)} "
            "(--max-file-mb)"
        )
    with path.open("rb") as handle:
        head = handle.read(8)
    if path.suffix.lower() in HDF5_SUFFIXES or head.startswith(HDF5_SIGNATURE):
        raise ModelFileError(
            f"{path} is a legacy HDF5 model file, which is not read (its loader has no safe mode); "
            "re-save the model as .keras: model.save('model.keras')"
        )
    if not zipfile.is_zipfile(path):
        if head.startswith(b"PK"):
            raise ModelFileError(f"{path} is a damaged or truncated zip archive: it has no zip directory at its end")
        raise ModelFileError(f"{path} is not a zip archive, so not a .keras file (it starts with {head[:4]!r})")
    _check_members(path, _identity(status), limits)
    return path


def _identity(status: os.stat_result) -> tuple:
    """What tells one version of a file from another: the same inode, size and modification time."""
    return (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)


# The command checks a file before importing a framework, and the loader checks it again for its
# other callers; a file that has not changed since it passed is not read twice.
@functools.lru_cache(maxsize=16)
def _check_members(path: pathlib.Path, identity: tuple, limits: FileLimits) -> None:
    """The archive's directory first (members, names, declared sizes), then config.json inflated up to its limit."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            _check_declared(path, members, limits)
            _check_config_inflates_within(path, archive, limits.max_config_bytes)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, RuntimeError) as error:
        if isinstance(error, ModelFileError):
            raise
        raise ModelFileError(f"{path} is a damaged zip archive: {str(error).splitlines()[0][:200]}") from None


def _check_config_inflates_within(path: pathlib.Path, archive: zipfile.ZipFile, limit: int) -> None:
    """Inflate config.json a megabyte at a time, up to the limit: a size the directory lies about is caught too."""
    inflated = 0
    with archive.open("config.json") as member:
        while block := member.read(MB):
            inflated += len(block)
            if inflated > limit:
                raise ModelFileError(
                    f"{path}: its config.json inflates past the limit of {_megabytes(limit)} (--max-config-mb), "
                    "more than its zip directory declares; not read"
                )


def _check_declared(path: pathlib.Path, members: list, limits: FileLimits) -> None:
    """The members' names and declared sizes against the limits."""
    if len(members) > limits.max_members:
        raise ModelFileError(f"{path} holds {len(members):,} members, past the limit of {limits.max_members:,}")
    names = {member.filename for member in members}
    if "config.json" not in names:
        raise ModelFileError(f"{path} is a zip archive without config.json, so not a .keras model file")
    config = next(member for member in members if member.filename == "config.json")
    if config.file_size > limits.max_config_bytes:
        raise ModelFileError(
            f"{path}: its config.json would inflate to {_megabytes(config.file_size)}, past the limit of "
            f"{_megabytes(limits.max_config_bytes)} (--max-config-mb); not read"
        )
    total = sum(member.file_size for member in members)
    if total > limits.max_unzipped_bytes:
        raise ModelFileError(
            f"{path}: its members would inflate to {_megabytes(total)}, past the limit of "
            f"{_megabytes(limits.max_unzipped_bytes)} (--max-unzipped-mb); not read"
        )


def load_checked_file(path: pathlib.Path, keras):
    """A ``.keras`` file that :func:`check_model_file` passed, loaded by Keras in safe mode, not compiled."""
    try:
        loaded = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # Keras raises many types for a bad file  # noqa: BLE001
        text = " ".join(str(error).split()) or type(error).__name__
        if "safe_mode" in text or "Lambda" in text:
            raise ModelFileError(
                f"{path} holds Python code (a Lambda layer or a lambda function), which is never run: "
                "safe mode refuses it"
            ) from None
        raise ModelFileError(f"{path} is not a Keras model Keras can load: {text[:200]}") from None
    if not isinstance(loaded, keras.Model):
        raise ModelFileError(f"{path} holds a {type(loaded).__name__}, not a Keras model")
    return loaded


def content_hash(path: str | os.PathLike[str]) -> str:
    """The file's SHA-256, its first 16 hex digits: what identifies a model file in the store.

    Read once per version of the file: a run asks for its key more than once.
    """
    path = pathlib.Path(path)
    return _hash(path, _identity(path.stat()))


@functools.lru_cache(maxsize=16)
def _hash(path: pathlib.Path, identity: tuple) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(MB), b""):
            digest.update(block)
    return digest.hexdigest()[:16]
