"""The harness against the seed's own method, on the seed's configurations, in one run.

The seed timed 100 ``model.predict()`` calls with ``time.time()`` after one
warm-up call, for each of 6 layer types x 4 filter counts.  This script runs,
on this machine, one after the other in the same process:

1. the whole seed sweep the seed's way: wall time;
2. the whole seed sweep through the harness (graph mode, adaptive repetition
   until the median's 95% interval is within ±2% or the budget is spent):
   wall time;
3. the spread of repeated measurements of each method, on the 8-filter
   configurations (repeating the seed's way on every configuration would
   take three quarters of an hour here): each configuration measured
   ``REPEATS`` times by each method, spread = IQR / median of those repeats,
   both of the per-call time and of the ratio to conv3x3 (the seed's
   question is a comparison: the seed's way divides two separately timed
   totals, the harness times the pair interleaved).

Run: ``.venv/bin/python benchmarks/bench_seed_method.py [--quick]``; results
are printed and written to ``benchmarks/results/seed_method.json``.
"""

from __future__ import annotations

import json
import pathlib
import statistics
import sys
import time

import numpy as np

from validate.experiments import plans, runner
from validate.experiments.session import timing_policy
from validate.frameworks import keras_build
from validate.frameworks.backends import get_backend
from validate.harness.timing import measure_interleaved

REPEATS = 5
SEED_CALLS = 100
OUT = pathlib.Path(__file__).resolve().parent / "results" / "seed_method.json"


def seed_way_seconds(config: plans.SeedConfig) -> float:
    """The seed's protocol: build, one warm-up predict, then 100 predicts timed by time.time()."""
    model = keras_build.build_model(config.unit, repeats=config.repeats)
    inputs = keras_build.random_input(config.unit, config.batch)
    model.predict(inputs, batch_size=config.batch, verbose=0)
    start = time.time()
    for _ in range(SEED_CALLS):
        model.predict(inputs, batch_size=config.batch, verbose=0)
    total = time.time() - start
    keras_build.import_keras().backend.clear_session()
    return total / SEED_CALLS


def harness_seconds(config: plans.SeedConfig, policy) -> float:
    outcome = runner.measure_seed(config, policy, backend=get_backend("tensorflow"))
    if outcome.row.get("error"):
        raise RuntimeError(outcome.row["error"])
    return float(outcome.row["geomean_seconds"])


def harness_ratio(config: plans.SeedConfig, reference: plans.SeedConfig, policy) -> float:
    """config / reference per-call time, timed interleaved in graph mode."""
    backend = get_backend("tensorflow")
    calls = [runner._timed_call(backend, c.unit, c.repeats, None, "graph", c.batch) for c in (reference, config)]
    ratio = measure_interleaved(*calls, policy=policy).ratio
    keras_build.import_keras().backend.clear_session()
    return ratio


def relative_iqr(values: list[float]) -> float:
    low, high = np.percentile(values, [25, 75])
    return float((high - low) / np.median(values))


def main() -> None:
    quick = "--quick" in sys.argv[1:]
    filters = (8, 16) if quick else (8, 16, 32, 64)
    chosen = plans.preset("default", seed_filters=filters)
    policy = timing_policy(chosen)
    graph = [c for c in plans.seed_plan(chosen, ["cpu"], modes=("graph",))]
    predict = [plans.SeedConfig(c.device, "predict", c.layer_type, c.filters) for c in graph]
    get_backend("tensorflow").configure_threads()

    start = time.perf_counter()
    seed_way = {c.key: seed_way_seconds(c) for c in predict}
    seed_wall = time.perf_counter() - start
    print(f"seed's way, {len(predict)} configurations: {seed_wall:.1f} s wall", flush=True)

    start = time.perf_counter()
    harness = {c.key: harness_seconds(c, policy) for c in graph}
    harness_wall = time.perf_counter() - start
    print(f"harness (graph mode), {len(graph)} configurations: {harness_wall:.1f} s wall", flush=True)

    spread = []
    reference_seed = next(c for c in predict if c.layer_type == "conv3x3" and c.filters == 8)
    reference_graph = next(c for c in graph if c.layer_type == "conv3x3" and c.filters == 8)
    for seed_config, graph_config in zip(predict, graph, strict=True):
        if seed_config.filters != 8:
            continue
        seed_repeats, harness_repeats, seed_ratios, harness_ratios = [], [], [], []
        for _ in range(REPEATS):
            seed_repeats.append(seed_way_seconds(seed_config))
            harness_repeats.append(harness_seconds(graph_config, policy))
            if seed_config.layer_type != "conv3x3":
                seed_ratios.append(seed_repeats[-1] / seed_way_seconds(reference_seed))
                harness_ratios.append(harness_ratio(graph_config, reference_graph, policy))
        row = {
            "layer_type": seed_config.layer_type,
            "filters": seed_config.filters,
            "seed_way_ms": 1000 * statistics.median(seed_repeats),
            "seed_way_relative_iqr": relative_iqr(seed_repeats),
            "harness_ms": 1000 * statistics.median(harness_repeats),
            "harness_relative_iqr": relative_iqr(harness_repeats),
        }
        if seed_ratios:
            row.update(
                {
                    "seed_way_ratio_vs_conv3x3": statistics.median(seed_ratios),
                    "seed_way_ratio_relative_iqr": relative_iqr(seed_ratios),
                    "harness_ratio_vs_conv3x3": statistics.median(harness_ratios),
                    "harness_ratio_relative_iqr": relative_iqr(harness_ratios),
                }
            )
        spread.append(row)
        print(row, flush=True)

    summary = {
        "seed_way_wall_seconds": seed_wall,
        "harness_wall_seconds": harness_wall,
        "wall_time_ratio": seed_wall / harness_wall,
        "median_relative_iqr_seed_way": statistics.median(r["seed_way_relative_iqr"] for r in spread),
        "median_relative_iqr_harness": statistics.median(r["harness_relative_iqr"] for r in spread),
        "median_ratio_relative_iqr_seed_way": statistics.median(
            r["seed_way_ratio_relative_iqr"] for r in spread if "seed_way_ratio_relative_iqr" in r
        ),
        "median_ratio_relative_iqr_harness": statistics.median(
            r["harness_ratio_relative_iqr"] for r in spread if "harness_ratio_relative_iqr" in r
        ),
        "repeats": REPEATS,
        "spread": spread,
        "per_call_ms": {
            "seed_way": {k: 1000 * v for k, v in seed_way.items()},
            "harness": {k: 1000 * v for k, v in harness.items()},
        },
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(summary, indent=2))
    print(
        f"wall time: seed's way {seed_wall:.1f} s, harness {harness_wall:.1f} s "
        f"({summary['wall_time_ratio']:.1f}x less); spread (median IQR/median over "
        f"{len(spread)} configurations, {REPEATS} repeats): seed's way "
        f"{summary['median_relative_iqr_seed_way']:.3f}, harness {summary['median_relative_iqr_harness']:.3f}; "
        f"of the ratio to conv3x3: seed's way {summary['median_ratio_relative_iqr_seed_way']:.3f}, "
        f"harness (interleaved) {summary['median_ratio_relative_iqr_harness']:.3f}"
    )
    print(f"written to {OUT}")


if __name__ == "__main__":
    main()
