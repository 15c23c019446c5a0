"""Cross-checks: the Keras models agree with the cost model they are built from.

The cost model is the one source of truth for what a layer or a factorized
block is (:mod:`validate.frameworks.keras_build` builds exactly its values).  Before a
latency measured on such a model is set against the cost model's counts, three
independent checks confirm that the model *is* what the counts describe:

* :func:`check_params`: Keras' ``model.count_params()`` equals the sum of
  :func:`costmodel.params` over the layers;
* :func:`check_flops`: TensorFlow's own profiler, run on the traced forward
  graph, counts the cost model's FLOPs (see the convention below);
* :func:`check_equivalence`: a factorized block computes the same function as
  the layer it replaces, shown by composing the factors' weights into one
  kernel with plain numpy and running both models on the same input.

The parameter and equivalence checks need only Keras, so they run on every
backend (TensorFlow, JAX, PyTorch).  The FLOPs check needs TensorFlow's
profiler, so it runs on the TensorFlow backend only; on the others the
runner records the cost model's FLOPs as *not checked* (``flops_checked_by``).

Every check raises :class:`CrossCheckError` (a ``ValueError``) carrying both
numbers when they disagree, and never passes silently on something it cannot
compare: that raises :class:`UncountedOpsError`.

TensorFlow's profiler, as found in TensorFlow 2.21 with Keras 3.15
--------------------------------------------------------------------
``tf.compat.v1.profiler.profile(graph, options=float_operation())`` sums, over
the nodes of the graph it is given, the ``"flops"`` statistic registered for
each op type (``tensorflow/python/ops/nn_ops.py`` and
``tensorflow/python/profiler/internal/flops_registry.py``):

* ``Conv2D``: ``2 * output elements * k_h * k_w * filter_in_depth``, where
  ``filter_in_depth`` is the kernel's third dimension, ``C_in / groups`` for
  a grouped kernel: exactly 2 x the cost model's MACs, padding positions
  included (Keras' ``Conv2D``).
* ``DepthwiseConv2dNative``: ``2 * output elements * k_h * k_w`` with
  ``C_in * multiplier`` output channels: 2 x MACs (Keras' ``DepthwiseConv2D``).
* ``BiasAdd``: one per element, which is how Keras 3 adds a convolution's
  bias: the cost model's "one add per output element".
* ``Pad`` (``ZeroPadding2D``), ``Reshape``, ``Squeeze``, ``ReadVariableOp``,
  ``Identity``: nothing registered, counted 0.
* ``Relu`` (and ``Sigmoid``, ``Tanh``): nothing registered, counted 0.  But
  activations built from arithmetic ops *are* counted, e.g. ``'silu'`` is
  ``Sigmoid`` + ``Mul`` and each ``Mul`` counts one per element.
* Function calls (``PartitionedCall``, ``StatefulPartitionedCall``) count 0:
  the profiler does not look inside the called function.  **A grouped
  convolution is such a call**: Keras 3 runs ``Conv2D`` with
  ``1 < groups`` through a nested ``tf.function(jit_compile=True)`` because
  TensorFlow's CPU kernel does not support groups, so the profiler reports 0
  FLOPs for it.  :func:`check_flops` opens the called function's graph and
  profiles it with the same rules (the ``Conv2D`` inside has a
  ``C_in / groups`` deep kernel, so it counts 2 x MACs); when it cannot open
  one, it raises :class:`UncountedOpsError` instead of comparing.
* A dilated convolution runs as ``SpaceToBatchND`` -> convolution ->
  ``BatchToSpaceND`` on the input padded up to a multiple of the dilation, so
  when the padded height or width is not such a multiple TensorFlow computes
  (and the profiler counts) positions the cost model does not; the check then
  fails, saying so.  That is real extra work, not a counting artefact.

What :func:`check_flops` compares
---------------------------------
The FLOPs the profiler attributes to the ops that carry the cost model's
convention (``Conv2D``, ``DepthwiseConv2dNative``, ``BiasAdd``; see
:data:`COMPARED_OPS`), function calls followed, against ``sum(costmodel.flops)``
over the layers at the given batch, i.e. 2 x MACs + bias adds.  FLOPs the
profiler counts in any other op (activations such as ``silu``'s ``Mul``) are
outside the cost model's convention: they are not compared, and are returned
in :attr:`FlopsComparison.not_compared` so that they are never hidden.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from costmodel.counts import flops as layer_flops
from costmodel.counts import params as layer_params
from costmodel.layer import ConvLayer, is_known
from costmodel.schemes import factorize
from validate.frameworks.keras_build import (
    build_model,
    concrete,
    conv_layers,
    import_keras,
    layers_of,
    random_input,
)

__all__ = [
    "COMPARED_OPS",
    "CrossCheckError",
    "FlopsComparison",
    "UncountedOpsError",
    "check_equivalence",
    "check_flops",
    "check_params",
    "compose_kernels",
    "dense_kernel",
    "expected_flops",
    "expected_params",
    "grouped_kernel",
    "profiler_flops",
    "profiler_flops_by_op",
    "op_type_counts",
]

#: Op types whose profiler FLOPs follow the cost model's convention (2 x MACs, bias adds).
COMPARED_OPS = ("Conv2D", "DepthwiseConv2dNative", "BiasAdd")

#: float32 tolerances of :func:`check_equivalence`: a composed kernel sums the same
#: products in another order, so outputs of order one differ by a few float32 ulps
#: times the square root of the number of terms (at most a few hundred here).
FLOAT32_ATOL = 1e-4
FLOAT32_RTOL = 1e-4


class CrossCheckError(ValueError):
    """A Keras model and the cost model disagree; the message carries both numbers."""


class UncountedOpsError(CrossCheckError):
    """The profiler cannot see some of the model's computation, so no comparison is made."""


