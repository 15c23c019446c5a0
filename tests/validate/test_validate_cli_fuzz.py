"""Fuzzing the validate and report command lines: exit 0, or exit 2 with one line, never a traceback.

The measuring itself is replaced by a stub (this is about the command line and
the files it reads, not about TensorFlow), and so is creating the backend, so
every generated command runs in milliseconds, in-process, importing no framework.
"""

import importlib.util
import os
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from validate import cli
from validate.experiments import session
from validate.frameworks import backends
from validate.report import build

OPTIONS = [
    "--preset",
    "--profile",
    "--device",
    "--backend",
    "--out",
    "--budget",
    "--threads",
    "--inter-threads",
    "--filters",
    "--modes",
    "--cases",
    "--channels",
    "--sizes",
    "--batches",
    "--repeats",
    "--activation",
    "--device-profile",
    "--resume",
    "--help-not-an-option",
]
VALUES = st.one_of(
    st.sampled_from(
        [
            "quick",
            "default",
            "huge",
            "cpu",
            "gpu",
            "all",
            "tensorflow",
            "jax",
            "pytorch",
            "0",
            "-1",
            "1e309",
            "nan",
            "5x5:stack",
            "3:asymmetric,7:depthwise-separable",
            "4x4:stack",
            "8-11",
            "11-8",
            "a/b",
            "",
            "relu",
            "none,relu",
            "graph",
            "xla",
            "99999999999999999999",
        ]
    ),
    st.text(min_size=0, max_size=12),
)
ARGUMENTS = st.lists(st.one_of(st.sampled_from(OPTIONS), VALUES), max_size=8)


# Every command line or broken file is answered within this bound (the measuring itself is stubbed).
SECONDS_BOUND = 10.0


def run_main(main, argv, capsys):
    started = time.monotonic()
    try:
        status = main(argv)
    except SystemExit as exit_:  # argparse's --help exits 0; nothing else may raise
        status = exit_.code
    assert time.monotonic() - started < SECONDS_BOUND, argv
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def assert_clean(status, err):
    assert "Traceback" not in err
    assert status in (0, 2), err
    if status == 2:
        lines = [line for line in err.splitlines() if line.strip()]
        assert lines and lines[-1].startswith(("validate: error:", "python -m validate.report: error:")), err
        assert sum(": error:" in line for line in lines) == 1, err


def get_backend_unimported(name):
    """get_backend's answers, importing no framework: what would measure with it is stubbed."""
    chosen = backends.spec(name)  # an unknown name: ValueError, as get_backend
    if importlib.util.find_spec(chosen.package) is None:
        raise backends.BackendUnavailableError(f"backend {name} is not installed: {chosen.install}")
    return chosen


@pytest.fixture
def measuring_stubbed(monkeypatch, tmp_path):
    # No TensorFlow in this process (make test-fast imports none): the backend is not created either.
    monkeypatch.setattr(backends, "get_backend", get_backend_unimported)
    monkeypatch.setattr(session, "run_experiment", lambda *args, **kwargs: 0)
    monkeypatch.setattr(session, "run_calibration", lambda *args, **kwargs: 0)
    monkeypatch.chdir(tmp_path)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(experiment=st.sampled_from(["seed", "factorizations", "calibrate", "nonsense", ""]), rest=ARGUMENTS)
def test_any_validate_command_line_exits_0_or_2_with_one_line(measuring_stubbed, capsys, experiment, rest):
    status, _, err = run_main(cli.main, [experiment, *rest] if experiment else rest, capsys)
    assert_clean(status, err)


FILE_CONTENTS = st.one_of(
    st.binary(max_size=200),
    st.sampled_from(
        [
            b"",
            b"\n\n",
            b"config_key\n",
            b'config_key,device\n"unterminated,cpu\n',
            b"[" * 5000,
            b'{"machine": 1}',
            b'{"machine": {}, "schema_version": "2"}',
            b"\xff\xfe\x00",
            b"config_key,filters\nk,NaN\n",
            b'{"device": "cpu", "peak_flops_per_second": 1e999}',
        ]
    ),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.sampled_from(
        [
            "seed.csv",
            "factorizations.csv",
            "samples.csv",
            "metadata.json",
            "accuracy_cpu.csv",
            "device_profile_cpu.json",
        ]
    ),
    content=FILE_CONTENTS,
)
def test_the_report_refuses_any_broken_results_file_in_one_line(tmp_path_factory, capsys, name, content):
    folder = tmp_path_factory.mktemp("results")
    (folder / name).write_bytes(content)
    status, _, err = run_main(build.main, ["--results", str(folder), "--out", str(folder / "report")], capsys)
    assert_clean(status, err)


@pytest.mark.parametrize(
    "make_path",
    [
        lambda tmp: tmp / "missing",
        lambda tmp: tmp,  # a folder with nothing in it
        lambda tmp: os.devnull,
    ],
)
def test_the_report_refuses_a_folder_that_is_not_results(tmp_path, capsys, make_path):
    status, _, err = run_main(build.main, ["--results", str(make_path(tmp_path)), "--out", str(tmp_path / "r")], capsys)
    assert status == 2 and len(err.strip().splitlines()) == 1
