"""What machine measured, and how a run was started.

Latencies only mean something next to the machine that produced them, so
every results folder records

* :func:`machine_info`, the machine's fingerprint: what must be the same for
  two runs' results to be comparable (the store refuses to mix results whose
  fingerprints differ);
* :func:`run_info`, the circumstances of one run (date, command line,
  threads, oneDNN setting), which may differ between runs that are resumed
  into the same folder.

This module asks the operating system only.  The framework's facts (the
Keras backend and its version, visible GPUs) are queried by the caller, which
imports the framework anyway, and passed in: importing TensorFlow, JAX or
PyTorch here would cost seconds on every import of the package.
"""

from __future__ import annotations

import os
import platform
import shlex
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

__all__ = [
    "ONEDNN_VARIABLE",
    "cpu_model",
    "gpu_driver",
    "machine_info",
    "run_info",
]

#: Environment variable switching TensorFlow's oneDNN CPU kernels on ("1") or
#: off ("0").  TensorFlow enables oneDNN by default on x86 Linux since 2.9, so
#: there an unset variable means *on*.  oneDNN changes which kernels run (and
#: can change results in the last bits), so it is recorded with every run.
ONEDNN_VARIABLE = "TF_ENABLE_ONEDNN_OPTS"

# nvidia-smi answers in well under a second; a hung driver must not hang the run.
_NVIDIA_SMI_TIMEOUT_SECONDS = 10.0


