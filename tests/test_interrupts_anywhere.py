"""The tests that interrupt a child pass where SIGINT is ignored, as in a background job of a
non-interactive shell (``bash -c 'make test > log 2>&1 & wait'``): helpers.restore_sigint."""

import json
import signal
import subprocess
import sys

from helpers import REPO_ROOT


def ignore_sigint() -> None:
    """``preexec_fn``: SIGINT ignored, as a shell without job control starts a background job."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


# How this process handles SIGINT: "ignored", "KeyboardInterrupt" (Python's own) or the handler.
HANDLING = """
import signal

def handling():
    handler = signal.getsignal(signal.SIGINT)
    return {signal.SIG_IGN: "ignored", signal.default_int_handler: "KeyboardInterrupt"}.get(handler, repr(handler))
"""

# Run with SIGINT ignored: a child started plainly inherits the ignoring, one started with
# restore_sigint does not; sent SIGINT, the first runs on (a second is ample) and the other dies of it.
CHILDREN = (
    HANDLING
    + """
import json, subprocess, sys
from helpers import restore_sigint

ask = HANDLING + "print(handling(), flush=True); import time; time.sleep(60)"
seen = {}
for name, preexec_fn, wait in (("plain", None, 1), ("restored", restore_sigint, 30)):
    child = subprocess.Popen([sys.executable, "-c", ask], stdout=subprocess.PIPE, text=True, preexec_fn=preexec_fn)
    seen[name] = child.stdout.readline().strip()
    child.send_signal(signal.SIGINT)
    try:
        seen[name + " status"] = child.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        child.kill()
        seen[name + " status"] = "still running"
        child.wait()
print(json.dumps({"parent": handling(), **seen}))
"""
)


def test_restore_sigint_gives_the_child_its_default_sigint_where_the_parent_ignores_it():
    done = subprocess.run(
        [sys.executable, "-c", f"HANDLING = {HANDLING!r}\n{CHILDREN}"],
        cwd=REPO_ROOT / "tests",
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=ignore_sigint,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["parent"] == "ignored"
    assert seen["plain"] == "ignored" and seen["plain status"] == "still running"  # the failure it fixes
    assert seen["restored"] == "KeyboardInterrupt"
    assert seen["restored status"] == -signal.SIGINT  # an uncaught KeyboardInterrupt ends Python by SIGINT


def test_the_ctrl_c_test_passes_in_a_process_that_ignores_sigint():
    # The cost model's Ctrl-C test, run by a pytest that ignores SIGINT (its other user,
    # test_validate_cli.py's, needs TensorFlow and minutes; restore_sigint is the same).
    test = "tests/costmodel/test_cli_limits.py::test_ctrl_c_during_a_long_sweep_exits_130_with_one_line"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=ignore_sigint,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
