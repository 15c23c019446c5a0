"""The ``validate network`` command's options, and its entry point (imports no framework).

    python -m validate network MobileNet --json
    python -m validate network MobileNetV2 --input-size 160 --csv
    python -m validate network InceptionV3 --apply 5x5:stack,7x7:asymmetric
    python -m validate network MobileNet --input-size 128 --apply fuse --measure --out results/default --resume
    python -m validate network ResNet50 --advise --device-profile results/default/device_profile_cpu.json
    python -m validate network model.keras --skip-unknown

Bad input (an unknown model name, a file that is not a Keras model, a layer
the cost model cannot count, a rule that cannot apply to a matched layer)
ends with one line and exit status 2.
"""

from __future__ import annotations

import argparse
import pathlib

from costmodel.checks import positive_int, positive_seconds
from validate.experiments import plans
from validate.frameworks import backends, model_file

KINDS = ("Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Dense")


def _alpha(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a width multiplier such as 0.75, got {text!r}") from None
    if not 0 < value <= 4:
        raise argparse.ArgumentTypeError(f"expected a width multiplier in (0, 4], got {text}")
    return value


def _kinds(text: str) -> tuple:
    kinds = tuple(part.strip() for part in text.split(","))
    unknown = [kind for kind in kinds if kind not in KINDS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown layer kind {unknown[0]!r}; kinds: {', '.join(KINDS)}")
    return kinds


def add_network_parser(commands, add_common_options=None) -> argparse.ArgumentParser:
    """Add the ``network`` subcommand to ``validate``'s subparsers."""

    parser = commands.add_parser("network", help="count, rewrite, time or advise on a whole Keras model")
    parser.add_argument(
        "model", help="a keras.applications name (MobileNet, MobileNetV2, InceptionV3, ...) or a .keras file"
    )
    model = parser.add_argument_group("model (keras.applications names, built with weights=None)")
    model.add_argument("--alpha", type=_alpha, help="width multiplier, where the constructor takes one")
    model.add_argument("--input-size", type=positive_int, help="square input height = width")
    top = model.add_mutually_exclusive_group()
    top.add_argument(
        "--include-top",
        dest="include_top",
        action="store_true",
        default=None,
        help="with the classifier (the constructor's default)",
    )
    top.add_argument("--no-top", dest="include_top", action="store_false", help="without the classifier")
    model.add_argument(
        "--skip-unknown",
        action="store_true",
        help="list layers the cost model cannot count as not counted, instead of failing",
    )
    files = parser.add_argument_group("model files (checked before Keras reads them; see docs/networks.md)")
    files.add_argument("--max-file-mb", type=positive_int, default=4096, help="largest .keras file read (default 4096)")
    files.add_argument(
        "--max-unzipped-mb",
        type=positive_int,
        default=4096,
        help="most megabytes a .keras file's members may inflate to, all together (default 4096)",
    )
    files.add_argument(
        "--max-config-mb",
        type=positive_int,
        default=64,
        help="most megabytes its config.json may inflate to (default 64)",
    )
    rewrite = parser.add_argument_group("rewriting")
    rewrite.add_argument(
        "--apply", metavar="RULES", help="e.g. 5x5:stack,7x7:asymmetric,3x3:depthwise-separable, or fuse"
    )
    rewrite.add_argument("--layers", default="*", metavar="GLOB", help="only layers whose name matches")
    rewrite.add_argument("--kind", type=_kinds, help="only these kinds, e.g. Conv2D (not with fuse)")
    rewrite.add_argument(
        "--min-channels", type=positive_int, default=1, help="only layers with this many input channels or more"
    )
    rewrite.add_argument("--measure", action="store_true", help="time the original and the rewritten network")
    parser.add_argument("--advise", action="store_true", help="rank the schemes for every convolution")
    parser.add_argument(
        "--papers", action="store_true", help="reproduce the MobileNet papers' tables (and store them with --out)"
    )
    parser.add_argument(
        "--device-profile",
        type=pathlib.Path,
        help="latency-model profile (default: device_profile_<device>.json in --out)",
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print JSON")
    output.add_argument("--csv", action="store_true", help="print the layer table as CSV")
    run = parser.add_argument_group("measuring")
    plans.add_preset_option(run, "timing budget of --measure (default: default)")
    run.add_argument("--device", choices=("cpu", "gpu"), help="where --measure times (default: the CPU)")
    run.add_argument(
        "--backend",
        choices=backends.NAMES,
        default="tensorflow",
        help="the framework Keras runs on (the profiler check needs tensorflow)",
    )
    run.add_argument("--out", type=pathlib.Path, help="results folder to store the measured row in")
    run.add_argument("--resume", action="store_true", help="add to the results already in --out")
    run.add_argument("--threads", type=int, help="intra-op threads (0: the backend's choice)")
    run.add_argument("--inter-threads", type=int, help="inter-op threads (0: the backend's choice)")
    run.add_argument("--budget", type=positive_seconds, help="seconds of interleaved timing")
    return parser


def file_limits(args) -> model_file.FileLimits:
    """The ``--max-*-mb`` options as the bounds a model file is checked against."""
    return model_file.FileLimits(
        max_file_bytes=args.max_file_mb * model_file.MB,
        max_unzipped_bytes=args.max_unzipped_mb * model_file.MB,
        max_config_bytes=args.max_config_mb * model_file.MB,
    )


def check_combinations(args) -> None:
    """Options that only make sense together."""
    if args.measure and not args.apply:
        raise ValueError("--measure times a rewrite: give --apply RULES too")
    if args.csv and (args.apply or args.advise or args.papers):
        raise ValueError("--csv prints the layer table only; use --json with --apply, --advise or --papers")


def main_network(args, argv: list[str]) -> int:
    """Select the backend before anything imports Keras, then run the command."""
    check_combinations(args)
    if model_file.names_a_file(args.model):
        # A hostile or broken file is refused here, before any framework is imported: in a fraction
        # of a second and a few megabytes, whatever it would inflate to.
        model_file.check_model_file(args.model, file_limits(args))
    backends.select_keras_backend(args.backend)
    backend = backends.get_backend(args.backend)
    if args.measure:
        backend.configure_threads(args.threads, args.inter_threads)
    from validate.experiments.network import run_network

    return run_network(args, argv, backend)
