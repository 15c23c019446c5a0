"""Tests of costmodel.counts against a brute-force reference that counts one operation at a time.

The reference below shares no formula with the package: it pads the input by
TensorFlow's rules, enumerates every window position, and then walks every
kernel tap, input channel of the group and output channel, adding one per
multiply-add.  Positions over padding zeros are counted like any other, as the
counting convention in ``costmodel``'s docstring says.
"""

import dataclasses

import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

import costmodel
from costmodel import symbols
from costmodel.counts import Counts, count_layer, flops, macs, memory_bytes, output_shape, params
from costmodel.layer import ConvLayer

PROPERTY_SETTINGS = settings(max_examples=100, deadline=None)


# --------------------------------------------------------------------------------------------
# The brute-force reference
# --------------------------------------------------------------------------------------------


def padded_length(length: int, kernel: int, stride: int, dilation: int, padding) -> int:
    """Input length after TensorFlow's zero padding along one axis.

    'same' pads just enough that ceil(length/stride) windows fit
    (tf.nn.convolution's documented rule); 'valid' pads nothing; a number pads
    that many zeros on each side.
    """
    span = dilation * (kernel - 1) + 1
    if padding == "same":
        wanted = -(-length // stride)
        return length + max((wanted - 1) * stride + span - length, 0)
    if padding == "valid":
        return length
    return length + 2 * padding


def window_starts(length: int, kernel: int, stride: int, dilation: int, padding) -> list[int]:
    """Every position where the (dilated) kernel fits in the padded input, stride apart."""
    span = dilation * (kernel - 1) + 1
    extent = padded_length(length, kernel, stride, dilation, padding)
    return list(range(0, extent - span + 1, stride))


def axis_padding(padding, axis: int):
    if isinstance(padding, str):
        return padding
    return padding[axis] if isinstance(padding, tuple) else padding


def axis_value(value, axis: int) -> int:
    return value[axis] if isinstance(value, tuple) else value


@dataclasses.dataclass
class Reference:
    rows: int
    columns: int
    params: int
    macs: int
    flops: int
    output_elements: int
    memory_bytes: int


def reference_counts(spec: dict) -> Reference:
    """Count one layer by enumeration; ``spec`` holds ConvLayer's keyword arguments."""
    starts = [
        window_starts(
            spec[length],
            spec[kernel],
            axis_value(spec["stride"], axis),
            axis_value(spec["dilation"], axis),
            axis_padding(spec["padding"], axis),
        )
        for axis, (length, kernel) in enumerate((("height", "kernel_h"), ("width", "kernel_w")))
    ]
    groups = spec["groups"]
    in_per_group, out_per_group = spec["c_in"] // groups, spec["c_out"] // groups

    multiply_adds = 0
    for _image in range(spec["batch"]):
        for _row in starts[0]:
            for _column in starts[1]:
                for _tap_row in range(spec["kernel_h"]):
                    for _tap_column in range(spec["kernel_w"]):
                        for _group in range(groups):
                            for _in_channel in range(in_per_group):
                                for _out_channel in range(out_per_group):
                                    multiply_adds += 1

    weights = 0
    for _tap_row in range(spec["kernel_h"]):
        for _tap_column in range(spec["kernel_w"]):
            for _in_channel in range(in_per_group):
                for _out_channel in range(spec["c_out"]):
                    weights += 1
    bias = spec["c_out"] if spec["bias"] else 0

    outputs = spec["batch"] * len(starts[0]) * len(starts[1]) * spec["c_out"]
    inputs = spec["batch"] * spec["height"] * spec["width"] * spec["c_in"]
    return Reference(
        rows=len(starts[0]),
        columns=len(starts[1]),
        params=weights + bias,
        macs=multiply_adds,
        flops=2 * multiply_adds + (outputs if spec["bias"] else 0),
        output_elements=outputs,
        memory_bytes=(inputs + weights + bias + outputs) * spec["dtype_bytes"],
    )


def layer_spec(layer: ConvLayer) -> dict:
    """A numeric layer's fields, in the form reference_counts reads."""
    return {field.name: getattr(layer, field.name) for field in dataclasses.fields(ConvLayer)}


# --------------------------------------------------------------------------------------------
# Random small layers
# --------------------------------------------------------------------------------------------


def one_or_pair(values):
    return st.one_of(values, st.tuples(values, values))


@st.composite
def layer_specs(draw) -> dict:
    groups = draw(st.integers(1, 6))
    return {
        "kernel_h": draw(st.integers(1, 4)),
        "kernel_w": draw(st.integers(1, 4)),
        # Channels are whole multiples of groups, so every drawn layer is a legal grouping.
        "c_in": groups * draw(st.integers(1, 6 // groups)),
        "c_out": groups * draw(st.integers(1, 6 // groups)),
        "groups": groups,
        "stride": draw(one_or_pair(st.integers(1, 3))),
        "dilation": draw(one_or_pair(st.integers(1, 2))),
        "padding": draw(st.one_of(st.sampled_from(["same", "valid"]), one_or_pair(st.integers(0, 2)))),
        "bias": draw(st.booleans()),
        "height": draw(st.integers(1, 9)),
        "width": draw(st.integers(1, 9)),
        "batch": draw(st.integers(1, 2)),
        "dtype_bytes": draw(st.sampled_from([1, 2, 4, 8])),
    }


def fits(reference: Reference) -> bool:
    return reference.rows >= 1 and reference.columns >= 1


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(layer_specs())
def test_counts_match_brute_force(spec):
    expected = reference_counts(spec)
    if not fits(expected):
        # 'valid' and explicit padding can leave no room for the kernel. Such a layer is not
        # filtered out: ConvLayer must refuse it, which is itself the property under test.
        with pytest.raises(ValueError, match="does not fit"):
            ConvLayer(**spec)
        return
    layer = ConvLayer(**spec)
    assert output_shape(layer) == (spec["batch"], expected.rows, expected.columns, spec["c_out"])
    assert params(layer) == expected.params
    assert macs(layer) == expected.macs
    assert flops(layer) == expected.flops
    assert memory_bytes(layer) == expected.memory_bytes
    assert count_layer(layer) == Counts(
        params=expected.params,
        macs=expected.macs,
        flops=expected.flops,
        activation_elements=expected.output_elements,
        memory_bytes=expected.memory_bytes,
    )


def tensorflow_output_length(spec: dict, axis: int) -> int:
    """Output length by the closed forms TensorFlow documents (may be < 1: no room)."""
    length, kernel = (("height", "kernel_h"), ("width", "kernel_w"))[axis]
    stride = axis_value(spec["stride"], axis)
    span = axis_value(spec["dilation"], axis) * (spec[kernel] - 1) + 1
    padding = axis_padding(spec["padding"], axis)
    if padding == "same":
        return -(-spec[length] // stride)  # ceil(in / stride), whatever the kernel
    zeros = 0 if padding == "valid" else padding
    return (spec[length] + 2 * zeros - span) // stride + 1  # floor((in + 2p - span) / s) + 1


@PROPERTY_SETTINGS
@given(layer_specs())
def test_output_length_follows_tensorflow_formulas(spec):
    expected = reference_counts(spec)
    formulas = tuple(tensorflow_output_length(spec, axis) for axis in (0, 1))
    # The enumeration and the documented formulas agree (a check on the reference itself) ...
    assert tuple(max(length, 0) for length in formulas) == (expected.rows, expected.columns)
    if fits(expected):
        # ... and so does the package.
        assert ConvLayer(**spec).output_hw == formulas


@PROPERTY_SETTINGS
@given(layer_specs())
def test_symbolic_counts_evaluate_to_numeric_counts(spec):
    """One call gives the closed form: substituting H and W gives the numeric counts."""
    if not fits(reference_counts(spec)):
        return  # no numeric layer to compare with (test_counts_match_brute_force covers the refusal)
    symbolic = ConvLayer(**{**spec, "height": symbols.H, "width": symbols.W})
    numeric = ConvLayer(**spec)
    values = {symbols.H: spec["height"], symbols.W: spec["width"]}
    for name, symbolic_count in dataclasses.asdict(count_layer(symbolic)).items():
        assert sympy.S(symbolic_count).subs(values) == getattr(count_layer(numeric), name), name


@PROPERTY_SETTINGS
@given(layer_specs())
def test_counts_are_exact_integers(spec):
    if not fits(reference_counts(spec)):
        return
    for name, value in dataclasses.asdict(count_layer(ConvLayer(**spec))).items():
        assert type(value) is int, (name, value)


# --------------------------------------------------------------------------------------------
# A hand-computed example
# --------------------------------------------------------------------------------------------


def test_memory_and_intensity_by_hand():
    layer = ConvLayer(3, 3, c_in=2, c_out=4, height=5, width=5, padding="valid", bias=True, batch=2, dtype_bytes=4)
    counts = count_layer(layer)
    # Output: 'valid' 3x3 on 5x5 gives 3x3 positions; 2 images x 3 x 3 x 4 channels = 72.
    assert counts.activation_elements == 72
    # Parameters: 3*3*2*4 = 72 weights + 4 biases = 76.
    assert counts.params == 76
    # MACs: 2 images x 9 positions x 72 weights = 1296; FLOPs: 2 x 1296 + 72 bias adds = 2664.
    assert counts.macs == 1296
    assert counts.flops == 2664
    # Traffic: input 2*5*5*2 = 100, parameters 76, output 72 -> 248 elements x 4 bytes = 992.
    assert counts.memory_bytes == 992
    # Intensity: 2664 / 992 = 333/124 (divide both by 8), exactly.
    assert counts.arithmetic_intensity == sympy.Rational(333, 124)
    assert counts.as_dict()["arithmetic_intensity"] == sympy.Rational(333, 124)


def test_depthwise_intensity_is_about_two_flops_per_byte():
    # Mission, "roofline": depthwise 3x3 in fp32 has an intensity of about 2 FLOP/byte.
    # Hand: 64 channels on 32x32 -> FLOPs 2*32*32*9*64 = 1179648; traffic (65536 in + 576
    # weights + 65536 out) * 4 bytes = 526592; 1179648/526592 = 4608/2057 ~ 2.24.
    counts = count_layer(ConvLayer.depthwise(3, 3, channels=64, height=32, width=32))
    assert counts.arithmetic_intensity == sympy.Rational(4608, 2057)


def test_dense_intensity_is_a_few_hundred_flops_per_byte():
    # Mission, "roofline": a dense 3x3 with 128 channels has an intensity of a few hundred.
    # Hand, on 32x32: FLOPs 2*1024*9*128*128 = 301989888; traffic (131072 + 147456 + 131072)
    # * 4 = 1638400 bytes; ratio 301989888/1638400 = 294912/1600 = 4608/25 = 184.32.
    counts = count_layer(ConvLayer(3, 3, c_in=128, c_out=128, height=32, width=32))
    assert counts.arithmetic_intensity == sympy.Rational(4608, 25)


def test_flops_are_twice_macs_without_bias():
    # Convention (costmodel docstring): FLOPs = 2 x MACs, as TensorFlow's profiler counts.
    layer = ConvLayer(3, 3, c_in=symbols.C_IN, c_out=symbols.C_OUT)
    assert sympy.simplify(flops(layer) - 2 * macs(layer)) == 0


# --------------------------------------------------------------------------------------------
# Blocks
# --------------------------------------------------------------------------------------------

FACTORIZED_BLOCKS = [
    pytest.param((5, 5), "stack", {}, {}, id="5x5-stack"),
    pytest.param((7, 7), "stack", {"mid": 6}, {"stride": 2, "bias": True}, id="7x7-stack-mid6-s2"),
    pytest.param((3, 3), "stack", {"m": 2}, {"padding": "valid"}, id="3x3-stack-m2-valid"),
    pytest.param((5, 3), "asymmetric", {}, {"padding": (2, 1), "stride": (2, 3)}, id="5x3-asym"),
    pytest.param((3, 3), "depthwise-separable", {"multiplier": 2}, {"batch": 2}, id="dws-m2"),
    pytest.param((5, 5), "stack+asymmetric", {}, {"dilation": 2, "bias": True}, id="stack+asym"),
]


@pytest.mark.parametrize("kernel, scheme, options, layer_options", FACTORIZED_BLOCKS)
def test_block_counts_are_the_sum_of_its_layers(kernel, scheme, options, layer_options):
    layer = ConvLayer(*kernel, c_in=4, c_out=8, height=11, width=9, **layer_options)
    block = costmodel.factorize(layer, scheme, **options)
    references = [reference_counts(layer_spec(each)) for each in block.layers()]
    counts = block.counts()
    assert len(references) == block.depth
    for name in ("params", "macs", "flops", "memory_bytes"):
        assert getattr(counts, name) == sum(getattr(each, name) for each in references), name
    # Intermediate tensors count as written (and, in memory_bytes, read back): no fusion.
    assert counts.activation_elements == sum(each.output_elements for each in references)


def test_repeated_stage_counts_like_its_expansion():
    layer = ConvLayer(3, 3, c_in=8, c_out=8, height=6, width=6)
    repeated = costmodel.Block((costmodel.Stage(layer, 3),))
    expanded = costmodel.Block.of(layer, layer, layer)
    assert repeated.counts() == expanded.counts()
    assert repeated.depth == 3
    assert repeated.receptive_field == (7, 7)  # three 3x3: 1 + 3*2


@pytest.mark.parametrize(
    "layer_options",
    [
        {},
        {"c_in": 8, "c_out": 16, "height": 10, "width": 10, "bias": True},
        {"c_in": 3, "c_out": 5, "stride": 2, "batch": 2},
    ],
)
def test_symbolic_stack_at_k7_equals_numeric_7x7_stack(layer_options):
    symbolic = costmodel.savings(symbols.K, "stack", **layer_options).block
    numeric = costmodel.savings("7x7", "stack", **layer_options).block
    assert numeric.counts() != symbolic.counts()  # the symbolic one really depends on k
    for name, value in dataclasses.asdict(symbolic.counts()).items():
        difference = sympy.S(value).subs(symbols.K, 7) - getattr(numeric.counts(), name)
        assert sympy.simplify(difference) == 0, name
    assert sympy.S(symbolic.depth).subs(symbols.K, 7) == numeric.depth == 3
