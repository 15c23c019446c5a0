"""Shared test set-up: a GPU test skips, saying why, where its backend sees no GPU.

A test marked ``gpu`` runs on the backend its other marker names (``jax``,
``torch``; ``tensorflow`` otherwise).  Only the framework is asked, never
Keras, so asking does not fix the Keras backend of the test process.
"""

import functools

import pytest

from validate.frameworks import backends

BACKEND_MARKERS = ("jax", "torch", "tensorflow")


@functools.lru_cache(maxsize=None)
def gpu_absence(backend_name: str) -> str | None:
    """Why a GPU test on this backend cannot run here, or None when it can."""
    try:
        backend = backends.get_backend(backend_name)
    except backends.BackendUnavailableError as error:
        return str(error)
    if not backend.gpu_names():
        return f"no GPU visible to {backend.spec.title} on this machine"
    return None


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "gpu" not in item.keywords:
            continue
        name = next((marker for marker in BACKEND_MARKERS if marker in item.keywords), "tensorflow")
        reason = gpu_absence(name)
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))
