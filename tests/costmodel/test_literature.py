"""The published figures, exactly: each expected value cites its source.

Sources
-------
* Szegedy et al. 2016, "Rethinking the Inception Architecture for Computer
  Vision", arXiv:1512.00567, section 3 (3.1: larger kernels into stacks of
  smaller ones; 3.2: asymmetric n x 1 factorizations).  Their ratios assume
  equal input, intermediate and output widths.
* Howard et al. 2017, "MobileNets", arXiv:1704.04861, section 3.1, eq. 5:
  a depthwise k x k plus a pointwise 1x1 costs 1/N + 1/D_K^2 of the standard
  convolution (N output channels, D_K the kernel side).
* Hand derivations, written out next to the value.
"""

import pytest
import sympy

import costmodel
from costmodel import symbols
from costmodel.symbols import C_IN, C_OUT, MID, MULTIPLIER, K

EQUAL_WIDTH = 64  # Szegedy's setting: c_in == c_out (and the intermediate width, by default)

LITERATURE_RATIOS = [
    # Szegedy §3.1: a 5x5 replaced by two 3x3 costs (9+9)/25 = 18/25, "a 28% relative gain".
    pytest.param("5x5", "stack", {}, sympy.Rational(18, 25), id="5x5-two-3x3"),
    # Szegedy §3.2: 3x3 -> 1x3 then 3x1 is "33% cheaper": (3+3)/9 = 2/3.
    pytest.param("3x3", "asymmetric", {}, sympy.Rational(2, 3), id="3x3-1x3+3x1"),
    # Szegedy §3.2 again, the other order costs the same.
    pytest.param("3x3", "asymmetric", {"order": "kx1-first"}, sympy.Rational(2, 3), id="3x3-3x1+1x3"),
    # Szegedy §3.1: two 2x2 instead of a 3x3 "would save only 11%": (4+4)/9 = 8/9.
    pytest.param("3x3", "stack", {"m": 2}, sympy.Rational(8, 9), id="3x3-two-2x2"),
    # Szegedy §3.2: n x n -> 1 x n + n x 1 has cost ratio 2/n; n = 7: (7+7)/49 = 2/7.
    pytest.param("7x7", "asymmetric", {}, sympy.Rational(2, 7), id="7x7-1x7+7x1"),
    # Hand: three 3x3 layers instead of a 7x7, 3*9/49 = 27/49.
    pytest.param("7x7", "stack", {}, sympy.Rational(27, 49), id="7x7-three-3x3"),
    # Howard eq. 5 at N = 64, D_K = 3: 1/64 + 1/9 = (9 + 64)/576 = 73/576.
    pytest.param("3x3", "depthwise-separable", {}, sympy.Rational(73, 576), id="3x3-dws"),
    # Howard eq. 5 at N = 64, D_K = 5: 1/64 + 1/25 = (25 + 64)/1600 = 89/1600.
    pytest.param("5x5", "depthwise-separable", {}, sympy.Rational(89, 1600), id="5x5-dws"),
    # Hand: two 3x3 each split into 1x3 + 3x1, at equal widths 2 * (3+3)/25 = 12/25.
    pytest.param("5x5", "stack+asymmetric", {}, sympy.Rational(12, 25), id="5x5-stack+asym"),
]


@pytest.mark.parametrize("metric", ["params", "macs"])
@pytest.mark.parametrize("kernel, scheme, options, expected", LITERATURE_RATIOS)
def test_published_ratio(kernel, scheme, options, expected, metric):
    result = costmodel.savings(kernel, scheme, c_in=EQUAL_WIDTH, c_out=EQUAL_WIDTH, **options)
    ratio = getattr(result, f"{metric}_ratio")
    assert ratio == expected
    # Exact: a sympy Rational, never a Float.
    assert isinstance(ratio, sympy.Rational)


@pytest.mark.parametrize("metric", ["params", "macs"])
@pytest.mark.parametrize("kernel, scheme, options, expected", LITERATURE_RATIOS)
def test_saving_is_one_minus_ratio(kernel, scheme, options, expected, metric):
    result = costmodel.savings(kernel, scheme, c_in=EQUAL_WIDTH, c_out=EQUAL_WIDTH, **options)
    saving = getattr(result, f"{metric}_saving")
    assert saving == 1 - expected
    assert isinstance(saving, sympy.Rational)


