"""Measure a plan in several worker processes, one after the other, and collect what they stored.

Why several processes: a configuration measured in two processes gives two
values further apart than either process's own interval says
(docs/validate.md, "Between processes").  Each worker measures every
configuration of the plan, in its own shuffled order (so that neither the
order nor the time of day favours a configuration), into its own folder
``<out>/processes/p<k>``; :mod:`validate.experiments.pooling` combines them.

Workers run one after the other, never together: on a small machine two
timing processes would slow each other down.  Each is supervised
(:mod:`validate.experiments.workers`): a worker that dies or hangs loses the
configuration it was measuring, which is stored as an error row naming the
worker, and the worker is started again to go on.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import random
import subprocess
import sys
from pathlib import Path

from validate.experiments import runner, workers
from validate.experiments.plans import SeedConfig
from validate.experiments.progress import Progress
from validate.harness.timing import TimingPolicy
from validate.results.schema import Value
from validate.results.store import ResultStore, atomic_write_text, read_database

PROCESSES_FOLDER = "processes"
KEYS_FILE = "keys.txt"
#: A worker that says nothing for this long is taken to hang (overridable with --worker-timeout).
DEFAULT_WORKER_TIMEOUT_SECONDS = 600.0


@dataclasses.dataclass
class Measured:
    """What the workers stored for the configurations they were given, per process."""

    rows: list[dict[str, dict[str, Value]]]
    samples: list[list[dict]]
    timed_seconds: float
    measuring_wall_seconds: float
    lost: list[workers.Lost]

    def facts(self) -> dict:
        """For the run's metadata."""
        return {
            "processes": len(self.rows),
            "measuring_wall_seconds": round(self.measuring_wall_seconds, 3),
            "lost_configurations": [dataclasses.asdict(loss) for loss in self.lost],
        }


def worker_order(plan: list, index: int) -> list:
    """The plan in worker ``index``'s own order: shuffled, the same every time it resumes.

    >>> worker_order(list("abcdef"), 1) != worker_order(list("abcdef"), 2)
    True
    """
    order = list(plan)
    random.Random(index).shuffle(order)
    return order


#: Samples every process takes, however slow the call: a median of two is a process's estimate, and
#: the spread between processes (not within one) makes the interval.
MIN_GUARANTEED_PER_PROCESS = 2


def per_process_policy(policy: TimingPolicy, processes: int) -> TimingPolicy:
    """A worker's share of the timing: 1/K of the budget, of the samples and of the guaranteed samples.

    One warm-up call instead of two: the block-size calibration that follows it makes at least
    one more untimed call, and the first call already traced and compiled the model.
    """
    guaranteed = max(MIN_GUARANTEED_PER_PROCESS, math.ceil(policy.guaranteed_samples / processes))
    return dataclasses.replace(
        policy,
        warmup_calls=min(policy.warmup_calls, 1),
        budget_seconds=policy.budget_seconds / processes,
        max_samples=max(policy.min_samples, math.ceil(policy.max_samples / processes), guaranteed),
        guaranteed_samples=guaranteed,
    )


def read_keys(path: Path) -> list[str]:
    """The configuration keys a worker is given, one per line."""
    return [line for line in Path(path).read_text(encoding="utf-8").splitlines() if line]


def measure_in_processes(
    store: ResultStore, todo: list, count: int, *, args, argv: list[str], skipped: int = 0
) -> Measured:
    """Run ``count`` workers over ``todo``, one after the other, and read back their rows and samples."""
    root = Path(args.out) / PROCESSES_FOLDER
    root.mkdir(parents=True, exist_ok=True)
    keys_path = root / KEYS_FILE
    atomic_write_text(keys_path, "".join(f"{config.key}\n" for config in todo))
    wanted = {config.key: config for config in todo}
    folders = [root / f"p{index}" for index in range(1, count + 1)]
    tables = sorted({table_of(config) for config in todo})
    already = sum(len(_stored_keys(folder, table) & wanted.keys()) for folder in folders for table in tables)
    timeout = getattr(args, "worker_timeout", None) or DEFAULT_WORKER_TIMEOUT_SECONDS
    clock = {"wall": 0.0}
    lost: list[workers.Lost] = []
    total = len(todo) * count
    with Progress(total + skipped * count, skipped=skipped * count + already) as progress:
        for index, folder in enumerate(folders, 1):
            folder.mkdir(parents=True, exist_ok=True)
            command = [
                sys.executable, "-m", "validate", *argv, "--out", str(folder), "--resume",
                "--worker", f"{index}/{count}", "--keys", str(keys_path),
            ]  # fmt: skip
            log_path = folder / "worker.log"

            def launch(command=command, log_path=log_path) -> subprocess.Popen:
                with open(log_path, "a", encoding="utf-8") as log:
                    return subprocess.Popen(
                        command, stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True
                    )

            def record_lost(loss: workers.Lost, folder=folder) -> None:
                metadata = {"machine": store.metadata["machine"], "command": f"validate: record {loss.reason}"}
                with ResultStore(folder, metadata, resume=True) as worker_store:
                    row = runner.identity(wanted[loss.key]) | {"error": loss.reason}
                    worker_store.record(loss.key, table_of(wanted[loss.key]), [row], [])
                print(f"validate: {loss.key}: {loss.reason}; going on", file=sys.stderr)

            def add_clock(wall: float, timed: float) -> None:
                clock["wall"] += wall

            try:
                lost += workers.supervise(
                    launch,
                    name=f"worker process {index}",
                    timeout_seconds=timeout,
                    on_lost=record_lost,
                    on_measured=functools.partial(_advance, progress, index),
                    on_clock=add_clock,
                )
            except workers.WorkerError as error:
                raise workers.WorkerError(f"{error}; the end of {log_path}: {_tail(log_path)}") from None
    rows, samples, timed = [], [], 0.0
    for folder in folders:
        stored = {
            str(row["config_key"]): row
            for table in tables
            for row in read_database(folder, table)
            if row["config_key"] in wanted
        }
        process_samples = [s for s in read_database(folder, "samples") if s["config_key"] in wanted]
        for key, row in stored.items():
            own = [sample for sample in process_samples if sample["config_key"] == key]
            timed += runner.timed_seconds(runner.Outcome(row, own))
        rows.append(stored)
        samples.append(process_samples)
    return Measured(rows, samples, timed, clock["wall"], lost)


def table_of(config) -> str:
    """The table a configuration's row goes to."""
    return "seed" if isinstance(config, SeedConfig) else "factorizations"


def _advance(progress: Progress, index: int, key: str) -> None:
    progress.advance(f"p{index} {key}")


def _stored_keys(folder: Path, table: str) -> set[str]:
    try:
        return {str(row["config_key"]) for row in read_database(folder, table)}
    except ValueError:  # no database yet
        return set()


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(empty)"
