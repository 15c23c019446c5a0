"""The measuring loop: warm up, choose a block size, sample until confident.

Two things are injectable so that the logic here can be tested with a fake
clock and reused for any backend without importing it:

``clock``
    Any zero-argument callable returning seconds as a float (default
    :func:`time.perf_counter`).  Only differences between readings are used.
``sync``
    A zero-argument callable run immediately before *every* clock read
    (default: do nothing).  GPU frameworks launch kernels asynchronously: a
    call returns once the work is queued, not once it is done, so reading the
    clock right after it measures the launch, not the computation.  A GPU
    backend passes a function that blocks until the device is idle, which
    makes each reading mark the point where all work issued so far is
    finished.  Calling it before the *first* reading of a sample too keeps
    work left over from before (a warm-up call, the other function of an
    interleaved pair) out of the sample.

Budgets are measured with the same clock, so a fake clock drives them too.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from costmodel.checks import check_count, check_real
from validate.harness.stats import CONFIDENCE, Measurement, paired_ratio_ci

__all__ = [
    "Clock",
    "InterleavedResult",
    "MAX_CALLS_PER_SAMPLE",
    "Sync",
    "TimingPolicy",
    "measure",
    "measure_interleaved",
    "noop",
]

Clock = Callable[[], float]
Sync = Callable[[], None]

#: Ceiling of the adaptive block size, so that a clock that never advances
#: (or code faster than its resolution) cannot make calibration run forever.
MAX_CALLS_PER_SAMPLE = 2**20


def noop() -> None:
    """Default ``sync``: CPU code has finished when it returns."""


@dataclass(frozen=True)
class TimingPolicy:
    """When to stop measuring; hashable, so it can key a cache of results.

    Parameters
    ----------
    warmup_calls : int
        Calls made and discarded before timing, so that one-off costs (graph
        tracing, compilation, allocator growth, cold caches) stay out of the
        samples.
    min_samples : int
        Samples taken before convergence may stop the loop.  Below 6 samples
        the median's 95% interval is unbounded, so convergence needs at least 6
        whatever this says.
    max_samples : int
        Samples after which the loop stops regardless.
    target_ci_relative : float
        The loop has converged once the half-width of the median's 95%
        confidence interval is at most this fraction of the median (0.02:
        the median is known to within about ±2%).
    budget_seconds : float
        Clock time at which the loop stops regardless, counted from the end
        of warm-up (so block-size calibration counts, warm-up does not: cutting
        warm-up short would let one-off costs into the samples).  At least
        ``guaranteed_samples`` samples are always taken.
    min_sample_seconds : float
        If one call takes less than this, several calls are timed together as
        one block and the sample is the block's time divided by the number of
        calls, as torch.utils.benchmark does: a single call that is short
        compared to the clock's resolution and overhead would be measured
        mostly as noise.  0 times every call on its own.
    guaranteed_samples : int
        Samples taken even past the budget, so that a slow configuration
        (one call longer than the whole budget) still gets a median and a
        spread rather than a single reading.

    Raises
    ------
    TypeError
        If a count is not an int or a duration is not a real number.
    ValueError
        If a field is out of range; the message names the field and value.

    Examples
    --------
    >>> TimingPolicy(min_samples=20, budget_seconds=10.0).max_samples
    200
    >>> TimingPolicy(max_samples=3)
    Traceback (most recent call last):
    ...
    ValueError: max_samples must be an integer >= min_samples (7), got 3
    """

    warmup_calls: int = 2
    min_samples: int = 7
    max_samples: int = 200
    target_ci_relative: float = 0.02
    budget_seconds: float = 3.0
    min_sample_seconds: float = 0.0
    guaranteed_samples: int = 1

    def __post_init__(self) -> None:
        check_count("warmup_calls", self.warmup_calls, minimum=0)
        check_count("min_samples", self.min_samples, minimum=1)
        check_count("max_samples", self.max_samples, minimum=self.min_samples, minimum_name="min_samples")
        check_real("target_ci_relative", self.target_ci_relative, minimum=0, allow_minimum=False)
        check_real("budget_seconds", self.budget_seconds, minimum=0, allow_minimum=False)
        check_real("min_sample_seconds", self.min_sample_seconds, minimum=0)
        check_count("guaranteed_samples", self.guaranteed_samples, minimum=1)
        if self.guaranteed_samples > self.max_samples:
            raise ValueError(
                f"guaranteed_samples must be <= max_samples ({self.max_samples}), got {self.guaranteed_samples}"
            )


@dataclass(frozen=True)
class InterleavedResult:
    """Two measurements taken alternately, and how much slower ``b`` is than ``a``.

    Parameters
    ----------
    a, b : Measurement
        The two measurements; sample ``i`` of each comes from the same round.
    ratio : float
        Median over rounds of ``b_i / a_i``: above 1 means ``b`` is slower.
    ratio_ci_low, ratio_ci_high : float
        95% paired-bootstrap confidence interval of ``ratio``.
    """

    a: Measurement
    b: Measurement
    ratio: float
    ratio_ci_low: float
    ratio_ci_high: float

    @property
    def is_significant(self) -> bool:
        """Whether the ratio's interval excludes 1, i.e. the difference is real."""
        return not self.ratio_ci_low <= 1.0 <= self.ratio_ci_high


