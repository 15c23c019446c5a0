"""``validate``: measure real latencies in Keras 3 and set them beside the cost model.

    python -m validate calibrate --preset quick --device cpu --out results/
    python -m validate seed --preset quick --device cpu --out results/
    python -m validate factorizations --preset default --device all --out results/ --resume
    python -m validate factorizations --preset quick --backend jax --out results-jax/
    python -m validate network MobileNet --json
    python -m validate network MobileNetV2 --input-size 160 --csv
    python -m validate network InceptionV3 --apply 5x5:stack,7x7:asymmetric
    python -m validate network MobileNet --input-size 128 --apply fuse --measure --out results/default --resume
    python -m validate network ResNet50 --advise --device-profile results/default/device_profile_cpu.json

``--backend tensorflow|jax|torch`` (default tensorflow, the reference) picks
the framework Keras runs on.  Keras reads ``KERAS_BACKEND`` once, at its first
import, so :func:`main` sets it before anything imports Keras.

Every configuration is stored under ``--out`` as soon as it is measured (in
``results.sqlite``, one transaction each, with the CSV files exported from it;
:mod:`validate.results.store`); ``--resume`` continues an interrupted run.
Bad input ends with one line on stderr and exit status 2 (for ``network``: an
unknown model, a file that is not a Keras model, a layer the cost model cannot
count, a rule that cannot apply); a failed cross-check with exit status 1
after the sweep (its row says what failed).
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import signal
import sys
import threading
from typing import Any

from costmodel.checks import OneLineParser, UsageError, positive_int, positive_ints, positive_seconds
from validate.experiments import plans
from validate.experiments.workers import WorkerError
from validate.frameworks import backends, model_file
from validate.results.schema import MEASURED_TABLES
from validate.results.store import StoreBusyError

PROGRAM = "validate"
MODES_HELP = (
    "comma list; "
    + "; ".join(f"{spec.name}: {', '.join(spec.modes)}" for spec in backends.SPECS.values())
    + "; graph means the backend's natural mode"
)


def _shard(text: str) -> tuple[int, int]:
    try:
        return plans.parse_shard(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _names(text: str, allowed, what: str) -> tuple[str, ...]:
    """A comma list of names, each one of ``allowed``; the first that is not is named in one line."""
    names = tuple(part.strip() for part in text.split(","))
    unknown = [name for name in names if name not in allowed]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown {what} {unknown[0]!r}; known: {', '.join(allowed)}")
    return names


def _modes(text: str) -> tuple:
    """Any backend's mode names; whether the chosen backend has them is checked in :func:`main`."""
    return _names(text, backends.KNOWN_MODES, "mode")


def _cases(text: str) -> tuple:
    try:
        return tuple(plans.case_from_text(part) for part in text.split(","))
    except (ValueError, TypeError) as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _tables(text: str) -> tuple:
    return _names(text, tuple(MEASURED_TABLES), "table")


def _activations(text: str) -> tuple:
    names = _names(text, ("none", "linear", "relu"), "activation")
    return tuple(None if name in ("none", "linear") else name for name in names)


def add_common_options(parser: argparse.ArgumentParser) -> None:
    plans.add_preset_option(parser, "how much to measure (quick: under 2 minutes on 2 cores)")
    parser.add_argument(
        "--device",
        choices=("cpu", "gpu", "all"),
        default="cpu",
        help="where to measure; without a GPU, gpu/all fall back to the CPU",
    )
    parser.add_argument(
        "--backend",
        choices=backends.NAMES,
        default="tensorflow",
        help="the framework Keras runs on (default tensorflow, the reference)",
    )
    parser.add_argument(
        "--out",
        type=pathlib.Path,
        default=pathlib.Path("results"),
        help="folder of the CSV results and metadata (default results/)",
    )
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    parser.add_argument(
        "--shard",
        type=_shard,
        help="I/N: measure only the I-th of N disjoint parts of the plan (one per machine of a fleet)",
    )
    parser.add_argument("--threads", type=int, help="intra-op threads (0: the backend's choice)")
    parser.add_argument("--inter-threads", type=int, help="inter-op threads (0: the backend's choice)")
    parser.add_argument("--budget", type=positive_seconds, help="seconds of timing per configuration")


def add_process_options(parser: argparse.ArgumentParser) -> None:
    """How many worker processes measure each configuration, and the workers' own options."""
    parser.add_argument(
        "--processes",
        type=_process_count,
        help="worker processes that each measure every configuration, one after the other "
        "(default: the preset's; the interval then includes the variation between processes)",
    )
    parser.add_argument(
        "--worker-timeout",
        type=positive_seconds,
        help="seconds without progress after which a worker process is taken to hang and killed (default 600)",
    )
    # Set by the supervising process for its workers; not for users.
    parser.add_argument("--worker", type=_worker, help=argparse.SUPPRESS)
    parser.add_argument("--keys", type=pathlib.Path, help=argparse.SUPPRESS)


MAX_PROCESSES = 32


