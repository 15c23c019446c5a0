"""``validate retest`` and ``validate sweep`` as a user runs them, and a worker killed mid-run."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from helpers import REPO_ROOT, read, validate

from validate.results import schema
from validate.results.agreement import agreement


def row(key, value, low, high, rerun=(None, None), error=""):
    return {"config_key": key, "measured_ratio": value, "ratio_ci_low": low, "ratio_ci_high": high,
            "rerun_low": rerun[0], "rerun_high": rerun[1], "error": error}  # fmt: skip


def test_agreement_counts_coverage_changes_and_widths():
    stored = [row("a", 1.0, 0.9, 1.1, (0.85, 1.15)), row("b", 0.5, 0.49, 0.51, (0.48, 0.52)), row("c", 2.0, 1.9, 2.1)]
    again = {"a": row("a", 1.04, 0, 0), "b": row("b", 0.53, 0, 0), "c": row("c", 2.0, 0, 0, error="OOM")}
    scores = agreement(schema.FACTORIZATIONS, stored, again)
    assert scores["compared"] == 2  # c failed the second time: not compared
    assert scores["inside_confidence_interval"] == 0.5  # a inside [0.9, 1.1]; b's 0.53 outside [0.49, 0.51]
    assert scores["inside_rerun_interval"] == 0.5  # and outside [0.48, 0.52]
    assert scores["within_5_percent"] == 0.5 and scores["within_10_percent"] == 1.0  # +4% and +6%
    assert scores["median_confidence_width"] == pytest.approx((0.2 + 0.04) / 2)
    assert agreement(schema.FACTORIZATIONS, stored, {})["compared"] == 0


def test_retest_of_a_folder_without_results_is_one_line(tmp_path):
    done = validate("retest", str(tmp_path))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip() == f"validate: error: {tmp_path} holds no measured results to retest (no metadata.json)"
    assert validate("retest", str(tmp_path), "--tables", "networks").returncode == 2


@pytest.mark.tensorflow
@pytest.mark.slow
def test_sweep_then_retest_then_report(tmp_path):
    results = tmp_path / "results"
    done = validate("sweep", "--preset", "quick", "--out", str(results), timeout=600)
    assert done.returncode == 0, done.stderr
    seed, factorizations = read(results / "seed.csv"), read(results / "factorizations.csv")
    assert len(seed) == 24 and len(factorizations) == 3  # quick: both experiments, once each
    assert {r["processes"] for r in seed + factorizations} == {"2"}
    assert all(float(r["rerun_low"]) < float(r["ratio_ci_low"]) <= float(r["measured_ratio"]) for r in factorizations)
    (run,) = json.loads((results / "metadata.json").read_text())["runs"]
    assert run["processes"] == 2 and run["measuring_wall_seconds"] > run["timed_seconds"] > 0

    again = validate("retest", str(results), "--sample", "2", timeout=600)
    assert again.returncode == 0, again.stderr
    scores = {entry["table"]: entry for entry in json.loads((results / "retest.json").read_text())["tables"]}
    assert scores["factorizations"]["compared"] == 2 and scores["seed"]["compared"] == 2
    assert "factorizations: 2 configuration(s) measured again; inside the stored 95% interval" in again.stdout

    from validate.report import build_report

    build_report([results], tmp_path / "report")
    page = (tmp_path / "report" / "report.md").read_text()
    assert "### Reproducibility: the same configurations measured again" in page

    # Another machine's folder is refused before anything is measured.
    metadata = json.loads((results / "metadata.json").read_text())
    metadata["machine"]["cpu_model"] = "Some Other CPU"
    (results / "metadata.json").write_text(json.dumps(metadata))
    other = validate("retest", str(results), "--sample", "1")
    assert other.returncode == 2 and len(other.stderr.strip().splitlines()[-1:]) == 1
    assert "cpu_model" in other.stderr.strip().splitlines()[-1]


@pytest.mark.tensorflow
@pytest.mark.slow
def test_a_worker_killed_mid_run_is_an_error_row_naming_it_and_the_sweep_goes_on(tmp_path):
    argv = [sys.executable, "-m", "validate", "seed", "--preset", "quick", "--filters", "8", "--out", str(tmp_path)]
    parent = subprocess.Popen(argv, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    worker_folder = tmp_path / "processes" / "p1"
    deadline = time.monotonic() + 240
    stored = 0
    while time.monotonic() < deadline and stored < 2:
        time.sleep(0.2)
        try:
            with sqlite3.connect(worker_folder / "results.sqlite") as db:
                stored = db.execute("SELECT COUNT(*) FROM seed").fetchone()[0]
        except sqlite3.Error:
            pass
    holder = (worker_folder / ".lock").read_text()  # "process PID (validate seed ...)"
    os.kill(int(holder.split()[1]), signal.SIGKILL)
    out, err = parent.communicate(timeout=300)
    assert parent.returncode == 0, err
    assert "worker process 1 died (signal SIGKILL) while measuring this configuration; going on" in err
    rows = read(tmp_path / "seed.csv")
    assert len(rows) == 12 and all(not r["error"] for r in rows)  # every configuration has a row
    lost = [r for r in rows if r["process_errors"]]
    assert len(lost) == 1 and lost[0]["processes"] == "1"
    assert (
        lost[0]["process_errors"]
        == "process 1: worker process 1 died (signal SIGKILL) while measuring this configuration"
    )
    (run,) = json.loads((tmp_path / "metadata.json").read_text())["runs"]
    assert [loss["key"] for loss in run["lost_configurations"]] == [lost[0]["config_key"]]


def test_each_configuration_is_replayed_by_the_run_that_measured_it():
    from validate.experiments.retest import RetestError, stored_command

    runs = [
        {"command": "validate sweep --preset quick --out r"},  # before runs recorded their keys
        {"command": "validate network MobileNet --apply fuse --measure --papers --out r", "measured_keys": ["a"]},
        {"command": "validate network MobileNetV2 --apply fuse --measure --out r", "measured_keys": ["b"]},
        {"command": "validate network MobileNet --papers --out r", "measured_keys": []},  # measured nothing
    ]
    metadata = {"runs": runs}
    assert stored_command(metadata, "networks", "a") == ["network", "MobileNet", "--apply", "fuse", "--measure",
                                                         "--out", "r"]  # fmt: skip
    assert stored_command(metadata, "networks", "b")[1] == "MobileNetV2"
    assert stored_command(metadata, "factorizations", "f")[:1] == ["sweep"]
    with pytest.raises(RetestError, match="no run in the folder's metadata.json measured networks"):
        stored_command(metadata, "networks", "c")