def measure(
    fn: Callable[[], object],
    *,
    policy: TimingPolicy = TimingPolicy(),
    clock: Clock = time.perf_counter,
    sync: Sync = noop,
    label: str = "",
) -> Measurement:
    """Time ``fn()`` repeatedly until its median latency is known well enough.

    Steps: ``policy.warmup_calls`` untimed calls; choose how many calls make
    one sample (see ``TimingPolicy.min_sample_seconds``); then take samples
    until the first of

    * ``"converged"``: at least ``policy.min_samples`` samples and the median's
      95% interval within ``±policy.target_ci_relative`` of it;
    * ``"max_samples"``: ``policy.max_samples`` samples;
    * ``"budget"``: ``policy.budget_seconds`` of clock time since warm-up.

    Parameters
    ----------
    fn : callable
        Called with no arguments; its result is ignored.
    policy : TimingPolicy
        Warm-up, block size and stopping rules.
    clock : callable
        Returns seconds; see the module docstring.
    sync : callable
        Run before every clock read; see the module docstring.
    label : str
        Stored on the returned measurement.

    Returns
    -------
    Measurement
        Per-call seconds of every sample, with ``stop_reason`` and
        ``calls_per_sample`` filled in.

    Examples
    --------
    A fake clock that advances 1 ms per call converges on the 7th sample:

    >>> fake_now = [0.0]
    >>> def one_millisecond():
    ...     fake_now[0] += 0.001
    >>> m = measure(one_millisecond, clock=lambda: fake_now[0], label="fake")
    >>> m.sample_count, m.stop_reason, round(m.median_seconds, 9)
    (7, 'converged', 0.001)
    """
    _run_untimed(fn, policy.warmup_calls)
    with garbage_collection_paused():
        started = _read_clock(clock, sync)
        calls_per_sample = _calibrate_calls_per_sample(fn, policy, clock, sync, started)
        samples: list[float] = []
        while True:
            block_seconds, now = _time_block(fn, calls_per_sample, clock, sync)
            samples.append(block_seconds / calls_per_sample)
            stop_reason = _stop_reason([samples], policy, elapsed_seconds=now - started)
            if stop_reason:
                return Measurement(label, tuple(samples), stop_reason, calls_per_sample)


