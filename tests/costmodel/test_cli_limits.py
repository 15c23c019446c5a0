"""Issue 11, the cost model's side: every input gives a correct answer or one line and exit status 2.

Each case is one reported failure: a wrapped int64, an OverflowError, work or memory without
bound, a device profile that is not a small sane JSON file, an interrupt.
"""

import csv
import io
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
from fractions import Fraction

import pytest
from helpers import restore_sigint

from costmodel.cli import main

PROFILE = {
    "version": 4,
    "layer_kernels": {},
    "model": "roofline",
    "kernel_factors": {},
    "calibrated_range": None,
    "call_seconds_per_byte": 0.0,
    "device": "cpu",
    "peak_flops_per_second": 1e11,
    "bandwidth_bytes_per_second": 1e10,
    "op_overhead_seconds": 1e-5,
    "call_overhead_seconds": 5e-5,
    "efficiency": {"dense": 0.5, "pointwise": 0.4, "depthwise": 0.45, "asymmetric": 0.25},
}
PREDICT = [
    "predict",
    "3x3",
    "--scheme",
    "stack",
    "--c-in",
    "8",
    "--c-out",
    "8",
    "--height",
    "8",
    "--width",
    "8",
    "--device-profile",
]


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_line_refusal(status, out, err, *fragments):
    assert status == 2
    assert out == ""
    assert len(err.splitlines()) == 1 and err.startswith("costmodel: error: ")
    for fragment in fragments:
        assert fragment in err


# --------------------------------------------------------------------------------------------
# Exact or refused, never wrapped
# --------------------------------------------------------------------------------------------

HUGE_SWEEP = [
    "sweep",
    "--kernels",
    "5",
    "--schemes",
    "stack",
    "--c-in",
    "1000000,2000000",
    "--c-out",
    "1000000,2000000",
    "--height",
    "100000,200000",
    "--width",
    "100000",
]


def test_huge_sweep_gives_exact_ratios_in_csv(capsys):
    status, out, _ = run(capsys, *HUGE_SWEEP, "--csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert status == 0 and len(rows) == 8
    # Hand: two 3x3 C_in->C_out->C_out over one 5x5: 9*(C_in + C_out)/(25*C_in), H*W cancels.
    for row in rows:
        c_in, c_out = int(row["c_in"]), int(row["c_out"])
        assert row["macs_ratio"] == str(Fraction(9 * (c_in + c_out), 25 * c_in))
    equal = [row for row in rows if row["c_in"] == row["c_out"]]
    assert {row["macs_ratio"] for row in equal} == {"18/25"}  # the expected answer


def test_huge_sweep_gives_exact_positive_counts_in_json(capsys):
    status, out, _ = run(capsys, *HUGE_SWEEP, "--json")
    rows = json.loads(out)
    assert status == 0
    first = rows[0]  # c_in = c_out = 10^6, 10^5 x 10^5
    # Hand: 25 * 10^6 * 10^6 weights at 10^10 positions = 2.5 * 10^23 MACs (past int64's 9.2 * 10^18).
    assert first["macs_before"] == 25 * 10**12 * 10**10
    assert first["macs_after"] == 2 * 9 * 10**12 * 10**10
    assert all(row["macs_before"] > 0 and row["macs_after"] > 0 for row in rows)


def test_kernel_past_an_index_sized_integer_is_refused(capsys):
    assert_one_line_refusal(
        *run(capsys, "savings", "99999999999999999999", "--scheme", "stack"), "kernel side", "--max-kernel"
    )


def test_size_past_the_limit_is_refused(capsys):
    assert_one_line_refusal(
        *run(capsys, "savings", "5x5", "--scheme", "stack", "--c-in", "9" * 30), "past the limit on a size", "MAX_SIZE"
    )


# --------------------------------------------------------------------------------------------
# Unbounded work is refused before it starts
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, fragments",
    [
        (["savings", "1000001", "--scheme", "stack"], ["the kernel side is 1,000,001", "--max-kernel"]),
        (["sweep", "--kernels", "2-100000"], ["the kernel side is 100,000", "--max-kernel"]),
        (
            ["sweep", "--c-in", "1-3000", "--c-out", "1-3000"],
            ["configurations in this sweep is 81,000,000", "--max-configs"],
        ),
        (["sweep", "--c-in", "1-100000000"], ["900,000,000", "--max-configs"]),
        (["formula", "999", "--scheme", "stack"], ["kernel side", "--max-kernel"]),
        (["sweep", "--kernels", "3", "--c-in", "1-20", "--max-configs", "10"], ["60", "limit of 10"]),
    ],
)
def test_unbounded_work_is_refused_at_once(capsys, argv, fragments):
    start = time.perf_counter()
    outcome = run(capsys, *argv)
    assert time.perf_counter() - start < 2  # refused before the work, not after
    assert_one_line_refusal(*outcome, *fragments)


def test_a_limit_can_be_raised(capsys):
    # 11x11 is past --max-kernel 9; raised, the stack of five 3x3 layers is computed.
    assert_one_line_refusal(*run(capsys, "savings", "11", "--scheme", "stack", "--max-kernel", "9"), "limit of 9")
    status, out, _ = run(
        capsys, "savings", "11", "--scheme", "stack", "--c-in", "8", "--c-out", "8", "--max-kernel", "11", "--json"
    )
    assert status == 0
    assert json.loads(out)["macs_ratio"] == "45/121"  # Hand: five 3x3 at equal widths, 5*9/121


