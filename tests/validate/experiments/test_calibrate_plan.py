"""The calibration's plan: held out from every sweep, grouped in cells around an anchor."""

import pytest

from costmodel.latency import kernel_shape
from validate.experiments import plans
from validate.experiments.calibrate import (
    CALIBRATION_KERNELS,
    NETWORK_REGIME_BATCH,
    NETWORK_REGIME_KERNELS,
    NETWORK_REGIME_SIZES,
    NETWORK_REGIME_WIDTHS,
    assert_held_out,
    calibration_layers,
    cell_anchor,
    cells,
)


@pytest.mark.parametrize("preset", sorted(plans.PRESETS), ids=lambda name: f"{name}-preset")
def test_every_presets_calibration_is_held_out_and_covers_its_widths(preset):
    layers = calibration_layers(preset)
    assert_held_out(layers)  # raises if a layer has the width and size of a scored one
    calibrated = {layer.c_in for layer in layers}
    expected = plans.PRESETS[preset if preset != "full" else "default"].channels
    assert calibrated == set(expected) | set(NETWORK_REGIME_WIDTHS)
    shapes = {kernel_shape(layer) for layer in layers}
    assert len(shapes) == sum(len(kernels) for kernels in CALIBRATION_KERNELS.values())


def test_a_layer_sharing_a_scored_shape_is_refused():
    from costmodel import ConvLayer

    with pytest.raises(ValueError, match="share shapes with the scored sweep"):
        assert_held_out([ConvLayer(3, 3, c_in=64, c_out=64, height=32, width=32, batch=8)])


def test_each_cell_holds_every_shape_and_is_anchored_on_its_dense_3x3():
    grouped = cells(calibration_layers("default"))
    network_regime = {key: members for key, members in grouped.items() if key[-1] == NETWORK_REGIME_BATCH}
    sweep_regime = {key: members for key, members in grouped.items() if key not in network_regime}
    assert len(sweep_regime) == 3 * 3  # widths x sizes
    assert len(network_regime) == len(NETWORK_REGIME_WIDTHS) * len(NETWORK_REGIME_SIZES)
    for regime, kernels in ((sweep_regime, CALIBRATION_KERNELS), (network_regime, NETWORK_REGIME_KERNELS)):
        for members in regime.values():
            shapes = sum(len(shapes) for shapes in kernels.values())
            assert len({kernel_shape(layer) for layer in members}) == len(members) == shapes
            assert kernel_shape(cell_anchor(members)) == "dense 3x3"


def test_the_calls_cost_comes_from_the_anchor_alone_against_its_stack():
    from costmodel import ConvLayer
    from costmodel.latency import tensor_bytes
    from validate.experiments.calibrate import CALIBRATION_REPEATS, call_overheads
    from validate.harness.relative import RelativeTime, RelativeTimes

    anchor = ConvLayer(3, 3, c_in=16, c_out=16, height=12, width=12, batch=8)
    call, layer = 5e-4, 1e-3  # t(1) = call + layer, t(R) = call + R layer
    stack, alone = call + CALIBRATION_REPEATS * layer, call + layer
    times = RelativeTimes(1e-3, 10, {"anchor": RelativeTime("anchor", stack / 1e-3, 0.9, 1.1, 10)})
    ratio = RelativeTime("anchor alone", alone / stack, alone / stack - 0.01, alone / stack + 0.01, 10)
    (row,) = call_overheads(times, {"anchor": (anchor, ratio)})
    assert row["seconds"] == pytest.approx(call) and row["tensor_bytes"] == tensor_bytes(anchor)
    assert row["error"] == pytest.approx(stack * CALIBRATION_REPEATS / (CALIBRATION_REPEATS - 1) * 0.01 / 1.96)


def test_the_call_cost_line_refuses_a_negative_slope_and_floors_the_errors():
    from costmodel.latency.calibration import fit_call_overhead

    # Falling with the bytes: no slope, the mean weighted by 1 / (10% of each value)^2.
    weights = [1 / (5e-5) ** 2, 1 / (3e-5) ** 2]
    mean = (weights[0] * 5e-4 + weights[1] * 3e-4) / sum(weights)
    assert fit_call_overhead([0, 1e6], [5e-4, 3e-4], [1e-6, 1e-6]) == (pytest.approx(mean), 0.0)
    # Two points claiming a precision of 1e-9 s cannot flatten the line through the third.
    per_call, per_byte = fit_call_overhead([0, 1e6, 2e6], [4e-4, 4e-4, 8e-4], [1e-9, 1e-9, 8e-5])
    assert per_byte > 1e-10 and per_call > 0


def test_the_call_cost_line_leaves_out_what_it_cannot_weigh():
    from costmodel.latency.calibration import fit_call_overhead

    # A one-pixel cost clamped to 0 (a noisy microbenchmark) must not pin the line to the origin.
    per_call, per_byte = fit_call_overhead([0, 1e6, 4e6], [0.0, 5e-4, 8e-4], [0.0, 1e-5, 1e-5])
    assert (per_call, per_byte) == (pytest.approx(4e-4), pytest.approx(1e-10))
    # A point whose interval could not be computed is left out, not turned into NaN.
    assert fit_call_overhead([0, 1e6, 4e6], [4e-4, 5e-4, float("nan")], [1e-5, 1e-5, 1e-5]) == (
        pytest.approx(4e-4),
        pytest.approx(1e-10),
    )
