"""Tests of validate.harness.timing, driven by a fake clock that only the timed code advances."""

import itertools
import math

import numpy as np
import pytest

from validate.harness.stats import Measurement
from validate.harness.timing import InterleavedResult, TimingPolicy, measure, measure_interleaved

MILLISECOND = 1e-3


class FakeTimer:
    """Fake time that advances only when a fake function runs.

    Every function, clock read and sync is logged in ``events`` so tests can
    check call counts and order.
    """

    def __init__(self):
        self.now = 0.0
        self.events = []

    def clock(self):
        self.events.append("clock")
        return self.now

    def sync(self):
        self.events.append("sync")

    def function(self, name, durations_seconds):
        """A function that takes the next of ``durations_seconds`` (cycled) per call."""
        durations = itertools.cycle(durations_seconds)

        def fake_function():
            self.events.append(name)
            self.now += next(durations)

        return fake_function

    def calls(self, name):
        return self.events.count(name)

    def call_order(self):
        return [event for event in self.events if event not in ("clock", "sync")]


def seeded_durations(seed, median_seconds, sigma, size=1000):
    return np.random.default_rng(seed).lognormal(math.log(median_seconds), sigma, size).tolist()


# Alternating 1 ms and 3 ms: the median's interval always spans [1, 3] ms, so
# such a function never converges.
NEVER_CONVERGES = [1 * MILLISECOND, 3 * MILLISECOND]


def run_measure(timer, fn, **policy_fields):
    return measure(fn, policy=TimingPolicy(**policy_fields), clock=timer.clock, sync=timer.sync)


@pytest.mark.parametrize("warmup_calls", [0, 1, 3])
def test_warmup_calls_are_made_but_not_sampled(warmup_calls):
    timer = FakeTimer()
    # The warm-up calls are very slow (think graph tracing); the rest 1 ms.
    slow_then_fast = [100.0] * warmup_calls + [MILLISECOND] * 1000
    fn = timer.function("fn", slow_then_fast)

    measurement = run_measure(timer, fn, warmup_calls=warmup_calls)

    assert timer.calls("fn") == warmup_calls + measurement.sample_count
    assert max(measurement.samples_seconds) == pytest.approx(MILLISECOND)


@pytest.mark.parametrize(
    "min_samples, expected_samples",
    [
        (7, 7),
        (12, 12),
        # Under 6 samples the 95% interval of the median is unbounded, so a
        # perfectly steady function still needs 6.
        (1, 6),
        (3, 6),
    ],
)
def test_steady_function_converges_after_min_samples(min_samples, expected_samples):
    timer = FakeTimer()

    measurement = run_measure(timer, timer.function("fn", [MILLISECOND]), min_samples=min_samples)

    assert measurement.stop_reason == "converged"
    assert measurement.sample_count == expected_samples
    assert measurement.median_seconds == pytest.approx(MILLISECOND)


def test_noisy_function_converges_once_interval_is_narrow_enough():
    timer = FakeTimer()
    fn = timer.function("fn", seeded_durations(0, MILLISECOND, sigma=0.05))

    measurement = run_measure(timer, fn, target_ci_relative=0.02, budget_seconds=100.0)

    assert measurement.stop_reason == "converged"
    assert measurement.sample_count > 7  # 5% noise needs more than the minimum
    assert measurement.ci_half_width_relative <= 0.02
    # One sample fewer would not yet have converged.
    assert measurement.sample_count == min(
        n for n in range(7, measurement.sample_count + 1) if _half_width(measurement.samples_seconds[:n]) <= 0.02
    )


def _half_width(samples):
    return Measurement("prefix", samples).ci_half_width_relative


# Budgets fall between whole milliseconds so that float rounding of the fake
# time cannot decide on which sample they are reached.
@pytest.mark.parametrize("budget_seconds", [0.0205, 0.1005])
def test_budget_stops_a_function_that_never_converges(budget_seconds):
    timer = FakeTimer()

    measurement = run_measure(
        timer, timer.function("fn", NEVER_CONVERGES), warmup_calls=0, budget_seconds=budget_seconds
    )

    assert measurement.stop_reason == "budget"
    # The loop stops on the first sample that reaches the budget.
    assert sum(measurement.samples_seconds) >= budget_seconds
    assert sum(measurement.samples_seconds[:-1]) < budget_seconds


def test_guaranteed_samples_are_taken_past_the_budget():
    timer = FakeTimer()
    measurement = run_measure(
        timer, timer.function("fn", NEVER_CONVERGES), warmup_calls=0, budget_seconds=0.0001, guaranteed_samples=5
    )
    assert measurement.stop_reason == "budget"
    assert measurement.sample_count == 5


