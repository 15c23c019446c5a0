"""The validator's command line: bad input, smoke runs of the quick profile, resume, failures."""

import json

import pytest
from helpers import read, validate

from validate.cli import main
from validate.results.schema import FACTORIZATIONS

REQUIRED_FACTORIZATION_COLUMNS = {
    "scheme",
    "predicted_ratio",
    "measured_ratio",
    "ratio_ci_low",
    "ratio_ci_high",
    "diverges",
}


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["factorizations", "--modes", "turbo"], "unknown mode 'turbo'"),
        (["factorizations", "--cases", "4x4:stack"], "nearest kernel sizes that work: 3 and 5"),
        (["factorizations", "--cases", "5:nope"], "unknown scheme 'nope'"),
        (["seed", "--budget", "0"], "expected a finite number of seconds > 0"),
        (["seed", "--device", "tpu"], "invalid choice: 'tpu'"),
        (["seed", "--preset", "huge"], "invalid choice: 'huge'"),
        (["seed", "--filters", "8,x"], "expected a whole number"),
        (["transmogrify"], "invalid choice"),
        (["seed", "--shard", "3/2"], "shard must be I/N with 1 <= I <= N, got '3/2'"),
        (["seed", "--shard", "0/0"], "shard must be I/N with 1 <= I <= N, got '0/0'"),
        (["factorizations", "--shard", "a/b"], "shard must be I/N with whole numbers"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, argv, fragment):
    status = main(argv)
    out, err = capsys.readouterr()
    assert status == 2
    assert fragment in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.tensorflow
