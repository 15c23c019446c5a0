"""Fixtures of the framework tests: Keras and the network reader, imported once, only by the tests that use them."""

import pytest


@pytest.fixture(scope="module")
def keras():
    from validate.frameworks.keras_build import import_keras

    return import_keras()


@pytest.fixture(scope="module")
def reader():
    from validate.frameworks import network_reader

    return network_reader
