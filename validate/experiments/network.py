"""``validate network MODEL``: count a whole Keras model, rewrite it, time it, advise on it.

The command (:func:`run_network`) gathers a :class:`NetworkResult`; one
function renders it as text or JSON (:func:`render_result`); the measured
row is stored as it is pooled (:class:`Measurer`), the papers' table at the end.

* counting: every convolution and dense layer, per image (batch 1), checked
  against ``model.count_params()`` and TensorFlow's profiler;
* ``--apply RULES``: the rewritten network, rebuilt in Keras and checked,
  with its totals beside the original's; ``--measure`` times both end to end,
  interleaved, in worker processes, pooled like the sweep
  (:mod:`validate.experiments.network_measure`);
* ``--advise``: per convolution, the schemes that apply, ranked by the
  latency model's predicted saving on a device;
* ``--papers``: the MobileNet papers' tables reproduced from Keras models.

With ``--out``, the measured rewrite is stored as a ``networks`` row and the
reproduced papers' table as ``networks_papers.json``, for the report.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import pathlib
import sys
import tempfile
import time
from typing import Any

from costmodel import render
from costmodel.latency import DeviceProfile
from costmodel.latency.network import NetworkPrediction, predict_network
from costmodel.network import Network, parse_rules, rewrite
from costmodel.network_advice import NetworkAdvice, advise
from costmodel.network_papers import PUBLISHED, compare_published
from validate.experiments import plans, session
from validate.experiments.network_measure import (
    PREDICTION_COLUMNS,
    Counted,
    NetworkConfig,
    Rewritten,
    apply_rules,
    count,
    counts_row,
    file_limits,
)
from validate.frameworks import network_reader, network_rewrite
from validate.frameworks.backends import Backend
from validate.results import schema
from validate.results.store import ResultStore

PROGRAM = "validate"
#: Seconds of interleaved timing per rewrite, by preset, shared by its processes: end-to-end calls
#: are long, so more than a layer's.
NETWORK_BUDGET_SECONDS = {"quick": 4.0, "default": 15.0, "full": 40.0, "gpu": 5.0}
PAPERS_FILE = "networks_papers.json"
LAYER_COLUMNS = ["name", "kind", "kernel", "stride", "c_in", "c_out", "output", "params", "macs", "macs_share"]


def _million(value: float) -> str:
    return f"{value / 1e6:,.3f} M"


def summary_lines(counted: Counted) -> list[str]:
    network = counted.network
    totals = network.totals()
    lines = [
        f"{network.name}: input {'x'.join(map(str, network.input_shape))}, per image (batch 1)",
        f"  parameters {network.params:,} ({_million(network.params)}; = Keras count_params()), "
        f"of which convolution and dense {totals['conv_dense_params']:,}",
        f"  MACs {network.macs:,} ({_million(network.macs)}) in {totals['conv_dense_layers']} "
        f"convolution and dense layers; checked by: {counted.macs_checked_by}",
    ]
    if network.uncounted:
        named = ", ".join(f"{layer.name} ({layer.kind})" for layer in network.uncounted[:5])
        more = f" and {len(network.uncounted) - 5} more" if len(network.uncounted) > 5 else ""
        lines.append(
            f"  NOT COUNTED: {len(network.uncounted)} layer(s) the cost model has no formula for, "
            f"left out of every MAC total and ratio: {named}{more}"
        )
    return lines


def other_rows(network: Network) -> list[dict]:
    return [
        {
            "kind": kind,
            "layers": entry["layers"],
            "params": entry["params"],
            "counted": "yes" if entry["counted"] else "NOT COUNTED",
        }
        for kind, entry in network.other_by_kind().items()
    ]


def layer_document(counted: Counted) -> dict:
    network = counted.network
    document = network.as_dict()
    document["macs_checked_by"] = counted.macs_checked_by
    document["other_layers"] = other_rows(network)
    document["not_counted"] = [layer.name for layer in network.uncounted]
    return document


# -- rewriting and measuring -----------------------------------------------------------------------


def rewrite_rows(rewritten: Rewritten) -> list[dict]:
    before, after = rewritten.original.network, rewritten.network
    return [
        {"network": "original", "params": before.params, "macs": before.macs, "conv_layers": len(before.conv_layers)},
        {"network": "rewritten", "params": after.params, "macs": after.macs, "conv_layers": len(after.conv_layers)},
        {
            "network": "ratio",
            "params": rewritten.params_ratio,
            "macs": rewritten.macs_ratio,
            "conv_layers": len(after.conv_layers) / max(1, len(before.conv_layers)),
        },
    ]


# -- the papers' tables ----------------------------------------------------------------------------


def papers_table() -> list[dict]:
    """Every published figure beside ours, each network built from keras.applications and read."""
    rows = []
    for figure in PUBLISHED:
        model = network_reader.load_model(
            figure.model, alpha=figure.alpha if figure.model == "MobileNet" else None, input_size=figure.size
        )
        network = network_reader.read_network(model, name=figure.label)
        network_reader.check_params(network, model)
        if figure.rules:
            network, changes = rewrite(network, parse_rules(figure.rules))
            network_rewrite.check_rewrite(model, network_rewrite.rebuild(model, changes), network)
        rows.append(compare_published(figure, network))
        import_keras_clear()
    return rows


def import_keras_clear() -> None:
    from validate.frameworks.keras_build import import_keras

    import_keras().backend.clear_session()


# -- the command -----------------------------------------------------------------------------------


@dataclasses.dataclass
class Rewrite:
    """A rewrite of the network and its ``networks`` row (counted, or measured)."""

    rewritten: Rewritten
    row: dict


@dataclasses.dataclass
class NetworkResult:
    """Everything ``validate network`` found, before it is rendered."""

    counted: Counted
    show_layers: bool  # the layer table (no --apply and no --advise, or JSON)
    profile: DeviceProfile | None = None
    rewrite: Rewrite | None = None
    advice: NetworkAdvice | None = None
    papers: list[dict] | None = None
    prediction: NetworkPrediction | None = None  # the whole network's seconds, with a device profile


def network_result(args, backend: Backend, measure_with: Measurer | None = None) -> NetworkResult:
    """Count the model, and rewrite, measure (with ``measure_with``), advise and reproduce the papers as asked."""
    model = network_reader.load_model(
        args.model, alpha=args.alpha, input_size=args.input_size, include_top=args.include_top,
        limits=file_limits(args),
    )  # fmt: skip
    counted = count(model, skip_unknown=args.skip_unknown, check_flops=backend.flops_profiler)
    profile = _profile(args)
    if args.advise and profile is None:
        print(
            f"{PROGRAM}: --advise without a device profile ranks by MACs; give --device-profile "
            "to rank by predicted time",
            file=sys.stderr,
        )
    result = NetworkResult(counted, not (args.apply or args.advise) or args.json, profile)
    if profile is not None:
        result.prediction = predict_network(counted.network, profile, args.batch)
    if args.apply:
        rewritten = apply_rules(
            counted, args.apply, name_glob=args.layers, kinds=args.kind, min_channels=args.min_channels
        )
        config = NetworkConfig.from_args(args, backend.name, args.device, file_limits(args))
        result.rewrite = Rewrite(rewritten, counts_row(config, rewritten, profile))
        if measure_with is not None:
            result.rewrite = measure_with.measure(config, result.rewrite)
    if args.advise:
        result.advice = advise(counted.network, profile)
    if args.papers:
        result.papers = papers_table()
    return result


@dataclasses.dataclass
class Measurer:
    """Measures a network configuration in worker processes into ``store``, pooled like the sweep."""

    store: ResultStore
    args: Any  # the command's options, ``out`` the store's folder
    argv: list[str]
    failed_checks: int = 0

    def measure(self, config: NetworkConfig, counted: Rewrite) -> Rewrite:
        """The pooled row of ``config``: measured now, or the one the store already holds (--resume).

        ``counted`` is this process's rewrite and counts row: its latency-model prediction (whole
        networks, from the profile here) and how its MACs were checked (the profiler ran here, so
        the workers do not run it again) go into the pooled row.
        """
        args = self.args
        if config.key in self.store.completed_keys(schema.NETWORKS.name):
            print(f"{PROGRAM}: {args.out} already holds {config.key}; showing the stored measurement", file=sys.stderr)
        else:
            checked_here = {column: counted.row[column] for column in (*PREDICTION_COLUMNS, "macs_checked_by")}
            self.failed_checks += session.measure_plan(
                self.store,
                session.experiments_of(schema.NETWORKS.name),
                [config],
                network_preset(args),
                args,
                self.argv,
                {},
                finish=lambda config, row: checked_here,
            )
        rows = [row for row in self.store.read(schema.NETWORKS.name) if row["config_key"] == config.key]
        # An error row holds only the configuration and the error: the counts are this process's.
        stored = {key: value for key, value in rows[-1].items() if value not in (None, "")}
        return Rewrite(counted.rewritten, counted.row | stored)


def network_preset(args) -> plans.Preset:
    """The preset of a network measurement, with the networks' own budget (end-to-end calls are long)."""
    return plans.preset(args.preset, budget_seconds=args.budget or NETWORK_BUDGET_SECONDS[args.preset])


