"""The fixed seconds one layer of each signature costs, measured in chains at one pixel.

The whole-network model (:mod:`costmodel.latency.network`) charges a layer
that is not a convolution its kernels' fixed cost plus its bytes at the
measured bandwidth.  The fixed cost of a kernel is not one number: the
calibration's op overhead is that of a convolution kernel (7-10 us here),
while an element-wise kernel such as ``AddV2`` costs about 1 us, and a Keras
batch norm, two full-tensor kernels and five small ones, about 14 us in all
(measured on the AMD EPYC of 2026-12-06, docs/networks.md).  Charging every
kernel a convolution's overhead put a batch norm at 60-70 us and made it a
third of MobileNetV2's predicted time.

So, as nn-Meter measures each kernel rather than assuming its cost, the
calibration times, per signature the benchmark networks use, a chain of
:data:`CHAIN_LINKS` links at one pixel and 16 channels (so that bytes cost
nothing) against a chain of one link, both interleaved with the calibration's
reference.  A *binary* signature (``Add``, ``Multiply``) is its own link,
fed the chain and the model's input; a *unary* one is followed in each link
by an ``Add`` of the input, so that Grappler cannot fold the chain (it
removes ``Relu(Relu(x))``), and the ``Add`` chain's cost per link is
subtracted.  Per layer::

    fixed seconds = (t(chain of N) - t(chain of 1)) / (N - 1)  [- the Add's, for a unary link]

Signatures not measured here keep the kernel counts times the op overhead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from validate.frameworks.keras_build import import_keras

CHAIN_LINKS = 64
CHAIN_CHANNELS = 16

#: signature -> (builds one layer of it, binary: whether it takes the chain and the input).
#: The signatures of :func:`costmodel.latency.network.signature` that the benchmark's networks and
#: the probe run; ``ReLU`` is measured as ``ReLU(6.0)``, as MobileNets use it (one ``Relu6`` kernel).
PROBES: dict[str, tuple[Callable[[Any], Any], bool]] = {
    "Add": (lambda layers: layers.Add(), True),
    "Multiply": (lambda layers: layers.Multiply(), True),
    "BatchNormalization": (lambda layers: layers.BatchNormalization(), False),
    "ReLU": (lambda layers: layers.ReLU(6.0), False),
    "Activation:relu": (lambda layers: layers.Activation("relu"), False),
    "Activation:sigmoid": (lambda layers: layers.Activation("sigmoid"), False),
    "Activation:silu": (lambda layers: layers.Activation("silu"), False),
    "Rescaling": (lambda layers: layers.Rescaling(0.5), False),
}
BASELINE = "Add"  # the link a unary probe is chained with, and the short chain's only layer


def chain_model(signature: str, links: int):
    """A Keras model of ``links`` links of ``signature`` at 1 x 1 x CHAIN_CHANNELS."""
    keras = import_keras()
    build, binary = PROBES[signature]
    inputs = keras.Input((1, 1, CHAIN_CHANNELS))
    x = inputs
    for _ in range(links):
        x = build(keras.layers)([x, inputs]) if binary else keras.layers.Add()([build(keras.layers)(x), inputs])
    return keras.Model(inputs, x)


def chain_input() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((1, 1, 1, CHAIN_CHANNELS)).astype(np.float32)


def chains() -> dict[str, tuple[str, int]]:
    """The chains to time, by name: (signature, links); the short chain first."""
    return {"chain 1": (BASELINE, 1)} | {
        f"chain {CHAIN_LINKS} {signature}": (signature, CHAIN_LINKS) for signature in PROBES
    }


def fixed_seconds(seconds: Callable[[str], float]) -> dict[str, float]:
    """Per signature, one layer's fixed seconds from the chains' measured seconds (``seconds(name)``).

    >>> times = {"chain 1": 300e-6, "chain 64 Add": 363e-6, "chain 64 Multiply": 426e-6,
    ...          "chain 64 BatchNormalization": 1245e-6}
    >>> table = fixed_seconds(lambda name: times.get(name, times["chain 64 Add"]))
    >>> {name: round(table[name] * 1e6, 3) for name in ("Add", "Multiply", "BatchNormalization")}
    {'Add': 1.0, 'Multiply': 2.0, 'BatchNormalization': 14.0}

    A negative difference (noise around a cost of nearly nothing) is kept as 0.
    """
    short = seconds("chain 1")
    per_link = {
        signature: (seconds(f"chain {CHAIN_LINKS} {signature}") - short) / (CHAIN_LINKS - 1) for signature in PROBES
    }
    return {
        signature: max(0.0, link - (0.0 if PROBES[signature][1] else per_link[BASELINE]))
        for signature, link in per_link.items()
    }