def add_measuring_options(parser: argparse.ArgumentParser, *, device_profile: bool = False) -> None:
    """What every command that measures configurations in worker processes takes."""
    if device_profile:
        parser.add_argument(
            "--device-profile",
            type=pathlib.Path,
            help="latency-model profile (default: device_profile_<device>.json in --out)",
        )
    add_common_options(parser)
    add_process_options(parser)


def _process_count(text: str) -> int:
    count = positive_int(text)
    if count > MAX_PROCESSES:
        raise argparse.ArgumentTypeError(f"--processes must be at most {MAX_PROCESSES}, got {count}")
    return count


def _worker(text: str) -> tuple[int, int]:
    try:
        return plans.parse_shard(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error).replace("shard", "worker")) from None


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
    return _names(text, KINDS, "layer kind")


def add_network_parser(commands) -> argparse.ArgumentParser:
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
        help="latency-model profile: predicts the whole network's seconds (default: device_profile_<device>.json "
        "in --out)",
    )
    parser.add_argument(
        "--batch", type=positive_int, default=1, help="images per call the prediction is for (default 1)"
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print JSON")
    output.add_argument("--csv", action="store_true", help="print the layer table as CSV")
    run = parser.add_argument_group("measuring")
    plans.add_preset_option(run, "timing budget of --measure (default: default)")
    run.add_argument("--device", choices=("cpu", "gpu"), default="cpu", help="where --measure times (default cpu)")
    run.add_argument(
        "--backend",
        choices=backends.NAMES,
        default="tensorflow",
        help="the framework Keras runs on (the profiler check needs tensorflow)",
    )
    run.add_argument("--modes", type=_modes, help="the one mode --measure times (default: the backend's natural one)")
    run.add_argument("--out", type=pathlib.Path, help="results folder to store the measured row in")
    run.add_argument("--resume", action="store_true", help="add to the results already in --out")
    run.add_argument("--threads", type=int, help="intra-op threads (0: the backend's choice)")
    run.add_argument("--inter-threads", type=int, help="inter-op threads (0: the backend's choice)")
    run.add_argument("--budget", type=positive_seconds, help="seconds of interleaved timing, shared by the processes")
    add_process_options(run)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=PROGRAM, description="Measure factorized convolutions in Keras 3.")
    commands = parser.add_subparsers(dest="experiment", required=True, parser_class=OneLineParser)
    seed = commands.add_parser("seed", help="the seed's 16-layer networks, graph and predict mode")
    seed.add_argument("--filters", type=positive_ints, help="e.g. 8,16,32,64")
    seed.add_argument("--modes", type=_modes, help=MODES_HELP)
    add_measuring_options(seed)
    factor = commands.add_parser("factorizations", help="original vs factorized stacks, interleaved")
    factor.add_argument("--cases", type=_cases, help="e.g. 5x5:stack,3:stack:m=2,7:asymmetric")
    factor.add_argument("--modes", type=_modes, help=MODES_HELP)
    factor.add_argument("--channels", type=positive_ints, help="e.g. 8,64,256")
    factor.add_argument("--sizes", type=positive_ints, help="input height = width, e.g. 8,32")
    factor.add_argument("--batches", type=positive_ints, help="e.g. 1,8")
    factor.add_argument("--repeats", type=positive_int, help="how many times each block is stacked")
    factor.add_argument("--activation", type=_activations, help="none, relu or none,relu")
    add_measuring_options(factor, device_profile=True)
    sweep = commands.add_parser(
        "sweep", help="the seed's experiment and the factorization sweep of a preset, in the same worker processes"
    )
    sweep.add_argument("--modes", type=_modes, help=MODES_HELP + "; both experiments run each")
    add_measuring_options(sweep, device_profile=True)
    calibrate = commands.add_parser("calibrate", help="measure ceilings and overheads, fit the latency model")
    calibrate.add_argument(
        "--modes", type=_modes, help="the mode calibrated: the backend's natural one (graph; fp32 on litert)"
    )
    add_common_options(calibrate)
    retest = commands.add_parser("retest", help="measure a sample of a results folder again and report the agreement")
    retest.add_argument("results", type=pathlib.Path, help="a results folder measured on this machine")
    retest.add_argument("--sample", type=positive_int, default=12, help="configurations per table (default 12)")
    retest.add_argument("--seed", type=int, default=0, help="which sample (default 0)")
    retest.add_argument(
        "--tables",
        type=_tables,
        default=tuple(MEASURED_TABLES),
        help=f"a comma list of {', '.join(MEASURED_TABLES)} (default: each that holds rows)",
    )
    add_network_parser(commands)
    networks = commands.add_parser(
        "networks", help="the held-out network benchmark: whole-network predictions against measurement"
    )
    add_measuring_options(networks, device_profile=True)
    return parser


