"""Tests of validate.experiments.workers: a worker that dies or hangs loses one configuration, not the sweep."""

import subprocess
import sys
import textwrap

import pytest

from validate.experiments.workers import WorkerError, supervise

# A fake worker: measures the keys in order, skipping those in its "store" (a file of done keys),
# and crashes or hangs on the keys it is told to, once each (a restarted worker resumes past them).
FAKE_WORKER = textwrap.dedent(
    """
    import os, pathlib, signal, sys, time
    store, crash, hang, between = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    done = set(store.read_text().split()) if store.exists() else set()
    for key in ["a", "b", "c", "d"]:
        if key in done:
            continue
        print("measuring", key, flush=True)
        if key == crash:
            os.kill(os.getpid(), signal.SIGKILL)
        if key == hang:
            time.sleep(600)
        with store.open("a") as handle:
            handle.write(key + "\\n")
        print("measured", key, flush=True)
        marker = store.with_suffix(".died")
        if key == between and not marker.exists():
            marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)  # after one configuration, before the next
    print("clock 2.5 1.5", flush=True)
    if os.environ.get("CRASH_AT_EXIT"):
        os.kill(os.getpid(), signal.SIGSEGV)
    """
)


def run_fake(tmp_path, crash="", hang="", between="", timeout=30.0):
    script = tmp_path / "worker.py"
    script.write_text(FAKE_WORKER)
    store = tmp_path / "done.txt"
    measured, clocks = [], []

    def launch():
        return subprocess.Popen(
            [sys.executable, str(script), str(store), crash, hang, between], stdout=subprocess.PIPE, text=True,
            start_new_session=True,
        )  # fmt: skip

    def on_lost(loss):  # what the session does: an error row, so a restart skips the key
        with store.open("a") as handle:
            handle.write(loss.key + "\n")

    lost = supervise(
        launch,
        name="worker process 2",
        timeout_seconds=timeout,
        on_lost=on_lost,
        on_measured=measured.append,
        on_clock=lambda wall, timed: clocks.append((wall, timed)),
    )
    return lost, measured, clocks


def test_a_clean_worker_measures_everything(tmp_path):
    lost, measured, clocks = run_fake(tmp_path)
    assert lost == [] and measured == ["a", "b", "c", "d"] and clocks == [(2.5, 1.5)]


def test_a_worker_that_dies_loses_one_configuration_and_the_sweep_goes_on(tmp_path):
    lost, measured, _ = run_fake(tmp_path, crash="b")
    assert [(loss.key, loss.reason) for loss in lost] == [
        ("b", "worker process 2 died (signal SIGKILL) while measuring this configuration")
    ]
    assert measured == ["a", "c", "d"]


def test_a_worker_that_hangs_is_killed_and_restarted(tmp_path):
    lost, measured, _ = run_fake(tmp_path, hang="c", timeout=2.0)
    assert [loss.key for loss in lost] == ["c"]
    assert lost[0].reason == "worker process 2 hung (no progress for 2 s; killed) while measuring this configuration"
    assert measured == ["a", "b", "d"]


def test_a_worker_that_dies_between_configurations_loses_nothing(tmp_path):
    lost, measured, clocks = run_fake(tmp_path, between="b")
    assert lost == [] and measured == ["a", "b", "c", "d"] and clocks == [(2.5, 1.5)]


def test_a_worker_that_crashes_after_its_last_line_is_done(tmp_path, monkeypatch):
    monkeypatch.setenv("CRASH_AT_EXIT", "1")
    lost, measured, clocks = run_fake(tmp_path)
    assert lost == [] and measured == ["a", "b", "c", "d"] and clocks == [(2.5, 1.5)]


def test_a_worker_that_cannot_start_is_an_error_not_a_loop(tmp_path):
    def launch():
        return subprocess.Popen([sys.executable, "-c", "raise SystemExit(2)"], stdout=subprocess.PIPE, text=True)

    with pytest.raises(WorkerError, match="worker process 1 died \\(exit status 2\\) before measuring anything"):
        supervise(launch, name="worker process 1", timeout_seconds=10, on_lost=lambda loss: None)


def test_a_worker_that_loses_every_configuration_is_given_up(tmp_path):
    script = "print('measuring x', flush=True); raise SystemExit(1)"

    def launch():
        return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)

    losses = []
    with pytest.raises(WorkerError, match="lost 3 configurations in a row"):
        supervise(launch, name="worker process 1", timeout_seconds=10, on_lost=losses.append)
    assert len(losses) == 3
