"""PyTorch under Keras 3: eager by default, ``torch.compile`` on request, CUDA synchronisation.

Execution modes:

``eager`` (natural; what ``graph`` means here)
    ``model(x)``: PyTorch runs op by op from Python, and that is how a
    PyTorch model is normally run.
``compiled``
    ``torch.compile`` of ``model(x)``: TorchDynamo captures the graph and
    Inductor generates fused kernels (C++ on the CPU, Triton on a GPU).
    Compiling takes seconds to minutes per model, so it is an opt-in mode
    (``--modes compiled``), not the default.
``predict``
    ``model.predict(x)``, the seed's way.

Every call runs under ``torch.no_grad()``: Keras's weights are trainable
``torch.nn.Parameter`` objects, and without it each forward pass would also
record the graph for a backward pass that never comes.

Synchronisation.  PyTorch returns from a CPU op when it has finished, but
queues CUDA kernels on a stream and returns at once; on the GPU the
synchronizer is ``torch.cuda.synchronize()``, which waits for every queued
kernel of the device.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from validate.frameworks.backends.base import KerasScopedBackend


def _torch():
    import torch

    return torch


class TorchBackend(KerasScopedBackend):
    def __init__(self, spec):
        super().__init__(spec)
        self._device = "cpu"

    def version(self) -> str:
        return _torch().__version__

    def gpu_names(self) -> list[str]:
        torch = _torch()
        if not torch.cuda.is_available():
            return []
        return [torch.cuda.get_device_name(index) for index in range(torch.cuda.device_count())]

    def configure_threads(self, intra_op: int | None = None, inter_op: int | None = None) -> dict:
        """Set PyTorch's intra- and inter-op pools; 0 (or nothing) keeps its own choice.

        PyTorch accepts the inter-op size only before its first parallel work,
        which is why this runs before any model is built.
        """
        torch = _torch()
        if intra_op:
            torch.set_num_threads(intra_op)
        if inter_op:
            torch.set_num_interop_threads(inter_op)
        return {"intra_op": torch.get_num_threads(), "inter_op": torch.get_num_interop_threads()}

    def _torch_device(self):
        return _torch().device("cuda" if self._device == "gpu" else "cpu")

    def synchronizer(self, device: str) -> Callable[[], None]:
        """``torch.cuda.synchronize`` on the GPU; nothing on the CPU, where ops finish in the call."""
        if device != "gpu":
            return lambda: None
        torch = _torch()
        return lambda: torch.cuda.synchronize()

    def compiled_call(self, model, inputs, mode: str, batch: int) -> Callable[[], object]:
        mode = self.resolve_mode(mode)
        if mode == "predict":
            return lambda: model.predict(inputs, batch_size=batch, verbose=0)
        torch = _torch()
        data = torch.as_tensor(np.asarray(inputs)).to(self._torch_device())

        def forward(x):
            return model(x, training=False)

        if mode == "compiled":
            forward = torch.compile(forward)

        def call():
            with torch.no_grad():
                return forward(data)

        return call

    def matmul_call(self, side: int) -> Callable[[], object]:
        torch = _torch()
        matrix = self._random((side, side))

        def call():
            with torch.no_grad():
                return matrix @ matrix

        return call

    def scale_call(self, elements: int) -> Callable[[], object]:
        torch = _torch()
        data = self._random((elements,))

        def call():
            with torch.no_grad():
                return data * 2.0

        return call

    def _random(self, shape: tuple):
        values = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        return _torch().as_tensor(values).to(self._torch_device())


BACKEND_CLASS = TorchBackend
