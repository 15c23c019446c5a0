"""The report's tables, as pandas DataFrames (numbers stay numbers until :func:`formatted`).

* :func:`literature_table`: the literature's claims, the cost model's figure
  for each (computed, never typed) and the measured median per device;
* :func:`divergence_table`: every factorization row, largest divergence first;
* :func:`accuracy_table`: the latency model against the naive MACs model;
* :func:`model_errors_table`: per kind of factorization, where the latency model errs most;
* :func:`seed_comparison_table`: the seed's 2017 published totals beside
  this machine's seed results;
* :func:`environment_table`: machines, versions and command lines.
"""

from __future__ import annotations

import dataclasses
import math

import pandas as pd

import costmodel
from validate.experiments.plans import Case, SeedConfig
from validate.report.data import MISSING, Results, interval_columns, machine_label, measured
from validate.results import schema
from validate.results.ratios import ratios_to_reference

CLAIM_WIDTH = 64  # the claims assume equal widths; 64 is the seed's widest layer


@dataclasses.dataclass(frozen=True)
class Claim:
    """A figure the literature quotes, and the case of the factorization sweep it is about."""

    claim: str
    source: str
    quoted: str
    case: Case

    def predicted_ratio(self, width: int = CLAIM_WIDTH):
        """The cost model's exact MAC ratio at equal widths (a sympy Rational)."""
        kernel = f"{self.case.kernel}x{self.case.kernel}"
        return costmodel.savings(
            kernel, self.case.scheme, c_in=width, c_out=width, **dict(self.case.options)
        ).macs_ratio


CLAIMS = (
    Claim(
        "two 3x3 instead of a 5x5 are cheaper",
        "Szegedy et al. 2016, arXiv:1512.00567, §3.1",
        "28% saving",
        Case(5, "stack"),
    ),
    Claim("1x3 then 3x1 instead of a 3x3 is cheaper", "Szegedy et al. 2016, §3.2", "33% saving", Case(3, "asymmetric")),
    Claim(
        "two 2x2 instead of a 3x3 save little", "Szegedy et al. 2016, §3.1", "11% saving", Case(3, "stack", (("m", 2),))
    ),
    Claim(
        "1 x n then n x 1 costs 2/n of n x n", "Szegedy et al. 2016, §3.2", "ratio 2/7 (n = 7)", Case(7, "asymmetric")
    ),
    Claim(
        "three 3x3 instead of a 7x7",
        "Simonyan & Zisserman 2015 (VGG), arXiv:1409.1556, §2.3",
        "ratio 27/49",
        Case(7, "stack"),
    ),
    Claim(
        "depthwise separable 3x3 is 8-9x cheaper",
        "Howard et al. 2017 (MobileNets), arXiv:1704.04861, §3.1",
        "8-9x fewer MACs",
        Case(3, "depthwise-separable"),
    ),
)

# The seed's published totals (Yusuke Uchida, "conv-benchmark", 2017, the blog post this project
# grew from; outside this repository): seconds for 100 Keras predict() calls at 64 filters,
# and the seed's own "theory vs 3x3" row.  Published data, so typed; every ratio below is computed.
SEED_PUBLISHED_2017 = {
    "Keras CPU": {
        "conv1x1": 6.736,
        "conv3x1": 14.133,
        "conv1x3": 14.043,
        "conv3x3sep": 7.184,
        "conv3x3": 43.700,
        "conv5x5": 118.898,
    },
    "Keras GPU": {
        "conv1x1": 1.135,
        "conv3x1": 1.525,
        "conv1x3": 1.440,
        "conv3x3sep": 1.556,
        "conv3x3": 1.571,
        "conv5x5": 2.848,
    },
    "theory vs 3x3": {
        "conv1x1": 0.111,
        "conv3x1": 0.333,
        "conv1x3": 0.333,
        "conv3x3sep": 0.016,
        "conv3x3": 1,
        "conv5x5": 2.778,
    },
}
SEED_PUBLISHED_FILTERS = 64
SEED_PUBLISHED_CALLS = 100
SEED_ORDER = ("conv1x1", "conv3x1", "conv1x3", "conv3x3sep", "conv3x3", "conv5x5")  # as published


