"""How fast the cost model answers, measured side by side in one run.

Run with ``make bench`` (or ``.venv/bin/python benchmarks/bench_costmodel.py``).
It prints, on this machine:

1. wall time of one CLI query (a fresh ``python -m costmodel`` process),
   the median of several runs;
2. evaluating 10,000 sweep configurations through ``lambdify``, against
   ``subs`` one configuration at a time (timed on a subset, scaled up);
3. for contrast, what TensorFlow's own profiler needs to count the FLOPs of
   the seed's 16-layer model: importing TensorFlow, then per model.

This is a benchmark, not a test: the machine is shared and noisy, so it
reports medians and ratios measured in the same run rather than asserting.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

import numpy as np


def cli_query_seconds(repeats: int = 5) -> float:
    command = [sys.executable, "-m", "costmodel", "savings", "5x5", "--scheme", "stack",
               "--c-in", "64", "--c-out", "64", "--json"]
    walls = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        walls.append(time.perf_counter() - start)
    return statistics.median(walls)


def sweep_seconds() -> tuple[float, float, int]:
    """(lambdify seconds for 10,000 configurations, subs seconds scaled to 10,000, configurations)."""
    from costmodel.analysis import SYMBOL_FOR, savings
    from costmodel.sweep import sweep_arrays

    grid = {"c_in": list(range(8, 258, 10)), "c_out": list(range(8, 208, 10)),
            "height": list(range(8, 48, 2))}  # 25 x 20 x 20 = 10,000
    start = time.perf_counter()
    results = sweep_arrays(["5x5"], ["stack"], **grid)
    lambdified = time.perf_counter() - start
    configurations = len(results[0]["macs_after"])

    comparison = savings("5x5", "stack", c_in=SYMBOL_FOR["c_in"], c_out=SYMBOL_FOR["c_out"],
                         height=SYMBOL_FOR["height"], width=32)
    after = comparison.block.counts().macs
    subset = 200
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for _ in range(subset):
        values = {SYMBOL_FOR[name]: int(rng.choice(options)) for name, options in grid.items()}
        after.subs(values)
    substituted = (time.perf_counter() - start) * configurations / subset
    return lambdified, substituted, configurations


def tensorflow_profiler_seconds() -> tuple[float, float] | None:
    """(import seconds, seconds per 16-layer model) for the TF profiler's FLOP count, if installed."""
    start = time.perf_counter()
    try:
        import os
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf
    except ImportError:
        return None
    imported = time.perf_counter() - start
    per_model = []
    for filters in (8, 16, 32, 64):
        start = time.perf_counter()
        layers = [tf.keras.layers.Conv2D(filters, 3, padding="same", use_bias=False) for _ in range(16)]
        model = tf.keras.Sequential([tf.keras.Input((32, 32, filters))] + layers)
        function = tf.function(model).get_concrete_function(tf.TensorSpec([32, 32, 32, filters]))
        options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
        options["output"] = "none"
        tf.compat.v1.profiler.profile(function.graph, options=options)
        per_model.append(time.perf_counter() - start)
    return imported, statistics.median(per_model)


def main() -> None:
    query = cli_query_seconds()
    print(f"CLI query (python -m costmodel savings ... --json), median of 5: {query:.3f} s wall")
    lambdified, substituted, configurations = sweep_seconds()
    print(f"sweep of {configurations:,} configurations: lambdify {lambdified:.3f} s "
          f"(derive + compile + evaluate); subs one by one ~{substituted:.1f} s "
          f"(scaled from 200); {substituted / lambdified:.0f}x")
    profiler = tensorflow_profiler_seconds()
    if profiler is None:
        print("TensorFlow not installed: profiler comparison skipped")
    else:
        imported, per_model = profiler
        print(f"TensorFlow profiler, for contrast: import {imported:.1f} s, then "
              f"{per_model:.2f} s per 16-layer seed model (median of 4)")


if __name__ == "__main__":
    main()
