"""Measure one configuration at a time, record it at once, go on whatever happens.

For each configuration of a plan: build the Keras model(s) from the
costmodel values, cross-check them against the cost model (parameters, the
profiler's FLOPs on TensorFlow, and for factorizations the numerical
equivalence), time them on the chosen :class:`~validate.frameworks.backends.Backend`,
and hand the rows to the :class:`~validate.results.store.ResultStore` before the next
configuration starts.  A configuration that fails (out of memory,
an op the device lacks) becomes a row with its error; a cross-check that
fails is recorded the same way and counted, so the run can end non-zero.
"""

from __future__ import annotations

import dataclasses
import functools
import traceback
from collections.abc import Callable

from costmodel import latency
from costmodel.counts import count_layer
from costmodel.latency import DeviceProfile
from validate.experiments.plans import FactorizationConfig, SeedConfig
from validate.frameworks import crosscheck, keras_build
from validate.frameworks.backends import Backend
from validate.harness.stats import Measurement
from validate.harness.timing import TimingPolicy, measure, measure_interleaved
from validate.results import schema
from validate.results.divergence import judge

# Shape of the small layer on which each case's numerical equivalence is checked.
EQUIVALENCE_SHAPE = {"channels": 4, "size": 12, "batch": 2}


def measurement_columns(measurement: Measurement, prefix: str = "") -> dict:
    """The statistics of one measurement as row columns (raw samples go to the samples table)."""
    values = (
        measurement.median_seconds,
        measurement.iqr_seconds,
        measurement.relative_iqr,
        measurement.ci_low_seconds,
        measurement.ci_high_seconds,
        measurement.is_noisy,
        measurement.sample_count,
        measurement.calls_per_sample,
        measurement.stop_reason,
    )
    names = [column.name for column in schema.measurement_columns(prefix)]
    return dict(zip(names, values, strict=True))


def timed_seconds(outcome: Outcome, table: schema.MeasuredTable) -> float:
    """Seconds spent inside timed calls for one configuration: samples x calls per sample x seconds per call.

    The rest of a run's wall time is imports, model building, tracing, cross-checks and warm-up.
    """
    calls = {timed.role: outcome.row.get(f"{timed.prefix}calls_per_sample") or 1 for timed in table.timed}
    return sum(sample["seconds"] * calls.get(sample["role"], 1) for sample in outcome.samples)


def sample_rows(config_key: str, measurement: Measurement, role: str) -> list[dict]:
    return [
        {"config_key": config_key, "role": role, "sample": index, "seconds": seconds}
        for index, seconds in enumerate(measurement.samples_seconds)
    ]


@dataclasses.dataclass
class Outcome:
    """What one configuration produced: its row, its raw samples, whether a check failed."""

    row: dict
    samples: list
    check_failed: bool = False


def _error_text(error: BaseException) -> str:
    lines = str(error).strip().splitlines() or [""]
    return f"{type(error).__name__}: {lines[0]}"[:500]


#: How an error row says that the configuration failed a cross-check against the cost model (any kind
#: of check: parameters, FLOPs, uncounted ops, equivalence), so that a row read back knows it.
CROSS_CHECK_FAILED = "cross-check failed: "


def is_cross_check_failure(error: str) -> bool:
    return error.startswith(CROSS_CHECK_FAILED)


def guarded(measure_config: Callable[..., Outcome]) -> Callable[..., Outcome]:
    """Turn any failure of one configuration into an error row, so the sweep goes on."""

    @functools.wraps(measure_config)
    def run(config, policy: TimingPolicy, **context) -> Outcome:
        try:
            return measure_config(config, policy, **context)
        except crosscheck.CrossCheckError as error:
            failure = CROSS_CHECK_FAILED + _error_text(error)
            return Outcome(identity(config) | {"error": failure[:500]}, [], check_failed=True)
        except Exception as error:  # OOM, a missing kernel: recorded, not fatal
            traceback.print_exc(limit=0)
            return Outcome(identity(config) | {"error": _error_text(error)}, [])
        finally:
            keras_build.import_keras().backend.clear_session()  # free the models' memory

    return run


def identity(config) -> dict:
    """The columns that say which configuration a row is about (each configuration type knows its own)."""
    return config.identity()


FLOPS_PROFILER = "tensorflow profiler"


