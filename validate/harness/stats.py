"""Statistics over raw timing samples.

A :class:`Measurement` keeps every per-call sample it was built from and derives
its statistics on demand, so a report can always be recomputed (or re-judged
with a different threshold) from the stored data.  The location statistic is
the *median*, not the mean: latencies are skewed to the right (a preemption, a
page fault, a GC pause only ever add time), and one such outlier moves the mean
but not the median.

Uncertainty is reported in two distribution-free ways:

* the 95% confidence interval of the median from order statistics (no
  normality assumption, exact for any continuous distribution), used to decide
  when a measurement has enough samples;
* a bootstrap interval for the *ratio* of two medians
  (:func:`bootstrap_ratio_ci`), used to compare two implementations.

Nothing here imports TensorFlow; numpy is the only dependency.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property

import numpy as np

from costmodel.checks import check_count, check_real

__all__ = [
    "CONFIDENCE",
    "NOISE_THRESHOLD",
    "STOP_REASONS",
    "Measurement",
    "bootstrap_ratio_ci",
    "median_confidence_ranks",
]

#: Interquartile range over median above which a measurement is flagged as
#: noisy; the same threshold torch.utils.benchmark warns at.
NOISE_THRESHOLD = 0.1

#: Coverage of every confidence interval reported by this package.
CONFIDENCE = 0.95

#: Why a measuring loop stopped; "" for a measurement built by hand.
STOP_REASONS = ("", "converged", "budget", "max_samples")


@functools.lru_cache(maxsize=1024)
def median_confidence_ranks(sample_count: int, confidence: float = CONFIDENCE) -> tuple[int, int] | None:
    """Return the 0-based order-statistic indices bounding the median's CI.

    For ``n`` independent samples from any continuous distribution the number
    of samples below the true median is Binomial(n, 1/2), so the interval
    ``[x_(j), x_(n-j+1)]`` between the j-th smallest and j-th largest sample
    covers the median with probability ``1 - 2 * P(Binomial(n, 1/2) <= j-1)``.
    The largest ``j`` that keeps this coverage at or above ``confidence`` gives
    the narrowest such interval.  The binomial tail is summed in exact integer
    arithmetic, so there is no rounding even for a few thousand samples.

    Parameters
    ----------
    sample_count : int
        Number of samples ``n`` (at least 1).
    confidence : float
        Required coverage, strictly between 0 and 1.

    Returns
    -------
    tuple of int or None
        ``(low_index, high_index)`` into the sorted samples, or ``None`` when
        even the widest interval ``[min, max]`` covers the median with less
        than ``confidence`` (for 95% this is the case below 6 samples:
        ``1 - 2 / 2**5 = 0.9375``).

    Examples
    --------
    >>> median_confidence_ranks(10)  # [x_(2), x_(9)] covers 97.9%; [x_(3), x_(8)] 89.1%
    (1, 8)
    >>> median_confidence_ranks(5) is None
    True
    """
    check_count("sample_count", sample_count, minimum=1)
    _check_probability("confidence", confidence)
    # Compare integers: alpha * 2**n overflows a float beyond about 1000 samples.
    alpha_numerator, alpha_denominator = (1.0 - confidence).as_integer_ratio()
    allowed_two_sided_tail = Fraction(alpha_numerator * 2**sample_count, alpha_denominator)
    # binomial_term = C(n, i); lower_tail = sum of C(n, k) for k <= i.
    binomial_term = 1
    lower_tail = 1
    if 2 * lower_tail > allowed_two_sided_tail:
        return None
    rank = 1  # 1-based j whose coverage 1 - 2 * tail(j - 1) is known to suffice
    while rank < (sample_count + 1) // 2:
        binomial_term = binomial_term * (sample_count - rank + 1) // rank
        if 2 * (lower_tail + binomial_term) > allowed_two_sided_tail:
            break
        lower_tail += binomial_term
        rank += 1
    return rank - 1, sample_count - rank


@dataclass(frozen=True)
class Measurement:
    """Raw per-call latencies of one piece of code, with derived statistics.

    The dataclass is frozen but has no ``__slots__`` so that the statistics
    can be ``functools.cached_property``: computed on first use, then kept.

    Parameters
    ----------
    label : str
        What was measured, for reports.
    samples_seconds : sequence of float
        Per-call seconds, one per sample, in the order they were taken.  When
        a sample timed a block of several calls it holds the block's time
        divided by ``calls_per_sample``.  Stored as a tuple.
    stop_reason : str
        Why the measuring loop stopped: ``"converged"``, ``"budget"``,
        ``"max_samples"``, or ``""`` when built by hand.
    calls_per_sample : int
        How many calls each sample timed together.

    Raises
    ------
    ValueError
        If there are no samples, a sample is negative, NaN or infinite,
        ``calls_per_sample`` is below 1, or ``stop_reason`` is unknown.
    TypeError
        If a sample is not a real number, or ``label``/``stop_reason`` is not
        a string, or ``calls_per_sample`` is not an int.

    Examples
    --------
    >>> m = Measurement("relu", [0.004, 0.001, 0.003, 0.002, 0.005])
    >>> m.median_seconds
    0.003
    >>> round(m.iqr_seconds, 12), round(m.relative_iqr, 12), m.is_noisy
    (0.002, 0.666666666667, True)
    """

    label: str
    samples_seconds: tuple[float, ...]
    stop_reason: str = ""
    calls_per_sample: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.label, str):
            raise TypeError(f"label must be a str, got {self.label!r}")
        object.__setattr__(self, "samples_seconds", _validated_samples(self.samples_seconds))
        if self.stop_reason not in STOP_REASONS:
            raise ValueError(f"stop_reason must be one of {STOP_REASONS}, got {self.stop_reason!r}")
        check_count("calls_per_sample", self.calls_per_sample, minimum=1)

    @cached_property
    def _sorted_seconds(self) -> np.ndarray:
        return np.sort(np.asarray(self.samples_seconds, dtype=float))

    @property
    def sample_count(self) -> int:
        """Number of samples."""
        return len(self.samples_seconds)

    @cached_property
    def median_seconds(self) -> float:
        """Median per-call seconds."""
        return float(np.median(self._sorted_seconds))

    @cached_property
    def iqr_seconds(self) -> float:
        """Interquartile range, quartiles linearly interpolated (numpy's default)."""
        lower_quartile, upper_quartile = np.quantile(self._sorted_seconds, [0.25, 0.75])
        return float(upper_quartile - lower_quartile)

    @property
    def relative_iqr(self) -> float:
        """IQR divided by the median; scale-free spread."""
        return _relative_to(self.iqr_seconds, self.median_seconds)

    @cached_property
    def _median_ci_seconds(self) -> tuple[float, float]:
        ranks = median_confidence_ranks(self.sample_count, CONFIDENCE)
        if ranks is None:
            # Too few samples to bound the median at this confidence: say so
            # with an unbounded interval rather than pretend [min, max] is one.
            return 0.0, math.inf
        low_index, high_index = ranks
        return float(self._sorted_seconds[low_index]), float(self._sorted_seconds[high_index])

    @property
    def ci_low_seconds(self) -> float:
        """Lower end of the median's 95% confidence interval (order statistics).

        0.0 when there are too few samples (below 6) to bound the median.
        """
        return self._median_ci_seconds[0]

    @property
    def ci_high_seconds(self) -> float:
        """Upper end of the median's 95% confidence interval (order statistics).

        ``math.inf`` when there are too few samples (below 6) to bound the median.
        """
        return self._median_ci_seconds[1]

    @property
    def ci_half_width_relative(self) -> float:
        """Half the width of the median's 95% CI, as a fraction of the median."""
        return _relative_to((self.ci_high_seconds - self.ci_low_seconds) / 2, self.median_seconds)

    @property
    def is_noisy(self) -> bool:
        """Whether the relative IQR exceeds :data:`NOISE_THRESHOLD`."""
        return self.relative_iqr > NOISE_THRESHOLD


def bootstrap_ratio_ci(
    numerator_samples: Sequence[float],
    denominator_samples: Sequence[float],
    *,
    confidence: float = CONFIDENCE,
    resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Ratio of medians with a percentile-bootstrap confidence interval.

    When both sample lists have the same length they are taken to be *paired*
    by index, as produced by interleaved timing (A B A B ...): sample ``i`` of
    both was taken at nearly the same moment, so a slow drift of the machine
    (thermal throttling, a background job) scales both alike.  Resampling
    pairs of indices keeps that shared drift inside every bootstrap replicate,
    where it cancels in the ratio; resampling each side independently would
    turn the drift into spread and widen the interval.  Lists of different
    lengths cannot be paired and are resampled independently.

    All replicates are drawn and reduced in one vectorised numpy step.

    Parameters
    ----------
    numerator_samples, denominator_samples : sequence of float
        Finite samples; the denominator's median must be positive.
    confidence : float
        Coverage of the interval, strictly between 0 and 1.
    resamples : int
        Number of bootstrap replicates (at least 1).
    seed : int
        Seed of the random generator; the same inputs and seed give the same
        interval.

    Returns
    -------
    tuple of float
        ``(ratio_of_medians, low, high)`` where the ratio is computed from the
        original samples and ``low``/``high`` are percentiles of the replicate
        ratios.

    Raises
    ------
    ValueError
        If a sample list is empty or holds a non-finite value, the
        denominator's median is not positive, ``confidence`` is not in (0, 1),
        or ``resamples`` is below 1.

    Examples
    --------
    >>> fast = [1.0, 1.1, 0.9, 1.05, 0.95]
    >>> slow = [2.0, 2.2, 1.8, 2.1, 1.9]   # exactly twice ``fast``, pair by pair
    >>> bootstrap_ratio_ci(slow, fast)
    (2.0, 2.0, 2.0)
    """
    numerator, denominator = _bootstrap_inputs(numerator_samples, denominator_samples, confidence, resamples)
    denominator_median = float(np.median(denominator))
    if not denominator_median > 0:
        raise ValueError(f"denominator_samples must have a positive median, got {denominator_median!r}")
    ratio = float(np.median(numerator)) / denominator_median

    generator = np.random.default_rng(seed)
    numerator_indices = generator.integers(0, numerator.size, size=(resamples, numerator.size))
    if numerator.size == denominator.size:
        denominator_indices = numerator_indices
    else:
        denominator_indices = generator.integers(0, denominator.size, size=(resamples, denominator.size))
    numerator_medians = _row_medians(numerator[numerator_indices])
    denominator_medians = _row_medians(denominator[denominator_indices])
    # A replicate can draw mostly zero-second samples; its ratio is then inf
    # (or nan for 0/0), which percentiles handle by landing at the extremes.
    with np.errstate(divide="ignore", invalid="ignore"):
        replicate_ratios = numerator_medians / denominator_medians
    return (ratio, *_percentile_interval(replicate_ratios, confidence))


def paired_ratio_ci(
    numerator_samples: Sequence[float],
    denominator_samples: Sequence[float],
    *,
    confidence: float = CONFIDENCE,
    resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Median of the per-pair ratios, with a percentile-bootstrap interval over pairs.

    Interleaved timing gives pairs taken moments apart.  Dividing within each
    pair first removes whatever the two shared at that moment (a slow drift of
    the machine, a background job), so the ratio's spread is only the noise
    between the two calls of a pair.  The ratio of the two medians, by
    contrast, rests on a few pairs from the middle of the run when the
    machine drifts, and its interval widens with the drift.

    Parameters and errors are those of :func:`bootstrap_ratio_ci`; the two
    lists must have the same length.

    Examples
    --------
    >>> drifting = [1.0, 2.0, 3.0, 4.0, 5.0]          # the machine slows down 5x
    >>> paired_ratio_ci([1.5 * a for a in drifting], drifting)
    (1.5, 1.5, 1.5)
    """
    numerator, denominator = _bootstrap_inputs(numerator_samples, denominator_samples, confidence, resamples)
    if numerator.size != denominator.size:
        raise ValueError(f"paired samples need equal lengths, got {numerator.size} and {denominator.size}")
    if not np.all(denominator > 0):
        raise ValueError("denominator_samples must all be positive to form per-pair ratios")
    ratios = numerator / denominator
    generator = np.random.default_rng(seed)
    indices = generator.integers(0, ratios.size, size=(resamples, ratios.size))
    replicate_medians = _row_medians(ratios[indices])
    return (float(np.median(ratios)), *_percentile_interval(replicate_medians, confidence))


def _bootstrap_inputs(
    numerator_samples, denominator_samples, confidence: float, resamples: int
) -> tuple[np.ndarray, np.ndarray]:
    """Checked arrays and arguments shared by both bootstrap estimators."""
    numerator = _finite_array("numerator_samples", numerator_samples)
    denominator = _finite_array("denominator_samples", denominator_samples)
    _check_probability("confidence", confidence)
    check_count("resamples", resamples, minimum=1)
    return numerator, denominator


def _percentile_interval(replicates: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = (1.0 - confidence) / 2
    low, high = np.quantile(replicates, [tail, 1.0 - tail])
    return float(low), float(high)


def _row_medians(matrix: np.ndarray) -> np.ndarray:
    # Sorting each (short) row outright measured 2-3x faster than the
    # partition inside np.median for 2000 rows of 200 samples.
    sorted_rows = np.sort(matrix, axis=1)
    columns = matrix.shape[1]
    return (sorted_rows[:, (columns - 1) // 2] + sorted_rows[:, columns // 2]) / 2


def _relative_to(value: float, median: float) -> float:
    # A zero median (a clock too coarse for the code) makes any nonzero
    # spread infinitely large relative to it, and no spread no spread at all.
    if median == 0:
        return 0.0 if value == 0 else math.inf
    return value / median


def _validated_samples(samples: Sequence[float]) -> tuple[float, ...]:
    try:
        values = tuple(samples)
    except TypeError:
        raise TypeError(f"samples_seconds must be a sequence of floats, got {samples!r}") from None
    if not values:
        raise ValueError("samples_seconds must not be empty")
    for index, value in enumerate(values):
        check_real(f"samples_seconds[{index}]", value, minimum=0)
    return tuple(float(value) for value in values)


def _finite_array(name: str, samples: Sequence[float]) -> np.ndarray:
    array = np.asarray(samples, dtype=float)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-d sequence, got {samples!r}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite, got {samples!r}")
    return array


def _check_probability(name: str, value: float) -> None:
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be strictly between 0 and 1, got {value!r}")
