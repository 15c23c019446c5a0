"""TensorFlow, the reference backend: devices, modes, synchronisation, threads, versions.

Execution modes, each a way people really run a Keras model:

``graph`` (natural)
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

Only this backend checks FLOPs: TensorFlow's profiler counts the traced
graph (see :mod:`validate.frameworks.crosscheck`).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from validate.frameworks.backends.base import Backend


def import_tensorflow():
    """TensorFlow with its start-up chatter reduced, imported on first use."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # e.g. the v1 profiler's deprecation notices
    return tf


class TensorFlowBackend(Backend):
    flops_profiler = True
    traces_kernels = True

    def version(self) -> str:
        return import_tensorflow().__version__

    def versions(self) -> dict:
        # "tensorflow" stays beside backend_version: results folders and the report read it.
        return {"tensorflow": self.version(), **super().versions()}

    def configure_threads(self, intra_op: int | None = None, inter_op: int | None = None) -> dict:
        """Set TensorFlow's thread pools (before any op runs); 0 means its own choice (all cores)."""
        tf = import_tensorflow()
        if intra_op is not None:
            tf.config.threading.set_intra_op_parallelism_threads(intra_op)
            self.threads = intra_op or None  # 0: TensorFlow's own choice
        if inter_op is not None:
            tf.config.threading.set_inter_op_parallelism_threads(inter_op)
        return {
            "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
        }

    def gpu_names(self) -> list[str]:
        tf = import_tensorflow()
        names = []
        for device in tf.config.list_physical_devices("GPU"):
            details = tf.config.experimental.get_device_details(device)
            names.append(details.get("device_name", device.name))
        return names

    def device_scope(self, device: str):
        tf = import_tensorflow()
        return tf.device({"cpu": "/CPU:0", "gpu": "/GPU:0"}[device])

    def synchronizer(self, device: str) -> Callable[[], None]:
        """Wait for the GPU to finish; nothing on the CPU.

        TensorFlow runs CPU ops to completion before returning to Python, but GPU
        kernels are queued asynchronously; ``sync_devices`` blocks until every
        queued kernel has finished.
        """
        if device == "cpu":
            return lambda: None
        return import_tensorflow().test.experimental.sync_devices

    def compiled_call(self, model, inputs, mode: str, batch: int) -> Callable[[], object]:
        mode = self.resolve_mode(mode)
        tf = import_tensorflow()
        if mode == "predict":
            return lambda: model.predict(inputs, batch_size=batch, verbose=0)
        tensor = tf.constant(inputs)
        if mode == "eager":
            return lambda: model(tensor, training=False)
        function = tf.function(lambda x: model(x, training=False), jit_compile=(mode == "xla"))
        return lambda: function(tensor)

    def matmul_call(self, side: int) -> Callable[[], object]:
        tf = import_tensorflow()
        matrix = tf.random.normal([side, side])
        return tf.function(lambda: tf.linalg.matmul(matrix, matrix))

    def scale_call(self, elements: int) -> Callable[[], object]:
        tf = import_tensorflow()
        data = tf.random.normal([elements])
        return tf.function(lambda: data * 2.0)


BACKEND_CLASS = TensorFlowBackend
