"""Hostile and broken model files: each refused in one line, fast, before Keras reads anything.

The checks themselves need no framework (validate.frameworks.model_file imports only the standard
library); the command-line tests run ``validate network FILE`` in a fresh process, where the file is
refused before TensorFlow is imported, and bound its time and peak memory.
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys
import time
import zipfile

import pytest

from validate.frameworks import model_file
from validate.frameworks.model_file import MB, FileLimits, ModelFileError, check_model_file


def zip_bomb(path, megabytes: int) -> None:
    """A .keras-looking zip whose config.json inflates to ``megabytes`` of spaces (about 1000:1)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive, archive.open("config.json", "w") as member:
        for _ in range(megabytes):
            member.write(b" " * MB)


def lying_zip(path, megabytes: int) -> None:
    """config.json stored with a declared size of 100 bytes that inflates to ``megabytes``."""
    zip_bomb(path, megabytes)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("config.json")
    real = info.file_size
    # Rewrite every 4-byte (or zip64 8-byte) copy of the real size: local header, descriptor, directory.
    for width in (4, 8):
        data = data.replace(real.to_bytes(width, "little"), (100).to_bytes(width, "little"))
    path.write_bytes(bytes(data))


def hostile(tmp_path) -> dict:
    """name -> (path, what the one line must say)."""
    (tmp_path / "text.keras").write_text("not a model")
    folder = tmp_path / "folder.keras"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    zip_bomb(tmp_path / "bomb.keras", 80)  # past the default 64 MB config limit
    whole = (tmp_path / "bomb.keras").read_bytes()
    (tmp_path / "truncated.keras").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "legacy.h5").write_bytes(model_file.HDF5_SIGNATURE + bytes(64))
    (tmp_path / "renamed.keras").write_bytes(model_file.HDF5_SIGNATURE + bytes(64))
    with zipfile.ZipFile(tmp_path / "other.keras", "w") as archive:
        archive.writestr("readme.txt", "hello")
    return {
        "not a zip": (tmp_path / "text.keras", "is not a zip archive"),
        "a directory": (folder, "is a directory"),
        "a zip bomb": (tmp_path / "bomb.keras", "config.json would inflate to 80.0 MB, past the limit of 64.0 MB"),
        "a truncated zip": (tmp_path / "truncated.keras", "damaged or truncated zip archive"),
        "an HDF5 file": (tmp_path / "legacy.h5", "legacy HDF5 model file"),
        "HDF5 under .keras": (tmp_path / "renamed.keras", "legacy HDF5 model file"),
        "a zip without config.json": (tmp_path / "other.keras", "without config.json"),
        "a missing file": (tmp_path / "absent.keras", "does not exist"),
    }


CASES = ["not a zip", "a directory", "a zip bomb", "a truncated zip", "an HDF5 file", "HDF5 under .keras"]
CASES += ["a zip without config.json", "a missing file"]


@pytest.mark.parametrize("case", CASES)
def test_each_hostile_file_is_refused_saying_what_it_is(tmp_path, case):
    path, message = hostile(tmp_path)[case]
    with pytest.raises(ModelFileError, match=message) as refused:
        check_model_file(path)
    assert "\n" not in str(refused.value) and str(path) in str(refused.value)


def test_a_zip_directory_that_lies_about_the_size_is_caught(tmp_path):
    path = tmp_path / "liar.keras"
    lying_zip(path, 3)
    with pytest.raises(ModelFileError, match="config.json inflates past the limit|damaged zip archive"):
        check_model_file(path, FileLimits(max_config_bytes=2 * MB))


@pytest.mark.parametrize(
    "limits, message",
    [
        (FileLimits(max_file_bytes=1000), "past the limit of 0.0 MB \\(--max-file-mb\\)"),
        (FileLimits(max_unzipped_bytes=MB), "members would inflate to 2.0 MB.*--max-unzipped-mb"),
        (FileLimits(max_config_bytes=MB), "config.json would inflate to 2.0 MB.*--max-config-mb"),
        (FileLimits(max_members=1), "holds 2 members, past the limit of 1"),
    ],
)
def test_every_limit_is_named_by_its_option(tmp_path, limits, message):
    path = tmp_path / "small.keras"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", " " * (2 * MB - 10))
        archive.writestr("metadata.json", "{}")
    check_model_file(path)  # the defaults let it through
    with pytest.raises(ModelFileError, match=message):
        check_model_file(path, limits)


def test_a_bad_limit_is_refused():
    with pytest.raises(ValueError, match="max_config_bytes must be an integer >= 1, got 0"):
        FileLimits(max_config_bytes=0)


# Runs ``python -m validate`` and reports its peak memory and whether it imported TensorFlow.
PEAK_MEMORY = pathlib.Path(__file__).resolve().parents[3] / "scripts" / "peak_memory.py"


def _cli(*argv: str) -> tuple[subprocess.CompletedProcess, float, str]:
    """``validate ARGV`` in a fresh process: its result (without the wrapper's line), wall seconds, that line."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(PEAK_MEMORY), "validate", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )
    seconds = time.perf_counter() - started
    *lines, report = done.stderr.strip().splitlines()
    done.stderr = "\n".join(lines)
    return done, seconds, report


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_the_command_refuses_each_file_in_one_line_before_any_framework(tmp_path, case):
    path, message = hostile(tmp_path)[case]
    done, seconds, report = _cli("network", str(path))
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("validate: error: "), done.stderr
    assert re.search(message, lines[0]) and done.stdout == ""
    # Refused before TensorFlow is imported (its import alone takes seconds and about 500 MB).
    assert "TENSORFLOW=False" in report
    assert int(report.split()[0].removeprefix("PEAK_KIB=")) < 200 * 1024
    assert seconds < 10