@pytest.mark.parametrize(
    "kernel, scheme, options, quoted_saving",
    [
        ("5x5", "stack", {}, sympy.Rational(28, 100)),  # Szegedy §3.1: "28% relative gain"
        ("3x3", "asymmetric", {}, sympy.Rational(1, 3)),  # Szegedy §3.2: "33% cheaper"
        ("3x3", "stack", {"m": 2}, sympy.Rational(1, 9)),  # Szegedy §3.1: "only 11%" (1/9 = 11.1%)
    ],
)
def test_quoted_percentages(kernel, scheme, options, quoted_saving):
    saving = costmodel.savings(kernel, scheme, c_in=EQUAL_WIDTH, c_out=EQUAL_WIDTH, **options).macs_saving
    assert saving == quoted_saving


CLOSED_FORMS = [
    # Hand: 9*C_in*C_out + 9*C_out*C_out over 25*C_in*C_out (intermediate width C_out).
    pytest.param("5x5", "stack", {}, 9 * (C_IN + C_OUT) / (25 * C_IN), id="5x5-stack"),
    # Hand: 9*C_in*C_out + 2*9*C_out**2 over 49*C_in*C_out.
    pytest.param("7x7", "stack", {}, 9 * (C_IN + 2 * C_OUT) / (49 * C_IN), id="7x7-stack"),
    # Hand: 4*C_in*C_out + 4*C_out**2 over 9*C_in*C_out.
    pytest.param("3x3", "stack", {"m": 2}, 4 * (C_IN + C_OUT) / (9 * C_IN), id="3x3-stack-m2"),
    # Hand: 3*C_in*C_out + 3*C_out**2 over 9*C_in*C_out; at C_in = C_out: 2/3 (Szegedy §3.2).
    pytest.param("3x3", "asymmetric", {}, (C_IN + C_OUT) / (3 * C_IN), id="3x3-asym"),
    # Szegedy §3.2 in general: (C_in + C_out)/(k*C_in), 2/k at equal widths.
    pytest.param(K, "asymmetric", {}, (C_IN + C_OUT) / (K * C_IN), id="kxk-asym"),
    # Howard eq. 5: 1/N + 1/D_K^2, with N = C_out, D_K = 3.
    pytest.param("3x3", "depthwise-separable", {}, 1 / C_OUT + sympy.Rational(1, 9), id="3x3-dws"),
    # Hand: (k-1)/2 layers of 3x3: 9*C_in*C_out + ((k-1)/2 - 1)*9*C_out**2 over k**2*C_in*C_out.
    pytest.param(K, "stack", {}, 9 * (2 * C_IN + (K - 3) * C_OUT) / (2 * K**2 * C_IN), id="kxk-stack"),
    # Hand: 1x3 C_in->C_out, 3x1, then 1x3 and 3x1 C_out->C_out: (3*C_in + 9*C_out)/(25*C_in).
    pytest.param("5x5", "stack+asymmetric", {}, 3 * (C_IN + 3 * C_OUT) / (25 * C_IN), id="5x5-stack+asym"),
    # Hand: 9*C_mid*C_in + 9*C_mid*C_out over 25*C_in*C_out.
    pytest.param("5x5", "stack", {"mid": MID}, 9 * MID * (C_IN + C_OUT) / (25 * C_IN * C_OUT), id="5x5-stack-mid"),
    # Hand (Howard §3.1 with depth multiplier M): k^2*C_in*M + C_in*M*C_out over k^2*C_in*C_out.
    pytest.param(
        "3x3",
        "depthwise-separable",
        {"multiplier": MULTIPLIER},
        MULTIPLIER * (C_OUT + 9) / (9 * C_OUT),
        id="3x3-dws-multiplier",
    ),
]


