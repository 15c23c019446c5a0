"""Which kernels TensorFlow really runs for each layer of a model, read from its profiler's trace.

Graph mode rewrites a model before running it: Grappler's remapper fuses a
convolution with its bias add and activation (``_FusedConv2D``), a matrix
product with its bias and activation (``_FusedMatMul``), and oneDNN, where it
is enabled, fuses more.  Which fusions happen depends on the build, the
machine and the layer (a batch norm of Keras 3 is a multiply and an add on
variables, which the remapper does not fold into the convolution before it).
So nothing is assumed: one graph call runs under
``tf.profiler.experimental``, and every executed kernel is attributed to the
layer whose name scope it carries.  A kernel is *full* when its output has
at least half as many elements as its layer's output (it streams the
tensor; a node Grappler created, whose size the traced graph does not know, is
taken as one), *small* otherwise (a batch norm's scale and offset, computed from
its variables at every call).

The counts per layer signature go into the device profile's ``layer_kernels``
(:mod:`costmodel.latency.network`).
"""

from __future__ import annotations

import glob
import math
import re
import tempfile

from validate.frameworks.backends.tensorflow import import_tensorflow

#: Executed "ops" that move no data: reading a variable, identities, the function's arguments.
NOT_KERNELS = frozenset({"ReadVariableOp", "Identity", "NoOp", "_Arg", "_Retval", "Const", "Placeholder"})
#: The kernel a convolution or dense layer is counted by in the layer model (its other kernels are extra).
MAIN_KERNELS = frozenset(
    {
        "Conv2D", "_FusedConv2D", "DepthwiseConv2dNative", "_FusedDepthwiseConv2dNative", "MatMul",
        "_FusedMatMul", "BatchMatMulV2", "_MklFusedConv2D", "_MklNativeFusedConv2D", "_MklNativeConv2D",
        "_MklFusedDepthwiseConv2dNative", "_MklNativeFusedDepthwiseConv2dNative", "_MklNativeFusedMatMul",
        "_MklFusedMatMul", "_MklMatMul", "_MklNativeMatMul", "_MklNativeDepthwiseConv2dNative",
    }
)  # fmt: skip


def _trace_events(call) -> list[tuple[str, str]]:
    """(node name, op type) of every kernel one call of ``call`` ran, from the profiler's XSpace."""
    tf = import_tensorflow()
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    with tempfile.TemporaryDirectory(prefix="kernel-trace-") as folder:
        tf.profiler.experimental.start(folder)
        try:
            call()
        finally:
            tf.profiler.experimental.stop()
        paths = glob.glob(f"{folder}/**/*.xplane.pb", recursive=True)
        if not paths:
            raise RuntimeError("TensorFlow's profiler wrote no trace")
        space = xplane_pb2.XSpace()
        with open(paths[0], "rb") as handle:
            space.ParseFromString(handle.read())
    events = []
    for plane in space.planes:
        for line in plane.lines:
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                if ":" in name and "::" not in name:
                    node, op_type = name.rsplit(":", 1)
                    events.append((node, op_type))
    return events


def _layer_of(node: str, names: list[str]) -> str | None:
    """The layer whose name (possibly with a ``_N`` suffix TensorFlow adds) is a component of ``node``."""
    for component in node.split("/"):
        for name in names:
            if re.fullmatch(re.escape(name) + r"(_\d+)?", component):
                return name
    return None


def kernels_by_layer(model, inputs) -> dict[str, dict]:
    """Per layer name: its kernels' op types, and how many were full-tensor and small.

    The model is traced once (``tf.function``, inference mode), warmed up, and
    one call is profiled.  Layers that ran no kernel (a reshape TensorFlow
    folds away, a dropout at inference) have zero of both.
    """
    tf = import_tensorflow()
    function = tf.function(lambda tensor: model(tensor, training=False))
    concrete = function.get_concrete_function(tf.TensorSpec(inputs.shape, tf.float32))
    tensor = tf.constant(inputs)
    concrete(tensor)  # warm-up: the first call also optimizes the graph
    sizes = {}
    for operation in concrete.graph.get_operations():
        shape = operation.outputs[0].shape if operation.outputs else None
        if shape is not None and shape.rank is not None and None not in shape.as_list():
            sizes[operation.name] = math.prod(shape.as_list())
    names = sorted((layer.name for layer in model.layers), key=len, reverse=True)
    batch = int(inputs.shape[0])
    outputs = {layer.name: batch * math.prod(int(s) for s in layer.output.shape[1:]) for layer in model.layers}
    table: dict[str, dict] = {layer.name: {"ops": [], "full": 0, "small": 0} for layer in model.layers}
    seen = set()
    for node, op_type in _trace_events(lambda: concrete(tensor)):
        if op_type in NOT_KERNELS or node in seen:
            continue
        layer = _layer_of(node, names)
        if layer is None:
            continue
        seen.add(node)  # a node runs once per call; several threads may report it
        entry = table[layer]
        entry["ops"].append(op_type)
        if op_type in MAIN_KERNELS and "main" not in entry:
            entry["main"] = op_type
            continue
        full = sizes.get(node, outputs[layer]) * 2 >= outputs[layer]  # a node Grappler renamed: taken as full
        entry["full" if full else "small"] += 1
    return table
