"""The layer model in the network regime: batch-1 stacks of the wide, small-map layers networks end with.

    .venv/bin/python benchmarks/bench_network_regime.py results/default/device_profile_cpu.json

The calibration measures stacks of 4 layers at batch 8 on 12-40 pixels and
16-128 channels; a keras.applications network runs at batch 1, and its last
stages hold 256-2048 channels on 2-8 pixels.  Per layer below, a stack of 4 is
timed in graph mode as the calibration times it (the median of 7 rounds of
0.3 s, after a warm-up; the range of the 7 is printed beside it) and set against
the profile's prediction for the same stack, call included.  A ratio under 1:
the model predicts the layer too fast.

This is a benchmark, not a test: it asserts nothing, and means something
only when nothing else runs on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import time

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
    for layer in layers():
        rounds = seconds_per_call(stack_call(backend, layer, CALIBRATION_REPEATS))
        measured = statistics.median(rounds)
        predicted = predict_seconds(layer, profile, repeats=CALIBRATION_REPEATS)
        print(
            f"{layer.describe():24s} {layer.height:3d} px b{layer.batch}: measured {measured * 1e6:8.1f} us "
            f"({min(rounds) * 1e6:.0f}-{max(rounds) * 1e6:.0f}), predicted {predicted * 1e6:8.1f} us, "
            f"predicted / measured {predicted / measured:.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
