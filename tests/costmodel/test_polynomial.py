"""The sympy-free algebra writes, character for character, what sympy writes; or it declines.

``costmodel savings`` answers from costmodel.polynomial when it can (no sympy import: about 0.08 s
instead of 0.45 s) and from sympy otherwise.  The contract: wherever the fast path gives a record,
it is the record sympy gives.  Checked on random layers, schemes and options, and on the queries
the documentation shows, which must take the fast path (so the check is not vacuous).
"""

import subprocess
import sys
from fractions import Fraction

import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from costmodel import render, symbols
from costmodel.analysis import SYMBOL_NAMES, savings, savings_record, savings_record_without_sympy, symbol_for
from costmodel.polynomial import Poly, Unsupported, irreducible_factors, ratio_text


def both_records(kernel, scheme, values):
    fast = savings_record_without_sympy(kernel, scheme, **values)
    slow = savings_record(savings(kernel, scheme, **values))
    return fast, slow


QUERIES = st.fixed_dictionaries(
    {
        "kernel": st.sampled_from(["3", "5x5", "7x7", "1x7", "3x5", "9", "4", "2"]),
        "scheme": st.sampled_from(["stack", "asymmetric", "depthwise-separable", "stack+asymmetric"]),
    },
    optional={
        "c_in": st.integers(1, 300),
        "c_out": st.integers(1, 300),
        "height": st.integers(1, 64),
        "width": st.integers(1, 64),
        "batch": st.integers(1, 4),
        "mid": st.integers(1, 300),
        "multiplier": st.integers(1, 4),
        "bias": st.just(True),
        "m": st.sampled_from([2, 3]),
        "order": st.sampled_from(["1xk-first", "kx1-first"]),
        "groups": st.sampled_from([1, 2]),
        "stride": st.sampled_from([1, 2, (1, 2)]),
        "dilation": st.sampled_from([1, 2]),
        "padding": st.sampled_from(["same", "valid", 1, (0, 2)]),
        "dtype_bytes": st.sampled_from([1, 2, 8]),
    },
)


@settings(max_examples=150, deadline=None)
@given(QUERIES)
def test_fast_record_is_sympys_record(query):
    kernel, scheme = query.pop("kernel"), query.pop("scheme")
    try:
        fast, slow = both_records(kernel, scheme, query)
    except ValueError:  # a query sympy refuses (wrong option for the scheme, kernel too big, ...)
        assert savings_record_without_sympy(kernel, scheme, **query) is None
        return
    if fast is not None:
        assert render.to_json(fast) == render.to_json(slow)


DOCUMENTED = [  # every savings query in docs/ and the issue's, with and without sizes
    ("5x5", "stack", {"c_in": 64, "c_out": 64}),
    ("5x5", "stack", {"c_in": 64, "c_out": 64, "height": 32, "width": 32}),
    ("3x3", "depthwise-separable", {"c_in": 64, "c_out": 64}),
    ("3x3", "asymmetric", {}),
    ("7x7", "stack+asymmetric", {"c_in": 8, "c_out": 16, "mid": 4, "batch": 2, "bias": True}),
    ("3x3", "depthwise-separable", {"multiplier": 2, "c_in": 32}),
    ("3x3", "stack", {"m": 2}),
]


@pytest.mark.parametrize("kernel, scheme, values", DOCUMENTED)
def test_common_queries_take_the_fast_path(kernel, scheme, values):
    fast, slow = both_records(kernel, scheme, values)
    assert fast is not None
    assert render.to_json(fast) == render.to_json(slow)


@pytest.mark.parametrize(
    "kernel, scheme, values, why",
    [
        ("5x5", "stack", {"stride": 2}, "ceiling(H/2) is not a polynomial"),
        ("5x5", "stack", {"padding": "valid"}, "sympy keeps (H - 4)*(W - 4) unexpanded"),
        (
            "5x5",
            "asymmetric",
            {"height": 17, "width": 9, "padding": "valid", "stride": 2},
            "numbers given, but the closed form has floor((H - 5)/2)",
        ),
        (symbols.K, "stack", {}, "a symbolic kernel"),
        ("4x4", "stack", {}, "an error: sympy's path reports it"),
    ],
)
def test_what_the_fast_path_declines(kernel, scheme, values, why):
    assert savings_record_without_sympy(kernel, scheme, **values) is None, why


def test_the_issue_query_imports_no_sympy():
    script = (
        "import sys\nfrom costmodel.cli import main\n"
        "main(['savings', '5x5', '--scheme', 'stack', '--c-in', '64', '--c-out', '64', '--json'])\n"
        "print('SYMPY' if 'sympy' in sys.modules else 'NO-SYMPY')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "NO-SYMPY"
    assert '"memory_bytes_ratio_closed_form": "(9*C_in*C_out + C_in*H*W' in done.stdout


def test_symbol_names_are_those_of_costmodel_symbols():
    expected = {
        "c_in": symbols.C_IN,
        "c_out": symbols.C_OUT,
        "depth": symbols.D,
        "height": symbols.H,
        "width": symbols.W,
        "batch": symbols.BATCH,
        "mid": symbols.MID,
        "multiplier": symbols.MULTIPLIER,
    }
    assert {field: symbol_for(field) for field in SYMBOL_NAMES} == expected


# The algebra itself, against sympy on random polynomials.

NAMES = ("C_in", "C_out", "H", "W", "k")
TERMS = st.lists(st.tuples(st.integers(1, 20), st.lists(st.sampled_from(NAMES), max_size=3)), min_size=1, max_size=4)


def both(terms):
    poly, expression = 0, sympy.Integer(0)
    for coefficient, names in terms:
        term, symbolic = Poly.lift(coefficient), sympy.Integer(coefficient)
        for name in names:
            term, symbolic = term * Poly.var(name), symbolic * symbols.size_symbol(name)
        poly, expression = poly + term, expression + symbolic
    return poly, expression


@settings(max_examples=200, deadline=None)
@given(TERMS)
def test_printing_matches_sympy(terms):
    poly, expression = both(terms)
    assert str(poly) == str(expression)


@settings(max_examples=200, deadline=None)
@given(TERMS, TERMS, TERMS)
def test_ratio_text_matches_sympy_or_declines(top, bottom, shared):
    # A shared factor makes cancellation do something.
    (up, up_sympy), (down, down_sympy), (common, common_sympy) = both(top), both(bottom), both(shared)
    numerator, denominator = up * common, down * common
    try:
        text = ratio_text(numerator, denominator)
    except Unsupported:
        return
    assert text == str(sympy.factor(sympy.cancel(up_sympy * common_sympy / (down_sympy * common_sympy))))


def test_irreducible_factors_by_hand():
    c_in, c_out, h, w = (Poly.var(name) for name in ("C_in", "C_out", "H", "W"))
    # Hand: (C_in + C_out)(H*W + 9) multiplied out; the factors come back, in some order.
    product = (c_in + c_out) * (h * w + 9)
    assert sorted(map(str, irreducible_factors(product))) == ["C_in + C_out", "H*W + 9"]
    assert ratio_text(2 * product, 6 * c_in * (h * w + 9)) == "(C_in + C_out)/(3*C_in)"
    assert ratio_text(7, 14) == str(Fraction(1, 2))
