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
import queue
import signal
import subprocess
import threading
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
        try:
            current, outcome, finished = _follow(process, timeout_seconds, on_measured, on_clock)
        except BaseException:  # Ctrl-C, or a failure here: the worker must not run on unsupervised
            _kill(process)
            raise
        if outcome == "done":
            return lost
        if current is None:
            if finished:  # it ended between two configurations: nothing was lost, start it again
                continue
            raise WorkerError(f"{name} {outcome} before measuring anything")
        loss = Lost(current, f"{name} {outcome} while measuring this configuration")
        on_lost(loss)
        lost.append(loss)
        consecutive = 1 if finished else consecutive + 1
        if consecutive >= MAX_CONSECUTIVE_LOSSES:
            raise WorkerError(f"{name} lost {consecutive} configurations in a row; giving up on it")


class _Progress:
    """What a worker has said so far: the configuration it is on, how many it finished, whether it ended."""

    def __init__(self, on_measured, on_clock) -> None:
        self.current: str | None = None
        self.finished = 0
        self.clocked = False  # its last line: everything it was given is stored
        self._on_measured, self._on_clock = on_measured, on_clock

    def read(self, line: str) -> None:
        line = line.rstrip("\n")
        if line.startswith(MEASURING):
            self.current = line[len(MEASURING) :]
        elif line.startswith(MEASURED):
            self._on_measured(line[len(MEASURED) :])
            self.current = None
            self.finished += 1
        elif line.startswith(CLOCK):
            wall, timed = line[len(CLOCK) :].split()
            self._on_clock(float(wall), float(timed))
            self.clocked = True


def _follow(process: subprocess.Popen, timeout_seconds: float, on_measured, on_clock):
    """(key being measured when it ended or None, "done" | "died (...)" | "hung (...)", how many finished).

    A thread reads the worker's lines into a queue, so that waiting for the next one can time out
    (``select`` on a buffered pipe would miss lines already read into the buffer).  A worker that
    said its last line is done, whatever its exit status (a framework may crash on the way out).
    """
    assert process.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(target=_read_lines, args=(process.stdout, lines), daemon=True)
    reader.start()
    said = _Progress(on_measured, on_clock)
    while True:
        try:
            line = lines.get(timeout=timeout_seconds)
        except queue.Empty:
            _kill(process)
            reader.join()
            while (late := lines.get()) is not None:  # what it wrote just before it was killed
                said.read(late)
            outcome = "done" if said.clocked else f"hung (no progress for {timeout_seconds:g} s; killed)"
            return said.current, outcome, said.finished
        if line is None:  # end of output: the worker exited
            break
        said.read(line)
    status = process.wait()
    reader.join()
    outcome = "done" if status == 0 or said.clocked else f"died ({_describe(status)})"
    return said.current, outcome, said.finished


def _read_lines(stream, lines: queue.Queue) -> None:
    try:
        for line in stream:
            lines.put(line)
    finally:
        stream.close()
        lines.put(None)


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