@functools.cache
def _counts_check(unit, repeats: int, batch: int, activation: str | None, backend: Backend) -> dict:
    """Parameters, and FLOPs where a profiler can check them, against the cost model.

    Keras's ``count_params`` works on every backend.  Only TensorFlow has a
    profiler that counts FLOPs, and the backend cannot change inside one
    process, so elsewhere the FLOPs are the cost model's own and
    ``flops_checked_by`` says they were not checked: never a silent pass.
    """
    model = keras_build.build_model(unit, repeats=repeats, activation=activation)
    params = crosscheck.check_params(model, unit, repeats=repeats)
    if backend.flops_profiler:
        flops = crosscheck.check_flops(model, unit, batch, repeats=repeats).flops
        checked_by = FLOPS_PROFILER
    else:
        flops = crosscheck.expected_flops(unit, batch, repeats)
        checked_by = f"not checked: no TensorFlow profiler on the {backend.name} backend"
    return {"params": params, "flops": flops, "flops_checked_by": checked_by}


@functools.cache
def _equivalence_error(case, backend: Backend) -> float:
    """Max |difference| between a factorized block and its composed single layer, small shape.

    Always on the CPU: on a GPU, TensorFlow, JAX and PyTorch (cuDNN) run float32 convolutions
    in TensorFloat-32 by default, whose 10-bit mantissa is far outside float32 tolerances.
    The check is about the arithmetic being the same function, not about the device.
    """
    from costmodel import ConvLayer

    side = EQUIVALENCE_SHAPE["size"]
    layer = ConvLayer(
        case.kernel,
        case.kernel,
        c_in=EQUIVALENCE_SHAPE["channels"],
        c_out=EQUIVALENCE_SHAPE["channels"],
        height=side,
        width=side,
    )
    with backend.device_scope("cpu"):
        return crosscheck.check_equivalence(layer, case.scheme, batch=EQUIVALENCE_SHAPE["batch"], **dict(case.options))


def runtime_columns(backend: Backend, calls: dict[str, Callable[[], object]]) -> dict:
    """The threads, what the runtime made of each timed model (by its columns' prefix), and the flag.

    A converted model whose output error passes its bound (int8 quantization error beyond what
    rounding explains) is kept and flagged in :data:`~validate.results.schema.OUTPUT_CHECK`.
    """
    columns: dict = {"threads": backend.threads}
    flags = []
    for prefix, call in calls.items():
        checks = backend.runtime_checks(call, prefix)
        columns |= checks
        error, bound = checks.get(f"{prefix}output_error"), checks.get(f"{prefix}output_error_bound")
        if error is not None and bound is not None and error > bound:
            flags.append(f"{prefix.rstrip('_') or 'model'} output error {error:.1%} is past its bound {bound:.1%}")
    columns[schema.OUTPUT_CHECK] = "; ".join(flags)
    return columns


def _timed_call(backend: Backend, unit, repeats: int, activation, mode: str, batch: int):
    model = keras_build.build_model(unit, repeats=repeats, activation=activation)
    inputs = keras_build.random_input(unit, batch)
    return backend.compiled_call(model, inputs, mode, batch)


def _check_backend(config, backend: Backend) -> None:
    if config.backend != backend.name:
        raise ValueError(
            f"configuration {config.key} is planned for the {config.backend} backend, "
            f"but this process runs {backend.name}"
        )


#: A worker process that does not cross-check (one process of a configuration's several does):
#: its counts are left empty and the combined row takes them from the process that checked.
UNCHECKED: dict = {"params": None, "flops": None, "flops_checked_by": ""}


@guarded
def measure_seed(config: SeedConfig, policy: TimingPolicy, *, backend: Backend, cross_check: bool = True) -> Outcome:
    """Time one of the seed's 16-layer networks."""
    _check_backend(config, backend)
    checks = _counts_check(config.unit, config.repeats, config.batch, None, backend) if cross_check else UNCHECKED
    with backend.device_scope(config.device):
        call = _timed_call(backend, config.unit, config.repeats, None, config.mode, config.batch)
        timing = measure(call, policy=policy, sync=backend.synchronizer(config.device), label=config.layer_type)
    theory = config.theory()
    row = (
        identity(config)
        | measurement_columns(timing)
        | {
            "macs": theory["macs"],
            "macs_ratio_vs_conv3x3": theory["macs_ratio_vs_conv3x3"],
            "params": checks["params"],
            "flops": checks["flops"],
            "flops_checked_by": checks["flops_checked_by"],
            "error": "",
        }
        | runtime_columns(backend, {"": call})
    )
    return Outcome(row, sample_rows(config.key, timing, "network"))


