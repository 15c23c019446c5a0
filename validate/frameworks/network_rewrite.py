"""Rewrite a Keras model as :func:`costmodel.network.rewrite` plans it, and check the result.

The cost model decides *what* changes (:func:`costmodel.network.plan_changes`:
each matched layer becomes a factorized block, or a depthwise + pointwise
pair with the per-channel layers between them becomes one k x k convolution);
this module only builds it.  The functional graph is rebuilt with
``keras.models.clone_model(..., call_function=...)``, so branches, residual
adds and concatenations stay as they were: a replaced layer's call applies
the new layers (built from the planned ConvLayers by
:func:`validate.frameworks.keras_build.keras_layers`, exactly as the
factorization sweep builds them), and a layer a fuse drops passes its input
through.

:func:`check_rewrite` then reads the rebuilt model back and requires that
its parameters and MACs equal the cost model's rewritten network, and that
its outputs have the original's shapes.

Every layer of the rebuilt model has freshly initialised weights (a
``weights=None`` application loses nothing); a fused or factorized layer
does not compute the original's function, only the same kind of function.
:func:`check_fuse_equivalence` shows, on a small linear pair, that the fused
kernel is exactly the composition of the depthwise and pointwise kernels.
"""

from __future__ import annotations

import numpy as np

from costmodel.layer import ConvLayer
from costmodel.network import Change, Network, fused_conv
from validate.frameworks import crosscheck
from validate.frameworks.keras_build import build_model, conv_layers, import_keras, keras_layers, random_input
from validate.frameworks.network_reader import read_network

__all__ = ["RewriteCheck", "check_fuse_equivalence", "check_rewrite", "rebuild"]


def rebuild(model, changes: list[Change]):
    """A new Keras model with every change applied, the rest of the graph as it was.

    Parameters
    ----------
    model : keras.Model
        A functional model (``keras.applications`` models are).
    changes : list of Change
        From :func:`costmodel.network.plan_changes` on this model's network.
    """
    keras = import_keras()
    if not changes:
        return keras.models.clone_model(model)
    replacement = {}
    dropped: set[str] = set()
    for change in changes:
        built = []
        for new in change.new_layers:
            (conv,) = new.convs
            built.extend(keras_layers(conv, name=new.name))
        replacement[change.anchor] = built
        dropped.update(change.replaced[1:])

    def call(layer, *args, **kwargs):
        if layer.name in replacement:
            outputs = args[0]
            for new_layer in replacement[layer.name]:
                outputs = new_layer(outputs)
            return outputs
        if layer.name in dropped:
            return args[0]  # a per-channel layer inside a fused pair, or the pointwise half
        return layer(*args, **kwargs)

    try:
        return keras.models.clone_model(model, call_function=call)
    except ValueError as error:
        first = (str(error).strip().splitlines() or [""])[0]
        raise ValueError(f"cannot rebuild {model.name!r} (a functional model is needed): {first[:200]}") from None


class RewriteCheck:
    """What :func:`check_rewrite` confirmed: the rebuilt model's network and output shapes."""

    def __init__(self, network: Network, output_shapes: list):
        self.network = network
        self.output_shapes = output_shapes


def _output_shapes(model) -> list:
    return [tuple(output.shape) for output in model.outputs]


def check_rewrite(original, rebuilt, expected: Network) -> RewriteCheck:
    """The rebuilt model must have the cost model's parameters and MACs, and the original's output shapes.

    Layers the plan lists as not counted (``--skip-unknown``) are read the same way in the rebuilt model.
    """
    network = read_network(rebuilt, name=expected.name, skip_unknown=bool(expected.uncounted))
    counted = int(rebuilt.count_params())
    if counted != expected.params:
        raise crosscheck.CrossCheckError(
            f"rewritten {expected.name!r}: Keras counts {counted} parameters, the cost model "
            f"{expected.params} (difference {counted - expected.params:+d})"
        )
    if network.macs != expected.macs:
        raise crosscheck.CrossCheckError(
            f"rewritten {expected.name!r}: the rebuilt model reads as {network.macs} MACs, the cost "
            f"model planned {expected.macs} (difference {network.macs - expected.macs:+d})"
        )
    before, after = _output_shapes(original), _output_shapes(rebuilt)
    if before != after:
        raise crosscheck.CrossCheckError(f"rewritten {expected.name!r} outputs {after}, the original {before}")
    return RewriteCheck(network, after)


def check_fuse_equivalence(
    depthwise: ConvLayer,
    pointwise: ConvLayer,
    *,
    seed: int = 0,
    batch: int = 2,
    atol: float = crosscheck.FLOAT32_ATOL,
    rtol: float = crosscheck.FLOAT32_RTOL,
) -> float:
    """A depthwise + pointwise pair computes the fused k x k convolution with the composed kernel.

    The pair is built in Keras with random weights, no bias and no
    activation; its kernels are composed with numpy
    (:func:`validate.frameworks.crosscheck.compose_kernels`) and set into the
    fused convolution (:func:`costmodel.network.fused_conv`); both run on the
    same input and must agree to float32 precision.  'same' padding is made
    'valid' first, as in :func:`~validate.frameworks.crosscheck.check_equivalence`.

    Returns the largest absolute difference.
    """
    keras = import_keras()
    if depthwise.padding == "same":
        depthwise = depthwise.replace(padding="valid")
    depthwise = depthwise.replace(bias=False)
    out_h, out_w = depthwise.output_hw
    pointwise = pointwise.replace(bias=False, height=out_h, width=out_w, c_in=depthwise.c_out, padding="valid")
    from costmodel.block import Block

    pair = Block.of(depthwise, pointwise, name="depthwise_pointwise")
    pair_model = build_model(pair, seed=seed)
    kernels = [
        crosscheck.dense_kernel(layer, conv.get_weights()[0])
        for layer, conv in zip(pair.layers(), conv_layers(pair_model), strict=True)
    ]
    composed, _, _ = crosscheck.compose_kernels(pair.layers(), kernels)
    fused = fused_conv(depthwise, pointwise)
    fused_model = build_model(fused, seed=seed)
    (conv,) = conv_layers(fused_model)
    dilation = tuple(int(step) for step in fused.dilation)
    conv.set_weights([composed[:: dilation[0], :: dilation[1]].astype(np.float32)])
    inputs = random_input(fused, batch, seed=seed)
    expected = keras.ops.convert_to_numpy(pair_model(inputs, training=False))
    got = keras.ops.convert_to_numpy(fused_model(inputs, training=False))
    if expected.shape != got.shape:
        raise crosscheck.CrossCheckError(f"fused output {got.shape}, the pair's {expected.shape}")
    error = np.abs(got - expected)
    if not np.all(error <= atol + rtol * np.abs(expected)):
        raise crosscheck.CrossCheckError(
            f"the fused {fused.describe()} does not compute its depthwise + pointwise pair: max abs "
            f"difference {float(error.max()):.3g} (atol {atol:g}, rtol {rtol:g})"
        )
    return float(error.max())
