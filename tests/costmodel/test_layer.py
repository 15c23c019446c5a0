"""Tests of costmodel.layer and costmodel.kernel: every bad input gets a clear error.

Each case gives the constructor arguments, the exception type and a fragment of
the message that must name the field (or the value) at fault.
"""

import re
import subprocess
import sys

import numpy as np
import pytest
import sympy

from costmodel import symbols
from costmodel.kernel import parse_kernel
from costmodel.layer import ConvLayer

VALID = {"kernel_h": 3, "kernel_w": 3, "c_in": 8, "c_out": 8, "height": 16, "width": 16}

BAD_LAYERS = [
    # Zero and negative sizes: ValueError naming the field.
    pytest.param({"kernel_h": 0}, ValueError, "kernel_h must be an integer >= 1, got 0", id="kh0"),
    pytest.param({"kernel_w": -3}, ValueError, "kernel_w must be an integer >= 1, got -3", id="kw-"),
    pytest.param({"c_in": 0}, ValueError, "c_in must be an integer >= 1, got 0", id="c_in0"),
    pytest.param({"c_out": -1}, ValueError, "c_out must be an integer >= 1, got -1", id="c_out-"),
    pytest.param({"groups": 0}, ValueError, "groups must be an integer >= 1", id="groups0"),
    pytest.param({"height": 0}, ValueError, "height must be an integer >= 1", id="height0"),
    pytest.param({"width": -5}, ValueError, "width must be an integer >= 1", id="width-"),
    pytest.param({"batch": 0}, ValueError, "batch must be an integer >= 1", id="batch0"),
    pytest.param({"dtype_bytes": 0}, ValueError, "dtype_bytes must be an integer >= 1", id="dtype0"),
    pytest.param({"stride": 0}, ValueError, "stride must be an integer >= 1", id="stride0"),
    pytest.param({"stride": (1, 0)}, ValueError, "stride[1] must be an integer >= 1", id="stride-pair0"),
    pytest.param({"dilation": -1}, ValueError, "dilation must be an integer >= 1", id="dilation-"),
    pytest.param({"padding": -1}, ValueError, "padding must be an integer >= 0, got -1", id="padding-"),
    pytest.param({"padding": (0, -2)}, ValueError, "padding[1] must be an integer >= 0", id="padding-pair-"),
    pytest.param({"c_in": sympy.Integer(0)}, ValueError, "c_in must be an integer >= 1", id="sympy-zero"),
    pytest.param({"c_in": sympy.Rational(1, 2)}, ValueError, "c_in must be an integer", id="sympy-half"),
    pytest.param(
        {"c_in": -symbols.C_IN}, ValueError, "c_in must be a positive integer expression", id="negative-symbol"
    ),
    # Floats, even whole ones, are not exact sizes: TypeError.
    pytest.param(
        {"kernel_h": 3.0},
        TypeError,
        "kernel_h must be an integer or a sympy symbol, got 3.0 (float)",
        id="float-kernel",
    ),
    pytest.param({"c_out": 2.5}, TypeError, "c_out must be an integer", id="float-c_out"),
    pytest.param({"height": np.float64(8)}, TypeError, "height must be an integer", id="np-float"),
    pytest.param({"stride": (1.5, 1)}, TypeError, "stride[0] must be an integer", id="float-stride"),
    pytest.param({"c_in": sympy.Float(8)}, TypeError, "c_in must be exact", id="sympy-float"),
    pytest.param({"c_in": "8"}, TypeError, "c_in must be an integer", id="text-c_in"),
    pytest.param({"c_in": None}, TypeError, "c_in must be an integer", id="none-c_in"),
    # bool is an int in Python, but True channels is a mistake, not a size.
    pytest.param({"c_in": True}, TypeError, "c_in must be an integer", id="bool-c_in"),
    pytest.param({"kernel_w": False}, TypeError, "kernel_w must be an integer", id="bool-kernel"),
    pytest.param({"bias": 1}, TypeError, "bias must be True or False, got 1", id="int-bias"),
    pytest.param({"bias": "yes"}, TypeError, "bias must be True or False", id="text-bias"),
    # Groups.
    pytest.param(
        {"c_in": 6, "c_out": 8, "groups": 4}, ValueError, "c_in=6 is not divisible by groups=4", id="c_in-groups"
    ),
    pytest.param(
        {"c_in": 8, "c_out": 30, "groups": 4}, ValueError, "c_out=30 is not divisible by groups=4", id="c_out-groups"
    ),
    # A kernel larger than a 'valid' (or thinly padded) input.
    pytest.param(
        {"kernel_h": 5, "height": 4, "padding": "valid"},
        ValueError,
        "height=4 gives 0 output positions",
        id="valid-too-small",
    ),
    pytest.param(
        {"kernel_w": 3, "dilation": 3, "width": 6, "padding": "valid"},
        ValueError,
        "width=6 gives 0 output positions",
        id="dilated-too-small",
    ),
    pytest.param(
        {"kernel_h": 7, "height": 2, "padding": 2},
        ValueError,
        "does not fit the (2, 2)-padded input",
        id="explicit-too-small",
    ),
    # Padding and pairs.
    pytest.param(
        {"padding": "full"},
        ValueError,
        "padding must be 'same', 'valid' or a number of zeros per side, got 'full'",
        id="padding-text",
    ),
    pytest.param({"padding": ""}, ValueError, "padding must be 'same', 'valid'", id="padding-empty"),
    pytest.param({"padding": 1.0}, TypeError, "padding must be an integer", id="padding-float"),
    pytest.param(
        {"stride": (1, 2, 3)},
        ValueError,
        "stride must be one value or a (height, width) pair, got (1, 2, 3)",
        id="stride3",
    ),
    pytest.param({"stride": ()}, ValueError, "stride must be one value or a (height, width) pair", id="stride-empty"),
    pytest.param({"dilation": [2]}, ValueError, "dilation must be one value or a (height, width)", id="dilation1"),
    pytest.param({"padding": (1, 1, 1, 1)}, ValueError, "padding must be one value or a (height", id="padding4"),
]


