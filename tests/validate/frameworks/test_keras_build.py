"""Tests of validate.frameworks.keras_build and validate.frameworks.crosscheck against real TensorFlow/Keras.

The expected parameter and FLOP counts are the cost model's (that agreement is
what is tested); the few literal numbers are hand derivations, given in comments.
Shapes are small so that the whole file runs in well under a minute on a CPU.
"""

import subprocess
import sys

import numpy as np
import pytest

from costmodel import ConvLayer, factorize
from costmodel.symbols import C_IN, H
from validate.frameworks.crosscheck import (
    CrossCheckError,
    check_equivalence,
    check_flops,
    check_params,
    expected_flops,
    profiler_flops,
)
from validate.frameworks.keras_build import build_model, conv_layers, keras_layers, random_input

BATCH = 2


def square(kernel, c_in=4, c_out=6, size=12, **fields):
    return ConvLayer(kernel, kernel, c_in=c_in, c_out=c_out, height=size, width=size, **fields)


def test_import_does_not_load_tensorflow():
    # Fresh interpreter: anything imported earlier in this pytest process would mask a leak.
    code = (
        "import sys, validate.frameworks.keras_build, validate.frameworks.crosscheck; "
        "sys.exit('tensorflow' in sys.modules or 'keras' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


SCHEME_CASES = [
    pytest.param(square(5), "stack", {}, id="5x5-stack"),
    pytest.param(square(7), "stack", {}, id="7x7-stack"),
    pytest.param(square(3), "stack", {"m": 2}, id="3x3-stack-m2"),
    pytest.param(square(3), "asymmetric", {}, id="3x3-asymmetric"),
    pytest.param(square(7), "asymmetric", {}, id="7x7-asymmetric"),
    pytest.param(square(3), "depthwise-separable", {}, id="3x3-dwsep"),
    pytest.param(square(5), "depthwise-separable", {}, id="5x5-dwsep"),
    pytest.param(square(7), "depthwise-separable", {"multiplier": 2}, id="7x7-dwsep-m2"),
]


@pytest.mark.tensorflow
@pytest.mark.parametrize("bias", [False, True], ids=["nobias", "bias"])
@pytest.mark.parametrize("layer, scheme, options", SCHEME_CASES)
def test_factorized_block_counts_match_keras(layer, scheme, options, bias):
    block = factorize(layer.replace(bias=bias), scheme, **options)
    model = build_model(block)
    check_params(model, block)
    comparison = check_flops(model, block, BATCH)
    assert comparison.not_compared == {}


# Each case's parameters and FLOPs at BATCH, by hand: weights (+ biases); FLOPs = 2 x MACs + bias adds,
# MACs = output positions x weights of a layer, on 12x12 inputs of 4 channels.
LAYER_COUNT_CASES = [
    # 3x3 4->6 in 2 groups, 'same': 9*2*6 = 108 weights + 6 biases; 144 positions.
    pytest.param(square(3, groups=2, bias=True), 108 + 6, BATCH * (2 * 144 * 108 + 144 * 6), id="grouped"),
    # 3x3 4->6 padded (2, 1): 14x12 out, 216 weights + 6; then 3x3 6->6 unpadded: 12x10 out, 324 weights + 6.
    pytest.param(
        factorize(square(5, padding=(2, 1), bias=True), "stack"),
        216 + 6 + 324 + 6,
        BATCH * (2 * (168 * 216 + 120 * 324) + 168 * 6 + 120 * 6),
        id="explicit-padding",
    ),
    # 3x3 4->6 padded (0, 1): 10x12 out, 216 weights.
    pytest.param(square(3, padding=(0, 1)), 216, BATCH * 2 * 120 * 216, id="explicit-padding-one-axis"),
    # 3x3 4->6 'same': 12x12 out, 216 weights; then 3x3 6->6 at stride 2: 6x6 out, 324 weights.
    pytest.param(
        factorize(square(5, stride=2), "stack"), 216 + 324, BATCH * 2 * (144 * 216 + 36 * 324), id="stride2-stack"
    ),
    # depthwise 5x5 on 4 channels at stride 2: 6x6 out, 100 weights + 4; then 1x1 4->6: 24 weights + 6.
    pytest.param(
        factorize(square(5, stride=2, bias=True), "depthwise-separable"),
        100 + 4 + 24 + 6,
        BATCH * (2 * (36 * 100 + 36 * 24) + 36 * 4 + 36 * 6),
        id="stride2-dwsep",
    ),
]


@pytest.mark.tensorflow
@pytest.mark.parametrize("unit, params, flops", LAYER_COUNT_CASES)
def test_layer_counts_match_keras(unit, params, flops):
    model = build_model(unit)
    assert check_params(model, unit) == params
    comparison = check_flops(model, unit, BATCH)
    assert comparison.flops == flops
    assert comparison.not_compared == {}


@pytest.mark.tensorflow
def test_profiler_alone_does_not_see_a_grouped_convolution():
    # 3x3 conv 4->6 in 2 groups on 8x8 'same', batch 2, with bias.  By hand:
    # MACs = 2*8*8 positions * (3*3*2*6) weights = 13824; bias adds = 2*8*8*6 = 768.
    layer = ConvLayer(3, 3, c_in=4, c_out=6, groups=2, height=8, width=8, bias=True)
    model = build_model(layer)
    assert expected_flops(layer, BATCH) == 2 * 13824 + 768
    # Keras runs the grouped Conv2D inside an XLA function call: the profiler's
    # own total holds only the BiasAdd outside it ...
    assert profiler_flops(model, BATCH) == 768
    # ... and following the call recovers TensorFlow's count of the convolution.
    assert profiler_flops(model, BATCH, follow_calls=True) == 2 * 13824 + 768
    assert check_flops(model, layer, BATCH).flops == 2 * 13824 + 768


@pytest.mark.tensorflow
@pytest.mark.parametrize("activation, counted", [(None, False), ("relu", False), ("silu", True)])
def test_repeated_stack_and_activations(activation, counted):
    layer = square(3, c_in=4, c_out=4, size=8, bias=True)
    model = build_model(layer, repeats=3, activation=activation)
    assert len(conv_layers(model)) == 3
    check_params(model, layer, repeats=3)
    comparison = check_flops(model, layer, BATCH, repeats=3)
    # The profiler registers no FLOPs for Relu; silu is x * sigmoid(x), and Mul is counted.
    assert bool(comparison.not_compared) == counted


EQUIVALENCE_CASES = [
    pytest.param(square(5), "stack", {}, id="5x5-stack"),
    pytest.param(square(7), "stack", {}, id="7x7-stack"),
    pytest.param(square(3), "stack", {"m": 2}, id="3x3-stack-m2"),
    pytest.param(square(3), "asymmetric", {"order": "1xk-first"}, id="3x3-asym-1xk"),
    pytest.param(square(3), "asymmetric", {"order": "kx1-first"}, id="3x3-asym-kx1"),
    pytest.param(square(7), "asymmetric", {"order": "1xk-first"}, id="7x7-asym-1xk"),
    pytest.param(square(7), "asymmetric", {"order": "kx1-first"}, id="7x7-asym-kx1"),
    pytest.param(square(3), "depthwise-separable", {"multiplier": 1}, id="3x3-dwsep-m1"),
    pytest.param(square(3), "depthwise-separable", {"multiplier": 2}, id="3x3-dwsep-m2"),
    pytest.param(square(5), "depthwise-separable", {"multiplier": 1}, id="5x5-dwsep-m1"),
    pytest.param(square(5), "depthwise-separable", {"multiplier": 2}, id="5x5-dwsep-m2"),
    pytest.param(square(5), "stack+asymmetric", {}, id="5x5-stack+asym"),
    # Stride, explicit padding and groups go through the same composition.
    pytest.param(square(5, stride=(2, 1), padding=(2, 1)), "asymmetric", {}, id="5x5-asym-stride-pad"),
    pytest.param(square(5, groups=2), "stack", {"mid": 8}, id="5x5-grouped-stack"),
]


@pytest.mark.tensorflow
@pytest.mark.parametrize("layer, scheme, options", EQUIVALENCE_CASES)
def test_factorization_computes_the_composed_layer(layer, scheme, options):
    error = check_equivalence(layer, scheme, **options)
    assert 0 <= error < 1e-4


@pytest.mark.tensorflow
def test_wrong_parameter_count_is_reported_with_both_numbers():
    block = factorize(square(5), "stack")
    model = build_model(block)
    # Two 3x3 layers 4->6->6: 9*4*6 + 9*6*6 = 540 weights.
    assert check_params(model, 540) == 540
    with pytest.raises(CrossCheckError, match=r"Keras counts 540, the cost model 541"):
        check_params(model, 541)


@pytest.mark.tensorflow
def test_wrong_flops_expectation_is_reported_with_both_numbers():
    layer = square(5)
    model = build_model(factorize(layer, "stack"))
    # Checking the 3x3 stack against the 5x5 layer it replaces: 2*12*12*9*(4*6 + 6*6)
    # * 2 FLOPs = 311040 counted, 2*12*12*25*4*6 * 2 = 345600 expected.
    with pytest.raises(CrossCheckError, match=r"counts 311040 .* the cost model 345600"):
        check_flops(model, layer, BATCH)


@pytest.mark.tensorflow
def test_equivalence_beyond_tolerance_is_reported_with_both_outputs():
    # Zero tolerance: the two summation orders differ by float32 rounding.
    with pytest.raises(CrossCheckError, match=r"factorized output: mean .*composed single layer: mean"):
        check_equivalence(square(7), "stack", atol=0.0, rtol=0.0)


@pytest.mark.tensorflow
@pytest.mark.parametrize(
    "layer, field",
    [
        (ConvLayer(3, 3, c_in=C_IN, c_out=8, height=8, width=8), "c_in"),
        (ConvLayer(3, 3, c_in=4, c_out=8, height=H, width=8), "height"),
    ],
)
def test_symbolic_size_is_refused(layer, field):
    with pytest.raises(ValueError, match=rf"{field}=\S+ is symbolic"):
        keras_layers(layer)
    with pytest.raises(ValueError, match=rf"{field}=\S+ is symbolic"):
        build_model(layer)


@pytest.mark.tensorflow
def test_depthwise_with_unequal_strides_is_refused():
    # The asymmetric split of a strided depthwise layer strides one axis per factor.
    block = factorize(ConvLayer.depthwise(5, 5, 4, height=16, width=16, stride=2), "asymmetric")
    with pytest.raises(ValueError, match=r"stride=\(1, 2\).*equal row and column strides"):
        build_model(block)


@pytest.mark.tensorflow
@pytest.mark.parametrize(
    "unit",
    [
        pytest.param(square(3, c_in=4, c_out=8), id="channels-change"),
        pytest.param(factorize(square(5, c_in=4, c_out=4, padding="valid"), "stack"), id="size-shrinks"),
    ],
)
def test_repeating_a_shape_changing_unit_is_refused(unit):
    with pytest.raises(ValueError, match="must map its input shape onto itself"):
        build_model(unit, repeats=2)


@pytest.mark.tensorflow
def test_models_and_inputs_are_deterministic():
    layer = square(3, bias=True)
    first, second = build_model(layer, seed=7), build_model(layer, seed=7)
    for a, b in zip(first.get_weights(), second.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    inputs = random_input(layer, BATCH, seed=7)
    assert inputs.shape == (BATCH, 12, 12, 4) and inputs.dtype == np.float32
    np.testing.assert_array_equal(inputs, random_input(layer, BATCH, seed=7))
