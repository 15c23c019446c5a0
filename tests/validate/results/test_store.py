"""The results store: typed rows, one transaction per configuration, one writer, every fault repaired or refused."""

import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest
from helpers import REPO_ROOT

from validate.results import store as store_module
from validate.results.schema import FACTORIZATIONS, SAMPLES, SCHEMA_VERSION, SEED, SchemaError
from validate.results.store import (
    DATABASE_FILE,
    MachineMismatchError,
    ResultsExistError,
    ResultStore,
    StoreBusyError,
    StoreCorruptError,
    StoreWriteError,
    csv_text,
)

MACHINE = {"cpu_model": "Test CPU", "cores": 2, "platform": "Linux-test"}


def metadata(**run):
    return {"machine": dict(MACHINE), "command": "test", **run}


def record(store, key, samples=3, seconds=0.002):
    store.record(
        key,
        "seed",
        [{"layer_type": "conv3x3", "filters": 16, "geomean_seconds": seconds, "noisy": False, "error": ""}],
        [{"role": "network", "sample": index, "seconds": seconds * (1 + index / 100)} for index in range(samples)],
    )


def keys(store, table="seed"):
    return [row["config_key"] for row in store.read(table)]


# --- typed rows ----------------------------------------------------------------------------------


def test_rows_come_back_typed_and_floats_round_trip_exactly(tmp_path):
    with ResultStore(tmp_path, metadata()) as store:
        record(store, "c1", seconds=0.1 + 0.2)
        row = store.read("seed")[0]
    assert row["geomean_seconds"] == 0.1 + 0.2 and isinstance(row["filters"], int)
    assert row["noisy"] is False and row["macs"] is None and row["backend"] == ""
    frame = pd.read_csv(tmp_path / "seed.csv")
    assert list(frame.columns) == SEED.column_names
    assert frame["geomean_seconds"][0] == 0.1 + 0.2
    assert len(pd.read_csv(tmp_path / "samples.csv")) == 3


@pytest.mark.parametrize(
    "rows, message",
    [
        ([{"no_such_column": 1}], "no column(s) ['no_such_column']"),
        ([{"filters": "sixteen"}], "column 'filters': expected int"),
        ([{"noisy": "yes"}], "column 'noisy': expected bool"),
        ([], "is empty"),
        ([{"config_key": "other"}], "recorded under 'c1'"),
    ],
)
def test_a_bad_row_is_refused_and_nothing_is_written(tmp_path, rows, message):
    with ResultStore(tmp_path, metadata()) as store:
        with pytest.raises(ValueError, match=re.escape(message)):
            store.record("c1", "seed", rows, [{"role": "network", "sample": 0, "seconds": 0.1}])
        assert store.read("seed") == [] and store.read("samples") == []


def test_an_unknown_table_is_refused_naming_the_known_ones(tmp_path):
    with ResultStore(tmp_path, metadata()) as store, pytest.raises(ValueError, match="seed, factorizations"):
        store.record("c1", "latency", [{}], [])


def test_samples_and_row_are_one_transaction(tmp_path, monkeypatch):
    """A failure while writing the row leaves no samples: the configuration is absent, not half there."""
    real_insert = store_module._insert

    def insert_or_fail(db, table, rows):
        if table is SEED:
            raise sqlite3.OperationalError("database or disk is full")
        real_insert(db, table, rows)

    with ResultStore(tmp_path, metadata()) as store:
        record(store, "c1")
        monkeypatch.setattr(store_module, "_insert", insert_or_fail)
        with pytest.raises(StoreWriteError, match="could not store c2 .* disk is full; nothing of it was kept"):
            record(store, "c2")
        assert keys(store) == ["c1"] and {row["config_key"] for row in store.read("samples")} == {"c1"}


# --- folders, machines, metadata ------------------------------------------------------------------


def test_existing_results_are_refused_without_resume_and_continued_with_it(tmp_path):
    with ResultStore(tmp_path, metadata()) as store:
        record(store, "c1")
    with pytest.raises(ResultsExistError, match="pass --resume"):
        ResultStore(tmp_path, metadata())
    with ResultStore(tmp_path, metadata(command="again"), resume=True) as store:
        assert store.completed_keys("seed") == {"c1"}
        assert [run["command"] for run in store.metadata["runs"]] == ["test", "again"]
        assert store.metadata["schema_version"] == SCHEMA_VERSION


