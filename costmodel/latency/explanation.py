"""Why a measured time ratio is not the MAC ratio, in English, from the latency model's terms."""

from __future__ import annotations

import math

from costmodel.block import Block
from costmodel.latency.predict import call_seconds, kernel_shape, predict_layers, predict_seconds
from costmodel.latency.profile import DeviceProfile
from costmodel.layer import ConvLayer

KERNEL_FACTOR_NOTED = 1.1  # explain names kernel factors further apart than this


def _share(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f}%"


def explain(original: ConvLayer, factorized: Block, profile: DeviceProfile, repeats: int = 1) -> str:
    """Why the measured ratio is not the MAC ratio, in one line, from the model's terms.

    Each candidate reason is weighed by the share of the factorized block's
    predicted time it accounts for, and the two largest are given: time in
    memory-bound layers (under the ridge point, where a MAC saving cannot
    show); fixed overheads (more layers, more of them); and time lost to a
    factor kind reaching a smaller share of peak compute than the original;
    and kernels the calibration measured running faster or slower than their
    kind's roofline, unlike the original's (kernel factors more than 10% apart).
    """
    before, after = predict_layers(original, profile), predict_layers(factorized, profile)
    total = predict_seconds(factorized, profile, repeats)
    reasons = []
    memory_bound = [p for p in after if p.bound == "memory"]
    if memory_bound:
        slowest = max(memory_bound, key=lambda p: p.seconds)
        reasons.append(
            (
                repeats * sum(p.seconds for p in memory_bound) / total,
                f"{slowest.layer.describe()}: {slowest.intensity:.1f} FLOP/byte, under the ridge "
                f"at {profile.ridge_point:.0f} FLOP/byte: memory-bound, so its MAC saving cannot appear",
            )
        )
    overhead = call_seconds(factorized, profile) + repeats * sum(p.overhead_seconds for p in after)
    reasons.append(
        (
            overhead / total,
            f"{original.c_out} channels, {original.height}x{original.width}: fixed per-op "
            f"overhead is {_share(overhead, total)} of the factorized block's predicted time",
        )
    )
    original_efficiency = before[0].efficiency
    slower = [p for p in after if p.bound == "compute" and p.efficiency < original_efficiency]
    if slower:
        weakest = min(slower, key=lambda p: p.efficiency)
        lost = repeats * sum(p.compute_seconds * (1 - p.efficiency / original_efficiency) for p in slower)
        reasons.append(
            (
                lost / total,
                f"{weakest.kind} layers reach {weakest.efficiency:.0%} of the peak compute rate "
                f"here, the original {before[0].kind} layer {original_efficiency:.0%}",
            )
        )
    original_factor = before[0].kernel_factor
    unlike = [p for p in after if abs(math.log(p.kernel_factor / original_factor)) > math.log(KERNEL_FACTOR_NOTED)]
    if unlike:
        furthest = max(unlike, key=lambda p: abs(math.log(p.kernel_factor / original_factor)))
        shifted = repeats * sum(abs(p.kernel_factor - original_factor) * p.unfactored_seconds for p in unlike)
        reasons.append(
            (
                shifted / total,
                f"measured {kernel_shape(furthest.layer)} kernels take {furthest.kernel_factor:.2f}x their kind's "
                f"roofline time at this shape, the original {kernel_shape(before[0].layer)} {original_factor:.2f}x",
            )
        )
    reasons.sort(key=lambda reason: reason[0], reverse=True)
    return "; ".join(text for _, text in reasons[:2])
