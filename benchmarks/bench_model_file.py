"""How fast, and in how much memory, a hostile model file is refused: a 600 MB zip bomb.

    python benchmarks/bench_model_file.py [--megabytes 600] [--runs 5]

Builds a .keras-looking zip whose config.json inflates to the given size (spaces, about 1000:1),
then runs ``python -m validate network BOMB`` in fresh processes and reports each run's wall time
and the process's peak resident memory, as reported by the process itself (VmHWM), with the
median and range.  The refusal must come before any framework is imported.
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
MB = 1024 * 1024
PEAK_MEMORY = ROOT / "scripts" / "peak_memory.py"  # runs the command, reports its own peak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=600)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        bomb = pathlib.Path(folder) / "bomb.keras"
        with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive, archive.open("config.json", "w") as member:
            for _ in range(args.megabytes):
                member.write(b" " * MB)
        print(f"zip bomb: {bomb.stat().st_size / MB:.2f} MB on disk, config.json inflates to {args.megabytes} MB")
        seconds, peaks = [], []
        for _ in range(args.runs):
            started = time.perf_counter()
            done = subprocess.run(
                [sys.executable, str(PEAK_MEMORY), "validate", "network", str(bomb)],
                capture_output=True,
                text=True,
                cwd=ROOT,
            )
            seconds.append(time.perf_counter() - started)
            *lines, report = done.stderr.strip().splitlines()
            peaks.append(int(report.split()[0].removeprefix("PEAK_KIB=")) / 1024)
            if done.returncode != 2 or len(lines) != 1:
                print(f"unexpected outcome: exit {done.returncode}, stderr {done.stderr!r}")
                return 1
        print(f"refusal: {lines[0]}")
        wall = f"wall {statistics.median(seconds):.3f} s median ({min(seconds):.3f}-{max(seconds):.3f})"
        memory = f"peak memory {statistics.median(peaks):.1f} MB median ({min(peaks):.1f}-{max(peaks):.1f})"
        print(f"{args.runs} runs: {wall}, {memory}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