def render_result(result: NetworkResult, *, as_json: bool, as_csv: bool) -> str:
    """The result as the command prints it: the layer table (text or CSV), or one JSON document."""
    counted = result.counted
    if as_csv:
        return render.to_csv(counted.network.table(), LAYER_COLUMNS).rstrip("\n")
    if as_json:
        return render.to_json(_document(result))
    lines = summary_lines(counted)  # what was counted, what was not, and how it was checked
    if result.prediction is not None:
        lines += prediction_lines(result.prediction, result.profile)
    if result.show_layers:
        lines += [
            "",
            render.table(counted.network.table(), LAYER_COLUMNS),
            "",
            "other layers (parameters only; no MACs in the cost model's convention):",
            render.table(other_rows(counted.network)),
        ]
    if result.rewrite is not None:
        rewritten = result.rewrite.rewritten
        lines += [
            "",
            f"rewrite {rewritten_rules(result)}: {len(rewritten.changes)} change(s), rebuilt in Keras and checked "
            "(parameters and MACs equal the cost model's, same output shapes); the rebuilt network has fresh, "
            "randomly initialized weights: its timings do not depend on them, its outputs are not the original's",
            render.table(rewrite_rows(rewritten)),
            _ratio_line(result.rewrite.row, result.profile),
        ]
    if result.advice is not None:
        lines += ["", *_advice_lines(result.advice)]
    if result.papers is not None:
        lines += [
            "",
            "the papers' tables, reproduced from keras.applications (published figures cited):",
            render.table(result.papers, [key for key in result.papers[0] if key != "source"]),
        ]
    return "\n".join(lines)


