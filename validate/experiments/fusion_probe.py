"""The probe network ``validate calibrate`` traces to measure which kernels each kind of layer runs.

One small functional model holds every layer signature
(:func:`costmodel.latency.network.signature`) that the keras.applications
families use: convolution, batch norm and activation chains with and
without a bias (MobileNet, ResNet), squeeze-and-excite (global pooling,
reshape, two convolutions with activations, a multiply: EfficientNet),
residual adds, dense connections (batch norm, ReLU, convolution,
concatenation, average pooling: DenseNet), padding, pooling, rescaling and a
softmax classifier.  :func:`measure_layer_kernels` traces one call of it at
batch 1 (:mod:`validate.frameworks.kernel_trace`) and returns the profile's
``layer_kernels``.  It is not any network the benchmark measures: its sizes
and widths are its own, and only the kernel counts are kept, never a time.
"""

from __future__ import annotations

import collections

import numpy as np

from costmodel.latency.network import signature
from validate.frameworks import kernel_trace, network_reader
from validate.frameworks.keras_build import import_keras

PROBE_SIZE = 20
PROBE_CHANNELS = 24


def probe_model():
    """The probe: every signature once or more, each layer named ``p<NN>x`` (unambiguous in name scopes)."""
    keras = import_keras()
    layers = keras.layers
    count = iter(range(1000))

    def name() -> str:
        return f"p{next(count):02d}x"

    inputs = keras.Input((PROBE_SIZE, PROBE_SIZE, 3))
    x = layers.Rescaling(1 / 255, name=name())(inputs)
    x = layers.Normalization(mean=0.5, variance=0.25, name=name())(x)
    x = layers.ZeroPadding2D(1, name=name())(x)
    x = layers.Conv2D(PROBE_CHANNELS, 3, strides=2, use_bias=False, name=name())(x)
    x = layers.BatchNormalization(name=name())(x)
    x = layers.ReLU(6.0, name=name())(x)
    y = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name=name())(x)
    y = layers.BatchNormalization(name=name())(y)
    y = layers.ReLU(name=name())(y)
    y = layers.Conv2D(PROBE_CHANNELS, 1, use_bias=False, name=name())(y)
    y = layers.BatchNormalization(name=name())(y)
    y = layers.Activation("relu", name=name())(y)
    z = layers.Conv2D(PROBE_CHANNELS, 3, padding="same", name=name())(y)  # with a bias (ResNet)
    z = layers.BatchNormalization(name=name())(z)
    x = layers.Add(name=name())([x, z])
    x = layers.Activation("relu", name=name())(x)
    x = layers.Conv2D(PROBE_CHANNELS, 1, activation="relu", name=name())(x)  # bias and activation built in
    # Squeeze and excite (EfficientNet): swish, pooling, reshape, two 1x1 convolutions, a multiply.
    s = layers.Activation("silu", name=name())(x)
    s = layers.DepthwiseConv2D(5, padding="same", use_bias=False, name=name())(s)
    s = layers.BatchNormalization(name=name())(s)
    s = layers.Activation("swish", name=name())(s)
    e = layers.GlobalAveragePooling2D(name=name())(s)
    e = layers.Reshape((1, 1, PROBE_CHANNELS), name=name())(e)
    e = layers.Conv2D(PROBE_CHANNELS // 4, 1, activation="silu", name=name())(e)
    e = layers.Conv2D(PROBE_CHANNELS, 1, activation="sigmoid", name=name())(e)
    s = layers.Multiply(name=name())([s, e])
    s = layers.Dropout(0.2, name=name())(s)
    # Dense connections (DenseNet): pre-activation, concatenation, transition pooling.
    d = layers.BatchNormalization(name=name())(s)
    d = layers.Activation("relu", name=name())(d)
    d = layers.Conv2D(PROBE_CHANNELS, 3, padding="same", use_bias=False, name=name())(d)
    x = layers.Concatenate(name=name())([s, d])
    x = layers.AveragePooling2D(2, name=name())(x)
    x = layers.MaxPooling2D(3, strides=1, padding="same", name=name())(x)
    x = layers.Activation("sigmoid", name=name())(x)
    flat = layers.Flatten(name=name())(x)
    x = layers.GlobalAveragePooling2D(name=name())(x)
    x = layers.Concatenate(name=name())([x, layers.Dense(8, name=name())(flat)])
    x = layers.Dense(10, activation="softmax", name=name())(x)
    x = layers.Dense(10, name=name())(x)
    x = layers.Activation("softmax", name=name())(x)  # MobileNet's classifier ends so
    return keras.Model(inputs, x, name="fusion_probe")


def measure_layer_kernels() -> dict[str, dict]:
    """Per layer signature: the full-tensor and small kernels it ran in the probe, and their op types.

    Where one signature ran different counts in two places (Grappler merges a
    batch norm's add with the residual add after it into one ``AddN``), the
    mean is kept, and every count seen is recorded under ``seen``.
    """
    model = probe_model()
    network = network_reader.read_network(model, skip_unknown=False)
    inputs = np.random.default_rng(0).standard_normal((1, PROBE_SIZE, PROBE_SIZE, 3)).astype(np.float32)
    traced = kernel_trace.kernels_by_layer(model, inputs)
    grouped: dict[str, list[dict]] = collections.defaultdict(list)
    for layer in network.layers:
        grouped[signature(layer)].append(traced[layer.name])
    table = {}
    for name, entries in sorted(grouped.items()):
        table[name] = {
            "full": float(np.mean([entry["full"] for entry in entries])),
            "small": float(np.mean([entry["small"] for entry in entries])),
            "ops": entries[0]["ops"],
            "seen": sorted({(entry["full"], entry["small"]) for entry in entries}),
        }
    return table
