"""The report's charts: one function per chart, each returning a matplotlib Figure.

Figures are built with :class:`matplotlib.figure.Figure` and drawn by the Agg
canvas, never through ``pyplot``: no global figure registry to leak memory
across a long report, no display backend to find, so this runs headless.

Each plotted artist that carries data has a ``gid`` (``"measured"``,
``"expected"``, ``"mac-model"``, ``"latency-model"``, ``"roofline"``,
``"original"``, ``"factorized"``, ``"theory"``, ``"divergence"``), so a test,
or a reader of the SVG, can find what was drawn from which rows.
"""

from __future__ import annotations

import math
import pathlib
import textwrap
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib import colors, ticker
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from validate.experiments.plans import SEED_LAYER_TYPES
from validate.report import derived, networks, runtimes
from validate.report.data import Results, measured
from validate.results.divergence import TOLERANCE
from validate.results.ratios import SEED_REFERENCE

PANEL_INCHES = (5.0, 3.8)  # one panel; two side by side fill a page at a readable font size
PNG_DPI = 110
_PLAIN_NUMBERS = ticker.FuncFormatter(lambda value, _: f"{value:g}")


def palette(names) -> dict:
    """A stable colour per name (tab10, then tab20 for more than ten)."""
    names = list(dict.fromkeys(names))
    cmap = matplotlib.colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {name: cmap(index % cmap.N) for index, name in enumerate(names)}


def _case_order(cases) -> list[str]:
    """Cases by kernel, then scheme: '3x3 ...' before '5x5 ...' before '7x7 ...'."""

    def kernel(name: str) -> int:
        size = name.partition("x")[0]
        return int(size) if size.isdigit() else 0

    return sorted(set(cases), key=lambda name: (kernel(name), name))


