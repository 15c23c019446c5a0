"""Where theory and measurement part: the divergence of one factorization row.

The prediction is a ratio (factorized / original) from the cost model; the
measurement is a ratio of median latencies with a confidence interval.  A
row *diverges* when the measured ratio is more than ``TOLERANCE`` away from
the prediction *and* its interval excludes the prediction: a difference the
noise cannot explain.  A *sign flip* is the worst case: theory says the
factorization is faster (ratio < 1) and the measurement says, with
confidence, that it is slower (the whole interval above 1), or the reverse.

>>> verdict = judge(predicted=0.72, measured=1.15, ci_low=1.10, ci_high=1.20)
>>> verdict.diverges, verdict.sign_flip
(True, True)
>>> verdict.describe()
'sign flip: theory says 28% faster, measured 15% slower'
"""

from __future__ import annotations

import dataclasses

TOLERANCE = 0.10  # a measured ratio within ±10% of the prediction agrees with it


def _change(ratio: float) -> str:
    """'28% faster' for 0.72, '15% slower' for 1.15, 'no change' for 1."""
    if abs(ratio - 1) < 0.005:
        return "no change"
    return f"{abs(1 - ratio):.0%} {'faster' if ratio < 1 else 'slower'}"


@dataclasses.dataclass(frozen=True)
class Verdict:
    """A prediction set against a measurement."""

    predicted: float
    measured: float
    ci_low: float
    ci_high: float

    def __post_init__(self) -> None:
        for field in ("predicted", "measured"):
            value = getattr(self, field)
            if not value > 0:
                raise ValueError(f"{field} ratio must be positive, got {value!r}")
        if not self.ci_low <= self.ci_high:
            raise ValueError(f"the interval [{self.ci_low}, {self.ci_high}] runs backwards")

    @property
    def divergence(self) -> float:
        """measured / predicted: 1 when theory is right; 1.5 when the block takes 50% longer than predicted."""
        return self.measured / self.predicted

    @property
    def interval_excludes_prediction(self) -> bool:
        return not self.ci_low <= self.predicted <= self.ci_high

    @property
    def diverges(self) -> bool:
        return abs(self.divergence - 1) > TOLERANCE and self.interval_excludes_prediction

    @property
    def sign_flip(self) -> bool:
        """Theory and measurement disagree, with confidence, on which one is faster."""
        return (self.predicted < 1 < self.ci_low) or (self.predicted > 1 > self.ci_high)

    def describe(self) -> str:
        """A short human verdict."""
        if self.sign_flip:
            return f"sign flip: theory says {_change(self.predicted)}, measured {_change(self.measured)}"
        if self.diverges:
            return f"diverges: theory says {_change(self.predicted)}, measured {_change(self.measured)}"
        return f"agrees: theory says {_change(self.predicted)}, measured {_change(self.measured)}"

    def as_row(self) -> dict:
        return {
            "predicted_ratio": self.predicted,
            "measured_ratio": self.measured,
            "ratio_ci_low": self.ci_low,
            "ratio_ci_high": self.ci_high,
            "divergence": self.divergence,
            "diverges": self.diverges,
            "sign_flip": self.sign_flip,
            "verdict": self.describe(),
        }


def judge(predicted: float, measured: float, ci_low: float, ci_high: float) -> Verdict:
    """The verdict on one row."""
    return Verdict(float(predicted), float(measured), float(ci_low), float(ci_high))
