"""One estimate from several worker processes, with an interval that a rerun confirms.

Within one process the samples of a configuration are close together: the
order-statistic interval of a median, or the bootstrap interval of an
interleaved ratio, describes how well *that process* knows its own value.  A
second process measures another value: its memory layout, its threads'
placement, the oneDNN primitives it creates and the machine's other tenants
differ, and on a shared 2-core machine these move a ratio by 2-30%
(docs/validate.md, "Between processes").  So each configuration is measured
in several processes and the spread *between* them is what the interval is
built from.

The model, on the log scale (ratios and times are positive and their errors
multiplicative)::

    y[k] = mu + e[k],   e[k] ~ N(0, sigma_c^2)   for the processes k = 1..K of configuration c

``y[k]`` is process k's own estimate (its median, or median ratio), so
``sigma_c`` holds both the between-process and the within-process variation.
With three processes, each configuration's own variance has two degrees of
freedom and a Student t interval would be four times its standard error wide.
The variances of all configurations of one run are therefore combined the
way limma does for gene-expression arrays (Smyth 2004, "Linear models and
empirical Bayes methods for assessing differential expression", section 6):
the per-configuration variances are taken to scatter around a common prior
``s0^2`` with ``d0`` degrees of freedom, both estimated from the variances
themselves by the method of moments; each configuration's variance is then
the weighted mean ``(d0 s0^2 + d s^2) / (d0 + d)`` with ``d0 + d`` degrees of
freedom.  When the configurations vary alike, ``d0`` is large and the
intervals use the shared spread; when they differ, ``d0`` is small and each
keeps its own.  Nothing is added by hand: every width comes from measured
variation.

Two intervals are given:

``low, high``
    the 95% confidence interval of ``mu``: ``mean +- t * s / sqrt(K)``.
``rerun_low, rerun_high``
    the 95% prediction interval of what a rerun with the same number of
    processes will report: ``mean +- t * s * sqrt(1/K + 1/K)``.  Even a
    perfect confidence interval holds a same-sized rerun's estimate only
    about 83% of the time (both estimates carry error); this interval is the
    one a rerun is expected to land in 95% of the time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

from costmodel.checks import check_real

__all__ = ["Combined", "combine_processes", "moderated_prior"]

#: A process's estimate may be equal in every process (a clock too coarse, a cached result); the
#: log of a zero variance is -inf, so variances are floored at this (relative) value first.
_VARIANCE_FLOOR = 1e-12


@dataclass(frozen=True)
class Combined:
    """The combined estimate of one configuration over its processes.

    ``low``/``high`` bound the value (95% confidence); ``rerun_low``/``rerun_high`` bound what a
    rerun with as many processes reports (95% prediction).  With one process there is no
    between-process information: ``low``/``high`` are then the process's own interval, given by
    the caller, and the rerun interval is unknown (None).
    """

    estimate: float
    low: float
    high: float
    rerun_low: float | None
    rerun_high: float | None
    processes: int
    degrees_of_freedom: float | None = None

    @property
    def relative_width(self) -> float:
        """The confidence interval's width over the estimate."""
        return (self.high - self.low) / self.estimate


@dataclass(frozen=True)
class Prior:
    """The shared variance of the log estimates, and how much it is worth (degrees of freedom)."""

    variance: float
    degrees_of_freedom: float  # math.inf: every configuration varies alike; 0: no sharing
    pooled_degrees_of_freedom: float = math.inf  # all configurations' together: what the prior can be worth


def moderated_prior(variances: Sequence[float], degrees: Sequence[int]) -> Prior:
    """Fit the scaled inverse-chi-square prior of limma's ``fitFDist`` by the method of moments.

    ``log s^2`` has mean ``log s0^2 + digamma(d/2) - log(d/2)`` and variance
    ``trigamma(d/2) + trigamma(d0/2)``; the second is solved for ``d0``.
    Fewer than three configurations cannot tell a prior from their own spread: then ``d0 = 0``.

    >>> moderated_prior([0.01] * 10, [2] * 10).degrees_of_freedom   # alike: share them fully
    inf
    >>> round(moderated_prior([1e-4, 1e-2, 1.0, 1e-3], [2] * 4).degrees_of_freedom, 1)   # not alike
    0.6
    """
    s2 = np.maximum(np.asarray(variances, dtype=float), _VARIANCE_FLOOR)
    d = np.asarray(degrees, dtype=float)
    pooled = float(np.sum(d))
    if s2.size < 3:
        return Prior(float(np.mean(s2)) if s2.size else 0.0, 0.0, pooled)
    corrected = np.log(s2) - special.digamma(d / 2) + np.log(d / 2)
    mean = float(np.mean(corrected))
    spread = float(np.var(corrected, ddof=1) - np.mean(special.polygamma(1, d / 2)))
    if spread <= 0:
        return Prior(math.exp(mean), math.inf, pooled)
    d0 = 2 * _trigamma_inverse(spread)
    return Prior(math.exp(mean + special.digamma(d0 / 2) - math.log(d0 / 2)), d0, pooled)


