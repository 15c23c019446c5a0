"""The ``validate network`` command as a user runs it: output formats, rewrites, and bad input.

Most tests call :func:`validate.cli.main` in this process (TensorFlow is
imported once); one runs the command in a subprocess to time it as the issue
states (under 20 s, TensorFlow's import included).
"""

import argparse
import json
import time

import pytest
from helpers import validate

from validate.cli import main

pytestmark = pytest.mark.tensorflow


@pytest.fixture(scope="module")
def keras():
    from validate.frameworks.keras_build import import_keras

    return import_keras()


def saved(keras, tmp_path, name, build):
    inputs, outputs = build(keras)
    path = tmp_path / f"{name}.keras"
    keras.Model(inputs, outputs, name=name).save(path)
    return str(path)


def four_by_four(keras):
    inputs = keras.Input((10, 10, 3))
    return inputs, keras.layers.Conv2D(4, 4, padding="same", name="odd_kernel")(inputs)


def temporal(keras):
    inputs = keras.Input((16, 3))
    recurrent = keras.layers.GRU(4, return_sequences=True, name="temporal")(inputs)
    return inputs, keras.layers.Dense(2, name="fc")(recurrent)


def small_net(keras):
    inputs = keras.Input((16, 16, 8))
    x = keras.layers.DepthwiseConv2D(3, padding="same", name="dw")(inputs)
    x = keras.layers.ReLU(name="relu")(x)
    x = keras.layers.Conv2D(16, 1, name="pw")(x)
    return inputs, keras.layers.Conv2D(16, 5, padding="same", name="c5")(x)


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("validate: error")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_json_has_the_issue_fields_and_csv_the_layers(keras, capsys, tmp_path):
    path = saved(keras, tmp_path, "small", small_net)
    status, out, _ = run(capsys, "network", path, "--json")
    document = json.loads(out)
    assert status == 0
    assert {"model", "input", "params", "macs", "layers"} <= set(document)
    assert document["macs_checked_by"] == "tensorflow profiler"
    status, out, _ = run(capsys, "network", path, "--csv")
    assert out.splitlines()[0].startswith("name,kind,kernel,stride,c_in,c_out,output,params,macs")
    assert len(out.splitlines()) == 1 + 3  # dw, pw, c5


def test_apply_prints_before_and_after(keras, capsys, tmp_path):
    path = saved(keras, tmp_path, "small", small_net)
    status, out, _ = run(capsys, "network", path, "--apply", "5x5:stack,fuse")
    assert status == 0
    assert "rewrite 5x5:stack,fuse: 2 change(s)" in out and "MAC ratio" in out


def test_measure_without_a_device_measures_on_the_cpu_in_worker_processes(keras, capsys, tmp_path):
    path = saved(keras, tmp_path, "small", small_net)
    status, out, err = run(
        capsys,
        "network",
        path,
        "--apply",
        "fuse",
        "--measure",
        "--preset",
        "quick",
        "--budget",
        "0.3",
        "--out",
        str(tmp_path / "results"),
    )
    assert status == 0
    assert "measured time ratio" in out and "over 2 process(es)" in out  # the quick preset's two workers
    from validate.results.store import read_database

    (row,) = read_database(tmp_path / "results", "networks")
    assert row["device"] == "cpu" and row["processes"] == 2 and not row["error"]
    assert row["rerun_low"] <= row["measured_ratio"] <= row["rerun_high"]
    assert row["macs_checked_by"].startswith("tensorflow profiler")  # by the supervising process, on the same model
    samples = read_database(tmp_path / "results", "samples")
    assert {sample["process"] for sample in samples} == {1, 2}
    from validate.results.store import read_metadata

    (entry,) = read_metadata(tmp_path / "results")["runs"]  # one command, one entry in the report's environment
    assert all(isinstance(entry["threads"][pool], int) for pool in ("intra_op", "inter_op"))  # as TensorFlow has them
    assert {sample["role"] for sample in samples} == {"original", "rewritten"}


