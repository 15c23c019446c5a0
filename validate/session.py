"""One run of an experiment: set TensorFlow up, plan, measure, store, summarise.

This is where TensorFlow is first imported (thread pools must be configured
before any op runs).  Experiments may share one ``--out`` folder, since the
report reads them all from it, but a table that already holds results is
only ever continued with ``--resume``, and only by the machine that
measured it.
"""

from __future__ import annotations

import csv
import pathlib
import sys

from costmodel.latency import DeviceProfile
from validate import accuracy, environment, experiments, runner, summary, tf_runtime
from validate.progress import Progress
from validate.store import ResultsExistError, ResultStore
from validate.timing import TimingPolicy

# Timing: ±2% on the median's 95% interval, or the profile's budget, whichever comes first.
TARGET_CI_RELATIVE = 0.02
MIN_SAMPLE_SECONDS = 0.002  # group very short calls so the clock's resolution does not matter
GUARANTEED_SAMPLES = 5  # even a call slower than the budget gets a median and a spread

EXPERIMENTS = {
    "seed": (experiments.seed_plan, runner.measure_seed, summary.seed_summary),
    "factorizations": (experiments.factorization_plan, runner.measure_factorization,
                       summary.factorization_summary),
}


def timing_policy(chosen: experiments.Profile) -> TimingPolicy:
    return TimingPolicy(warmup_calls=2, min_samples=7, max_samples=chosen.max_samples,
                        target_ci_relative=TARGET_CI_RELATIVE, budget_seconds=chosen.budget_seconds,
                        min_sample_seconds=MIN_SAMPLE_SECONDS, guaranteed_samples=GUARANTEED_SAMPLES)


def machine_metadata() -> dict:
    backend = {**tf_runtime.versions(), "gpus": tf_runtime.gpu_names(),
               "gpu_driver": environment.gpu_driver()}
    return environment.machine_info(backend)


def open_store(args, table: str, threads: dict, argv: list[str]) -> ResultStore:
    """The results folder, refusing to overwrite this experiment's table without --resume."""
    metadata = {"machine": machine_metadata(), **environment.run_info(["validate", *argv], threads)}
    if (args.out / f"{table}.csv").exists() and not args.resume:
        raise ResultsExistError(f"{args.out} already holds {table} results; pass --resume to "
                                "continue them or choose another --out")
    return ResultStore(args.out, metadata, resume=True)


def profile_path(out: pathlib.Path, device: str) -> pathlib.Path:
    """Where ``calibrate`` writes, and ``factorizations`` looks for, a device's profile."""
    return out / f"device_profile_{device}.json"


def device_profiles(args, devices: list[str]) -> dict:
    """The latency model's profile per device: --device-profile, or one calibrated into --out."""
    given = getattr(args, "device_profile", None)
    if given is not None:
        profile = DeviceProfile.load(given)
        return {device: profile for device in devices if device == profile.device}
    return {device: DeviceProfile.load(profile_path(args.out, device))
            for device in devices if profile_path(args.out, device).exists()}


def run_experiment(name: str, chosen: experiments.Profile, args, argv: list[str]) -> int:
    """Measure every configuration of the plan not yet in the store; 1 if a cross-check failed."""
    make_plan, measure_one, summarise = EXPERIMENTS[name]
    threads = tf_runtime.configure_threads(args.threads, args.inter_threads)
    devices, notice = tf_runtime.resolve_devices(args.device)
    if notice:
        print(f"validate: {notice}", file=sys.stderr)
    store = open_store(args, name, threads, argv)
    profiles = device_profiles(args, devices) if name == "factorizations" else {}
    plan = make_plan(chosen, devices)
    done = store.completed_keys(name)
    policy = timing_policy(chosen)
    progress = Progress(len(plan))
    already = sum(config.key in done for config in plan)
    if already:
        progress.skip(already)
    failed_checks = 0
    for config in plan:
        if config.key in done:
            continue
        progress.start(config.key)
        context = {"profile": profiles.get(config.device)} if profiles else {}
        outcome = measure_one(config, policy, **context)
        store.record(config.key, name, [runner.complete_row(outcome.row, runner.TABLES[name])],
                     outcome.samples)
        failed_checks += outcome.check_failed
        progress.advance(config.key)
    progress.finish()
    keys = {config.key for config in plan}
    rows = [row for row in store.read(name) if row["config_key"] in keys]
    print(summarise(rows))
    for device, profile in profiles.items():
        report_accuracy(args.out, device, profile, [row for row in rows if row["device"] == device])
    print(f"results: {args.out.resolve()}")
    if failed_checks:
        print(f"validate: {failed_checks} configuration(s) failed a cross-check against the cost "
              "model; their rows say which", file=sys.stderr)
        return 1
    return 0


def report_accuracy(out: pathlib.Path, device: str, profile: DeviceProfile, rows: list[dict]) -> None:
    """Score both models on the held-out rows; print and write ``accuracy_<device>.csv``."""
    table = accuracy.score(rows, profile.extra["seconds_per_mac"])
    if not table:
        return
    with open(out / f"accuracy_{device}.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["device", *table[0]])
        writer.writeheader()
        writer.writerows({"device": device, **row} for row in table)
    print(f"\nlatency model vs naive (time proportional to MACs), {device}, held-out rows:")
    print(accuracy.accuracy_summary(table))


def run_calibration(chosen_name: str, args, argv: list[str]) -> int:
    """Calibrate every requested device and write its profile into --out."""
    from validate.calibrate import calibrate, calibration_layers

    threads = tf_runtime.configure_threads(args.threads, args.inter_threads)
    devices, notice = tf_runtime.resolve_devices(args.device)
    if notice:
        print(f"validate: {notice}", file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    policy = timing_policy(experiments.profile(chosen_name, budget_seconds=args.budget))
    for device in devices:
        with Progress(len(calibration_layers(chosen_name))) as progress:
            profile = calibrate(device, chosen_name, policy, progress)
        machine = {"machine": machine_metadata(),
                   "run": environment.run_info(["validate", *argv], threads)}
        profile = DeviceProfile.from_dict({**profile.as_dict(), **machine})
        profile.save(profile_path(args.out, device))
        print(summary.profile_summary(profile))
        print(f"device profile: {profile_path(args.out, device).resolve()}")
    return 0
