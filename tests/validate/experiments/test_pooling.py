"""Tests of validate.experiments.pooling: one row per configuration from its processes' rows."""

import pytest

from validate.experiments import plans, pooling, runner
from validate.frameworks import crosscheck
from validate.harness.stats import Measurement
from validate.results import schema

PLAN = plans.factorization_plan(plans.preset("quick"), ["cpu"])


def JUDGE(config, row):  # what the factorization experiment adds once a row is pooled
    return runner.judged_columns(config, row, None)


def process_row(config, ratio: float, *, checked: bool, error: str = "") -> dict:
    """A worker's row for ``config``: its own ratio, both stacks' times, counts if it cross-checked."""
    if error:
        return runner.identity(config) | {"error": error}
    original = Measurement("original", (1e-3, 1.1e-3, 0.9e-3) * 3, "converged")
    factorized = Measurement("factorized", tuple(ratio * s for s in original.samples_seconds), "converged")
    counts = (
        {"params_original": 100, "params_factorized": 50, "flops_original": 1000, "flops_factorized": 500,
         "flops_checked_by": runner.FLOPS_PROFILER, "equivalence_max_error": 1e-6}
        if checked else {}
    )  # fmt: skip
    return (
        runner.identity(config)
        | {"predicted_ratio": config.predicted_ratio(), "measured_ratio": ratio}
        | {"ratio_ci_low": ratio * 0.99, "ratio_ci_high": ratio * 1.01, "error": ""}
        | runner.measurement_columns(original, "original_")
        | runner.measurement_columns(factorized, "factorized_")
        | counts
    )


def samples_of(config, process_rows) -> list[dict]:
    rows = []
    for row in process_rows:
        if config.key in row and not row[config.key]["error"]:
            for role in ("original", "factorized"):
                rows.append({"config_key": config.key, "role": role, "sample": 0, "seconds": 1e-3})
    return rows


def test_rows_of_three_processes_become_one_with_an_interval_over_processes():
    ratios = {config.key: [0.5, 0.55, 0.6] for config in PLAN}
    rows = [{c.key: process_row(c, ratios[c.key][k], checked=k == 0) for c in PLAN} for k in range(3)]
    samples = [[{"config_key": c.key, "role": "original", "sample": 0, "seconds": 1e-3} for c in PLAN]] * 3
    outcomes = pooling.pool(schema.FACTORIZATIONS, PLAN, rows, samples, finish=JUDGE)
    assert [outcome.row["config_key"] for outcome in outcomes] == [config.key for config in PLAN]
    for outcome in outcomes:
        row = schema.FACTORIZATIONS.row(outcome.row)
        assert row["processes"] == 3 and row["process_errors"] == ""
        assert row["measured_ratio"] == pytest.approx((0.5 * 0.55 * 0.6) ** (1 / 3))
        assert row["ratio_ci_low"] < 0.5 and row["ratio_ci_high"] > 0.6  # the processes' spread, not 1%
        assert row["rerun_low"] < row["ratio_ci_low"] and row["rerun_high"] > row["ratio_ci_high"]
        assert row["params_original"] == 100 and row["flops_checked_by"] == runner.FLOPS_PROFILER
        assert row["verdict"]  # judged again on the combined interval
        assert {sample["process"] for sample in outcome.samples} == {1, 2, 3}


def test_a_process_that_failed_is_named_and_the_others_are_combined():
    config = PLAN[0]
    died = "worker process 2 died (signal SIGKILL) while measuring this configuration"
    rows = [
        {config.key: process_row(config, 0.5, checked=True)},
        {config.key: process_row(config, 0.0, checked=False, error=died)},
        {config.key: process_row(config, 0.52, checked=False)},
    ]
    (outcome,) = pooling.pool(schema.FACTORIZATIONS, [config], rows, [[], [], []], finish=JUDGE)
    assert outcome.row["processes"] == 2 and not outcome.row["error"]
    assert outcome.row["process_errors"] == f"process 2: {died}"


def test_a_configuration_no_process_measured_is_an_error_row():
    config = PLAN[0]
    rows = [
        {config.key: process_row(config, 0.0, checked=k == 0, error=f"ResourceExhaustedError: OOM {k}")}
        for k in range(2)
    ]
    (outcome,) = pooling.pool(schema.FACTORIZATIONS, [config], rows + [{}], [[], [], []], finish=JUDGE)
    assert outcome.row["error"] == (
        "process 1: ResourceExhaustedError: OOM 0; process 2: ResourceExhaustedError: OOM 1; "
        "process 3: no row (it stopped before this configuration)"
    )
    assert not outcome.check_failed and outcome.samples == []


