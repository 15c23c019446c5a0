"""``costmodel``: query what a factorization saves, from the shell.

Subcommands share one set of layer options (``--c-in``, ``--c-out``, ``--mid``,
``--height``, ``--width``, ``--batch``, ``--stride``, ``--dilation``,
``--groups``, ``--padding``, ``--bias``, ``--dtype-bytes``); an omitted size
stays a symbol.  Output is a table, ``--json`` (strict JSON) or ``--csv``.
Bad input, a bad file or input past a limit (:mod:`costmodel.checks`) ends
with one line on stderr and exit status 2; Ctrl-C with one line and 130;
never a traceback.

Examples::

    costmodel savings 5x5 --scheme stack --c-in 64 --c-out 64
    costmodel savings 3x3 --scheme depthwise-separable --c-in 64 --c-out 64 --json
    costmodel sweep --kernels 2-11 --schemes asymmetric,stack --c-in 64 --c-out 64
    costmodel formula --scheme depthwise-separable --latex
    costmodel predict 3x3 --scheme depthwise-separable --c-in 64 --c-out 64 \
        --height 32 --width 32 --device-profile results/default/device_profile_cpu.json
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from costmodel import render
from costmodel.analysis import METRICS, savings, savings_record, savings_record_without_sympy
from costmodel.checks import (
    MAX_CONFIGS,
    MAX_KERNEL,
    OneLineParser,
    UsageError,
    at_most,
    count_of,
    expand,
    int_ranges,
    one_line,
    padding,
    pair,
    positive_int,
    positive_ints,
)
from costmodel.jsonfile import MAX_BYTES
from costmodel.kernel import parse_kernel_shape
from costmodel.schemes import SCHEMES, scheme_names

# validate.cli and validate.report.build import these four from here.
__all__ = ["OneLineParser", "UsageError", "main", "positive_int", "positive_ints"]

PROGRAM = "costmodel"
SIZE_OPTIONS = ("c_in", "c_out", "mid", "depth", "height", "width", "batch")
STRUCTURE_OPTIONS = (
    "rank",
    "stride",
    "dilation",
    "groups",
    "padding",
    "bias",
    "dtype_bytes",
    "m",
    "order",
    "multiplier",
)
EXIT_OK, EXIT_USAGE, EXIT_INTERRUPTED = 0, 2, 130  # 130 = 128 + SIGINT, as shells report it


def kernel_list(text: str) -> list[str | range]:
    """Kernels as '3,5,7', '2-11' (square, or 1-D/cubes with --rank) or '1x7,3x3x3'; ranges stay unexpanded."""
    kernels: list[str | range] = []
    for part in text.split(","):
        if "-" in part:
            kernels.extend(int_ranges(part))
        else:
            try:
                parse_kernel_shape(part)
            except ValueError as error:
                raise argparse.ArgumentTypeError(str(error)) from None
            kernels.append(part.strip())
    return kernels


def check_kernel(text: Any, max_kernel: int) -> None:
    """Refuse a kernel side past the limit, before any layer is built."""
    for side in parse_kernel_shape(text):
        at_most(side, max_kernel, "the kernel side", "--max-kernel")


def checked_kernels(kernels: list[str | range], max_kernel: int) -> list[str]:
    """The --kernels list expanded, each side within the limit (checked on the ranges' ends first)."""
    for part in kernels:
        if isinstance(part, range):
            at_most(part[-1], max_kernel, "the kernel side", "--max-kernel")
        else:
            check_kernel(part, max_kernel)
    return [str(size) for part in kernels for size in (part if isinstance(part, range) else [part])]


def scheme_name(text: str) -> str:
    try:
        scheme_names(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def add_layer_options(parser: argparse.ArgumentParser, sizes_type: Any = positive_int) -> None:
    """The layer and scheme options every subcommand names the same way."""
    group = parser.add_argument_group("layer (an omitted size stays a symbol)")
    group.add_argument("--c-in", type=sizes_type, help="input channels")
    group.add_argument("--c-out", type=sizes_type, help="output channels")
    group.add_argument("--mid", type=sizes_type, help="intermediate width (default: c-out)")
    group.add_argument(
        "--rank", type=int, choices=(1, 2, 3), help="spatial axes: a bare kernel 7 is 7x7 (2), 7 (1) or 7x7x7 (3)"
    )
    group.add_argument("--depth", type=sizes_type, help="input depth of a 3-D layer (frames, slices)")
    group.add_argument("--height", type=sizes_type, help="input height")
    group.add_argument("--width", type=sizes_type, help="input width (a 1-D layer's length)")
    group.add_argument("--batch", type=sizes_type, help="images per call (default 1)")
    group.add_argument("--stride", type=pair, help="N or H,W (default 1)")
    group.add_argument("--dilation", type=pair, help="N or H,W (default 1)")
    group.add_argument("--groups", type=positive_int, help="channel groups (default 1)")
    group.add_argument("--padding", type=padding, help="same (default), valid, N or N,M")
    group.add_argument("--bias", action="store_true", default=None, help="layers add a bias")
    group.add_argument("--dtype-bytes", type=positive_int, help="bytes per element (default 4)")
    factor = parser.add_argument_group("factorization")
    factor.add_argument("--m", type=positive_int, help="stack: side of the small kernel (default 3)")
    factor.add_argument("--order", choices=("1xk-first", "kx1-first"), help="asymmetric: which first")
    factor.add_argument("--multiplier", type=positive_int, help="depthwise: depth multiplier (default 1)")
    limits = parser.add_argument_group("limits (checked before any work)")
    limits.add_argument(
        "--max-kernel",
        type=positive_int,
        default=MAX_KERNEL,
        help=f"largest kernel side accepted (default {MAX_KERNEL})",
    )


def add_output_options(parser: argparse.ArgumentParser) -> None:
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print JSON")
    output.add_argument("--csv", action="store_true", help="print CSV")


def layer_values(args: argparse.Namespace, scheme: str | None = None) -> dict:
    """The layer/scheme options given, dropping the scheme options a scheme does not take."""
    values = {
        name: getattr(args, name) for name in SIZE_OPTIONS + STRUCTURE_OPTIONS if getattr(args, name, None) is not None
    }
    if scheme is not None:
        accepted = {option for step in scheme_names(scheme) for option in step.options}
        for option in ("mid", "m", "order", "multiplier"):
            if option in values and option not in accepted:
                raise UsageError(f"--{option} does not apply to scheme {scheme!r}")
    return values


def emit(args: argparse.Namespace, rows: list[dict], columns: list[str] | None = None, document: Any = None) -> str:
    if args.json:
        return render.to_json(document if document is not None else rows)
    if args.csv:
        return render.to_csv(rows, columns).rstrip("\n")
    return render.table(rows, columns)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def run_savings(args: argparse.Namespace) -> str:
    check_kernel(args.kernel, args.max_kernel)
    values = layer_values(args, args.scheme)
    # Closed forms are symbolic; sympy writes them unless the small algebra can (most queries).
    record = savings_record_without_sympy(args.kernel, args.scheme, **values) or savings_record(
        savings(args.kernel, args.scheme, **values)
    )
    labels = {
        "params": "params",
        "macs": "MACs",
        "flops": "FLOPs",
        "memory_bytes": "memory bytes",
        "activation_elements": "activations",
    }
    rows = [
        {
            "metric": labels[metric],
            "before": record[f"{metric}_before"],
            "after": record[f"{metric}_after"],
            "ratio": record[f"{metric}_ratio"],
            "saving": _percent(record[f"{metric}_saving"]),
            "ratio_closed_form": record[f"{metric}_ratio_closed_form"],
        }
        for metric in METRICS
    ]
    if args.json or args.csv:
        return emit(args, rows, document=record)
    field = "x".join(map(str, record["receptive_field"]))
    header = [
        f"{record['original']} by {record['scheme']}: {' -> '.join(record['factorized'])}",
        f"receptive field {field} (same as the original's)",
        "",
    ]
    return "\n".join(header + [render.table(rows)])


def sweep_values(args: argparse.Namespace) -> tuple[list[str], list[str], dict]:
    """The sweep's kernels, schemes and sizes, after checking the limits on the unexpanded lists."""
    kernels = checked_kernels(args.kernels, args.max_kernel)
    try:
        ranks = {len(parse_kernel_shape(kernel, args.rank)) for kernel in kernels}
    except ValueError as error:
        raise UsageError(str(error)) from None
    # By default every scheme that factorizes one of the kernels' ranks (2plus1d only for 3-D kernels).
    schemes = args.schemes or [name for name, scheme in SCHEMES.items() if ranks & set(scheme.ranks)]
    configurations = len(kernels) * len(schemes)
    for name in SIZE_OPTIONS:
        value = getattr(args, name)
        if value is not None:
            configurations *= count_of(value)
    at_most(configurations, args.max_configs, "the number of configurations in this sweep", "--max-configs")
    values = layer_values(args)
    for name in SIZE_OPTIONS:
        if name in values:
            values[name] = expand(values[name], args.max_configs, f"--{name.replace('_', '-')}")
    return kernels, schemes, values


def run_sweep(args: argparse.Namespace) -> str:
    from costmodel.sweep import sweep  # numpy is only needed here

    kernels, schemes, values = sweep_values(args)
    rows = sweep(kernels, schemes, **values)
    columns = [
        "kernel",
        "scheme",
        *SIZE_OPTIONS[:2],
        "mid",
        *SIZE_OPTIONS[3:],
        "params_ratio",
        "params_saving",
        "macs_ratio",
        "macs_saving",
        "error",
    ]
    present = [column for column in columns if any(column in row for row in rows)]
    return emit(args, rows, present)


def formula_rows(kernel: Any, scheme: str, values: dict) -> list[dict]:
    """The closed forms of one scheme: ratios, equal-width ratios, break-even width, limit."""
    from costmodel import symbols
    from costmodel.analysis import break_even_width, equal_widths, limit_of_ratio

    kernel = symbols.K if kernel is None else kernel
    result = savings(kernel, scheme, **values)
    width_option = scheme_names(scheme)[0].width_option
    given = {key: value for key, value in values.items() if key != width_option}
    rows = []
    for metric, label in (("params", "params"), ("macs", "MACs")):
        form = result.ratio(metric)
        rows += [
            {"scheme": scheme, "quantity": f"{label} ratio", "expression": form},
            {
                "scheme": scheme,
                "quantity": f"{label} ratio, C_in = C_out = C_mid = C",
                "expression": equal_widths(form),
            },
        ]
    rows.append(
        {
            "scheme": scheme,
            "quantity": f"break-even {width_option} (MACs ratio = 1)",
            "expression": break_even_width(kernel, scheme, **given),
        }
    )
    rows.append(
        {
            "scheme": scheme,
            "quantity": "MACs ratio as k -> oo (square k x k)",
            "expression": limit_of_ratio(scheme, **given),
        }
    )
    return rows


def run_formula(args: argparse.Namespace) -> str:
    import sympy  # closed forms are symbolic by nature

    if args.kernel is not None:
        check_kernel(args.kernel, args.max_kernel)
    schemes = [args.scheme] if args.scheme else list(SCHEMES)
    rows = []
    for scheme in schemes:
        rows += formula_rows(args.kernel, scheme, layer_values(args, scheme))
    for row in rows:
        if row["expression"] is None:  # no break-even width: the block never costs more or less
            row["approx"] = None
            continue
        expression = sympy.S(row["expression"])
        row["approx"] = float(expression) if expression.is_number else None
        if args.latex:
            row["expression"] = sympy.latex(expression)
    return emit(args, rows)


PREDICT_NEEDS = ("c_in", "c_out", "height", "width")


def run_predict(args: argparse.Namespace) -> str:
    from costmodel import latency

    missing = [name for name in PREDICT_NEEDS if getattr(args, name) is None]
    if missing:
        raise UsageError(
            "predict needs every size as a number; give " + ", ".join("--" + name.replace("_", "-") for name in missing)
        )
    check_kernel(args.kernel, args.max_kernel)
    profile = latency.DeviceProfile.load(
        args.device_profile, max_bytes=args.max_profile_bytes, size_hint="raise it with --max-profile-bytes N"
    )
    result = savings(args.kernel, args.scheme, **layer_values(args, args.scheme))
    before = latency.predict_seconds(result.layer, profile, args.repeats)
    after = latency.predict_seconds(result.block, profile, args.repeats)
    layers = [
        {"block": "original", **prediction.as_row(profile)}
        for prediction in latency.predict_layers(result.layer, profile)
    ]
    layers += [
        {"block": "factorized", **prediction.as_row(profile)}
        for prediction in latency.predict_layers(result.block, profile)
    ]
    macs_ratio = result.exact_ratio("macs")
    outside = list(
        dict.fromkeys(latency.extrapolation(result.layer, profile) + latency.extrapolation(result.block, profile))
    )
    document = {
        "kernel": list(result.layer.kernel_shape),
        "scheme": result.scheme,
        "device": profile.device,
        "repeats": args.repeats,
        "predicted_seconds_before": before,
        "predicted_seconds_after": after,
        "predicted_time_ratio": after / before,
        "macs_ratio": str(macs_ratio),
        "ridge_point": profile.ridge_point,
        "model": profile.model,
        "extrapolated": bool(outside),
        "extrapolation": outside,
        "layers": layers,
    }
    _check_finite(document)
    if args.json:
        return render.to_json(document)
    columns = ["block", "layer", "kind", "seconds", "bound", "intensity", "ridge_point", "kernel_factor"]
    if args.csv:
        return render.to_csv(layers, columns).rstrip("\n")
    header = [
        f"{result.layer.describe()} by {result.scheme} on {profile.device} (stacks of {args.repeats}, one call each):",
        f"predicted {before * 1e3:.4g} ms before, {after * 1e3:.4g} ms after: time ratio "
        f"{after / before:.3f} (MACs ratio {macs_ratio} = {float(macs_ratio):.3f})",
        *_extrapolation_lines(outside),
        "",
    ]
    return "\n".join(header + [render.table(layers, columns)])


def _extrapolation_lines(outside: list[str]) -> list[str]:
    """The table's line saying a prediction is an extrapolation, with the first reasons."""
    if not outside:
        return []
    shown = "; ".join(outside[:3]) + (f"; and {len(outside) - 3} more" if len(outside) > 3 else "")
    return [f"extrapolated beyond the calibration: {shown}"]


def _check_finite(document: dict) -> None:
    """Refuse a prediction that is not a finite number, whatever the output format."""
    render.to_json(document)  # raises ValueError naming the first non-finite field


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=PROGRAM, description="Exact costs of factorized convolutions.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    one = commands.add_parser("savings", help="one kernel, one scheme: before, after, ratio, saving")
    one.add_argument("kernel", help="kernel size: 5, 5x5, 1x7 or 3x3x3 (7 with --rank 1 is 1-D)")
    one.add_argument(
        "--scheme", required=True, type=scheme_name, help=f"one of {', '.join(SCHEMES)}, or several joined by '+'"
    )
    add_layer_options(one)
    add_output_options(one)
    one.set_defaults(run=run_savings)

    many = commands.add_parser("sweep", help="kernel sizes x schemes x sizes: one table")
    many.add_argument(
        "--kernels", type=kernel_list, default=["3", "5", "7"], help="e.g. 3,5,7 or 2-11 or 1x7 (default 3,5,7)"
    )
    many.add_argument(
        "--schemes",
        type=lambda text: [scheme_name(t) for t in text.split(",")],
        help="comma list (default: every registered scheme)",
    )
    add_layer_options(many, sizes_type=int_ranges)
    many.add_argument(
        "--max-configs",
        type=positive_int,
        default=MAX_CONFIGS,
        help=f"most configurations one sweep computes (default {MAX_CONFIGS:,})",
    )
    add_output_options(many)
    many.set_defaults(run=run_sweep)

    timed = commands.add_parser("predict", help="predicted seconds from a calibrated device profile")
    timed.add_argument("kernel", help="kernel size: 5, 5x5, 1x7 or 3x3x3 (7 with --rank 1 is 1-D)")
    timed.add_argument("--scheme", required=True, type=scheme_name, help="a registered scheme")
    timed.add_argument("--device-profile", required=True, help="JSON written by 'validate calibrate'")
    timed.add_argument(
        "--repeats",
        type=positive_int,
        default=1,
        help="each block stacked this many times in one graph call (default 1)",
    )
    add_layer_options(timed)
    timed.add_argument(
        "--max-profile-bytes",
        type=positive_int,
        default=MAX_BYTES,
        help=f"largest device profile file read (default {MAX_BYTES:,})",
    )
    add_output_options(timed)
    timed.set_defaults(run=run_predict)

    forms = commands.add_parser("formula", help="closed forms of each scheme's ratios")
    forms.add_argument("kernel", nargs="?", help="kernel size (default: a symbolic k x k)")
    forms.add_argument("--scheme", type=scheme_name, help="one scheme (default: all)")
    forms.add_argument("--latex", action="store_true", help="print expressions as LaTeX")
    add_layer_options(forms)
    add_output_options(forms)
    forms.set_defaults(run=run_formula)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status: 0, 2 for bad input, 130 when interrupted.

    Every failure is one line on stderr, never a traceback.
    """
    try:
        args = build_parser().parse_args(argv)
        print(args.run(args))
    except (UsageError, ValueError, TypeError) as error:
        print(f"{PROGRAM}: error: {one_line(str(error))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{PROGRAM}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. piped into head
        return EXIT_OK
    return EXIT_OK
