"""The litert backend: its modes, threads, the timed path (with a fake interpreter), and a real tiny sweep."""

import json

import numpy as np
import pytest
from helpers import read, validate

from validate.cli import build_parser, chosen_preset, main
from validate.experiments import runner
from validate.frameworks import litert
from validate.frameworks.backends import litert as litert_backend
from validate.frameworks.backends import spec
from validate.harness.timing import TimingPolicy, measure

# -- modes -----------------------------------------------------------------------------------------


def test_graph_is_not_a_mode_a_user_may_ask_litert_for():
    with pytest.raises(ValueError, match="the litert backend has no mode 'graph'; its modes: fp32, int8$"):
        spec("litert").resolve_modes(("graph",), explicit=True)
    # A preset's graph, and the project's own calls, mean the natural mode.
    assert spec("litert").resolve_modes(("graph", "predict"), explicit=False) == (("fp32",), ["predict"])
    assert spec("litert").resolve_mode("graph") == "fp32"


@pytest.mark.parametrize("command", ["factorizations", "seed"])
def test_modes_graph_on_litert_exits_2_naming_the_valid_modes(capsys, command):
    status = main([command, "--backend", "litert", "--modes", "graph"])
    err = capsys.readouterr().err.strip()
    assert status == 2 and err.endswith("the litert backend has no mode 'graph'; its modes: fp32, int8")
    assert len(err.splitlines()) == 1


def test_calibrating_int8_is_refused_in_one_line(capsys):
    status = main(["calibrate", "--backend", "litert", "--modes", "int8"])
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1
    assert "natural mode (fp32) only; int8 rows are measured without a model's prediction" in err


def test_a_sweep_runs_each_mode_given_in_both_experiments():
    args = build_parser().parse_args(["sweep", "--backend", "litert", "--modes", "fp32,int8"])
    chosen = chosen_preset(args)
    assert chosen.seed_modes == chosen.factorization_modes == ("fp32", "int8")
    # Without --modes, the preset's graph is fp32 and its predict, which LiteRT lacks, is left out.
    chosen = chosen_preset(build_parser().parse_args(["sweep", "--backend", "litert"]))
    assert chosen.seed_modes == chosen.factorization_modes == ("fp32",)


def test_litert_builds_its_models_on_tensorflow():
    assert spec("litert").keras_backend == "tensorflow" and spec("jax").keras_backend == "jax"


# -- threads ---------------------------------------------------------------------------------------


def test_threads_default_to_every_core_and_are_what_rows_record(monkeypatch):
    monkeypatch.setattr(litert_backend, "available_cores", lambda: 6)
    backend = litert_backend.LiteRTBackend(spec("litert"))
    assert backend.configure_threads(None, None) == {"intra_op": 6, "inter_op": "not used"}
    assert backend.configure_threads(0)["intra_op"] == 6 and backend.threads == 6
    assert backend.configure_threads(1)["intra_op"] == 1 and backend.threads == 1


@pytest.mark.parametrize(
    "intra, inter, message",
    [(None, 2, "one thread count \\(--threads\\); leave --inter-threads out"), (-1, None, "0 \\(every core\\)")],
)
def test_threads_litert_cannot_use_are_refused(intra, inter, message):
    with pytest.raises(ValueError, match=message):
        litert_backend.LiteRTBackend(spec("litert")).configure_threads(intra, inter)


# -- the timed path, with a fake interpreter -------------------------------------------------------


class FakeInterpreter:
    """An interpreter that counts what is done to it: inputs set, calls invoked."""

    def __init__(self):
        self.detail = {"index": 0, "dtype": np.float32, "quantization": (0.0, 0), "shape": np.array([1, 4])}
        self.set, self.invoked = 0, 0

    def get_input_details(self):
        return [self.detail]

    def set_tensor(self, index, value):
        self.set += 1

    def invoke(self):
        self.invoked += 1


