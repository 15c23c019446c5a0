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
import shutil
import subprocess
import sys
from pathlib import Path

from validate.experiments import runner, workers
from validate.experiments.progress import Progress
from validate.harness.timing import TimingPolicy
from validate.results.schema import Value
from validate.results.store import DATABASE_FILE, ResultStore, atomic_write_text, read_database

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
    try:
        return [line for line in Path(path).read_text(encoding="utf-8").splitlines() if line]
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"cannot read the keys file {path}: {getattr(error, 'strerror', None) or error}") from None


def measure_in_processes(store: ResultStore, plan: list, todo: list, count: int, *, args, argv: list[str]) -> Measured:
    """Run ``count`` workers over ``todo``, one after the other, and read back what they stored.

    The rows returned cover every configuration of ``plan`` the worker folders hold, not only
    ``todo``: the variances of all of them inform each combined interval.  Samples are those of
    ``todo``.  Without ``--resume`` the worker folders of an earlier, interrupted run are cleared
    first: their rows may have been measured with other options.
    """
    root = Path(args.out) / PROCESSES_FOLDER
    if not args.resume:
        shutil.rmtree(root, ignore_errors=True)
    folders = [root / f"p{index}" for index in range(1, count + 1)]
    wanted = {config.key: config for config in todo}
    clock = {"wall": 0.0}
    lost: list[workers.Lost] = []
    if todo:
        root.mkdir(parents=True, exist_ok=True)
        keys_path = root / KEYS_FILE
        atomic_write_text(keys_path, "".join(f"{config.key}\n" for config in todo))
        tables = sorted({table_of(config) for config in todo})
        already = sum(len(_stored_keys(folder, table) & wanted.keys()) for folder in folders for table in tables)
        skipped = (len(plan) - len(todo)) * count
        with Progress(len(plan) * count, skipped=skipped + already) as progress:
            for index, folder in enumerate(folders, 1):
                folder.mkdir(parents=True, exist_ok=True)
                lost += _supervise_worker(store, index, count, folder, wanted, keys_path, argv, args, progress, clock)
    rows, samples, timed = [], [], 0.0
    plan_keys = {config.key for config in plan}
    for folder in folders:
        stored = _read_rows(folder, plan, plan_keys)
        process_samples = [s for s in read_database(folder, "samples") if s["config_key"] in wanted] if stored else []
        for key in wanted.keys() & stored.keys():
            own = [sample for sample in process_samples if sample["config_key"] == key]
            timed += runner.timed_seconds(runner.Outcome(stored[key], own), wanted[key].table)
        rows.append(stored)
        samples.append(process_samples)
    return Measured(rows, samples, timed, clock["wall"], lost)


def _supervise_worker(store, index, count, folder, wanted, keys_path, argv, args, progress, clock) -> list:
    """Run worker ``index`` of ``count`` to the end; record each configuration it lost."""
    command = [
        sys.executable, "-m", "validate", *argv, "--out", str(folder), "--resume",
        "--worker", f"{index}/{count}", "--keys", str(keys_path),
    ]  # fmt: skip
    log_path = folder / "worker.log"

    def launch() -> subprocess.Popen:
        with open(log_path, "a", encoding="utf-8") as log:
            return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True)

    def record_lost(loss: workers.Lost) -> None:
        config = wanted[loss.key]
        if loss.key in _stored_keys(folder, table_of(config), errors=False):
            return  # it was stored just before the worker died: nothing was lost after all
        metadata = {"machine": store.metadata["machine"], "command": f"validate: record {loss.reason}"}
        with ResultStore(folder, metadata, resume=True) as worker_store:
            worker_store.record(loss.key, table_of(config), [runner.identity(config) | {"error": loss.reason}], [])
        print(f"validate: {loss.key}: {loss.reason}; going on", file=sys.stderr)

    def add_clock(wall: float, timed: float) -> None:
        clock["wall"] += wall

    try:
        return workers.supervise(
            launch,
            name=f"worker process {index}",
            timeout_seconds=getattr(args, "worker_timeout", None) or DEFAULT_WORKER_TIMEOUT_SECONDS,
            on_lost=record_lost,
            on_measured=functools.partial(_advance, progress, index),
            on_clock=add_clock,
        )
    except workers.WorkerError as error:
        raise workers.WorkerError(f"{error}; the end of {log_path}: {_tail(log_path)}") from None


def _read_rows(folder: Path, plan: list, keys: set[str]) -> dict[str, dict[str, Value]]:
    """The folder's row per configuration of the plan; a measured row wins over an error row."""
    rows: dict[str, dict[str, Value]] = {}
    if not (folder / DATABASE_FILE).is_file():
        return rows
    for table in sorted({table_of(config) for config in plan}):
        for row in read_database(folder, table):
            key = str(row["config_key"])
            if key in keys and (key not in rows or rows[key]["error"]):
                rows[key] = row
    return rows


def table_of(config) -> str:
    """The name of the table a configuration's row goes to (its type's descriptor)."""
    return config.table.name


def _advance(progress: Progress, index: int, key: str) -> None:
    progress.advance(f"p{index} {key}")


def _stored_keys(folder: Path, table: str, *, errors: bool = True) -> set[str]:
    """The configurations the folder holds (with ``errors=False``: only those measured)."""
    try:
        return {str(row["config_key"]) for row in read_database(folder, table) if errors or not row["error"]}
    except ValueError:  # no database yet
        return set()


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(empty)"
