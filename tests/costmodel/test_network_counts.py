"""Tests of costmodel.network, network_advice and network_papers: no TensorFlow.

The stored MobileNet (tests/data/mobilenet_1.00_224.network.json) was read from
keras.applications.MobileNet(weights=None) by validate.frameworks.network_reader;
tests/validate/frameworks/test_network_reader.py checks that reading against Keras.
"""

import json
import pathlib
import time

import pytest

from costmodel import ConvLayer
from costmodel.latency import DeviceProfile
from costmodel.network import FUSE, Network, NetworkLayer, fused_conv, parse_rules, plan_changes, rewrite
from costmodel.network_advice import advise, predict_network_seconds
from costmodel.network_papers import PUBLISHED, compare_published

DATA = pathlib.Path(__file__).resolve().parent.parent / "data"
PROFILE = DeviceProfile(
    "example", 1e11, 1e10, 1e-5, 5e-5, {"dense": 0.5, "pointwise": 0.5, "depthwise": 0.1, "asymmetric": 0.4}
)


def stored_mobilenet() -> Network:
    return Network.from_dict(json.loads((DATA / "mobilenet_1.00_224.network.json").read_text()))


def conv(name, kernel, c_in, c_out, size, inputs=(), **fields):
    return NetworkLayer(
        name,
        "Conv2D",
        (ConvLayer(kernel, kernel, c_in=c_in, c_out=c_out, height=size, width=size, **fields),),
        inputs=inputs,
    )


def depthwise(name, kernel, channels, size, inputs=(), **fields):
    return NetworkLayer(
        name,
        "DepthwiseConv2D",
        (ConvLayer.depthwise(kernel, kernel, channels, height=size, width=size, **fields),),
        inputs=inputs,
    )


def other(name, kind, params=0, inputs=()):
    return NetworkLayer(name, kind, params_given=params, inputs=inputs)


def separable_block():
    """conv -> depthwise -> bn -> relu -> pointwise -> bn, the MobileNet block shape."""
    return Network(
        "block",
        (16, 16, 8),
        (
            conv("stem", 3, 8, 16, 16),
            depthwise("dw", 3, 16, 16, inputs=("stem",), stride=2),
            other("dw_bn", "BatchNormalization", 64, inputs=("dw",)),
            other("dw_relu", "ReLU", inputs=("dw_bn",)),
            conv("pw", 1, 16, 32, 8, inputs=("dw_relu",)),
            other("pw_bn", "BatchNormalization", 128, inputs=("pw",)),
        ),
    )


def test_mobilenet_counts_as_keras_does():
    network = stored_mobilenet()
    # keras.applications.MobileNet(weights=None).count_params(); the "done when" figure.
    assert network.params == 4_253_864
    # Howard et al. 2017, Table 6: 569 M mult-adds; within 0.2%.
    assert abs(network.macs / 569e6 - 1) < 0.002


def test_counting_a_converted_network_takes_under_a_second():
    document = json.loads((DATA / "mobilenet_1.00_224.network.json").read_text())
    started = time.perf_counter()
    network = Network.from_dict(document)
    totals = (network.params, network.macs, network.table(), network.other_by_kind())
    assert time.perf_counter() - started < 1.0
    assert totals[0] == 4_253_864


def test_round_trip_keeps_every_layer():
    network = stored_mobilenet()
    again = Network.from_dict(json.loads(json.dumps(network.as_dict())))
    assert again == network
    assert [row["macs"] for row in again.table()] == [row["macs"] for row in network.table()]


def test_table_shares_add_up_and_dense_is_a_1x1_over_positions():
    dense = NetworkLayer(
        "fc", "Dense", (ConvLayer(1, 1, c_in=10, c_out=3, height=4, width=1, padding="valid", bias=True),)
    )
    network = Network("n", (4, 10), (dense,))
    # Hand derivation: 4 positions x 10 x 3 MACs; 10 x 3 weights + 3 biases.
    assert (network.macs, network.params) == (120, 33)
    assert sum(row["macs_share"] for row in stored_mobilenet().table()) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "5x5:stack,7x7:asymmetric,3x3:depthwise-separable",
            ["5x5:stack", "7x7:asymmetric", "3x3:depthwise-separable"],
        ),
        ("fuse", ["fuse"]),
        ("3:stack+asymmetric", ["3x3:stack+asymmetric"]),
    ],
)
def test_rules_parse(text, expected):
    assert [rule.describe() for rule in parse_rules(text)] == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ("5x5:stak", "unknown scheme 'stak'"),
        ("stack", "must be KERNEL:SCHEME"),
        ("5x5:stack,,", "empty rule"),
    ],
)
def test_bad_rules_say_why(text, message):
    with pytest.raises(ValueError, match=message):
        parse_rules(text)


def test_a_rule_that_cannot_apply_names_the_layer():
    network = Network("n", (8, 8, 4), (conv("odd_conv", 4, 4, 4, 8),))
    with pytest.raises(ValueError, match="rule 4x4:stack cannot apply to layer 'odd_conv'"):
        rewrite(network, parse_rules("4x4:stack"))


