"""The command line: exact answers, output formats, and exit status 2 on bad input."""

import csv
import io
import json
import subprocess
import sys

import pytest

from costmodel.cli import main


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


# (kernel, scheme, extra options, expected exact MACs ratio) — sources in tests/costmodel/test_literature.py.
LITERATURE = [
    ("5x5", "stack", [], "18/25"),  # Szegedy et al. 2016, §3.1: (9+9)/25
    ("3x3", "asymmetric", [], "2/3"),  # Szegedy et al. 2016, §3.2: (3+3)/9
    ("3x3", "stack", ["--m", "2"], "8/9"),  # Szegedy et al. 2016, §3.1: (4+4)/9, an 11% saving
    ("7x7", "asymmetric", [], "2/7"),  # (7+7)/49
    ("7x7", "stack", [], "27/49"),  # three 3x3: 27/49
    ("3x3", "depthwise-separable", [], "73/576"),  # MobileNets: 1/64 + 1/9
]


@pytest.mark.parametrize("kernel, scheme, extra, expected", LITERATURE)
def test_savings_json_gives_the_literature_ratios(capsys, kernel, scheme, extra, expected):
    status, out, _ = run(
        capsys, "savings", kernel, "--scheme", scheme, "--c-in", "64", "--c-out", "64", *extra, "--json"
    )
    record = json.loads(out)
    assert status == 0
    assert record["macs_ratio"] == expected
    assert record["params_ratio"] == expected  # 'same' padding, stride 1: params and MACs agree
    numerator, denominator = map(int, expected.split("/"))
    assert record["macs_saving"] == pytest.approx(1 - numerator / denominator)
    assert record["receptive_field"] == [int(kernel[0]), int(kernel[-1])]


def test_savings_table_shows_numbers_and_closed_form(capsys):
    status, out, _ = run(capsys, "savings", "5x5", "--scheme", "stack", "--c-in", "64", "--c-out", "64")
    assert status == 0
    assert "18/25" in out and "28.0%" in out
    assert "9*(C_in + C_out)/(25*C_in)" in out  # the closed form, sizes as symbols


def test_savings_csv_has_one_row_per_metric(capsys):
    status, out, _ = run(capsys, "savings", "1x7", "--scheme", "stack", "--c-in", "8", "--c-out", "8", "--csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert status == 0
    assert [row["metric"] for row in rows] == ["params", "MACs", "FLOPs", "memory bytes", "activations"]
    assert rows[1]["ratio"] == "9/7"  # three 1x3 layers: 9 taps instead of 7 at equal widths


def test_omitted_sizes_stay_symbols(capsys):
    status, out, _ = run(capsys, "savings", "3x3", "--scheme", "asymmetric", "--json")
    record = json.loads(out)
    assert status == 0
    assert record["macs_ratio"] == "(C_in + C_out)/(3*C_in)"
    assert record["macs_saving"] is None  # not a number until the widths are given


def test_sweep_covers_every_configuration(capsys):
    status, out, _ = run(
        capsys,
        "sweep",
        "--kernels",
        "3-5",
        "--schemes",
        "stack,asymmetric",
        "--c-in",
        "16,32",
        "--c-out",
        "32",
        "--json",
    )
    rows = json.loads(out)
    assert status == 0
    # 3 kernels x 2 schemes x 2 widths, except 4x4 stack: one error row, not two
    assert len(rows) == 11
    errors = [row for row in rows if row.get("error")]
    assert [(row["kernel"], row["scheme"]) for row in errors] == [("4x4", "stack")]
    five = [row for row in rows if row["kernel"] == "5x5" and row["scheme"] == "stack" and row["c_in"] == 32]
    assert five[0]["macs_ratio"] == "18/25"


def test_formula_latex(capsys):
    status, out, _ = run(capsys, "formula", "--scheme", "depthwise-separable", "--latex", "--json")
    rows = {row["quantity"]: row for row in json.loads(out)}
    assert status == 0
    assert rows["MACs ratio"]["expression"] == r"\frac{C_{out} + k^{2}}{C_{out} k^{2}}"
    assert rows["MACs ratio as k -> oo (square k x k)"]["expression"] == r"\frac{1}{C_{out}}"


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["savings", "4x4", "--scheme", "stack"], "nearest kernel sizes that work: 3 and 5"),
        (["savings", "5x5", "--scheme", "nope"], "known schemes: stack, asymmetric, depthwise-separable"),
        (["savings", "5x5", "--scheme", "stack", "--c-in", "0"], "--c-in: expected a whole number >= 1"),
        (["savings", "5x5", "--scheme", "stack", "--c-in", "2.5"], "expected a whole number, got '2.5'"),
        (["savings", "5x", "--scheme", "stack"], "kernel size must look like"),
        (["savings", "5x5", "--scheme", "stack", "--padding", "full"], "--padding"),
        (["savings", "5x5", "--scheme", "stack", "--c-in", "6", "--groups", "4"], "not divisible by groups=4"),
        (["savings", "5x5", "--scheme", "stack", "--height", "3", "--padding", "valid"], "does not fit"),
        (["savings", "5x5", "--scheme", "asymmetric", "--multiplier", "2"], "--multiplier does not apply"),
        (["savings", "5x5"], "--scheme"),
        (["sweep", "--kernels", "5-3"], "runs backwards"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, argv, fragment):
    status, out, err = run(capsys, *argv)
    assert status == 2
    assert out == ""
    assert fragment in err
    assert len(err.strip().splitlines()) == 1


def test_module_entry_point_has_no_traceback():
    done = subprocess.run(
        [sys.executable, "-m", "costmodel", "savings", "0x3", "--scheme", "stack"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("costmodel: error:")
