"""``validate retest RESULTS_DIR``: measure stored configurations again, and say how well they agree.

A sample of the folder's configurations is measured again exactly as it was
measured the first time (the stored command, with its preset, processes and
budget), in fresh worker processes, into ``RESULTS_DIR/retest``.  Then, per
table, the share of re-measured values that fall inside

* the stored 95% confidence interval (an honest interval holds a rerun of
  equal size about 83% of the time: both estimates carry error), and
* the stored 95% rerun interval (built to hold a rerun 95% of the time),

the share within ±5% and ±10% of the stored value, and the median relative
width of both intervals (an interval that covers everything says nothing).
The figures are printed and written to ``RESULTS_DIR/retest.json``, which the
report shows.
"""

from __future__ import annotations

import json
import random
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from validate.results.agreement import RETEST_FILE, agreement, retest_document, summary
from validate.results.schema import MEASURED_TABLES
from validate.results.store import ResultStore, StoreCorruptError, read_database, read_metadata

RETEST_FOLDER = "retest"


class RetestError(ValueError):
    """A folder that cannot be retested here; the message says why."""


def stored_rows(folder: Path, table: str) -> list[dict]:
    """The folder's successful rows of ``table`` (none when it has no such table)."""
    try:
        return [row for row in read_database(folder, table) if not row["error"] and row[MEASURED_TABLES[table].value]]
    except StoreCorruptError:
        return []


#: Options of a stored command that only add output (no measurement): left out when it is replayed.
OUTPUT_ONLY_OPTIONS = ("--papers", "--advise", "--json", "--csv")


def stored_command(metadata: dict, table: str, key: str | None = None) -> list[str]:
    """The arguments of the last run in the folder that measured ``table`` (and ``key``, where the run
    recorded the keys it measured), without the options that only add output.
    """
    described = MEASURED_TABLES[table]
    for run in reversed(metadata.get("runs") or []):
        words = shlex.split(str(run.get("command", "")))
        measuring = words[1:2] and words[1] in described.commands and set(described.measuring_options) <= set(words)
        recorded = run.get("measured_keys")
        if measuring and "--worker" not in words and (key is None or recorded is None or key in recorded):
            return [word for word in words[1:] if word not in OUTPUT_ONLY_OPTIONS]
    raise RetestError(f"no run in the folder's metadata.json measured {table}; cannot tell how to measure it again")


def choose(rows: list[dict], count: int, seed: int) -> list[dict]:
    """A reproducible random sample of ``count`` rows (all of them if there are fewer)."""
    rows = sorted(rows, key=lambda row: row["config_key"])
    return rows if count >= len(rows) else random.Random(seed).sample(rows, count)


def retest(folder: Path, *, sample: int, seed: int, tables: tuple[str, ...], store_metadata: dict) -> list[dict]:
    """Measure a sample of each table's stored configurations again; the agreement per table.

    ``store_metadata`` is this machine's (``{"machine": ..., ...}``): opening the folder with it
    refuses results measured on another machine before anything is measured.  The folder stays
    locked meanwhile, and ``retest.json`` is written into it at the end.
    """
    metadata = read_metadata(folder)
    rows = {table: stored_rows(folder, table) for table in tables}
    if metadata is None or not any(rows.values()):
        raise RetestError(f"{folder} holds no measured results to retest ({', '.join(tables)})")
    # A folder of another machine is refused here, naming what differs.
    with ResultStore(folder, store_metadata, resume=True) as store:
        out = folder / RETEST_FOLDER
        shutil.rmtree(out, ignore_errors=True)  # each retest starts afresh, in a folder of its own
        chosen = {table: choose(rows[table], sample, seed) for table in tables if rows[table]}
        # Each configuration is measured again by the command that measured it; configurations of one
        # command (validate sweep: seed and factorizations) by one run of it.
        commands: dict[tuple[str, ...], dict[str, list[dict]]] = {}
        for table, table_rows in chosen.items():
            for row in table_rows:
                command = tuple(stored_command(metadata, table, str(row["config_key"])))
                commands.setdefault(command, {}).setdefault(table, []).append(row)
        out.mkdir(parents=True, exist_ok=True)
        for number, (command, measured) in enumerate(commands.items(), 1):
            keys = out / f"keys-{number}.txt"
            keys.write_text("".join(f"{row['config_key']}\n" for rows in measured.values() for row in rows), "utf-8")
            argv = [*command, "--out", str(out / f"run-{number}"), "--keys", str(keys)]
            count = sum(len(rows) for rows in measured.values())
            print(f"retest: measuring {count} configuration(s) of {', '.join(measured)} again", file=sys.stderr)
            done = subprocess.run([sys.executable, "-m", "validate", *argv], stdout=subprocess.DEVNULL, check=False)
            if done.returncode not in (0, 1):  # 1: a cross-check failed; its row is an error, not compared
                raise RetestError(
                    f"measuring again (validate {shlex.join(argv)}) failed with exit status {done.returncode}"
                )
        again: dict[str, dict[str, dict]] = {}
        for number, measured in enumerate(commands.values(), 1):
            for table, table_rows in measured.items():
                stored_again = {str(row["config_key"]): row for row in read_database(out / f"run-{number}", table)}
                missing = [row["config_key"] for row in table_rows if row["config_key"] not in stored_again]
                if missing:
                    raise RetestError(
                        f"measuring again stored no row for {len(missing)} {table} configuration(s), e.g. "
                        f"{missing[0]}; see {out / f'run-{number}'}"
                    )
                again.setdefault(table, {}).update(stored_again)
        results = [agreement(MEASURED_TABLES[table], chosen[table], again[table]) for table in chosen]
        store.write_file(RETEST_FILE, json.dumps(retest_document(results), indent=2, allow_nan=False) + "\n")
    return results


def main_retest(args, argv: list[str]) -> int:
    """``validate retest``: select the folder's backend, measure again, print and store the agreement."""
    from validate.frameworks import backends

    metadata = read_metadata(args.results)
    if metadata is None:
        raise RetestError(f"{args.results} holds no measured results to retest (no metadata.json)")
    name = str((metadata.get("machine") or {}).get("backend", "tensorflow"))
    backends.select_keras_backend(name)
    backend = backends.get_backend(name)
    from validate.experiments.session import machine_metadata
    from validate.results.environment import run_info

    store_metadata = {"machine": machine_metadata(backend), **run_info(["validate", *argv], {})}
    tables = tuple(args.tables)
    results = retest(args.results, sample=args.sample, seed=args.seed, tables=tables, store_metadata=store_metadata)
    print(summary(results))
    print(f"retest: {(args.results / RETEST_FILE).resolve()}")
    return 0
