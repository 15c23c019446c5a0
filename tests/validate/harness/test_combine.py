"""Tests of validate.harness.combine: intervals over processes, with synthetic between-process offsets."""

import math

import numpy as np
import pytest

from validate.harness.combine import combine_processes, moderated_prior
from validate.harness.timing import TimingPolicy, measure_interleaved

POLICY = TimingPolicy(min_samples=7, max_samples=30, budget_seconds=10.0)


def process_ratio(true_ratio: float, process_offset: float, rng: np.random.Generator) -> tuple[float, float, float]:
    """What one process measures, on a fake clock: the true ratio times this process's offset, plus jitter.

    The offset is what a process's memory layout or thread placement does to the
    factorized stack's speed: the same for every sample of the process, so the
    process's own interval cannot see it.
    """
    now = [0.0]

    def timed(base: float):
        def call():
            now[0] += base * float(rng.lognormal(0.0, 0.005))

        return call

    original = timed(1e-3)
    factorized = timed(1e-3 * true_ratio * process_offset)
    result = measure_interleaved(original, factorized, policy=POLICY, clock=lambda: now[0])
    return result.ratio, result.ratio_ci_low, result.ratio_ci_high


def sweep(rng, configurations: int, processes: int, offset_sd: float) -> tuple[dict, dict]:
    """Per configuration: its true ratio, and one (ratio, low, high) per process."""
    truths = {f"c{index}": float(rng.uniform(0.3, 1.2)) for index in range(configurations)}
    measured = {
        key: [process_ratio(truth, float(rng.lognormal(0.0, offset_sd)), rng) for _ in range(processes)]
        for key, truth in truths.items()
    }
    return truths, measured


def test_a_process_offset_widens_the_interval_to_cover_the_truth():
    rng = np.random.default_rng(7)
    truths, measured = sweep(rng, configurations=40, processes=3, offset_sd=0.08)
    # One process's own interval misses the truth most of the time: it cannot see the offset.
    own = [low <= truths[key] <= high for key, runs in measured.items() for _, low, high in runs[:1]]
    assert sum(own) / len(own) < 0.5
    combined = combine_processes({key: [ratio for ratio, _, _ in runs] for key, runs in measured.items()})
    covered = [combined[key].low <= truth <= combined[key].high for key, truth in truths.items()]
    assert sum(covered) / len(covered) >= 0.85
    for key, runs in measured.items():
        own_width = max(high - low for _, low, high in runs)
        assert combined[key].high - combined[key].low > own_width


def test_without_offsets_the_interval_stays_narrow():
    rng = np.random.default_rng(8)
    truths, measured = sweep(rng, configurations=30, processes=3, offset_sd=0.0)
    combined = combine_processes({key: [ratio for ratio, _, _ in runs] for key, runs in measured.items()})
    widths = [entry.relative_width for entry in combined.values()]
    assert np.median(widths) < 0.03  # the jitter alone: a few percent at most
    assert all(entry.low <= truths[key] * 1.02 and entry.high >= truths[key] / 1.02 for key, entry in combined.items())


def test_a_rerun_lands_in_the_rerun_interval():
    rng = np.random.default_rng(9)
    truths = {f"c{index}": 0.5 + index / 100 for index in range(200)}
    first = {key: list(truth * rng.lognormal(0.0, 0.05, 3)) for key, truth in truths.items()}
    second = {key: float(np.exp(np.mean(np.log(truth * rng.lognormal(0.0, 0.05, 3))))) for key, truth in truths.items()}
    combined = combine_processes(first)
    inside_rerun = np.mean([combined[key].rerun_low <= second[key] <= combined[key].rerun_high for key in truths])
    inside_confidence = np.mean([combined[key].low <= second[key] <= combined[key].high for key in truths])
    assert inside_rerun >= 0.9
    assert inside_confidence < inside_rerun  # a confidence interval is not where a rerun lands


def test_variances_unlike_each_other_keep_their_own():
    rng = np.random.default_rng(10)
    quiet = {f"q{index}": list(rng.lognormal(0.0, 0.01, 3)) for index in range(20)}
    loud = {f"l{index}": list(rng.lognormal(0.0, 0.3, 3)) for index in range(20)}
    combined = combine_processes(quiet | loud)
    assert np.median([combined[key].relative_width for key in quiet]) * 5 < np.median(
        [combined[key].relative_width for key in loud]
    )


def test_one_process_gives_no_combined_interval_and_bad_values_are_refused():
    assert combine_processes({"a": [0.5]}) == {"a": None}
    with pytest.raises(ValueError, match="'a' must be positive finite"):
        combine_processes({"a": [0.5, -1.0]})
    with pytest.raises(ValueError, match="'b' must be positive finite"):
        combine_processes({"b": [0.5, math.nan]})
    with pytest.raises(ValueError, match="confidence"):
        combine_processes({"a": [0.5, 0.6]}, confidence=1.0)


def test_identical_values_give_a_tiny_interval_that_is_not_nan():
    combined = combine_processes({"a": [0.5, 0.5, 0.5], "b": [0.7, 0.7, 0.7]})["a"]
    assert combined.estimate == pytest.approx(0.5)
    assert 0.5 * (1 - 1e-4) < combined.low <= 0.5 <= combined.high < 0.5 * (1 + 1e-4)


def test_few_configurations_of_two_processes_are_worth_only_their_pooled_degrees_of_freedom():
    # Configurations of two processes each, varying alike: the prior is fully shared, but it rests
    # on one degree of freedom per configuration, so 3 configurations give t(3) = 3.18 and 30 give
    # t(30) = 2.04, on the same variance: the interval of the first is 1.56 times as wide.
    pair = [1.0, 1.1]
    few = combine_processes({f"c{index}": pair for index in range(3)})["c0"]
    many = combine_processes({f"c{index}": pair for index in range(30)})["c0"]
    assert (few.degrees_of_freedom, many.degrees_of_freedom) == (3, 30)
    width = [math.log(entry.high / entry.estimate) for entry in (few, many)]
    assert width[0] / width[1] == pytest.approx(3.1824 / 2.0423, rel=1e-3)


def test_few_configurations_share_nothing():
    assert moderated_prior([0.01, 0.02], [2, 2]).degrees_of_freedom == 0.0
