"""``validate network MODEL``: count a whole Keras model, rewrite it, time it, advise on it.

One command, four jobs, each a function here; the counting itself is the
cost model's (:mod:`costmodel.network`), reading and rebuilding Keras models
is :mod:`validate.frameworks.network_reader` / ``network_rewrite``'s.

* counting: every convolution and dense layer, per image (batch 1), checked
  against ``model.count_params()`` and TensorFlow's profiler;
* ``--apply RULES``: the rewritten network, rebuilt in Keras and checked,
  with its totals beside the original's; ``--measure`` times both end to end,
  interleaved, with the factorization sweep's harness and intervals;
* ``--advise``: per convolution, the schemes that apply, ranked by the
  latency model's predicted saving on a device;
* ``--papers``: the MobileNet papers' tables reproduced from Keras models.

With ``--out``, the measured rewrite is stored as a ``networks`` row and the
reproduced papers' table as ``networks_papers.json``, for the report.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import sys
import time

from costmodel import render
from costmodel.latency import DeviceProfile
from costmodel.network import Network, parse_rules, rewrite
from costmodel.network_advice import advise, predict_network_seconds
from costmodel.network_papers import PUBLISHED, compare_published
from validate.experiments import network_options, runner
from validate.frameworks import model_file, network_reader, network_rewrite
from validate.frameworks.backends import Backend
from validate.harness.timing import InterleavedResult, TimingPolicy, measure_interleaved

PROGRAM = "validate"
#: Seconds of interleaved timing per rewrite, by profile: end-to-end calls are long, so more than a layer's.
NETWORK_BUDGET_SECONDS = {"quick": 4.0, "default": 15.0, "full": 40.0, "gpu": 5.0}
PAPERS_FILE = "networks_papers.json"
LAYER_COLUMNS = ["name", "kind", "kernel", "stride", "c_in", "c_out", "output", "params", "macs", "macs_share"]


@dataclasses.dataclass
class Counted:
    """A model, the cost model's network of it, and how its MACs were checked."""

    model: object
    network: Network
    macs_checked_by: str


def count(model, *, skip_unknown: bool, check_flops: bool) -> Counted:
    """Read a Keras model and check its counts (parameters always, MACs with TensorFlow's profiler)."""
    network = network_reader.read_network(model, skip_unknown=skip_unknown)
    network_reader.check_params(network, model)
    if check_flops:
        checked_by = network_reader.check_macs(network, model).checked_by
    else:
        checked_by = "not checked: TensorFlow's profiler runs on the tensorflow backend only"
    return Counted(model, network, checked_by)


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


@dataclasses.dataclass
class Rewritten:
    original: Counted
    network: Network
    changes: list
    model: object

    @property
    def macs_ratio(self) -> float:
        return self.network.macs / self.original.network.macs

    @property
    def params_ratio(self) -> float:
        return self.network.params / self.original.network.params


def apply_rules(
    counted: Counted, rules_text: str, *, name_glob: str, kinds: tuple | None, min_channels: int
) -> Rewritten:
    """Plan with the cost model, rebuild in Keras, check the rebuilt model against the plan."""
    rules = parse_rules(rules_text, name_glob=name_glob, kinds=kinds, min_channels=min_channels)
    planned, changes = rewrite(counted.network, rules)
    if not changes:
        raise ValueError(
            f"no layer of {counted.network.name} matches {rules_text!r} "
            f"(layers {name_glob!r}, kinds {', '.join(kinds) if kinds else 'Conv2D, DepthwiseConv2D'}, "
            f"at least {min_channels} input channels)"
        )
    rebuilt = network_rewrite.rebuild(counted.model, changes)
    network_rewrite.check_rewrite(counted.model, rebuilt, planned)
    return Rewritten(counted, planned, changes, rebuilt)


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


def predicted_ratio(rewritten: Rewritten, profile: DeviceProfile | None) -> float | None:
    if profile is None:
        return None
    return predict_network_seconds(rewritten.network, profile) / predict_network_seconds(
        rewritten.original.network, profile
    )


def measure_rewrite(rewritten: Rewritten, backend: Backend, device: str, policy: TimingPolicy) -> InterleavedResult:
    """Both networks, end to end at batch 1, interleaved: the same harness as the factorization sweep."""
    import numpy as np

    shape = (NETWORK_BATCH, *rewritten.original.network.input_shape)
    inputs = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    with backend.device_scope(device):
        calls = [
            backend.compiled_call(model, inputs, "graph", 1) for model in (rewritten.original.model, rewritten.model)
        ]
        return measure_interleaved(
            *calls, policy=policy, labels=("original", "rewritten"), sync=backend.synchronizer(device)
        )


