"""Helpers shared by the tests: running the validator as a user would, in a subprocess, interrupting
such a subprocess, and a synthetic device for the latency model's fits."""

import csv
import pathlib
import signal
import subprocess
import sys

# A synthetic device: ceilings and overheads, and per-kind efficiency curves whose layers are
# compute-bound at the calibration's widths (a memory-bound layer says nothing of its curve).
SYNTHETIC_CEILINGS = dict(
    peak_flops_per_second=1e11, bandwidth_bytes_per_second=1e10, op_overhead_seconds=1e-6, call_overhead_seconds=2e-5
)
SYNTHETIC_CURVES = {
    "dense": {"max": 0.9, "half_channels": 16.0},
    "pointwise": {"max": 0.5, "half_channels": 8.0},
    "depthwise": {"max": 0.05, "half_channels": 0.0},
    "asymmetric": {"max": 0.7, "half_channels": 16.0},
}

# The repository's root, wherever a test file sits below tests/.
REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent


def validate(*argv, timeout=300):
    """``python -m validate ARGV``, its output captured."""
    return subprocess.run([sys.executable, "-m", "validate", *argv], capture_output=True, text=True, timeout=timeout)


def restore_sigint() -> None:
    """``preexec_fn`` of a child that a test interrupts with SIGINT (Ctrl-C): its default action back.

    A background job of a non-interactive shell (``bash -c 'make test &'``, a CI runner) starts
    with SIGINT ignored, and an ignored signal stays ignored across fork and exec.  Python, finding
    SIGINT ignored at start-up, installs no KeyboardInterrupt handler, so the child would never see
    the test's Ctrl-C.  ``subprocess.Popen(..., preexec_fn=restore_sigint)`` starts it as a terminal would.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def read(path):
    """The rows of a result CSV."""
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))