def combine_processes(values: Mapping[str, Sequence[float]], *, confidence: float = 0.95) -> dict[str, Combined | None]:
    """Combine each configuration's per-process estimates (positive numbers) into one.

    Parameters
    ----------
    values : mapping of key to sequence of float
        Per configuration, one positive estimate per process that measured it.
    confidence : float
        Coverage of both intervals.

    Returns
    -------
    dict
        Per key a :class:`Combined`, or None for a key with a single value (its own
        within-process interval is all there is; the caller keeps it).

    Examples
    --------
    Ten configurations, each measured in three processes whose estimates differ by 10%:

    >>> runs = {f"c{i}": [1.0, 1.1, 0.9] for i in range(10)}
    >>> combined = combine_processes(runs)["c0"]
    >>> round(combined.estimate, 3), combined.low < 0.9 < 1.1 < combined.high
    (0.997, True)
    >>> combined.rerun_low < combined.low and combined.high < combined.rerun_high
    True
    """
    if not 0 < check_real("confidence", confidence, minimum=0, allow_minimum=False) < 1:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence!r}")
    logs: dict[str, np.ndarray] = {}
    for key, estimates in values.items():
        array = np.asarray(estimates, dtype=float)
        if array.ndim != 1 or not np.all(np.isfinite(array)) or not np.all(array > 0):
            raise ValueError(f"estimates of {key!r} must be positive finite numbers, got {list(estimates)!r}")
        logs[key] = np.log(array)
    repeated = {key: y for key, y in logs.items() if y.size >= 2}
    prior = moderated_prior(
        [float(np.var(y, ddof=1)) for y in repeated.values()], [y.size - 1 for y in repeated.values()]
    )
    return {key: _combine(y, prior, confidence) if y.size >= 2 else None for key, y in logs.items()}


def _combine(y: np.ndarray, prior: Prior, confidence: float) -> Combined:
    own_degrees = y.size - 1
    own_variance = max(float(np.var(y, ddof=1)), _VARIANCE_FLOOR)
    if math.isinf(prior.degrees_of_freedom):
        variance = prior.variance
    else:
        total = prior.degrees_of_freedom + own_degrees
        variance = (prior.degrees_of_freedom * prior.variance + own_degrees * own_variance) / total
    # As limma does: the prior is estimated from the configurations themselves, so the interval is
    # worth no more degrees of freedom than all of them have together.
    degrees = min(prior.degrees_of_freedom + own_degrees, prior.pooled_degrees_of_freedom)
    quantile = float(stats.t.ppf(0.5 + confidence / 2, degrees))  # the normal quantile at inf
    mean = float(np.mean(y))
    half = quantile * math.sqrt(variance / y.size)
    rerun_half = quantile * math.sqrt(variance * 2 / y.size)
    return Combined(
        estimate=math.exp(mean),
        low=math.exp(mean - half),
        high=math.exp(mean + half),
        rerun_low=math.exp(mean - rerun_half),
        rerun_high=math.exp(mean + rerun_half),
        processes=int(y.size),
        degrees_of_freedom=degrees,
    )


def _trigamma_inverse(value: float) -> float:
    """The x > 0 with trigamma(x) = value, by limma's Newton iteration (monotone, converges fast)."""
    if value > 1e7:
        return 1 / math.sqrt(value)
    if value < 1e-6:
        return 1 / value
    x = 0.5 + 1 / value
    for _ in range(50):
        trigamma = float(special.polygamma(1, x))
        step = trigamma * (1 - trigamma / value) / float(special.polygamma(2, x))
        x += step
        if -step / x < 1e-8:
            break
    return x