def test_library_refuses_a_stack_too_deep_to_build():
    import costmodel

    with pytest.raises(ValueError, match="stack of 499999 layers is more than this model builds"):
        costmodel.savings("999999", "stack", c_in=8, c_out=8)


# --------------------------------------------------------------------------------------------
# Device profiles: a small, regular, UTF-8 JSON file of sane numbers
# --------------------------------------------------------------------------------------------


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


def profile_text(**changes):
    return json.dumps({**PROFILE, **changes})


def raw_peak(token):
    """The profile with peak_flops_per_second written as ``token``, which json.dumps cannot write."""
    return profile_text(peak_flops_per_second="PEAK").replace('"PEAK"', token)


BAD_PROFILES = {
    "directory": (lambda tmp: tmp, ["is a directory"]),
    "missing": (lambda tmp: tmp / "absent.json", ["does not exist"]),
    "deep": (lambda tmp: write(tmp, "deep.json", "[" * 100_000 + "]" * 100_000), ["nests 100000 levels"]),
    "huge-int": (
        lambda tmp: write(tmp, "big.json", raw_peak("1" + "0" * 320)),
        ["integer of 321 digits", "limit of 20"],
    ),
    "overflowing-float": (lambda tmp: write(tmp, "inf.json", raw_peak("1e999")), ["1e999 is too large for a float"]),
    "nan": (lambda tmp: write(tmp, "nan.json", raw_peak("NaN")), ["NaN is not a number"]),
    "not-utf8": (lambda tmp: write(tmp, "latin.json", b'{"device": "caf\xe9"}'), ["is not UTF-8"]),
    "escape-bytes": (
        lambda tmp: write(tmp, "esc.json", profile_text(device="cpu\u001b[2J\u0007")),
        ["field device must be printable text", "\\x1b[2J"],
    ),
    "long-device": (
        lambda tmp: write(tmp, "long.json", profile_text(device="x" * 201)),
        ["field device must be 1 to 200 characters"],
    ),
    "tiny-peak": (
        lambda tmp: write(tmp, "tiny.json", profile_text(peak_flops_per_second=1e-300)),
        ["field peak_flops_per_second must be between"],
    ),
    "huge-overhead": (
        lambda tmp: write(tmp, "slow.json", profile_text(op_overhead_seconds=1e200)),
        ["field op_overhead_seconds must be between"],
    ),
    "not-json": (lambda tmp: write(tmp, "text.json", "{not json"), ["is not JSON"]),
    "bool-version": (lambda tmp: write(tmp, "bool.json", profile_text(version=True)), ["version"]),
}


@pytest.mark.parametrize("make, fragments", BAD_PROFILES.values(), ids=BAD_PROFILES.keys())
def test_bad_profile_is_one_line_naming_the_file(capsys, tmp_path, make, fragments):
    path = make(tmp_path)
    status, out, err = run(capsys, *PREDICT, str(path), "--json")
    assert_one_line_refusal(status, out, err, str(path), *fragments)


def test_empty_profile_path(capsys):
    assert_one_line_refusal(*run(capsys, *PREDICT, ""), "device profile: the file name is empty")


def test_symlink_loop(capsys, tmp_path):
    os.symlink(tmp_path / "b", tmp_path / "a")
    os.symlink(tmp_path / "a", tmp_path / "b")
    assert_one_line_refusal(*run(capsys, *PREDICT, str(tmp_path / "a")), "is a symlink loop")


def test_profile_size_limit_names_its_option(capsys, tmp_path):
    path = write(tmp_path, "p.json", profile_text())
    assert_one_line_refusal(
        *run(capsys, *PREDICT, str(path), "--max-profile-bytes", "100"), "past the limit of 100", "--max-profile-bytes"
    )


@pytest.mark.parametrize("special", ["/dev/zero", "fifo"])
def test_special_files_are_refused_without_reading(tmp_path, special):
    # Reading /dev/zero never ends and opening a FIFO blocks until a writer comes: both must be
    # refused from os.stat alone.  A subprocess with a timeout, since a regression would hang.
    if special == "fifo":
        special = str(tmp_path / "fifo")
        os.mkfifo(special)
    done = subprocess.run(
        [sys.executable, "-m", "costmodel", *PREDICT, special], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == f"costmodel: error: device profile {special} is not a regular file; give a JSON file\n"


def test_profile_json_output_is_strict_json(capsys, tmp_path):
    path = write(tmp_path, "p.json", profile_text())
    status, out, _ = run(capsys, *PREDICT, str(path), "--json")
    assert status == 0

    def refuse(name):
        raise AssertionError(f"{name} in the output")

    document = json.loads(out, parse_constant=refuse)
    assert document["predicted_seconds_after"] > 0


# --------------------------------------------------------------------------------------------
# Interrupts
# --------------------------------------------------------------------------------------------


def test_ctrl_c_during_a_long_sweep_exits_130_with_one_line():
    # A sweep allowed past the default limit (870,000 configurations, many seconds of work).
    argv = ["sweep", "--kernels", "3-31", "--c-in", "1-100", "--c-out", "1-100", "--max-configs", "1000000"]
    process = subprocess.Popen(
        [sys.executable, "-m", "costmodel", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(pathlib.Path(__file__).parents[2])},
        preexec_fn=restore_sigint,  # SIGINT may be ignored here (a background job); not in the child
    )
    time.sleep(1.5)  # past start-up: inside the sweep
    assert process.poll() is None, "the sweep ended before it could be interrupted"
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert err == "costmodel: interrupted\n"
