"""Tests of validate.harness.stats: statistics of a Measurement and the ratio bootstrap."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from validate.harness.stats import (
    NOISE_THRESHOLD,
    Measurement,
    bootstrap_ratio_ci,
    median_confidence_ranks,
    paired_ratio_ci,
)


@pytest.mark.parametrize(
    "samples, median, iqr, ci_low, ci_high",
    [
        # 1..10 shuffled.  Median (5 + 6) / 2.  Quartiles interpolate linearly at
        # positions 0.25*9 = 2.25 and 0.75*9 = 6.75 of the sorted list: 3.25 and
        # 7.75.  CI: the 2nd and 9th smallest (see test_ranks_match_binomial).
        ([4.0, 9.0, 1.0, 7.0, 2.0, 10.0, 5.0, 3.0, 8.0, 6.0], 5.5, 4.5, 2.0, 9.0),
        # 1..7: positions 1.5 and 4.5 give quartiles 2.5 and 5.5; with 7 samples
        # only [min, max] reaches 95% (1 - 2/2**7 = 98.4%; the next 87.5%).
        ([5.0, 1.0, 4.0, 2.0, 3.0, 7.0, 6.0], 4.0, 3.0, 1.0, 7.0),
        # 1..20: positions 4.75 and 14.25 give 5.75 and 15.25; CI ranks 6 and 15.
        ([float(value) for value in range(20, 0, -1)], 10.5, 9.5, 6.0, 15.0),
        # 5 samples cannot bound the median at 95% (1 - 2/2**5 = 93.75%).
        ([3.0, 1.0, 2.0, 5.0, 4.0], 3.0, 2.0, 0.0, math.inf),
    ],
)
def test_statistics_of_known_samples(samples, median, iqr, ci_low, ci_high):
    measurement = Measurement("known", samples)

    assert measurement.median_seconds == pytest.approx(median)
    assert measurement.iqr_seconds == pytest.approx(iqr)
    assert measurement.relative_iqr == pytest.approx(iqr / median)
    assert (measurement.ci_low_seconds, measurement.ci_high_seconds) == (ci_low, ci_high)
    assert measurement.ci_half_width_relative == pytest.approx((ci_high - ci_low) / 2 / median)


@pytest.mark.parametrize(
    "sample_count, one_based_ranks",
    [
        # Coverage of [x_(j), x_(n-j+1)] is 1 - 2 * P(Binomial(n, 1/2) <= j - 1).
        (6, (1, 6)),  # j=1: 1 - 2/64 = 96.9%;  j=2: 1 - 14/64 = 78.1%
        (10, (2, 9)),  # j=2: 1 - 22/1024 = 97.9%;  j=3: 1 - 112/1024 = 89.1%
        (20, (6, 15)),  # j=6: 1 - 2*0.0207 = 95.9%;  j=7: 1 - 2*0.0577 = 88.5%
        (100, (40, 61)),  # normal approximation 50 -/+ 1.96*5 = 40.2 .. 59.8
    ],
)
def test_ranks_match_binomial(sample_count, one_based_ranks):
    low_index, high_index = median_confidence_ranks(sample_count)

    assert (low_index + 1, high_index + 1) == one_based_ranks


@pytest.mark.parametrize("sample_count", [1, 2, 5])
def test_ranks_are_none_below_six_samples(sample_count):
    assert median_confidence_ranks(sample_count) is None


@settings(max_examples=30, deadline=None)
@given(sample_count=st.integers(min_value=6, max_value=400))
def test_ranks_give_the_narrowest_interval_reaching_95_percent(sample_count):
    def coverage(low_index):
        # The interval misses the median when at most low_index samples lie
        # below it, or (by symmetry) at most low_index above it.
        tail = sum(math.comb(sample_count, k) for k in range(low_index + 1))
        return 1 - 2 * tail / 2**sample_count

    low_index, high_index = median_confidence_ranks(sample_count)

    assert high_index == sample_count - 1 - low_index
    assert coverage(low_index) >= 0.95
    assert coverage(low_index + 1) < 0.95


def test_interval_covers_true_median_95_percent_of_the_time():
    # Monte Carlo with uniform samples (true median 0.5): for n=10 the exact
    # coverage is 1 - 22/1024 = 0.9785; 20000 trials give a standard error of 0.001.
    generator = np.random.default_rng(0)
    trials = np.sort(generator.uniform(size=(20000, 10)), axis=1)
    low_index, high_index = median_confidence_ranks(10)

    covered = (trials[:, low_index] < 0.5) & (trials[:, high_index] > 0.5)

    assert covered.mean() == pytest.approx(1 - 22 / 1024, abs=0.005)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=1e3), min_size=1, max_size=60))
def test_interval_brackets_median_for_any_samples(samples):
    measurement = Measurement("any", samples)

    assert measurement.ci_low_seconds <= measurement.median_seconds <= measurement.ci_high_seconds
    assert measurement.iqr_seconds >= 0


@pytest.mark.parametrize(
    "samples, noisy",
    [
        # Five sorted samples put the quartiles exactly on the 2nd and 4th,
        # so the relative IQR is (4th - 2nd) / 3rd.
        ([0.9, 0.96, 1.0, 1.04, 1.1], False),  # 0.08
        ([0.9, 0.951, 1.0, 1.049, 1.1], False),  # 0.098
        ([0.9, 0.94, 1.0, 1.07, 1.1], True),  # 0.13
        ([0.5, 0.9, 1.0, 1.2, 2.0], True),  # 0.3
    ],
)
def test_noisy_flag_uses_relative_iqr_threshold(samples, noisy):
    measurement = Measurement("flag", samples)

    assert (measurement.relative_iqr > NOISE_THRESHOLD) == noisy
    assert measurement.is_noisy == noisy


@pytest.mark.parametrize(
    "samples, error, message",
    [
        ([], ValueError, "must not be empty"),
        ([1.0, math.nan], ValueError, r"samples_seconds\[1\] must be a finite number >= 0, got nan"),
        ([math.inf], ValueError, r"samples_seconds\[0\] must be a finite number"),
        ([0.5, -1e-9], ValueError, r"samples_seconds\[1\] must be a finite number >= 0, got -1e-09"),
        (["0.5"], TypeError, r"samples_seconds\[0\] must be a number, got '0.5'"),
        ([True], TypeError, "must be a number, got True"),
        (0.5, TypeError, "must be a sequence of floats"),
    ],
)
def test_invalid_samples_are_rejected(samples, error, message):
    with pytest.raises(error, match=message):
        Measurement("bad", samples)


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"calls_per_sample": 0}, "calls_per_sample must be an integer >= 1, got 0"),
        ({"stop_reason": "tired"}, "stop_reason must be one of .*, got 'tired'"),
    ],
)
def test_invalid_fields_are_rejected(fields, message):
    with pytest.raises(ValueError, match=message):
        Measurement("bad", [1.0], **fields)


def test_measurement_is_frozen_hashable_and_keeps_raw_samples():
    measurement = Measurement("raw", [3, 1.5, 2])

    assert measurement.samples_seconds == (3.0, 1.5, 2.0)  # order kept, stored as floats
    assert measurement == Measurement("raw", (3.0, 1.5, 2.0))
    assert hash(measurement) == hash(Measurement("raw", (3.0, 1.5, 2.0)))
    with pytest.raises(AttributeError):
        measurement.label = "changed"


def test_zero_median_gives_infinite_relative_spread():
    # A clock too coarse for the code reads 0 for most calls.
    measurement = Measurement("coarse", [0.0, 0.0, 0.0, 1e-6, 2e-6, 0.0, 0.0])

    assert measurement.median_seconds == 0.0
    assert measurement.relative_iqr == math.inf
    assert measurement.ci_half_width_relative == math.inf


def _lognormal_samples(seed, median_seconds, size, sigma=0.1):
    return np.random.default_rng(seed).lognormal(math.log(median_seconds), sigma, size)


@pytest.mark.parametrize("true_ratio", [0.5, 1.0, 1.5, 3.0])
def test_bootstrap_interval_contains_known_ratio(true_ratio):
    # Independent lognormal noise around medians 1 ms and true_ratio ms.
    denominator = _lognormal_samples(1, 1e-3, 200)
    numerator = _lognormal_samples(2, true_ratio * 1e-3, 200)

    ratio, low, high = bootstrap_ratio_ci(numerator, denominator)

    assert low <= true_ratio <= high
    assert low <= ratio <= high
    assert high - low < 0.1 * true_ratio


def test_bootstrap_is_deterministic_for_a_seed():
    numerator = _lognormal_samples(3, 2e-3, 50)
    denominator = _lognormal_samples(4, 1e-3, 50)

    first = bootstrap_ratio_ci(numerator, denominator, seed=7)
    again = bootstrap_ratio_ci(numerator, denominator, seed=7)
    other_seed = bootstrap_ratio_ci(numerator, denominator, seed=8)

    assert first == again
    assert other_seed[0] == first[0]  # the point estimate does not resample
    assert other_seed[1:] != first[1:]


def test_paired_bootstrap_cancels_common_drift():
    # Both sides slow down linearly by the same factor (1 -> 3 over 200 rounds)
    # with 0.5% independent noise; b is truly 2x a.  The paired interval is not
    # as narrow as the noise alone: with drift, each median is one sample near
    # the middle round, so the ratio rests on a few pairs, not on all 200.
    drift = np.linspace(1.0, 3.0, 200)
    a = 1e-3 * drift * _lognormal_samples(5, 1.0, 200, sigma=0.005)
    b = 2e-3 * drift * _lognormal_samples(6, 1.0, 200, sigma=0.005)

    _, paired_low, paired_high = bootstrap_ratio_ci(b, a)
    # Dropping one sample makes the lengths differ, so each side is resampled
    # on its own and the drift turns into spread.
    _, unpaired_low, unpaired_high = bootstrap_ratio_ci(b[:-1], a)

    assert paired_low <= 2.0 <= paired_high
    assert Measurement("a", a).relative_iqr > 0.4  # the drift alone spreads each side
    assert paired_high - paired_low < 0.05 * 2.0
    assert unpaired_high - unpaired_low > 5 * (paired_high - paired_low)


def test_per_pair_ratios_stay_as_tight_as_the_noise_under_drift():
    # Same drifting data as above: dividing within each pair removes the drift,
    # so the interval is set by the 0.5% noise of each call, not by the drift.
    drift = np.linspace(1.0, 3.0, 200)
    a = 1e-3 * drift * _lognormal_samples(5, 1.0, 200, sigma=0.005)
    b = 2e-3 * drift * _lognormal_samples(6, 1.0, 200, sigma=0.005)

    ratio, low, high = paired_ratio_ci(b, a)
    _, median_ratio_low, median_ratio_high = bootstrap_ratio_ci(b, a)

    assert low <= 2.0 <= high and ratio == pytest.approx(2.0, rel=0.005)
    assert high - low < 0.005 * 2.0  # about the noise of one pair over sqrt(200)
    assert (median_ratio_high - median_ratio_low) > 3 * (high - low)


@pytest.mark.parametrize(
    "numerator, denominator, message",
    [
        ([1.0, 2.0], [1.0], "paired samples need equal lengths, got 2 and 1"),
        ([1.0, 2.0], [1.0, 0.0], "denominator_samples must all be positive"),
    ],
)
def test_paired_ratio_refuses_unpairable_samples(numerator, denominator, message):
    with pytest.raises(ValueError, match=message):
        paired_ratio_ci(numerator, denominator)


@pytest.mark.parametrize(
    "numerator, denominator, options, message",
    [
        ([], [1.0], {}, "numerator_samples must be a non-empty"),
        ([1.0], [1.0, math.nan], {}, "denominator_samples must be finite"),
        ([1.0], [0.0, 0.0, 1.0], {}, "denominator_samples must have a positive median, got 0.0"),
        ([1.0], [1.0], {"confidence": 1.0}, "confidence must be strictly between 0 and 1, got 1.0"),
        ([1.0], [1.0], {"resamples": 0}, "resamples must be an integer >= 1, got 0"),
    ],
)
def test_bootstrap_rejects_invalid_input(numerator, denominator, options, message):
    with pytest.raises(ValueError, match=message):
        bootstrap_ratio_ci(numerator, denominator, **options)