def measure_interleaved(
    fn_a: Callable[[], object],
    fn_b: Callable[[], object],
    *,
    policy: TimingPolicy = TimingPolicy(),
    clock: Clock = time.perf_counter,
    sync: Sync = noop,
    labels: tuple[str, str] = ("a", "b"),
) -> InterleavedResult:
    """Time two functions alternately and estimate how much slower ``b`` is than ``a``.

    Timing all of A and then all of B lets anything that changes over time
    (clock frequency, temperature, other processes) bias the comparison.
    Taking one sample of each per round puts both under the same conditions;
    sample ``i`` of A and of B form a pair, and the ratio is taken within
    each pair (:func:`~validate.harness.stats.paired_ratio_ci`), which cancels the
    drift they share.

    Within a round the order alternates (A B, then B A, then A B, ...): the
    function that runs second inherits warm caches, or a busy device, from
    the first, and alternating gives each the same share of both positions
    so that this order effect cancels too.

    Both functions are warmed up first (alternately) and get their own block
    size.  Sampling stops when *both* medians have converged (see
    :func:`measure`), or at ``policy.max_samples`` rounds, or when
    ``policy.budget_seconds`` of clock time since warm-up are spent; both
    measurements carry that stop reason.

    Parameters
    ----------
    fn_a, fn_b : callable
        Called with no arguments; results are ignored.
    policy, clock, sync
        As for :func:`measure`.
    labels : tuple of str
        Labels of the measurements of ``fn_a`` and ``fn_b``.

    Returns
    -------
    InterleavedResult
        ``ratio`` is the median of the per-round ratios ``b_i / a_i``, with
        its 95% bootstrap interval.

    Examples
    --------
    >>> fake_now = [0.0]
    >>> def one_millisecond():
    ...     fake_now[0] += 0.001
    >>> def three_milliseconds():
    ...     fake_now[0] += 0.003
    >>> result = measure_interleaved(one_millisecond, three_milliseconds,
    ...                              clock=lambda: fake_now[0])
    >>> round(result.ratio, 6), result.a.stop_reason, result.is_significant
    (3.0, 'converged', True)
    """
    label_a, label_b = labels
    for _ in range(policy.warmup_calls):
        fn_a()
        fn_b()
    with garbage_collection_paused():
        started = _read_clock(clock, sync)
        calls_a = _calibrate_calls_per_sample(fn_a, policy, clock, sync, started)
        calls_b = _calibrate_calls_per_sample(fn_b, policy, clock, sync, started)
        samples_a: list[float] = []
        samples_b: list[float] = []
        while True:
            a_goes_first = len(samples_a) % 2 == 0
            if a_goes_first:
                seconds_a, _ = _time_block(fn_a, calls_a, clock, sync)
                seconds_b, now = _time_block(fn_b, calls_b, clock, sync)
            else:
                seconds_b, _ = _time_block(fn_b, calls_b, clock, sync)
                seconds_a, now = _time_block(fn_a, calls_a, clock, sync)
            samples_a.append(seconds_a / calls_a)
            samples_b.append(seconds_b / calls_b)
            stop_reason = _stop_reason([samples_a, samples_b], policy, elapsed_seconds=now - started)
            if stop_reason:
                break
    a = Measurement(label_a, tuple(samples_a), stop_reason, calls_a)
    b = Measurement(label_b, tuple(samples_b), stop_reason, calls_b)
    ratio, low, high = paired_ratio_ci(samples_b, samples_a, confidence=CONFIDENCE)
    return InterleavedResult(a, b, ratio, low, high)


@contextlib.contextmanager
def garbage_collection_paused() -> Iterator[None]:
    """No garbage collection while samples are taken, as :mod:`timeit` does.

    A collection that lands inside one sample adds milliseconds to it and to no
    other; what the measured code allocates is collected after the loop.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _run_untimed(fn: Callable[[], object], calls: int) -> None:
    for _ in range(calls):
        fn()


def _read_clock(clock: Clock, sync: Sync) -> float:
    sync()
    return clock()


def _time_block(fn: Callable[[], object], calls: int, clock: Clock, sync: Sync) -> tuple[float, float]:
    """Return (seconds for ``calls`` calls, clock reading at the end)."""
    start = _read_clock(clock, sync)
    for _ in range(calls):
        fn()
    end = _read_clock(clock, sync)
    return end - start, end


def _calibrate_calls_per_sample(
    fn: Callable[[], object], policy: TimingPolicy, clock: Clock, sync: Sync, started: float
) -> int:
    """Smallest power of two of calls whose block lasts ``min_sample_seconds``.

    Doubling, rather than extrapolating from one short block, does not trust a
    reading near the clock's resolution; the blocks timed here are discarded,
    and their total stays under twice the final block.  The budget is checked
    too so that a slow ``fn`` with a large ``min_sample_seconds`` cannot
    overrun it here.
    """
    calls = 1
    if policy.min_sample_seconds == 0:
        return calls
    while calls < MAX_CALLS_PER_SAMPLE:
        block_seconds, now = _time_block(fn, calls, clock, sync)
        if block_seconds >= policy.min_sample_seconds or now - started >= policy.budget_seconds:
            break
        calls *= 2
    return calls


def _stop_reason(sample_lists: list[list[float]], policy: TimingPolicy, *, elapsed_seconds: float) -> str:
    """Why to stop after the latest sample, or "" to go on.

    Checked in this order so that a loop that converged on its last allowed
    sample reports the more useful "converged".
    """
    sample_count = len(sample_lists[0])
    if sample_count >= policy.min_samples and all(
        _has_converged(samples, policy.target_ci_relative) for samples in sample_lists
    ):
        return "converged"
    if sample_count >= policy.max_samples:
        return "max_samples"
    if elapsed_seconds >= policy.budget_seconds and sample_count >= policy.guaranteed_samples:
        return "budget"
    return ""


def _has_converged(samples: list[float], target_ci_relative: float) -> bool:
    return Measurement("", tuple(samples)).ci_half_width_relative <= target_ci_relative
