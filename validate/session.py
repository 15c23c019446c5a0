"""One run of an experiment: set TensorFlow up, plan, measure, store, summarise.

This is where TensorFlow is first imported (thread pools must be configured
before any op runs).  Two experiments may share one ``--out`` folder, since
the report reads both from it, but a table that already holds results is
only ever continued with ``--resume``, and only by the machine that
measured it.
"""

from __future__ import annotations

import sys

from validate import environment, experiments, runner, summary, tf_runtime
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


def open_store(args, table: str, threads: dict, argv: list[str]) -> ResultStore:
    """The results folder, refusing to overwrite this experiment's table without --resume."""
    backend = {**tf_runtime.versions(), "gpus": tf_runtime.gpu_names(),
               "gpu_driver": environment.gpu_driver()}
    metadata = {"machine": environment.machine_info(backend),
                **environment.run_info(["validate", *argv], threads)}
    if (args.out / f"{table}.csv").exists() and not args.resume:
        raise ResultsExistError(f"{args.out} already holds {table} results; pass --resume to "
                                "continue them or choose another --out")
    return ResultStore(args.out, metadata, resume=True)


def run_experiment(name: str, chosen: experiments.Profile, args, argv: list[str]) -> int:
    """Measure every configuration of the plan not yet in the store; 1 if a cross-check failed."""
    make_plan, measure_one, summarise = EXPERIMENTS[name]
    threads = tf_runtime.configure_threads(args.threads, args.inter_threads)
    devices, notice = tf_runtime.resolve_devices(args.device)
    if notice:
        print(f"validate: {notice}", file=sys.stderr)
    store = open_store(args, name, threads, argv)
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
        outcome = measure_one(config, policy)
        store.record(config.key, name, [runner.complete_row(outcome.row, runner.TABLES[name])],
                     outcome.samples)
        failed_checks += outcome.check_failed
        progress.advance(config.key)
    progress.finish()
    keys = {config.key for config in plan}
    print(summarise([row for row in store.read(name) if row["config_key"] in keys]))
    print(f"results: {args.out.resolve()}")
    if failed_checks:
        print(f"validate: {failed_checks} configuration(s) failed a cross-check against the cost "
              "model; their rows say which", file=sys.stderr)
        return 1
    return 0
