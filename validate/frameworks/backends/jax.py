"""JAX under Keras 3: ``jax.jit`` over the model's stateless call, and asynchronous dispatch.

Execution modes:

``jit`` (natural; what ``graph`` means here)
    ``jax.jit`` of ``model.stateless_call(trainable, non_trainable, x)``:
    the Keras model as a pure function of its weights and input, traced once
    and compiled by XLA, as a JAX program runs a model.  The weights are
    passed as arguments (already on the device), not captured as constants,
    so XLA cannot fold them into the program.
``eager``
    ``model(x)`` op by op from Python (each JAX op is dispatched on its own).
``predict``
    ``model.predict(x)``, the seed's way; Keras jits its own predict step.

Synchronisation.  JAX dispatches work asynchronously *on the CPU too*: a
call returns as soon as the computation is enqueued, holding a future of
its output.  There is no "wait for the device" call, so every call made
through :meth:`JaxBackend.compiled_call` keeps its output in a pending
list, and the synchronizer blocks on all of them (``block_until_ready``),
then forgets them, before each clock read.  Blocking on every pending output,
not only the last, does not depend on the runtime finishing independent
computations in the order they were issued.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from validate.frameworks.backends.base import KerasScopedBackend


class JaxBackend(KerasScopedBackend):
    """The JAX backend; ``block_until_ready`` is injectable so synchronisation is testable."""

    def __init__(self, spec, block_until_ready: Callable[[object], object] | None = None):
        super().__init__(spec)
        self._block_until_ready = block_until_ready
        self._pending: list = []
        self._device = "cpu"

    # -- facts ---------------------------------------------------------------------------

    def version(self) -> str:
        import jax

        return jax.__version__

    def gpu_names(self) -> list[str]:
        import jax

        try:
            devices = jax.devices("gpu")
        except RuntimeError:  # no GPU platform in this jaxlib, or no GPU
            return []
        return [device.device_kind for device in devices]

    def configure_threads(self, intra_op: int | None = None, inter_op: int | None = None) -> dict:
        """JAX sizes XLA's CPU thread pool itself; a request to change it is refused.

        XLA reads its threading flags once, when the CPU client starts, and
        offers no intra/inter-op setting like TensorFlow's.
        """
        if intra_op is not None or inter_op is not None:
            raise ValueError(
                "the jax backend cannot set thread pools (XLA's CPU client sizes them "
                "itself); leave --threads and --inter-threads out"
            )
        return {"intra_op": "xla default", "inter_op": "xla default"}

    # -- where and how to run ----------------------------------------------------------------

    def _jax_device(self, device: str | None = None):
        import jax

        return jax.devices(device or self._device)[0]

    def _keep(self, output):
        self._pending.append(output)
        return output

    def synchronizer(self, device: str) -> Callable[[], None]:
        """Block on every output returned since the last clock read (CPU and GPU alike)."""

        def wait() -> None:
            if not self._pending:
                return
            block = self._block_until_ready
            if block is None:
                import jax

                block = jax.block_until_ready
            pending, self._pending = self._pending, []
            block(pending)

        return wait

    def compiled_call(self, model, inputs, mode: str, batch: int) -> Callable[[], object]:
        mode = self.resolve_mode(mode)
        if mode == "predict":  # returns numpy: Keras has waited for the result already
            return lambda: model.predict(inputs, batch_size=batch, verbose=0)
        import jax

        device = self._jax_device()
        data = jax.device_put(np.asarray(inputs), device)
        if mode == "eager":
            return lambda: self._keep(model(data, training=False))
        trainable = [jax.device_put(v.value, device) for v in model.trainable_variables]
        non_trainable = [jax.device_put(v.value, device) for v in model.non_trainable_variables]

        def forward(trainable, non_trainable, x):
            outputs, _ = model.stateless_call(trainable, non_trainable, x, training=False)
            return outputs

        compiled = jax.jit(forward)
        return lambda: self._keep(compiled(trainable, non_trainable, data))

    def matmul_call(self, side: int) -> Callable[[], object]:
        import jax

        matrix = self._random((side, side))
        product = jax.jit(lambda a: a @ a)
        return lambda: self._keep(product(matrix))

    def scale_call(self, elements: int) -> Callable[[], object]:
        import jax

        data = self._random((elements,))
        scale = jax.jit(lambda x: x * 2.0)
        return lambda: self._keep(scale(data))

    def _random(self, shape: tuple):
        import jax

        values = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        return jax.device_put(values, self._jax_device())


BACKEND_CLASS = JaxBackend
