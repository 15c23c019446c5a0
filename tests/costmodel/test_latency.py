"""The latency model: its arithmetic, the device profile's validation, the fit, the scoring."""

import json

import numpy as np
import pytest

from costmodel import ConvLayer, factorize
from costmodel.cli import main
from costmodel.latency import (
    DeviceProfile,
    efficiency_at,
    explain,
    predict_layer,
    predict_seconds,
    predict_time_ratio,
    tensor_bytes,
)
from costmodel.latency.calibration import (
    Observation,
    accuracy,
    fit_profile,
    fit_seconds_per_mac,
    synthetic_observations,
)

EFFICIENCY = {"dense": 0.5, "pointwise": 0.4, "depthwise": 0.45, "asymmetric": 0.25}
CEILINGS = dict(
    peak_flops_per_second=1e11, bandwidth_bytes_per_second=1e10, op_overhead_seconds=1e-5, call_overhead_seconds=5e-5
)


@pytest.fixture
def profile():
    return DeviceProfile("test", efficiency=EFFICIENCY, **CEILINGS)


def test_compute_bound_layer(profile):
    # 3x3, 128 -> 128, 32x32, batch 1: FLOPs = 2*9*128*128*1024 = 301,989,888;
    # bytes = 4*(128*1024 + 9*128*128 + 128*1024) = 1,638,400 -> 184.3 FLOP/byte > ridge 10.
    prediction = predict_layer(ConvLayer(3, 3, c_in=128, c_out=128, height=32, width=32), profile)
    assert prediction.bound == "compute"
    assert prediction.compute_seconds == pytest.approx(301_989_888 / (1e11 * 0.5))  # dense: 50%
    assert prediction.memory_seconds == pytest.approx(1_638_400 / 1e10)
    assert prediction.seconds == pytest.approx(1e-5 + 301_989_888 / (1e11 * 0.5))


def test_memory_bound_layer(profile):
    # depthwise 3x3 on 64 channels of 32x32: FLOPs = 2*9*64*1024 = 1,179,648;
    # bytes = 4*(65536 + 576 + 65536) = 526,592 -> 2.24 FLOP/byte < ridge 10;
    # compute at 45% of peak: 26.2 us, memory 52.7 us.
    prediction = predict_layer(ConvLayer.depthwise(3, 3, 64, height=32, width=32), profile)
    assert prediction.bound == "memory"
    assert prediction.intensity == pytest.approx(1_179_648 / 526_592)
    assert prediction.seconds == pytest.approx(1e-5 + 526_592 / 1e10)


def test_an_inefficient_kind_turns_compute_bound(profile):
    # The same depthwise layer at 10% of peak: compute 118 us > memory 52.7 us.
    slow = DeviceProfile("test", efficiency={**EFFICIENCY, "depthwise": 0.1}, **CEILINGS)
    prediction = predict_layer(ConvLayer.depthwise(3, 3, 64, height=32, width=32), slow)
    assert prediction.bound == "compute"
    assert prediction.seconds == pytest.approx(1e-5 + 1_179_648 / (1e11 * 0.1))


def test_overhead_bound_layer(profile):
    # one pixel, one channel: 2 FLOPs, 12 bytes; the 10 us op overhead is everything.
    prediction = predict_layer(ConvLayer(1, 1, c_in=1, c_out=1, height=1, width=1), profile)
    assert prediction.bound == "overhead"
    assert prediction.seconds == pytest.approx(1e-5 + 12 / 1e10)


def test_stack_time_is_call_overhead_plus_repeated_layers(profile):
    layer = ConvLayer(3, 3, c_in=16, c_out=16, height=8, width=8)
    one = predict_layer(layer, profile).seconds
    assert predict_seconds(layer, profile, repeats=4) == pytest.approx(5e-5 + 4 * one)


def test_the_call_costs_more_for_larger_tensors_in_and_out():
    per_byte = DeviceProfile("test", efficiency=EFFICIENCY, call_seconds_per_byte=1e-10, **CEILINGS)
    layer = ConvLayer(3, 3, c_in=16, c_out=32, height=8, width=8, batch=2)
    tensors = 4 * 2 * 8 * 8 * (16 + 32)  # float32 input and output
    assert tensor_bytes(layer) == tensors
    assert predict_seconds(layer, per_byte, 4) == pytest.approx(
        5e-5 + 1e-10 * tensors + 4 * predict_layer(layer, per_byte).seconds
    )
    block = factorize(layer, "depthwise-separable")  # its first layer's input, its last one's output
    assert tensor_bytes(block) == tensors


def test_fit_recovers_efficiencies_when_the_call_grows_with_the_tensors():
    ceilings = {**CEILINGS, "call_seconds_per_byte": 2e-10}
    observations = synthetic_observations(calibration_set(), 4, CURVES, **ceilings)
    fitted = fit_profile("synthetic", observations, **ceilings)
    recovered, truth = efficiencies_at(fitted.efficiency), efficiencies_at(CURVES)
    for kind in CURVES:
        assert recovered[kind] == pytest.approx(truth[kind], rel=3e-3)


