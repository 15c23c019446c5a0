"""One run of an experiment: set the backend up, plan, measure, store, summarise.

This is where the backend's framework first runs (thread pools must be
configured before any op runs); :mod:`validate.cli` has chosen the backend,
and set ``KERAS_BACKEND``, before anything imported Keras.  Experiments may
share one ``--out`` folder, since the report reads them all from it, but a
table that already holds results is only ever continued with ``--resume``,
and only by the machine (and backend) that measured it.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import pathlib
import sys
from collections.abc import Callable
from typing import Any

from costmodel.latency import DeviceProfile
from validate.experiments import network_measure, plans, pooling, process_runs, runner, workers
from validate.experiments.progress import Progress
from validate.frameworks.backends import Backend
from validate.harness.timing import TimingPolicy
from validate.results import accuracy, environment, schema, summary
from validate.results.store import ResultsExistError, ResultStore, csv_text

# Timing: ±2% on the median's 95% interval, or the preset's budget, whichever comes first.
TARGET_CI_RELATIVE = 0.02
MIN_SAMPLE_SECONDS = 0.002  # group very short calls so the clock's resolution does not matter
GUARANTEED_SAMPLES = 5  # even a call slower than the budget gets a median and a spread


@dataclasses.dataclass(frozen=True)
class Experiment:
    """What an experiment is made of, and what it needs; the session treats every one alike.

    ``plan(preset, devices, args, backend name)`` lists its configurations; ``finish(config, row,
    profile)``, when given, adds what is judged once a row's value is combined over processes.
    """

    table: schema.MeasuredTable  # where its rows go, and how they are pooled and retested
    plan: Callable[..., list]
    measure: Callable[..., runner.Outcome]
    summarise: Callable[[list[dict]], str] | None  # its rows in a table at the end of a run; None: its command's own
    finish: Callable[[Any, dict, DeviceProfile | None], dict] | None = None
    uses_device_profile: bool = False  # rows carry the latency model's prediction and reasons


EXPERIMENTS = {
    experiment.table.name: experiment
    for experiment in (
        Experiment(
            schema.SEED,
            lambda chosen, devices, args, backend: plans.seed_plan(chosen, devices, backend=backend),
            runner.measure_seed,
            summary.seed_summary,
        ),
        Experiment(
            schema.FACTORIZATIONS,
            lambda chosen, devices, args, backend: plans.factorization_plan(chosen, devices, backend=backend),
            runner.measure_factorization,
            summary.factorization_summary,
            finish=runner.judged_columns,
            uses_device_profile=True,
        ),
        Experiment(
            schema.NETWORKS,
            network_measure.network_plan,
            network_measure.measure_network,
            None,  # validate network renders its own result
        ),
    )
}
#: Commands that run several experiments in the same worker processes (one framework import each):
#: the tables whose descriptors name the command.
SWEEPS = {"sweep": tuple(name for name, table in schema.MEASURED_TABLES.items() if "sweep" in table.commands)}


def experiments_of(name: str) -> list[Experiment]:
    return [EXPERIMENTS[part] for part in SWEEPS.get(name, (name,))]


def experiment_for(config) -> Experiment:
    """The experiment a configuration of a (mixed) plan belongs to."""
    return EXPERIMENTS[config.table.name]


def timing_policy(chosen: plans.Preset) -> TimingPolicy:
    return TimingPolicy(
        warmup_calls=2,
        min_samples=7,
        max_samples=chosen.max_samples,
        target_ci_relative=TARGET_CI_RELATIVE,
        budget_seconds=chosen.budget_seconds,
        min_sample_seconds=MIN_SAMPLE_SECONDS,
        guaranteed_samples=GUARANTEED_SAMPLES,
    )


def machine_metadata(backend: Backend) -> dict:
    """The machine's fingerprint, with the backend and its version: folders never mix backends."""
    facts = {**backend.versions(), "gpus": backend.gpu_names(), "gpu_driver": environment.gpu_driver()}
    return environment.machine_info(facts)