@pytest.mark.parametrize("metric", ["params", "macs"])
@pytest.mark.parametrize("kernel, scheme, options, expected", CLOSED_FORMS)
def test_closed_form(kernel, scheme, options, expected, metric):
    result = costmodel.savings(kernel, scheme, **options)
    closed_form = getattr(result, f"{metric}_ratio_closed_form")
    assert sympy.simplify(closed_form - expected) == 0
    assert not closed_form.has(sympy.Float)


@pytest.mark.parametrize("kernel, scheme, options, expected", LITERATURE_RATIOS)
def test_closed_form_at_equal_widths_gives_the_published_ratio(kernel, scheme, options, expected):
    # The closed form is computed with the given widths replaced by symbols; putting the
    # numbers back must give the numeric ratio.
    result = costmodel.savings(kernel, scheme, c_in=EQUAL_WIDTH, c_out=EQUAL_WIDTH, **options)
    closed_form = result.macs_ratio_closed_form
    assert closed_form.free_symbols  # it really is a closed form, not the number again
    assert closed_form.subs({C_IN: EQUAL_WIDTH, C_OUT: EQUAL_WIDTH}) == expected


@pytest.mark.parametrize("metric", ["params", "macs"])
def test_depthwise_separable_is_one_over_c_out_plus_one_over_k_squared(metric):
    # Howard eq. 5, as a symbolic identity for every kernel side k and every width.
    result = costmodel.savings(K, "depthwise-separable")
    assert sympy.simplify(result.ratio(metric) - (1 / C_OUT + 1 / K**2)) == 0


@pytest.mark.parametrize("c_out", [256, 384, 512, 768, 1024])
@pytest.mark.parametrize("c_in", [32, 256])
def test_depthwise_separable_3x3_is_8_to_9_times_cheaper(c_in, c_out):
    # Howard §3.1: "8 to 9 times less computation than standard convolutions" for 3x3.
    ratio = costmodel.savings("3x3", "depthwise-separable", c_in=c_in, c_out=c_out).macs_ratio
    assert ratio == sympy.Rational(1, c_out) + sympy.Rational(1, 9)
    assert 8 < 1 / ratio < 9


def test_depthwise_separable_3x3_speedup_over_the_whole_width_range():
    # Same claim for every C_out in 256..1024 at once: 1/ratio = 9*C/(C + 9) grows with C,
    # from 2304/265 (8.69) at 256 to 9216/1033 (8.92) at 1024.
    closed_form = costmodel.savings("3x3", "depthwise-separable").macs_ratio_closed_form
    speedups = [1 / closed_form.subs(C_OUT, width) for width in range(256, 1025)]
    assert speedups[0] == sympy.Rational(2304, 265)
    assert speedups[-1] == sympy.Rational(9216, 1033)
    assert all(8 < speedup < 9 for speedup in speedups)


BREAK_EVEN = [
    # Hand: 9*w*(C_in + C_out) = 25*C_in*C_out.
    pytest.param("5x5", "stack", {}, 25 * C_IN * C_OUT / (9 * (C_IN + C_OUT)), id="5x5-stack"),
    # Hand: 3*w*(C_in + C_out) = 9*C_in*C_out.
    pytest.param("3x3", "asymmetric", {}, 3 * C_IN * C_OUT / (C_IN + C_OUT), id="3x3-asym"),
    # Hand: M*(9 + C_out)/(9*C_out) = 1 (the width option of this scheme is the multiplier).
    pytest.param("3x3", "depthwise-separable", {}, 9 * C_OUT / (C_OUT + 9), id="3x3-dws"),
    # Hand: 73*M/576 = 1 at C_in = C_out = 64.
    pytest.param("3x3", "depthwise-separable", {"c_in": 64, "c_out": 64}, sympy.Rational(576, 73), id="3x3-dws-64"),
]


@pytest.mark.parametrize("kernel, scheme, values, expected", BREAK_EVEN)
def test_break_even_width(kernel, scheme, values, expected):
    width = costmodel.break_even_width(kernel, scheme, **values)
    assert sympy.simplify(width - expected) == 0