def test_budget_counts_from_end_of_warmup():
    timer = FakeTimer()
    fn = timer.function("fn", [10.0, 10.0] + NEVER_CONVERGES * 1000)

    measurement = run_measure(timer, fn, warmup_calls=2, budget_seconds=0.0195)

    assert measurement.stop_reason == "budget"
    assert measurement.sample_count == 10  # 1 + 3 + 1 + ... reaches 19.5 ms on the 10th


@pytest.mark.parametrize("max_samples", [7, 30])
def test_max_samples_stops_a_function_that_never_converges(max_samples):
    timer = FakeTimer()

    measurement = run_measure(
        timer, timer.function("fn", NEVER_CONVERGES), max_samples=max_samples, budget_seconds=100.0
    )

    assert measurement.stop_reason == "max_samples"
    assert measurement.sample_count == max_samples


@pytest.mark.parametrize(
    "call_seconds, min_sample_seconds, calls_per_sample",
    [
        (MILLISECOND, 0.0, 1),  # grouping off
        (20 * MILLISECOND, 10 * MILLISECOND, 1),  # one call is long enough
        (MILLISECOND, 4 * MILLISECOND, 4),  # 1, 2 ms too short; 4 ms enough
        (MILLISECOND, 10 * MILLISECOND, 16),  # 8 ms too short; 16 ms enough
    ],
)
def test_short_calls_are_grouped_into_blocks(call_seconds, min_sample_seconds, calls_per_sample):
    timer = FakeTimer()

    measurement = run_measure(timer, timer.function("fn", [call_seconds]), min_sample_seconds=min_sample_seconds)

    assert measurement.calls_per_sample == calls_per_sample
    assert measurement.median_seconds == pytest.approx(call_seconds)  # per call, not per block
    calibration_calls = 2 * calls_per_sample - 1 if min_sample_seconds else 0  # 1 + 2 + ... + k
    assert timer.calls("fn") == 2 + calibration_calls + measurement.sample_count * calls_per_sample


def test_sync_is_called_before_every_clock_read():
    timer = FakeTimer()

    run_measure(timer, timer.function("fn", NEVER_CONVERGES), min_sample_seconds=2 * MILLISECOND)

    clock_positions = [i for i, event in enumerate(timer.events) if event == "clock"]
    assert clock_positions
    assert all(timer.events[i - 1] == "sync" for i in clock_positions)
    assert timer.calls("sync") == timer.calls("clock")


def test_sync_lets_asynchronous_work_be_timed():
    # A fake device: calls only queue 1 ms of work; sync waits for it. Without
    # the sync every sample would read as zero.
    timer = FakeTimer()
    queued_seconds = [0.0]

    def launch():
        queued_seconds[0] += MILLISECOND

    def wait_for_device():
        timer.now += queued_seconds[0]
        queued_seconds[0] = 0.0

    synced = measure(launch, clock=timer.clock, sync=wait_for_device)
    unsynced = measure(launch, clock=timer.clock)

    assert synced.median_seconds == pytest.approx(MILLISECOND)
    assert unsynced.median_seconds == 0.0


def run_interleaved(timer, fn_a, fn_b, **policy_fields):
    return measure_interleaved(fn_a, fn_b, policy=TimingPolicy(**policy_fields), clock=timer.clock, sync=timer.sync)


@pytest.mark.parametrize(
    "warmup_calls, expected_order",
    [
        (0, "a b b a a b b a a b b a a b"),
        (2, "a b a b " + "a b b a a b b a a b b a a b"),
    ],
)
def test_interleaving_alternates_which_function_goes_first(warmup_calls, expected_order):
    timer = FakeTimer()
    fn_a = timer.function("a", [MILLISECOND])
    fn_b = timer.function("b", [2 * MILLISECOND])

    result = run_interleaved(timer, fn_a, fn_b, warmup_calls=warmup_calls, min_samples=7)

    assert result.a.stop_reason == result.b.stop_reason == "converged"
    assert result.a.sample_count == result.b.sample_count == 7
    assert " ".join(timer.call_order()) == expected_order


@pytest.mark.parametrize(
    "durations_b, stop_reason",
    [
        ([2 * MILLISECOND], "converged"),
        (NEVER_CONVERGES, "max_samples"),  # a alone converging is not enough
    ],
)
def test_interleaving_stops_when_both_converge(durations_b, stop_reason):
    timer = FakeTimer()
    fn_a = timer.function("a", [MILLISECOND])
    fn_b = timer.function("b", durations_b)

    result = run_interleaved(timer, fn_a, fn_b, max_samples=40, budget_seconds=100.0)

    assert result.a.stop_reason == result.b.stop_reason == stop_reason
    assert result.a.sample_count == (7 if stop_reason == "converged" else 40)