def test_resume_refuses_another_machine_naming_the_field(tmp_path):
    with ResultStore(tmp_path, metadata()) as store:
        record(store, "c1")
    other = {"machine": {**MACHINE, "cores": 64}}
    with pytest.raises(MachineMismatchError, match=r"cores: 2 in the folder, 64 here") as raised:
        ResultStore(tmp_path, other, resume=True)
    assert raised.value.differences == {"cores": (2, 64)}


def test_results_without_metadata_are_refused(tmp_path):
    with ResultStore(tmp_path, metadata()) as store:
        record(store, "c1")
    (tmp_path / "metadata.json").unlink()
    with pytest.raises(ResultsExistError, match="no metadata.json"):
        ResultStore(tmp_path, metadata(), resume=True)


@pytest.mark.parametrize(
    "content, message",
    [
        ("[1, 2]", "must hold a JSON object"),
        ('{"machine": "a string"}', "'machine' must be an object"),
        ('{"machine": {}, "runs": {"a": 1}}', "'runs' must be a list of objects"),
        ('{"machine": {}, "schema_version": 99}', "schema version 99 is not one this code reads"),
        ("{not json", "metadata.json is not JSON"),
        (b"\xff\xfe", "metadata.json is not UTF-8 text"),
        ("[" * 100000 + "]" * 100000, "nests 100000 levels deep, past the limit of 32"),
    ],
)
def test_a_metadata_file_of_the_wrong_shape_is_one_clear_error(tmp_path, content, message):
    path = tmp_path / "metadata.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(StoreCorruptError, match=message):
        ResultStore(tmp_path, metadata(), resume=True)


def test_metadata_of_the_wrong_shape_from_the_caller_is_refused(tmp_path):
    with pytest.raises(ValueError, match="'runs' entry"):
        ResultStore(tmp_path, {"machine": {}, "runs": []})
    with pytest.raises(TypeError, match="must be a dict"):
        ResultStore(tmp_path, {"machine": "cpu"})


def test_write_file_is_atomic_and_refuses_paths(tmp_path, monkeypatch):
    with ResultStore(tmp_path, metadata()) as store:
        store.write_file("device_profile_cpu.json", "old")
        with pytest.raises(ValueError, match="plain file name"):
            store.write_file("../escape.json", "x")

        def fail(*args, **kwargs):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "fsync", fail)
        with pytest.raises(StoreWriteError, match="No space left on device"):
            store.write_file("device_profile_cpu.json", "new")
    assert (tmp_path / "device_profile_cpu.json").read_text() == "old"
    assert not [path for path in tmp_path.iterdir() if path.name.endswith(".tmp")]


# --- one writer --------------------------------------------------------------------------------------

HOLDER = textwrap.dedent("""
    import sys, time
    from validate.results.store import ResultStore
    store = ResultStore(sys.argv[1], {"machine": {"cpu_model": "Test CPU", "cores": 2, "platform": "Linux-test"},
                                      "command": "holder"}, resume=True)
    print("open", flush=True)
    time.sleep(60)
""")


def _child(script, *argv):
    return subprocess.Popen(
        [sys.executable, "-c", script, *map(str, argv)],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )


def test_a_second_writer_is_refused_naming_the_first_and_a_killed_one_frees_the_folder(tmp_path):
    holder = _child(HOLDER, tmp_path)
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(StoreBusyError, match=rf"being written by process {holder.pid} \(holder\)"):
            ResultStore(tmp_path, metadata(), resume=True)
    finally:
        holder.kill()  # kill -9: the kernel drops the lock with the process
        holder.wait()
    with ResultStore(tmp_path, metadata(), resume=True) as store:
        record(store, "c1")


# --- kill -9 at random points ---------------------------------------------------------------------

WRITER = textwrap.dedent("""
    import sys
    from validate.results.store import ResultStore
    store = ResultStore(sys.argv[1], {"machine": {"cpu_model": "Test CPU", "cores": 2, "platform": "Linux-test"},
                                      "command": "writer"}, resume=True)
    for index in range(10000):
        key = f"{sys.argv[2]}-{index}"
        store.record(key, "seed", [{"layer_type": "conv3x3", "geomean_seconds": 0.001 * (index + 1)}],
                     [{"role": "network", "sample": sample, "seconds": 0.001} for sample in range(7)])
        print(key, flush=True)  # printed only once record() has returned: this key is complete
""")