def measured_row(
    args,
    rewritten: Rewritten,
    timing: InterleavedResult | None,
    device: str,
    backend: Backend,
    profile: DeviceProfile | None,
) -> dict:
    """The ``networks`` row (:data:`validate.results.schema.NETWORKS`): counts, predicted and measured ratios."""
    before, after = rewritten.original.network, rewritten.network
    row = {
        "config_key": network_key(args, backend.name, device),
        "backend": backend.name,
        "device": device,
        "model": before.name,
        "input_size": before.input_shape[0],
        "alpha": args.alpha,
        "rules": args.apply,
        "changes": len(rewritten.changes),
        "params_original": before.params,
        "params_rewritten": after.params,
        "macs_original": before.macs,
        "macs_rewritten": after.macs,
        "macs_ratio": rewritten.macs_ratio,
        "params_ratio": rewritten.params_ratio,
        "predicted_ratio": predicted_ratio(rewritten, profile),
        "macs_checked_by": rewritten.original.macs_checked_by,
        "error": "",
    }
    if timing is not None:
        row.update(measured_ratio=timing.ratio, ratio_ci_low=timing.ratio_ci_low, ratio_ci_high=timing.ratio_ci_high)
        row.update(runner.measurement_columns(timing.a, "original_"))
        row.update(runner.measurement_columns(timing.b, "rewritten_"))
    return row


#: Images per call when a network is measured end to end (the store key records it).
NETWORK_BATCH = 1


def network_key(args, backend: str, device: str) -> str:
    """``network|backend|device|model|a<alpha>|s<size>|top|b<batch>|rules|filters``: one measured rewrite.

    Everything that changes the measured networks is in it: a model file is
    named by its content's SHA-256 (a file saved again under the same name is
    another model), and ``include_top`` is there when given.
    """
    model = args.model
    if model_file.names_a_file(model):
        model = f"{pathlib.Path(model).name}@sha256:{model_file.content_hash(model)}"
    filters = [
        f"layers={args.layers}" if args.layers != "*" else "",
        f"kind={','.join(args.kind)}" if args.kind else "",
        f"min_channels={args.min_channels}" if args.min_channels > 1 else "",
    ]
    parts = [
        "network",
        backend,
        device,
        model,
        f"a{args.alpha:g}" if args.alpha else "",
        f"s{args.input_size}" if args.input_size else "",
        {None: "", True: "top", False: "notop"}[args.include_top],
        f"b{NETWORK_BATCH}",
        args.apply or "",
        *filters,
    ]
    return "|".join(part for part in parts if part)


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


def _profile(args) -> DeviceProfile | None:
    if args.device_profile is not None:
        return DeviceProfile.load(args.device_profile)
    if args.out is not None:
        path = pathlib.Path(args.out) / f"device_profile_{args.device or 'cpu'}.json"
        if path.exists():
            return DeviceProfile.load(path)
    return None


def _print(text: str = "") -> None:
    print(text)


