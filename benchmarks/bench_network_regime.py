"""The layer model in the network regime: batch-1 stacks of the wide, small-map layers networks end with.

    .venv/bin/python benchmarks/bench_network_regime.py results/default/device_profile_cpu.json

The calibration measures stacks of 4 layers at batch 8 on 12-40 pixels and
16-128 channels; a keras.applications network runs at batch 1, and its last
stages hold 256-2048 channels on 2-8 pixels.  Per layer below, a stack of 4 is
timed in graph mode as the calibration times it (the median of 7 rounds of
0.3 s, after a warm-up; the range of the 7 is printed beside it) and set against
the profile's prediction for the same stack, call included.  A ratio under 1:
the model predicts the layer too fast.

Last, MobileNetV2 with ``fuse``: each inverted residual becomes a 1x1 expansion
(narrow to 6x wider) and a 3x3 convolution back to narrow, whose input is six
times wider than its output; no calibration cell has that shape.  Each pair is
timed as a stack of 4 pairs the same way.

This is a benchmark, not a test: it asserts nothing, and means something
only when nothing else runs on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import time

from costmodel.block import Block, layers_of
from costmodel.latency import DeviceProfile
from costmodel.latency.predict import predict_seconds
from costmodel.layer import ConvLayer
from validate.experiments.calibrate import CALIBRATION_REPEATS, stack_call
from validate.frameworks.backends import get_backend

ROUNDS, ROUND_SECONDS, WARMUP_CALLS = 7, 0.3, 20

# (batch, size, channels, kernel): one calibration-like cell first, then the network regime.
DENSE = [(8, 24, 64, 3), (1, 24, 64, 3), (1, 16, 128, 3), (1, 8, 256, 3), (1, 4, 512, 3), (1, 2, 512, 3)]
POINTWISE = [(1, 16, 128, 1), (1, 8, 512, 1), (1, 4, 1024, 1), (1, 2, 2048, 1)]
DEPTHWISE = [(1, 32, 96), (1, 12, 384), (1, 6, 768)]
# (size, narrow, wide): MobileNetV2 alpha 1 at 96 pixels with fuse, its last three stages.
FUSED_INVERTED_RESIDUALS = [(12, 32, 192), (6, 96, 576), (3, 160, 960)]


def layers() -> list[ConvLayer]:
    chosen = [
        ConvLayer(kernel, kernel, c_in=channels, c_out=channels, height=size, width=size, batch=batch, padding="same")
        for batch, size, channels, kernel in DENSE + POINTWISE
    ]
    chosen += [
        ConvLayer.depthwise(3, 3, channels, height=size, width=size, batch=batch, padding="same")
        for batch, size, channels in DEPTHWISE
    ]
    return chosen


def fused_pairs() -> list[Block]:
    """1x1 narrow -> wide, then 3x3 wide -> narrow: a fused inverted residual, shape-preserving."""
    common = {"batch": 1, "padding": "same"}
    return [
        Block.of(
            ConvLayer(1, 1, c_in=narrow, c_out=wide, height=size, width=size, **common),
            ConvLayer(3, 3, c_in=wide, c_out=narrow, height=size, width=size, **common),
        )
        for size, narrow, wide in FUSED_INVERTED_RESIDUALS
    ]


def seconds_per_call(call) -> list[float]:
    for _ in range(WARMUP_CALLS):
        call()
    rounds = []
    for _ in range(ROUNDS):
        calls, started = 0, time.perf_counter()
        while time.perf_counter() - started < ROUND_SECONDS:
            call()
            calls += 1
        rounds.append((time.perf_counter() - started) / calls)
    return rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("device_profile", help="a profile written by python -m validate calibrate")
    args = parser.parse_args()
    profile = DeviceProfile.load(args.device_profile)
    backend = get_backend("tensorflow")
    backend.configure_threads(None, None)
    print(f"stacks of {CALIBRATION_REPEATS}, graph mode; predicted by {args.device_profile}")
    for unit in [*layers(), *fused_pairs()]:
        rounds = seconds_per_call(stack_call(backend, unit, CALIBRATION_REPEATS))
        measured = statistics.median(rounds)
        predicted = predict_seconds(unit, profile, repeats=CALIBRATION_REPEATS)
        layer = layers_of(unit)[-1]
        name = " + ".join(part.describe() for part in layers_of(unit))
        print(
            f"{name:40s} {layer.height:3d} px b{layer.batch}: measured {measured * 1e6:8.1f} us "
            f"({min(rounds) * 1e6:.0f}-{max(rounds) * 1e6:.0f}), predicted {predicted * 1e6:8.1f} us, "
            f"predicted / measured {predicted / measured:.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