def open_store(args, tables: list[str], threads: dict, argv: list[str], backend: Backend) -> ResultStore:
    """The results folder, refusing to overwrite these experiments' tables without --resume.

    Experiments share a folder, so the store is always opened for resuming;
    only a table of this run's own that already holds rows needs --resume.
    What opening repaired is printed: nothing is dropped without saying so.
    """
    metadata = {"machine": machine_metadata(backend), **environment.run_info(["validate", *argv], threads)}
    store = ResultStore(args.out, metadata, resume=True)
    for table in tables:
        if store.completed_keys(table) and not args.resume:
            store.close()
            raise ResultsExistError(
                f"{args.out} already holds {table} results; pass --resume to continue them or choose another --out"
            )
    for repair in store.repairs:
        print(f"validate: {args.out}: {repair}", file=sys.stderr)
    return store


def profile_path(out: pathlib.Path, device: str) -> pathlib.Path:
    """Where ``calibrate`` writes, and ``factorizations`` looks for, a device's profile."""
    return out / f"device_profile_{device}.json"


def check_profile_backend(path: pathlib.Path, backend: Backend) -> None:
    """Refuse a profile in --out calibrated on another backend: its overheads are not this one's."""
    if not path.exists():
        return
    machine = DeviceProfile.load(path).extra.get("machine") or {}
    calibrated_on = machine.get("backend", "tensorflow")  # profiles before backends were TensorFlow's
    if calibrated_on != backend.name:
        raise ValueError(
            f"{path} was calibrated on the {calibrated_on} backend and this run uses "
            f"{backend.name}: give each backend its own --out"
        )


def device_profiles(args, devices: list[str], backend: Backend) -> dict:
    """The latency model's profile per device: --device-profile, or one calibrated into --out.

    A profile named by --device-profile is used as given, whichever backend
    calibrated it; one found in --out must be this backend's.
    """
    given = getattr(args, "device_profile", None)
    if given is not None:
        profile = DeviceProfile.load(given)
        return {device: profile for device in devices if device == profile.device}
    profiles = {}
    for device in devices:
        path = profile_path(args.out, device)
        if path.exists():
            check_profile_backend(path, backend)
            profiles[device] = DeviceProfile.load(path)
    return profiles


def run_experiment(name: str, chosen: plans.Preset, args, argv: list[str], backend: Backend) -> int:
    """Measure every configuration of the plan not yet in the store; 1 if a cross-check failed.

    ``chosen``'s modes are already the backend's own (``graph`` resolved).  The
    measuring is done by worker processes (:func:`run_worker`), each into its
    own folder under ``<out>/processes``; their rows are then combined, one row
    per configuration, into ``--out`` (:mod:`validate.experiments.pooling`).
    ``name`` is an experiment or a sweep of several (``sweep``: seed and factorizations).
    """
    if getattr(args, "worker", None):
        return run_worker(name, chosen, args, argv, backend)
    experiments = experiments_of(name)
    threads = backend.configure_threads(args.threads, args.inter_threads)
    devices, notice = backend.resolve_devices(args.device)
    if notice:
        print(f"validate: {notice}", file=sys.stderr)
    with open_store(args, [experiment.table.name for experiment in experiments], threads, argv, backend) as store:
        uses_profile = any(experiment.uses_device_profile for experiment in experiments)
        profiles = device_profiles(args, devices, backend) if uses_profile else {}
        plan = experiment_plan(experiments, chosen, devices, args, backend)
        failed_checks = measure_plan(store, experiments, plan, chosen, args, argv, profiles)
        keys = {config.key for config in plan}
        for experiment in experiments:
            rows = [row for row in store.read(experiment.table.name) if row["config_key"] in keys]
            if experiment.summarise is not None:
                print(experiment.summarise(rows))
            if experiment.uses_device_profile:
                for device, profile in profiles.items():
                    report_accuracy(store, device, profile, [row for row in rows if row["device"] == device])
    print(f"results: {args.out.resolve()}")
    return report_failed_checks(failed_checks)