@pytest.mark.parametrize(
    "argv, message",
    [
        (["MobileNetV4"], "unknown model 'MobileNetV4'"),
        (["MobileNet", "--apply", "3x3:stak"], "unknown scheme 'stak'"),
        (["MobileNet", "--measure"], "--measure times a rewrite"),
    ],
)
def test_bad_names_exit_2_in_one_line(capsys, argv, message):
    status, _, err = run(capsys, "network", *argv)
    assert status == 2
    assert message in error_line(err)


def test_a_file_that_is_not_a_keras_model(capsys, tmp_path):
    path = tmp_path / "notes.keras"
    path.write_text("hello")
    status, _, err = run(capsys, "network", str(path))
    assert status == 2 and "notes.keras is not a zip archive, so not a .keras file" in error_line(err)


def test_an_uncountable_layer_is_named_unless_skipped(keras, capsys, tmp_path):
    path = saved(keras, tmp_path, "temporal", temporal)
    status, _, err = run(capsys, "network", path)
    assert status == 2 and "layer 'temporal' is a GRU" in error_line(err)
    status, out, _ = run(capsys, "network", path, "--skip-unknown")
    assert status == 0 and "NOT COUNTED" in out


def test_a_rule_that_cannot_apply_names_the_layer(keras, capsys, tmp_path):
    path = saved(keras, tmp_path, "odd", four_by_four)
    status, _, err = run(capsys, "network", path, "--apply", "4x4:stack")
    assert status == 2 and "cannot apply to layer 'odd_kernel'" in error_line(err)


@pytest.mark.slow
def test_mobilenet_json_in_a_fresh_process_under_20_seconds():
    started = time.perf_counter()
    result = validate("network", "MobileNet", "--json")
    seconds = time.perf_counter() - started
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["params"] == 4_253_864  # the issue's figure: Keras count_params()
    assert abs(document["macs"] / 569e6 - 1) < 0.002  # Howard et al. 2017, Table 6: 569 M
    assert seconds < 20


def test_the_store_key_names_everything_that_changes_the_network(tmp_path):
    import argparse

    from validate.experiments.network_measure import NetworkConfig
    from validate.frameworks.model_file import FileLimits

    def key(model, **changes):
        options = dict(model=model, alpha=None, input_size=None, include_top=None, apply="fuse", layers="*")
        options.update(kind=None, min_channels=1, skip_unknown=False, **changes)
        return NetworkConfig.from_args(argparse.Namespace(**options), "tensorflow", "cpu", FileLimits()).key

    path = tmp_path / "model.keras"
    path.write_bytes(b"first")
    first = key(str(path))
    path.write_bytes(b"second")  # saved again under the same name: another model, another key
    assert first != key(str(path)) and first.startswith("network|tensorflow|cpu|model.keras@sha256:")
    assert first.endswith("|b1|fuse")
    assert key("MobileNet", include_top=False) == "network|tensorflow|cpu|MobileNet|notop|b1|fuse"
    assert key("MobileNet", input_size=128, alpha=0.5) == "network|tensorflow|cpu|MobileNet|a0.5|s128|b1|fuse"


def conv_then_recurrent(keras):
    inputs = keras.Input((8, 8, 4))
    x = keras.layers.Conv2D(4, 3, padding="same", name="c3")(inputs)
    x = keras.layers.Reshape((64, 4))(x)
    return inputs, keras.layers.GRU(2, name="rnn")(x)


def test_apply_lists_what_was_not_counted_and_says_the_weights_are_fresh(keras, capsys, tmp_path):
    path = saved(keras, tmp_path, "mixed", conv_then_recurrent)
    status, out, _ = run(capsys, "network", path, "--skip-unknown", "--apply", "3x3:asymmetric")
    assert status == 0
    assert "NOT COUNTED: 1 layer(s) the cost model has no formula for" in out and "rnn (GRU)" in out
    assert "checked by: not checked: uncounted layers (rnn)" in out
    assert "fresh, randomly initialized weights: its timings do not depend on them" in out


