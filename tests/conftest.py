"""Shared test set-up: a test skips, saying why, where its backend is not installed or sees no GPU.

JAX and PyTorch are opt-in (``make install BACKENDS=1``); a test marked
``jax`` or ``torch`` skips with that instruction where the package is absent.

A test marked ``gpu`` runs on the backend its other marker names (``jax``,
``torch``; ``tensorflow`` otherwise).  Only the framework is asked, never
Keras, so asking does not fix the Keras backend of the test process.
"""

import functools
import importlib.util

import pytest

from validate.frameworks import backends

BACKEND_MARKERS = ("jax", "torch", "tensorflow")


@functools.cache
def gpu_absence(backend_name: str) -> str | None:
    """Why a GPU test on this backend cannot run here, or None when it can."""
    try:
        backend = backends.get_backend(backend_name)
    except backends.BackendUnavailableError as error:
        return str(error)
    if not backend.gpu_names():
        return f"no GPU visible to {backend.spec.title} on this machine"
    return None


OPTIONAL_BACKENDS = ("jax", "torch")


def pytest_collection_modifyitems(config, items):
    for item in items:
        for name in OPTIONAL_BACKENDS:
            if name in item.keywords and importlib.util.find_spec(name) is None:
                item.add_marker(pytest.mark.skip(reason=f"{name} is not installed (make install BACKENDS=1)"))
        if "gpu" not in item.keywords:
            continue
        name = next((marker for marker in BACKEND_MARKERS if marker in item.keywords), "tensorflow")
        reason = gpu_absence(name)
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))
