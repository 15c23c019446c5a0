"""1-D, 3-D and transposed layers: counts against hand derivations, the schemes' closed forms, refusals."""

from __future__ import annotations

from fractions import Fraction

import pytest

from costmodel import ConvLayer, count_layer, factorize, savings
from costmodel.cli import main
from costmodel.kernel import parse_kernel_shape
from costmodel.sweep import sweep


def test_a_3d_layer_counts_every_axis():
    # valid, strides (1, 2, 2) on 6 x 10 x 10: 4 x 4 x 4 = 64 positions x 27 taps x 4 in x 8 out
    layer = ConvLayer(3, 3, c_in=4, c_out=8, rank=3, kernel_d=3, depth=6, height=10, width=10, stride=(1, 2, 2))
    layer = layer.replace(padding="valid")
    counts = count_layer(layer)
    assert (layer.output_d, layer.output_hw) == (4, (4, 4))
    assert (counts.params, counts.macs, counts.activation_elements) == (27 * 4 * 8, 64 * 27 * 4 * 8, 64 * 8)


def test_a_1d_layer_is_the_1xk_convolution_tensorflow_runs():
    one_d = ConvLayer(1, 5, c_in=4, c_out=6, rank=1, width=23, stride=2, padding="valid")
    two_d = ConvLayer(1, 5, c_in=4, c_out=6, height=1, width=23, stride=(1, 2), padding="valid")
    assert one_d.stride == (1, 2) and one_d.kernel_shape == (5,)
    assert count_layer(one_d) == count_layer(two_d)
    assert count_layer(one_d).macs == 10 * 5 * 4 * 6  # floor((23 - 5) / 2) + 1 = 10 positions


@pytest.mark.parametrize(
    "padding, expected",
    # Keras: same L*s; valid L*s + max(k - s, 0); explicit p: (L - 1)*s + k - 2p
    [("same", (10, 10)), ("valid", (11, 11)), (1, (9, 9))],
)
def test_transposed_output_and_scatter_macs(padding, expected):
    layer = ConvLayer(3, 3, c_in=4, c_out=2, height=5, width=5, stride=2, padding=padding, transposed=True)
    assert layer.output_hw == expected
    assert count_layer(layer).macs == 25 * 9 * 4 * 2  # every input position scatters the kernel


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(rank=1, height=3), "a 1-D layer runs along the width axis: height must be 1, got 3"),
        (dict(kernel_d=3), "kernel_d is an axis of 3-D layers only"),
        (dict(rank=4), "rank must be 1, 2 or 3, got 4"),
        (dict(transposed=1), "transposed must be True or False, got 1"),
    ],
)
def test_a_layer_of_the_wrong_rank_is_refused_by_field(changes, message):
    with pytest.raises((ValueError, TypeError), match=message):
        ConvLayer(1, 3, c_in=4, c_out=4, **{"height": 8, "width": 8, **changes})


K = [3, 5, 7]


@pytest.mark.parametrize("k", K)
def test_3d_closed_forms_at_equal_widths(k):
    sides = f"{k}x{k}x{k}"
    values = dict(c_in=64, c_out=64, depth=16, height=16, width=16)
    # docs/costmodel.md's table: asymmetric 3/k^2, 2plus1d (k+1)/k^2, depthwise-separable 1/C + 1/k^3
    assert Fraction(str(savings(sides, "asymmetric", **values).macs_ratio)) == Fraction(3, k * k)
    assert Fraction(str(savings(sides, "2plus1d", **values).macs_ratio)) == Fraction(k + 1, k * k)
    assert Fraction(str(savings(sides, "depthwise-separable", **values).macs_ratio)) == Fraction(1, 64) + Fraction(
        1, k**3
    )
    n = (k - 1) // 2  # stack of n 3x3x3 layers: n * 27 / k^3
    assert Fraction(str(savings(sides, "stack", **values).macs_ratio)) == Fraction(n * 27, k**3)


@pytest.mark.parametrize("k", K)
def test_1d_closed_forms_at_equal_widths(k):
    values = dict(rank=1, c_in=64, c_out=64, width=50)
    assert Fraction(str(savings(str(k), "depthwise-separable", **values).macs_ratio)) == Fraction(1, 64) + Fraction(
        1, k
    )
    assert Fraction(str(savings(str(k), "stack", **values).macs_ratio)) == Fraction((k - 1) // 2 * 3, k)


def test_3d_factorizations_keep_the_window_and_the_output():
    layer = ConvLayer(5, 5, c_in=8, c_out=8, rank=3, kernel_d=3, depth=9, height=11, width=11, stride=2)
    for scheme in ("asymmetric", "2plus1d", "depthwise-separable"):
        block = factorize(layer, scheme)  # factorize checks the receptive field and output itself
        assert block.receptive_field == (3, 5, 5)
        assert (block.last.output_d, block.last.output_hw) == (layer.output_d, layer.output_hw) == (5, (6, 6))


@pytest.mark.parametrize(
    "kernel, scheme, message",
    [
        (ConvLayer(3, 3, c_in=4, c_out=4, transposed=True), "stack", "not a transposed one"),
        (ConvLayer(3, 3, c_in=4, c_out=4), "2plus1d", "3x3 is 2-D"),
        (ConvLayer(1, 7, c_in=4, c_out=4, rank=1), "asymmetric", "a 1-D kernel 7 has one"),
    ],
)
def test_schemes_that_do_not_apply_say_why(kernel, scheme, message):
    with pytest.raises(ValueError, match=message):
        factorize(kernel, scheme)


def test_kernel_text_of_every_rank():
    assert parse_kernel_shape("3x3x3") == (3, 3, 3)
    assert parse_kernel_shape("7", rank=1) == (7,)
    assert parse_kernel_shape("7") == (7, 7)  # a bare number stays square without --rank
    with pytest.raises(ValueError, match="has 3 sides but rank=2"):
        parse_kernel_shape("3x3x3", rank=2)


def test_sweep_rows_of_every_rank():
    rows = sweep(["3x3x3", "3x3"], ["2plus1d"], c_in=64, c_out=64)
    assert rows[0]["macs_ratio"] == "4/9" and rows[0]["depth"] == 16
    assert "3x3 is 2-D" in rows[1]["error"]
    one_d = sweep(["5"], ["depthwise-separable"], rank=1, c_in=64, c_out=64)
    assert one_d[0]["macs_ratio"] == "69/320" and "height" not in one_d[0]
    with pytest.raises(ValueError, match="it has no height axis"):
        sweep(["5"], ["stack"], rank=1, height=8)


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["savings", "1x7", "--rank", "1", "--scheme", "stack"], "kernel '1x7' has 2 sides but rank=1"),
        (["sweep", "--kernels", "3,5", "--rank", "1", "--height", "8"], "it has no height axis"),
        (["savings", "3x3x3", "--scheme", "asymmetric", "--kernel-d", "3"], "unrecognized arguments"),
    ],
)
def test_the_command_line_refuses_in_one_line(capsys, argv, fragment):
    status = main(argv)
    out, err = capsys.readouterr()
    assert status == 2 and out == "" and len(err.splitlines()) == 1 and fragment in err