def test_a_measurement_no_worker_finished_is_shown_with_its_counts_and_reason(keras, tmp_path):
    """An error row (no process measured it) holds only the configuration and the error; the
    command still shows the counts beside the reason, and exits 1 (run_network), never a traceback."""
    from validate.experiments import network
    from validate.experiments.network_measure import NetworkConfig, apply_rules, count, counts_row
    from validate.frameworks import network_reader

    path = saved(keras, tmp_path, "small", small_net)
    counted = count(network_reader.load_model(path), skip_unknown=False, check_flops=False)
    rewritten = apply_rules(counted, "fuse", name_glob="*", kinds=None, min_channels=1)
    config = NetworkConfig("cpu", path, None, None, None, "fuse")
    died = "process 1: worker process 1 died (signal SIGKILL) while measuring this configuration"

    class StoredError:  # a results folder holding the error row, as --resume finds it
        def completed_keys(self, table):
            return {config.key}

        def read(self, table):
            return [config.identity() | {"error": died, "measured_ratio": None, "macs_ratio": None}]

    counts = network.Rewrite(rewritten, counts_row(config, rewritten, None))
    shown = network.Measurer(StoredError(), argparse.Namespace(out=tmp_path), []).measure(config, counts)
    assert shown.row["error"] == died and shown.row["macs_ratio"] == rewritten.macs_ratio
    result = network.NetworkResult(counted, False, rewrite=shown)
    text = network.render_result(result, as_json=False, as_csv=False)
    assert "MAC ratio" in text and "measured time ratio" not in text


def synthetic_profile(tmp_path, layer_kernels):
    from costmodel.latency import DeviceProfile

    kinds = ("dense", "pointwise", "depthwise", "asymmetric")
    profile = DeviceProfile("cpu", 1e11, 1e10, 1e-5, 5e-5, dict.fromkeys(kinds, 0.5), layer_kernels=layer_kernels)
    path = tmp_path / "device_profile_cpu.json"
    profile.save(path)
    return str(path)


def test_a_device_profile_predicts_the_whole_network_with_per_layer_shares(keras, capsys, tmp_path):
    path = saved(keras, tmp_path, "small", small_net)
    profile = synthetic_profile(
        tmp_path, {"ReLU": {"full": 1, "small": 0}, "DepthwiseConv2D+bias": {"full": 0, "small": 0}}
    )
    status, out, _ = run(capsys, "network", path, "--device-profile", profile, "--json")
    document = json.loads(out)
    assert status == 0
    layers = document["prediction"]["layers"]
    assert [layer["name"] for layer in layers] == ["dw", "relu", "pw", "c5"]
    assert document["predicted_seconds"] == pytest.approx(
        document["prediction"]["call_seconds"] + sum(layer["seconds"] for layer in layers)
    )
    assert layers[1]["kernels"] == 1 and layers[1]["seconds"] > 1e-5
    # The profile records no calibrated range and never measured the convolutions' kernels: said so.
    assert document["extrapolated"] is True
    assert any("Conv2D+bias" in reason for reason in document["extrapolation"])
    status, out, _ = run(capsys, "network", path, "--device-profile", profile, "--batch", "4", "--json")
    assert json.loads(out)["predicted_seconds"] > document["predicted_seconds"]
    status, out, _ = run(capsys, "network", path, "--device-profile", profile, "--apply", "5x5:stack")
    assert "predicted ratio" in out and "(whole network, cpu)" in out


def test_the_probe_network_shows_which_kernels_the_runtime_fuses():
    from validate.experiments.fusion_probe import measure_layer_kernels

    kernels = measure_layer_kernels()
    # A convolution's bias (and a ReLU built into it) run inside the convolution's kernel; a separate
    # activation layer and a multiply stream the tensor once more; a reshape runs nothing.
    assert kernels["Conv2D+bias:relu"]["full"] == 0
    assert kernels["Activation:relu"]["full"] >= 1 and kernels["Multiply"]["full"] >= 1
    assert kernels["Reshape"]["full"] == 0 and kernels["Dropout"]["full"] == 0
    assert kernels["BatchNormalization"]["small"] >= 1  # its scale and offset, from its variables, every call