@pytest.mark.slow
def test_kill_9_at_random_points_keeps_every_completed_row_and_its_samples(tmp_path):
    rng = random.Random(20261201)
    completed = []
    for attempt in range(6):
        writer = _child(WRITER, tmp_path, f"run{attempt}")
        time.sleep(0.4 + rng.random() * 0.8)
        writer.send_signal(signal.SIGKILL)
        output, _ = writer.communicate()
        completed += output.split()
        with ResultStore(tmp_path, metadata(), resume=True) as store:
            stored = keys(store)
            samples = store.read("samples")
            assert set(completed) <= set(stored)  # nothing reported complete is lost
            assert len(stored) == len(set(stored))
            per_key = {}
            for sample in samples:
                per_key[sample["config_key"]] = per_key.get(sample["config_key"], 0) + 1
            assert per_key == {key: 7 for key in stored}  # every row has all its samples, no orphans
            rows = store.read("seed")
        # The exports are rewritten to match the database exactly.
        assert (tmp_path / "seed.csv").read_text() == csv_text(SEED, rows)
        assert (tmp_path / "samples.csv").read_text() == csv_text(SAMPLES, samples)
    assert len(completed) > 20


# --- disk full ----------------------------------------------------------------------------------


def test_a_full_disk_while_exporting_is_repaired_on_the_next_open(tmp_path, monkeypatch):
    with ResultStore(tmp_path, metadata()) as store:
        record(store, "c1")
        real_append = store_module._append_csv

        def torn_append(path, table, rows):
            with open(path, "a") as handle:
                handle.write("c2,tensorflow,cp")  # a part written, then the disk was full
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(store_module, "_append_csv", torn_append)
        with pytest.raises(StoreWriteError, match="c2 is stored in results.sqlite, but its CSV export failed"):
            record(store, "c2")
        monkeypatch.setattr(store_module, "_append_csv", real_append)
    with ResultStore(tmp_path, metadata(), resume=True) as store:
        assert keys(store) == ["c1", "c2"]
        assert not [repair for repair in store.repairs if "edited" in repair]
    assert pd.read_csv(tmp_path / "seed.csv")["config_key"].tolist() == ["c1", "c2"]


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/bin/mount"), reason="mounting a tmpfs needs root")
def test_a_really_full_disk_gives_one_line_and_keeps_what_was_stored(tmp_path):
    small = tmp_path / "small"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", str(small)]).returncode:
        pytest.skip("this machine does not let a test mount a tmpfs")
    try:
        stored = []
        with pytest.raises(StoreWriteError) as raised, ResultStore(small, metadata()) as store:
            for index in range(100000):
                record(store, f"c{index}", samples=50)
                stored.append(f"c{index}")
        assert "\n" not in str(raised.value)
        os.remove(small / "samples.csv")  # make room, as a user would
        with ResultStore(small, metadata(), resume=True) as store:
            assert set(stored) <= set(keys(store))
    finally:
        subprocess.run(["umount", str(small)])


# --- hand-edited and truncated files ----------------------------------------------------------------


def test_a_hand_edited_export_is_kept_aside_and_rewritten_from_the_database(tmp_path):
    with ResultStore(tmp_path, metadata()) as store:
        for key in ("c1", "c2", "c3"):
            record(store, key)
    edited = (tmp_path / "seed.csv").read_text().replace("conv3x3", 'conv"3x3', 1)
    (tmp_path / "seed.csv").write_text(edited)
    with ResultStore(tmp_path, metadata(), resume=True) as store:
        assert keys(store) == ["c1", "c2", "c3"]
        assert any("seed.csv differed" in repair and "seed.csv.replaced" in repair for repair in store.repairs)
    assert (tmp_path / "seed.csv.replaced").read_text() == edited
    assert 'conv"3x3' not in (tmp_path / "seed.csv").read_text()


def _csv_only_folder(tmp_path, count=5):
    """A folder as the store wrote it before the database (schema version 1)."""
    with ResultStore(tmp_path, metadata()) as store:
        for index in range(count):
            record(store, f"c{index}")
    (tmp_path / DATABASE_FILE).unlink()
    for extra in tmp_path.glob(f"{DATABASE_FILE}-*"):
        extra.unlink()
    document = json.loads((tmp_path / "metadata.json").read_text())
    del document["schema_version"]
    (tmp_path / "metadata.json").write_text(json.dumps(document))


def test_a_csv_only_folder_is_imported_with_everything_kept(tmp_path):
    _csv_only_folder(tmp_path)
    with ResultStore(tmp_path, metadata(), resume=True) as store:
        assert keys(store) == [f"c{index}" for index in range(5)] and len(store.read("samples")) == 15
        assert any("imported 5 row(s)" in repair for repair in store.repairs)


