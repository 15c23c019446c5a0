"""A Keras model as LiteRT (TensorFlow Lite) runs it: converted, checked, and invoked with XNNPACK.

The runtime people deploy MobileNets on.  Two modes:

``fp32``
    the model converted as it is; the interpreter's default XNNPACK delegate
    runs its float kernels.
``int8``
    full-integer post-training quantization: weights and activations int8,
    int8 input and output, calibrated on a representative dataset drawn from
    the same random inputs the model is timed on.

Conversion goes through a SavedModel (``model.export``), not a concrete
function: converting a Keras 3 model's concrete function keeps its weights as
resource variables, and the interpreter then runs READ_VARIABLE ops instead
of XNNPACK's kernels (measured 2.3 ms instead of 295 us on a 4-layer stack),
and int8 calibration fails.  :func:`check_operators` refuses such a model.

The interpreter is the maintained ``ai-edge-litert`` package where it is
installed, else ``tf.lite.Interpreter``; :func:`interpreter_info` says which.
Conversion and ``allocate_tensors`` happen once, outside any timed region;
:func:`invoke_call` returns the call that is timed: ``invoke()`` on inputs
already set.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import importlib
import os
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np

from validate.frameworks import crosscheck
from validate.frameworks.backends.tensorflow import import_tensorflow

MODES = ("fp32", "int8")
#: Operators that mean the model did not convert to LiteRT's own kernels.
FOREIGN_OPERATORS = ("READ_VARIABLE", "VAR_HANDLE", "ASSIGN_VARIABLE", "CALL_ONCE")
FLEX_PREFIX = "Flex"
#: The node an interpreter lists for each partition of the graph a delegate (XNNPACK) runs.
DELEGATE = "DELEGATE"
#: Representative samples for int8 calibration (random inputs, like the timed ones).
REPRESENTATIVE_SAMPLES = 8


class ConversionError(ValueError):
    """The model does not convert to LiteRT's builtin operators; the message names the operator."""


@dataclasses.dataclass(frozen=True)
class Converted:
    """A converted model: its flatbuffer, mode, its operators in execution order, how many XNNPACK runs."""

    content: bytes
    mode: str
    operators: tuple[str, ...]
    delegated: int = 0

    @property
    def delegated_nodes(self) -> str:
        """'8/8': the model's nodes XNNPACK took, of all its nodes."""
        return f"{self.delegated}/{len(self.operators)}"

    def operator_summary(self) -> str:
        """The operators and how many of each, in order of first use: 'CONV_2D x4, DEPTHWISE_CONV_2D x4'."""
        counts = collections.Counter(self.operators)
        return ", ".join(f"{name} x{count}" for name, count in counts.items())


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"the litert backend has no mode {mode!r}; its modes: {', '.join(MODES)}")


