"""Results of an older schema version are read with their columns renamed and filled, never dropped."""

import json
import sqlite3

import pandas as pd
import pytest

from validate.report.data import typed
from validate.results import agreement, schema
from validate.results.schema import FACTORIZATIONS, NETWORKS, SEED, SchemaError
from validate.results.store import DATABASE_FILE, ResultStore, read_database

MACHINE = {"cpu_model": "Test CPU", "cores": 2, "platform": "Linux-test"}
CASE = "3x3 stack,m=2"


def version_3_columns(table: schema.Table) -> list[str]:
    """The table's columns as schema version 3 named them (no ``options``, ``*_median_seconds``)."""
    return [
        column.formerly[0] if column.formerly else column.name for column in table.columns if column.name != "options"
    ]


def version_3_folder(tmp_path):
    """A results folder as version 3 wrote it: its database, and its metadata."""
    db = sqlite3.connect(tmp_path / DATABASE_FILE)
    for table in schema.STORED_TABLES.values():
        columns = ", ".join(f'"{name}"' for name in version_3_columns(table))
        db.execute(f'CREATE TABLE "{table.name}" ({columns})')
    db.execute(
        'INSERT INTO factorizations ("config_key", "case", "kernel", "scheme", "original_median_seconds", '
        '"factorized_median_seconds", "measured_ratio", "error") VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        ("k", CASE, 3, "stack", 0.002, 0.001, 0.5, ""),
    )
    db.commit()
    db.close()
    runs = [{"command": "validate factorizations"}]
    (tmp_path / "metadata.json").write_text(json.dumps({"schema_version": 3, "machine": MACHINE, "runs": runs}))
    return tmp_path


def test_a_version_3_database_is_read_by_its_former_column_names(tmp_path):
    (row,) = read_database(version_3_folder(tmp_path), "factorizations")
    assert row["original_geomean_seconds"] == 0.002 and row["factorized_geomean_seconds"] == 0.001
    assert row["options"] == "m=2"  # filled from the case's name, which held it then


def test_opening_a_version_3_folder_renames_its_columns_and_keeps_every_value(tmp_path):
    folder = version_3_folder(tmp_path)
    with ResultStore(folder, {"machine": MACHINE, "command": "test"}, resume=True) as store:
        (row,) = store.read("factorizations")
        assert store.metadata["schema_version"] == schema.SCHEMA_VERSION == 6
    assert row["original_geomean_seconds"] == 0.002 and row["options"] == "m=2"
    db = sqlite3.connect(folder / DATABASE_FILE)
    columns = {entry[1] for entry in db.execute('PRAGMA table_info("factorizations")')}
    db.close()
    assert "original_geomean_seconds" in columns and "original_median_seconds" not in columns
    header = (folder / "factorizations.csv").read_text().splitlines()[0].split(",")
    assert header == FACTORIZATIONS.column_names  # the export is in this version's columns


def test_a_version_3_csv_row_is_parsed_by_its_former_names():
    row = SEED.parse({"config_key": "k", "median_seconds": "0.25", "filters": "8"}, where="seed.csv line 2")
    assert row["geomean_seconds"] == 0.25 and row["filters"] == 8
    row = FACTORIZATIONS.parse({"case": CASE, "original_median_seconds": "0.5"}, where="factorizations.csv line 2")
    assert row["original_geomean_seconds"] == 0.5 and row["options"] == "m=2"
    assert FACTORIZATIONS.parse({"case": "5x5 stack"}, where="x")["options"] == ""


def test_every_measured_table_declares_what_is_done_with_it():
    for table in schema.MEASURED_TABLES.values():
        names = set(table.column_names)
        timed_columns = {f"{timed.prefix}{name}" for timed in table.timed for name in ("geomean_seconds", "samples")}
        assert timed_columns <= names, table.name
        assert {table.value, *table.interval, *table.rerun, table.checked_count, table.checked_by} <= names
        assert table.is_ratio == (table.value == "measured_ratio") and table.commands
    assert NETWORKS.timed[1].role == "rewritten" and NETWORKS.measuring_options == ("--measure",)


def test_whole_numbers_stay_whole_in_pandas():
    frame = typed([{"kernel": 3, "channels": 16}, {"kernel": None, "channels": 64}], FACTORIZATIONS)
    assert str(frame["kernel"].dtype) == "Int64" and frame["kernel"].iloc[0] == 3
    assert frame["kernel"].isna().iloc[1] and str(frame["measured_ratio"].dtype) == "float64"
    assert str(frame["diverges"].dtype) == "boolean"
    assert pd.api.types.is_integer_dtype(frame["channels"])


def retest_entry():
    stored = [
        {"config_key": "k", "device": "cpu", "measured_ratio": 0.5, "ratio_ci_low": 0.45, "ratio_ci_high": 0.55,
         "rerun_low": 0.4, "rerun_high": 0.6, "error": ""}
    ]  # fmt: skip
    return agreement.agreement(FACTORIZATIONS, stored, {"k": {"measured_ratio": 0.52, "error": ""}})


def test_retest_files_have_a_schema_and_a_version(tmp_path):
    path = tmp_path / agreement.RETEST_FILE
    path.write_text(json.dumps(agreement.retest_document([retest_entry()])))
    document = agreement.read_retest(path)
    assert document["version"] == agreement.RETEST_VERSION and document["tables"][0]["compared"] == 1
    path.write_text(json.dumps({"tables": [retest_entry()]}))  # the first layout, before the header
    assert agreement.read_retest(path)["tables"][0]["table"] == "factorizations"


@pytest.mark.parametrize(
    "document, message",
    [
        ({"schema": "validate.retest", "version": 99, "tables": []}, "retest file version 99 is not one"),
        ({"schema": "something else", "tables": []}, "not a retest file"),
        ({"version": 1, "tables": [{"table": "factorizations"}]}, "table entry 1: missing compared"),
        ({"version": 1, "tables": [{"table": "nonsense", "compared": 0}]}, "unknown table 'nonsense'"),
        ({"version": 1, "tables": [{"table": "seed", "compared": 2}]}, "missing inside_confidence_interval"),
    ],
)
def test_a_retest_file_of_another_shape_is_refused_naming_what_is_wrong(tmp_path, document, message):
    path = tmp_path / agreement.RETEST_FILE
    path.write_text(json.dumps(document))
    with pytest.raises(SchemaError, match=message):
        agreement.read_retest(path)


def test_a_version_3_csv_folder_is_read_by_the_report_and_a_row_without_options_is_stored_with_them(tmp_path):
    from validate.report.data import load_results

    (tmp_path / "seed.csv").write_text("config_key,device,layer_type,median_seconds,error\nk,cpu,conv3x3,0.25,\n")
    (tmp_path / "metadata.json").write_text(json.dumps({"schema_version": 3, "machine": MACHINE, "runs": []}))
    assert load_results(tmp_path).seed["geomean_seconds"].tolist() == [0.25]
    row = FACTORIZATIONS.row({"config_key": "k", "case": CASE})
    assert row["options"] == "m=2"  # filled before it is stored, as it would be when read back


def test_each_configuration_type_names_the_table_whose_descriptor_names_it():
    from validate.experiments.network_measure import NetworkConfig
    from validate.experiments.plans import FactorizationConfig, SeedConfig

    for config_type in (SeedConfig, FactorizationConfig, NetworkConfig):
        assert config_type.table.config_type == config_type.__name__
    assert {config_type.table.name for config_type in (SeedConfig, FactorizationConfig, NetworkConfig)} == set(
        schema.MEASURED_TABLES
    )
