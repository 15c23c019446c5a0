"""The frameworks Keras 3 runs on, behind one small interface (:class:`Backend`).

TensorFlow is the default and the reference: only there (and on LiteRT, which
converts TensorFlow's models) can the profiler check the cost model's FLOPs.
JAX and PyTorch measure the same Keras models; LiteRT measures them converted
for deployment (:mod:`validate.frameworks.litert`).

>>> from validate.frameworks import backends
>>> backends.NAMES
('tensorflow', 'jax', 'torch', 'litert')
>>> backends.spec("jax").natural_mode
'jit'
>>> backends.get_backend("mxnet")
Traceback (most recent call last):
...
ValueError: unknown backend 'mxnet'; known: tensorflow, jax, torch, litert

Importing this package imports no framework; :func:`get_backend` imports the
one asked for, and says how to install it when it is missing.
"""

from __future__ import annotations

import importlib
import os
import sys

from validate.frameworks.backends.base import DEVICES, Backend, BackendSpec, BackendUnavailableError

__all__ = [
    "DEVICES",
    "KNOWN_MODES",
    "NAMES",
    "SPECS",
    "Backend",
    "BackendSpec",
    "BackendUnavailableError",
    "get_backend",
    "select_keras_backend",
    "spec",
]

SPECS = {
    "tensorflow": BackendSpec(
        "tensorflow",
        "TensorFlow",
        "tensorflow",
        "pip install tensorflow-cpu",
        modes=("graph", "eager", "predict", "xla"),
        natural_mode="graph",
        module="validate.frameworks.backends.tensorflow",
    ),
    "jax": BackendSpec(
        "jax",
        "JAX",
        "jax",
        "pip install jax",
        modes=("jit", "eager", "predict"),
        natural_mode="jit",
        module="validate.frameworks.backends.jax",
    ),
    # torch==2.13.0 is the CPU build on this project's machines; see setup.cfg's backends extra.
    "torch": BackendSpec(
        "torch",
        "PyTorch",
        "torch",
        "pip install torch",
        modes=("eager", "compiled", "predict"),
        natural_mode="eager",
        module="validate.frameworks.backends.torch",
    ),
    # LiteRT converts the TensorFlow Keras model; tf.lite interprets it where ai-edge-litert is missing.
    "litert": BackendSpec(
        "litert",
        "LiteRT",
        "tensorflow",
        "pip install tensorflow-cpu (ai-edge-litert too, for the maintained interpreter)",
        modes=("fp32", "int8"),
        natural_mode="fp32",
        module="validate.frameworks.backends.litert",
        keras_backend="tensorflow",
        graph_alias=False,
    ),
}
NAMES = tuple(SPECS)
#: Every mode of any backend, and ``graph`` (each backend's natural mode).
KNOWN_MODES = tuple(dict.fromkeys(["graph", *(m for s in SPECS.values() for m in s.modes)]))

_CREATED: dict[str, Backend] = {}


def spec(name: str) -> BackendSpec:
    """The :class:`BackendSpec` called ``name``; an unknown name lists the known ones."""
    if name not in SPECS:
        raise ValueError(f"unknown backend {name!r}; known: {', '.join(NAMES)}")
    return SPECS[name]


def select_keras_backend(name: str) -> None:
    """Make Keras run ``name``'s models (LiteRT's are TensorFlow's): set ``KERAS_BACKEND``, or check Keras.

    Keras reads ``KERAS_BACKEND`` once, when it is first imported, so this
    must run before anything imports ``keras``.  An already imported Keras on
    another backend cannot be switched in the same process: that is an error
    naming both.
    """
    wanted = spec(name).keras_backend
    keras = sys.modules.get("keras")
    if keras is None:
        os.environ["KERAS_BACKEND"] = wanted
        return
    running = keras.backend.backend()
    if running != wanted:
        raise BackendUnavailableError(
            f"keras is already imported on the {running} backend and cannot switch to {wanted} "
            f"in the same process; start a new process with KERAS_BACKEND={wanted}"
        )


def get_backend(name: str) -> Backend:
    """The :class:`Backend` called ``name``, created once per process.

    Raises
    ------
    ValueError
        For an unknown name (listing the known ones).
    BackendUnavailableError
        When the framework does not import, with the command that installs it,
        e.g. ``backend jax is not installed: pip install jax``.
    """
    chosen = spec(name)
    if name not in _CREATED:
        try:
            importlib.import_module(chosen.package)
        except ImportError as error:
            if getattr(error, "name", None) == chosen.package:
                raise BackendUnavailableError(f"backend {name} is not installed: {chosen.install}") from None
            # Installed but broken (a missing shared library, a wrong build): say what failed.
            raise BackendUnavailableError(
                f"backend {name} does not import ({error}); reinstall it: {chosen.install}"
            ) from None
        module = importlib.import_module(chosen.module)
        _CREATED[name] = module.BACKEND_CLASS(chosen)
    return _CREATED[name]
