"""Tests of validate.results.store: nothing measured is lost, nothing is mixed up."""

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import REPO_ROOT

from validate.results.store import (
    METADATA_FILE,
    MachineMismatchError,
    ResultStore,
    ResultsExistError,
)


MACHINE = {
    "cpu_model": "Test CPU @ 3.0GHz",
    "cores": 8,
    "platform": "Linux-6.1-x86_64-with-glibc2.36",
    "python": "3.12.1",
    "gpus": [],
    "tensorflow": "2.21.0",
    "keras": "3.12.0",
    "backend": "tensorflow",
}


def metadata(command="validate run --out results", machine=MACHINE):
    return {"machine": dict(machine), "command": command, "started": "2025-01-02T03:04:05+00:00"}


def record_config(store, config_key, sample_count=3):
    store.record(
        config_key,
        "latency",
        [{"median_seconds": 0.002, "layer": "conv3x3"}],
        [{"sample": index, "seconds": 0.001 * (index + 1)} for index in range(sample_count)],
    )


def test_append_writes_the_header_once_in_first_row_order(tmp_path):
    store = ResultStore(tmp_path, metadata())

    store.append("latency", [{"b": 1, "a": 2.5}])
    store.append("latency", [{"a": 3, "b": 4}, {"b": 5, "a": 6}])

    assert (tmp_path / "latency.csv").read_text() == "b,a\n1,2.5\n4,3\n5,6\n"


def test_missing_columns_and_none_are_written_empty(tmp_path):
    store = ResultStore(tmp_path, metadata())

    store.append("latency", [{"config_key": "c1", "median_seconds": 0.5, "note": "x"}])
    store.append("latency", [{"config_key": "c2", "note": None}])

    assert store.read("latency")[1] == {"config_key": "c2", "median_seconds": "", "note": ""}


def test_unknown_column_is_refused_by_name_and_nothing_is_written(tmp_path):
    store = ResultStore(tmp_path, metadata())
    store.append("latency", [{"config_key": "c1", "median_seconds": 0.5}])
    before = (tmp_path / "latency.csv").read_text()

    with pytest.raises(ValueError, match="'stddev_seconds'"):
        store.append("latency", [{"config_key": "c2"}, {"config_key": "c3", "stddev_seconds": 1}])

    assert (tmp_path / "latency.csv").read_text() == before


@pytest.mark.parametrize("table", ["", "1st", "../escape", "a-b", "latency.csv", "with space"])
def test_table_names_must_be_simple_identifiers(tmp_path, table):
    store = ResultStore(tmp_path, metadata())

    with pytest.raises(ValueError, match="simple identifier"):
        store.append(table, [{"a": 1}])


@pytest.mark.parametrize("rows", [{"a": 1}, "a", [{"a": 1}, ("a", 1)], [{1: "a"}]])
def test_rows_must_be_a_list_of_dicts_with_str_columns(tmp_path, rows):
    store = ResultStore(tmp_path, metadata())

    with pytest.raises(TypeError):
        store.append("latency", rows)


def test_every_append_is_fsynced_to_its_file(tmp_path, monkeypatch):
    store = ResultStore(tmp_path, metadata())
    real_fsync = os.fsync
    synced = []

    def counting_fsync(descriptor):
        synced.append(os.fstat(descriptor))
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    table_path = tmp_path / "latency.csv"

    for index in range(3):
        synced.clear()
        store.append("latency", [{"config_key": f"c{index}"}])
        assert any(os.path.samestat(status, os.stat(table_path)) for status in synced)


def test_floats_round_trip_exactly_and_pandas_reads_the_tables(tmp_path):
    pandas = pytest.importorskip("pandas")
    store = ResultStore(tmp_path, metadata())
    seconds = [0.1 + 0.2, 1e-7 / 3, 12345.678901234567]

    store.record("c1", "latency", [{"median_seconds": seconds[0], "label": 'a, "quoted"\nlabel'}],
                 [{"seconds": value} for value in seconds])

    assert [float(row["seconds"]) for row in store.read("samples")] == seconds
    frame = pandas.read_csv(tmp_path / "latency.csv")
    assert list(frame.columns) == ["config_key", "median_seconds", "label"]
    assert frame.loc[0, "label"] == 'a, "quoted"\nlabel'
    assert pandas.read_csv(tmp_path / "samples.csv")["seconds"].tolist() == seconds


def test_record_puts_config_key_first_and_samples_before_the_main_row(tmp_path, monkeypatch):
    store = ResultStore(tmp_path, metadata())
    written = []
    real_append = store.append
    monkeypatch.setattr(store, "append",
                        lambda table, rows: (written.append(table), real_append(table, rows)))

    record_config(store, "c1")

    assert written == ["samples", "latency"]
    header = (tmp_path / "latency.csv").read_text().splitlines()[0]
    assert header == "config_key,median_seconds,layer"
    assert {row["config_key"] for row in store.read("samples")} == {"c1"}


