"""LiteRT (TensorFlow Lite with XNNPACK): conversion, the operator check, numerical agreement, the timed call."""

import numpy as np
import pytest

from costmodel.layer import ConvLayer
from validate.frameworks import litert

SIDE, CHANNELS = 8, 16
DENSE = ConvLayer(3, 3, c_in=CHANNELS, c_out=CHANNELS, height=SIDE, width=SIDE, padding="same")


@pytest.fixture(scope="module")
def stack():
    from validate.frameworks.keras_build import build_model, random_input

    model = build_model(DENSE, repeats=2, activation="relu")
    return model, random_input(DENSE, 2)


@pytest.mark.tensorflow
@pytest.mark.parametrize("mode", litert.MODES)
def test_a_stack_converts_to_builtin_kernels_only(stack, mode):
    model, inputs = stack
    converted = litert.convert(model, mode, inputs)
    assert converted.operators.count("CONV_2D") == 2
    assert not any(op in litert.FOREIGN_OPERATORS or op.startswith("Flex") for op in converted.operators)
    if mode == "int8":
        assert {"QUANTIZE", "DEQUANTIZE"}.isdisjoint(converted.operators)  # int8 in and out, nothing in float


@pytest.mark.tensorflow
def test_fp32_matches_keras_and_int8_stays_within_its_bound(stack):
    model, inputs = stack
    reference = np.asarray(model(inputs, training=False))
    outputs = {}
    for mode in litert.MODES:
        interpreter = litert.make_interpreter(litert.convert(model, mode, inputs).content, 1, inputs.shape)
        outputs[mode] = litert.run(interpreter, inputs)
    assert outputs["fp32"].shape == reference.shape
    assert litert.relative_error(outputs["fp32"], reference) < litert.FP32_TOLERANCE
    assert 0 < litert.relative_error(outputs["int8"], reference) < litert.int8_bound(["CONV_2D"] * 2)


@pytest.mark.tensorflow
def test_an_int8_softmax_over_many_classes_is_measured_over_what_its_output_can_represent():
    """A softmax's int8 output has a fixed step of 1/256: 1000 near-equal classes round to 0, within a step."""
    from validate.frameworks.keras_build import import_keras

    keras = import_keras()
    inputs = keras.Input((CHANNELS,))
    model = keras.Model(inputs, keras.layers.Dense(1000, activation="softmax")(inputs))
    sample = np.random.default_rng(0).standard_normal((1, CHANNELS)).astype(np.float32) * 0.01
    converted = litert.convert(model, "int8", sample)
    interpreter = litert.make_interpreter(converted.content, 1, sample.shape)
    reference = np.asarray(model(sample, training=False))
    assert litert.int8_output_half_range(interpreter) == pytest.approx(127.5 / 256)
    assert litert.relative_error(litert.run(interpreter, sample), reference) > 0.5  # over the values' spread
    checked = litert.check_outputs(model, interpreter, sample, converted)
    assert checked.within_bound and checked.output_error < checked.error_bound  # over what the output can hold


@pytest.mark.tensorflow
def test_a_concrete_function_conversion_is_refused_by_name():
    """The pitfall the issue measured: a concrete function keeps resource variables (READ_VARIABLE)."""
    converted = litert.Converted(b"", "fp32", ("VAR_HANDLE", "READ_VARIABLE", "CONV_2D"))
    with pytest.raises(litert.ConversionError, match="READ_VARIABLE, VAR_HANDLE"):
        litert.check_operators(converted)


def test_an_unknown_mode_names_the_valid_ones():
    with pytest.raises(ValueError, match="the litert backend has no mode 'graph'; its modes: fp32, int8"):
        litert.convert(object(), "graph", np.zeros(1))


class FakeInterpreter:
    """What invoke_call needs of an interpreter: its input details, set_tensor, invoke."""

    def __init__(self, dtype, quantization=(0.0, 0)):
        self.detail = {"index": 3, "dtype": dtype, "quantization": quantization, "shape": np.array([1, 2])}
        self.set, self.invoked = [], 0

    def get_input_details(self):
        return [self.detail]

    def set_tensor(self, index, value):
        self.set.append((index, value))

    def invoke(self):
        self.invoked += 1


def test_the_timed_call_is_invoke_alone_on_inputs_set_once():
    interpreter = FakeInterpreter(np.int8, quantization=(0.5, -3))
    call = litert.invoke_call(interpreter, np.array([[1.0, -1.0]], dtype=np.float32))
    for _ in range(3):
        call()
    assert interpreter.invoked == 3 and len(interpreter.set) == 1
    index, value = interpreter.set[0]
    assert index == 3 and value.dtype == np.int8 and value.tolist() == [[-1, -5]]  # x / 0.5 - 3


def test_the_tf_lite_deprecation_warning_is_silenced_and_no_other(monkeypatch):
    import warnings

    class WarningInterpreter:
        def __init__(self, model_content, num_threads):
            # As tf.lite.Interpreter.__init__ warns in TensorFlow 2.21 (its text starts with spaces).
            deprecated = "    Warning: tf.lite.Interpreter is deprecated and is scheduled for deletion"
            warnings.warn(deprecated, UserWarning, stacklevel=2)
            warnings.warn("something else the interpreter says", UserWarning, stacklevel=2)

        def allocate_tensors(self):
            pass

    monkeypatch.setattr(litert, "interpreter_module", lambda: (WarningInterpreter, "tf.lite", "test"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        litert.make_interpreter(b"", threads=1)
    assert [str(warning.message) for warning in caught] == ["something else the interpreter says"]
