"""TensorFlow itself: devices, execution modes, device synchronisation, threads, versions.

Everything that touches TensorFlow at run time lives here, imported lazily,
so the measuring logic (:mod:`validate.timing`) and the experiment plans stay
testable without it.

Execution modes, each a way people really run a Keras model:

``graph`` (default)
    ``tf.function(model)``: traced once, then one graph call per step.  What a
    serving system does; the per-call Python overhead is small.
``eager``
    ``model(x)`` op by op from Python.
``predict``
    ``model.predict(x)``, the seed's own way.  Each call builds a data
    pipeline and a progress loop around the graph call; Keras documents that
    it is meant for large batches, not for timing in a loop.  Kept to show
    how much of the seed's measurement was that overhead.
``xla``
    ``tf.function(model, jit_compile=True)``: XLA compiles and fuses the graph.
"""

from __future__ import annotations

import os
from typing import Callable

MODES = ("graph", "eager", "predict", "xla")
DEVICES = ("cpu", "gpu")


def import_tensorflow():
    """TensorFlow with its start-up chatter reduced, imported on first use."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # e.g. the v1 profiler's deprecation notices
    return tf


def configure_threads(intra_op: int | None = None, inter_op: int | None = None) -> dict:
    """Set TensorFlow's thread pools (before any op runs) and return what is in force.

    0 means TensorFlow's own choice (as many as cores).
    """
    tf = import_tensorflow()
    if intra_op is not None:
        tf.config.threading.set_intra_op_parallelism_threads(intra_op)
    if inter_op is not None:
        tf.config.threading.set_inter_op_parallelism_threads(inter_op)
    return {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op": tf.config.threading.get_inter_op_parallelism_threads()}


def gpu_names() -> list[str]:
    """Names of the GPUs TensorFlow sees (empty on a CPU-only build or machine)."""
    tf = import_tensorflow()
    names = []
    for device in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(device)
        names.append(details.get("device_name", device.name))
    return names


def resolve_devices(requested: str) -> tuple[list[str], str | None]:
    """The devices to measure for ``cpu``, ``gpu`` or ``all``, and a notice if a GPU is missing.

    Without a GPU, ``gpu`` and ``all`` fall back to the CPU with a one-line notice.
    """
    if requested not in (*DEVICES, "all"):
        raise ValueError(f"device must be cpu, gpu or all, got {requested!r}")
    if requested == "cpu":
        return ["cpu"], None
    if gpu_names():
        return (["cpu", "gpu"] if requested == "all" else ["gpu"]), None
    return ["cpu"], "no GPU visible to TensorFlow: measuring on the CPU only"


def device_scope(device: str):
    """A ``tf.device`` context for 'cpu' or 'gpu'."""
    tf = import_tensorflow()
    return tf.device({"cpu": "/CPU:0", "gpu": "/GPU:0"}[device])


def synchronizer(device: str) -> Callable[[], None]:
    """What to run before each clock read: wait for the GPU to finish; nothing on the CPU.

    TensorFlow runs CPU ops to completion before returning to Python, but GPU
    kernels are queued asynchronously; ``sync_devices`` blocks until every
    queued kernel has finished.
    """
    if device == "cpu":
        return lambda: None
    tf = import_tensorflow()
    return tf.test.experimental.sync_devices


def compiled_call(model, inputs, mode: str, batch: int) -> Callable[[], object]:
    """A zero-argument function that runs the model once on ``inputs`` in ``mode``.

    ``inputs`` is a numpy array; for every mode but ``predict`` it is copied to
    the current device once, here, so the copy is not timed.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    tf = import_tensorflow()
    if mode == "predict":
        return lambda: model.predict(inputs, batch_size=batch, verbose=0)
    tensor = tf.constant(inputs)
    if mode == "eager":
        return lambda: model(tensor, training=False)
    function = tf.function(lambda x: model(x, training=False), jit_compile=(mode == "xla"))
    return lambda: function(tensor)


def versions() -> dict:
    """TensorFlow and Keras versions, and the Keras backend."""
    tf = import_tensorflow()
    import keras

    return {"tensorflow": tf.__version__, "keras": keras.__version__, "backend": keras.backend.backend()}