@pytest.mark.tensorflow  # guarded() clears Keras's session
@pytest.mark.parametrize(
    "error", [crosscheck.CrossCheckError("params 10 != 12"), crosscheck.UncountedOpsError("2 ops not counted")]
)
def test_a_failed_cross_check_fails_the_configuration(error):
    config = PLAN[0]

    @runner.guarded
    def failing_check(config, policy):
        raise error

    failure = failing_check(config, None).row["error"]
    rows = [
        {config.key: process_row(config, 0.0, checked=True, error=failure)},
        {config.key: process_row(config, 0.5, checked=False)},
    ]
    (outcome,) = pooling.pool(schema.FACTORIZATIONS, [config], rows, [[], []], finish=JUDGE)
    assert outcome.check_failed and f"process 1: {failure}" in outcome.row["error"]


def test_one_process_keeps_its_own_interval():
    config = PLAN[0]
    rows = [{config.key: process_row(config, 0.5, checked=True)}]
    (outcome,) = pooling.pool(schema.FACTORIZATIONS, [config], rows, [[]], finish=JUDGE)
    assert outcome.row["processes"] == 1
    assert (outcome.row["ratio_ci_low"], outcome.row["ratio_ci_high"]) == (0.495, 0.505)
    assert outcome.row["rerun_low"] is None


def test_seed_rows_combine_their_times():
    configs = plans.seed_plan(plans.preset("quick"), ["cpu"])
    times = [1e-3, 1.2e-3, 1.1e-3]

    def seed_row(config, seconds):
        timing = Measurement("network", (seconds,) * 9, "converged")
        return runner.identity(config) | runner.measurement_columns(timing) | {"error": ""}

    rows = [{config.key: seed_row(config, seconds) for config in configs} for seconds in times]
    outcomes = pooling.pool(schema.SEED, configs, rows, [[], [], []])
    for outcome in outcomes:
        row = schema.SEED.row(outcome.row)
        assert row["geomean_seconds"] == pytest.approx((1e-3 * 1.2e-3 * 1.1e-3) ** (1 / 3))
        assert row["ci_low_seconds"] < 1e-3 and row["ci_high_seconds"] > 1.2e-3
        assert row["rerun_low_seconds"] < row["ci_low_seconds"] and row["processes"] == 3


def network_row(config, ratio: float, *, checked: bool, error: str = "") -> dict:
    """A worker's networks row: the counts every process has, its own ratio and both networks' times."""
    if error:
        return config.identity() | {"error": error}
    original = Measurement("original", (0.010, 0.011, 0.009) * 3, "converged")
    rewritten = Measurement("rewritten", tuple(ratio * s for s in original.samples_seconds), "converged")
    return (
        config.identity()
        | {"params_original": 4_253_864 if checked else None, "macs_original": 186_400_768, "error": ""}
        | {"macs_checked_by": "tensorflow profiler" if checked else "not checked", "measured_ratio": ratio}
        | {"ratio_ci_low": ratio * 0.99, "ratio_ci_high": ratio * 1.01}
        | runner.measurement_columns(original, "original_")
        | runner.measurement_columns(rewritten, "rewritten_")
    )


def test_network_rows_are_pooled_through_the_same_path_and_a_lost_worker_is_named():
    from validate.experiments.network_measure import NetworkConfig

    config = NetworkConfig("cpu", "MobileNet", 1.0, 128, None, "fuse")
    died = "worker process 3 died (signal SIGKILL) while measuring this configuration"
    rows = [
        {config.key: network_row(config, 5.0, checked=True)},
        {config.key: network_row(config, 5.5, checked=False)},
        {config.key: network_row(config, 0.0, checked=False, error=died)},
    ]
    samples = [[{"config_key": config.key, "role": "rewritten", "sample": 0, "seconds": 0.05}]] * 2 + [[]]
    predicted = {"predicted_ratio": 8.58}
    (outcome,) = pooling.pool(schema.NETWORKS, [config], rows, samples, finish=lambda config, row: predicted)
    row = schema.NETWORKS.row(outcome.row)
    assert row["processes"] == 2 and row["process_errors"] == f"process 3: {died}"
    assert row["measured_ratio"] == pytest.approx((5.0 * 5.5) ** 0.5)
    assert row["rerun_low"] < row["ratio_ci_low"] < 5.0 and row["rerun_high"] > row["ratio_ci_high"] > 5.5
    assert row["params_original"] == 4_253_864 and row["macs_checked_by"] == "tensorflow profiler"
    assert row["predicted_ratio"] == 8.58  # the caller's own columns, added once the row is pooled
    assert row["original_geomean_seconds"] == pytest.approx(0.010)
    assert {sample["process"] for sample in outcome.samples} == {1, 2}