def test_time_ratio_of_a_memory_bound_factorization_is_far_from_the_mac_ratio(profile):
    layer = ConvLayer(3, 3, c_in=64, c_out=64, height=32, width=32)
    block = factorize(layer, "depthwise-separable")
    ratio = predict_time_ratio(layer, block, profile)
    assert ratio > 1.5 * float(block.counts().macs / 37_748_736)  # MAC ratio 73/576
    assert "memory-bound" in explain(layer, block, profile)


def test_explain_names_overhead_for_tiny_layers():
    slow_ops = DeviceProfile("test", efficiency=EFFICIENCY, **{**CEILINGS, "op_overhead_seconds": 1e-3})
    layer = ConvLayer(3, 3, c_in=4, c_out=4, height=4, width=4)
    text = explain(layer, factorize(layer, "asymmetric"), slow_ops)
    # Overhead: 2 ops x 1 ms + the 50 us call = 2.05 ms of the block's 2.05014 ms (the roofline adds
    # 2 x 70.4 ns): 99.993%, shown as 100%.  Both factors are overhead-bound, so no other reason is given.
    assert text == "4 channels, 4x4: fixed per-op overhead is 100% of the factorized block's predicted time"


def valid_document():
    return {
        "version": 4,
        "layer_kernels": {},
        "device": "cpu",
        "efficiency": EFFICIENCY,
        "model": "roofline",
        "kernel_factors": {},
        "calibrated_range": None,
        "call_seconds_per_byte": 1e-10,
        **CEILINGS,
    }


@pytest.mark.parametrize(
    "change, message",
    [
        ({"bandwidth_bytes_per_second": -5.0}, "bandwidth_bytes_per_second must be a finite number > 0, got -5.0"),
        ({"peak_flops_per_second": "fast"}, "peak_flops_per_second must be a number"),
        ({"op_overhead_seconds": -1e-6}, "op_overhead_seconds must be a finite number >= 0"),
        ({"call_seconds_per_byte": -1e-9}, "call_seconds_per_byte must be a finite number >= 0"),
        ({"call_seconds_per_byte": 1.0}, "call_seconds_per_byte must be between"),
        ({"version": 99}, "version 99 was written by a newer latency model"),
        ({"efficiency": {"dense": 0.5}}, "efficiency lacks the kind 'pointwise'"),
        ({"efficiency": {**EFFICIENCY, "depthwise": 0}}, "efficiency.depthwise.max must be a finite number > 0"),
        ({"efficiency": {**EFFICIENCY, "dense": {"max": 0.5}}}, "efficiency.dense needs exactly max and half_channels"),
        (
            {"efficiency": {**EFFICIENCY, "dense": {"max": 0.5, "half_channels": -1}}},
            "efficiency.dense.half_channels must be a finite number >= 0",
        ),
    ],
)
def test_nonsense_profiles_are_refused(change, message):
    with pytest.raises((ValueError, TypeError), match=message):
        DeviceProfile.from_dict({**valid_document(), **change})


@pytest.mark.parametrize("field", ["version", "device", "bandwidth_bytes_per_second", "efficiency"])
def test_profile_missing_a_field_is_refused(field):
    document = valid_document()
    del document[field]
    with pytest.raises(ValueError, match=f"lacks the field '{field}'"):
        DeviceProfile.from_dict(document)


def test_profile_round_trips_through_a_file(tmp_path):
    profile = DeviceProfile.from_dict({**valid_document(), "machine": {"cpu_model": "x"}})
    profile.save(tmp_path / "p.json")
    loaded = DeviceProfile.load(tmp_path / "p.json")
    assert loaded == profile and loaded.extra == {"machine": {"cpu_model": "x"}}


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "does not exist"),
        ("{not json", "is not JSON"),
        ("[1, 2]", "is a JSON object"),
    ],
)
def test_unreadable_profile_files(tmp_path, content, message):
    path = tmp_path / "profile.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ValueError, match=message):
        DeviceProfile.load(path)


def calibration_set():
    # Large enough that compute, not the fixed overheads, is most of every measurement.
    return [
        ConvLayer(kh, kw, c_in=c, c_out=c, height=s, width=s, batch=4)
        for kh, kw in [(3, 3), (5, 5), (1, 1), (1, 3), (3, 1)]
        for c in (8, 32)
        for s in (16, 32)
    ] + [ConvLayer.depthwise(k, k, c, height=s, width=s, batch=4) for k in (3, 5) for c in (8, 32) for s in (16, 32)]


