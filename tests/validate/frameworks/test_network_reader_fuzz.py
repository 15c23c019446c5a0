"""Fuzz: random small functional and Sequential models of every convolution kind, read against Keras.

For each model hypothesis draws, the reader's parameters must equal ``count_params()`` and its MACs
the profiler's (``check_network`` raises on any difference), or the profiler must be named as unable
to see a layer (Conv3DTranspose, Einsum ops).  Dilation is left to the hand-derived tests: TensorFlow
computes extra positions for some dilated sizes, which the cross-check reports as a difference.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = [pytest.mark.tensorflow, pytest.mark.slow]

KINDS_BY_RANK = {
    1: ["Conv1D", "DepthwiseConv1D", "SeparableConv1D", "Conv1DTranspose", "Dense"],
    2: ["Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose", "Dense", "EinsumDense"],
    3: ["Conv3D", "Conv3DTranspose", "Dense"],
}


@st.composite
def layer_specs(draw, rank: int, channels: int):
    kind = draw(st.sampled_from(KINDS_BY_RANK[rank]))
    out = draw(st.integers(1, 3)) * 2
    if kind == "Dense":
        return kind, {"units": out}, out
    if kind == "EinsumDense":
        return kind, {"equation": "abcd,de->abce", "output_shape": (None, None, out)}, out
    kernel = draw(st.integers(1, 3))
    strides = draw(st.integers(1, 2))
    padding = draw(st.sampled_from(["same", "valid"]))
    arguments = {"kernel_size": kernel, "strides": strides, "padding": padding}
    if kind.startswith("Depthwise"):
        multiplier = draw(st.integers(1, 2))
        return kind, {**arguments, "depth_multiplier": multiplier}, channels * multiplier
    if kind.startswith("Conv") and "Transpose" not in kind:
        groups = draw(st.sampled_from([g for g in (1, 2) if channels % g == 0 and out % g == 0]))
        arguments["groups"] = groups
    return kind, {**arguments, "filters": out}, out


@st.composite
def models(draw):
    rank = draw(st.sampled_from([1, 2, 3]))
    sizes = tuple(draw(st.integers(5, 9)) for _ in range(rank))
    channels = draw(st.sampled_from([2, 4]))
    specs = []
    for _ in range(draw(st.integers(1, 3))):
        kind, arguments, channels = draw(layer_specs(rank, channels))
        specs.append((kind, arguments))
    return rank, sizes, specs, draw(st.booleans())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=models())
def test_random_models_count_as_keras_and_the_profiler_do(keras, drawn):
    from validate.frameworks import network_reader as reader

    rank, sizes, specs, sequential = drawn
    specs = [(kind, arguments) for kind, arguments in specs if kind != "EinsumDense" or rank == 2]
    shape = (*sizes, 4 if specs and "Depthwise" in specs[0][0] else 2)
    inputs = keras.Input(shape)
    x, resolved = inputs, []
    try:
        for index, (kind, arguments) in enumerate(specs):
            if kind == "EinsumDense":  # its output shape names every axis: the positions it keeps
                arguments = {**arguments, "output_shape": (*x.shape[1:-1], arguments["output_shape"][-1])}
            resolved.append((kind, {"name": f"l{index}", **arguments}))
            x = getattr(keras.layers, kind)(**resolved[-1][1])(x)
    except ValueError:
        return  # a kernel that does not fit, or an output with no positions: Keras refuses to build it
    model = keras.Model(inputs, x)
    if sequential:  # the same layers, fresh, in a Sequential model
        model = keras.Sequential([keras.Input(shape), *(getattr(keras.layers, k)(**a) for k, a in resolved)])
    if any(size == 0 for size in model.outputs[0].shape[1:]):
        return
    network = reader.read_network(model)
    assert network.params == model.count_params()
    check = reader.check_network(network, model)
    assert check.checked or "which it counts no FLOPs for" in check.checked_by, check.checked_by
