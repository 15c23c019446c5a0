"""LiteRT (TensorFlow Lite) with XNNPACK: the runtime MobileNets are deployed on, as a backend.

Modes are number formats, not ways of calling a framework: ``fp32`` (the
natural mode) and ``int8`` (full-integer post-training quantization).  Each
Keras model is built on TensorFlow, converted once through a SavedModel,
checked (builtin operators only, how many nodes XNNPACK took, its output
against Keras's) and given to an interpreter with :attr:`threads` threads,
all before anything is timed; the timed call is ``invoke()`` on inputs set
once.  See :mod:`validate.frameworks.litert` for the conversion and its checks.

The interpreter runs on the CPU: there is no GPU delegate here, so ``gpu``
falls back to the CPU with a notice, as on a machine without a GPU.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable

import numpy as np

from validate.frameworks import keras_build, litert
from validate.frameworks.backends.base import Backend
from validate.frameworks.backends.tensorflow import import_tensorflow


def available_cores() -> int:
    """The cores this process may run on (its affinity), the interpreter's default thread count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _random(shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(0).standard_normal(shape).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class InvokeCall:
    """The timed call of a converted model, with what was checked about it."""

    invoke: Callable[[], object]
    checked: litert.Checked

    def __call__(self) -> object:
        return self.invoke()


class LiteRTBackend(Backend):
    # The Keras model it converts is TensorFlow's: the profiler counts its FLOPs.  What runs is
    # LiteRT's kernels, which that profiler does not see, so no kernel trace.
    flops_profiler = True

    def version(self) -> str:
        return litert.interpreter_info()["interpreter_version"]

    def versions(self) -> dict:
        return {"tensorflow": import_tensorflow().__version__, **super().versions(), **litert.interpreter_info()}

    def gpu_names(self) -> list[str]:
        return []

    def configure_threads(self, intra_op: int | None = None, inter_op: int | None = None) -> dict:
        """The interpreter's thread count: ``intra_op``, or every available core for None or 0."""
        if inter_op is not None:
            raise ValueError("the litert backend has one thread count (--threads); leave --inter-threads out")
        if intra_op is not None and intra_op < 0:
            raise ValueError(f"--threads must be 0 (every core) or more, got {intra_op}")
        self.threads = intra_op or available_cores()
        return {"intra_op": self.threads, "inter_op": "not used"}

    def device_scope(self, device: str):
        return contextlib.nullcontext()

    def synchronizer(self, device: str) -> Callable[[], None]:
        return lambda: None  # invoke() returns when the output is computed

    def _threads(self) -> int:
        if self.threads is None:
            self.configure_threads()
        assert self.threads is not None
        return self.threads

    def compiled_call(self, model, inputs, mode: str, batch: int) -> InvokeCall:
        """Convert ``model`` in ``mode``, check it, and return ``invoke()`` on ``inputs`` set once."""
        mode = self.resolve_mode(mode)
        converted = litert.convert(model, mode, inputs)
        interpreter = litert.make_interpreter(converted.content, self._threads(), inputs.shape)
        checked = litert.check_outputs(model, interpreter, inputs, converted)
        return InvokeCall(litert.invoke_call(interpreter, inputs), checked)

    def runtime_checks(self, call, prefix: str = "") -> dict:
        return call.checked.columns(prefix) if isinstance(call, InvokeCall) else {}

    def matmul_call(self, side: int) -> InvokeCall:
        """A ``side x side`` by ``side x side`` product: a bias-free dense layer at batch ``side``."""
        keras = keras_build.import_keras()
        inputs = keras.Input((side,), batch_size=side)
        model = keras.Model(inputs, keras.layers.Dense(side, use_bias=False)(inputs), name=f"matmul_{side}")
        return self.compiled_call(model, _random((side, side)), "fp32", side)

    def scale_call(self, elements: int) -> InvokeCall:
        keras = keras_build.import_keras()
        inputs = keras.Input((elements,), batch_size=1)
        model = keras.Model(inputs, keras.layers.Rescaling(2.0)(inputs), name=f"scale_{elements}")
        return self.compiled_call(model, _random((1, elements)), "fp32", 1)


BACKEND_CLASS = LiteRTBackend
