"""One whole network and its rewrite: read, rewritten, checked, and timed end to end.

A :class:`NetworkConfig` is to ``validate network --apply RULES --measure``
what a :class:`~validate.experiments.plans.FactorizationConfig` is to the
sweep: a configuration with a key, measured by :func:`measure_network` in
every worker process (:mod:`validate.experiments.process_runs`) and pooled
over them with the ``networks`` table's descriptor
(:data:`validate.results.schema.NETWORKS`), rerun interval included.

The counting is the cost model's (:mod:`costmodel.network`); reading and
rebuilding Keras models is :mod:`validate.frameworks.network_reader` /
``network_rewrite``'s.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import ClassVar

from costmodel.latency import DeviceProfile
from costmodel.latency.network import predict_network
from costmodel.network import Network, parse_rules, rewrite
from validate.experiments import runner
from validate.frameworks import backends, model_file, network_reader, network_rewrite
from validate.frameworks.backends import Backend
from validate.harness.timing import InterleavedResult, TimingPolicy, measure_interleaved
from validate.results import schema

#: Images per call when a network is measured end to end (the store key records it).
NETWORK_BATCH = 1


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


@dataclasses.dataclass
class Rewritten:
    """A counted network, its rewrite planned by the cost model, and the Keras model rebuilt from it."""

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

    def predictions(self, profile: DeviceProfile | None) -> dict:
        """The latency model's whole-network seconds of both networks at batch 1, their ratio and why
        they extrapolate; every value None without a profile."""
        if profile is None:
            return dict.fromkeys(PREDICTION_COLUMNS)
        before, after = (predict_network(network, profile) for network in (self.original.network, self.network))
        return {
            "predicted_ratio": after.seconds / before.seconds,
            "predicted_original_seconds": before.seconds,
            "predicted_rewritten_seconds": after.seconds,
            "extrapolation": "; ".join(dict.fromkeys(before.extrapolation + after.extrapolation)),
        }


#: The columns :meth:`Rewritten.predictions` fills.
PREDICTION_COLUMNS = ("predicted_ratio", "predicted_original_seconds", "predicted_rewritten_seconds", "extrapolation")


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


@dataclasses.dataclass(frozen=True)
class NetworkConfig:
    """A network (a keras.applications name or a .keras file) and a rewrite of it, timed side by side."""

    device: str
    model: str
    alpha: float | None
    input_size: int | None
    include_top: bool | None
    rules: str
    layers: str = "*"
    kinds: tuple[str, ...] | None = None
    min_channels: int = 1
    skip_unknown: bool = False
    limits: model_file.FileLimits = model_file.FileLimits()
    backend: str = "tensorflow"
    mode: str = "graph"

    table: ClassVar[schema.MeasuredTable] = schema.NETWORKS

    @classmethod
    def from_args(cls, args, backend: str, device: str, limits: model_file.FileLimits) -> NetworkConfig:
        """The configuration ``validate network`` options describe."""
        return cls(
            device, args.model, args.alpha, args.input_size, args.include_top, args.apply or "", args.layers,
            tuple(args.kind) if args.kind else None, args.min_channels, args.skip_unknown, limits, backend,
            network_mode(getattr(args, "modes", None), backend),
        )  # fmt: skip

    @property
    def model_label(self) -> str:
        """The model as the key names it: a file by its name and its content's SHA-256."""
        if model_file.names_a_file(self.model):
            return f"{pathlib.Path(self.model).name}@sha256:{model_file.content_hash(self.model)}"
        return self.model

    @property
    def key(self) -> str:
        """``network|backend|device|model|a<alpha>|s<size>|top|b<batch>|rules|filters``: one measured rewrite.

        Everything that changes the measured networks is in it: a model file is
        named by its content's SHA-256 (a file saved again under the same name is
        another model), and ``include_top`` is there when given.
        """
        filters = [
            f"layers={self.layers}" if self.layers != "*" else "",
            f"kind={','.join(self.kinds)}" if self.kinds else "",
            f"min_channels={self.min_channels}" if self.min_channels > 1 else "",
        ]
        parts = [
            "network",
            self.backend,
            self.device,
            self.model_label,
            f"a{self.alpha:g}" if self.alpha else "",
            f"s{self.input_size}" if self.input_size else "",
            {None: "", True: "top", False: "notop"}[self.include_top],
            f"b{NETWORK_BATCH}",
            self.rules,
            *filters,
            self.mode if self.mode != "graph" else "",  # graph: the keys measured before modes were named
        ]
        return "|".join(part for part in parts if part)

    def identity(self) -> dict:
        """The columns that say which configuration a row is about."""
        return {
            "config_key": self.key, "backend": self.backend, "device": self.device, "mode": self.mode,
            "model": self.model_label, "input_size": self.input_size, "alpha": self.alpha, "rules": self.rules,
        }  # fmt: skip

    def load(self, *, check_flops: bool) -> Rewritten:
        """The model read and counted (MACs checked by the profiler if asked), and rewritten."""
        model = network_reader.load_model(
            self.model, alpha=self.alpha, input_size=self.input_size, include_top=self.include_top, limits=self.limits
        )
        counted = count(model, skip_unknown=self.skip_unknown, check_flops=check_flops)
        return apply_rules(counted, self.rules, name_glob=self.layers, kinds=self.kinds, min_channels=self.min_channels)