def _tf():
    keras = import_keras()  # sets KERAS_BACKEND before anything imports keras
    if keras.backend.backend() != "tensorflow":
        # TensorFlow cannot trace a JAX or PyTorch Keras model, and the backend is fixed per process.
        raise UncountedOpsError(
            f"the FLOPs check needs TensorFlow's profiler, and keras runs the {keras.backend.backend()} backend"
        )
    import tensorflow as tf

    return tf


# -- parameters ------------------------------------------------------------------------------


def expected_params(block_or_layer, repeats: int = 1) -> int:
    """The cost model's parameter count: ``costmodel.params`` summed over the layers, x repeats."""
    return repeats * sum(_number("params", layer_params(layer)) for layer in layers_of(block_or_layer))


def check_params(model, expected, *, repeats: int = 1) -> int:
    """Check that Keras' ``model.count_params()`` equals the cost model's count.

    Parameters
    ----------
    model : keras.Model
    expected : int, ConvLayer or Block
        The count, or the layer/block whose :func:`expected_params` it is.
    repeats : int
        Copies of ``expected``'s unit in the model (only with a layer or block).

    Returns
    -------
    int
        The agreed count.
    """
    if not isinstance(expected, (int, np.integer)):
        expected = expected_params(expected, repeats)
    counted = int(model.count_params())
    if counted != expected:
        raise CrossCheckError(
            f"parameters of {model.name!r}: Keras counts {counted}, the cost model {expected} "
            f"(difference {counted - expected:+d})"
        )
    return counted


# -- FLOPs -----------------------------------------------------------------------------------


def expected_flops(block_or_layer, batch: int, repeats: int = 1) -> int:
    """The cost model's FLOPs (2 x MACs + bias adds) of the layers at ``batch``, x repeats."""
    return repeats * sum(
        _number("flops", layer_flops(layer.replace(batch=batch))) for layer in layers_of(block_or_layer)
    )


def _forward_graph(model, batch: int):
    """The graph of ``model(x)`` traced for a float32 input of the given batch."""
    tf = _tf()
    shape = [batch, *model.inputs[0].shape[1:]]
    forward = tf.function(lambda inputs: model(inputs, training=False))
    return forward.get_concrete_function(tf.TensorSpec(shape, tf.float32)).graph