def run_network(args, argv: list[str], backend: Backend) -> int:
    """The ``network`` command; 0 when every check passed (a failed check raises, exit 2 or 1)."""
    started = time.perf_counter()
    device = args.device
    if args.measure and device is None:
        print(f"{PROGRAM}: --measure without --device: measuring on the CPU", file=sys.stderr)
        device = "cpu"
    device = device or "cpu"
    if args.measure:
        devices, notice = backend.resolve_devices(device)
        if notice:
            print(f"{PROGRAM}: {notice}", file=sys.stderr)
        device = devices[0]
    model = network_reader.load_model(
        args.model,
        alpha=args.alpha,
        input_size=args.input_size,
        include_top=args.include_top,
        limits=network_options.file_limits(args),
    )
    counted = count(model, skip_unknown=args.skip_unknown, check_flops=backend.flops_profiler)
    profile = _profile(args) if (args.advise or args.apply) else None
    if args.advise and profile is None:
        print(
            f"{PROGRAM}: --advise without a device profile ranks by MACs; give --device-profile "
            "to rank by predicted time",
            file=sys.stderr,
        )
    document: dict = {
        "model": counted.network.name,
        "input": list(counted.network.input_shape),
        "params": counted.network.params,
        "macs": counted.network.macs,
    }
    output: list[str] = []
    if (args.apply or args.advise) and not (args.json or args.csv):
        output += summary_lines(counted)  # what was counted, what was not, and how it was checked
    if not (args.apply or args.advise) or args.json or args.csv:
        document.update(layer_document(counted))
        if args.csv and not (args.apply or args.advise):
            sys.stdout.write(render.to_csv(counted.network.table(), LAYER_COLUMNS))
        elif not args.json:
            output += summary_lines(counted)
            output += [
                "",
                render.table(counted.network.table(), LAYER_COLUMNS),
                "",
                "other layers (parameters only; no MACs in the cost model's convention):",
                render.table(other_rows(counted.network)),
            ]
    row = None
    timing = None
    if args.apply:
        rewritten = apply_rules(
            counted, args.apply, name_glob=args.layers, kinds=args.kind, min_channels=args.min_channels
        )
        stored = _stored_row(args, argv, backend, network_key(args, backend.name, device)) if args.measure else None
        if stored is not None:
            print(
                f"{PROGRAM}: {args.out} already holds {stored['config_key']}; showing the stored measurement",
                file=sys.stderr,
            )
        if args.measure and stored is None:
            chosen = args.budget or NETWORK_BUDGET_SECONDS.get(args.preset, 15.0)
            from validate.experiments import plans
            from validate.experiments.session import timing_policy

            policy = timing_policy(plans.preset(args.preset, budget_seconds=chosen))
            timing = measure_rewrite(rewritten, backend, device, policy)
        row = stored or measured_row(args, rewritten, timing, device, backend, profile)
        document["rewrite"] = {
            **row,
            "rewritten_layers": [change.anchor for change in rewritten.changes],
            "totals": rewrite_rows(rewritten),
        }
        output += [
            "",
            f"rewrite {args.apply}: {len(rewritten.changes)} change(s), rebuilt in Keras and checked "
            "(parameters and MACs equal the cost model's, same output shapes); the rebuilt network has fresh, "
            "randomly initialized weights: its timings do not depend on them, its outputs are not the original's",
            render.table(rewrite_rows(rewritten)),
            _ratio_line(row, profile),
        ]
    if args.advise:
        advice = advise(counted.network, profile)
        document["advice"] = advice.rows()
        document["advice_totals"] = {
            "device": advice.profile_device,
            "macs_before": advice.macs_before,
            "macs_after": advice.macs_after,
            "seconds_before": advice.seconds_before,
            "seconds_after": advice.seconds_after,
        }
        output += ["", *_advice_lines(advice)]
    if args.papers:
        rows = papers_table()
        document["papers"] = rows
        output += [
            "",
            "the papers' tables, reproduced from keras.applications (published figures cited):",
            render.table(rows, [key for key in rows[0] if key != "source"]),
        ]
    if args.out is not None and ((row is not None and timing is not None) or args.papers):
        store_results(args, argv, backend, row if timing is not None else None, timing, document.get("papers"))
    if args.json:
        print(render.to_json(document))
    elif output:
        print("\n".join(output))
    print(f"{PROGRAM}: network done in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0


def _ratio_line(row: dict, profile: DeviceProfile | None) -> str:
    parts = [f"MAC ratio {row['macs_ratio']:.4g}"]
    if row.get("predicted_ratio") is not None:
        device = profile.device if profile else ""
        parts.append(f"latency model's predicted ratio {row['predicted_ratio']:.4g} ({device})")
    else:
        parts.append("no device profile: no predicted time ratio")
    if row.get("measured_ratio") is not None:
        parts.append(
            f"measured time ratio {row['measured_ratio']:.4g} (95% CI {row['ratio_ci_low']:.4g}–"
            f"{row['ratio_ci_high']:.4g}; medians {row['original_median_seconds'] * 1e3:.2f} ms → "
            f"{row['rewritten_median_seconds'] * 1e3:.2f} ms, {row['original_samples']} rounds, "
            f"{row['original_stop_reason']}, {row['device']})"
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
            f"; predicted conv time {advice.seconds_before * 1e3:.3f} ms -> {advice.seconds_after * 1e3:.3f} ms "
            f"(ratio {advice.time_ratio:.4g}; batch norm, activations and pooling are outside the model)"
        )
    lines.append(total)
    return lines


def _stored_row(args, argv: list[str], backend: Backend, key: str) -> dict | None:
    """The row ``--out`` already holds for this configuration (with ``--resume``), or None.

    Without ``--resume``, a folder holding network rows is refused before anything is measured.
    """
    if args.out is None:
        return None
    from validate.experiments.session import open_store

    threads = {"intra_op": args.threads, "inter_op": args.inter_threads}
    with open_store(args, ["networks"], threads, argv, backend) as store:
        rows = [row for row in store.read("networks") if row["config_key"] == key]
    return rows[-1] if rows else None


def store_results(
    args,
    argv: list[str],
    backend: Backend,
    row: dict | None,
    timing: InterleavedResult | None,
    papers: list[dict] | None,
) -> None:
    """Record the measured row in the ``networks`` table and the papers' table as ``networks_papers.json``.

    Only a configuration measured by this run is recorded (:func:`_stored_row`
    skips one already stored).
    """
    from validate.experiments.session import open_store

    threads = {"intra_op": args.threads, "inter_op": args.inter_threads}
    with open_store(args, ["networks"] if row is not None else [], threads, argv, backend) as store:
        if row is not None:
            samples = []
            if timing is not None:
                samples = runner.sample_rows(row["config_key"], timing.a, "original") + runner.sample_rows(
                    row["config_key"], timing.b, "rewritten"
                )
            store.record(row["config_key"], "networks", [row], samples)
        if papers is not None:
            store.write_file(PAPERS_FILE, json.dumps(papers, indent=2) + "\n")
