"""The report renderer on a small synthetic results set (no TensorFlow anywhere).

The fixture writes what ``python -m validate`` would: seed.csv (6 layer types
x 2 filters x 2 modes), factorizations.csv in the full current schema
(2 cases x 2 channels x 2 sizes, plus one failed row), accuracy_cpu.csv, a
device profile and metadata.json.  Ratios, verdicts and counts come from the
cost model and validate.results.divergence, as in a real run; only the timings are made up.
"""

from __future__ import annotations

import csv
import dataclasses
import html
import json
import pathlib
import re
import subprocess
import sys
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from helpers import REPO_ROOT
from matplotlib.collections import PathCollection
from matplotlib.image import AxesImage

from costmodel.counts import count_layer
from costmodel.latency import DeviceProfile
from validate.experiments.plans import SEED_LAYER_TYPES, Case, FactorizationConfig, SeedConfig
from validate.report import build_report, charts, load_results, networks, runtimes, tables
from validate.report.build import CHART_PARTS, TABLE_PARTS, main
from validate.report.markdown import pipe_table
from validate.results.divergence import judge
from validate.results.schema import FACTORIZATIONS, SEED

SEED_COLUMNS, FACTORIZATION_COLUMNS = SEED.column_names, FACTORIZATIONS.column_names

MACHINE = {
    "cpu_model": "Synthetic CPU 9000",
    "cores": 2,
    "platform": "Linux-test",
    "python": "3.11.7",
    "tensorflow": "2.21.0",
    "keras": "3.15.1",
    "backend": "tensorflow",
    "gpus": [],
    "gpu_driver": None,
}
SEED_FILTERS, SEED_MODES = (8, 64), ("graph", "predict")
CASES = (Case(5, "stack"), Case(3, "depthwise-separable"))
CHANNELS, SIZES, BATCH, REPEATS = (16, 64), (16, 32), 8, 4
# Made-up slowdowns against the MAC prediction: the stack nearly agrees at 64 channels; the
# depthwise-separable block is far slower than its MACs at 64 channels (sign flips), as measured in practice.
SLOWDOWN = {("stack", 16): 1.3, ("stack", 64): 1.02, ("depthwise-separable", 16): 2.5, ("depthwise-separable", 64): 9.0}
MEASURED_ROWS = len(CASES) * len(CHANNELS) * len(SIZES)
SEED_ROWS = len(SEED_LAYER_TYPES) * len(SEED_FILTERS) * len(SEED_MODES)
SAMPLES_PER_ROLE = 3