def test_factorizing_keeps_the_graph_and_counts():
    network = Network(
        "n",
        (16, 16, 8),
        (conv("c5", 5, 8, 8, 16), other("relu", "ReLU", inputs=("c5",)), other("add", "Add", inputs=("relu", "c5"))),
    )
    rewritten, changes = rewrite(network, parse_rules("5x5:stack"))
    assert [layer.name for layer in rewritten.layers] == ["c5_stack0", "c5_stack1", "relu", "add"]
    assert rewritten.layer("add").inputs == ("relu", "c5_stack1")
    # Two 3x3 layers instead of one 5x5 at equal widths: 18/25 of the MACs (Szegedy et al. 2016, §3.1).
    assert rewritten.macs * 25 == network.macs * 18
    assert len(changes) == 1


def test_filters_select_layers():
    network = Network(
        "n",
        (16, 16, 8),
        (conv("a", 5, 8, 8, 16), conv("b", 5, 8, 64, 16, inputs=("a",)), conv("c", 5, 64, 64, 16, inputs=("b",))),
    )
    by_name = plan_changes(network, parse_rules("5x5:stack", name_glob="[ab]"))
    by_width = plan_changes(network, parse_rules("5x5:stack", min_channels=64))
    assert [change.anchor for change in by_name] == ["a", "b"]
    assert [change.anchor for change in by_width] == ["c"]


def test_fuse_is_the_inverse_of_depthwise_separable():
    network = separable_block()
    rewritten, changes = rewrite(network, parse_rules(FUSE))
    assert [change.replaced for change in changes] == [("dw", "dw_bn", "dw_relu", "pw")]
    fused = rewritten.layer("dw_fused")
    # The pair's stride-2 3x3 over 16 channels to 32 outputs, on the 16x16 input.
    assert fused.convs == (ConvLayer(3, 3, c_in=16, c_out=32, stride=2, height=16, width=16),)
    assert rewritten.layer("pw_bn").inputs == ("dw_fused",)
    assert rewritten.params == network.params - 64 - 16 * 9 - 16 * 32 + 9 * 16 * 32


def test_fuse_needs_a_pointwise_partner():
    network = Network("n", (8, 8, 4), (depthwise("dw", 3, 4, 8), other("pool", "MaxPooling2D", inputs=("dw",))))
    assert plan_changes(network, parse_rules(FUSE)) == []


def test_fused_conv_keeps_stride_padding_and_the_pointwise_bias():
    dw = ConvLayer.depthwise(5, 5, 8, stride=2, padding="valid", height=20, width=20)
    pw = ConvLayer(1, 1, c_in=8, c_out=12, bias=True, height=8, width=8)
    assert fused_conv(dw, pw) == ConvLayer(
        5, 5, c_in=8, c_out=12, stride=2, padding="valid", bias=True, height=20, width=20
    )


def test_mobilenet_fused_is_table_4():
    fused, changes = rewrite(stored_mobilenet(), parse_rules(FUSE))
    assert len(changes) == 13  # MobileNet's 13 depthwise separable blocks (Howard et al. 2017, Table 1)
    # Howard et al. 2017, Table 4: 4866 M mult-adds and 29.3 M parameters for "Conv MobileNet".
    assert abs(fused.macs / 4866e6 - 1) < 0.002
    assert abs(fused.params / 29.3e6 - 1) < 0.002


def test_advisor_ranks_by_predicted_time_and_totals_the_best():
    network = Network("n", (32, 32, 64), (conv("c5", 5, 64, 64, 32), conv("c1", 1, 64, 64, 32, inputs=("c5",))))
    advice = advise(network, PROFILE)
    first = advice.layers[0]
    savings = [option.seconds_saved for option in first.options]
    assert savings == sorted(savings, reverse=True)
    assert advice.seconds_before == pytest.approx(predict_network_seconds(network, PROFILE))
    expected_after = advice.seconds_before - sum(layer.best.seconds_saved for layer in advice.layers if layer.best)
    assert advice.seconds_after == pytest.approx(expected_after)
    assert all(name != "stack" for name, _ in first.not_applicable)  # 5x5 stacks into two 3x3


def test_advisor_without_a_profile_ranks_by_macs():
    advice = advise(Network("n", (16, 16, 32), (conv("c7", 7, 32, 32, 16),)))
    assert advice.time_ratio is None
    macs = [option.macs_after for option in advice.layers[0].options]
    assert macs == sorted(macs)


def test_published_comparison_explains_batch_norm():
    figure = PUBLISHED[0]  # MobileNet 1.0-224: 569 M, 4.2 M
    row = compare_published(figure, stored_mobilenet())
    assert row["why MACs differ"] == ""  # 568.74 M is 0.05% from 569 M
    # 4.254 M is 1.3% over 4.2 M; without batch norm's 43,776 it is 4.210 M, inside the rounding.
    assert "batch norm" in row["why params differ"] and "within the published rounding" in row["why params differ"]


def test_a_layer_without_convs_needs_its_params():
    with pytest.raises(ValueError, match="needs params_given"):
        NetworkLayer("bn", "BatchNormalization")