def rewritten_rules(result: NetworkResult) -> str:
    assert result.rewrite is not None
    return str(result.rewrite.row["rules"])


def _document(result: NetworkResult) -> dict:
    network = result.counted.network
    document: dict = {"model": network.name, "input": list(network.input_shape), "params": network.params,
                      "macs": network.macs}  # fmt: skip
    if result.show_layers:
        document |= layer_document(result.counted)
    if result.prediction is not None:
        prediction = result.prediction.as_dict()
        document |= {
            "device": result.profile.device if result.profile else None,
            "predicted_seconds": prediction.pop("predicted_seconds"),
            "extrapolated": prediction.pop("extrapolated"),
            "extrapolation": prediction.pop("extrapolation"),
            "prediction": prediction,
        }
    if result.rewrite is not None:
        document["rewrite"] = {
            **result.rewrite.row,
            "rewritten_layers": [change.anchor for change in result.rewrite.rewritten.changes],
            "totals": rewrite_rows(result.rewrite.rewritten),
        }
    if result.advice is not None:
        advice = result.advice
        document["advice"] = advice.rows()
        document["advice_totals"] = {
            "device": advice.profile_device,
            "macs_before": advice.macs_before,
            "macs_after": advice.macs_after,
            "seconds_before": advice.seconds_before,
            "seconds_after": advice.seconds_after,
        }
    if result.papers is not None:
        document["papers"] = result.papers
    return document


