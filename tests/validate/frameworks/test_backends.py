"""Backends: selection, modes, synchronisation (with fakes), GPU skips, JAX and PyTorch smoke runs.

Keras fixes its backend at its first import, and this test process runs Keras
on TensorFlow; so everything that runs Keras on JAX or PyTorch runs in a
subprocess (``python -m validate ... --backend jax``), and the logic around
it (selection, modes, synchronisation) is tested here with fakes.
"""

import importlib
import importlib.util
import json
import os
import subprocess
import sys
import types

import pytest
from helpers import read, validate

from validate.cli import main
from validate.experiments import plans
from validate.frameworks import backends
from validate.frameworks.backends import BackendUnavailableError, get_backend, select_keras_backend, spec
from validate.frameworks.backends.jax import JaxBackend
from validate.frameworks.backends.torch import TorchBackend
from validate.harness.timing import TimingPolicy, measure
from validate.results.store import MachineMismatchError, ResultStore

# -- selection ---------------------------------------------------------------------------------


def test_an_unknown_backend_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown backend 'mxnet'; known: tensorflow, jax, torch"):
        get_backend("mxnet")


def _without(package: str, error: ImportError):
    """An importlib.import_module that fails for ``package`` as a missing or broken install does."""
    real = importlib.import_module

    def import_module(name, *args, **kwargs):
        if name == package:
            raise error
        return real(name, *args, **kwargs)

    return import_module


@pytest.mark.parametrize(
    "name, hint",
    [
        ("jax", "pip install jax"),
        ("torch", "pip install torch"),
        ("tensorflow", "pip install tensorflow-cpu"),
    ],
)
def test_an_absent_package_says_how_to_install_it(monkeypatch, name, hint):
    monkeypatch.setattr(backends, "_CREATED", {})
    missing = ModuleNotFoundError(f"No module named '{name}'", name=name)
    monkeypatch.setattr(importlib, "import_module", _without(name, missing))
    with pytest.raises(BackendUnavailableError) as raised:
        get_backend(name)
    assert str(raised.value) == f"backend {name} is not installed: {hint}"


def test_a_broken_install_says_what_failed(monkeypatch):
    monkeypatch.setattr(backends, "_CREATED", {})
    broken = ImportError("libcudart.so.13: cannot open shared object file")  # name is None
    monkeypatch.setattr(importlib, "import_module", _without("jax", broken))
    with pytest.raises(BackendUnavailableError, match=r"backend jax does not import \(libcudart"):
        get_backend("jax")