def _panels(count: int, ncols: int = 2, inches=PANEL_INCHES, **options):
    """A figure with ``count`` panels on a grid; the unused cells are removed."""
    ncols = max(1, min(ncols, count))
    nrows = math.ceil(count / ncols)
    figure = Figure(figsize=(inches[0] * ncols, inches[1] * nrows + 0.8), layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.subplots(nrows, ncols, squeeze=False, **options)
    axes = list(grid.ravel())
    for unused in axes[count:]:
        unused.remove()
    return figure, axes[:count]


def _title(figure: Figure, text: str) -> None:
    """A figure title wrapped to the figure's width (a one-panel figure is narrow)."""
    characters = int(figure.get_figwidth() * 11)  # about 11 characters per inch at the title size
    figure.suptitle(textwrap.fill(text, characters))


def _legend_below(figure: Figure, axes, extra=(), ncols: int = 3) -> None:
    """One legend under all panels, each label once: it never hides a data point."""
    handles: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=False):
            handles.setdefault(label, handle)
    for handle in extra:
        handles.setdefault(handle.get_label(), handle)
    ncols = max(1, min(ncols, int(figure.get_figwidth() // 3)))  # about 3 inches per legend column
    figure.legend(list(handles.values()), list(handles), loc="outside lower center", ncols=ncols, fontsize="small")


def _minor_log_label(value: float, _position=None) -> str:
    """Label the 2 and 5 (and 3) between decades on a log axis, not every minor tick."""
    if value <= 0:
        return ""
    leading = round(value / 10 ** math.floor(math.log10(value)), 6)
    return f"{value:g}" if leading in (2, 3, 5) else ""


def _log_log(ax, limits: tuple[float, float], title: str, xlabel: str, ylabel: str) -> None:
    """A square log-log panel with plain-number ticks (2, 3 and 5 between decades) and a grid."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(*limits)
    ax.set_ylim(*limits)
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(_PLAIN_NUMBERS)
        axis.set_minor_formatter(ticker.FuncFormatter(_minor_log_label))
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)


def _groups(frame: pd.DataFrame, columns: list[str]) -> list[tuple]:
    """The distinct values of ``columns``, in first-seen order."""
    return list(dict.fromkeys(frame[columns].itertuples(index=False, name=None)))


def seed_chart(results: Results) -> Figure:
    """Time per call against filters for the seed's six layer types, beside what MACs predict.

    One panel per (device, mode).  The dashed line of a layer type is the
    measured conv3x3 time times its MAC ratio to conv3x3: where the solid
    line sits above its dashed one, the layer is slower than its MACs say.
    """
    frame = derived.seed_expectation(results.seed)
    if frame.empty:
        raise ValueError("no measured seed rows to chart")
    colours = palette(SEED_LAYER_TYPES)
    panels = _groups(frame, ["device", "mode"])
    figure, axes = _panels(len(panels))
    for ax, (device, mode) in zip(axes, panels, strict=False):
        part = frame[(frame["device"] == device) & (frame["mode"] == mode)]
        for layer_type in SEED_LAYER_TYPES:
            rows = part[part["layer_type"] == layer_type].sort_values("filters")
            if rows.empty:
                continue
            ax.plot(
                rows["filters"],
                rows["measured_ms"],
                marker="o",
                color=colours[layer_type],
                label=layer_type,
                gid="measured",
            )
            if layer_type != SEED_REFERENCE:  # its expectation is itself
                ax.plot(
                    rows["filters"],
                    rows["expected_ms"],
                    linestyle="--",
                    color=colours[layer_type],
                    alpha=0.8,
                    gid="expected",
                )
        filters = sorted(part["filters"].unique())
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(filters, [f"{value:g}" for value in filters])
        ax.xaxis.set_minor_locator(ticker.NullLocator())
        ax.set_title(f"{device}, {mode} mode")
        ax.set_xlabel("number of filters")
        ax.set_ylabel("time per call (ms)")
        ax.grid(True, which="both", alpha=0.3)
    handles = [Line2D([], [], color=colours[name], marker="o", label=name) for name in SEED_LAYER_TYPES]
    handles.append(
        Line2D([], [], color="black", linestyle="--", label="expected from MACs (conv3x3 measured x MAC ratio)")
    )
    figure.legend(handles=handles, loc="outside lower center", ncols=4, fontsize="small")
    _title(figure, "The seed's experiment: 16 identical layers, 32x32 input, batch 32")
    return figure


def _ci_errors(rows: pd.DataFrame) -> np.ndarray:
    """Error-bar lengths below and above the measured ratio; none where the interval is unknown."""
    value = rows["measured_ratio"].to_numpy(float)
    low = rows["ratio_ci_low"].to_numpy(float)
    high = rows["ratio_ci_high"].to_numpy(float)
    below = np.where(np.isfinite(low), value - low, 0.0)
    above = np.where(np.isfinite(high), high - value, 0.0)
    return np.clip(np.vstack([below, above]), 0.0, None)


def ratio_chart(results: Results) -> Figure:
    """Predicted against measured time ratio for every factorization row, log-log.

    Circles place each row at the MAC model's ratio, hollow squares at the
    latency model's (when the row has one); the grey band is ±10% of the
    identity line, inside which a prediction counts as right.
    """
    frame = measured(results.factorizations)
    if frame.empty:
        raise ValueError("no measured factorization rows to chart")
    colours = palette(_case_order(frame["case"]))
    devices = list(dict.fromkeys(frame["device"]))
    figure, axes = _panels(len(devices), inches=(6.0, 5.0))
    values = frame[["predicted_ratio", "measured_ratio", "model_time_ratio"]].to_numpy(float).ravel()
    values = values[np.isfinite(values) & (values > 0)]
    low, high = values.min() / 1.3, values.max() * 1.3
    line = np.geomspace(low, high, 50)
    for ax, device in zip(axes, devices, strict=False):
        part = frame[frame["device"] == device]
        ax.fill_between(
            line, line * (1 - TOLERANCE), line * (1 + TOLERANCE), color="0.85", label=f"±{TOLERANCE:.0%} of prediction"
        )
        ax.plot(line, line, color="0.4", linewidth=1, label="measured = predicted")
        for case in _case_order(part["case"]):
            rows = part[part["case"] == case]
            errors = _ci_errors(rows)
            bars = ax.errorbar(
                rows["predicted_ratio"],
                rows["measured_ratio"],
                yerr=errors,
                fmt="o",
                color=colours[case],
                capsize=2,
                label=case,
            )
            bars.lines[0].set_gid("mac-model")
            modelled = rows["model_time_ratio"].notna().to_numpy()
            if modelled.any():
                model = ax.errorbar(
                    rows["model_time_ratio"][modelled],
                    rows["measured_ratio"][modelled],
                    yerr=errors[:, modelled],
                    fmt="s",
                    mfc="none",
                    color=colours[case],
                    capsize=2,
                )
                model.lines[0].set_gid("latency-model")
        ax.axhline(1, color="0.5", linestyle=":", linewidth=1)
        _log_log(ax, (low, high), device, "predicted ratio, factorized / original",
                 "measured time ratio, factorized / original")  # fmt: skip
    markers = [
        Line2D([], [], color="black", marker="o", linestyle="none", label="at the MAC model's ratio"),
        Line2D([], [], color="black", marker="s", mfc="none", linestyle="none", label="at the latency model's ratio"),
    ]
    _legend_below(figure, axes, markers)
    _title(figure, "Predicted vs measured time ratio (95% CI); under the dotted line the factorization is faster")
    return figure


def _gflops(value) -> np.ndarray:
    return np.asarray(value, dtype=float) / 1e9


def roofline_chart(results: Results) -> Figure:
    """Each device's measured roofline with the FLOP/s every measured stack achieved.

    The ceiling is ``min(peak, bandwidth x intensity)`` from the device
    profile; a point far below it spends its time on something the roofline
    does not count (per-op overhead, a poor kernel).
    """
    if not results.profiles:
        raise ValueError("no device profile to draw a roofline from")
    points = derived.roofline_points(results)
    colours = palette(_case_order(points["case"])) if not points.empty else {}
    devices = list(results.profiles)
    figure, axes = _panels(len(devices), inches=(6.0, 4.6))
    for ax, device in zip(axes, devices, strict=False):
        profile = results.profiles[device]
        part = points[points["device"] == device]
        intensities = [*part["intensity"], profile.ridge_point / 20, profile.ridge_point * 20]
        x = np.geomspace(min(intensities) / 1.5, max(intensities) * 1.5, 200)
        ceiling = np.minimum(profile.peak_flops_per_second, profile.bandwidth_bytes_per_second * x)
        ax.plot(
            x,
            _gflops(ceiling),
            color="black",
            linewidth=2,
            gid="roofline",
            label="roofline: min(peak, bandwidth x intensity)",
        )
        ax.axvline(profile.ridge_point, color="0.5", linestyle=":", linewidth=1, label="ridge point")
        for case in _case_order(part["case"]):
            for role, marker in (("original", "o"), ("factorized", "^")):
                rows = part[(part["case"] == case) & (part["role"] == role)]
                if rows.empty:
                    continue
                ax.scatter(
                    rows["intensity"],
                    _gflops(rows["achieved_flops_per_second"]),
                    marker=marker,
                    color=colours[case],
                    edgecolors="black",
                    linewidths=0.4,
                    gid=role,
                    label=case if role == "original" else None,
                )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(
            f"{device}: peak {profile.peak_flops_per_second / 1e9:.3g} GFLOP/s, "
            f"{profile.bandwidth_bytes_per_second / 1e9:.3g} GB/s, "
            f"ridge {profile.ridge_point:.3g} FLOP/byte",
            fontsize="medium",
        )
        ax.set_xlabel("arithmetic intensity (FLOP/byte of minimal traffic)")
        ax.set_ylabel("achieved GFLOP/s")
        ax.grid(True, which="both", alpha=0.3)
    roles = [
        Line2D([], [], color="0.3", marker=m, linestyle="none", label=f"{role} stack")
        for role, m in (("original", "o"), ("factorized", "^"))
    ]
    _legend_below(figure, axes, roles)
    _title(figure, "Roofline: achieved FLOP/s of every measured stack against the device's measured ceilings")
    return figure


def kernel_saving_chart(results: Results) -> Figure:
    """MAC saving of every scheme against kernel size, with the measured time savings on it.

    Theory is at equal widths of 64 channels (the depthwise curve depends
    on the width; the others do not); measured points are at the channel
    counts measured, nudged sideways per scheme so they do not hide each other.
    """
    frame = measured(results.factorizations).copy()
    frame["scheme_key"] = derived.scheme_keys(frame)
    keys = list(dict.fromkeys([*derived.THEORY_SCHEMES, *frame["scheme_key"]]))
    theory = derived.theory_savings(keys)
    colours = palette(keys)
    devices = list(dict.fromkeys(frame["device"])) or ["theory only"]
    figure, axes = _panels(len(devices), inches=(6.0, 4.6))
    for ax, device in zip(axes, devices, strict=False):
        for index, key in enumerate(keys):
            curve = theory[theory["scheme_key"] == key]
            ax.plot(
                curve["kernel"],
                100 * curve["macs_saving"],
                color=colours[key],
                marker=".",
                gid="theory",
                label=f"{derived.scheme_label(key)}: MACs",
            )
            rows = frame[(frame["device"] == device) & (frame["scheme_key"] == key)]
            if rows.empty:
                continue
            nudge = 0.08 * (index - (len(keys) - 1) / 2)
            bars = ax.errorbar(
                rows["kernel"] + nudge,
                100 * (1 - rows["measured_ratio"]),
                yerr=100 * _ci_errors(rows)[::-1],
                fmt="o",
                color=colours[key],
                mec="black",
                capsize=2,
                label=f"{derived.scheme_label(key)}: measured",
            )
            bars.lines[0].set_gid("measured")
        ax.axhline(0, color="0.4", linewidth=1)
        ax.set_xticks(derived.THEORY_KERNELS)
        ax.set_title(device)
        ax.set_xlabel("kernel size k (k x k)")
        ax.set_ylabel("saving (%): MACs, or measured time")
        ax.grid(True, alpha=0.3)
    _legend_below(figure, axes, ncols=2)
    _title(
        figure,
        f"Saving against kernel size (theory at {derived.THEORY_WIDTH} channels, "
        "equal widths); under 0 the factorization is slower",
    )
    return figure


def _divergence_grid(rows: pd.DataFrame, value: str) -> pd.DataFrame:
    return rows.pivot_table(index="channels", columns="size", values=value, aggfunc="mean")


_DIVERGENCE_TICKS = (1 / 16, 1 / 8, 0.25, 0.5, 0.67, 0.8, 0.9, 1, 1.1, 1.25, 1.5, 2, 4, 8, 16)


def _colorbar_ticks(halfrange: float) -> list[float]:
    """Divergence ticks within the range, at least a quarter of the half-range apart (in log2)."""
    ticks = [1.0]
    for side in (
        sorted(t for t in _DIVERGENCE_TICKS if t > 1),
        sorted((t for t in _DIVERGENCE_TICKS if t < 1), reverse=True),
    ):
        last = 1.0
        for tick in side:
            if abs(math.log2(tick)) <= halfrange and abs(math.log2(tick / last)) >= halfrange / 4:
                ticks.append(tick)
                last = tick
    return sorted(ticks)


def divergence_heatmaps(results: Results) -> Figure:
    """Per (device, case): mean divergence (measured / predicted) over channels x size.

    Colours are log-scaled and centred on 1 (red: slower than predicted,
    blue: faster); hatched cells are where the factorized block was slower
    than the original (measured ratio >= 1), i.e. where it does not pay off.
    """
    frame = measured(results.factorizations)
    if frame.empty:
        raise ValueError("no measured factorization rows to chart")
    panels = [
        (device, case)
        for device in dict.fromkeys(frame["device"])
        for case in _case_order(frame.loc[frame["device"] == device, "case"])
    ]
    logs = np.log2(frame["divergence"].to_numpy(float))
    halfrange = max(float(np.nanmax(np.abs(logs))), math.log2(1 + 2 * TOLERANCE))
    norm = colors.CenteredNorm(vcenter=0.0, halfrange=halfrange)
    figure, axes = _panels(len(panels), ncols=4, inches=(3.2, 2.9))
    image = None
    for ax, (device, case) in zip(axes, panels, strict=False):
        rows = frame[(frame["device"] == device) & (frame["case"] == case)]
        divergence = _divergence_grid(rows, "divergence")
        ratio = _divergence_grid(rows, "measured_ratio")
        image = ax.imshow(
            np.log2(divergence.to_numpy(float)),
            cmap="RdBu_r",
            norm=norm,
            origin="lower",
            aspect="auto",
            gid="divergence",
        )
        for (i, j), value in np.ndenumerate(divergence.to_numpy(float)):
            if np.isnan(value):
                continue
            ax.text(
                j,
                i,
                f"{value:.3g}",
                ha="center",
                va="center",
                fontsize="small",
                color="white" if abs(math.log2(value)) > 0.6 * halfrange else "black",
            )
            if ratio.iat[i, j] >= 1:
                ax.add_patch(
                    Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="///", edgecolor="0.35", linewidth=0)
                )
        ax.set_xticks(range(divergence.shape[1]), [f"{v:g}" for v in divergence.columns])
        ax.set_yticks(range(divergence.shape[0]), [f"{v:g}" for v in divergence.index])
        ax.set_xlabel("spatial size (px)")
        ax.set_ylabel("channels")
        ax.set_title(f"{case}\n{device}", fontsize="medium")
    ticks = _colorbar_ticks(halfrange)
    bar = figure.colorbar(image, ax=axes, shrink=0.8, ticks=[math.log2(t) for t in ticks])
    bar.ax.set_yticklabels([f"{t:g}" for t in ticks])
    bar.set_label("divergence, measured / predicted ratio")
    figure.legend(
        handles=[
            Patch(
                facecolor="white", edgecolor="0.35", hatch="///", label="factorized block slower (measured ratio >= 1)"
            )
        ],
        loc="outside lower center",
        fontsize="small",
    )
    _title(figure, "Where theory and measurement part: divergence per case (mean over batch, activation and mode)")
    return figure


def network_seconds_chart(results: Results) -> Figure:
    """Predicted against measured seconds of every measured network, one panel per machine, log-log.

    Error bars: the 95% interval of the measured seconds (pooled over worker
    processes); the bands are ±10% and ±20% of the identity line.  A hollow
    marker is a prediction that extrapolates beyond what the profile measured.
    """
    scored = {machine: scores["pairs"] for machine, scores in networks.scores_by_machine(results).items()}
    scored = {machine: pairs for machine, pairs in scored.items() if pairs}
    if not scored:
        raise ValueError("no measured network with a predicted time to chart")
    names = [pair["network"] for pairs in scored.values() for pair in pairs]
    colours = palette(names)
    figure, axes = _panels(len(scored), inches=(6.5, 5.0))
    values = np.array([
        1e3 * pair[column] for pairs in scored.values() for pair in pairs
        for column in ("predicted_seconds", "measured_seconds")
    ])  # fmt: skip
    low, high = values.min() / 1.5, values.max() * 1.5
    line = np.geomspace(low, high, 50)
    for ax, (machine, pairs) in zip(axes, scored.items(), strict=False):
        for band, shade in ((0.2, "0.92"), (0.1, "0.82")):
            ax.fill_between(line, line * (1 - band), line * (1 + band), color=shade, label=f"±{band:.0%} of measured")
        ax.plot(line, line, color="0.4", linewidth=1, label="predicted = measured")
        for pair in pairs:
            measured_ms = 1e3 * pair["measured_seconds"]
            interval = 1e3 * np.array([pair["measured_low"], pair["measured_high"]], dtype=float)  # None: NaN
            errors = np.clip([[measured_ms - interval[0]], [interval[1] - measured_ms]], 0.0, None)
            bars = ax.errorbar(
                [measured_ms],
                [1e3 * pair["predicted_seconds"]],
                xerr=np.nan_to_num(errors),
                fmt="o",
                mfc="none" if pair["extrapolation"] else colours[pair["network"]],
                color=colours[pair["network"]],
                capsize=2,
                label=pair["network"],
            )
            bars.lines[0].set_gid("network-model")
        _log_log(ax, (low, high), machine, "measured ms per call (95% CI)", "predicted ms per call")
    hollow = Line2D([], [], color="black", marker="o", mfc="none", linestyle="none", label="prediction extrapolates")
    _legend_below(figure, axes, [hollow], ncols=2)
    _title(figure, "Whole networks: the latency model's predicted time against the measured time, batch 1")
    return figure


def runtimes_chart(results: Results) -> Figure:
    """Per configuration, each runtime's measured ratio (95% CI) beside the MAC ratio, on a log axis.

    One panel per case (small multiples, a shared ratio axis), its configurations side by side: a
    chart of every configuration in one row was some 5000 pixels wide for the default preset.
    """
    frame = runtimes.compared(results)
    if frame.empty:
        raise ValueError("no configuration measured in two runtimes to chart")
    names = list(dict.fromkeys(frame["runtime"]))
    colours = palette(names)
    cases = list(frame.groupby("case", sort=False))
    columns = min(4, len(cases))
    rows = -(-len(cases) // columns)
    widest = max(part.groupby(runtimes.CONFIGURATION, dropna=False).ngroups for _, part in cases)
    figure = Figure(figsize=(columns * max(3.0, 0.55 * widest + 1), 3.0 * rows + 1.2), layout="constrained")
    axes = figure.subplots(rows, columns, sharey=True, squeeze=False).ravel()
    width = 0.7 / len(names)
    for ax, (case, part) in zip(axes, cases, strict=False):
        groups = list(part.groupby(runtimes.CONFIGURATION, dropna=False, sort=False))
        for index, (_, configuration) in enumerate(groups):
            mac = configuration["predicted_ratio"].iloc[0]
            ax.plot([index - 0.4, index + 0.4], [mac, mac], color="black", linewidth=2, gid="mac-model")
            for offset, runtime in enumerate(names):
                measured_rows = configuration[configuration["runtime"] == runtime]
                if measured_rows.empty:
                    continue
                value = measured_rows["measured_ratio"].to_numpy(float)
                low = np.nan_to_num(value - measured_rows["ratio_ci_low"].to_numpy(float), nan=0.0).clip(0)
                high = np.nan_to_num(measured_rows["ratio_ci_high"].to_numpy(float) - value, nan=0.0).clip(0)
                bars = ax.errorbar(
                    [index - 0.35 + width * (offset + 0.5)],
                    value,
                    yerr=np.vstack([low, high]),
                    fmt="o",
                    color=colours[runtime],
                    capsize=2,
                )
                bars.lines[0].set_gid("measured")
        ax.axhline(1, color="0.5", linestyle=":", linewidth=1)
        ax.set_yscale("log")
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels([f"{key[1]} ch.\n{key[2]}px b{key[3]}" for key, _ in groups], fontsize="x-small")
        ax.set_title(str(case), fontsize="medium")
        ax.grid(True, axis="y", which="both", linewidth=0.3)
        ax.yaxis.set_major_formatter(_PLAIN_NUMBERS)
        ax.yaxis.set_minor_formatter(ticker.FuncFormatter(_minor_log_label))
    for ax in axes[len(cases) :]:
        figure.delaxes(ax)
    for ax in axes[: len(cases)]:
        ax.set_ylabel("factorized / original")
        ax.set_xlabel("channels, input size, batch", fontsize="small")
    handles = [Line2D([], [], color="black", linewidth=2, label="MAC ratio")] + [
        Line2D([], [], color=colours[runtime], marker="o", linestyle="none", label=runtime) for runtime in names
    ]
    figure.legend(handles=handles, loc="outside lower center", ncols=2, fontsize="small")
    _title(figure, "The same factorization in each runtime (95% CI); under the dotted line it is faster")
    return figure


CHARTS = {
    "seed": seed_chart,
    "ratios": ratio_chart,
    "roofline": roofline_chart,
    "kernel_savings": kernel_saving_chart,
    "divergence": divergence_heatmaps,
    "network_seconds": network_seconds_chart,
    "runtimes": runtimes_chart,
}


def save(figure: Figure, folder, name: str) -> dict:
    """Write ``<folder>/<name>.png`` and ``.svg``; return both paths by format.

    The SVG keeps no creation date, so an unchanged chart gives an unchanged file.
    """
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"png": folder / f"{name}.png", "svg": folder / f"{name}.svg"}
    figure.savefig(paths["png"], dpi=PNG_DPI)
    figure.savefig(paths["svg"], metadata={"Date": None})
    return paths