def test_a_stray_quote_inside_a_field_is_kept_as_written_and_no_row_is_cut(tmp_path):
    """The old store counted quotes to find torn lines, and a hand-typed quote cut rows 2-5."""
    _csv_only_folder(tmp_path)
    lines = (tmp_path / "seed.csv").read_text().splitlines(keepends=True)
    lines[2] = lines[2].replace("conv3x3", 'conv3"x3', 1)
    (tmp_path / "seed.csv").write_text("".join(lines))
    with ResultStore(tmp_path, metadata(), resume=True) as store:
        assert keys(store) == [f"c{index}" for index in range(5)]
        assert store.read("seed")[1]["layer_type"] == 'conv3"x3'
        assert len(store.read("samples")) == 15


def test_a_quoted_field_opened_by_hand_is_refused_not_cut(tmp_path):
    _csv_only_folder(tmp_path)
    lines = (tmp_path / "seed.csv").read_text().splitlines(keepends=True)
    lines[2] = lines[2].replace(",conv3x3,", ',"conv3x3,', 1)  # an opening quote that joins the lines after it
    (tmp_path / "seed.csv").write_text("".join(lines))
    with pytest.raises(StoreCorruptError, match=r"seed.csv line 3: "):
        ResultStore(tmp_path, metadata(), resume=True)


def test_a_missing_final_newline_keeps_the_complete_last_row(tmp_path):
    _csv_only_folder(tmp_path)
    (tmp_path / "seed.csv").write_text((tmp_path / "seed.csv").read_text().rstrip("\n"))
    with ResultStore(tmp_path, metadata(), resume=True) as store:
        assert keys(store) == [f"c{index}" for index in range(5)]


@pytest.mark.parametrize(
    "table, tail, dropped",
    [
        ("seed", "c5,tensorflow,cpu,graph,conv3x3,16,,,,0.00", "seed.csv: dropped the torn last line 7"),
        ("samples", "c4,netw", "samples.csv: dropped the torn last line 17"),
        ("samples", 'c4,"netw', "samples.csv: dropped the torn last line 17"),
    ],
)
def test_a_torn_last_line_is_dropped_and_reported(tmp_path, table, tail, dropped):
    _csv_only_folder(tmp_path)
    with open(tmp_path / f"{table}.csv", "a") as handle:
        handle.write(tail)
    with ResultStore(tmp_path, metadata(), resume=True) as store:
        assert dropped in "; ".join(store.repairs)
        assert keys(store) == [f"c{index}" for index in range(5)]


def test_orphan_samples_are_dropped_and_reported(tmp_path):
    _csv_only_folder(tmp_path)
    with open(tmp_path / "samples.csv", "a") as handle:
        handle.write("c9,network,0,0.1,1\nc9,network,1,0.1,1\n")
    with ResultStore(tmp_path, metadata(), resume=True) as store:
        assert "dropped 2 sample(s) of 1 configuration(s) that never completed" in "; ".join(store.repairs)
        assert len(store.read("samples")) == 15


def test_blank_lines_are_ignored(tmp_path):
    _csv_only_folder(tmp_path)
    with open(tmp_path / "samples.csv", "a") as handle:
        handle.write("\n\n")
    with ResultStore(tmp_path, metadata(), resume=True) as store:
        assert len(store.read("samples")) == 15


def test_a_value_of_the_wrong_type_is_refused_with_its_line(tmp_path):
    _csv_only_folder(tmp_path)
    text = (tmp_path / "samples.csv").read_text().replace(",0.002,", ",fast,", 1)
    (tmp_path / "samples.csv").write_text(text.replace("network,0,", "network,zero,", 1))
    with pytest.raises(StoreCorruptError, match=r"samples.csv line 2, column 'sample': expected a whole number"):
        ResultStore(tmp_path, metadata(), resume=True)


def test_schema_errors_name_the_place():
    with pytest.raises(SchemaError, match="factorizations.csv line 4, column 'diverges'"):
        FACTORIZATIONS.parse({"diverges": "maybe"}, where="factorizations.csv line 4")


def test_finish_run_adds_the_end_of_run_facts_to_this_run_only(tmp_path):
    with ResultStore(tmp_path, metadata(command="first")) as store:
        store.finish_run({"wall_seconds": 12.5, "timed_seconds": 7.0})
    with ResultStore(tmp_path, metadata(command="second"), resume=True) as store:
        store.finish_run({"wall_seconds": 3.0, "timed_seconds": 1.5})
    runs = json.loads((tmp_path / "metadata.json").read_text())["runs"]
    assert [(run["command"], run["wall_seconds"], run["timed_seconds"]) for run in runs] == [
        ("first", 12.5, 7.0),
        ("second", 3.0, 1.5),
    ]
