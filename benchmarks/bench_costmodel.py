"""How fast the cost model answers, measured side by side in one run.

Run with ``make bench`` (or ``.venv/bin/python benchmarks/bench_costmodel.py``).
It prints, on this machine:

1. wall time of CLI queries in fresh ``python -m costmodel`` processes, the
   median of several runs each: ``savings`` (closed forms written by
   costmodel.polynomial, no sympy), ``predict`` (numbers only, no sympy), and,
   for scale, ``python -c pass`` and ``python -c 'import sympy'``, which is
   what every query cost before;
2. a sweep of 10,000 configurations, exact: the block's structure derived
   once, the count formulas evaluated over the whole grid in int64 (sizes
   whose counts fit), then in Python integers (sizes up to 10^12, where int64
   would wrap); against building each configuration one at a time (timed on a
   subset, scaled up);
3. for contrast, what TensorFlow's own profiler needs to count the FLOPs of
   the seed's 16-layer model: importing TensorFlow, then per model.

This is a benchmark, not a test: the machine is shared and noisy, so it
reports medians and ratios measured in the same run rather than asserting.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time

PROFILE = {
    "version": 2,
    "device": "bench",
    "call_seconds_per_byte": 1e-10,
    "model": "roofline x log-linear kernel factor",
    "kernel_factors": {
        "dense 3x3": {
            "intercept": 0.1,
            "per_log_width": 0.05,
            "per_log_positions": -0.02,
            "width_range": [12, 144],
            "positions_range": [1152, 12800],
        },
    },
    "calibrated_range": {
        "channels": [12, 144],
        "sizes": [12, 40],
        "batches": [8, 8],
        "kernels": ["dense 3x3", "dense 5x5"],
    },
    "peak_flops_per_second": 1e11,
    "bandwidth_bytes_per_second": 1e10,
    "op_overhead_seconds": 1e-5,
    "call_overhead_seconds": 5e-5,
    "efficiency": {"dense": 0.5, "pointwise": 0.4, "depthwise": 0.45, "asymmetric": 0.25},
}


def wall_seconds(command: list[str], repeats: int = 7) -> float:
    """Median wall time of a fresh process running ``command``."""
    walls = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        walls.append(time.perf_counter() - start)
    return statistics.median(walls)


def cli_queries(profile_path: str) -> dict[str, float]:
    query = ["savings", "5x5", "--scheme", "stack", "--c-in", "64", "--c-out", "64", "--json"]
    predict = [
        "predict",
        "5x5",
        "--scheme",
        "stack",
        "--c-in",
        "64",
        "--c-out",
        "64",
        "--height",
        "32",
        "--width",
        "32",
        "--device-profile",
        profile_path,
        "--json",
    ]
    return {
        "python -c pass": wall_seconds([sys.executable, "-c", "pass"]),
        "python -c 'import sympy'": wall_seconds([sys.executable, "-c", "import sympy"]),
        "costmodel " + " ".join(query): wall_seconds([sys.executable, "-m", "costmodel", *query]),
        "costmodel predict 5x5 ... --json (all sizes given)": wall_seconds(
            [sys.executable, "-m", "costmodel", *predict]
        ),
    }


GRID = {
    "c_in": list(range(8, 258, 10)),
    "c_out": list(range(8, 208, 10)),
    "height": list(range(8, 48, 2)),
}  # 25 x 20 x 20 = 10,000
HUGE_GRID = {
    "c_in": [10**12 - 10 * i for i in range(25)],
    "c_out": [10**12 - 10 * i for i in range(20)],
    "height": list(range(10**6, 10**6 + 40, 2)),
}  # 10,000 configurations past int64


def sweep_seconds() -> dict[str, float]:
    """Seconds for 10,000 configurations: vectorised (int64, then Python ints), one by one (scaled)."""
    import numpy as np

    from costmodel.analysis import savings
    from costmodel.sweep import sweep_arrays

    sweep_arrays(["3x3"], ["asymmetric"], c_in=[8, 16])  # imports (sympy, numpy) outside the timing
    figures = {}
    for label, grid in (("int64", GRID), ("Python ints, sizes to 10^12", HUGE_GRID)):
        start = time.perf_counter()
        results = sweep_arrays(["5x5"], ["stack"], **grid)
        figures[label] = time.perf_counter() - start
        assert len(results[0]["macs_after"]) == 10_000
    figures["dtype of the 10^12 grid"] = str(results[0]["macs_after"].dtype)  # type: ignore[assignment]
    subset = 200
    rng = np.random.default_rng(0)
    counted = []
    start = time.perf_counter()
    for _ in range(subset):
        values = {name: int(rng.choice(options)) for name, options in GRID.items()}
        counted.append(savings("5x5", "stack", width=32, **values).after.macs)
    figures["one configuration at a time"] = (time.perf_counter() - start) * 10_000 / subset
    return figures


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
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(PROFILE, handle)
    for label, seconds in cli_queries(handle.name).items():
        print(f"{label}: median of 7, {seconds:.3f} s wall")
    figures = sweep_seconds()
    print(
        f"sweep of 10,000 configurations (derive once + evaluate, exact): int64 {figures['int64']:.3f} s; "
        f"sizes to 10^12 in Python ints ({figures['dtype of the 10^12 grid']} arrays) "
        f"{figures['Python ints, sizes to 10^12']:.3f} s; one configuration at a time "
        f"~{figures['one configuration at a time']:.1f} s (scaled from 200)"
    )
    profiler = tensorflow_profiler_seconds()
    if profiler is None:
        print("TensorFlow not installed: profiler comparison skipped")
    else:
        imported, per_model = profiler
        print(
            f"TensorFlow profiler, for contrast: import {imported:.1f} s, then "
            f"{per_model:.2f} s per 16-layer seed model (median of 4)"
        )


if __name__ == "__main__":
    main()