def literature_table(results: Results) -> pd.DataFrame:
    """One row per claim and runtime (device, mode) that measured its case: quoted, cost model's, measured median.

    ``predicted at measured widths`` is the MAC ratio at the channel counts
    actually measured (for depthwise separable it depends on the width).
    """
    frame = measured(results.factorizations)
    runtimes = list(dict.fromkeys(zip(frame["device"], frame["mode"], strict=True)))
    rows = []
    for claim in CLAIMS:
        ratio = claim.predicted_ratio()
        base = {
            "claim": claim.claim,
            "source": claim.source,
            "quoted": claim.quoted,
            "case": claim.case.name,
            f"cost model ratio ({CLAIM_WIDTH} ch.)": str(ratio),
            "cost model saving (%)": 100 * float(1 - ratio),
            "cost model, x fewer MACs": float(1 / ratio),
        }
        of_case = frame[frame["case"] == claim.case.name]
        of_runtimes = set(zip(of_case["device"], of_case["mode"], strict=True))
        measured_in = [runtime for runtime in runtimes if runtime in of_runtimes]
        for device, mode in measured_in or [(MISSING, MISSING)]:  # a claim nobody measured still shows its figures
            part = of_case[(of_case["device"] == device) & (of_case["mode"] == mode)]
            rows.append(
                {
                    **base,
                    "device": device,
                    "mode": mode,
                    "rows": len(part),
                    "predicted at measured widths": part["predicted_ratio"].median(),
                    "measured ratio (median)": part["measured_ratio"].median(),
                    "measured saving (%)": 100 * (1 - part["measured_ratio"].median()),
                    "rows diverging": int(part["diverges"].fillna(False).sum()),
                }
            )
    return pd.DataFrame(rows)


def divergence_table(results: Results) -> pd.DataFrame:
    """Every measured factorization row, the largest |divergence - 1| first, with verdict and reason."""
    frame = measured(results.factorizations)
    order = (frame["divergence"] - 1).abs().sort_values(ascending=False, kind="stable").index
    frame = frame.loc[order]
    return pd.DataFrame(
        {
            "device": frame["device"],
            "mode": frame["mode"],
            "case": frame["case"],
            "channels": frame["channels"],
            "size": frame["size"],
            "batch": frame["batch"],
            "activation": frame["activation"],
            "predicted": frame["predicted_ratio"],
            "latency model": frame["model_time_ratio"],
            "measured": frame["measured_ratio"],
            **interval_columns(frame, schema.FACTORIZATIONS),
            "processes": frame["processes"],
            "divergence": frame["divergence"],
            "verdict": frame["verdict"],
            "reason": frame["reason"],
        }
    ).reset_index(drop=True)


def accuracy_table(results: Results) -> pd.DataFrame:
    """The latency model beside the naive model (time proportional to MACs), per device and quantity."""
    frame = results.accuracy
    table = pd.DataFrame(
        {
            "device": frame["device"],
            "quantity": frame["quantity"],
            "model": frame["model"],
            "rows": frame["count"],
            "within ±10% (%)": 100 * frame["within_10_percent"],
            "within ±20% (%)": 100 * frame["within_20_percent"],
            "median abs. error (%)": frame["median_absolute_percentage_error"],
        }
    )
    return table.sort_values(["device", "quantity", "model"], kind="stable").reset_index(drop=True)


def model_errors_table(results: Results) -> pd.DataFrame:
    """Per device and kind of factorization (scheme), the latency model's time-ratio error and its worst row."""
    frame = measured(results.factorizations)
    frame = frame[frame["model_time_ratio"].notna()]
    if frame.empty:
        return pd.DataFrame()
    frame = frame.assign(error=100 * (frame["model_time_ratio"] / frame["measured_ratio"] - 1))
    rows = []
    for (device, scheme), part in frame.groupby(["device", "scheme"], sort=True):
        worst = part.loc[part["error"].abs().idxmax()]
        rows.append(
            {
                "device": device,
                "kind": scheme,
                "rows": len(part),
                "within ±10% (%)": 100 * float((part["error"].abs() <= 10).mean()),
                "median abs. error (%)": float(part["error"].abs().median()),
                "worst row": f"{worst['case']}, {int(worst['channels'])} channels, "
                f"{int(worst['size'])}x{int(worst['size'])}",
                "model": worst["model_time_ratio"],
                "measured": worst["measured_ratio"],
                "error (%)": worst["error"],
            }
        )
    return pd.DataFrame(rows)


def reproducibility_table(results: Results) -> pd.DataFrame:
    """Each folder's test-retest (``validate retest``): how often a rerun lands in the stored intervals."""
    rows = []
    for folder, retest in zip(results.folders, results.retests, strict=False):
        for entry in (retest or {}).get("tables", []):
            if not entry.get("compared"):
                continue
            rows.append(
                {
                    "folder": folder.name,
                    "table": entry["table"],
                    "configurations": entry["compared"],
                    "inside 95% CI (%)": 100 * entry["inside_confidence_interval"],
                    "inside rerun interval (%)": _percent(entry.get("inside_rerun_interval")),
                    "within ±5% (%)": 100 * entry["within_5_percent"],
                    "within ±10% (%)": 100 * entry["within_10_percent"],
                    "median change (%)": 100 * entry["median_absolute_change"],
                    "median CI width (%)": _percent(entry.get("median_confidence_width")),
                    "median rerun width (%)": _percent(entry.get("median_rerun_width")),
                }
            )
    return pd.DataFrame(rows)


def has_retest(results: Results) -> bool:
    return not reproducibility_table(results).empty


def _percent(share) -> float:
    return math.nan if share is None else 100 * share


