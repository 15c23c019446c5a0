"""The latency model's data-driven part: kernel factors, cross-validation, the calibrated range."""

import json
import math

import numpy as np
import pytest
from helpers import SYNTHETIC_CEILINGS, SYNTHETIC_CURVES

from costmodel import ConvLayer, factorize
from costmodel.cli import main
from costmodel.latency import (
    MODELS,
    DeviceProfile,
    ProfileVersionError,
    extrapolation,
    kernel_shape,
    model_of,
    predict_layer,
    predict_time_ratio,
)
from costmodel.latency.calibration import Observation, fit_profile, synthetic_observations
from costmodel.latency.kernel_factors import KernelFactor, fit_kernel_factor, output_positions

CEILINGS, CURVES = SYNTHETIC_CEILINGS, SYNTHETIC_CURVES
KERNELS = [(3, 3, False), (5, 5, False), (7, 7, False), (1, 1, False), (1, 7, False), (7, 1, False), (3, 3, True)]
WIDTHS, SIZES = (16, 64, 128), (12, 24, 40)  # the default calibration's grid


def grid_layers(widths=WIDTHS, sizes=SIZES, batch=8):
    layers = []
    for kernel_h, kernel_w, depthwise in KERNELS:
        for width in widths:
            for size in sizes:
                common = dict(height=size, width=size, batch=batch)
                layers.append(
                    ConvLayer.depthwise(kernel_h, kernel_w, width, **common)
                    if depthwise
                    else ConvLayer(kernel_h, kernel_w, c_in=width, c_out=width, **common)
                )
    return layers


def factor(intercept, per_width=0.0, per_positions=0.0):
    return KernelFactor(intercept, per_width, per_positions, (16.0, 128.0), (1152.0, 12800.0))


# What a real library does and a roofline per kind cannot: one kernel shape through other code.
SHAPED = {
    "dense 5x5": factor(math.log(1.8), 0.0, -0.15),
    "dense 7x7": factor(math.log(0.55), 0.2, 0.0),
    "asymmetric 1x7": factor(math.log(1.5), -0.2, 0.1),
    "depthwise 3x3": factor(math.log(2.5), 0.0, -0.2),
}


def noisy(observations, sigma, seed=0):
    rng = np.random.default_rng(seed)
    return [Observation(o.layer, o.repeats, o.seconds * rng.lognormal(0, sigma)) for o in observations]


def test_a_log_linear_factor_is_recovered_exactly():
    widths, positions = np.array([12, 48, 144, 12, 48, 144.0]), np.array([1152, 1152, 1152, 12800, 12800, 12800.0])
    truth = 0.3 + 0.2 * np.log(widths) - 0.1 * np.log(positions)
    fitted = fit_kernel_factor(widths, positions, truth)
    assert (fitted.intercept, fitted.per_log_width, fitted.per_log_positions) == pytest.approx((0.3, 0.2, -0.1))
    assert fitted.width_range == (12.0, 144.0) and fitted.positions_range == (1152.0, 12800.0)


def test_a_factor_is_flat_beyond_the_measured_range():
    fitted = factor(0.0, 0.5, 0.0)
    assert fitted.at(1000, 5000) == fitted.at(128, 5000) == pytest.approx(128**0.5)
    assert fitted.at(1, 5000) == pytest.approx(16**0.5)


def test_a_grid_factor_is_exact_at_its_points_and_linear_in_the_logs_between():
    points = [
        (w, p, 0.1 * i + 0.05 * j) for i, w in enumerate((16, 64, 128)) for j, p in enumerate((1152, 4608, 12800))
    ]
    grid = fit_kernel_factor(*zip(*points, strict=True), form="grid")
    for width, positions, log_factor in points:
        assert grid.at(width, positions) == pytest.approx(math.exp(log_factor))
    assert grid.at(32, 1152) == pytest.approx(math.exp(0.05))  # halfway from 16 to 64 in log width
    assert grid.at(1000, 1e6) == pytest.approx(math.exp(0.3))  # flat beyond the corner
    assert (
        DeviceProfile.from_dict(
            {
                **fit_profile("p", synthetic_observations(grid_layers(), 4, CURVES, **CEILINGS), **CEILINGS).as_dict(),
                "model": "roofline x interpolated kernel factor",
                "kernel_factors": {"dense 3x3": grid.as_dict()},
            }  # fmt: skip
        ).kernel_factors["dense 3x3"]
        == grid
    )


def test_the_constant_form_is_the_mean_log_factor():
    fitted = fit_kernel_factor([12, 48, 144], [1152, 1152, 1152], [0.1, 0.2, 0.6], form="constant")
    assert fitted.at(48, 1152) == pytest.approx(math.exp(0.3)) and fitted.per_log_width == 0.0