@pytest.mark.parametrize(
    "config_key, main_table, main_rows, message",
    [
        ("c1", "latency", [], "empty"),
        ("c1", "samples", [{"median_seconds": 1}], "must not be 'samples'"),
        ("c1", "latency", [{"config_key": "c2"}], "recorded under 'c1'"),
        ("", "latency", [{"median_seconds": 1}], "non-empty"),
    ],
)
def test_record_refuses_inconsistent_input(tmp_path, config_key, main_table, main_rows, message):
    store = ResultStore(tmp_path, metadata())

    with pytest.raises(ValueError, match=message):
        store.record(config_key, main_table, main_rows, [{"seconds": 1.0}])

    assert store.read("samples") == []


def test_record_writes_no_samples_when_the_main_row_would_be_refused(tmp_path):
    store = ResultStore(tmp_path, metadata())
    record_config(store, "c1")
    samples_before = (tmp_path / "samples.csv").read_text()

    with pytest.raises(ValueError, match="'unexpected'"):
        store.record("c2", "latency", [{"unexpected": 1}], [{"sample": 0, "seconds": 1.0}])

    assert (tmp_path / "samples.csv").read_text() == samples_before


def test_resume_knows_the_completed_keys_and_keeps_the_column_order(tmp_path):
    first = ResultStore(tmp_path, metadata())
    record_config(first, "c1")
    record_config(first, "c2")

    resumed = ResultStore(tmp_path, metadata(), resume=True)
    resumed.record("c3", "latency", [{"layer": "conv5x5", "median_seconds": 0.004}], [])

    assert resumed.completed_keys("latency") == {"c1", "c2", "c3"}
    assert resumed.read("latency")[-1] == {
        "config_key": "c3", "median_seconds": "0.004", "layer": "conv5x5"}
    assert resumed.dropped_orphan_samples == 0


def test_completed_keys_needs_a_config_key_column(tmp_path):
    store = ResultStore(tmp_path, metadata())
    store.append("summary", [{"layer": "conv3x3"}])

    assert store.completed_keys("not_written_yet") == set()
    with pytest.raises(ValueError, match="no 'config_key' column"):
        store.completed_keys("summary")


def test_orphan_samples_are_dropped_on_resume(tmp_path):
    store = ResultStore(tmp_path, metadata())
    record_config(store, "c1", sample_count=3)
    # What an interrupted record() leaves: the samples of c2, no main row.
    store.append("samples", [{"config_key": "c2", "sample": index, "seconds": 1.0}
                             for index in range(4)])

    resumed = ResultStore(tmp_path, metadata(), resume=True)

    assert resumed.dropped_orphan_samples == 4
    assert [row["config_key"] for row in resumed.read("samples")] == ["c1"] * 3
    assert not list(tmp_path.glob("*.tmp"))


def test_existing_results_are_refused_without_resume(tmp_path):
    record_config(ResultStore(tmp_path, metadata()), "c1")
    metadata_before = (tmp_path / METADATA_FILE).read_text()

    with pytest.raises(ResultsExistError, match=r"latency\.csv, samples\.csv.*--resume.*--out"):
        ResultStore(tmp_path, metadata(command="second run"))

    assert (tmp_path / METADATA_FILE).read_text() == metadata_before


def test_a_folder_without_results_is_started_afresh_without_resume(tmp_path):
    ResultStore(tmp_path, metadata(command="gave up before measuring"))

    store = ResultStore(tmp_path, metadata(command="fresh"))

    assert [run["command"] for run in store.metadata["runs"]] == ["fresh"]


@pytest.mark.parametrize("resume", [False, True])
def test_results_without_metadata_are_refused(tmp_path, resume):
    (tmp_path / "latency.csv").write_text("config_key\nc1\n")

    with pytest.raises(ResultsExistError):
        ResultStore(tmp_path, metadata(), resume=resume)


@pytest.mark.parametrize(
    "field, other_value",
    [
        ("cpu_model", "Other CPU @ 2.0GHz"),
        ("tensorflow", "2.20.0"),
        ("gpus", ["NVIDIA H200"]),
        ("cores", 16),
    ],
)
def test_resume_refuses_a_different_machine_naming_the_field(tmp_path, field, other_value):
    record_config(ResultStore(tmp_path, metadata()), "c1")
    other_machine = {**MACHINE, field: other_value}

    with pytest.raises(MachineMismatchError) as raised:
        ResultStore(tmp_path, metadata(machine=other_machine), resume=True)

    message = str(raised.value)
    assert field in message and repr(MACHINE[field]) in message and repr(other_value) in message
    assert "never mixed" in message
    assert raised.value.differences == {field: (MACHINE[field], other_value)}