@pytest.mark.parametrize("changes, error, fragment", BAD_LAYERS)
def test_bad_layer_is_refused(changes, error, fragment):
    with pytest.raises(error, match=re.escape(fragment)):
        ConvLayer(**{**VALID, **changes})


@pytest.mark.parametrize("changes, error, fragment", BAD_LAYERS)
def test_replace_validates_again(changes, error, fragment):
    with pytest.raises(error, match=re.escape(fragment)):
        ConvLayer(**VALID).replace(**changes)


def test_depthwise_multiplier_is_validated():
    with pytest.raises(ValueError, match="multiplier must be an integer >= 1, got 0"):
        ConvLayer.depthwise(3, 3, channels=8, multiplier=0)


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({}, {"stride": (1, 1), "dilation": (1, 1), "padding": "same", "bias": False, "batch": 1, "dtype_bytes": 4}),
        ({"stride": 2, "dilation": (1, 2)}, {"stride": (2, 2), "dilation": (1, 2)}),
        ({"padding": "VALID"}, {"padding": "valid"}),
        ({"padding": 2}, {"padding": (2, 2)}),
        ({"padding": [0, 1]}, {"padding": (0, 1)}),
        ({"c_in": sympy.Integer(8), "height": np.int64(16)}, {"c_in": 8, "height": 16}),
        ({"c_in": symbols.C_IN, "groups": symbols.C_IN}, {"c_in": symbols.C_IN}),
    ],
)
def test_good_layer_is_normalised(changes, expected):
    layer = ConvLayer(**{**VALID, **changes})
    for field, value in expected.items():
        assert getattr(layer, field) == value, field
    # Numbers become plain int, so counts stay int (sympy.Integer would leak into tables).
    assert all(type(getattr(layer, field)) is int for field in ("kernel_h", "c_out", "width"))


def test_layer_is_frozen_and_hashable():
    layer = ConvLayer(**VALID)
    with pytest.raises(AttributeError):
        layer.c_in = 4
    assert {layer: "ok"}[ConvLayer(**VALID)] == "ok"


def test_kernel_of_one_fits_a_one_pixel_valid_input():
    # The boundary of the fit check: 1x1 'valid' on 1x1 gives exactly one position.
    assert ConvLayer(1, 1, c_in=1, c_out=1, height=1, width=1, padding="valid").output_hw == (1, 1)


@pytest.mark.parametrize(
    "text, error, fragment",
    [
        ("5x", ValueError, "kernel size must look like 5, 5x5, 1x7 or 3x3x3, got '5x'"),
        ("x5", ValueError, "got 'x5'"),
        ("abc", ValueError, "got 'abc'"),
        ("5x5x5", ValueError, "got '5x5x5'"),
        ("", ValueError, "got ''"),
        ("-3", ValueError, "got '-3'"),
        ("2.5", ValueError, "got '2.5'"),
        ("0", ValueError, "kernel size must be at least 1x1, got 0x0"),
        ("3x0", ValueError, "at least 1x1, got 3x0"),
        (0, ValueError, "at least 1x1, got 0x0"),
        ((0, 3), ValueError, "at least 1x1, got 0x3"),
        (True, TypeError, "kernel size must be text or an integer, got True"),
        (2.5, TypeError, "kernel size must be text like '5x5' or an integer, got 2.5"),
        (None, TypeError, "got None"),
        ((3, 3, 3), TypeError, "got (3, 3, 3)"),
    ],
)
def test_parse_kernel_refuses(text, error, fragment):
    with pytest.raises(error, match=re.escape(fragment)):
        parse_kernel(text)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("5", (5, 5)),
        ("5x5", (5, 5)),
        ("1x7", (1, 7)),
        ("7X1", (7, 1)),
        (" 3 X 3 ", (3, 3)),
        ("3×5", (3, 5)),
        ("11", (11, 11)),
        (3, (3, 3)),
        ((1, 7), (1, 7)),
        ([2, 4], (2, 4)),
    ],
)
def test_parse_kernel_accepts(text, expected):
    assert parse_kernel(text) == expected