@pytest.mark.parametrize("kernel, scheme, values, expected", BREAK_EVEN)
def test_ratio_is_exactly_one_at_the_break_even_width(kernel, scheme, values, expected):
    option = costmodel.SCHEMES[scheme].width_option
    width_symbol = {"mid": MID, "multiplier": MULTIPLIER}[option]
    ratio = costmodel.savings(kernel, scheme, **values, **{option: width_symbol}).macs_ratio
    assert ratio.has(width_symbol)
    assert sympy.simplify(ratio.subs(width_symbol, expected)) == 1


def test_break_even_in_whole_numbers():
    # Hand: at C_in = C_out = 18 the 5x5 break-even width is 25*18*18/(9*36) = 25, an integer:
    # the stack saves below it and costs more above it.
    assert costmodel.break_even_width("5x5", "stack", c_in=18, c_out=18) == 25
    ratios = [costmodel.savings("5x5", "stack", c_in=18, c_out=18, mid=mid).macs_ratio for mid in (24, 25, 26)]
    assert ratios == [sympy.Rational(24, 25), 1, sympy.Rational(26, 25)]


@pytest.mark.parametrize("side", [7, 9, 11])
def test_break_even_for_any_kernel_agrees_with_each_kernel(side):
    # The k x k closed form (a root of a quadratic in the width: the middle 3x3 layers cost
    # width**2 each) must give the same width as solving each kernel on its own.
    general = costmodel.break_even_width(K, "stack")
    specific = costmodel.break_even_width(f"{side}x{side}", "stack")
    assert sympy.simplify(general.subs(K, side) - specific) == 0


@pytest.mark.parametrize(
    "scheme, values, expected",
    [
        ("asymmetric", {}, 0),  # (C_in + C_out)/(k*C_in) -> 0
        ("asymmetric", {"c_in": 64, "c_out": 64}, 0),  # Szegedy §3.2: 2/n -> 0
        ("depthwise-separable", {}, 1 / C_OUT),  # Howard eq. 5: 1/C_out + 1/k^2 -> 1/C_out
        ("depthwise-separable", {"c_in": 64, "c_out": 64}, sympy.Rational(1, 64)),
        ("stack", {}, 0),  # 9*(2*C_in + (k-3)*C_out)/(2*k^2*C_in) ~ 9*C_out/(2*k*C_in) -> 0
        ("stack+asymmetric", {}, 0),
    ],
)
def test_limit_as_the_kernel_grows(scheme, values, expected):
    limit = costmodel.limit_of_ratio(scheme, **values)
    assert sympy.simplify(limit - expected) == 0


def test_asymmetric_ratio_is_two_over_k_at_equal_widths():
    # Szegedy §3.2: "n x 1 followed by 1 x n ... the computational cost saving increases
    # dramatically as n grows"; the ratio is 2/n.
    ratio = costmodel.savings(K, "asymmetric", c_in=EQUAL_WIDTH, c_out=EQUAL_WIDTH).macs_ratio
    assert sympy.simplify(ratio - 2 / K) == 0


@pytest.mark.parametrize("kernel, scheme, options, expected", LITERATURE_RATIOS)
def test_ratios_do_not_depend_on_the_image_size(kernel, scheme, options, expected):
    # 'same' padding, stride 1: every layer keeps H x W, which cancels (Szegedy's argument
    # counts per output position).
    result = costmodel.savings(
        kernel, scheme, c_in=EQUAL_WIDTH, c_out=EQUAL_WIDTH, height=17, width=12, batch=2, **options
    )
    assert result.macs_ratio == expected


def test_bias_changes_the_parameter_ratio_only_slightly():
    # Hand: 5x5 with bias, 64 -> 64: 25*64*64 + 64 = 102464; two 3x3 with bias:
    # 2*(9*64*64 + 64) = 73856; 73856/102464 = 1154/1601.  MACs ignore the bias: still 18/25.
    result = costmodel.savings("5x5", "stack", c_in=64, c_out=64, bias=True)
    assert result.params_ratio == sympy.Rational(1154, 1601)
    assert result.macs_ratio == sympy.Rational(18, 25)


def test_symbols_are_positive_integers():
    # The closed forms above rely on it: sympy cancels C_in/C_in only for nonzero symbols.
    for symbol in (K, C_IN, C_OUT, MID, MULTIPLIER, symbols.H, symbols.W):
        assert symbol.is_positive and symbol.is_integer
