"""Predicted *time*, not just multiply-adds: a calibrated roofline plus per-op overhead.

One module per job, each importing only those listed above it:

* :mod:`costmodel.latency.kernel_factors`: the measured factor per kernel shape
  (log-linear or interpolated), its checks and its fit;
* :mod:`costmodel.latency.profile`: :class:`DeviceProfile`, the device-profile
  file format, its version and its checks;
* :mod:`costmodel.latency.predict`: the model itself (its formula is there):
  seconds per layer, per block, per call, and which predictions extrapolate;
* :mod:`costmodel.latency.explanation`: :func:`explain`, why a measured ratio is not the MAC ratio, in English;
* :mod:`costmodel.latency.calibration`: fitting a profile to measurements,
  cross-validating the model forms, scoring predictions (:func:`accuracy`).

The names below are re-exported here; the fitting is imported from its module.
"""

from costmodel.latency.explanation import KERNEL_FACTOR_NOTED, explain
from costmodel.latency.kernel_factors import GridFactor, KernelFactor, factor_from_dict, output_positions
from costmodel.latency.predict import (
    LayerPrediction,
    call_seconds,
    channel_width,
    efficiency_at,
    extrapolation,
    kernel_shape,
    layer_kind,
    predict_layer,
    predict_layers,
    predict_seconds,
    predict_time_ratio,
    tensor_bytes,
)
from costmodel.latency.profile import (
    KINDS,
    MAX_DEVICE_CHARS,
    MAX_PROFILE_BYTES,
    MODELS,
    PROFILE_VERSION,
    RANGE_FIELDS,
    REQUIRED_FIELDS,
    SANE,
    DeviceProfile,
    ProfileVersionError,
    model_of,
)

__all__ = [
    "KERNEL_FACTOR_NOTED",
    "KINDS",
    "MAX_DEVICE_CHARS",
    "MAX_PROFILE_BYTES",
    "MODELS",
    "PROFILE_VERSION",
    "RANGE_FIELDS",
    "REQUIRED_FIELDS",
    "SANE",
    "DeviceProfile",
    "GridFactor",
    "KernelFactor",
    "LayerPrediction",
    "ProfileVersionError",
    "call_seconds",
    "channel_width",
    "efficiency_at",
    "explain",
    "extrapolation",
    "factor_from_dict",
    "kernel_shape",
    "layer_kind",
    "model_of",
    "output_positions",
    "predict_layer",
    "predict_layers",
    "predict_seconds",
    "predict_time_ratio",
    "tensor_bytes",
]