def _profile_by_op(graph) -> dict[str, int]:
    """The profiler's FLOPs of one graph (not its called functions), summed per op type."""
    tf = _tf()
    builder = tf.compat.v1.profiler.ProfileOptionBuilder
    options = builder(builder.float_operation()).with_empty_output().build()
    report = tf.compat.v1.profiler.profile(graph=graph, cmd="op", options=options)
    # The 'op' view nests op types in one chain; each node's own count is float_ops.
    by_op: dict[str, int] = {}
    pending = list(report.children)
    while pending:
        node = pending.pop()
        if node.float_ops:
            by_op[node.name] = by_op.get(node.name, 0) + int(node.float_ops)
        pending.extend(node.children)
    if sum(by_op.values()) != report.total_float_ops:
        raise RuntimeError(f"per-op FLOPs {by_op} do not add up to the profiler's total {report.total_float_ops}")
    return by_op


def _function_calls(graph) -> list[tuple[str, str]]:
    """(op name, called function name) for every op of the graph that calls a function."""
    calls = []
    for op in graph.get_operations():
        for value in op.node_def.attr.values():
            if value.HasField("func"):
                calls.append((op.name, value.func.name))
            calls.extend((op.name, function.name) for function in value.list.func)
    return calls


def _called_graph(graph, function_name: str):
    """The graph of a function the graph calls, or None where TensorFlow does not expose it.

    Uses ``FuncGraph._get_function`` (not public API), so it is guarded: a
    TensorFlow without it makes the FLOPs check refuse, not guess.
    """
    try:
        return graph._get_function(function_name).graph
    except (AttributeError, KeyError, TypeError):
        return None


def _merge(into: dict, more: dict) -> None:
    for op_type, count in more.items():
        into[op_type] = into.get(op_type, 0) + count


def _profile_following_calls(graph, path: str = "") -> dict[str, int]:
    by_op = _profile_by_op(graph)
    for op_name, function_name in _function_calls(graph):
        inner = _called_graph(graph, function_name)
        if inner is None:
            raise UncountedOpsError(
                f"the profiler counts 0 FLOPs inside {path}{op_name}, a call of {function_name!r} "
                "(Keras runs a grouped convolution this way, through XLA), and TensorFlow does "
                "not expose that function's graph here, so the FLOPs cannot be compared"
            )
        _merge(by_op, _profile_following_calls(inner, f"{path}{op_name}/"))
    return by_op


def profiler_flops_by_op(model, batch: int) -> dict[str, int]:
    """TensorFlow profiler FLOPs of the model's forward pass, per op type, function calls followed.

    Each called function's graph (e.g. the XLA function of a grouped
    convolution) is profiled with the same per-op rules and added in.  Op
    types the profiler counts 0 for (``Relu``, ``Pad``, ...) are absent.
    Raises :class:`UncountedOpsError` for a call whose graph cannot be opened.
    """
    return _profile_following_calls(_forward_graph(model, batch))


def op_type_counts(model, batch: int) -> dict[str, int]:
    """How many ops of each type the model's traced forward graph holds (its own graph, calls not followed)."""
    counts: dict[str, int] = {}
    for op in _forward_graph(model, batch).get_operations():
        counts[op.type] = counts.get(op.type, 0) + 1
    return counts


def profiler_flops(model, batch: int, *, follow_calls: bool = False) -> int:
    """TensorFlow's profiler float-operation count of the model's forward pass.

    Parameters
    ----------
    model : keras.Model
    batch : int
        The traced input is ``[batch, height, width, channels]`` float32.
    follow_calls : bool
        False gives the profiler's ``total_float_ops`` of the traced graph
        exactly as TensorFlow reports it, which counts 0 for anything inside a
        function call (a grouped convolution); True adds the called functions'
        counts (see :func:`profiler_flops_by_op`).
    """
    if follow_calls:
        return sum(profiler_flops_by_op(model, batch).values())
    return sum(_profile_by_op(_forward_graph(model, batch)).values())


@dataclasses.dataclass(frozen=True)
class FlopsComparison:
    """The outcome of :func:`check_flops`.

    ``flops`` is the agreed count; ``not_compared`` maps op types outside
    :data:`COMPARED_OPS` to the FLOPs the profiler counted in them.
    """

    flops: int
    not_compared: dict


