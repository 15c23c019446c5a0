"""Run one worker process to the end, whatever happens to it.

A worker is an ordinary ``validate`` run of the same plan into its own folder
(``<out>/processes/p<k>``), in its own order, that says on stdout which
configuration it starts and which it finished::

    measuring <config key>
    measured <config key>
    clock <wall seconds after its imports> <seconds inside timed calls>

The supervisor reads those lines.  A worker that dies (a segfault, the OOM
killer, ``kill -9``) or says nothing for ``timeout_seconds`` (a hang: it is
killed) has lost the configuration it was measuring; ``on_lost`` records that
as an error row naming the worker, and the worker is started again: it resumes
its own folder and goes on with the next configuration.  Nothing is a silent
gap, and one bad configuration never stops the sweep.
"""

from __future__ import annotations

import dataclasses
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable

MEASURING, MEASURED, CLOCK = "measuring ", "measured ", "clock "

#: A worker that loses this many configurations in a row without finishing any is given up.
MAX_CONSECUTIVE_LOSSES = 3


class WorkerError(RuntimeError):
    """A worker process could not run at all; the message quotes the end of its log."""


@dataclasses.dataclass(frozen=True)
class Lost:
    """A configuration a worker was measuring when it died or hung."""

    key: str
    reason: str


def announce(prefix: str, key: str) -> None:
    """A worker's line for the supervisor (stdout, flushed at once)."""
    print(f"{prefix}{key}", flush=True)


def supervise(
    launch: Callable[[], subprocess.Popen],
    *,
    name: str,
    timeout_seconds: float,
    on_lost: Callable[[Lost], None],
    on_measured: Callable[[str], None] = lambda key: None,
    on_clock: Callable[[float, float], None] = lambda wall, timed: None,
) -> list[Lost]:
    """Run ``launch()`` until it exits cleanly, restarting it after each lost configuration.

    ``launch`` must start the worker with ``stdout=subprocess.PIPE`` (text mode) and
    resume its own results, so that a restart skips what is stored.  Returns every lost
    configuration, in order.

    Raises
    ------
    WorkerError
        If the worker fails without having started a configuration (it cannot run at all),
        or loses MAX_CONSECUTIVE_LOSSES configurations in a row.
    """
    lost: list[Lost] = []
    consecutive = 0
    while True:
        process = launch()
        current, outcome, finished = _follow(process, timeout_seconds, on_measured, on_clock)
        if outcome == "done":
            return lost
        if current is None:
            raise WorkerError(f"{name} {outcome} before measuring anything")
        loss = Lost(current, f"{name} {outcome} while measuring this configuration")
        on_lost(loss)
        lost.append(loss)
        consecutive = 1 if finished else consecutive + 1
        if consecutive >= MAX_CONSECUTIVE_LOSSES:
            raise WorkerError(f"{name} lost {consecutive} configurations in a row; giving up on it")


def _follow(process: subprocess.Popen, timeout_seconds: float, on_measured, on_clock):
    """(key being measured when it ended or None, "done" | "died (...)" | "hung (...)", how many finished)."""
    assert process.stdout is not None
    current: str | None = None
    finished = 0
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout_seconds
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                _kill(process)
                return current, f"hung (no progress for {timeout_seconds:g} s; killed)", finished
            line = process.stdout.readline()
            if not line:  # end of output: the worker exited
                break
            deadline = time.monotonic() + timeout_seconds
            line = line.rstrip("\n")
            if line.startswith(MEASURING):
                current = line[len(MEASURING) :]
            elif line.startswith(MEASURED):
                on_measured(line[len(MEASURED) :])
                current = None
                finished += 1
            elif line.startswith(CLOCK):
                wall, timed = line[len(CLOCK) :].split()
                on_clock(float(wall), float(timed))
        status = process.wait()
    finally:
        selector.close()
        process.stdout.close()
    return current, "done" if status == 0 else f"died ({_describe(status)})", finished


def _kill(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)  # the worker and anything it started
    except (ProcessLookupError, PermissionError):
        process.kill()
    process.wait()


def _describe(status: int) -> str:
    if status < 0:
        try:
            return f"signal {signal.Signals(-status).name}"
        except ValueError:
            return f"signal {-status}"
    return f"exit status {status}"