def test_resume_refuses_a_machine_with_an_extra_field(tmp_path):
    record_config(ResultStore(tmp_path, metadata()), "c1")

    with pytest.raises(MachineMismatchError, match="gpu_driver: None in the folder"):
        ResultStore(tmp_path, metadata(machine={**MACHINE, "gpu_driver": "550.54"}), resume=True)


def test_runs_list_grows_on_resume(tmp_path):
    ResultStore(tmp_path, metadata(command="run 1"))
    ResultStore(tmp_path, metadata(command="run 2"), resume=True)
    ResultStore(tmp_path, metadata(command="run 3"), resume=True)

    stored = json.loads((tmp_path / METADATA_FILE).read_text())

    assert list(stored) == ["machine", "runs"]
    assert stored["machine"] == MACHINE
    assert [run["command"] for run in stored["runs"]] == ["run 1", "run 2", "run 3"]


@pytest.mark.parametrize(
    "bad_metadata, error",
    [
        (["machine"], TypeError),
        ({"command": "no machine"}, ValueError),
        ({"machine": "Test CPU"}, TypeError),
        ({"machine": MACHINE, "runs": []}, ValueError),
        ({"machine": MACHINE, "threads": {1, 2}}, TypeError),  # a set is not JSON
    ],
)
def test_metadata_is_checked(tmp_path, bad_metadata, error):
    with pytest.raises(error):
        ResultStore(tmp_path / "out", bad_metadata)

    assert not (tmp_path / "out" / METADATA_FILE).exists()


CHILD_SCRIPT = textwrap.dedent(
    """
    import json, os, signal, sys
    from validate.results.store import ResultStore

    out, how, machine = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    store = ResultStore(out, {"machine": machine, "command": "child"})
    real_append = store.append

    def append_or_die(table, rows):
        # Die after c3's samples are on disk, before its main row is written.
        if table == "latency" and rows[0]["config_key"] == "c3":
            if how == "sigkill":
                os.kill(os.getpid(), signal.SIGKILL)
            os._exit(3)
        real_append(table, rows)

    store.append = append_or_die
    for key in ("c1", "c2", "c3", "c4"):
        store.record(key, "latency", [{"median_seconds": 0.001}],
                     [{"sample": index, "seconds": 0.001} for index in range(5)])
    """
)


@pytest.mark.skipif(os.name != "posix", reason="kills the child with POSIX signals")
@pytest.mark.parametrize("how, returncode", [("exit", 3), ("sigkill", -signal.SIGKILL)])
def test_a_run_killed_midway_resumes_with_exactly_the_completed_configs(tmp_path, how, returncode):
    script = tmp_path / "child.py"
    script.write_text(CHILD_SCRIPT)
    out = tmp_path / "results"

    child = subprocess.run([sys.executable, str(script), str(out), how, json.dumps(MACHINE)],
                           cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
                           capture_output=True, text=True, timeout=60)

    assert child.returncode == returncode, child.stderr
    resumed = ResultStore(out, {"machine": MACHINE, "command": "resume"}, resume=True)
    assert resumed.completed_keys("latency") == {"c1", "c2"}
    assert resumed.dropped_orphan_samples == 5
    assert sorted({row["config_key"] for row in resumed.read("samples")}) == ["c1", "c2"]
    assert len(resumed.read("samples")) == 10


@pytest.mark.parametrize(
    "table, torn_tail",
    [
        ("latency", "c3,0.00"),  # cut mid-row
        ("latency", 'c3,0.003,"conv\n3x'),  # cut inside a quoted field, after its newline
        ("samples", "c3,0,0.0"),  # cut mid-sample: an orphan as well
        ("samples", "conf"),  # the whole batch cut short in its first row
    ],
)
def test_a_torn_last_line_is_cut_off_on_resume(tmp_path, table, torn_tail):
    store = ResultStore(tmp_path, metadata())
    for key in ("c1", "c2"):
        store.record(key, "latency", [{"median_seconds": 0.002, "layer": "conv\n3x3"}],
                     [{"sample": 0, "seconds": 0.001}])
    with open(tmp_path / f"{table}.csv", "a", newline="") as file:
        file.write(torn_tail)

    resumed = ResultStore(tmp_path, metadata(), resume=True)
    record_config(resumed, "c3", sample_count=1)

    assert resumed.repaired_tables == (table,)
    assert [row["config_key"] for row in resumed.read("latency")] == ["c1", "c2", "c3"]
    assert [row["config_key"] for row in resumed.read("samples")] == ["c1", "c2", "c3"]
    assert resumed.read("latency")[0]["layer"] == "conv\n3x3"


def test_a_table_torn_within_its_header_gets_a_new_header(tmp_path):
    ResultStore(tmp_path, metadata())
    (tmp_path / "latency.csv").write_text("config_k")

    resumed = ResultStore(tmp_path, metadata(), resume=True)
    record_config(resumed, "c1")

    assert resumed.read("latency") == [
        {"config_key": "c1", "median_seconds": "0.002", "layer": "conv3x3"}]