def measure_plan(
    store: ResultStore,
    experiments: list[Experiment],
    plan: list,
    chosen: plans.Preset,
    args,
    argv: list[str],
    profiles: dict,
    finish: Callable[[Any, dict], dict] | None = None,
) -> int:
    """Measure what ``store`` lacks of ``plan`` in worker processes, pool and store it; failed checks.

    Each experiment's rows are pooled with its own ``finish`` (and ``profiles``); ``finish``, when
    given, adds the caller's own columns after that.
    """
    done = {key for experiment in experiments for key in store.completed_keys(experiment.table.name)}
    todo = [config for config in plan if config.key not in done]
    clock = environment.RunClock()
    measured = process_runs.measure_in_processes(store, plan, todo, processes_of(args, chosen), args=args, argv=argv)
    failed_checks = 0
    todo_keys = {config.key for config in todo}
    held = {key for rows in measured.rows for key in rows}
    for experiment in experiments:
        # Everything the workers hold is pooled (all variances inform each interval); what is new is stored.
        own = [c for c in plan if experiment_for(c) is experiment and (c.key in todo_keys or c.key in held)]
        own_keys = {config.key for config in own}
        process_rows = [{key: row for key, row in rows.items() if key in own_keys} for rows in measured.rows]
        pooled = pooling.pool(
            experiment.table, own, process_rows, measured.samples, finish=_finisher(experiment, profiles, finish)
        )
        for outcome in pooled:
            if outcome.row["config_key"] in todo_keys:
                store.record(outcome.row["config_key"], experiment.table.name, [outcome.row], outcome.samples)
                failed_checks += outcome.check_failed
    # The keys it measured: `validate retest` replays, for each configuration, the run that measured it.
    facts = clock.finish(timed_seconds=measured.timed_seconds) | measured.facts() | {"measured_keys": sorted(todo_keys)}
    store.finish_run(facts)
    print(_time_split(facts), file=sys.stderr)
    return failed_checks


def _finisher(experiment: Experiment, profiles: dict, extra: Callable[[Any, dict], dict] | None):
    def finish(config, row: dict) -> dict:
        columns = experiment.finish(config, row, profiles.get(config.device)) if experiment.finish else {}
        return columns | (extra(config, row | columns) if extra else {})

    return finish


def report_failed_checks(failed_checks: int) -> int:
    """The exit status of a run: 1, with a line, when a configuration failed a cross-check."""
    if failed_checks:
        print(
            f"validate: {failed_checks} configuration(s) failed a cross-check against the cost "
            "model; their rows say which",
            file=sys.stderr,
        )
        return 1
    return 0


def processes_of(args, chosen: plans.Preset) -> int:
    """How many worker processes measure each configuration: --processes, or the preset's."""
    return getattr(args, "processes", None) or chosen.processes


def experiment_plan(
    experiments: list[Experiment], chosen: plans.Preset, devices: list[str], args, backend: Backend
) -> list:
    """The plan, this machine's shard of it, and (in a worker) only the keys it was given."""
    plan = [config for experiment in experiments for config in experiment.plan(chosen, devices, args, backend.name)]
    if getattr(args, "shard", None):
        plan = plans.shard(plan, *args.shard)
    keys_file = getattr(args, "keys", None)
    if keys_file is not None:
        wanted = set(process_runs.read_keys(keys_file))
        plan = [config for config in plan if config.key in wanted]
    return plan


