"""Helpers shared by the tests that run the validator as a user would, in a subprocess."""

import csv
import pathlib
import subprocess
import sys

# The repository's root, wherever a test file sits below tests/.
REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent


def validate(*argv, timeout=300):
    """``python -m validate ARGV``, its output captured."""
    return subprocess.run([sys.executable, "-m", "validate", *argv], capture_output=True, text=True, timeout=timeout)


def read(path):
    """The rows of a result CSV."""
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))
