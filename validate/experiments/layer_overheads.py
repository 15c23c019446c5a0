"""The fixed seconds one layer of each signature costs, measured in chains at one pixel.

The whole-network model (:mod:`costmodel.latency.network`) charges a layer
that is not a convolution its kernels' fixed cost plus its bytes at the
measured bandwidth.  The fixed cost of a kernel is not one number: the
calibration's op overhead is that of a convolution kernel (8.5-11 us on this
project's AMD EPYC), while an element-wise kernel on a small tensor costs
0-2 us, and a Keras batch norm, two full-tensor kernels and five small
ones, 12-19 us in all (docs/networks.md).  Charging every kernel a
convolution's overhead put a batch norm at 60-70 us and made it a third of
MobileNetV2's predicted time.

So, as nn-Meter measures each kernel rather than assuming its cost, the
calibration times, per signature the benchmark networks use, a chain of
:data:`CHAIN_LINKS` links at one pixel and 16 channels (so that bytes cost
next to nothing), each interleaved with the calibration's reference.  Each
link is the signature's layer followed by a sigmoid: Grappler folds chains
of some layers on their own (``Relu(Relu(x))`` is removed, a chain of adds
becomes one ``AddN``), never across a sigmoid.  A binary signature (``Add``,
``Multiply``) takes the chain and the model's input.  With ``c`` the call's
cost and ``S`` a sigmoid's::

    t(sigmoid chain of n) = c + n S            so S = (t(64 sigmoids) - t(1 sigmoid)) / 63
    t(chain of N links)   = c + N (fixed + S)  so fixed = (t(N links) - t(N sigmoids)) / N

A difference at or below 0 (a cost below what the timing resolves) is kept as 0.
Signatures not measured here keep the kernel counts times the op overhead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from validate.frameworks.keras_build import import_keras

CHAIN_LINKS = 64
CHAIN_CHANNELS = 16
SEPARATOR = "Activation:sigmoid"  # closes every link: nothing folds across it

#: signature -> (builds one layer of it, binary: whether it takes the chain and the input).
#: The signatures of :func:`costmodel.latency.network.signature` that the benchmark's networks and
#: the probe run; ``ReLU`` is measured as ``ReLU(6.0)``, as MobileNets use it (one ``Relu6`` kernel).
PROBES: dict[str, tuple[Callable[[Any], Any], bool]] = {
    "Add": (lambda layers: layers.Add(), True),
    "Multiply": (lambda layers: layers.Multiply(), True),
    "BatchNormalization": (lambda layers: layers.BatchNormalization(), False),
    "ReLU": (lambda layers: layers.ReLU(6.0), False),
    "Activation:relu": (lambda layers: layers.Activation("relu"), False),
    "Activation:silu": (lambda layers: layers.Activation("silu"), False),
    "Rescaling": (lambda layers: layers.Rescaling(0.5), False),
}


def chain_model(signature: str | None, links: int):
    """A Keras model of ``links`` links at 1 x 1 x CHAIN_CHANNELS: ``signature`` (None: nothing), then a sigmoid."""
    keras = import_keras()
    inputs = keras.Input((1, 1, CHAIN_CHANNELS))
    x = inputs
    for _ in range(links):
        if signature is not None:
            build, binary = PROBES[signature]
            x = build(keras.layers)([x, inputs]) if binary else build(keras.layers)(x)
        x = keras.layers.Activation("sigmoid")(x)
    return keras.Model(inputs, x)


def chain_input() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((1, 1, 1, CHAIN_CHANNELS)).astype(np.float32)


def chains() -> dict[str, tuple[str | None, int]]:
    """The chains to time, by name: (signature, links); the two sigmoid chains first."""
    separators = {"chain 1": (None, 1), f"chain {CHAIN_LINKS}": (None, CHAIN_LINKS)}
    return separators | {f"chain {CHAIN_LINKS} {signature}": (signature, CHAIN_LINKS) for signature in PROBES}


def fixed_seconds(seconds: Callable[[str], float]) -> dict[str, float]:
    """Per signature, one layer's fixed seconds from the chains' measured seconds (``seconds(name)``).

    >>> times = {"chain 1": 300.5e-6, "chain 64": 332e-6, "chain 64 Add": 396e-6,
    ...          "chain 64 BatchNormalization": 1292e-6}
    >>> table = fixed_seconds(lambda name: times.get(name, times["chain 64"]))
    >>> {name: round(table[name] * 1e6, 3) for name in ("Activation:sigmoid", "Add", "BatchNormalization", "ReLU")}
    {'Activation:sigmoid': 0.5, 'Add': 1.0, 'BatchNormalization': 15.0, 'ReLU': 0.0}
    """
    sigmoids = seconds(f"chain {CHAIN_LINKS}")
    table = {SEPARATOR: max(0.0, (sigmoids - seconds("chain 1")) / (CHAIN_LINKS - 1))}
    for signature in PROBES:
        table[signature] = max(0.0, (seconds(f"chain {CHAIN_LINKS} {signature}") - sigmoids) / CHAIN_LINKS)
    return table