def run_worker(name: str, chosen: plans.Preset, args, argv: list[str], backend: Backend) -> int:
    """One worker process: measure the plan in this worker's own order into its own folder.

    It says on stdout which configuration it starts and finishes (the supervisor
    watches for deaths and hangs), takes 1/K of the timing budget, and only
    worker 1 cross-checks: the counts do not change between processes.
    """
    index, count = args.worker
    experiments = experiments_of(name)
    threads = backend.configure_threads(args.threads, args.inter_threads)
    devices, _ = backend.resolve_devices(args.device)
    with open_store(args, [], threads, argv, backend) as store:
        plan = process_runs.worker_order(experiment_plan(experiments, chosen, devices, args, backend), index)
        done = {key for experiment in experiments for key in store.completed_keys(experiment.table.name)}
        policy = process_runs.per_process_policy(timing_policy(chosen), count)
        # The framework's objects stay alive all run: freezing them keeps every later garbage
        # collection (Keras's clear_session runs one per configuration) from walking them again.
        gc.freeze()
        clock = environment.RunClock()
        timed = 0.0
        for config in plan:
            if config.key in done:
                continue
            workers.announce(workers.MEASURING, config.key)
            experiment = experiment_for(config)
            outcome = experiment.measure(config, policy, backend=backend, cross_check=index == 1)
            store.record(config.key, experiment.table.name, [outcome.row], outcome.samples)
            timed += runner.timed_seconds(outcome, experiment.table)
            workers.announce(workers.MEASURED, config.key)
        facts = clock.finish(timed_seconds=timed)
        store.finish_run(facts)
        workers.announce(workers.CLOCK, f"{facts['wall_seconds']} {facts['timed_seconds']}")
    return 0


def _time_split(facts: dict) -> str:
    """Where the measuring phase's wall time went, in one line."""
    share = facts["timed_share"]
    other = facts["other_processes_cpu_share"]
    measuring = facts.get("measuring_wall_seconds")
    line = f"validate: timed {facts['timed_seconds']:.1f} s of {facts['wall_seconds']:.1f} s wall"
    line += f" ({share:.0%})" if share is not None else ""
    if measuring:
        line += (
            f"; {facts['processes']} process(es) per configuration, measuring for {measuring:.1f} s "
            f"after their imports ({facts['timed_seconds'] / measuring:.0%} timed)"
        )
    line += f"; other processes used {other:.0%} of the CPUs meanwhile" if other is not None else ""
    steal = facts.get("steal_share")
    return line + (f", other virtual machines on the host {steal:.0%}" if steal is not None else "")


def report_accuracy(store: ResultStore, device: str, profile: DeviceProfile, rows: list[dict]) -> None:
    """Score both models on the held-out rows; print and write ``accuracy_<device>.csv``."""
    table = accuracy.score(rows, profile.extra.get("seconds_per_mac"))
    if not table:
        return
    typed = [schema.ACCURACY.row({"device": device, **row}) for row in table]
    store.write_file(f"accuracy_{device}.csv", csv_text(schema.ACCURACY, typed))
    print(f"\nlatency model vs naive (time proportional to MACs), {device}, held-out rows:")
    print(accuracy.accuracy_summary(table))


def run_calibration(chosen_name: str, args, argv: list[str], backend: Backend) -> int:
    """Calibrate every requested device and write its profile into --out."""
    from validate.experiments.calibrate import calibrate, calibration_layers

    threads = backend.configure_threads(args.threads, args.inter_threads)
    devices, notice = backend.resolve_devices(args.device)
    if notice:
        print(f"validate: {notice}", file=sys.stderr)
    policy = timing_policy(plans.preset(chosen_name, budget_seconds=args.budget))
    with open_store(args, [], threads, argv, backend) as store:
        for device in devices:
            check_profile_backend(profile_path(args.out, device), backend)
            with Progress(len(calibration_layers(chosen_name))) as progress:
                profile = calibrate(device, chosen_name, policy, progress, backend=backend)
            machine = {"machine": machine_metadata(backend), "run": environment.run_info(["validate", *argv], threads)}
            profile = DeviceProfile.from_dict({**profile.as_dict(), **machine})
            written = store.write_file(
                profile_path(args.out, device).name, json.dumps(profile.as_dict(), indent=2) + "\n"
            )
            print(summary.profile_summary(profile))
            print(f"device profile: {written.resolve()}")
    return 0