def chosen_preset(args) -> plans.Preset:
    """The preset with the command line's overrides, its modes the backend's own.

    ``graph`` becomes the backend's natural mode.  A mode given with
    ``--modes`` that the backend lacks is an error; one only the preset lists
    (``full`` lists ``xla``) is left out with a notice.
    """
    overrides = {"budget_seconds": args.budget}
    if args.experiment == "sweep":
        overrides.update(seed_modes=args.modes, factorization_modes=args.modes)
    elif args.experiment == "calibrate":
        pass
    elif args.experiment == "seed":
        overrides.update(seed_filters=_tuple(args.filters), seed_modes=args.modes)
    else:
        overrides.update(
            cases=args.cases,
            channels=_tuple(args.channels),
            sizes=_tuple(args.sizes),
            batches=_tuple(args.batches),
            repeats=args.repeats,
            activations=args.activation,
            factorization_modes=args.modes,
        )
    chosen = plans.preset(args.preset, **overrides)
    spec = backends.spec(args.backend)
    given = getattr(args, "modes", None)
    if args.experiment == "calibrate" and given is not None:
        check_calibrated_mode(spec, given)
    resolved: dict[str, Any] = {}
    for field in ("seed_modes", "factorization_modes"):
        own = field in _MODE_FIELDS[args.experiment]
        modes, left_out = spec.resolve_modes(getattr(chosen, field), explicit=own and given is not None)
        if left_out and own:
            print(
                f"{PROGRAM}: the {spec.name} backend has no {', '.join(left_out)} mode; measuring {', '.join(modes)}",
                file=sys.stderr,
            )
        resolved[field] = modes
    return dataclasses.replace(chosen, **resolved)


def check_calibrated_mode(spec: backends.BackendSpec, given: tuple) -> None:
    """Calibration fits the latency model in the backend's natural mode only; say so for any other."""
    modes, _ = spec.resolve_modes(given, explicit=True)
    if modes != (spec.natural_mode,):
        others = ", ".join(mode for mode in modes if mode != spec.natural_mode)
        raise ValueError(
            f"calibrate fits the latency model in the {spec.name} backend's natural mode ({spec.natural_mode}) "
            f"only; {others} rows are measured without a model's prediction"
        )


#: The preset's fields that an experiment's --modes sets.
_MODE_FIELDS = {
    "seed": ("seed_modes",),
    "factorizations": ("factorization_modes",),
    "calibrate": (),
    "sweep": ("seed_modes", "factorization_modes"),
}


def _tuple(values):
    return tuple(values) if values else None


def check_combinations(args) -> None:
    """Options that only make sense together."""
    if args.measure and not args.apply:
        raise ValueError("--measure times a rewrite: give --apply RULES too")
    if args.csv and (args.apply or args.advise or args.papers):
        raise ValueError("--csv prints the layer table only; use --json with --apply, --advise or --papers")
    if args.measure and args.batch != 1:
        raise ValueError("--measure times one image per call; --batch is for predictions only")


def main_network(args, argv: list[str]) -> int:
    """Check the model file and select the backend before anything imports Keras, then run the command."""
    check_combinations(args)
    from validate.experiments.network_measure import file_limits

    if model_file.names_a_file(args.model):
        # A hostile or broken file is refused here, before any framework is imported: in a fraction
        # of a second and a few megabytes, whatever it would inflate to.
        model_file.check_model_file(args.model, file_limits(args))
    backends.select_keras_backend(args.backend)
    backend = backends.get_backend(args.backend)
    threads = backend.configure_threads(args.threads, args.inter_threads)  # before any op runs
    from validate.experiments.network import run_network

    return run_network(args, argv, backend, threads)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run an experiment; 0 when every configuration passed its cross-checks."""
    # A terminated or hung-up run stops as Ctrl-C does: its worker process is killed, not orphaned.
    signals = [getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)]
    if threading.current_thread() is not threading.main_thread():
        signals = []
    previous = {number: signal.signal(number, _interrupt) for number in signals}
    try:
        return _run(argv)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _run(argv: list[str] | None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if args.experiment == "retest":
            from validate.experiments.retest import main_retest

            return main_retest(args, argv if argv is not None else sys.argv[1:])
        if args.experiment == "network":
            return main_network(args, argv if argv is not None else sys.argv[1:])
        if "--profile" in (argv if argv is not None else sys.argv[1:]):
            print(
                f"{PROGRAM}: --profile is now called --preset; the old name goes in the next release", file=sys.stderr
            )
        chosen = None if args.experiment == "networks" else chosen_preset(args)
        # Before anything imports keras: importing TensorFlow does, for one.
        backends.select_keras_backend(args.backend)
        backend = backends.get_backend(args.backend)
        from validate.experiments import session  # the backend's framework runs from here on

        argv = argv if argv is not None else sys.argv[1:]
        if chosen is None:  # the network benchmark: its preset is a network one (validate.experiments.network)
            from validate.experiments.network_benchmark import run_benchmark

            return run_benchmark(args, argv, backend)
        if args.experiment == "calibrate":
            return session.run_calibration(chosen.name, args, argv, backend)
        return session.run_experiment(args.experiment, chosen, args, argv, backend)
    except (UsageError, ValueError, TypeError, StoreBusyError) as error:
        print(f"{PROGRAM}: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except (OSError, WorkerError) as error:  # a full disk, a worker that cannot run: not bad input
        print(f"{PROGRAM}: error: {_one_line(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROGRAM}: interrupted; what was measured is saved, continue with --resume", file=sys.stderr)
        return 130
