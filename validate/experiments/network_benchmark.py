"""``validate networks``: the held-out network benchmark, whole-network predictions against measurement.

A preset's networks (:data:`BENCHMARK`) span the field's families, each at a
width, input size and rewrite of its own: MobileNet (depthwise-separable),
MobileNetV2 (inverted residuals), EfficientNetB0 (squeeze-and-excite,
swish, 5x5 depthwise), ResNet50 (residual) and DenseNet121 (dense
connections).  None is the calibration's probe network
(:mod:`validate.experiments.fusion_probe`) and no layer of theirs is a
calibration stack: the calibration's batch-1 cells have widths no benchmark
network has (tests/validate/experiments/test_network_regime_held_out.py).  Each
configuration is one ``validate network --apply RULES --measure`` row of the
``networks`` table, measured in worker processes and pooled like the sweep,
with the latency model's predicted seconds of both networks and their ratio
(from the device profile in ``--out``, or ``--device-profile``).

:mod:`validate.results.network_scores` scores them: predicted against
measured seconds, predicted against measured ratios, and whether the
advisor's first choice among "leave as is" and a network's rewrites is the
measured fastest.
"""

from __future__ import annotations

import sys

from costmodel.latency import DeviceProfile
from validate.experiments import session
from validate.experiments.network_measure import PREDICTION_COLUMNS, NetworkConfig, counts_row, network_mode
from validate.frameworks.backends import Backend
from validate.results import network_scores, schema

#: Per preset: (model, alpha, input size, rules).  Several rules per network make its advisor check.
#: ``make report`` runs the default preset's (the quick one's, timed longer); full adds the other families.
_REPORTED = (
    ("MobileNet", 0.75, 128, "fuse"),
    ("MobileNetV2", 1.0, 96, "fuse"),
    ("ResNet50", None, 64, "3x3:asymmetric"),
    ("ResNet50", None, 64, "3x3:depthwise-separable"),
)
BENCHMARK = {
    "quick": _REPORTED,
    "default": _REPORTED,
    "full": (
        ("MobileNet", 1.0, 128, "fuse"),
        ("MobileNet", 0.5, 160, "fuse"),
        ("MobileNetV2", 1.0, 96, "fuse"),
        ("MobileNetV2", 0.5, 128, "fuse"),
        ("EfficientNetB0", None, 96, "5x5:stack"),
        ("EfficientNetB0", None, 96, "3x3:depthwise-separable"),
        ("ResNet50", None, 64, "3x3:asymmetric"),
        ("ResNet50", None, 64, "3x3:depthwise-separable"),
        ("ResNet50", None, 64, "7x7:stack"),
        ("DenseNet121", None, 64, "3x3:depthwise-separable"),
        ("DenseNet121", None, 64, "3x3:asymmetric"),
    ),
}
BENCHMARK["gpu"] = BENCHMARK["quick"]


def benchmark_plan(preset: str, devices: list[str], backend: str) -> list[NetworkConfig]:
    """The benchmark's configurations, per device, in the backend's natural mode."""
    mode = network_mode(None, backend)
    return [
        NetworkConfig(device, model, alpha, size, None, rules, backend=backend, mode=mode)
        for device in devices
        for model, alpha, size, rules in BENCHMARK[preset]
    ]


def run_benchmark(args, argv: list[str], backend: Backend) -> int:
    """Count and predict every configuration here, measure them in worker processes, print the scores."""
    from validate.experiments.network import network_preset

    chosen = network_preset(args)
    if getattr(args, "worker", None):
        return session.run_worker(schema.NETWORKS.name, chosen, args, argv, backend)
    threads = backend.configure_threads(args.threads, args.inter_threads)
    devices, notice = backend.resolve_devices(args.device)
    if notice:
        print(f"validate: {notice}", file=sys.stderr)
    with session.open_store(args, [schema.NETWORKS.name], threads, argv, backend) as store:
        profiles = session.device_profiles(args, devices, backend)
        missing = [device for device in devices if device not in profiles]
        if missing:
            raise ValueError(
                f"no device profile for {', '.join(missing)} in {args.out}: run python -m validate calibrate "
                f"--out {args.out} first, or give --device-profile"
            )
        plan = benchmark_plan(chosen.name, devices, backend.name)
        done = store.completed_keys(schema.NETWORKS.name)
        # The supervising process counts, checks (TensorFlow's profiler) and predicts each network once.
        predicted = {
            config.key: _counted_columns(config, profiles[config.device], backend)
            for config in plan
            if config.key not in done
        }
        failed = session.measure_plan(
            store, session.experiments_of(schema.NETWORKS.name), plan, chosen, args, argv, {},
            finish=lambda config, row: predicted.get(config.key, {}),
        )  # fmt: skip
        keys = {config.key for config in plan}
        rows = [row for row in store.read(schema.NETWORKS.name) if row["config_key"] in keys]
        print(network_scores.render(network_scores.score(rows)))
    print(f"results: {args.out.resolve()}")
    return session.report_failed_checks(failed)


def _counted_columns(config: NetworkConfig, profile: DeviceProfile, backend: Backend) -> dict:
    print(f"validate: counting and predicting {config.key}", file=sys.stderr)
    rewritten = config.load(check_flops=backend.flops_profiler)
    row = counts_row(config, rewritten, profile)
    return {key: row[key] for key in (*PREDICTION_COLUMNS, "macs_checked_by")}