def cpu_model(cpuinfo_path: str | os.PathLike[str] = "/proc/cpuinfo") -> str:
    """The CPU's marketing name, e.g. ``"AMD EPYC 7763 64-Core Processor"``.

    Read from the first ``model name`` line of ``/proc/cpuinfo`` (Linux),
    which is the full name; ``platform.processor()`` is the fallback elsewhere
    (on Linux it is often just ``"x86_64"``), then ``platform.machine()``,
    then ``"unknown"``, so the result is never empty.

    Examples
    --------
    >>> isinstance(cpu_model(), str) and cpu_model() != ""
    True
    """
    try:
        with open(cpuinfo_path, encoding="utf-8", errors="replace") as file:
            for line in file:
                field, _, value = line.partition(":")
                if field.strip() == "model name" and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine_info(backend_versions: Mapping[str, object] | None = None) -> dict:
    """Fingerprint of this machine, to store with the results it measures.

    Parameters
    ----------
    backend_versions : dict, optional
        Facts the caller gets from the framework, added as they are, e.g.
        ``{"tensorflow": "2.21.0", "keras": "3.12.0", "backend":
        "tensorflow", "gpus": ["NVIDIA H200"], "gpu_driver": gpu_driver()}``.
        Values must be JSON-serialisable.

    Returns
    -------
    dict
        ``cpu_model``, ``cores`` (logical, ``os.cpu_count()``), ``platform``
        (``platform.platform()``: OS, kernel, architecture, libc),
        ``python`` (version), then ``backend_versions``.

    Raises
    ------
    ValueError
        If ``backend_versions`` would overwrite one of the fields above.
    TypeError
        If a key of ``backend_versions`` is not a string.

    Examples
    --------
    >>> info = machine_info({"tensorflow": "2.21.0"})
    >>> list(info)
    ['cpu_model', 'cores', 'platform', 'python', 'tensorflow']
    >>> machine_info({"cores": 4})
    Traceback (most recent call last):
    ...
    ValueError: backend_versions must not overwrite the measured field 'cores' (got 4)
    """
    info: dict[str, object] = {
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    for key, value in (backend_versions or {}).items():
        if not isinstance(key, str):
            raise TypeError(f"backend_versions keys must be str, got {key!r}")
        if key in info:
            raise ValueError(f"backend_versions must not overwrite the measured field {key!r} (got {value!r})")
        info[key] = value
    return info


def run_info(argv: Sequence[str], threads: Mapping[str, object], *, now: datetime | None = None) -> dict:
    """Circumstances of one run, to append to the results folder's run list.

    Parameters
    ----------
    argv : sequence of str
        The command line, usually ``sys.argv``.
    threads : dict
        Thread settings in force, e.g. ``{"intra_op": 16, "inter_op": 2}``.
    now : datetime, optional
        The run's start; default the current time.  A naive datetime is
        taken as local time; an aware one keeps its time zone.

    Returns
    -------
    dict
        ``started`` (ISO 8601 with the UTC offset, to the second),
        ``command`` (``shlex.join(argv)``, so it can be pasted into a shell),
        ``threads``, and ``tf_enable_onednn_opts``: the value of
        ``TF_ENABLE_ONEDNN_OPTS`` or ``None`` when unset (which on x86 Linux
        means oneDNN is on; see :data:`ONEDNN_VARIABLE`).

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> info = run_info(["validate", "run", "--out", "my results"], {"intra_op": 8},
    ...                 now=datetime(2025, 1, 2, 3, 4, 5, 678, tzinfo=timezone.utc))
    >>> info["started"], info["command"], info["threads"]
    ('2025-01-02T03:04:05+00:00', "validate run --out 'my results'", {'intra_op': 8})
    """
    if isinstance(argv, str):
        raise TypeError(f"argv must be a sequence of str, not a str: {argv!r}")
    started = datetime.now() if now is None else now
    if started.tzinfo is None:
        # A date without its offset is ambiguous once the results travel.
        started = started.astimezone()
    return {
        "started": started.isoformat(timespec="seconds"),
        "command": shlex.join(str(argument) for argument in argv),
        "threads": dict(threads),
        "tf_enable_onednn_opts": os.environ.get(ONEDNN_VARIABLE),
    }


def gpu_driver() -> str | None:
    """NVIDIA GPU names and driver versions from ``nvidia-smi``, or None.

    Returns
    -------
    str or None
        One ``"name, driver_version"`` per GPU, joined by ``"; "``, e.g.
        ``"NVIDIA H200, 550.54.15"``; ``None`` if ``nvidia-smi`` is not on the
        ``PATH``, fails, or takes longer than 10 seconds (a hung driver must
        not hang the run; the driver is useful to record, not essential).
    """
    executable = shutil.which("nvidia-smi")
    if executable is None:
        return None
    try:
        completed = subprocess.run(
            [executable, "--query-gpu=name,driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=_NVIDIA_SMI_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = [line.strip() for line in completed.stdout.splitlines() if line.strip()]
    if completed.returncode != 0 or not lines:
        return None
    return "; ".join(lines)


# --- what explains noise: the machine's state around a run ------------------------------------


def load_average() -> list[float] | None:
    """The 1, 5 and 15-minute load averages, or None where the platform has none."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def cpu_frequency(sysfs: str | os.PathLike[str] = "/sys/devices/system/cpu") -> dict | None:
    """Current frequency (MHz, per CPU) and scaling governor(s), where the kernel exposes them.

    Virtual machines often expose neither; then None, never a guess.
    """
    root = Path(sysfs)
    megahertz, governors = [], set()
    for cpu in sorted(root.glob("cpu[0-9]*")):
        try:
            megahertz.append(round(int((cpu / "cpufreq" / "scaling_cur_freq").read_text()) / 1000))
            governors.add((cpu / "cpufreq" / "scaling_governor").read_text().strip())
        except (OSError, ValueError):
            continue
    if not megahertz:
        return None
    return {"mhz": megahertz, "governor": sorted(governors)}


def _cpu_ticks(stat_path: str | os.PathLike[str]) -> list[int] | None:
    """The first line of /proc/stat: user nice system idle iowait irq softirq steal ... (ticks)."""
    try:
        fields = Path(stat_path).read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    if not fields or fields[0] != "cpu":
        return None
    try:
        return [int(value) for value in fields[1:]]
    except ValueError:
        return None


def busy_cpu_seconds(stat_path: str | os.PathLike[str] = "/proc/stat") -> float | None:
    """CPU seconds all processes have spent busy since boot (Linux), steal excluded, or None where unreadable."""
    ticks = _cpu_ticks(stat_path)
    if ticks is None:
        return None
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    return (sum(ticks[:7]) - idle) / os.sysconf("SC_CLK_TCK")


def steal_cpu_seconds(stat_path: str | os.PathLike[str] = "/proc/stat") -> float | None:
    """CPU seconds the hypervisor gave to other virtual machines while this one wanted to run.

    Other tenants of the host show up here, not as processes: a run during which it grows was
    slowed by them.  None where unreadable (no /proc/stat, or a kernel without the column).
    """
    ticks = _cpu_ticks(stat_path)
    if ticks is None or len(ticks) < 8:
        return None
    return ticks[7] / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """CPU seconds this process and its finished children have used."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


class RunClock:
    """Wall seconds, the machine's load and other processes' CPU use, from the start of a run to its end.

    >>> clock = RunClock(wall=iter([10.0, 70.0]).__next__, busy=iter([100.0, 190.0]).__next__,
    ...                  own=iter([5.0, 65.0]).__next__, steal=iter([0.0, 6.0]).__next__, cores=2)
    >>> report = clock.finish(timed_seconds=30.0)
    >>> report["wall_seconds"], report["timed_seconds"], report["timed_share"], report["other_processes_cpu_share"]
    (60.0, 30.0, 0.5, 0.25)
    >>> report["steal_share"]   # other virtual machines on the host took 5% of this one's CPU time
    0.05
    """

    def __init__(
        self,
        *,
        wall=None,
        busy=busy_cpu_seconds,
        own=own_cpu_seconds,
        steal=steal_cpu_seconds,
        cores: int | None = None,
    ) -> None:
        self._wall = wall or time.monotonic
        self._busy, self._own, self._steal = busy, own, steal
        self._cores = cores or os.cpu_count() or 1
        self.before = {"load_average_before": load_average(), "cpu_frequency_before": cpu_frequency()}
        self._started, self._busy_start, self._own_start = self._wall(), self._busy(), self._own()
        self._steal_start = self._steal()

    def finish(self, *, timed_seconds: float) -> dict:
        """What the run's metadata records at its end (None where something is unreadable)."""
        wall = self._wall() - self._started
        busy, own = self._busy(), self._own()
        other = None
        if busy is not None and self._busy_start is not None and wall > 0:
            other_seconds = max(0.0, (busy - self._busy_start) - (own - self._own_start))
            other = round(other_seconds / (wall * self._cores), 3)
        steal, steal_share = self._steal(), None
        if steal is not None and self._steal_start is not None and wall > 0:
            steal_share = round(max(0.0, steal - self._steal_start) / (wall * self._cores), 3)
        return {
            **self.before,
            "load_average_after": load_average(),
            "cpu_frequency_after": cpu_frequency(),
            "wall_seconds": round(wall, 3),
            "timed_seconds": round(timed_seconds, 3),
            "timed_share": round(timed_seconds / wall, 3) if wall > 0 else None,
            "other_processes_cpu_share": other,
            "steal_share": steal_share,
        }
