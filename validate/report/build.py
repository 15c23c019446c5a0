"""Build the whole report from results folders: charts, tables, HTML, Markdown, data copies.

    python -m validate.report --results results/ --results other-machine/results/ --out report/

writes ``report/index.html`` (self-contained), ``report/report.md``,
``report/figures/<chart>.png|svg`` and ``report/data/<folder>/`` (copies of
the files the report was built from, so it can be checked and rebuilt).
A chart or table whose data is absent (no seed run, no device profile) is
left out and the report says so.
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import shutil
import sys
import time
from collections.abc import Callable

from costmodel.checks import OneLineParser, UsageError
from validate.report import charts, narrative, networks, runtimes, tables
from validate.report.data import (
    ACCURACY_PATTERN,
    METADATA_FILE,
    PROFILE_PATTERN,
    RETEST_FILE,
    SAMPLES_FILE,
    Results,
    load_results,
    measured,
)
from validate.report.document import ChartEntry, Document, TableEntry
from validate.report.html import render_html
from validate.report.markdown import render_markdown
from validate.results import schema

PROGRAM = "python -m validate.report"
TITLE = "Factorized convolutions: theory against measurement"


def _always(results: Results) -> bool:
    return True


def _has_factorizations(results: Results) -> bool:
    return not measured(results.factorizations).empty


@dataclasses.dataclass(frozen=True)
class Part:
    """A chart or table: its heading and caption, whether the results hold its data, what to run if not."""

    title: str
    caption: str
    available: Callable[[Results], bool] = _always
    missing: str = ""
    compute: Callable | None = None  # a table's frame from the results


_NO_FACTORIZATIONS = "no measured factorization rows (python -m validate factorizations)"
_NO_RUNTIMES = (
    "no configuration measured in two runtimes (python -m validate sweep --backend litert --modes fp32,int8 "
    "with the same preset as the TensorFlow run, both folders given to the report)"
)
_NO_NETWORK_PREDICTIONS = "no measured network with predicted seconds (python -m validate networks --preset quick)"
CHART_PARTS = {
    "seed": Part(
        "The seed's experiment, redone",
        "Time per call of 16 stacked layers of each type (solid) and what MACs predict from the "
        "measured conv3x3 (dashed), per device and execution mode.",
        lambda results: not measured(results.seed).empty,
        "no seed results (python -m validate seed)",
    ),
    "ratios": Part(
        "Predicted vs measured ratio",
        "Every factorization row: circles at the MAC model's ratio, hollow squares at the latency "
        "model's, error bars the 95% interval of the measured ratio; grey: ±10%.",
        _has_factorizations,
        _NO_FACTORIZATIONS,
    ),
    "roofline": Part(
        "Roofline per device",
        "The device's measured compute ceiling and bandwidth, and each measured stack's achieved "
        "FLOP/s at its arithmetic intensity (circles: original, triangles: factorized).",
        lambda results: bool(results.profiles),
        "no device profile (python -m validate calibrate)",
    ),
    "kernel_savings": Part(
        "Saving against kernel size",
        "MAC saving of each scheme for k = 2..11 at equal widths of 64 channels (lines), and "
        "the measured time saving of each factorization row (points, 95% interval).",
    ),
    "divergence": Part(
        "Divergence heat maps",
        "Mean divergence (measured / predicted) per case over channels x spatial size; hatched "
        "cells: the factorized block was slower than the original.",
        _has_factorizations,
        _NO_FACTORIZATIONS,
    ),
    "network_seconds": Part(
        "Whole networks: predicted against measured time",
        "Every measured network of python -m validate networks (and validate network --measure), original "
        "and rewritten, at batch 1: the whole-network latency model's predicted time (every layer, per kernel "
        "the runtime runs) against the measured one, with its 95% interval; shaded: ±10% and ±20%; hollow: "
        "the prediction extrapolates.",
        networks.has_network_predictions,
        _NO_NETWORK_PREDICTIONS,
    ),
    "runtimes": Part(
        "The same factorization in each runtime",
        "Every configuration measured in two or more runtimes (TensorFlow graph mode, LiteRT with XNNPACK in "
        "float32 and in int8): the measured time ratio with its 95% interval per runtime, beside the MAC ratio "
        "(black bar).",
        runtimes.has_runtime_comparison,
        _NO_RUNTIMES,
    ),
}
TABLE_PARTS = {
    "literature": Part(
        "The literature's claims against this machine",
        "Quoted figures, the cost model's exact MAC ratio at equal widths of 64 channels, and the "
        "measured median time ratio of the matching case per device and mode (each runtime its own rows).",
        compute=tables.literature_table,
    ),
    "claims_runtimes": Part(
        "The literature's claims in each runtime",
        "Each claim's case at 64 channels, per size measured: the quoted figure, the MAC ratio, and each "
        "runtime's measured time ratio with its 95% interval (a column per runtime).",
        runtimes.has_runtime_comparison,
        _NO_RUNTIMES,
        compute=runtimes.claims_table,
    ),
    "runtimes": Part(
        "Runtimes compared, configuration by configuration",
        "Per configuration measured in two or more runtimes (a device label and a mode: TensorFlow graph mode, "
        "LiteRT fp32, LiteRT int8): the MAC ratio, each runtime's measured time ratio with its 95% interval, and "
        "whether the runtimes disagree in sign (one interval wholly below 1, another wholly above).",
        runtimes.has_runtime_comparison,
        _NO_RUNTIMES,
        compute=runtimes.runtimes_table,
    ),
    "divergence": Part(
        "Divergence, largest first",
        "Every measured factorization row, sorted by |divergence - 1|, with the verdict and the "
        "latency model's reason.",
        _has_factorizations,
        _NO_FACTORIZATIONS,
        compute=tables.divergence_table,
    ),
    "accuracy": Part(
        "Latency model against the naive MACs model",
        "Share of held-out predictions within ±10% and ±20% of the measurement, and the median "
        "absolute percentage error, for block latencies and time ratios; test-retest (after "
        "python -m validate retest): the stored ratios scored against their rerun, the most a "
        "perfect model could reach on this machine.",
        lambda results: not results.accuracy.empty,
        "no accuracy scores (calibrate, then run factorizations into the same folder)",
        compute=tables.accuracy_table,
    ),
    "model_errors": Part(
        "Where the latency model errs most, per kind",
        "Per kind of factorization: the latency model's time ratios within ±10% of the measured "
        "ones, their median absolute error, and the row it misses by most (error: model / "
        "measured - 1).",
        lambda results: not tables.model_errors_table(results).empty,
        "no latency-model predictions (calibrate, then run factorizations into the same folder)",
        compute=tables.model_errors_table,
    ),
    "seed_2017": Part(
        "The seed's 2017 published numbers beside this machine",
        "Uchida's conv-benchmark (2017) as published, ratios to conv3x3 computed from it, the cost "
        "model's MAC ratios, and the seed results measured here (seconds per 100 calls).",
        compute=tables.seed_comparison_table,
    ),
    "networks": Part(
        "Networks: factorizations applied to a whole model",
        "Each measured rewrite of a whole network (python -m validate network MODEL --apply RULES "
        "--measure), end to end at batch 1, interleaved: its MAC ratio, the latency model's predicted "
        "time ratio (the whole network), and the measured time ratio: measured in several worker processes "
        "like the sweep, the geometric mean of their ratios, with its 95% confidence interval and the rerun "
        "interval from the spread between processes.",
        networks.has_networks,
        "no measured networks (python -m validate network MobileNet --input-size 128 --apply fuse --measure)",
        compute=networks.networks_table,
    ),
    "network_scores": Part(
        "Whole networks: how far the latency model is from measurement",
        "Per machine, over the measured networks: the share of whole-network predicted times, and of "
        "predicted rewrite time ratios, within ±10% and ±20% of the measurement, the median absolute error, the "
        "share inside the measurement's own 95% interval (and that interval's median half-width: where it "
        "is wider than ±10%, ±10% is not decidable), the network missed by most; and how often the advisor's "
        "first choice (leave as is, or the rewrite with the lowest predicted ratio) is the measured fastest, "
        "counted where the measurement decides it (the fastest and the next apart beyond their intervals).",
        networks.has_network_predictions,
        _NO_NETWORK_PREDICTIONS,
        compute=networks.network_scores_table,
    ),
    "network_model": Part(
        "Whole networks: each network's predicted and measured time",
        "Each measured network, original and rewritten: the latency model's predicted milliseconds per call "
        "at batch 1, the measured ones (geometric mean over worker processes) with their 95% interval, the "
        "error (predicted / measured - 1), and why the prediction extrapolates, if it does.",
        networks.has_network_predictions,
        _NO_NETWORK_PREDICTIONS,
        compute=networks.network_model_table,
    ),
    "networks_papers": Part(
        "Networks: the MobileNet papers' tables reproduced",
        "Published mult-adds and parameters (Howard et al. 2017, Tables 4, 6 and 7; Sandler et "
        "al. 2018, Table 4), cited, beside the cost model's counts of the keras.applications "
        "networks (Table 4's by fusing every depthwise + pointwise pair), with the reason for "
        "any difference over 1%.",
        networks.has_papers,
        "no reproduced papers' table (python -m validate network MobileNet --papers --out ...)",
        compute=networks.papers_table,
    ),
    "reproducibility": Part(
        "Reproducibility: the same configurations measured again",
        "python -m validate retest measured a sample of the stored configurations again, in "
        "fresh processes: the share of rerun values inside the stored 95% confidence interval "
        "(about 83% for an honest interval and a rerun of equal size) and inside the 95% rerun "
        "interval (built to hold a rerun 95% of the time), within ±5% and ±10%, and the "
        "intervals' median widths.",
        tables.has_retest,
        "no retest (python -m validate retest RESULTS_DIR)",
        compute=tables.reproducibility_table,
    ),
    "environment": Part(
        "Environment", "The machines and runs the results come from.", compute=tables.environment_table
    ),
}
DATA_FILES = (
    *(table.file_name for table in schema.MEASURED_TABLES.values()),
    SAMPLES_FILE,
    METADATA_FILE,
    ACCURACY_PATTERN,
    PROFILE_PATTERN,
    networks.PAPERS_FILE,
    RETEST_FILE,
)


def _copy_inputs(results: Results, data_dir: pathlib.Path) -> list[pathlib.Path]:
    """Copy every file the report read into ``data/<folder name>/`` (names made unique)."""
    copied, used = [], set()
    for folder in results.folders:
        name, index = folder.resolve().name or "results", 2
        while name in used:
            name, index = f"{folder.resolve().name}-{index}", index + 1
        used.add(name)
        target = data_dir / name
        target.mkdir(parents=True, exist_ok=True)
        for pattern in DATA_FILES:
            for file in sorted(folder.glob(pattern)):
                copied.append(pathlib.Path(shutil.copy2(file, target / file.name)))
    return copied


def _charts(results: Results, figures_dir: pathlib.Path, notes: list) -> tuple[list, dict]:
    entries, files = [], {}
    for name, part in CHART_PARTS.items():
        if not part.available(results):
            notes.append(f"{part.title}: {part.missing}.")
            continue
        files[name] = charts.save(charts.CHARTS[name](results), figures_dir, name)
        entries.append(ChartEntry(name, part.title, part.caption))
    return entries, files


def _tables(results: Results, notes: list) -> list:
    entries = []
    for name, part in TABLE_PARTS.items():
        if not part.available(results):
            notes.append(f"{part.title}: {part.missing}.")
            continue
        if part.compute is None:
            raise ValueError(f"table part {name!r} has no compute function")
        entries.append(TableEntry(name, part.title, part.caption, tables.formatted(part.compute(results))))
    return entries


def build_report(result_folders, out_dir) -> dict:
    """Write the report for ``result_folders`` into ``out_dir``.

    Returns
    -------
    dict
        ``html`` and ``markdown`` (paths), ``figures`` (chart name -> {"png", "svg"} paths),
        ``tables`` (table name -> number of rows), ``data`` (copied files), ``notes``
        (what was left out) and ``seconds`` (how long the build took).

    Raises
    ------
    ValueError
        A folder that does not exist or holds no results, or an unreadable file.
    """
    started = time.perf_counter()
    if isinstance(result_folders, (str, pathlib.Path)):
        result_folders = [result_folders]
    results = load_results(*result_folders)
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    chart_entries, figure_files = _charts(results, out_dir / "figures", notes)
    table_entries = _tables(results, notes)
    document = Document(
        TITLE, narrative.intro(results), narrative.findings(results), chart_entries, table_entries, notes
    )
    html_path, markdown_path = out_dir / "index.html", out_dir / "report.md"
    html_path.write_text(render_html(document, out_dir / "figures"), encoding="utf-8")
    markdown_path.write_text(render_markdown(document), encoding="utf-8")
    copied = _copy_inputs(results, out_dir / "data")
    return {
        "html": html_path,
        "markdown": markdown_path,
        "figures": figure_files,
        "tables": {entry.name: len(entry.frame) for entry in table_entries},
        "data": copied,
        "notes": notes,
        "seconds": time.perf_counter() - started,
    }


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=PROGRAM, description="Render the validation results as HTML and Markdown.")
    parser.add_argument(
        "--results",
        type=pathlib.Path,
        action="append",
        required=True,
        help="a results folder (repeat for several machines)",
    )
    parser.add_argument(
        "--out",
        type=pathlib.Path,
        default=pathlib.Path("report"),
        help="folder to write the report into (default report/)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Build the report; exit status 2 with one line on stderr for bad input."""
    try:
        args = build_parser().parse_args(argv)
        built = build_report(args.results, args.out)
    except (UsageError, ValueError, OSError) as error:
        print(f"{PROGRAM}: error: {error}", file=sys.stderr)
        return 2
    print(
        f"report: {built['html']} and {built['markdown']} ({len(built['figures'])} charts, "
        f"{len(built['tables'])} tables) in {built['seconds']:.1f} s"
    )
    for note in built["notes"]:
        print(f"left out: {note}")
    return 0