def check_flops(model, block, batch: int, *, repeats: int = 1) -> FlopsComparison:
    """Check that TensorFlow's profiler counts the cost model's FLOPs for ``block``.

    Compares the profiler's FLOPs in :data:`COMPARED_OPS` (function calls
    followed) with :func:`expected_flops` ``(block, batch, repeats)``; see the
    module docstring for what is and is not compared, and why.

    Raises
    ------
    CrossCheckError
        When the two differ; the message has both numbers and the per-op counts.
    UncountedOpsError
        When part of the graph is invisible to the profiler.
    """
    by_op = profiler_flops_by_op(model, batch)
    counted = sum(by_op.get(op_type, 0) for op_type in COMPARED_OPS)
    not_compared = {op_type: count for op_type, count in by_op.items() if op_type not in COMPARED_OPS}
    expected = expected_flops(block, batch, repeats)
    if counted != expected:
        hint = ""
        if any(op.type == "SpaceToBatchND" for op in _forward_graph(model, batch).get_operations()):
            hint = (
                "; the model has a dilated convolution, which TensorFlow computes on its input "
                "padded up to a multiple of the dilation"
            )
        raise CrossCheckError(
            f"FLOPs of {model.name!r} at batch {batch}: TensorFlow's profiler counts {counted} in "
            f"{', '.join(COMPARED_OPS)}, the cost model {expected} (difference "
            f"{counted - expected:+d}); profiler per op: {by_op}{hint}"
        )
    return FlopsComparison(flops=counted, not_compared=not_compared)


# -- numerical equivalence ---------------------------------------------------------------------


def dense_kernel(layer: ConvLayer, kernel: np.ndarray) -> np.ndarray:
    """A Keras kernel of ``layer`` as a dense ``(k_h, k_w, c_in, c_out)`` kernel.

    Keras stores a grouped kernel as ``(k_h, k_w, c_in/groups, c_out)``, output
    channel ``o`` reading group ``o // (c_out/groups)``, and a depthwise kernel
    as ``(k_h, k_w, c_in, multiplier)``, output channel ``c*multiplier + m``
    reading input channel ``c``.  Both become block-diagonal dense kernels.
    """
    sizes = concrete(layer)
    c_in, c_out, groups = sizes["c_in"], sizes["c_out"], sizes["groups"]
    kernel = np.asarray(kernel, dtype=np.float64)
    if layer.is_depthwise:
        # (kh, kw, c_in, M) -> (kh, kw, c_in, 1, M) -> one group per input channel.
        kernel = kernel.reshape(*kernel.shape[:2], 1, c_out)
    dense = np.zeros((*kernel.shape[:2], c_in, c_out))
    per_in, per_out = c_in // groups, c_out // groups
    for group in range(groups):
        outputs = slice(group * per_out, (group + 1) * per_out)
        dense[:, :, group * per_in : (group + 1) * per_in, outputs] = kernel[:, :, :, outputs]
    return dense


