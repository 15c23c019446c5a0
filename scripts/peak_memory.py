"""Run ``python -m MODULE ARGS...`` and report, on a last stderr line, its peak memory and imports.

    python scripts/peak_memory.py validate network model.keras

The last line of stderr is ``PEAK_KIB=<n> TENSORFLOW=<True|False>``: the process's own peak resident
memory (VmHWM, which exec resets; ``ru_maxrss`` would carry a large parent's over) and whether it
imported TensorFlow.  The command's exit status is kept.  benchmarks/bench_model_file.py and
tests/validate/frameworks/test_model_file.py read it.
"""

import runpy
import sys


def peak_kib() -> str:
    with open("/proc/self/status") as status:
        return next(line.split()[1] for line in status if line.startswith("VmHWM:"))


if __name__ == "__main__":
    module, *arguments = sys.argv[1:]
    sys.argv = [module, *arguments]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    finally:
        print(f"PEAK_KIB={peak_kib()} TENSORFLOW={'tensorflow' in sys.modules}", file=sys.stderr)