def test_one_size_gives_no_slope_along_size():
    fitted = fit_kernel_factor([12, 48, 144], [1152] * 3, [0.0, 0.5, 1.0])
    assert fitted.per_log_positions == 0.0 and fitted.per_log_width != 0.0


def test_cross_validation_keeps_the_roofline_when_the_data_follow_it():
    observations = noisy(synthetic_observations(grid_layers(), 4, CURVES, **CEILINGS), 0.03)
    fitted = fit_profile("synthetic", observations, **CEILINGS)
    assert fitted.model == "roofline" and fitted.kernel_factors == {}
    assert set(fitted.extra["cross_validation"]) == set(MODELS)


def test_cross_validation_chooses_kernel_factors_when_shapes_depart_from_the_roofline():
    observations = noisy(synthetic_observations(grid_layers(), 4, CURVES, SHAPED, **CEILINGS), 0.03)
    fitted = fit_profile("synthetic", observations, **CEILINGS)
    assert fitted.model == "roofline x log-linear kernel factor"
    # Between the calibrated widths and sizes, time ratios come out as the true device's.
    truth = DeviceProfile("truth", efficiency=CURVES, model=model_of(SHAPED), kernel_factors=SHAPED, **CEILINGS)
    roofline = fit_profile("roofline only", synthetic_observations(grid_layers(), 4, CURVES, **CEILINGS), **CEILINGS)
    errors, roofline_errors = [], []
    for width in (16, 64, 128):
        for size in (16, 32):
            original = ConvLayer(7, 7, c_in=width, c_out=width, height=size, width=size, batch=8)
            for scheme in ("asymmetric", "stack"):
                block = factorize(original, scheme)
                true_ratio = predict_time_ratio(original, block, truth, 4)
                errors.append(predict_time_ratio(original, block, fitted, 4) / true_ratio - 1)
                roofline_errors.append(predict_time_ratio(original, block, roofline, 4) / true_ratio - 1)
    assert np.median(np.abs(errors)) < 0.06
    assert np.median(np.abs(roofline_errors)) > 0.2  # what the factors are there for


def test_cross_validation_chooses_interpolation_when_width_and_size_interact():
    # log factor = 0.5 log(C/16) log(P/1152): a kernel whose trend with size depends on the
    # width; no plane in (log C, log P) has it, interpolation between the grid's points does.
    interacting = {}
    for shape in ("dense 3x3", "dense 5x5", "dense 7x7", "pointwise 1x1"):
        points = [(w, p, 0.5 * math.log(w / 16) * math.log(p / 1152)) for w in WIDTHS for p in (1152, 4608, 12800)]
        interacting[shape] = fit_kernel_factor(*zip(*points, strict=True), form="grid")
    observations = noisy(synthetic_observations(grid_layers(), 4, CURVES, interacting, **CEILINGS), 0.02)
    assert fit_profile("synthetic", observations, **CEILINGS).model == "roofline x interpolated kernel factor"


def test_predictions_say_where_they_extrapolate():
    profile = fit_profile("synthetic", synthetic_observations(grid_layers(), 4, CURVES, **CEILINGS), **CEILINGS)
    assert profile.calibrated_range["channels"] == [16.0, 128.0] and profile.calibrated_range["batches"] == [8.0, 8.0]
    inside = ConvLayer(5, 5, c_in=64, c_out=64, height=32, width=32, batch=8)
    assert extrapolation(inside, profile) == []
    assert extrapolation(factorize(inside, "stack"), profile) == []
    reasons = "; ".join(extrapolation(inside.replace(c_in=256, c_out=256, height=64, width=64, batch=1), profile))
    assert "channel width 256 outside the calibrated 16 to 128" in reasons
    assert "size 64 outside the calibrated 12 to 40" in reasons and "batch 1 outside" in reasons
    assert "kernel dense 11x11 not calibrated" in "; ".join(
        extrapolation(inside.replace(kernel_h=11, kernel_w=11), profile)
    )
    assert extrapolation(inside, DeviceProfile("hand-made", efficiency=CURVES, **CEILINGS)) == [
        "the profile records no calibrated range"
    ]


def profile_file(tmp_path):
    observations = synthetic_observations(grid_layers(), 4, CURVES, SHAPED, **CEILINGS)
    profile = fit_profile("cpu", observations, **CEILINGS)
    path = tmp_path / "cpu.json"
    profile.save(path)
    return profile, path