def _write_csv(path, columns, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def _measurement(prefix, seconds):
    return {
        f"{prefix}geomean_seconds": seconds,
        f"{prefix}iqr_seconds": seconds * 0.04,
        f"{prefix}relative_iqr": 0.04,
        f"{prefix}ci_low_seconds": seconds * 0.98,
        f"{prefix}ci_high_seconds": seconds * 1.02,
        f"{prefix}noisy": False,
        f"{prefix}samples": 20,
        f"{prefix}calls_per_sample": 1,
        f"{prefix}stop_reason": "converged",
    }


def seed_rows(device="cpu"):
    rows = []
    for mode in SEED_MODES:
        for layer_type in SEED_LAYER_TYPES:
            for filters in SEED_FILTERS:
                config = SeedConfig(device, mode, layer_type, filters)
                theory = config.theory()
                # predict() adds a fixed cost per call; the depthwise layer is memory-bound (x20).
                seconds = (0.03 if mode == "predict" else 0.001) + float(theory["macs"]) * 2e-11 * (
                    20 if layer_type == "conv3x3sep" else 1
                )
                row = {
                    "config_key": config.key,
                    "device": device,
                    "mode": mode,
                    "layer_type": layer_type,
                    "filters": filters,
                    "layers": 16,
                    "batch": 32,
                    "image": 32,
                    **_measurement("", seconds),
                    "macs": theory["macs"],
                    "macs_ratio_vs_conv3x3": float(theory["macs_ratio_vs_conv3x3"]),
                    "params": 0,
                    "flops": 2 * theory["macs"],
                    "error": "",
                }
                rows.append(SEED.row(row))
    return rows


def factorization_rows(device="cpu", columns=FACTORIZATION_COLUMNS):
    rows = []
    for case in CASES:
        for channels in CHANNELS:
            for size in SIZES:
                config = FactorizationConfig(device, "graph", case, channels, size, BATCH, REPEATS, None)
                predicted = config.predicted_ratio()
                measured = predicted * SLOWDOWN[case.scheme, channels] * (1.2 if size == 16 else 1.0)
                verdict = judge(predicted, measured, measured * 0.97, measured * 1.03)
                original = 1e-3 * channels * size * case.kernel**2 / 2000
                before, after = count_layer(config.original), config.factorized.counts()
                row = {
                    "config_key": config.key,
                    "device": device,
                    "mode": "graph",
                    "case": case.name,
                    "kernel": case.kernel,
                    "scheme": case.scheme,
                    "channels": channels,
                    "size": size,
                    "batch": BATCH,
                    "repeats": REPEATS,
                    "activation": "linear",
                    **verdict.as_row(),
                    "model_time_ratio": measured * 0.95,
                    "model_original_seconds": original * 1.1,
                    "model_factorized_seconds": original * measured * 1.05,
                    "reason": "depthwise | memory-bound" if verdict.diverges else "",
                    "predicted_params_ratio": predicted,
                    "predicted_flops_ratio": predicted,
                    "macs_original": int(before.macs) * REPEATS,
                    "macs_factorized": int(after.macs) * REPEATS,
                    **_measurement("original_", original),
                    **_measurement("factorized_", original * measured),
                    "params_original": int(before.params) * REPEATS,
                    "params_factorized": int(after.params) * REPEATS,
                    "flops_original": int(before.flops) * REPEATS,
                    "flops_factorized": int(after.flops) * REPEATS,
                    "equivalence_max_error": 5e-7,
                    "error": "",
                }
                rows.append({column: row.get(column, "") for column in columns})
    failed = FactorizationConfig(device, "graph", CASES[0], 128, 16, BATCH, REPEATS, None)
    rows.append(
        {column: "" for column in columns}
        | {
            "config_key": failed.key,
            "device": device,
            "mode": "graph",
            "case": CASES[0].name,
            "kernel": 5,
            "scheme": "stack",
            "channels": 128,
            "size": 16,
            "batch": BATCH,
            "repeats": REPEATS,
            "activation": "linear",
            "error": "ResourceExhaustedError: OOM when allocating tensor",
        }
    )
    return rows


def write_results(folder, machine=MACHINE, device="cpu", columns=FACTORIZATION_COLUMNS):
    """A complete synthetic results folder for one machine."""
    folder.mkdir(parents=True, exist_ok=True)
    _write_csv(folder / "seed.csv", SEED_COLUMNS, seed_rows(device))
    _write_csv(folder / "factorizations.csv", columns, factorization_rows(device, columns))
    accuracy = [
        {
            "device": device,
            "model": model,
            "quantity": quantity,
            "count": 2 * MEASURED_ROWS,
            "within_10_percent": share,
            "within_20_percent": min(1.0, share + 0.25),
            "median_absolute_percentage_error": 100 * (1 - share) / 4,
        }
        for model, share in (("naive", 0.25), ("latency", 0.75))
        for quantity in ("block latency", "time ratio")
    ]
    _write_csv(folder / f"accuracy_{device}.csv", list(accuracy[0]), accuracy)
    samples = [
        {"config_key": row["config_key"], "role": "network", "sample": index, "seconds": 0.001 * (index + 1)}
        for row in seed_rows(device)
        for index in range(SAMPLES_PER_ROLE)
    ]
    _write_csv(folder / "samples.csv", list(samples[0]), samples)
    residuals = [
        {
            "layer": "3x3 conv 24->24",
            "kind": "dense",
            "height": 24,
            "repeats": 4,
            "measured_seconds": 0.002,
            "predicted_seconds": 0.0021,
            "relative_error": 0.05,
        }
    ]
    DeviceProfile(
        device,
        5e10,
        1e10,
        2e-5,
        1e-4,
        {"dense": 0.5, "pointwise": 0.4, "depthwise": 0.1, "asymmetric": 0.3},
        extra={"seconds_per_mac": 2e-11, "calibration_residuals": residuals, "machine": machine},
    ).save(folder / f"device_profile_{device}.json")
    write_networks(folder, device)
    write_retest(folder)
    run = {
        "started": "2026-11-28T19:13:47+00:00",
        "command": "validate factorizations --preset quick",
        "threads": {"intra_op": 0, "inter_op": 0},
        "tf_enable_onednn_opts": None,
    }
    (folder / "metadata.json").write_text(json.dumps({"machine": machine, "runs": [run]}))
    return folder


def write_retest(folder):
    """What ``validate retest`` stores: the agreement of three configurations measured again."""
    from validate.results.agreement import RETEST_FILE, agreement

    stored = [
        {
            "config_key": f"k{index}",
            "device": "cpu",
            "measured_ratio": 0.5,
            "ratio_ci_low": 0.47,
            "ratio_ci_high": 0.53,
            "rerun_low": 0.45,
            "rerun_high": 0.55,
            "error": "",
        }
        for index in range(3)
    ]
    again = {f"k{index}": {"measured_ratio": value, "error": ""} for index, value in enumerate((0.5, 0.52, 0.6))}
    (folder / RETEST_FILE).write_text(json.dumps({"tables": [agreement(FACTORIZATIONS, stored, again)]}))


def write_networks(folder, device):
    """What ``validate networks`` and ``validate network --papers`` store: two rewrites of one network, a paper line.

    The whole-network model's predictions: the original +9.1% off, the fused
    rewrite +80.0% (the worst), the asymmetric one +3.4%; the advisor picks the
    asymmetric rewrite (predicted 0.90), which is measured fastest (0.95, its
    interval below 1).
    """
    from costmodel.network import Network
    from costmodel.network_papers import PUBLISHED, compare_published
    from validate.results.schema import NETWORKS

    row = {
        "config_key": f"network|tensorflow|{device}|MobileNet|s128|fuse",
        "backend": "tensorflow",
        "device": device,
        "model": "mobilenet_1.00_128",
        "input_size": 128,
        "rules": "fuse",
        "changes": 13,
        "params_original": 4253864,
        "params_rewritten": 29306056,
        "macs_original": 186400768,
        "macs_rewritten": 1590009856,
        "macs_ratio": 8.53,
        "params_ratio": 6.889,
        "predicted_ratio": 8.58,
        "measured_ratio": 5.1,
        "ratio_ci_low": 4.9,
        "ratio_ci_high": 5.2,
        "original_geomean_seconds": 0.0099,
        "original_ci_low_seconds": 0.0097,
        "original_ci_high_seconds": 0.0101,
        "rewritten_geomean_seconds": 0.0515,
        "predicted_original_seconds": 0.0108,
        "predicted_rewritten_seconds": 0.0927,
        "processes": 3,
        "error": "",
    }
    asymmetric = row | {
        "config_key": f"network|tensorflow|{device}|MobileNet|s128|3x3:asymmetric",
        "rules": "3x3:asymmetric",
        "changes": 1,
        "predicted_ratio": 0.9,
        "measured_ratio": 0.95,
        "ratio_ci_low": 0.93,
        "ratio_ci_high": 0.97,
        "rewritten_geomean_seconds": 0.0094,
        "predicted_rewritten_seconds": 0.00972,
    }
    _write_csv(folder / NETWORKS.file_name, NETWORKS.column_names, [row, asymmetric])
    stored = pathlib.Path(__file__).resolve().parents[2] / "data" / "mobilenet_1.00_224.network.json"
    network = Network.from_dict(json.loads(stored.read_text()))
    (folder / "networks_papers.json").write_text(json.dumps([compare_published(PUBLISHED[0], network)]))


@pytest.fixture(scope="module")
def results_folder(tmp_path_factory):
    return write_results(tmp_path_factory.mktemp("results") / "synthetic")


@pytest.fixture(scope="module")
def built(results_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    return out, build_report([results_folder], out)


@pytest.fixture(scope="module")
def loaded(results_folder):
    return load_results(results_folder)


@pytest.fixture(scope="module")
def runtime_folders(results_folder, tmp_path_factory):
    """The synthetic TensorFlow folder and a LiteRT run of the same configurations (fp32, int8)."""
    return [results_folder, write_litert_results(tmp_path_factory.mktemp("litert") / "litert", results_folder)]


@pytest.fixture(scope="module")
def loaded_runtimes(runtime_folders):
    return load_results(*runtime_folders)


@pytest.fixture(scope="module")
def built_runtimes(runtime_folders, tmp_path_factory):
    out = tmp_path_factory.mktemp("report-runtimes")
    return out, build_report(runtime_folders, out)


def _for_chart(request, name: str, fixture: str):
    """The runtime comparison (chart or table) needs two runtimes' folders; every other part the one folder."""
    return request.getfixturevalue(f"{fixture}_runtimes" if name in ("runtimes", "claims_runtimes") else fixture)


# --- loading -----------------------------------------------------------------------------------


def test_columns_get_their_types(loaded):
    frame = loaded.factorizations
    assert frame["measured_ratio"].dtype == float
    assert frame["diverges"].dtype == "boolean"
    assert pd.api.types.is_string_dtype(frame["verdict"])
    assert (frame["machine"] == MACHINE["cpu_model"]).all()
    assert len(frame) == MEASURED_ROWS + 1  # the failed row is kept, with its error
    assert set(loaded.profiles) == {"cpu"} and loaded.metadata[0]["machine"] == MACHINE
    assert len(loaded.samples) == SEED_ROWS * SAMPLES_PER_ROLE
    assert loaded.samples["seconds"].dtype == float


def test_an_older_schema_gains_the_missing_columns(tmp_path):
    older = [
        column
        for column in FACTORIZATION_COLUMNS
        if not column.startswith("model_") and column not in ("reason", "macs_original", "macs_factorized")
    ]
    loaded = load_results(write_results(tmp_path / "old", columns=older))
    assert loaded.factorizations["model_time_ratio"].isna().all()
    assert (loaded.factorizations["reason"] == "").all()


@pytest.mark.parametrize(
    "other_cpu, expected",
    [
        ("Other CPU 1", {"cpu (Synthetic CPU 9000)", "cpu (Other CPU 1)"}),  # two machines: never pooled
        (MACHINE["cpu_model"], {"cpu"}),  # the same machine in two folders keeps its plain label
    ],
)
def test_device_labels_name_the_machine_when_two_share_a_device(tmp_path, other_cpu, expected):
    first = write_results(tmp_path / "a")
    second = write_results(tmp_path / "b", machine={**MACHINE, "cpu_model": other_cpu})
    loaded = load_results(first, second)
    assert set(loaded.factorizations["device"]) == expected
    assert set(loaded.profiles) == expected


def test_an_empty_folder_is_an_error_naming_it(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty.*holds no results"):
        load_results(tmp_path / "empty")
    with pytest.raises(ValueError, match="missing.*does not exist"):
        load_results(tmp_path / "missing")


# --- charts ------------------------------------------------------------------------------------


def _points(figure, gid: str) -> int:
    """How many data points the figure's artists with this gid carry."""
    count = 0
    for ax in figure.axes:
        for line in ax.get_lines():
            count += len(line.get_xdata()) if line.get_gid() == gid else 0
        for collection in ax.collections:
            if isinstance(collection, PathCollection) and collection.get_gid() == gid:
                count += len(collection.get_offsets())
        for image in ax.get_images():
            if isinstance(image, AxesImage) and image.get_gid() == gid:
                count += int(np.isfinite(np.ma.filled(image.get_array(), np.nan)).sum())
    return count


CONV3X3_ROWS = len(SEED_FILTERS) * len(SEED_MODES)  # conv3x3's expectation is itself: not drawn
CHART_POINTS = [
    ("seed", "measured", SEED_ROWS),
    ("seed", "expected", SEED_ROWS - CONV3X3_ROWS),
    ("ratios", "mac-model", MEASURED_ROWS),
    ("ratios", "latency-model", MEASURED_ROWS),
    ("roofline", "original", MEASURED_ROWS),
    ("roofline", "factorized", MEASURED_ROWS),
    ("kernel_savings", "measured", MEASURED_ROWS),
    ("divergence", "divergence", MEASURED_ROWS),  # one cell per (case, channels, size) here
    ("network_seconds", "network-model", 3),  # the original once, and its two rewrites
]


@pytest.mark.parametrize("name, gid, expected", CHART_POINTS)
def test_each_chart_plots_every_row(loaded, name, gid, expected):
    assert _points(charts.CHARTS[name](loaded), gid) == expected


@pytest.mark.parametrize("name", list(charts.CHARTS))
def test_each_chart_is_titled_and_labelled(request, name):
    figure = charts.CHARTS[name](_for_chart(request, name, "loaded"))
    assert figure.get_suptitle()
    panels = [ax for ax in figure.axes if ax.get_label() != "<colorbar>"]
    assert panels
    for ax in panels:
        assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()


def test_the_kernel_chart_draws_every_scheme_curve(loaded):
    figure = charts.kernel_saving_chart(loaded)
    curves = [line for line in figure.axes[0].get_lines() if line.get_gid() == "theory"]
    assert len(curves) == 4  # stack, stack m=2, asymmetric, depthwise-separable
    # Szegedy §3.1: 5x5 -> two 3x3 saves 28% at equal widths.
    stack = dict(zip(*curves[0].get_data(), strict=False))
    assert stack[5] == pytest.approx(28.0)


@pytest.mark.parametrize("name", list(CHART_PARTS))
def test_every_chart_is_saved_as_png_and_svg(request, name):
    out, report = _for_chart(request, name, "built")
    for suffix in ("png", "svg"):
        path = out / "figures" / f"{name}.{suffix}"
        assert path.exists() and path.stat().st_size > 1000
        assert report["figures"][name][suffix] == path


# --- tables ------------------------------------------------------------------------------------

EXPECTED_TABLE_ROWS = {
    "literature": 6,
    "divergence": MEASURED_ROWS,
    "accuracy": 5,  # 2 models x 2, test-retest
    # 2017 CPU and GPU seconds and ratios, published theory, cost model; then per mode
    "seed_2017": 6 + 2 * len(SEED_MODES),
    "environment": 1,
    "networks": 2,
    "network_scores": 3,  # seconds, ratios, the advisor
    "network_model": 3,
    "networks_papers": 1,
    "runtimes": MEASURED_ROWS,  # from the two runtimes' folders: each configuration once
    "claims_runtimes": 2 * len(SIZES),  # the two claims whose cases were measured, at 64 channels, per size
    "reproducibility": 1,
    "model_errors": len({case.scheme for case in CASES}),
}


@pytest.mark.parametrize("name", list(TABLE_PARTS))
def test_every_table_is_in_html_and_markdown(request, name):
    out, report = _for_chart(request, name, "built")
    title = TABLE_PARTS[name].title
    html_text = (out / "index.html").read_text()
    markdown = (out / "report.md").read_text()
    assert report["tables"][name] == EXPECTED_TABLE_ROWS[name]
    assert f"<h3>{html.escape(title)}</h3>" in html_text and f"### {title}" in markdown
    section = markdown.split(f"### {title}")[1].split("\n### ")[0]
    table_lines = [line for line in section.splitlines() if line.startswith("| ")]
    assert len(table_lines) == 2 + EXPECTED_TABLE_ROWS[name]  # header and rule, then one line per row
    html_section = html_text.split(f'id="table-{name}"')[1].split("</section>")[0]
    assert html_section.count("<tr") == 1 + EXPECTED_TABLE_ROWS[name]


def test_model_errors_name_the_worst_row_of_each_kind(loaded):
    frame = loaded.factorizations.copy()
    worst = frame.index[(frame["scheme"] == "stack") & (frame["channels"] == CHANNELS[-1])][0]
    frame.loc[worst, "model_time_ratio"] = 2 * frame.loc[worst, "measured_ratio"]
    table = tables.model_errors_table(
        dataclasses.replace(loaded, tables={**loaded.tables, "factorizations": frame})
    ).set_index("kind")
    assert table.loc["stack", "error (%)"] == pytest.approx(100.0)
    assert table.loc["stack", "worst row"].startswith(f"{frame.loc[worst, 'case']}, {CHANNELS[-1]} channels")
    assert table.loc["depthwise-separable", "error (%)"] == pytest.approx(-5.0)
    assert table.loc["stack", "within ±10% (%)"] == pytest.approx(75.0)  # 3 of the 4 stack rows


def test_divergence_table_is_sorted_largest_first(loaded, built):
    out, _ = built
    table = tables.divergence_table(loaded)
    distance = (table["divergence"] - 1).abs().tolist()
    assert distance == sorted(distance, reverse=True)
    first = tables.formatted(table).iloc[0]
    assert first["case"] == "3x3 depthwise-separable" and first["verdict"].startswith("sign flip")
    for text in ((out / "index.html").read_text(), (out / "report.md").read_text()):
        assert first["verdict"] in text and first["divergence"] in text
    assert "depthwise \\| memory-bound" in (out / "report.md").read_text()  # a pipe inside a cell


@pytest.mark.parametrize(
    "value",
    [
        "18/25",  # Szegedy §3.1: two 3x3 for a 5x5, from costmodel.savings
        "73/576",  # Howard eq. 5 at 64 channels: 1/64 + 1/9
        "27/49",  # Simonyan & Zisserman §2.3: three 3x3 for a 7x7
        "43.7",  # the seed's published conv3x3 CPU total (tables.SEED_PUBLISHED_2017)
        "2.721",  # computed: 118.898 / 43.700, the seed's conv5x5 CPU ratio to conv3x3
        "0.01562",  # cost model: depthwise 3x3 alone vs dense 3x3 at 64 filters = 1/64
    ],
)
def test_computed_and_published_figures_appear(built, value):
    out, _ = built
    assert value in (out / "index.html").read_text() and value in (out / "report.md").read_text()


def test_findings_count_the_divergent_rows(loaded, built):
    out, _ = built
    frame = loaded.factorizations[loaded.factorizations["error"] == ""]
    sentence = f"{int(frame['diverges'].sum())} of {MEASURED_ROWS} factorization rows diverge"
    assert sentence in (out / "index.html").read_text() and sentence in (out / "report.md").read_text()


def test_the_whole_network_model_is_scored(loaded, built):
    scores = networks.network_scores_table(loaded).set_index("quantity")
    seconds = scores.loc["whole-network seconds"]
    assert (seconds["measured"], seconds["within ±10%"], seconds["within ±20%"]) == (3, "67%", "67%")
    assert seconds[networks.RECORD] == "mobilenet_1.00_128 128 fuse (+80.0%)"
    # Only the original has an interval (9.70-10.10 ms, ±2%), and its 10.8 ms prediction lies outside it.
    assert seconds["inside measured 95% CI"] == "0% (CI ±2%)"
    assert scores.loc["rewrite time ratio", "within ±10%"] == "50%"  # 0.90 for 0.95 in, 8.58 for 5.1 out
    advisor = scores.loc["advisor's first choice = measured fastest", networks.RECORD]
    assert advisor == "agrees on 100% of the 1 decided by measurement"
    out, _ = built
    sentence = "predicts 67% of 3 measured networks' seconds within ±10%"
    assert html.escape(sentence) in (out / "index.html").read_text() and sentence in (out / "report.md").read_text()


def test_pipe_table_escapes_pipes_and_newlines():
    table = pipe_table(pd.DataFrame({"a|b": ["x|y"], "c": ["two\nlines"]}))
    assert table.splitlines() == ["| a\\|b | c |", "| --- | --- |", "| x\\|y | two lines |"]


# --- the page and the Markdown -----------------------------------------------------------------


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.targets, self.images = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attrs = dict(attrs)
        for name in ("href", "src"):
            if name in attrs:
                self.targets.append(attrs[name])
        if tag == "img":
            self.images.append(attrs.get("src", ""))


def test_html_is_self_contained(built_runtimes):  # two runtimes' folders: every chart is drawn
    out, _ = built_runtimes
    parser = _Links()
    parser.feed((out / "index.html").read_text())
    parser.close()
    assert len(parser.images) == len(CHART_PARTS)
    assert all(src.startswith("data:image/png;base64,") for src in parser.images)
    outside = [t for t in parser.targets if not (t.startswith("#") or t.startswith("data:"))]
    assert outside == []
    assert not {"script", "link", "iframe"} & set(parser.tags)


def test_markdown_references_only_existing_figures(built_runtimes):
    out, _ = built_runtimes
    references = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", (out / "report.md").read_text())
    assert len(references) == len(CHART_PARTS)
    assert all(reference.startswith("figures/") and (out / reference).exists() for reference in references)


def test_the_inputs_are_copied(built, results_folder):
    out, report = built
    copied = {path.name for path in report["data"]}
    assert copied == {path.name for path in results_folder.iterdir()}
    assert all(path.parent == out / "data" / results_folder.name for path in report["data"])


def test_a_folder_with_only_seed_results_says_what_is_missing(tmp_path):
    folder = tmp_path / "seed-only"
    folder.mkdir()
    _write_csv(folder / "seed.csv", SEED_COLUMNS, seed_rows())
    report = build_report([folder], tmp_path / "out")
    assert set(report["figures"]) == {"seed", "kernel_savings"}  # the kernel chart's theory needs no data
    assert set(report["tables"]) == {"literature", "seed_2017", "environment"}
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "python -m validate calibrate" in markdown and "No factorization was measured" in markdown


# --- command line ------------------------------------------------------------------------------


def test_cli_builds_without_tensorflow(results_folder, tmp_path):
    script = (
        "import sys\nfrom validate.report.build import main\n"
        f"status = main(['--results', {str(results_folder)!r}, '--out', {str(tmp_path / 'r')!r}])\n"
        "print('tensorflow' in sys.modules, status)"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    )
    assert completed.stdout.splitlines()[-1] == "False 0"
    assert (tmp_path / "r" / "index.html").exists()


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--results", "no/such/folder"], "does not exist"),
        ([], "--results"),
    ],
)
def test_cli_bad_input_is_one_line_and_status_2(arguments, message, capsys):
    assert main(arguments) == 2
    error = capsys.readouterr().err
    assert len(error.strip().splitlines()) == 1 and message in error


def test_text_from_the_data_cannot_inject_markdown(tmp_path):
    """A CPU model or GPU name is shown as written: never a link, an image, raw HTML or a table break."""
    hostile = "Evil <script>alert(1)</script> [click](javascript:alert(1)) ![x](http://x/y.png) | # *"
    folder = write_results(
        tmp_path / "hostile", machine={**MACHINE, "cpu_model": hostile, "gpus": ["GPU | <img src=x onerror=alert(1)>"]}
    )
    build_report([folder], tmp_path / "out")
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "Evil \\<script\\>" in markdown
    for raw in ("<script>", "<img", "[click](", "![x](", "| # *"):  # unescaped, each would be markup
        assert not re.search(r"(?<!\\)" + re.escape(raw), markdown), raw
    page = (tmp_path / "out" / "index.html").read_text()
    assert "<script>alert" not in page and "&lt;script&gt;" in page


def test_reproducibility_table_shows_the_retest(loaded):
    (row,) = tables.reproducibility_table(loaded).to_dict("records")
    assert row["table"] == "factorizations" and row["configurations"] == 3
    assert row["inside 95% CI (%)"] == pytest.approx(200 / 3)  # 0.5 and 0.52 in [0.47, 0.53]; 0.6 not
    assert row["within ±10% (%)"] == pytest.approx(200 / 3) and row["median rerun width (%)"] == pytest.approx(20)


def test_accuracy_table_shows_the_test_retest_ceiling(loaded):
    table = tables.accuracy_table(loaded)
    (ceiling,) = table[table["model"] == "test-retest"].to_dict("records")
    # The stored 0.5 against reruns 0.5, 0.52 and 0.6: off by 0%, 3.8% and 16.7%.
    assert ceiling["quantity"] == "time ratio" and ceiling["rows"] == 3
    assert ceiling["within ±10% (%)"] == pytest.approx(200 / 3) and ceiling["within ±20% (%)"] == 100
    assert ceiling["median abs. error (%)"] == pytest.approx(100 * 0.02 / 0.52)


def test_a_profile_of_an_older_model_is_left_out_not_fatal(tmp_path, capsys):
    folder = write_results(tmp_path / "old")
    profile_file = folder / "device_profile_cpu.json"
    old = json.loads(profile_file.read_text())
    for field in ("model", "kernel_factors", "calibrated_range"):
        old.pop(field)
    profile_file.write_text(json.dumps({**old, "version": 1}))
    report = build_report([folder], tmp_path / "out")
    assert "recalibrate" in capsys.readouterr().err
    assert report["tables"]["divergence"] == MEASURED_ROWS  # the measurements still render
    assert not load_results(folder).profiles


def test_a_folder_with_nothing_but_an_older_profile_is_refused_with_the_way_out(tmp_path, capsys):
    folder = write_results(tmp_path / "only")
    for name in ("seed.csv", "factorizations.csv", "samples.csv", "accuracy_cpu.csv", "retest.json",
                 "networks.csv", "networks_papers.json"):  # fmt: skip
        (folder / name).unlink(missing_ok=True)
    profile_file = folder / "device_profile_cpu.json"
    profile_file.write_text(json.dumps({**json.loads(profile_file.read_text()), "version": 1}))
    with pytest.raises(ValueError, match="holds only device profiles of an older latency model"):
        load_results(folder)


def write_litert_results(folder, tensorflow_folder):
    """The TensorFlow folder's factorizations as a LiteRT run: fp32 as measured, int8 made 4x slower."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = pd.read_csv(tensorflow_folder / "factorizations.csv", keep_default_na=False, dtype=str)
    fp32, int8 = rows.assign(mode="fp32"), rows.assign(mode="int8")
    for column in ("measured_ratio", "ratio_ci_low", "ratio_ci_high"):
        int8[column] = [str(float(value) * 4) if value else "" for value in int8[column]]
    pd.concat([fp32, int8]).to_csv(folder / "factorizations.csv", index=False)
    litert = MACHINE | {"backend": "litert"}
    (folder / "metadata.json").write_text(json.dumps({"machine": litert, "runs": []}))
    return folder


def test_the_runtime_comparison_sets_each_configuration_beside_itself_and_names_a_sign_disagreement(loaded_runtimes):
    results = loaded_runtimes
    table = runtimes.runtimes_table(results)
    graph, fp32, int8 = (
        "cpu (Synthetic CPU 9000), graph",
        "cpu (Synthetic CPU 9000, litert), fp32",
        "cpu (Synthetic CPU 9000, litert), int8",
    )
    assert list(table.columns[-4:]) == [graph, fp32, int8, "sign"]
    assert len(table) == MEASURED_ROWS  # the failed row has no ratio and is not compared
    row = table[(table["case"] == "5x5 stack") & (table["channels"] == 64) & (table["size"] == 32)].iloc[0]
    # The stack measured 0.72 x 1.02 = 0.734 (interval ±3%); int8 4x that: faster in two runtimes, slower in one.
    assert row[graph] == row[fp32] and row[graph].startswith("0.734 [0.712, 0.756]")
    assert row[int8].startswith("2.94")
    assert row["sign"] == f"faster in {graph}, {fp32}; slower in {int8}"
    literature = tables.literature_table(results)
    stack = literature[literature["case"] == "5x5 stack"]
    assert list(zip(stack["device"], stack["mode"], strict=True)) == [
        ("cpu (Synthetic CPU 9000)", "graph"),
        ("cpu (Synthetic CPU 9000, litert)", "fp32"),
        ("cpu (Synthetic CPU 9000, litert)", "int8"),
    ]
    figure = charts.runtimes_chart(results)
    measured_bars = [line for ax in figure.axes for line in ax.get_lines() if line.get_gid() == "measured"]
    assert len(measured_bars) == 3 * MEASURED_ROWS
    assert [ax.get_title() for ax in figure.axes] == [case.name for case in CASES]  # a panel each


def test_the_claims_per_runtime_give_each_runtime_a_column_with_its_interval(loaded_runtimes):
    table = runtimes.claims_table(loaded_runtimes)
    graph, fp32, int8 = (
        "cpu (Synthetic CPU 9000), graph",
        "cpu (Synthetic CPU 9000, litert), fp32",
        "cpu (Synthetic CPU 9000, litert), int8",
    )
    assert list(table.columns) == [
        "claim", "quoted", "case", "size", "batch", "activation", "MAC ratio", graph, fp32, int8
    ]  # fmt: skip
    assert list(table["case"]) == ["5x5 stack"] * 2 + ["3x3 depthwise-separable"] * 2
    row = table[(table["case"] == "5x5 stack") & (table["size"] == 32)].iloc[0]
    assert row["quoted"] == "28% saving" and row["MAC ratio"] == pytest.approx(18 / 25)
    assert row[graph] == row[fp32] and row[graph].startswith("0.734 [0.712, 0.756]")
    assert row[int8].startswith("2.94")


def test_one_runtime_alone_has_no_comparison(results_folder):
    results = load_results(results_folder)
    assert not runtimes.has_runtime_comparison(results)
    with pytest.raises(ValueError, match="two runtimes"):
        charts.runtimes_chart(results)
