"""Tests of validate.results.environment, and that the results layer stays light to import."""

import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from helpers import REPO_ROOT

from validate.results import environment
from validate.results.environment import cpu_model, gpu_driver, machine_info, run_info


def test_cpu_model_of_this_machine_is_not_empty():
    assert cpu_model().strip()


@pytest.mark.parametrize(
    "cpuinfo, expected",
    [
        # x86 Linux: one block per logical CPU, the first "model name" wins.
        (
            "processor\t: 0\nvendor_id\t: GenuineIntel\n"
            "model name\t: Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz\n\n"
            "processor\t: 1\nmodel name\t: Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz\n",
            "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz",
        ),
        # Many ARM kernels have no "model name": fall back.
        ("processor\t: 0\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x41\n", "fallback processor"),
        ("model name\t:\n", "fallback processor"),
    ],
)
def test_cpu_model_reads_model_name_or_falls_back(tmp_path, monkeypatch, cpuinfo, expected):
    monkeypatch.setattr(platform, "processor", lambda: "fallback processor")
    path = tmp_path / "cpuinfo"
    path.write_text(cpuinfo)

    assert cpu_model(path) == expected


@pytest.mark.parametrize(
    "processor, machine, expected",
    [("arm", "aarch64", "arm"), ("", "aarch64", "aarch64"), ("", "", "unknown")],
)
def test_cpu_model_without_cpuinfo_is_never_empty(tmp_path, monkeypatch, processor, machine, expected):
    monkeypatch.setattr(platform, "processor", lambda: processor)
    monkeypatch.setattr(platform, "machine", lambda: machine)

    assert cpu_model(tmp_path / "missing") == expected


def test_machine_info_fingerprints_this_machine_and_adds_backend_versions():
    backend = {"tensorflow": "2.21.0", "keras": "3.12.0", "backend": "tensorflow", "gpus": ["NVIDIA H200"]}

    info = machine_info(backend)

    assert info["cores"] == os.cpu_count()
    assert info["python"] == platform.python_version()
    assert info["cpu_model"] and info["platform"]
    assert {key: info[key] for key in backend} == backend
    assert json.loads(json.dumps(info)) == info


@pytest.mark.parametrize("backend, error", [({"cpu_model": "mine"}, ValueError), ({1: "x"}, TypeError)])
def test_machine_info_refuses_bad_backend_versions(backend, error):
    with pytest.raises(error):
        machine_info(backend)


def test_run_info_records_date_command_and_threads():
    argv = ["validate", "run", "--out", "my results", "--label", "it's"]
    threads = {"intra_op": 16, "inter_op": 2}

    info = run_info(argv, threads)

    started = datetime.fromisoformat(info["started"])
    assert started.tzinfo is not None
    assert abs(datetime.now(timezone.utc) - started) < timedelta(minutes=1)
    assert shlex.split(info["command"]) == argv
    assert info["threads"] == threads and info["threads"] is not threads


def test_run_info_keeps_a_given_time_zone():
    tokyo = timezone(timedelta(hours=9))

    info = run_info(["validate"], {}, now=datetime(2025, 6, 1, 12, 0, 30, tzinfo=tokyo))

    assert info["started"] == "2025-06-01T12:00:30+09:00"


@pytest.mark.parametrize("value", ["0", "1", None])
def test_run_info_records_the_onednn_variable(monkeypatch, value):
    if value is None:
        monkeypatch.delenv(environment.ONEDNN_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(environment.ONEDNN_VARIABLE, value)

    assert run_info(["validate"], {})["tf_enable_onednn_opts"] == value


def test_run_info_refuses_a_string_command_line():
    with pytest.raises(TypeError):
        run_info("validate run", {})


def test_gpu_driver_is_none_without_nvidia_smi(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)

    assert gpu_driver() is None


@pytest.mark.skipif(os.name != "posix", reason="the fake nvidia-smi is a shell script")
@pytest.mark.parametrize(
    "script, expected",
    [
        ("echo 'NVIDIA H200, 550.54.15'", "NVIDIA H200, 550.54.15"),
        ("printf 'NVIDIA A100, 535.1\\nNVIDIA A100, 535.1\\n'", "NVIDIA A100, 535.1; NVIDIA A100, 535.1"),
        ("echo 'NVIDIA-SMI has failed'; exit 9", None),
        ("true", None),
    ],
)
def test_gpu_driver_reads_nvidia_smi(tmp_path, monkeypatch, script, expected):
    fake = tmp_path / "nvidia-smi"
    fake.write_text(f"#!/bin/sh\n{script}\n")
    fake.chmod(0o755)
    monkeypatch.setattr(shutil, "which", lambda name: str(fake))

    assert gpu_driver() == expected


def test_gpu_driver_is_none_when_nvidia_smi_hangs(monkeypatch):
    def hang(command, **options):
        raise subprocess.TimeoutExpired(command, options["timeout"])

    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/nvidia-smi")
    monkeypatch.setattr(subprocess, "run", hang)

    assert gpu_driver() is None


@pytest.mark.parametrize(
    "module", ["validate.results.store", "validate.results.environment", "validate.experiments.progress"]
)
def test_results_layer_imports_neither_tensorflow_nor_pandas(module):
    heavy = ("tensorflow", "keras", "pandas")
    check = f"import sys, {module}; print(sorted(set({heavy!r}) & set(sys.modules)))"

    done = subprocess.run(
        [sys.executable, "-c", check],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_cpu_frequency_reads_sysfs_and_says_none_where_there_is_none(tmp_path):
    for index, (khz, governor) in enumerate([(2400000, "performance"), (1800000, "powersave")]):
        folder = tmp_path / f"cpu{index}" / "cpufreq"
        folder.mkdir(parents=True)
        (folder / "scaling_cur_freq").write_text(f"{khz}\n")
        (folder / "scaling_governor").write_text(f"{governor}\n")
    assert environment.cpu_frequency(tmp_path) == {"mhz": [2400, 1800], "governor": ["performance", "powersave"]}
    assert environment.cpu_frequency(tmp_path / "nothing") is None


def test_busy_cpu_seconds_leaves_out_idle_iowait_and_steal(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 0 50 1000 30 0 10 7 0 0\ncpu0 1 2 3\n")
    ticks = os.sysconf("SC_CLK_TCK")
    assert environment.busy_cpu_seconds(stat) == pytest.approx(160 / ticks)
    assert environment.steal_cpu_seconds(stat) == pytest.approx(7 / ticks)
    stat.write_text("garbage")
    assert environment.busy_cpu_seconds(stat) is None
    assert environment.busy_cpu_seconds(tmp_path / "missing") is None
    assert environment.steal_cpu_seconds(tmp_path / "missing") is None


def test_a_run_clock_without_proc_reports_no_other_processes_share():
    clock = environment.RunClock(
        wall=iter([0.0, 10.0]).__next__, busy=lambda: None, own=lambda: 0.0, steal=lambda: None, cores=2
    )
    facts = clock.finish(timed_seconds=4.0)
    assert facts["timed_share"] == 0.4 and facts["other_processes_cpu_share"] is None and facts["steal_share"] is None
    assert set(facts) >= {"load_average_before", "load_average_after", "cpu_frequency_before", "wall_seconds"}
