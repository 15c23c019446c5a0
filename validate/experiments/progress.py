"""A progress bar with an ETA for long measuring runs.

A validation run measures dozens of configurations for minutes each, so the
terminal should say how far it is and when it will end::

    [######..................]   3/12  25%  elapsed 0:12  ETA 0:36  conv5x5 f=16 graph

The ETA is the mean time per configuration measured *in this run* times the
number left.  Configurations skipped because a resumed folder already holds
them count towards "3/12" but not towards that mean: they took no time, and
counting them would make the ETA absurdly optimistic.

On a terminal the line is redrawn in place (``\\r``); when the stream is a
file or a pipe (a log, CI) every update is a line of its own, because ``\\r``
there would pile all updates into one unreadable line.  The clock is
injectable so that the ETA is tested with a fake one.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["Progress", "format_duration"]


def format_duration(seconds: float) -> str:
    """``m:ss`` below an hour, ``h:mm:ss`` from there, rounded to the second.

    Examples
    --------
    >>> format_duration(12.4), format_duration(725), format_duration(3723)
    ('0:12', '12:05', '1:02:03')
    """
    whole_seconds = max(0, round(seconds))
    hours, rest = divmod(whole_seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


class Progress:
    """Progress of ``total`` configurations, drawn on ``stream``.

    Call :meth:`skip` once for the configurations a resumed run already has,
    then per configuration :meth:`start` before measuring it and
    :meth:`advance` once it is stored; :meth:`finish` at the end (or use the
    object as a context manager, which finishes it even after an error, so a
    terminal's cursor is not left at the end of the bar).

    Parameters
    ----------
    total : int
        Number of configurations, including those to be skipped.
    stream : text stream, optional
        Where to draw; default ``sys.stderr`` (looked up when the object is
        made, so that output capture in tests and tools sees it), keeping
        stdout for results.
    clock : callable
        Returns seconds; only differences are used.  Default
        :func:`time.monotonic`, which wall-clock changes do not affect.
    width : int
        Characters inside the bar's brackets.

    Raises
    ------
    TypeError
        If ``total`` or ``width`` is not an int.
    ValueError
        If ``total`` is negative or ``width`` below 1.

    Examples
    --------
    A fake clock: the first configuration takes 10 s, so the remaining two
    should take 20 s.

    >>> import io
    >>> now = [0.0]
    >>> log = io.StringIO()
    >>> progress = Progress(3, stream=log, clock=lambda: now[0], width=6)
    >>> progress.start("conv3x3 f=16")
    >>> now[0] = 10.0
    >>> progress.advance()
    >>> progress.finish()
    >>> print(log.getvalue(), end="")
    [......]  0/3   0%  elapsed 0:00  ETA ?  conv3x3 f=16
    [##....]  1/3  33%  elapsed 0:10  ETA 0:20  conv3x3 f=16
    [##....]  1/3  33%  total 0:10
    """

    def __init__(
        self,
        total: int,
        *,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
        width: int = 24,
    ) -> None:
        _check_count("total", total, minimum=0)
        _check_count("width", width, minimum=1)
        self.total = total
        self.width = width
        self.stream = sys.stderr if stream is None else stream
        self._clock = clock
        self._is_terminal = _is_terminal(self.stream)
        self._created = clock()
        #: Configurations counted so far: measured plus skipped.
        self.done = 0
        #: Configurations skipped as already measured.
        self.skipped = 0
        self._label = ""
        # Mean time per measured configuration is
        # (time of the last advance - time of the first start) / measured.
        self._first_start: float | None = None
        self._last_advance: float | None = None
        self._drawn_length = 0
        self._finished = False

    @property
    def measured(self) -> int:
        """Configurations measured in this run (done and not skipped)."""
        return self.done - self.skipped

    def start(self, label: str) -> None:
        """Announce that the configuration ``label`` is being measured now."""
        now = self._clock()
        if self._first_start is None:
            self._first_start = now
        self._label = label
        self._draw(self._status_line(now))

    def advance(self, label: str | None = None) -> None:
        """Count one configuration as done; ``label`` defaults to the one started.

        Raises
        ------
        ValueError
            If all ``total`` configurations are already done.
        """
        self._count("advance", 1)
        now = self._clock()
        if self._first_start is None:
            # Called without start(): time from creation is the best estimate.
            self._first_start = self._created
        self._last_advance = now
        if label is not None:
            self._label = label
        self._draw(self._status_line(now))

    def skip(self, count: int = 1) -> None:
        """Count ``count`` configurations as already done (found on resume).

        They count towards the done total but not towards the time per
        configuration.  Call it once with the number found, rather than once
        per configuration, to draw one line for all of them.

        Raises
        ------
        ValueError
            If ``count`` is negative or would exceed ``total``.

        Examples
        --------
        >>> import io
        >>> log = io.StringIO()
        >>> progress = Progress(12, stream=log, clock=lambda: 0.0, width=4)
        >>> progress.skip(3)
        >>> print(log.getvalue(), end="")
        [#...]   3/12  25%  elapsed 0:00  ETA ?  skipped 3 already measured
        """
        _check_count("count", count, minimum=0)
        self._count("skip", count)
        self.skipped += count
        self._label = f"skipped {count} already measured"
        self._draw(self._status_line(self._clock()))

    def finish(self) -> None:
        """Draw the final line with the total time and end it with a newline.

        Later calls do nothing, so an explicit call and a context manager's
        exit do not print twice.
        """
        if self._finished:
            return
        self._finished = True
        elapsed = self._clock() - self._created
        line = f"{self._bar_and_count()}  total {format_duration(elapsed)}"
        if self.skipped:
            line += f"  ({self.skipped} skipped as already measured)"
        self._draw(line)
        if self._is_terminal:
            self.stream.write("\n")
            self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exception_info: object) -> None:
        self.finish()

    def eta_seconds(self) -> float | None:
        """Seconds left; None until a configuration has been measured.

        The mean time per measured configuration so far, times the
        configurations not yet done.
        """
        if self.done == self.total:
            return 0.0
        if self.measured == 0 or self._last_advance is None or self._first_start is None:
            return None
        seconds_per_configuration = (self._last_advance - self._first_start) / self.measured
        return seconds_per_configuration * (self.total - self.done)

    def _count(self, action: str, count: int) -> None:
        if self.done + count > self.total:
            raise ValueError(
                f"{action}({count}) would count {self.done + count} configurations, "
                f"more than total ({self.total})"
            )
        self.done += count

    def _bar_and_count(self) -> str:
        fraction = self.done / self.total if self.total else 1.0
        filled = int(self.width * fraction)
        bar = "#" * filled + "." * (self.width - filled)
        # Padded to the width of the total so the columns stay put while
        # a terminal line is redrawn.
        count = f"{self.done:>{len(str(self.total))}}/{self.total}"
        return f"[{bar}]  {count} {int(100 * fraction):>3}%"

    def _status_line(self, now: float) -> str:
        eta = self.eta_seconds()
        parts = [
            self._bar_and_count(),
            f"elapsed {format_duration(now - self._created)}",
            f"ETA {'?' if eta is None else format_duration(eta)}",
        ]
        if self._label:
            parts.append(self._label)
        return "  ".join(parts)

    def _draw(self, line: str) -> None:
        if self._is_terminal:
            # A line longer than the terminal wraps, and "\r" then returns only
            # to the start of the last wrapped piece; trailing spaces erase
            # what a longer previous line left behind.
            columns = shutil.get_terminal_size().columns
            line = line[: max(columns - 1, 1)]
            self.stream.write("\r" + line.ljust(self._drawn_length))
            self._drawn_length = len(line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _check_count(name: str, value: int, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
