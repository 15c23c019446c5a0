"""A sweep gives, configuration by configuration, exactly what ``savings`` gives one at a time.

The sweep evaluates the count formulas on whole grids (int64 when the largest corner fits, Python
integers past it); ``savings`` builds each configuration's layers in Python integers.  They must
agree everywhere, sizes up to 10^12 included, where int64 would have wrapped.
"""

import itertools
import re
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import costmodel
from costmodel.sweep import INT64_SAFE, sweep, sweep_arrays

SIZES = st.lists(st.integers(1, 10**12), min_size=1, max_size=3, unique=True)
SMALL = st.lists(st.integers(1, 40), min_size=1, max_size=3, unique=True)
CASES = st.sampled_from(
    [
        ("5x5", "stack", {}),
        ("3x3", "asymmetric", {}),
        ("7x7", "stack+asymmetric", {}),
        ("3x3", "depthwise-separable", {"multiplier": 2}),
        ("4x4", "stack", {"m": 2}),
        ("5x3", "asymmetric", {"order": "kx1-first"}),
    ]
)
STRUCTURE = st.fixed_dictionaries(
    {},
    optional={
        "stride": st.sampled_from([1, 2, (2, 3)]),
        "padding": st.sampled_from(["same", "valid", 1]),
        "dilation": st.sampled_from([1, 2]),
        "bias": st.booleans(),
    },
)


@settings(max_examples=40, deadline=None)
@given(case=CASES, structure=STRUCTURE, c_in=SIZES, c_out=SIZES, height=SMALL, batch=SIZES)
def test_sweep_equals_savings_one_configuration_at_a_time(case, structure, c_in, c_out, height, batch):
    kernel, scheme, options = case
    rows = sweep(
        [kernel], [scheme], c_in=c_in, c_out=c_out, height=height, width=17, batch=batch, **options, **structure
    )
    grid = list(itertools.product(c_in, c_out, height, batch))
    if len(rows) == 1 and len(grid) > 1:
        # One row for the whole grid: the factorization is refused for a reason no swept size
        # changes (a fixed height too small for the kernel), and savings refuses each one alike.
        for c_in_, c_out_, height_, batch_ in grid:
            with pytest.raises(ValueError, match=re.escape(rows[0]["error"])):
                costmodel.savings(
                    kernel,
                    scheme,
                    c_in=c_in_,
                    c_out=c_out_,
                    height=height_,
                    width=17,
                    batch=batch_,
                    **options,
                    **structure,
                )
        return
    assert len(rows) == len(grid)
    for row in rows:
        sizes = {name: row[name] for name in ("c_in", "c_out", "height", "width", "batch")}
        try:
            expected = costmodel.savings(kernel, scheme, **sizes, **options, **structure)
        except ValueError as error:  # the kernel does not fit this input: the sweep says so too
            # ... in the same words when the unfitting size is fixed (the sweep builds that layer too),
            # or in its own when the size is swept (it is a grid of lengths then, not one layer).
            assert "does not fit" in str(error)
            assert row["error"] in (str(error), "kernel does not fit the input")
            continue
        for metric in ("params", "macs"):
            before, after = getattr(expected.before, metric), getattr(expected.after, metric)
            assert (row[f"{metric}_before"], row[f"{metric}_after"]) == (before, after), metric
            assert row[f"{metric}_ratio"] == str(Fraction(after, before))


def test_int64_is_used_only_where_it_cannot_wrap():
    small = sweep_arrays(["5x5"], ["stack"], c_in=[8, 16], c_out=64)[0]
    huge = sweep_arrays(["5x5"], ["stack"], c_in=[10**6, 2 * 10**6], c_out=10**6, height=10**5, width=10**5)[0]
    assert small["macs_before"].dtype == np.int64
    assert huge["macs_before"].dtype == object  # 2.5e23 MACs: exact Python integers
    assert int(huge["macs_before"][0]) == 25 * 10**6 * 10**6 * 10**10 > INT64_SAFE
