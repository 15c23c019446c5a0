"""Shared test set-up: GPU tests skip, with the reason, where TensorFlow sees no GPU."""

import functools

import pytest


@functools.lru_cache(maxsize=None)
def visible_gpus() -> tuple:
    from validate.tf_runtime import gpu_names

    return tuple(gpu_names())


def pytest_collection_modifyitems(config, items):
    gpu_tests = [item for item in items if "gpu" in item.keywords]
    if not gpu_tests or visible_gpus():
        return
    skip = pytest.mark.skip(reason="no GPU visible to TensorFlow on this machine")
    for item in gpu_tests:
        item.add_marker(skip)
