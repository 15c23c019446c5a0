"""Tests of validate.frameworks.network_reader and network_rewrite against real Keras models.

Small hand-built functional models are counted against brute force (every
output element's multiply-adds, from Keras's own kernels and output shapes);
keras.applications models are built with weights=None and never run forward.
"""

import math

import numpy as np
import pytest

from costmodel import ConvLayer
from costmodel.network import parse_rules, rewrite
from costmodel.network_papers import PUBLISHED

pytestmark = pytest.mark.tensorflow


def branchy_model(keras):
    """Grouped conv, depthwise with multiplier, separable, a residual add, a concat, dense on positions."""
    layers = keras.layers
    inputs = keras.Input((12, 12, 4))
    x = layers.Conv2D(8, 3, padding="same", groups=2, name="grouped")(inputs)
    y = layers.DepthwiseConv2D(3, strides=2, depth_multiplier=2, padding="valid", name="dw")(x)
    y = layers.BatchNormalization(name="bn")(y)
    z = layers.SeparableConv2D(16, 5, padding="same", name="sep")(y)
    w = layers.Conv2D(16, (1, 7), padding="same", use_bias=False, name="row")(y)
    added = layers.Add(name="add")([z, w])
    joined = layers.Concatenate(name="cat")([added, y])
    pooled = layers.MaxPooling2D(name="pool")(joined)
    flat = layers.Reshape((4, 32), name="reshape")(pooled)
    out = layers.Dense(5, name="fc")(flat)
    return keras.Model(inputs, out, name="branchy")