def grouped_kernel(layer: ConvLayer, dense: np.ndarray) -> np.ndarray:
    """The inverse of :func:`dense_kernel`; refuses weights outside the layer's groups."""
    sizes = concrete(layer)
    c_in, c_out, groups = sizes["c_in"], sizes["c_out"], sizes["groups"]
    per_in, per_out = c_in // groups, c_out // groups
    kernel = np.zeros((*dense.shape[:2], per_in, c_out))
    outside = dense.copy()
    for group in range(groups):
        outputs = slice(group * per_out, (group + 1) * per_out)
        inputs = slice(group * per_in, (group + 1) * per_in)
        kernel[:, :, :, outputs] = dense[:, :, inputs, outputs]
        outside[:, :, inputs, outputs] = 0
    if np.any(outside):
        raise CrossCheckError(
            f"the composed kernel connects channels across the {groups} groups of "
            f"{layer.describe()} (largest such weight {np.abs(outside).max():.3g}, expected 0)"
        )
    if layer.is_depthwise:
        kernel = kernel.reshape(*kernel.shape[:2], c_in, c_out // c_in)
    return kernel


def compose_kernels(layers: list[ConvLayer], kernels: list[np.ndarray]):
    """One dense kernel computing a chain of linear, bias-free convolutions.

    TensorFlow's convolution is a cross-correlation: a layer with kernel ``B``,
    stride ``s`` and dilation ``d`` after layers of total stride ``S`` reads its
    input at offsets ``j * d * S`` in the chain's input coordinates, so the
    composed kernel gains ``old[t] @ B[j]`` at offset ``t + j*d*S``.  Two 3x3
    layers give the full 2-D convolution of their kernels, a 5x5; a 1xk then a
    kx1 give ``W[i,j,c,o] = sum_m R[0,j,c,m] * C[i,0,m,o]``; a depthwise then a
    pointwise give ``W[i,j,c,o] = sum_m D[i,j,c,m] * P[c*M+m,o]``.

    Explicit zero padding commutes with the layers before it only along an axis
    where they all have kernel 1 and stride 1 (no bias: zeros map to zeros), as
    in the asymmetric scheme; elsewhere it is refused.

    Parameters
    ----------
    layers : list of ConvLayer
        The chain, 'valid' or explicit padding, no bias.
    kernels : list of ndarray
        Each layer's dense kernel (see :func:`dense_kernel`).

    Returns
    -------
    (ndarray, (int, int), (int, int))
        The dense undilated kernel, the total stride and the total zeros per side.
    """
    c_in = concrete(layers[0])["c_in"]
    composed = np.eye(c_in).reshape(1, 1, c_in, c_in)
    stride, padding, trivial = [1, 1], [0, 0], [True, True]
    for layer, kernel in zip(layers, kernels, strict=True):
        sizes = concrete(layer)
        if layer.bias:
            raise ValueError(f"cannot compose {layer.describe()}: it has a bias")
        if sizes["padding"] == "same":
            raise ValueError(
                f"cannot compose {layer.describe()}: 'same' padding depends on "
                "the input size; use 'valid' or explicit padding"
            )
        zeros = (0, 0) if sizes["padding"] == "valid" else sizes["padding"]
        for axis in (0, 1):
            if zeros[axis] and not trivial[axis]:
                raise ValueError(
                    f"cannot compose {layer.describe()}: it pads along axis {axis} after "
                    "layers that mix positions along it, which is not padding of the input"
                )
            padding[axis] += zeros[axis]
        step = [sizes["dilation"][axis] * stride[axis] for axis in (0, 1)]
        k_h, k_w = kernel.shape[:2]
        grown = np.zeros(
            (composed.shape[0] + (k_h - 1) * step[0], composed.shape[1] + (k_w - 1) * step[1], c_in, kernel.shape[3])
        )
        for i in range(k_h):
            for j in range(k_w):
                grown[i * step[0] : i * step[0] + composed.shape[0], j * step[1] : j * step[1] + composed.shape[1]] += (
                    composed @ kernel[i, j]
                )
        composed = grown
        for axis, k in ((0, k_h), (1, k_w)):
            trivial[axis] = trivial[axis] and k == 1 and sizes["stride"][axis] == 1
            stride[axis] *= sizes["stride"][axis]
    return composed, tuple(stride), tuple(padding)


def _undilate(layer: ConvLayer, composed: np.ndarray) -> np.ndarray:
    """The layer's k_h x k_w kernel from a dense undilated one; refuses taps off its grid."""
    sizes = concrete(layer)
    (d_h, d_w), (k_h, k_w) = sizes["dilation"], (sizes["kernel_h"], sizes["kernel_w"])
    span = (d_h * (k_h - 1) + 1, d_w * (k_w - 1) + 1)
    if composed.shape[:2] != span:
        raise CrossCheckError(
            f"the factors compose to a {composed.shape[0]}x{composed.shape[1]} "
            f"window, {layer.describe()} sees {span[0]}x{span[1]}"
        )
    off_grid = composed.copy()
    off_grid[::d_h, ::d_w] = 0
    if np.any(off_grid):
        raise CrossCheckError(
            f"the composed kernel has weights between the taps of {layer.describe()} with dilation {(d_h, d_w)}"
        )
    return composed[::d_h, ::d_w]


def _stats(values: np.ndarray) -> str:
    return f"mean {values.mean():.6g}, std {values.std():.6g}, min {values.min():.6g}, max {values.max():.6g}"


def check_equivalence(
    layer: ConvLayer,
    scheme: str,
    *,
    seed: int = 0,
    batch: int = 2,
    atol: float = FLOAT32_ATOL,
    rtol: float = FLOAT32_RTOL,
    **options,
) -> float:
    """Check numerically that ``factorize(layer, scheme, **options)`` computes ``layer``.

    The factorized block is built in Keras with random weights and no
    activation; its factors' kernels are composed with numpy into one kernel
    (:func:`compose_kernels`), which is set into a Keras model of the original
    layer; both run on the same random input and must agree to float32
    precision (``|a - b| <= atol + rtol*|b|`` elementwise).

    Two things are changed first, because they are not linear in the same way:

    * ``'same'`` padding becomes ``'valid'``.  With ``'same'``, every factor
      pads *its own* input with zeros, and the zeros a second 3x3 layer adds
      around the first one's output are not the first layer applied to zeros
      around the input, so near the borders the stack differs from a 5x5 with
      'same' padding (its interior agrees).  That is a real difference of the
      factorized network, not an error.  Explicit padding is kept: the
      schemes put it on the first factor spanning each axis, which is padding
      the input, and the comparison covers it.
    * the bias is switched off: the factors' biases pass through the later
      factors' kernels and do not compose into the original's bias.

    Parameters
    ----------
    layer : ConvLayer
        The layer to factorize; concrete sizes.
    scheme : str
        A scheme name or ``'+'``-composition, with its ``options``.
    seed : int
        Seeds the factor weights and the input.
    batch : int
        Images in the random input.
    atol, rtol : float
        float32 tolerances.

    Returns
    -------
    float
        The largest absolute difference between the two outputs.
    """
    keras = import_keras()
    if layer.padding == "same":
        layer = layer.replace(padding="valid")
    layer = layer.replace(bias=False)
    block = factorize(layer, scheme, **options)
    factors = block.layers()
    factored_model = build_model(block, seed=seed)
    kernels = [
        dense_kernel(factor, keras_layer.get_weights()[0])
        for factor, keras_layer in zip(factors, conv_layers(factored_model), strict=True)
    ]
    composed, stride, padding = compose_kernels(factors, kernels)
    sizes = concrete(layer)
    wanted_padding = (0, 0) if sizes["padding"] == "valid" else sizes["padding"]
    if (stride, padding) != (sizes["stride"], wanted_padding):
        raise CrossCheckError(
            f"{block.name} of {layer.describe()} has total stride {stride} and padding {padding}, "
            f"the layer {sizes['stride']} and {wanted_padding}"
        )
    original_model = build_model(layer, seed=seed)
    (original_conv,) = conv_layers(original_model)
    original_conv.set_weights([grouped_kernel(layer, _undilate(layer, composed)).astype(np.float32)])

    inputs = random_input(layer, batch, seed=seed)
    factored = keras.ops.convert_to_numpy(factored_model(inputs, training=False))
    original = keras.ops.convert_to_numpy(original_model(inputs, training=False))
    if factored.shape != original.shape:
        raise CrossCheckError(f"{block.name} outputs shape {factored.shape}, {layer.describe()} {original.shape}")
    error = np.abs(factored - original)
    max_error = float(error.max())
    if not np.all(error <= atol + rtol * np.abs(original)):
        raise CrossCheckError(
            f"{block.name} of {layer.describe()} does not compute the composed layer: max abs "
            f"difference {max_error:.3g} (atol {atol:g}, rtol {rtol:g}); factorized output: "
            f"{_stats(factored)}; composed single layer: {_stats(original)}"
        )
    return max_error


def _number(what: str, value) -> int:
    if not is_known(value):
        raise ValueError(f"{what} is symbolic ({value}); give every size as a number")
    return int(value)