@pytest.mark.parametrize(
    "pair",
    [
        pytest.param((2.5, 3), id="float-pair"),
        pytest.param((True, 3), id="bool-pair"),
        pytest.param(("3", "3"), id="text-pair"),
    ],
)
def test_parse_kernel_refuses_pairs_of_non_integers(pair):
    with pytest.raises(TypeError, match="kernel size"):
        parse_kernel(pair)


def test_import_loads_no_heavy_packages():
    # House style 1: a query must answer in well under a second, so no TensorFlow, pandas or
    # matplotlib behind `import costmodel` (nor behind a first query).
    script = (
        "import sys, costmodel\n"
        "costmodel.savings('5x5', 'stack', c_in=64, c_out=64).macs_ratio\n"
        "heavy = [name for name in ('tensorflow', 'pandas', 'matplotlib') if name in sys.modules]\n"
        "print(','.join(heavy) or 'none')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "none"


NUMERIC_QUERIES = {
    "library": (
        "import costmodel\n"
        "result = costmodel.savings('5x5', 'stack', c_in=64, c_out=64, height=32, width=32)\n"
        "print(result.exact_ratio('macs'), result.block.receptive_field,\n"
        "      costmodel.count_layer(result.layer).intensity)\n"
    ),
    "predict": (
        "import json, sys, tempfile\n"
        "from costmodel.cli import main\n"
        "profile = {'version': 4, 'model': 'roofline', 'kernel_factors': {}, 'calibrated_range': None,\n"
        "           'layer_kernels': {},\n"
        "           'call_seconds_per_byte': 0.0,\n"
        "           'device': 'cpu', 'peak_flops_per_second': 1e11,\n"
        "           'bandwidth_bytes_per_second': 1e10, 'op_overhead_seconds': 1e-5,\n"
        "           'call_overhead_seconds': 5e-5, 'efficiency': dict.fromkeys(\n"
        "               ['dense', 'pointwise', 'depthwise', 'asymmetric'], 0.5)}\n"
        "with tempfile.NamedTemporaryFile('w', suffix='.json', delete=False) as handle:\n"
        "    json.dump(profile, handle)\n"
        "assert main(['predict', '5x5', '--scheme', 'stack', '--c-in', '64', '--c-out', '64', '--height', '32',\n"
        "             '--width', '32', '--device-profile', handle.name, '--json']) == 0\n"
    ),
    "sweep-of-numbers": (
        "from costmodel.sweep import sweep\n"
        "print(sweep(['5x5'], ['stack', 'asymmetric'], c_in=64, c_out=32)[0]['macs_ratio'])\n"
    ),
    "sweep-over-lists": (
        "from costmodel.sweep import sweep\n"
        "rows = sweep(['3', '5x5', '1x7'], ['stack', 'asymmetric', 'depthwise-separable'],\n"
        "             c_in=[8, 64], c_out=[16, 64], mid=[4, 8], height=[7, 32], batch=[1, 2], stride=2)\n"
        "print(len(rows))\n"
    ),
    "savings-cli": (
        "from costmodel.cli import main\n"
        "main(['savings', '5x5', '--scheme', 'stack', '--c-in', '64', '--c-out', '64', '--json'])\n"
    ),
}


@pytest.mark.parametrize("script", NUMERIC_QUERIES.values(), ids=NUMERIC_QUERIES.keys())
def test_numeric_query_imports_no_sympy(script):
    # Issue 13: importing sympy costs more than answering; a question whose sizes are all
    # numbers is answered in integer arithmetic.  (The check itself must not import sympy.)
    # Nor TensorFlow: the cost model, the latency model's predictions included, stays free of it.
    check = script + (
        "import sys\nprint('SYMPY' if 'sympy' in sys.modules else 'NO-SYMPY',"
        " 'TENSORFLOW' if 'tensorflow' in sys.modules else 'NO-TENSORFLOW')\n"
    )
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "NO-SYMPY NO-TENSORFLOW"


def test_symbolic_query_still_gets_sympy():
    # The other half of the split: leaving a size out gives a closed form, which is sympy's job.
    script = (
        "import sys, costmodel\n"
        "print(costmodel.savings('5x5', 'stack').macs_ratio_closed_form, 'sympy' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "9*(C_in + C_out)/(25*C_in) True"


def test_stage_refuses_a_negative_symbolic_repeat_count():
    from costmodel.block import Stage
    from costmodel.symbols import K

    with pytest.raises(ValueError, match="repeats must be positive, got -k"):
        Stage(ConvLayer(3, 3, c_in=4, c_out=4), -K)