def test_a_profile_with_kernel_factors_round_trips(tmp_path):
    profile, path = profile_file(tmp_path)
    loaded = DeviceProfile.load(path)
    assert loaded == profile and loaded.kernel_factors == profile.kernel_factors
    layer = ConvLayer(5, 5, c_in=64, c_out=64, height=16, width=16, batch=8)
    assert predict_layer(layer, loaded).kernel_factor == pytest.approx(
        profile.kernel_factors["dense 5x5"].at(64, output_positions(layer))
    )
    assert kernel_shape(layer) == "dense 5x5"


PREDICT = ["predict", "5x5", "--scheme", "stack", "--c-in", "64", "--c-out", "64", "--batch", "8", "--repeats", "4"]


def test_predict_json_and_table_flag_an_extrapolation(tmp_path, capsys):
    _, path = profile_file(tmp_path)
    assert main([*PREDICT, "--height", "32", "--width", "32", "--device-profile", str(path), "--json"]) == 0
    inside = json.loads(capsys.readouterr().out)
    assert inside["extrapolated"] is False and inside["extrapolation"] == []
    assert main([*PREDICT, "--height", "64", "--width", "64", "--device-profile", str(path), "--json"]) == 0
    outside = json.loads(capsys.readouterr().out)
    assert outside["extrapolated"] is True and "size 64 outside the calibrated 12 to 40" in outside["extrapolation"][0]
    assert main([*PREDICT, "--height", "64", "--width", "64", "--device-profile", str(path)]) == 0
    assert "extrapolated beyond the calibration: 5x5 conv 64->64: size 64 outside" in capsys.readouterr().out
    assert main([*PREDICT, "--height", "32", "--width", "32", "--device-profile", str(path)]) == 0
    assert "extrapolated" not in capsys.readouterr().out


def test_an_older_profile_is_refused_with_the_way_out(tmp_path, capsys):
    old = {
        "version": 1,
        "device": "cpu",
        "efficiency": {kind: 0.5 for kind in CURVES},
        **CEILINGS,
    }  # version 1 had no model, kernel factors or range: refused for its version, not for those
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))
    with pytest.raises(ProfileVersionError, match="version 1 was written by an older latency model"):
        DeviceProfile.load(path)
    assert main([*PREDICT, "--height", "32", "--width", "32", "--device-profile", str(path)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "recalibrate: python -m validate calibrate" in err


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"intercept": 0.0}, "needs exactly intercept"),
        ({**SHAPED["dense 5x5"].as_dict(), "intercept": "big"}, "intercept must be a number"),
        ({**SHAPED["dense 5x5"].as_dict(), "width_range": [50, 10]}, "low <= high"),
        ({**SHAPED["dense 5x5"].as_dict(), "per_log_width": 1e6}, "between"),
        # Each coefficient sane, together a factor of e^541 at the narrowest, smallest corner: refused.
        (
            {**SHAPED["dense 5x5"].as_dict(), "intercept": 50, "per_log_width": 50, "per_log_positions": 50},
            r"reaches e\^541 at width 16, positions 1152",
        ),
        ({"points": [[16, 1152, 0.0], [64, 1152, -45.0]]}, "log factor must be between"),
    ],
)
def test_nonsense_kernel_factors_are_refused(tmp_path, entry, message):
    profile, path = profile_file(tmp_path)
    document = {**profile.as_dict(), "kernel_factors": {"dense 5x5": entry}}
    path.write_text(json.dumps(document))
    with pytest.raises(ValueError, match=message):
        DeviceProfile.load(path)


def test_explain_names_a_kernel_that_departs_from_its_kind():
    from costmodel.latency import explain

    profile = DeviceProfile("shaped", efficiency=CURVES, model=model_of(SHAPED), kernel_factors=SHAPED, **CEILINGS)
    layer = ConvLayer(3, 3, c_in=64, c_out=64, height=24, width=24, batch=8)
    text = explain(layer, factorize(layer, "depthwise-separable"), profile, 4)
    factor = SHAPED["depthwise 3x3"].at(64, output_positions(layer))
    assert f"measured depthwise 3x3 kernels take {factor:.2f}x their kind's roofline time" in text
    assert "the original dense 3x3 1.00x" in text  # no factor for it


def test_the_factors_must_be_the_models_own(tmp_path):
    profile, path = profile_file(tmp_path)  # log-linear or interpolated factors, as cross-validation chose
    document = profile.as_dict()
    with pytest.raises(ValueError, match="has no kernel factors, but kernel_factors is not empty"):
        DeviceProfile.from_dict({**document, "model": "roofline"})
    other = (
        "roofline x interpolated kernel factor"
        if "log-linear" in profile.model
        else "roofline x log-linear kernel factor"
    )
    with pytest.raises(ValueError, match="is not of the form the model"):
        DeviceProfile.from_dict({**document, "model": other})