def test_the_command_line_ends_with_one_line_when_the_backend_is_absent(monkeypatch, capsys, tmp_path):
    monkeypatch.delitem(sys.modules, "keras", raising=False)  # as in a fresh process
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")  # restored after the test
    monkeypatch.setattr(backends, "_CREATED", {})
    missing = ModuleNotFoundError("No module named 'jax'", name="jax")
    monkeypatch.setattr(importlib, "import_module", _without("jax", missing))
    status = main(["factorizations", "--backend", "jax", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert status == 2
    assert err == "validate: error: backend jax is not installed: pip install jax\n"


def _fake_keras(running: str):
    return types.SimpleNamespace(backend=types.SimpleNamespace(backend=lambda: running))


def test_keras_already_running_another_backend_is_an_error_naming_both(monkeypatch):
    monkeypatch.setitem(sys.modules, "keras", _fake_keras("tensorflow"))
    with pytest.raises(
        BackendUnavailableError, match="already imported on the tensorflow backend and cannot switch to jax"
    ):
        select_keras_backend("jax")
    select_keras_backend("tensorflow")  # the same backend is fine


def test_before_keras_is_imported_the_backend_is_set_in_the_environment(monkeypatch):
    monkeypatch.delitem(sys.modules, "keras", raising=False)
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    select_keras_backend("torch")
    assert os.environ["KERAS_BACKEND"] == "torch"


# -- modes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, natural", [("tensorflow", "graph"), ("jax", "jit"), ("torch", "eager")])
def test_graph_means_each_backends_natural_mode(name, natural):
    assert spec(name).resolve_mode("graph") == natural


@pytest.mark.parametrize(
    "name, mode",
    [("jax", "xla"), ("torch", "xla"), ("tensorflow", "jit"), ("tensorflow", "compiled"), ("jax", "compiled")],
)
def test_a_mode_the_backend_lacks_is_refused_naming_its_modes(name, mode):
    with pytest.raises(ValueError, match=f"the {name} backend has no mode '{mode}'; its modes: "):
        spec(name).resolve_mode(mode)


def test_modes_only_a_profile_lists_are_left_out_and_reported():
    full = plans.preset("full").seed_modes  # graph, eager, predict, xla
    modes, left_out = spec("jax").resolve_modes(full, explicit=False)
    assert (modes, left_out) == (("jit", "eager", "predict"), ["xla"])
    with pytest.raises(ValueError, match="no mode 'xla'"):
        spec("jax").resolve_modes(full, explicit=True)


def test_an_explicit_mode_the_backend_lacks_exits_2(capsys):
    status = main(["seed", "--backend", "torch", "--modes", "xla"])
    err = capsys.readouterr().err
    assert status == 2 and "the torch backend has no mode 'xla'" in err
    assert len(err.strip().splitlines()) == 1


def test_plans_name_the_backend_in_every_key():
    chosen = plans.preset("quick")
    keys = {
        name: {config.key for config in plans.factorization_plan(chosen, ["cpu"], backend=name)}
        for name in backends.NAMES
    }
    assert not keys["tensorflow"] & keys["jax"] and not keys["jax"] & keys["torch"]
    assert all(key.startswith("factorization|jax|") for key in keys["jax"])


def test_a_folder_never_mixes_backends(tmp_path):
    machine = {"cpu_model": "Example CPU", "keras": "3.15.1"}
    ResultStore(tmp_path, {"machine": {**machine, "backend": "tensorflow", "backend_version": "2.21.0"}})
    with pytest.raises(MachineMismatchError, match="backend"):
        ResultStore(tmp_path, {"machine": {**machine, "backend": "jax", "backend_version": "0.10.2"}}, resume=True)


# -- synchronisation, with fakes -------------------------------------------------------------------


class Recorder:
    """Records calls, blocks and clock reads in order; the clock advances 1 ms per read."""

    def __init__(self):
        self.events, self.now = [], 0.0

    def block(self, outputs):
        self.events.append(("block", tuple(outputs)))

    def clock(self):
        self.events.append(("clock",))
        self.now += 0.001
        return self.now


def test_the_jax_synchronizer_blocks_on_every_pending_output_then_forgets_them():
    recorder = Recorder()
    backend = JaxBackend(spec("jax"), block_until_ready=recorder.block)
    sync = backend.synchronizer("cpu")
    sync()
    assert recorder.events == []  # nothing pending: nothing to wait for
    first, last = backend._keep("output 1"), backend._keep("output 2")
    sync()
    assert recorder.events == [("block", (first, last))]
    sync()
    assert len(recorder.events) == 1


def test_with_jax_every_clock_read_follows_the_blocks_on_all_outputs_before_it():
    """JAX dispatches asynchronously on the CPU too: a reading must follow finished work."""
    recorder = Recorder()
    backend = JaxBackend(spec("jax"), block_until_ready=recorder.block)
    count = iter(range(10**6))

    def call():
        output = f"output {next(count)}"
        recorder.events.append(("call", output))
        return backend._keep(output)

    policy = TimingPolicy(warmup_calls=2, min_samples=3, max_samples=3, budget_seconds=1.0, min_sample_seconds=0.0)
    measure(call, policy=policy, clock=recorder.clock, sync=backend.synchronizer("cpu"))
    unblocked = []
    for event in recorder.events:
        if event[0] == "call":
            unblocked.append(event[1])
        elif event[0] == "block":
            assert list(event[1]) == unblocked  # exactly the outputs since the last block
            unblocked = []
        else:
            assert unblocked == [], "the clock was read while outputs were still pending"
    assert sum(event[0] == "clock" for event in recorder.events) >= 4


@pytest.mark.parametrize("device, expected", [("cpu", 0), ("gpu", 1)])
def test_torch_synchronizes_cuda_on_the_gpu_only(monkeypatch, device, expected):
    calls = []
    fake_torch = types.SimpleNamespace(cuda=types.SimpleNamespace(synchronize=lambda: calls.append(1)))
    monkeypatch.setattr("validate.frameworks.backends.torch._torch", lambda: fake_torch)
    TorchBackend(spec("torch")).synchronizer(device)()
    assert len(calls) == expected


@pytest.mark.parametrize("name, title", [("tensorflow", "TensorFlow"), ("jax", "JAX"), ("torch", "PyTorch")])
def test_a_missing_gpu_falls_back_to_the_cpu_with_a_notice(monkeypatch, name, title):
    # The backend modules import their framework lazily: creating one here imports none.
    backend = importlib.import_module(spec(name).module).BACKEND_CLASS(spec(name))
    monkeypatch.setattr(backend, "gpu_names", lambda: [])
    notice = f"no GPU visible to {title}: measuring on the CPU only"
    assert backend.resolve_devices("gpu") == (["cpu"], notice)


def test_jax_refuses_thread_settings_it_cannot_apply():
    backend = JaxBackend(spec("jax"))
    assert backend.configure_threads() == {"intra_op": "xla default", "inter_op": "xla default"}
    with pytest.raises(ValueError, match="cannot set thread pools"):
        backend.configure_threads(intra_op=2)


# -- FLOPs on a backend without TensorFlow's profiler -----------------------------------------------


@pytest.mark.tensorflow
def test_without_a_profiler_the_flops_are_the_cost_models_and_say_so():
    from validate.experiments import runner
    from validate.frameworks import crosscheck

    config = plans.factorization_plan(plans.preset("quick"), ["cpu"])[0]

    class NoProfiler:  # hashable, as the runner's cache needs
        name, flops_profiler = "jax", False

    no_profiler = NoProfiler()
    checks = runner._counts_check(config.original, 1, 2, None, no_profiler)
    assert checks["flops"] == crosscheck.expected_flops(config.original, 2)
    assert checks["flops_checked_by"] == "not checked: no TensorFlow profiler on the jax backend"


# -- smoke runs in a subprocess: Keras on JAX and on PyTorch, on this CPU ------------------------


def _installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, mode",
    [
        pytest.param(
            "jax",
            "jit",
            marks=[
                pytest.mark.jax,
                pytest.mark.skipif(not _installed("jax"), reason="jax is not installed: pip install jax"),
            ],
        ),
        pytest.param(
            "torch",
            "eager",
            marks=[
                pytest.mark.torch,
                pytest.mark.skipif(not _installed("torch"), reason="torch is not installed: pip install torch"),
            ],
        ),
    ],
)
def test_factorizations_run_on_the_backend(tmp_path, name, mode):
    done = validate(
        "factorizations", "--preset", "quick", "--backend", name, "--cases", "3:asymmetric", "--out", str(tmp_path)
    )
    assert done.returncode == 0, done.stderr
    (row,) = read(tmp_path / "factorizations.csv")
    assert (row["backend"], row["mode"], row["error"]) == (name, mode, "")
    assert row["config_key"].startswith(f"factorization|{name}|cpu|{mode}|")
    assert float(row["measured_ratio"]) > 0 and float(row["ratio_ci_low"]) <= float(row["ratio_ci_high"])
    assert float(row["equivalence_max_error"]) < 1e-3  # the factorization computed on this backend
    assert row["flops_checked_by"] == f"not checked: no TensorFlow profiler on the {name} backend"
    machine = json.loads((tmp_path / "metadata.json").read_text())["machine"]
    assert machine["backend"] == name and machine["backend_version"]


# Stacking, a depthwise multiplier, stride with explicit padding, and groups: the composition
# paths of tests/validate/frameworks/test_keras_build.py's equivalence cases, run here through another backend's Keras.
EQUIVALENCE_SCRIPT = """
import sys
from costmodel import ConvLayer
from validate.frameworks.backends import select_keras_backend
select_keras_backend(sys.argv[1])
import keras
from validate.frameworks.crosscheck import check_equivalence
assert keras.backend.backend() == sys.argv[1], keras.backend.backend()
def square(kernel, c_in=4, c_out=6, **fields):
    return ConvLayer(kernel, kernel, c_in=c_in, c_out=c_out, height=12, width=12, **fields)
cases = [(square(5), "stack", {}), (square(3), "depthwise-separable", {"multiplier": 2}),
         (square(5, stride=(2, 1), padding=(2, 1)), "asymmetric", {}),
         (square(5, groups=2), "stack", {"mid": 8})]
print(max(check_equivalence(layer, scheme, **options) for layer, scheme, options in cases))
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        pytest.param(
            "jax",
            marks=[
                pytest.mark.jax,
                pytest.mark.skipif(not _installed("jax"), reason="jax is not installed: pip install jax"),
            ],
        ),
        pytest.param(
            "torch",
            marks=[
                pytest.mark.torch,
                pytest.mark.skipif(not _installed("torch"), reason="torch is not installed: pip install torch"),
            ],
        ),
    ],
)
def test_factorizations_compute_the_composed_layer_on_the_backend(name):
    done = subprocess.run([sys.executable, "-c", EQUIVALENCE_SCRIPT, name], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert 0 <= float(done.stdout.strip().splitlines()[-1]) < 1e-4  # float32 tolerance, as on TensorFlow


@pytest.mark.gpu
@pytest.mark.slow
@pytest.mark.parametrize(
    "name", [pytest.param("jax", marks=pytest.mark.jax), pytest.param("torch", marks=pytest.mark.torch)]
)
def test_backend_measures_on_the_gpu(tmp_path, name):
    done = validate(
        "factorizations",
        "--preset",
        "quick",
        "--backend",
        name,
        "--cases",
        "3:asymmetric",
        "--device",
        "gpu",
        "--out",
        str(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    assert {row["device"] for row in read(tmp_path / "factorizations.csv")} == {"gpu"}
