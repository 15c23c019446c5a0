"""Progress of a long measuring run: a live bar on a terminal, a few plain lines in a log.

On a terminal, rich draws the bar (``i/N``, percentage, elapsed time, ETA and
the configuration being measured).  In a log or CI, where a redrawn bar would
become hundreds of lines, a plain line is printed at most about every
:data:`LOG_INTERVAL_SECONDS` or every :data:`LOG_INTERVAL_FRACTION` of the
work, whichever comes first, plus one at the end.

Configurations skipped because a resumed folder already holds them count
towards ``i/N`` but not towards the ETA: they took no time, and counting them
would make the ETA absurdly optimistic.  The clock is injectable so the log
lines and the ETA are tested with a fake one.

>>> import io
>>> now = [0.0]
>>> log = io.StringIO()
>>> with Progress(4, skipped=1, stream=log, clock=lambda: now[0]) as progress:
...     for key in ("a", "b", "c"):
...         progress.start(key)
...         now[0] += 10.0
...         progress.advance(key)
>>> print(log.getvalue(), end="")
progress: 1/4 (25%) already stored, 3 to measure
progress: 2/4 (50%) elapsed 0:10, ETA 0:20, done a
progress: 3/4 (75%) elapsed 0:20, ETA 0:10, done b
progress: 4/4 (100%) elapsed 0:30, done c
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

__all__ = ["LOG_INTERVAL_FRACTION", "LOG_INTERVAL_SECONDS", "Progress", "format_duration"]

#: In a log, at most one line about this often ...
LOG_INTERVAL_SECONDS = 10.0
#: ... or per this share of the configurations, whichever comes first.
LOG_INTERVAL_FRACTION = 0.1


def format_duration(seconds: float) -> str:
    """``m:ss`` below an hour, ``h:mm:ss`` from there, rounded to the second.

    >>> format_duration(12.4), format_duration(725), format_duration(3723)
    ('0:12', '12:05', '1:02:03')
    """
    whole_seconds = max(0, round(seconds))
    hours, rest = divmod(whole_seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """Progress of ``total`` configurations, ``skipped`` of which a resumed run already has.

    Call :meth:`start` before measuring a configuration and :meth:`advance`
    once it is stored; use the object as a context manager (or call
    :meth:`finish`) so a terminal's bar is closed even after an error.

    Parameters
    ----------
    total : int
        Number of configurations, including the skipped ones.
    skipped : int
        Configurations already done; they count towards ``i/N``, not the ETA.
    stream : text stream, optional
        Where to draw; default ``sys.stderr`` (looked up when created).
    clock : callable
        Seconds, for the log lines' elapsed time and ETA; default :func:`time.monotonic`.
    """

    def __init__(
        self, total: int, *, skipped: int = 0, stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if isinstance(total, bool) or not isinstance(total, int) or total < 0:
            raise ValueError(f"total must be a whole number >= 0, got {total!r}")
        if isinstance(skipped, bool) or not isinstance(skipped, int) or not 0 <= skipped <= total:
            raise ValueError(f"skipped must be a whole number from 0 to total ({total}), got {skipped!r}")
        self.total, self.skipped, self.done = total, skipped, skipped
        self._stream = stream if stream is not None else sys.stderr
        self._clock = clock
        self._started = clock()
        self._last_line_time = self._started
        self._last_line_done = skipped
        self._bar: Any = None
        self._task: Any = None
        if _is_terminal(self._stream):
            self._start_bar()
        elif skipped:
            self._line(f"{self._count()} already stored, {total - skipped} to measure")

    @property
    def measured(self) -> int:
        """Configurations measured in this run (not skipped)."""
        return self.done - self.skipped

    def eta_seconds(self) -> float | None:
        """Mean seconds per measured configuration times those left; None before the first."""
        if not self.measured:
            return None
        return (self._clock() - self._started) / self.measured * (self.total - self.done)

    def start(self, label: str) -> None:
        """Say which configuration is being measured now."""
        if self._bar is not None:
            self._bar.update(self._task, description=label)

    def advance(self, label: str) -> None:
        """One more configuration is done (and stored)."""
        if self.done >= self.total:
            raise ValueError(f"advance() past the total of {self.total} configurations")
        self.done += 1
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done, description=label)
            return
        now = self._clock()
        due_by_time = now - self._last_line_time >= LOG_INTERVAL_SECONDS
        due_by_share = self.done - self._last_line_done >= max(1.0, LOG_INTERVAL_FRACTION * self.total)
        if due_by_time or due_by_share or self.done == self.total:
            self._last_line_time, self._last_line_done = now, self.done
            eta = self.eta_seconds()
            timing = f"elapsed {format_duration(now - self._started)}"
            if eta is not None and self.done < self.total:
                timing += f", ETA {format_duration(eta)}"
            self._line(f"{self._count()} {timing}, done {label}")

    def finish(self) -> None:
        """Close the terminal bar (a log needs nothing more)."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.finish()

    def _count(self) -> str:
        share = self.done / self.total if self.total else 1.0
        return f"{self.done}/{self.total} ({share:.0%})"

    def _line(self, text: str) -> None:
        print(f"progress: {text}", file=self._stream, flush=True)

    def _start_bar(self) -> None:
        # rich comes with Keras; imported here so that a log-only run never pays for it.
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichProgress

        self._bar = RichProgress(
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.description}"),
            console=Console(file=self._stream),
            transient=False,
        )
        # Starting at `skipped` keeps the already stored configurations out of rich's speed
        # estimate, which only counts what is advanced while the bar runs.
        self._task = self._bar.add_task("", total=self.total, completed=self.skipped)
        self._bar.start()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