def run_network(args, argv: list[str], backend: Backend, threads: dict) -> int:
    """The ``network`` command: 0 when everything was counted, checked and measured; 1 when a
    measurement failed or a cross-check did (the stored row says which); bad input raises (exit 2).

    One results store is opened for the whole command (one entry in the folder's runs): the
    measured row goes in as it is pooled, the papers' table at the end.  Without --out a
    measurement goes to a temporary folder, removed afterwards: the row is shown, not kept.
    """
    if getattr(args, "worker", None):
        return session.run_worker(schema.NETWORKS.name, network_preset(args), args, argv, backend)
    started = time.perf_counter()
    if args.measure:  # as the workers will: without a GPU, gpu falls back to the CPU, with a notice
        devices, notice = backend.resolve_devices(args.device)
        if notice:
            print(f"{PROGRAM}: {notice}", file=sys.stderr)
        args = copy.copy(args)
        args.device = devices[0]
    with contextlib.ExitStack() as stack:
        store, where = None, args
        if args.out is None and args.measure:
            where = copy.copy(args)
            where.out = pathlib.Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="validate-network-")))
        if where.out is not None and (args.measure or args.papers):
            tables = [schema.NETWORKS.name] if args.measure else []
            store = stack.enter_context(session.open_store(where, tables, threads, argv, backend))
        measurer = Measurer(store, where, argv) if args.measure and store is not None else None
        result = network_result(args, backend, measurer)
        if args.out is not None and store is not None and result.papers is not None:
            store.write_file(PAPERS_FILE, json.dumps(result.papers, indent=2) + "\n")
    print(render_result(result, as_json=args.json, as_csv=args.csv))
    print(f"{PROGRAM}: network done in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    error = result.rewrite.row.get("error") if result.rewrite is not None else ""
    if error:
        print(f"{PROGRAM}: measuring the rewrite failed: {error}", file=sys.stderr)
    return 1 if error or session.report_failed_checks(measurer.failed_checks if measurer else 0) else 0


def _profile(args) -> DeviceProfile | None:
    if args.device_profile is not None:
        return DeviceProfile.load(args.device_profile)
    if args.out is not None:
        path = session.profile_path(pathlib.Path(args.out), args.device)
        if path.exists():
            return DeviceProfile.load(path)
    return None


def prediction_lines(prediction: NetworkPrediction, profile: DeviceProfile | None) -> list[str]:
    """The whole network's predicted seconds, where they go, and why they extrapolate."""
    kinds = ", ".join(
        f"{kind} {seconds / prediction.seconds:.0%}" for kind, seconds in list(prediction.by_kind().items())[:5]
    )
    device = profile.device if profile else ""
    lines = [
        f"latency model ({device}): {prediction.seconds * 1e3:.3f} ms per call at batch {prediction.batch}, "
        f"the whole network (every layer, per kernel the runtime runs); largest shares: {kinds}"
    ]
    if prediction.extrapolated:
        shown = list(prediction.extrapolation[:3])
        more = len(prediction.extrapolation) - len(shown)
        lines.append(
            "extrapolated beyond the calibration: " + "; ".join(shown) + (f"; and {more} more" if more > 0 else "")
        )
    return lines


def _ratio_line(row: dict, profile: DeviceProfile | None) -> str:
    parts = [f"MAC ratio {row['macs_ratio']:.4g}"]
    if row.get("predicted_ratio") is not None:
        device = profile.device if profile else ""
        parts.append(f"latency model's predicted ratio {row['predicted_ratio']:.4g} (whole network, {device})")
    else:
        parts.append("no device profile: no predicted time ratio")
    if row.get("measured_ratio") is not None:
        rerun = ""
        if row.get("rerun_low") is not None:
            rerun = f"; rerun interval {row['rerun_low']:.4g}–{row['rerun_high']:.4g}"
        processes = f"over {row['processes']} process(es), " if row.get("processes") is not None else ""
        parts.append(
            f"measured time ratio {row['measured_ratio']:.4g} (95% CI {row['ratio_ci_low']:.4g}–"
            f"{row['ratio_ci_high']:.4g}{rerun}; {processes}geometric means of their "
            f"medians {row['original_geomean_seconds'] * 1e3:.2f} ms → "
            f"{row['rewritten_geomean_seconds'] * 1e3:.2f} ms, "
            f"{row['original_samples']} rounds, {row['device']})"
        )
    return "; ".join(parts)


def _advice_lines(advice) -> list[str]:
    by_time = advice.profile_device is not None
    lines = [
        f"advice for {advice.network.name}: schemes per convolution, ranked by "
        + (f"predicted time saved on {advice.profile_device}" if by_time else "MACs saved")
    ]
    rows = []
    for layer in advice.layers:
        for option in layer.options:
            rows.append(
                {
                    "layer": layer.layer.name,
                    "conv": layer.layer.convs[0].describe(),
                    "scheme": option.scheme,
                    "MAC ratio": option.macs_ratio,
                    "predicted time ratio": option.time_ratio,
                    "predicted us saved": None if option.seconds_saved is None else option.seconds_saved * 1e6,
                    "best": "*" if option is layer.best else "",
                }
            )
    lines.append(render.table(rows) if rows else "(no scheme applies to any layer)")
    total = (
        f"best of each applied: MACs {advice.macs_before:,} -> {advice.macs_after:,} (ratio {advice.macs_ratio:.4g})"
    )
    if advice.time_ratio is not None:
        total += (
            f"; predicted network time {advice.seconds_before * 1e3:.3f} ms -> {advice.seconds_after * 1e3:.3f} ms "
            f"(ratio {advice.time_ratio:.4g}; the whole network at batch 1)"
        )
    lines.append(total)
    return lines