def test_interleaving_stops_on_budget():
    timer = FakeTimer()
    fn_a = timer.function("a", NEVER_CONVERGES)
    fn_b = timer.function("b", NEVER_CONVERGES)

    result = run_interleaved(timer, fn_a, fn_b, warmup_calls=0, budget_seconds=0.0395)

    assert result.a.stop_reason == "budget"
    assert result.a.sample_count == 10  # each round takes 4 ms; 39.5 ms passed in the 10th


def test_interleaving_sync_before_every_clock_read_and_blocks_per_function():
    timer = FakeTimer()
    fn_a = timer.function("a", [MILLISECOND])
    fn_b = timer.function("b", [4 * MILLISECOND])

    result = run_interleaved(timer, fn_a, fn_b, min_sample_seconds=4 * MILLISECOND)

    assert (result.a.calls_per_sample, result.b.calls_per_sample) == (4, 1)
    clock_positions = [i for i, event in enumerate(timer.events) if event == "clock"]
    assert all(timer.events[i - 1] == "sync" for i in clock_positions)


@pytest.mark.parametrize("true_ratio", [0.5, 1.0, 3.0])
def test_interleaved_ratio_interval_contains_true_ratio(true_ratio):
    timer = FakeTimer()
    fn_a = timer.function("a", seeded_durations(1, MILLISECOND, sigma=0.03))
    fn_b = timer.function("b", seeded_durations(2, true_ratio * MILLISECOND, sigma=0.03))

    result = run_interleaved(timer, fn_a, fn_b, budget_seconds=100.0)

    assert isinstance(result, InterleavedResult)
    assert result.ratio_ci_low <= true_ratio <= result.ratio_ci_high
    assert result.ratio == pytest.approx(true_ratio, rel=0.02)
    assert result.is_significant == (true_ratio != 1.0)


def test_interleaved_ratio_stays_tight_while_the_machine_slows_down():
    # The fake machine slows down as fake time passes: after 0.1 s everything
    # takes twice as long.  Both functions see the same slowdown, so their
    # ratio (truly 2) does not drift.
    timer = FakeTimer()

    def drifting(name, base_seconds):
        def fake_function():
            timer.events.append(name)
            timer.now += base_seconds * (1 + 10 * timer.now)

        return fake_function

    result = run_interleaved(
        timer,
        drifting("a", MILLISECOND),
        drifting("b", 2 * MILLISECOND),
        warmup_calls=0,
        max_samples=60,
        budget_seconds=100.0,
    )

    assert result.a.is_noisy  # the drift alone spreads a's samples
    assert result.ratio_ci_low <= 2.0 <= result.ratio_ci_high
    assert result.ratio_ci_high - result.ratio_ci_low < 0.05 * 2.0


def test_labels_are_attached():
    timer = FakeTimer()
    fn = timer.function("fn", [MILLISECOND])

    single = measure(fn, clock=timer.clock, label="conv3x3")
    pair = measure_interleaved(fn, fn, clock=timer.clock, labels=("full", "factorized"))

    assert single.label == "conv3x3"
    assert (pair.a.label, pair.b.label) == ("full", "factorized")


@pytest.mark.parametrize(
    "fields, error, message",
    [
        ({"warmup_calls": -1}, ValueError, "warmup_calls must be an integer >= 0, got -1"),
        ({"warmup_calls": 1.5}, TypeError, "warmup_calls must be an integer, got 1.5"),
        ({"min_samples": 0}, ValueError, "min_samples must be an integer >= 1, got 0"),
        ({"max_samples": 6}, ValueError, r"max_samples must be an integer >= min_samples \(7\), got 6"),
        ({"target_ci_relative": 0.0}, ValueError, "target_ci_relative must be a finite number > 0, got 0.0"),
        ({"budget_seconds": math.inf}, ValueError, "budget_seconds must be a finite number > 0, got inf"),
        ({"budget_seconds": "3"}, TypeError, "budget_seconds must be a number, got '3'"),
        ({"min_sample_seconds": -0.1}, ValueError, "min_sample_seconds must be a finite number >= 0, got -0.1"),
    ],
)
def test_invalid_policy_fields_are_rejected(fields, error, message):
    with pytest.raises(error, match=message):
        TimingPolicy(**fields)