@pytest.fixture
def faked(monkeypatch):
    """The backend with conversion, interpreter and output check replaced: nothing of TensorFlow runs."""
    interpreters, converted_modes = [], []

    def convert(model, mode, inputs):
        converted_modes.append(mode)
        return litert.Converted(b"", mode, ("DEPTHWISE_CONV_2D", "CONV_2D", "CONV_2D"), delegated=3)

    def make_interpreter(content, threads, input_shape):
        interpreters.append(FakeInterpreter())
        return interpreters[-1]

    def check_outputs(model, interpreter, inputs, converted):
        error = 0.05 if converted.mode == "int8" else 0.0
        return litert.Checked(converted, error, litert.int8_bound(converted.operators))

    monkeypatch.setattr(litert, "convert", convert)
    monkeypatch.setattr(litert, "make_interpreter", make_interpreter)
    monkeypatch.setattr(litert, "check_outputs", check_outputs)
    backend = litert_backend.LiteRTBackend(spec("litert"))
    backend.configure_threads(2)
    return backend, interpreters, converted_modes


def test_the_timed_call_invokes_only_and_converts_once_before_timing(faked):
    backend, interpreters, modes = faked
    call = backend.compiled_call(object(), np.zeros((1, 4), np.float32), "graph", 1)
    assert modes == ["fp32"] and len(interpreters) == 1  # converted once, here, not in the timed loop
    timing = measure(call, policy=TimingPolicy(budget_seconds=0.05, min_samples=3, max_samples=5, warmup_calls=2))
    (interpreter,) = interpreters
    assert interpreter.set == 1  # the inputs were set before timing, never inside it
    assert interpreter.invoked >= timing.sample_count * timing.calls_per_sample
    assert modes == ["fp32"]


def test_rows_record_the_operators_the_delegate_and_flag_an_int8_error_past_its_bound(faked):
    backend, _, _ = faked
    inputs = np.zeros((1, 4), np.float32)
    calls = {
        prefix: backend.compiled_call(object(), inputs, mode, 1) for prefix, mode in [("a_", "fp32"), ("b_", "int8")]
    }
    columns = runner.runtime_columns(backend, calls)
    bound = litert.int8_bound(("DEPTHWISE_CONV_2D", "CONV_2D", "CONV_2D"))  # 1 + 3 outputs + 3 weights: 7/255
    assert bound == pytest.approx(7 / 255)
    assert columns["threads"] == 2
    assert columns["a_operators"] == "DEPTHWISE_CONV_2D x1, CONV_2D x2" and columns["a_delegated_nodes"] == "3/3"
    assert columns["a_output_error"] == 0.0 and columns["b_output_error"] == 0.05
    assert columns["output_check"] == f"b output error 5.0% is past its bound {bound:.1%}"


def test_a_backend_that_runs_keras_itself_adds_no_runtime_columns():
    from validate.frameworks.backends.tensorflow import TensorFlowBackend

    columns = runner.runtime_columns(TensorFlowBackend(spec("tensorflow")), {"original_": lambda: None})
    assert columns == {"threads": None, "output_check": ""}


# -- the real interpreter --------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.tensorflow
def test_a_tiny_sweep_runs_on_the_real_interpreter_in_both_modes(tmp_path):
    done = validate(
        "factorizations", "--preset", "quick", "--backend", "litert", "--modes", "fp32,int8", "--threads", "1",
        "--cases", "3:depthwise-separable", "--channels", "16", "--sizes", "8", "--batches", "1",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = {row["mode"]: row for row in read(tmp_path / "factorizations.csv")}
    assert set(rows) == {"fp32", "int8"}
    for mode, row in rows.items():
        assert row["backend"] == "litert" and row["error"] == "" and row["threads"] == "1"
        assert row["config_key"].startswith(f"factorization|litert|cpu|{mode}|")
        assert row["original_operators"] == "CONV_2D x4"
        assert row["factorized_operators"] == "DEPTHWISE_CONV_2D x4, CONV_2D x4"
        assert row["original_delegated_nodes"] == "4/4" and row["factorized_delegated_nodes"] == "8/8"
        assert row["flops_checked_by"] == "tensorflow profiler"  # the Keras model converted is TensorFlow's
        assert float(row["measured_ratio"]) > 0
    assert float(rows["fp32"]["factorized_output_error"]) <= litert.FP32_TOLERANCE
    int8_error = float(rows["int8"]["factorized_output_error"])
    assert 0 < int8_error <= float(rows["int8"]["factorized_output_error_bound"]) and rows["int8"]["output_check"] == ""
    machine = json.loads((tmp_path / "metadata.json").read_text())["machine"]
    assert machine["backend"] == "litert" and machine["interpreter"] in ("ai-edge-litert", "tf.lite")