def _seed_row(label: str, values: dict) -> dict:
    return {"row": label, **{layer: values.get(layer, math.nan) for layer in SEED_ORDER}}


def seed_comparison_table(results: Results) -> pd.DataFrame:
    """The seed's 2017 totals and ratios to conv3x3 beside this machine's, at 64 filters.

    This machine's seconds are per 100 calls (100 x the median per call).
    Where 64 filters were not measured, the widest measured is used and named.
    """
    rows = []
    for name in ("Keras CPU", "Keras GPU"):
        published = SEED_PUBLISHED_2017[name]
        rows.append(_seed_row(f"Uchida 2017, {name}: s per {SEED_PUBLISHED_CALLS} predict() calls", published))
        rows.append(_seed_row(f"Uchida 2017, {name}: ratio to conv3x3", ratios_to_reference(published)))
    rows.append(_seed_row("Uchida 2017: published theory vs conv3x3", SEED_PUBLISHED_2017["theory vs 3x3"]))
    theory = {
        layer: float(SeedConfig("any", "graph", layer, SEED_PUBLISHED_FILTERS).theory()["macs_ratio_vs_conv3x3"])
        for layer in SEED_ORDER
    }
    rows.append(_seed_row(f"cost model: MACs vs conv3x3 ({SEED_PUBLISHED_FILTERS} filters)", theory))
    frame = measured(results.seed)
    for (device, mode), part in frame.groupby(["device", "mode"], sort=False):
        filters = SEED_PUBLISHED_FILTERS if (part["filters"] == SEED_PUBLISHED_FILTERS).any() else part["filters"].max()
        at = part[part["filters"] == filters].groupby("layer_type")["geomean_seconds"].median()
        totals = {layer: SEED_PUBLISHED_CALLS * seconds for layer, seconds in at.items()}
        where = f"measured: {device}, {mode}, {filters:g} filters"
        rows.append(_seed_row(f"{where}: s per {SEED_PUBLISHED_CALLS} calls", totals))
        rows.append(_seed_row(f"{where}: ratio to conv3x3", ratios_to_reference(totals)))
    return pd.DataFrame(rows, columns=["row", *SEED_ORDER])


def _backend(machine: dict) -> str:
    """'jax 0.10.2'; folders from before backends were TensorFlow's and record only its version."""
    name = machine.get("backend", "tensorflow")
    version = machine.get("backend_version") or machine.get(name) or MISSING
    return f"{name} {version}"


def _onednn(value) -> str:
    return "unset (on by default on x86 Linux)" if value is None else str(value)


def environment_table(results: Results) -> pd.DataFrame:
    """One row per run of each folder: machine, versions, threads, oneDNN, date, command."""
    rows = []
    for folder, metadata in zip(results.folders, results.metadata, strict=False):
        machine = metadata.get("machine") or {}
        base = {
            "folder": folder.name,
            "machine": machine_label(metadata),
            "cores": machine.get("cores", MISSING),
            "GPU driver": machine.get("gpu_driver") or MISSING,
            "platform": machine.get("platform", MISSING),
            "python": machine.get("python", MISSING),
            "backend": _backend(machine),
            "keras": machine.get("keras", MISSING),
        }
        for run in metadata.get("runs") or [{}]:
            threads = run.get("threads") or {}
            rows.append(
                {
                    **base,
                    "threads (intra/inter)": f"{threads.get('intra_op', MISSING)}/{threads.get('inter_op', MISSING)}",
                    "oneDNN": _onednn(run.get("tf_enable_onednn_opts")) if run else MISSING,
                    "started": run.get("started", MISSING),
                    "wall / timed s": _time_split(run),
                    "command": run.get("command", MISSING),
                }
            )
    return pd.DataFrame(rows)


def _time_split(run: dict) -> str:
    """A run's wall seconds and the share of them spent inside timed calls (runs from before: '–').

    With worker processes, also the seconds they measured for after their framework imports,
    and the timed share of those.
    """
    wall, timed = run.get("wall_seconds"), run.get("timed_seconds")
    if not isinstance(wall, (int, float)) or not isinstance(timed, (int, float)) or wall <= 0:
        return MISSING
    text = f"{wall:.0f} / {timed:.0f} ({timed / wall:.0%} timed)"
    measuring = run.get("measuring_wall_seconds")
    if isinstance(measuring, (int, float)) and measuring > 0:
        text += (
            f"; {run.get('processes', MISSING)} processes measuring {measuring:.0f} s ({timed / measuring:.0%} timed)"
        )
    return text


def _cell(value) -> str:
    if value is None or value is pd.NA:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return MISSING
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.4g}"
    return str(value) if str(value) != "" else MISSING


def formatted(frame: pd.DataFrame) -> pd.DataFrame:
    """Every cell as display text: 4 significant digits, whole numbers plain, '–' for missing."""
    return pd.DataFrame(
        {column: [_cell(value) for value in frame[column].tolist()] for column in frame.columns}, columns=frame.columns
    )
