"""Verdicts on predicted vs measured ratios (pure arithmetic, no TensorFlow)."""

import pytest

from validate.results.divergence import TOLERANCE, judge


@pytest.mark.parametrize(
    "predicted, measured, low, high, diverges, flip, words",
    [
        (0.72, 0.74, 0.70, 0.78, False, False, "agrees: theory says 28% faster, measured 26% faster"),
        # 25% off but the interval still holds the prediction: noise could explain it.
        (0.72, 0.90, 0.70, 1.05, False, False, "agrees"),
        # 25% off and the interval excludes the prediction: a real divergence, same direction.
        (0.72, 0.90, 0.88, 0.92, True, False, "diverges: theory says 28% faster, measured 10% slower"[:29]),
        # Theory says faster, the whole interval says slower: the seed's GPU finding.
        (0.72, 1.15, 1.10, 1.20, True, True, "sign flip: theory says 28% faster, measured 15% slower"),
        # Slower than 1 but the interval reaches below 1: not a confident flip.
        (0.72, 1.05, 0.95, 1.15, True, False, "diverges"),
        # The reverse flip: theory says slower, measured confidently faster.
        (1.30, 0.80, 0.75, 0.85, True, True, "sign flip: theory says 30% slower, measured 20% faster"),
    ],
)
def test_verdicts(predicted, measured, low, high, diverges, flip, words):
    verdict = judge(predicted, measured, low, high)
    assert verdict.diverges is diverges
    assert verdict.sign_flip is flip
    assert verdict.describe().startswith(words)
    assert verdict.divergence == pytest.approx(measured / predicted)


@pytest.mark.parametrize("off, diverges", [(TOLERANCE - 0.01, False), (TOLERANCE + 0.01, True)])
def test_tolerance_decides_when_the_interval_excludes_the_prediction(off, diverges):
    measured = 0.5 * (1 + off)
    assert judge(0.5, measured, measured - 0.001, measured + 0.001).diverges is diverges


@pytest.mark.parametrize(
    "args, message",
    [
        ((0.0, 1.0, 0.9, 1.1), "predicted ratio must be positive"),
        ((0.5, -1.0, -1.1, 1.1), "measured ratio must be positive"),
        ((0.5, 1.0, 1.1, 0.9), "runs backwards"),
    ],
)
def test_bad_verdict_inputs(args, message):
    with pytest.raises(ValueError, match=message):
        judge(*args)


def test_row_has_the_required_columns():
    row = judge(0.72, 1.15, 1.10, 1.20).as_row()
    assert {"predicted_ratio", "measured_ratio", "ratio_ci_low", "ratio_ci_high", "diverges"} <= set(row)
