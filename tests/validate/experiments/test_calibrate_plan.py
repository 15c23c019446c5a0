"""The calibration's plan: held out from every sweep, grouped in cells around an anchor."""

import pytest

from costmodel.latency import kernel_shape
from validate.experiments import plans
from validate.experiments.calibrate import (
    CALIBRATION_KERNELS,
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
    assert calibrated == set(expected)
    shapes = {kernel_shape(layer) for layer in layers}
    assert len(shapes) == sum(len(kernels) for kernels in CALIBRATION_KERNELS.values())


def test_a_layer_sharing_a_scored_shape_is_refused():
    from costmodel import ConvLayer

    with pytest.raises(ValueError, match="share shapes with the scored sweep"):
        assert_held_out([ConvLayer(3, 3, c_in=64, c_out=64, height=32, width=32, batch=8)])


def test_each_cell_holds_every_shape_and_is_anchored_on_its_dense_3x3():
    grouped = cells(calibration_layers("default"))
    assert len(grouped) == 3 * 3  # widths x sizes
    for members in grouped.values():
        assert len({kernel_shape(layer) for layer in members}) == len(members) == 12
        assert kernel_shape(cell_anchor(members)) == "dense 3x3"