@pytest.mark.slow
def test_factorizations_quick_writes_the_required_columns(tmp_path):
    done = validate("factorizations", "--preset", "quick", "--device", "cpu", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    rows = read(tmp_path / "factorizations.csv")
    assert set(rows[0]) >= REQUIRED_FACTORIZATION_COLUMNS
    assert {row["case"] for row in rows} == {"5x5 stack", "3x3 asymmetric", "3x3 depthwise-separable"}
    assert all(row["error"] == "" for row in rows)
    # TensorFlow stays the default backend, and only its profiler checks FLOPs.
    assert {(row["backend"], row["mode"], row["flops_checked_by"]) for row in rows} == {
        ("tensorflow", "graph", "tensorflow profiler")
    }
    for row in rows:
        assert float(row["ratio_ci_low"]) <= float(row["ratio_ci_high"])
        assert int(row["params_factorized"]) < int(row["params_original"])  # cross-checked counts
    samples = read(tmp_path / "samples.csv")
    assert {sample["role"] for sample in samples} == {"original", "factorized"}
    assert "predicted" in done.stdout and "verdict" in done.stdout  # the summary table
    assert (tmp_path / "metadata.json").exists()


@pytest.mark.tensorflow
@pytest.mark.slow
def test_seed_quick_measures_graph_and_predict(tmp_path):
    done = validate("seed", "--preset", "quick", "--filters", "8", "--device", "cpu", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    rows = read(tmp_path / "seed.csv")
    assert {(row["mode"], row["layer_type"]) for row in rows} == {
        (mode, layer)
        for mode in ("graph", "predict")
        for layer in ("conv5x5", "conv3x3", "conv3x3sep", "conv1x1", "conv1x3", "conv3x1")
    }
    assert all(int(row["samples"]) >= 5 for row in rows)


@pytest.mark.tensorflow
@pytest.mark.slow
def test_resume_measures_only_what_is_missing(tmp_path):
    first = validate("factorizations", "--preset", "quick", "--cases", "5x5:stack", "--out", str(tmp_path))
    assert first.returncode == 0, first.stderr
    (run,) = json.loads((tmp_path / "metadata.json").read_text())["runs"]
    assert run["wall_seconds"] > run["timed_seconds"] > 0 and 0 < run["timed_share"] < 1
    assert "load_average_before" in run and "other_processes_cpu_share" in run
    assert "validate: timed " in first.stderr
    again = validate("factorizations", "--preset", "quick", "--cases", "5x5:stack", "--out", str(tmp_path))
    assert again.returncode == 2
    assert "pass --resume" in again.stderr
    resumed = validate(
        "factorizations", "--preset", "quick", "--cases", "5x5:stack,3:asymmetric", "--out", str(tmp_path), "--resume"
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "2/4 (50%) already stored, 2 to measure" in resumed.stderr  # 2 processes per configuration
    rows = read(tmp_path / "factorizations.csv")
    assert [row["case"] for row in rows] == ["5x5 stack", "3x3 asymmetric"]


@pytest.mark.tensorflow
def test_gpu_request_without_gpu_falls_back_with_a_notice(tmp_path, monkeypatch):
    from validate.frameworks.backends import get_backend

    backend = get_backend("tensorflow")
    monkeypatch.setattr(backend, "gpu_names", lambda: [])
    devices, notice = backend.resolve_devices("all")
    assert devices == ["cpu"]
    assert notice == "no GPU visible to TensorFlow: measuring on the CPU only"


@pytest.mark.tensorflow
def test_a_failing_configuration_becomes_an_error_row():
    from validate.experiments import plans, runner

    @runner.guarded
    def explode(config, policy):
        raise MemoryError("OOM when allocating tensor")  # what a device out of memory raises

    config = plans.factorization_plan(plans.preset("quick"), ["cpu"])[0]
    outcome = explode(config, policy=None)
    row = FACTORIZATIONS.row(outcome.row)
    assert row["error"] == "MemoryError: OOM when allocating tensor"
    assert row["config_key"] == config.key and row["measured_ratio"] is None
    assert not outcome.check_failed


@pytest.mark.tensorflow
def test_a_failed_cross_check_is_flagged():
    from validate.experiments import plans, runner
    from validate.frameworks import crosscheck

    @runner.guarded
    def mismatch(config, policy):
        raise crosscheck.CrossCheckError("Keras count_params() = 10, costmodel params = 12")

    config = plans.factorization_plan(plans.preset("quick"), ["cpu"])[0]
    outcome = mismatch(config, policy=None)
    assert outcome.check_failed
    assert "count_params() = 10, costmodel params = 12" in outcome.row["error"]


@pytest.mark.tensorflow
@pytest.mark.gpu
def test_gpu_measurement_runs_on_the_gpu(tmp_path):
    done = validate(
        "factorizations", "--preset", "quick", "--cases", "3:asymmetric", "--device", "gpu", "--out", str(tmp_path)
    )
    assert done.returncode == 0, done.stderr
    assert {row["device"] for row in read(tmp_path / "factorizations.csv")} == {"gpu"}


@pytest.mark.tensorflow
@pytest.mark.slow
def test_calibrate_quick_writes_a_profile_the_cost_model_reads(tmp_path):
    import json

    from costmodel.cli import main as costmodel_main
    from costmodel.latency import KINDS, MODELS, DeviceProfile
    from validate.experiments.calibrate import NETWORK_REGIME_WIDTHS

    done = validate("calibrate", "--preset", "quick", "--device", "cpu", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    profile = DeviceProfile.load(tmp_path / "device_profile_cpu.json")
    assert set(profile.efficiency) == set(KINDS)
    assert profile.peak_flops_per_second > profile.bandwidth_bytes_per_second > 0
    assert profile.extra["machine"]["cores"] >= 1 and profile.extra["calibration_residuals"]
    assert "ridge point" in done.stdout and f"model: {profile.model}" in done.stdout
    # Relative calibration: each cell's anchor against the reference, the others against their anchor.
    anchors = {time["relative_to"] for time in profile.extra["relative_times"]}
    assert "reference" in anchors and any(anchor.startswith("3x3 conv 32->32") for anchor in anchors)
    # The quick preset's one width, then the network regime's (batch 1, a few pixels, hundreds of channels).
    assert profile.calibrated_range["channels"] == [32.0, float(max(NETWORK_REGIME_WIDTHS))]
    assert profile.calibrated_range["batches"] == [1.0, 8.0]
    measured = {name for name, entry in profile.layer_kernels.items() if "fixed_seconds" in entry}
    assert {"BatchNormalization", "Add", "ReLU"} <= measured
    assert set(profile.extra["cross_validation"]) == set(MODELS)
    argv = [
        "predict",
        "3x3",
        "--scheme",
        "depthwise-separable",
        "--c-in",
        "1024",
        "--c-out",
        "1024",
        "--height",
        "32",
        "--width",
        "32",
        "--device-profile",
        str(tmp_path / "device_profile_cpu.json"),
        "--json",
    ]
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert costmodel_main(argv) == 0
    answer = json.loads(out.getvalue())
    assert answer["predicted_seconds_after"] > 0 and answer["predicted_seconds_before"] > 0
    assert answer["extrapolated"] is True  # 1024 channels, calibrated up to the network regime's widest
    wider = f"channel width 1024 outside the calibrated 32 to {max(NETWORK_REGIME_WIDTHS)}"
    assert any(wider in reason for reason in answer["extrapolation"])


@pytest.mark.tensorflow
@pytest.mark.slow
def test_factorizations_with_a_profile_score_both_models(tmp_path):

    from costmodel.latency import DeviceProfile

    profile = {
        "version": 4,
        "layer_kernels": {},
        "model": "roofline",
        "kernel_factors": {},
        "calibrated_range": None,
        "call_seconds_per_byte": 1e-10,
        "device": "cpu",
        "peak_flops_per_second": 1e11,
        "bandwidth_bytes_per_second": 1e10,
        "op_overhead_seconds": 1e-5,
        "call_overhead_seconds": 5e-4,
        "seconds_per_mac": 2e-11,
        "efficiency": {"dense": 0.5, "pointwise": 0.3, "depthwise": 0.05, "asymmetric": 0.4},
    }
    DeviceProfile.from_dict(profile).save(tmp_path / "device_profile_cpu.json")
    done = validate("factorizations", "--preset", "quick", "--cases", "3:depthwise-separable", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    (row,) = read(tmp_path / "factorizations.csv")
    assert float(row["model_time_ratio"]) > float(row["predicted_ratio"])  # memory and overheads count
    assert row["reason"] if row["diverges"] == "True" else row["reason"] == ""
    scores = read(tmp_path / "accuracy_cpu.csv")
    assert {(s["model"], s["quantity"]) for s in scores} == {
        (model, quantity) for model in ("naive", "latency") for quantity in ("block latency", "time ratio")
    }
    assert "latency model vs naive" in done.stdout


def test_the_old_option_name_profile_still_works_with_a_notice():
    done = validate("seed", "--profile", "huge")
    assert done.returncode == 2
    assert "invalid choice: 'huge'" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.tensorflow
@pytest.mark.slow
@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
def test_ctrl_c_exits_130_with_one_line_and_the_store_resumes(tmp_path, signal_name):
    import signal
    import sqlite3
    import subprocess
    import sys
    import time

    from helpers import REPO_ROOT, restore_sigint

    # One filter count of the quick preset: 12 configurations, enough to interrupt one mid-run.
    argv = [sys.executable, "-m", "validate", "seed", "--preset", "quick", "--filters", "8", "--out", str(tmp_path)]
    # SIGINT may be ignored in this process (a background job); the child gets its default action back.
    child = subprocess.Popen(
        argv,
        cwd=REPO_ROOT,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        preexec_fn=restore_sigint,
    )
    deadline = time.monotonic() + 240
    stored = 0
    while time.monotonic() < deadline and not stored:
        time.sleep(0.5)
        try:
            # The first worker process stores each configuration as it finishes.
            with sqlite3.connect(tmp_path / "processes" / "p1" / "results.sqlite") as db:
                stored = db.execute("SELECT COUNT(*) FROM seed").fetchone()[0]
        except sqlite3.Error:
            pass
    child.send_signal(getattr(signal, signal_name))  # Ctrl-C, or a terminated job
    _, err = child.communicate(timeout=120)
    assert child.returncode == 130, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == ("validate: interrupted; what was measured is saved, continue with --resume")
    resumed = validate("seed", "--preset", "quick", "--filters", "8", "--out", str(tmp_path), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "already stored" in resumed.stderr
    rows = read(tmp_path / "seed.csv")
    assert len(rows) == 12 and len({row["config_key"] for row in rows}) == 12  # 6 types x 2 modes, once each
    assert {row["processes"] for row in rows} == {"2"}  # both worker processes measured every configuration


@pytest.mark.tensorflow
@pytest.mark.slow
def test_two_shards_merged_by_the_report_are_the_unsharded_sweep(tmp_path):
    from validate.experiments import plans
    from validate.report import load_results

    cases = "5x5:stack,3:asymmetric,3:depthwise-separable"
    for index in (1, 2):
        done = validate(
            "factorizations",
            "--preset",
            "quick",
            "--cases",
            cases,
            "--shard",
            f"{index}/2",
            "--out",
            str(tmp_path / f"shard{index}"),
        )
        assert done.returncode == 0, done.stderr
    merged = load_results(tmp_path / "shard1", tmp_path / "shard2")
    chosen = plans.preset("quick", cases=tuple(plans.case_from_text(part) for part in cases.split(",")))
    whole = {config.key for config in plans.factorization_plan(chosen, ["cpu"])}
    assert sorted(merged.factorizations["config_key"]) == sorted(whole)
    assert set(merged.factorizations["device"]) == {"cpu"}  # one machine: its shards are pooled, not relabelled
