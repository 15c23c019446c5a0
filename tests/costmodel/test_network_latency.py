"""The whole-network latency model on synthetic profiles whose op costs and fusions are known."""

import json

import pytest

from costmodel.latency import DeviceProfile, ProfileVersionError
from costmodel.latency.network import predict_network, signature
from costmodel.layer import ConvLayer
from costmodel.network import Network, NetworkLayer

OP = 1e-5  # seconds per kernel
BANDWIDTH = 1e10
KINDS = ("dense", "pointwise", "depthwise", "asymmetric")
CONV = ConvLayer(1, 1, c_in=8, c_out=8, height=4, width=4)
TENSOR = 4 * 4 * 8  # elements of every tensor of the chain


def profile(layer_kernels, **changes):
    calibrated = {"channels": [8, 8], "sizes": [4, 4], "batches": [1, 1], "kernels": ["pointwise 1x1"]}
    fields = dict(peak_flops_per_second=1e11, bandwidth_bytes_per_second=BANDWIDTH, op_overhead_seconds=OP,
                  call_overhead_seconds=5e-5, efficiency=dict.fromkeys(KINDS, 1.0), layer_kernels=layer_kernels,
                  calibrated_range=calibrated)  # fmt: skip
    return DeviceProfile("synthetic", **(fields | changes))


def chain():
    conv = NetworkLayer("conv", "Conv2D", (CONV,), output_shape=(4, 4, 8))
    norm = NetworkLayer("bn", "BatchNormalization", params_given=32, inputs=("conv",), output_shape=(4, 4, 8))
    relu = NetworkLayer("relu", "ReLU", params_given=0, inputs=("bn",), output_shape=(4, 4, 8))
    return Network("chain", (4, 4, 8), (conv, norm, relu))


def elementwise_seconds(kernels):
    return kernels * (OP + 4 * 2 * TENSOR / BANDWIDTH)


def test_an_unfused_chain_pays_one_kernel_per_op_and_a_fused_one_none():
    unfused = predict_network(chain(), profile({"Conv2D": {"full": 0, "small": 0},
                                                "BatchNormalization": {"full": 2, "small": 4},
                                                "ReLU": {"full": 1, "small": 0}}))  # fmt: skip
    fused = predict_network(chain(), profile({"Conv2D": {"full": 0, "small": 0},
                                              "BatchNormalization": {"full": 0, "small": 0},
                                              "ReLU": {"full": 0, "small": 0}}))  # fmt: skip
    conv_alone = fused.layers[0].seconds
    assert fused.seconds == pytest.approx(fused.call_seconds + conv_alone)
    expected = conv_alone + elementwise_seconds(2) + 4 * OP + elementwise_seconds(1)
    assert unfused.seconds == pytest.approx(unfused.call_seconds + expected)
    assert [row["kernels"] for row in unfused.layer_rows()] == [1, 2, 1]
    assert sum(row["share"] for row in unfused.layer_rows()) == pytest.approx(
        1 - unfused.call_seconds / unfused.seconds
    )
    assert not unfused.extrapolated


def test_a_signature_never_measured_is_one_kernel_and_flagged():
    prediction = predict_network(chain(), profile({"Conv2D": {"full": 0, "small": 0}}))
    assert prediction.layers[1].seconds == pytest.approx(elementwise_seconds(1))
    assert prediction.extrapolated
    assert any("BatchNormalization, ReLU" in reason for reason in prediction.extrapolation)


def test_a_network_outside_the_calibrated_range_still_answers_and_says_why():
    kernels = {"Conv2D": {"full": 0, "small": 0}, "BatchNormalization": {"full": 2, "small": 4},
               "ReLU": {"full": 1, "small": 0}}  # fmt: skip
    inside = predict_network(chain(), profile(kernels))
    outside = predict_network(chain(), profile(kernels), batch=4)
    assert not inside.extrapolated
    assert outside.extrapolated and any("conv: batch 4 outside" in reason for reason in outside.extrapolation)
    assert outside.seconds > inside.seconds


def test_the_conv_bias_and_activation_are_part_of_the_signature():
    conv = NetworkLayer("c", "Conv2D", (ConvLayer(3, 3, c_in=8, c_out=8, bias=True),), activation="relu")
    assert signature(conv) == "Conv2D+bias:relu"
    assert signature(NetworkLayer("a", "Activation", params_given=0, activation="swish")) == "Activation:swish"


def test_the_network_json_round_trip_predicts_the_same_without_a_framework():
    network = chain()
    again = Network.from_dict(json.loads(json.dumps(network.as_dict())))
    kernels = {"BatchNormalization": {"full": 2, "small": 4}}
    assert predict_network(again, profile(kernels)).seconds == predict_network(network, profile(kernels)).seconds


def test_an_older_profile_is_refused_with_one_line_saying_to_recalibrate(tmp_path):
    document = profile({}).as_dict() | {"version": 3}  # before measured fixed seconds per signature
    path = tmp_path / "old.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ProfileVersionError, match="recalibrate: python -m validate calibrate"):
        DeviceProfile.load(path)


def test_a_measured_fixed_cost_replaces_the_op_overheads_and_the_bytes_still_count():
    counted = {"Conv2D": {"full": 0, "small": 0}, "BatchNormalization": {"full": 2, "small": 4},
               "ReLU": {"full": 1, "small": 0}}  # fmt: skip
    measured = counted | {"BatchNormalization": {"full": 2, "small": 4, "fixed_seconds": 3e-6}}
    before, after = (predict_network(chain(), profile(kernels)).layers[1] for kernels in (counted, measured))
    streamed = 2 * 4 * 2 * TENSOR / BANDWIDTH  # two full kernels, each reading and writing the tensor
    assert before.seconds == pytest.approx(6 * OP + streamed)
    assert after.seconds == pytest.approx(3e-6 + streamed)
    # A measured cost of nothing is a cost of nothing, not a missing measurement.
    free = counted | {"ReLU": {"full": 1, "small": 0, "fixed_seconds": 0.0}}
    assert predict_network(chain(), profile(free)).layers[2].seconds == pytest.approx(streamed / 2)


@pytest.mark.parametrize(
    "entry",
    [{"full": -1, "small": 0}, {"full": 1}, {"full": "2", "small": 0}, {"full": 1, "small": 0, "fixed_seconds": -1e-6}],
)
def test_nonsense_kernel_counts_are_refused(entry):
    with pytest.raises((TypeError, ValueError), match="layer_kernels"):
        profile({"ReLU": entry})