def model_columns(config: FactorizationConfig, profile: DeviceProfile | None, diverges: bool) -> dict:
    """The latency model's predictions for both stacks, and the reason for a divergence.

    A row of another mode than the profile's (LiteRT int8 against an fp32 calibration) carries no
    prediction, and its reason says so.
    """
    if profile is None:
        return {}
    calibrated = profile.extra.get("calibration_mode")
    if calibrated and calibrated != config.mode:
        return {
            "reason": f"not modelled: the device profile was calibrated in {calibrated}; this row ran {config.mode}"
        }
    original = latency.predict_seconds(config.original, profile, config.repeats)
    factorized = latency.predict_seconds(config.factorized, profile, config.repeats)
    reason = latency.explain(config.original, config.factorized, profile, config.repeats) if diverges else ""
    return {
        "model_time_ratio": factorized / original,
        "model_original_seconds": original,
        "model_factorized_seconds": factorized,
        "reason": reason,
    }


def judged_columns(config: FactorizationConfig, row: dict, profile: DeviceProfile | None) -> dict:
    """The verdict on a row's measured ratio, and the latency model's columns, from the row's interval."""
    verdict = judge(config.predicted_ratio(), row["measured_ratio"], row["ratio_ci_low"], row["ratio_ci_high"])
    return verdict.as_row() | model_columns(config, profile, verdict.diverges)


@guarded
def measure_factorization(
    config: FactorizationConfig,
    policy: TimingPolicy,
    *,
    backend: Backend,
    profile: DeviceProfile | None = None,
    cross_check: bool = True,
) -> Outcome:
    """Time an original stack and its factorized stack, interleaved, and judge the ratio.

    With a device profile, the latency model's predicted times and, for a
    divergent row, its reason are added.  Without ``cross_check`` the counts and
    the equivalence are left empty (another process of the same configuration checks them).
    """
    _check_backend(config, backend)
    original, factorized = config.original, config.factorized
    if cross_check:
        before = _counts_check(original, config.repeats, config.batch, config.activation, backend)
        after = _counts_check(factorized, config.repeats, config.batch, config.activation, backend)
        equivalence: float | None = _equivalence_error(config.case, backend)
    else:
        before = after = UNCHECKED
        equivalence = None
    with backend.device_scope(config.device):
        calls = [
            _timed_call(backend, unit, config.repeats, config.activation, config.mode, config.batch)
            for unit in (original, factorized)
        ]
        timing = measure_interleaved(
            *calls, policy=policy, labels=("original", "factorized"), sync=backend.synchronizer(config.device)
        )
    interval = {
        "measured_ratio": timing.ratio,
        "ratio_ci_low": timing.ratio_ci_low,
        "ratio_ci_high": timing.ratio_ci_high,
    }
    macs = [int(count.macs) * config.repeats for count in (count_layer(original), factorized.counts())]
    row = (
        identity(config)
        | judged_columns(config, interval, profile)
        | {
            "macs_original": macs[0],
            "macs_factorized": macs[1],
            "predicted_params_ratio": _ratio(after["params"], before["params"]),
            "predicted_flops_ratio": _ratio(after["flops"], before["flops"]),
        }
        | measurement_columns(timing.a, "original_")
        | measurement_columns(timing.b, "factorized_")
        | {
            "params_original": before["params"],
            "params_factorized": after["params"],
            "flops_original": before["flops"],
            "flops_factorized": after["flops"],
            "flops_checked_by": before["flops_checked_by"],
            "equivalence_max_error": equivalence,
            "error": "",
        }
        | runtime_columns(backend, dict(zip(("original_", "factorized_"), calls, strict=True)))
    )
    samples = sample_rows(config.key, timing.a, "original") + sample_rows(config.key, timing.b, "factorized")
    return Outcome(row, samples)


def _ratio(numerator: int | None, denominator: int | None) -> float | None:
    return None if numerator is None or denominator is None else numerator / denominator
