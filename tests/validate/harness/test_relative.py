"""Relative calibration: drift between calibration layers cancels, and the fit recovers the device."""

import numpy as np
import pytest
from helpers import SYNTHETIC_CEILINGS, SYNTHETIC_CURVES

from costmodel import ConvLayer
from costmodel.latency import efficiency_at
from costmodel.latency.calibration import Observation, fit_profile, synthetic_observations
from validate.harness.relative import RelativeTimer
from validate.harness.timing import TimingPolicy, measure

CEILINGS, CURVES = SYNTHETIC_CEILINGS, SYNTHETIC_CURVES
POLICY = TimingPolicy(warmup_calls=1, min_samples=7, max_samples=20, budget_seconds=1e9)


def layers():
    shapes = [(3, 3), (5, 5), (1, 1), (1, 3), (3, 1)]
    dense = [
        ConvLayer(h, w, c_in=c, c_out=c, height=s, width=s, batch=8)
        for h, w in shapes
        for c in (12, 48)
        for s in (12, 40)
    ]
    return dense + [ConvLayer.depthwise(3, 3, c, height=s, width=s, batch=8) for c in (12, 48) for s in (12, 40)]


class DriftingMachine:
    """A fake clock; every call costs its true seconds times the machine's present slowdown."""

    def __init__(self):
        self.now = 0.0
        self.slowdown = 1.0

    def clock(self):
        return self.now

    def call(self, seconds):
        def run():
            self.now += seconds * self.slowdown

        return run


def fitted_curves(observations):
    profile = fit_profile("synthetic", observations, **CEILINGS)
    return {kind: [efficiency_at(entry, width) for width in (12.0, 48.0)] for kind, entry in profile.efficiency.items()}


def test_drift_between_calibration_layers_cancels_in_relative_calibration():
    truth = synthetic_observations(layers(), 4, CURVES, **CEILINGS)
    drifts = np.random.default_rng(1).uniform(0.5, 2.0, len(truth))  # the machine between layers: 0.5x to 2x
    machine = DriftingMachine()
    timer = RelativeTimer(machine.call(1e-3), policy=POLICY, clock=machine.clock)
    absolute = []
    for index, (observation, drift) in enumerate(zip(truth, drifts, strict=True)):
        machine.slowdown = drift
        timer.time(str(index), machine.call(observation.seconds))
        absolute.append(measure(machine.call(observation.seconds), policy=POLICY, clock=machine.clock).median_seconds)
    times = timer.result()
    # The reference's median over the run sets the scale; the shape of the data is the device's.
    relative = [Observation(o.layer, o.repeats, times.seconds(str(i))) for i, o in enumerate(truth)]
    scale = relative[0].seconds / truth[0].seconds
    assert [o.seconds / scale for o in relative] == pytest.approx([o.seconds for o in truth], rel=1e-9)
    rescaled = [Observation(o.layer, o.repeats, o.seconds / scale) for o in relative]
    truth_curves = fitted_curves(truth)
    for kind, values in fitted_curves(rescaled).items():
        assert values == pytest.approx(truth_curves[kind], rel=1e-3)
    # Timed one after the other, the same calibration learns the drift instead.
    drifted = fitted_curves([Observation(o.layer, o.repeats, s) for o, s in zip(truth, absolute, strict=True)])
    worst = max(abs(a / b - 1) for kind in CURVES for a, b in zip(drifted[kind], truth_curves[kind], strict=True))
    assert worst > 0.2


def test_the_reference_median_pools_every_round():
    machine = DriftingMachine()
    timer = RelativeTimer(machine.call(1e-3), policy=POLICY, clock=machine.clock)
    timer.time("a", machine.call(2e-3))
    machine.slowdown = 3.0
    timer.time("b", machine.call(2e-3))
    times = timer.result()
    assert times.times["a"].ratio == pytest.approx(2.0) and times.times["b"].ratio == pytest.approx(2.0)
    assert times.reference_rounds == times.times["a"].rounds + times.times["b"].rounds
    assert 1e-3 <= times.reference_seconds <= 3e-3


def test_a_name_is_timed_once_and_something_must_be_timed():
    machine = DriftingMachine()
    timer = RelativeTimer(machine.call(1e-3), policy=POLICY, clock=machine.clock)
    with pytest.raises(ValueError, match="nothing was timed"):
        timer.result()
    timer.time("a", machine.call(1e-3))
    with pytest.raises(ValueError, match="'a' was already timed"):
        timer.time("a", machine.call(1e-3))