def brute_force_macs(keras, model) -> int:
    """Multiply-adds counted output element by output element from Keras's kernels: no cost-model formula."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.SeparableConv2D):
            depthwise, pointwise = layer.depthwise_kernel.shape, layer.pointwise_kernel.shape
            out = layer.output.shape
            positions = out[1] * out[2]
            total += positions * depthwise[2] * depthwise[3] * depthwise[0] * depthwise[1]  # each dw output
            total += positions * pointwise[3] * pointwise[2]
        elif isinstance(layer, keras.layers.DepthwiseConv2D):
            kernel, out = layer.kernel.shape, layer.output.shape
            total += sum(kernel[0] * kernel[1] for _ in np.ndindex(*out[1:]))
        elif isinstance(layer, keras.layers.Conv2D):
            kernel, out = layer.kernel.shape, layer.output.shape
            total += sum(kernel[0] * kernel[1] * kernel[2] for _ in np.ndindex(*out[1:]))
        elif isinstance(layer, keras.layers.Dense):
            kernel, out = layer.kernel.shape, layer.output.shape
            total += math.prod(out[1:]) * kernel[0]
    return total


def test_hand_built_model_against_brute_force(keras, reader):
    model = branchy_model(keras)
    network = reader.read_network(model)
    assert network.params == model.count_params() == sum(int(np.prod(w.shape)) for w in model.weights)
    assert network.macs == brute_force_macs(keras, model)
    assert reader.check_macs(network, model).checked
    assert network.layer("add").inputs == ("sep", "row")
    assert network.layer("fc").convs[0].height == 4  # a dense layer over 4 positions


@pytest.mark.parametrize("name", ["MobileNet", "MobileNetV2", "ResNet50", "InceptionV3"])
def test_params_equal_count_params_on_applications(keras, reader, name):
    model = reader.load_model(name)
    assert reader.read_network(model).params == model.count_params()
    keras.backend.clear_session()


def test_mobilenet_macs_match_the_profiler(reader):
    model = reader.load_model("MobileNet")
    network = reader.read_network(model)
    check = reader.check_network(network, model)
    assert check.checked and network.params == 4_253_864
    # The profiler counts 2 FLOPs per MAC in Conv2D and DepthwiseConv2dNative (crosscheck's docstring).
    assert (
        check.profiler_flops_by_op["Conv2D"] + check.profiler_flops_by_op["DepthwiseConv2dNative"] == 2 * network.macs
    )


@pytest.mark.slow
@pytest.mark.parametrize("figure", PUBLISHED, ids=[figure.label for figure in PUBLISHED])
def test_papers_figures(reader, figure):
    model = reader.load_model(
        figure.model, alpha=figure.alpha if figure.model == "MobileNet" else None, input_size=figure.size
    )
    network = reader.read_network(model)
    if figure.rules:
        network, _ = rewrite(network, parse_rules(figure.rules))
    # Published mult-adds are rounded to 1 M: ours within 0.5% (the largest gap, 0.33%, is 0.5-224).
    assert abs(network.macs / 1e6 / figure.macs_millions - 1) < 0.005
    # Published parameters exclude batch norm and are rounded (or cut) to 0.1 M.
    conv_params = network.totals()["conv_dense_params"] / 1e6
    assert abs(conv_params - figure.params_millions) < 0.1


def test_rewrite_keeps_branches_and_output_shapes(keras, reader):
    from validate.frameworks.network_rewrite import check_rewrite, rebuild

    model = branchy_model(keras)
    network = reader.read_network(model)
    planned, changes = rewrite(network, parse_rules("3x3:asymmetric,1x7:stack", kinds=("Conv2D",)))
    assert [change.anchor for change in changes] == ["grouped", "row"]
    rebuilt = rebuild(model, changes)
    checked = check_rewrite(model, rebuilt, planned)
    assert checked.output_shapes == [tuple(model.outputs[0].shape)]
    assert checked.network.layer("add").inputs == ("sep", "row_stack2")


def test_fuse_rebuilds_mobilenet_as_table_4(keras, reader):
    from validate.frameworks.network_rewrite import check_rewrite, rebuild

    model = reader.load_model("MobileNet", input_size=128)
    planned, changes = rewrite(reader.read_network(model), parse_rules("fuse"))
    checked = check_rewrite(model, rebuild(model, changes), planned)
    assert not any(layer.kind == "DepthwiseConv2D" for layer in checked.network.layers)


@pytest.mark.parametrize(
    "depthwise, pointwise",
    [
        (ConvLayer.depthwise(3, 3, 4, stride=2, height=12, width=12), ConvLayer(1, 1, c_in=4, c_out=6)),
        (ConvLayer.depthwise(5, 5, 3, multiplier=2, dilation=2, height=14, width=14), ConvLayer(1, 1, c_in=6, c_out=4)),
    ],
)
def test_fuse_equals_the_composed_kernel(depthwise, pointwise):
    from validate.frameworks.network_rewrite import check_fuse_equivalence

    assert check_fuse_equivalence(depthwise, pointwise) < 1e-5


def test_unknown_application_lists_close_matches(reader):
    with pytest.raises(ValueError, match="unknown model 'MobileNetV4'.*MobileNetV2"):
        reader.load_model("MobileNetV4")


def test_a_zip_keras_cannot_load_is_refused_in_one_line(reader, tmp_path):
    import zipfile

    path = tmp_path / "notes.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", "not json")
    with pytest.raises(ValueError, match="notes.keras is not a Keras model Keras can load: ") as refused:
        reader.load_model(str(path))
    assert "\n" not in str(refused.value)


def test_a_lambda_layer_is_refused_and_its_code_never_runs(keras, reader, tmp_path):
    marker = tmp_path / "the lambda ran"

    def leave_a_mark(tensor):
        marker.write_text("ran")
        return tensor

    model = keras.Sequential([keras.Input((4,)), keras.layers.Lambda(leave_a_mark)])
    marker.unlink()  # building the model called it once, here, before saving
    path = tmp_path / "lambda.keras"
    model.save(path)
    with pytest.raises(ValueError, match="holds Python code .* which is never run: safe mode refuses it"):
        reader.load_model(str(path))
    assert not marker.exists()


def test_an_uncountable_layer_is_named_or_listed(keras, reader):
    inputs = keras.Input((16, 3))
    x = keras.layers.LSTM(4, return_sequences=True, name="temporal")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2, name="fc")(x))
    with pytest.raises(reader.UncountableLayerError, match="layer 'temporal' is a LSTM"):
        reader.read_network(model)
    network = reader.read_network(model, skip_unknown=True)
    assert [layer.name for layer in network.uncounted] == ["temporal"]
    assert network.params == model.count_params()
    assert not reader.check_macs(network, model).checked


def test_nested_sequential_models_are_read(keras, reader):
    # A Sequential model without an Input of its own, called inside a functional one, and a
    # Sequential one at the top holding it: both are read through the graph Keras builds for them.
    layers = [keras.layers.Conv2D(4, 3, padding="same", name="conv"), keras.layers.ReLU(name="relu")]
    inner = keras.Sequential(layers, name="inner")
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, inner(inputs))
    network = reader.read_network(model)
    assert [layer.name for layer in network.layers] == ["inner/conv", "inner/relu"]
    assert network.macs == 8 * 8 * 3 * 3 * 3 * 4  # 8x8 'same' outputs x (3x3 kernel x 3 in) x 4 out
    assert reader.check_network(network, model).checked
    outer = keras.Sequential([keras.Input((8, 8, 3)), inner, keras.layers.Flatten(), keras.layers.Dense(2)])
    network = reader.read_network(outer)
    assert network.params == outer.count_params()
    assert network.macs == 8 * 8 * 3 * 3 * 3 * 4 + 8 * 8 * 4 * 2
    assert reader.check_network(network, outer).checked


def test_a_sequential_model_without_an_input_is_refused_in_one_line(keras, reader):
    model = keras.Sequential([keras.layers.Conv2D(4, 3)], name="unbuilt")
    with pytest.raises(ValueError, match="model 'unbuilt' is a Sequential that has no input shape yet"):
        reader.read_network(model)