def convert(model, mode: str, sample_inputs: np.ndarray) -> Converted:
    """Convert a Keras model in ``mode``; ``sample_inputs`` (float32) seed int8's representative dataset.

    Raises :class:`ConversionError` naming the operator LiteRT lacks, or the
    foreign operator the converted model would run.
    """
    _check_mode(mode)
    tf = import_tensorflow()
    with tempfile.TemporaryDirectory(prefix="litert-") as folder, _native_log_discarded():
        model.export(folder, format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(folder)
        if mode == "int8":
            rng = np.random.default_rng(0)
            shape = sample_inputs.shape

            def representative() -> Iterable[list[np.ndarray]]:
                for _ in range(REPRESENTATIVE_SAMPLES):
                    yield [rng.standard_normal(shape).astype(np.float32)]

            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = representative
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
        try:
            content = converter.convert()
        except Exception as error:  # the converter raises its own ConverterError, and others
            raise ConversionError(f"LiteRT cannot convert {model.name} ({mode}): {_first_line(error)}") from None
    details = make_interpreter(content, threads=1)._get_ops_details()
    delegated, _ = delegated_nodes(details)
    own = tuple(detail["op_name"] for detail in details if detail["op_name"] != DELEGATE)
    converted = Converted(content, mode, own, delegated)
    check_operators(converted)
    return converted


@contextlib.contextmanager
def _native_log_discarded() -> Iterator[None]:
    """Silence the converter's C++ log (a dozen INFO lines per model) while it runs.

    It writes through absl straight to file descriptor 2, which neither
    TF_CPP_MIN_LOG_LEVEL nor Python's logging reaches, so descriptor 2 points
    at /dev/null meanwhile.  Nothing of a failure is lost: the converter puts
    its diagnosis in the exception it raises.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _first_line(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    ops = [line for line in lines if "op" in line.lower() and ("not supported" in line or "failed" in line)]
    return (ops or lines or [type(error).__name__])[0][:300]


def interpreter_module():
    """(the Interpreter class, the package that provides it, its version): ai-edge-litert, else tf.lite."""
    try:
        litert = importlib.import_module("ai_edge_litert.interpreter")
        package = importlib.import_module("ai_edge_litert")
        version = getattr(package, "__version__", None) or _distribution_version("ai-edge-litert")
        return litert.Interpreter, "ai-edge-litert", version
    except ImportError:
        tf = import_tensorflow()
        return tf.lite.Interpreter, "tf.lite", tf.__version__


def _distribution_version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


def interpreter_info() -> dict:
    """Which interpreter runs the models, for the results' metadata."""
    _, package, version = interpreter_module()
    return {"interpreter": package, "interpreter_version": version}


def make_interpreter(content: bytes, threads: int | None, input_shape: tuple[int, ...] | None = None):
    """An interpreter over ``content`` with ``threads`` threads (None: its default), tensors allocated.

    ``input_shape`` sets the batch (a Keras model converts with batch 1 where its batch was left open).
    """
    interpreter_class, _, _ = interpreter_module()
    with warnings.catch_warnings():
        # tf.lite.Interpreter warns at every construction that it is deprecated for ai-edge-litert: a
        # sweep builds hundreds, and the metadata already records which interpreter ran (interpreter_info).
        warnings.filterwarnings(
            "ignore", message=r"\s*Warning: tf.lite.Interpreter is deprecated", category=UserWarning
        )
        interpreter = interpreter_class(model_content=content, num_threads=threads)
    if input_shape is not None:
        (detail,) = interpreter.get_input_details()
        if tuple(detail["shape"]) != tuple(input_shape):
            interpreter.resize_tensor_input(detail["index"], list(input_shape))
    interpreter.allocate_tensors()
    return interpreter


def delegated_nodes(details: list[dict]) -> tuple[int, int]:
    """(nodes a DELEGATE node runs, the model's own nodes), from ``interpreter._get_ops_details()``.

    After ``allocate_tensors`` the interpreter lists the model's nodes and then
    one DELEGATE node per partition XNNPACK took.  A node belongs to a
    partition when everything it reads is the partition's input or made
    inside it; a tensor the partition hands out (its output) is not made
    inside, so a node that reads one runs outside, on LiteRT's own kernels.
    """
    own = [detail for detail in details if detail["op_name"] != DELEGATE]
    inside = set()
    for partition in (detail for detail in details if detail["op_name"] == DELEGATE):
        available, handed_out = set(partition["inputs"].tolist()), set(partition["outputs"].tolist())
        for detail in own:
            if set(detail["inputs"].tolist()) - {-1} <= available:  # -1: an optional input left out
                inside.add(detail["index"])
                available |= set(detail["outputs"].tolist()) - handed_out
    return len(inside), len(own)


def check_operators(converted: Converted) -> None:
    """Refuse a model that runs resource-variable or Flex (TensorFlow) operators instead of LiteRT's kernels."""
    foreign = [op for op in converted.operators if op in FOREIGN_OPERATORS or op.startswith(FLEX_PREFIX)]
    if foreign:
        raise ConversionError(
            f"the converted model runs {', '.join(sorted(set(foreign)))} ({converted.mode}): not LiteRT's "
            "builtin kernels; convert from a SavedModel (model.export), not a concrete function"
        )


def quantize(values: np.ndarray, detail: dict) -> np.ndarray:
    """float32 values as an int8 tensor with ``detail``'s scale and zero point."""
    scale, zero_point = detail["quantization"]
    return np.clip(np.round(values / scale + zero_point), -128, 127).astype(np.int8)


def dequantize(values: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero_point = detail["quantization"]
    return (values.astype(np.float32) - zero_point) * scale


def set_inputs(interpreter, inputs: np.ndarray) -> None:
    """Put ``inputs`` (float32) in the model's input tensor, quantized if the model takes int8."""
    (detail,) = interpreter.get_input_details()
    if detail["dtype"] == np.int8:
        inputs = quantize(inputs, detail)
    interpreter.set_tensor(detail["index"], inputs.astype(detail["dtype"]))


def run(interpreter, inputs: np.ndarray) -> np.ndarray:
    """One call on ``inputs``: the output as float32 (dequantized from int8)."""
    set_inputs(interpreter, inputs)
    interpreter.invoke()
    (detail,) = interpreter.get_output_details()
    output = interpreter.get_tensor(detail["index"])
    return dequantize(output, detail) if detail["dtype"] == np.int8 else output


def invoke_call(interpreter, inputs: np.ndarray) -> Callable[[], object]:
    """The timed call: ``invoke()`` on inputs set once, here (the copy is not timed)."""
    set_inputs(interpreter, inputs)
    return interpreter.invoke


def relative_error(output: np.ndarray, reference: np.ndarray, floor: float = 0.0) -> float:
    """max |output - reference| over max |reference| (at least ``floor``): how far a runtime's output is.

    >>> relative_error(np.array([0.0, 0.0]), np.array([0.001, 0.0]), floor=0.5)
    0.002
    """
    scale = max(float(np.max(np.abs(reference))), floor)
    return float(np.max(np.abs(output - reference))) / scale if scale > 0 else float(np.max(np.abs(output)))


def int8_output_half_range(interpreter) -> float:
    """Half the range an int8 output can represent: 127.5 steps of its scale (0 for a float output).

    The converter calibrates an output's scale to the values it saw, so this is
    about max |output|; but some operators fix it, whatever the values: a
    softmax's output is quantized in steps of 1/256 over [0, 1).
    """
    (detail,) = interpreter.get_output_details()
    if detail["dtype"] != np.int8:
        return 0.0
    scale, _ = detail["quantization"]
    return 127.5 * float(scale)


#: fp32 against Keras: the same float32 arithmetic, summed in another order by XNNPACK.
FP32_TOLERANCE = 1e-4
#: int8 rounds each tensor to 1/255 of its range: half a step, 1/510, per rounded tensor.
INT8_STEP = 1 / 255
#: Operators whose weights are rounded to int8 too.
WEIGHTED_OPERATORS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV", "CONV_3D"})


def int8_bound(operators: Sequence[str]) -> float:
    """The largest int8 error, over the output's range, a model running ``operators`` may show.

    The input is rounded once, every operator rounds its output, and an
    operator with weights rounds them too: each rounded tensor is off by up to
    half a step of its own range.  Ranges differ between tensors and errors
    carry through the operators that follow, so the bound allows each rounded
    tensor a whole step, twice the half step: 1.2% for one convolution (input,
    weights, output), 2.0% for two and 3.5% for four one after the other.

    >>> round(int8_bound(["CONV_2D"]), 4), round(int8_bound(["CONV_2D"] * 4), 4)
    (0.0118, 0.0353)
    """
    rounded = 1 + len(operators) + sum(operator in WEIGHTED_OPERATORS for operator in operators)
    return rounded * INT8_STEP


@dataclasses.dataclass(frozen=True)
class Checked:
    """A converted model and how far its output is from the Keras model's, with the bound it must keep."""

    converted: Converted
    output_error: float
    error_bound: float

    @property
    def within_bound(self) -> bool:
        return self.output_error <= self.error_bound

    def columns(self, prefix: str = "") -> dict:
        """The row's columns for this model (``prefix`` names its role: ``original_``, ``factorized_``)."""
        return {
            f"{prefix}operators": self.converted.operator_summary(),
            f"{prefix}delegated_nodes": self.converted.delegated_nodes,
            f"{prefix}output_error": self.output_error,
            f"{prefix}output_error_bound": self.error_bound,
        }


class OutputMismatchError(crosscheck.CrossCheckError):
    """The fp32 model computes another function than the Keras model it was converted from.

    A failed cross-check like any other (the row says ``cross-check failed: ...``
    and the run ends with exit status 1), not a measurement to keep.
    """


def check_outputs(model, interpreter, inputs: np.ndarray, converted: Converted) -> Checked:
    """The converted model's output on ``inputs`` against the Keras model's, within its mode's bound.

    fp32 past :data:`FP32_TOLERANCE` is a wrong conversion and raises
    :class:`OutputMismatchError`; int8 past :func:`int8_bound` is quantization
    error, kept and flagged by the caller, never dropped.
    """
    reference = np.asarray(model(inputs, training=False))
    # An int8 output is off by at least a step of its own scale: where the scale is fixed wider than the
    # values (a softmax over 1000 nearly equal classes, 0.001 each, in steps of 1/256), the error is measured
    # over the range the output can represent, not over the values' spread.
    floor = int8_output_half_range(interpreter) if converted.mode == "int8" else 0.0
    error = relative_error(run(interpreter, inputs), reference, floor)
    if converted.mode == "fp32":
        if not error <= FP32_TOLERANCE:
            raise OutputMismatchError(
                f"LiteRT fp32 output of {model.name} is {error:.2e} of its range away from Keras's "
                f"(tolerance {FP32_TOLERANCE:g})"
            )
        return Checked(converted, error, FP32_TOLERANCE)
    return Checked(converted, error, int8_bound(converted.operators))