def network_mode(given: tuple | None, backend: str) -> str:
    """The one mode a network is measured in: the one ``--modes`` names, else the backend's natural one."""
    spec = backends.spec(backend)
    if given and len(given) > 1:
        raise ValueError(
            f"validate network --measure times one mode at a time; give --modes one of {', '.join(spec.modes)}"
        )
    modes, _ = spec.resolve_modes(given or ("graph",), explicit=given is not None)
    return modes[0]


def file_limits(args) -> model_file.FileLimits:
    """The ``--max-*-mb`` options as the bounds a model file is checked against."""
    return model_file.FileLimits(
        max_file_bytes=args.max_file_mb * model_file.MB,
        max_unzipped_bytes=args.max_unzipped_mb * model_file.MB,
        max_config_bytes=args.max_config_mb * model_file.MB,
    )


def network_plan(chosen, devices: list[str], args, backend: str) -> list[NetworkConfig]:
    """The one configuration of a ``validate network --apply RULES --measure`` command, per device;
    the held-out benchmark's for ``validate networks``."""
    if getattr(args, "experiment", None) == "networks":
        from validate.experiments.network_benchmark import benchmark_plan

        return benchmark_plan(chosen.name, devices, backend)
    return [NetworkConfig.from_args(args, backend, device, file_limits(args)) for device in devices]


def counts_row(config: NetworkConfig, rewritten: Rewritten, profile: DeviceProfile | None) -> dict:
    """The ``networks`` row's counts and predicted ratios: what every process agrees on."""
    before, after = rewritten.original.network, rewritten.network
    return config.identity() | {
        "model": before.name,
        "input_size": before.input_shape[0],
        "changes": len(rewritten.changes),
        "params_original": before.params,
        "params_rewritten": after.params,
        "macs_original": before.macs,
        "macs_rewritten": after.macs,
        "macs_ratio": rewritten.macs_ratio,
        "params_ratio": rewritten.params_ratio,
        **rewritten.predictions(profile),
        "macs_checked_by": rewritten.original.macs_checked_by,
        "error": "",
    }


def time_rewrite(
    rewritten: Rewritten, backend: Backend, config: NetworkConfig, policy: TimingPolicy
) -> tuple[InterleavedResult, dict]:
    """Both networks, end to end at batch 1, interleaved (the sweep's harness), and the runtime's columns."""
    import numpy as np

    shape = (NETWORK_BATCH, *rewritten.original.network.input_shape)
    inputs = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    with backend.device_scope(config.device):
        calls = [
            backend.compiled_call(model, inputs, config.mode, NETWORK_BATCH)
            for model in (rewritten.original.model, rewritten.model)
        ]
        timing = measure_interleaved(
            *calls, policy=policy, labels=("original", "rewritten"), sync=backend.synchronizer(config.device)
        )
    return timing, runner.runtime_columns(backend, dict(zip(("original_", "rewritten_"), calls, strict=True)))


@runner.guarded
def measure_network(
    config: NetworkConfig, policy: TimingPolicy, *, backend: Backend, cross_check: bool = True
) -> runner.Outcome:
    """One worker process's row and samples for a network configuration.

    Every process reads and rewrites the model (it needs both to time them) and checks the
    parameters and the rebuilt model against the plan.  The profiler's MAC check is not run
    here: the supervising ``validate network`` process ran it on the same model, and its
    ``macs_checked_by`` goes into the pooled row.
    """
    rewritten = config.load(check_flops=False)
    timing, runtime = time_rewrite(rewritten, backend, config, policy)
    row = (
        counts_row(config, rewritten, None)
        | runtime
        | {
            "measured_ratio": timing.ratio,
            "ratio_ci_low": timing.ratio_ci_low,
            "ratio_ci_high": timing.ratio_ci_high,
        }
    )
    if not cross_check:
        row["params_original"] = None  # marks the row unchecked: the pooled row takes the checking process's
    row |= runner.measurement_columns(timing.a, "original_") | runner.measurement_columns(timing.b, "rewritten_")
    samples = runner.sample_rows(config.key, timing.a, "original") + runner.sample_rows(
        config.key, timing.b, "rewritten"
    )
    return runner.Outcome(row, samples)
