"""Times measured relative to one reference call, so that the machine's drift cancels.

A calibration measures dozens of layers over a minute or two, and a shared
machine drifts meanwhile (other tenants, clock frequency): timed one after the
other, a layer measured in a slow moment looks slower than one measured in a
fast moment, and a model fitted to those times learns the drift.  Here each
call is timed *interleaved* with the same reference call
(:func:`~validate.harness.timing.measure_interleaved`), as the sweep times an
original against its factorization; its time is its per-round ratio to the
reference, times the reference's median over every round of the whole run:

    seconds(call) = ratio(call / reference) x median(all reference samples)

A slowdown while one call is measured slows its reference rounds too, so its
ratio does not move; only the common scale, the reference's own median, carries
the run's average state.

>>> now = [0.0]
>>> slowdown = [1.0]
>>> def costs(seconds):
...     def call():
...         now[0] += seconds * slowdown[0]
...     return call
>>> timer = RelativeTimer(costs(0.001), clock=lambda: now[0])
>>> _ = timer.time("a", costs(0.002))
>>> slowdown[0] = 3.0                      # the machine slows down threefold
>>> _ = timer.time("b", costs(0.004))
>>> result = timer.result()
>>> round(result.seconds("b") / result.seconds("a"), 6)
2.0
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import numpy as np

from validate.harness.timing import Clock, Sync, TimingPolicy, measure_interleaved, noop


@dataclasses.dataclass(frozen=True)
class RelativeTime:
    """One call's time as a multiple of the reference's, with its 95% interval."""

    name: str
    ratio: float
    ratio_ci_low: float
    ratio_ci_high: float
    rounds: int

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class RelativeTimes:
    """Every call's ratio, and the reference's median seconds over the whole run."""

    reference_seconds: float
    reference_rounds: int
    times: dict[str, RelativeTime]

    def seconds(self, name: str) -> float:
        """The call's seconds at the run's average state: its ratio times the reference's median."""
        return self.times[name].ratio * self.reference_seconds


class RelativeTimer:
    """Times calls one by one, each interleaved with the same reference call."""

    def __init__(
        self,
        reference: Callable[[], object],
        *,
        policy: TimingPolicy | None = None,
        clock: Clock = time.perf_counter,
        sync: Sync = noop,
    ) -> None:
        self._reference = reference
        self._policy, self._clock, self._sync = policy or TimingPolicy(), clock, sync
        self._reference_samples: list[float] = []
        self._times: dict[str, RelativeTime] = {}

    def time(self, name: str, call: Callable[[], object]) -> RelativeTime:
        """Time ``call`` against the reference; its samples join the reference's pool."""
        if name in self._times:
            raise ValueError(f"{name!r} was already timed")
        result = measure_interleaved(
            self._reference,
            call,
            policy=self._policy,
            clock=self._clock,
            sync=self._sync,
            labels=("reference", name),
        )
        self._reference_samples.extend(result.a.samples_seconds)
        relative = RelativeTime(name, result.ratio, result.ratio_ci_low, result.ratio_ci_high, result.a.sample_count)
        self._times[name] = relative
        return relative

    def result(self) -> RelativeTimes:
        if not self._times:
            raise ValueError("nothing was timed against the reference")
        reference = float(np.median(self._reference_samples))
        return RelativeTimes(reference, len(self._reference_samples), dict(self._times))