# Efficiency curves max * C / (C + half): half values on the fit's grid (powers of 2^(1/4)), low
# enough that every calibration layer is compute-bound (a memory-bound layer says nothing of them).
CURVES = {
    "dense": {"max": 0.9, "half_channels": 16.0},
    "pointwise": {"max": 0.2, "half_channels": 8.0},
    "depthwise": {"max": 0.05, "half_channels": 0.0},
    "asymmetric": {"max": 0.7, "half_channels": 16.0},
}


def efficiencies_at(efficiency, widths=(8.0, 32.0)):
    return {kind: [efficiency_at(entry, width) for width in widths] for kind, entry in efficiency.items()}


def test_fit_recovers_known_efficiency_curves_from_noiseless_data():
    observations = synthetic_observations(calibration_set(), 4, CURVES, **CEILINGS)
    fitted = fit_profile("synthetic", observations, **CEILINGS)
    for kind, curve in CURVES.items():
        assert fitted.efficiency[kind]["half_channels"] == pytest.approx(curve["half_channels"], abs=1e-9)
        assert fitted.efficiency[kind]["max"] == pytest.approx(curve["max"], rel=2e-3)  # search resolution


def test_fit_recovers_known_efficiencies_within_the_noise():
    # Depthwise efficiency low enough that its layers are compute-bound, as on real CPUs:
    # where a kind is memory-bound its compute efficiency is not observable at all.
    rng = np.random.default_rng(0)
    exact = synthetic_observations(calibration_set(), 4, CURVES, **CEILINGS)
    noisy = [Observation(o.layer, o.repeats, o.seconds * rng.lognormal(0, 0.03)) for o in exact]
    fitted = fit_profile("synthetic", noisy, **CEILINGS)
    recovered, truth = efficiencies_at(fitted.efficiency), efficiencies_at(CURVES)
    for kind in CURVES:  # max and half trade off; the curve at the measured widths is what is known
        # 3% noise per measurement, two measurements per width and kind: about 2 sigma.
        assert recovered[kind] == pytest.approx(truth[kind], rel=0.08)


def test_one_width_gives_a_constant_efficiency():
    layers = [layer for layer in calibration_set() if layer.c_out == 32]
    fitted = fit_profile("synthetic", synthetic_observations(layers, 4, CURVES, **CEILINGS), **CEILINGS)
    assert {entry["half_channels"] for entry in fitted.efficiency.values()} == {0.0}


def test_fit_needs_every_kind():
    layers = [ConvLayer(3, 3, c_in=8, c_out=8, height=8, width=8)]
    with pytest.raises(ValueError, match="no calibration measurement of a pointwise layer"):
        fit_profile("x", synthetic_observations(layers, 4, EFFICIENCY, **CEILINGS), **CEILINGS)


def test_naive_constant_is_exact_when_time_is_proportional_to_macs():
    layers = calibration_set()
    observations = [
        Observation(
            layer,
            2,
            3e-12
            * 2
            * int(layer.batch)
            * float(
                layer.kernel_h * layer.kernel_w * layer.c_in * layer.c_out / layer.groups * layer.height * layer.width
            ),
        )
        for layer in layers
    ]
    assert fit_seconds_per_mac(observations) == pytest.approx(3e-12)


def test_accuracy_figures():
    figures = accuracy([1.0, 1.15, 0.5, 1.02], [1.0, 1.0, 1.0, 1.0])
    assert figures["within_10_percent"] == 0.5
    assert figures["within_20_percent"] == 0.75
    assert figures["median_absolute_percentage_error"] == pytest.approx(8.5)


def run_cli(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_cli_predict_json(tmp_path, capsys):
    path = tmp_path / "cpu.json"
    path.write_text(json.dumps(valid_document()))
    status, out, _ = run_cli(
        capsys,
        "predict",
        "3x3",
        "--scheme",
        "depthwise-separable",
        "--c-in",
        "64",
        "--c-out",
        "64",
        "--height",
        "32",
        "--width",
        "32",
        "--device-profile",
        str(path),
        "--json",
    )
    document = json.loads(out)
    assert status == 0
    assert document["predicted_time_ratio"] == pytest.approx(
        document["predicted_seconds_after"] / document["predicted_seconds_before"]
    )
    assert [layer["bound"] for layer in document["layers"]] == ["compute", "memory", "compute"]


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (
            ["predict", "3x3", "--scheme", "stack", "--device-profile", "x.json"],
            "predict needs every size as a number; give --c-in, --c-out, --height, --width",
        ),
        (
            [
                "predict",
                "3x3",
                "--scheme",
                "stack",
                "--c-in",
                "8",
                "--c-out",
                "8",
                "--height",
                "8",
                "--width",
                "8",
                "--device-profile",
                "/nonexistent/p.json",
            ],
            "does not exist",
        ),
    ],
)
def test_cli_predict_bad_input(capsys, argv, fragment):
    status, _, err = run_cli(capsys, *argv)
    assert status == 2 and fragment in err
