"""``validate calibrate``: measure a device's ceilings and overheads, fit the latency model.

Everything is timed *relative to one reference stack* (:data:`REFERENCE`),
interleaved with it as the sweep interleaves an original and its
factorization (:mod:`validate.harness.relative`): the machine's drift over
the calibration's minute or two cancels from every measurement, and the
reference's median over the whole run sets the common scale.

Microbenchmarks, each timed in the backend's natural mode (``graph``: see
:mod:`validate.frameworks.backends`) like every other measurement:

* **compute**: a large float32 matrix product (2n³ FLOPs) and a large dense
  3x3 convolution; the peak is the fastest rate measured, these two or any
  calibration layer's (:func:`peak_ceiling`), so that it is a ceiling;
* **bandwidth**: an element-wise multiply, which reads and writes every
  element once, over 4 and 16 MiB tensors: the slope between the two sizes
  (bytes / extra seconds) leaves the fixed cost of the call out.  Larger
  tensors measure the operating system's page faults on fresh output
  buffers more than the memory system, smaller ones the call overhead;
* **overheads**: stacks of 1 and of 32 tiny convolutions (1x1, one channel,
  one pixel): ``t(R) = call + R x op``, so two stack depths give both; and
  in each cell, its anchor alone against its stack of ``CALIBRATION_REPEATS``
  gives the call's cost at that cell's tensor sizes.  The call's cost is
  then fitted as a line in the bytes handed in and out
  (:func:`costmodel.latency.calibration.fit_call_overhead`).

Then a calibration set of conv layers of every kind (dense k x k, pointwise
1x1, depthwise, asymmetric 1 x k / k x 1) is measured as stacks of
``CALIBRATION_REPEATS`` layers, and :func:`costmodel.latency.calibration.fit_profile`
fits one efficiency curve per kind and, where cross-validation finds they
predict better, a kernel factor per kernel shape.  The calibration set has the
preset's channel widths at sizes no experiment preset uses, so no calibration
layer has the width and size of a layer the factorization sweep scores: the
sweep never scores a configuration the model was fitted on (checked in
:func:`assert_held_out`).

For whole networks, the calibration set also holds cells in the network regime
(:data:`NETWORK_REGIME_WIDTHS`: batch 1, a few pixels, hundreds of channels,
where a network's last stages run and the sweep's cells never go), and the
microbenchmarks time chains of batch norms, activations and element-wise
layers (:mod:`validate.experiments.layer_overheads`): each signature's fixed
seconds.  Last, the probe network of :mod:`validate.experiments.fusion_probe`
is traced once with TensorFlow's profiler: which kernels each kind of layer
runs after Grappler's and oneDNN's fusions (the profile's ``layer_kernels``).
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

from costmodel import ConvLayer
from costmodel.block import Block, layers_of
from costmodel.counts import count_layer
from costmodel.latency import DeviceProfile, channel_width, layer_kind, tensor_bytes
from costmodel.latency.calibration import Observation, fit_call_overhead, fit_profile, fit_seconds_per_mac, residuals
from validate.experiments import fusion_probe, layer_overheads, plans
from validate.frameworks import keras_build
from validate.frameworks.backends import Backend
from validate.harness.relative import RelativeTime, RelativeTimer, RelativeTimes
from validate.harness.timing import TimingPolicy

CALIBRATION_REPEATS = 4
CALIBRATION_BATCH = 8
MATMUL_SIDE = 1024
BANDWIDTH_ELEMENTS = (1024 * 1024, 4 * 1024 * 1024)  # 4 and 16 MiB of float32
# The op overhead is the slope between the two stacks.  With 32 ops, their 100-300 us stood against a
# call of 250 us and the slope moved from 3.7 to 9.1 us per op between three fresh calibrations; with 256
# it stayed within 7.1-8.0 us (docs/networks.md), and a network runs hundreds of ops.
TINY_STACKS = (1, 256)
# The calibration measures a preset's own channel widths, at sizes that no experiment preset uses
# (so no calibration layer has the width and size of a scored one: assert_held_out) and that
# bracket the preset's sizes.  Widths matter more than anything else to interpolate well: oneDNN's
# kernels change algorithm from one width to another (docs/latency.md).  The full preset is
# calibrated as the default one, and its other widths and sizes are flagged as extrapolations.
CALIBRATION_SIZES = {"quick": (12, 24, 40), "default": (12, 24, 40), "gpu": (24, 48, 80)}
# Rounds per pair: past about 40 the pair's interval narrows slower than the calibration's time grows.
CALIBRATION_MAX_ROUNDS = 40
# Every calibration measurement is timed interleaved with this stack (validate.harness.relative).
REFERENCE = ConvLayer(3, 3, c_in=48, c_out=48, height=12, width=12, batch=CALIBRATION_BATCH)
PEAK_CONV = ConvLayer(3, 3, c_in=128, c_out=128, height=32, width=32, batch=CALIBRATION_BATCH)
TINY = ConvLayer(1, 1, c_in=1, c_out=1, height=1, width=1, batch=1)
CALIBRATION_KERNELS = {
    "dense": [(3, 3), (5, 5), (7, 7), (2, 2)],
    "pointwise": [(1, 1)],
    "depthwise": [(3, 3), (5, 5), (7, 7)],
    "asymmetric": [(1, 3), (3, 1), (1, 7), (7, 1)],
}


# The network regime: a network runs at batch 1, and its last stages hold hundreds of channels on a
# few pixels, where a layer's weights outweigh its activations and the matrix kernel has a handful of
# rows.  The layer sweep's cells never go there, and the model predicted such layers at 0.47-0.82 of
# their measured time (benchmarks/bench_network_regime.py, docs/networks.md).  These cells measure the
# kernel shapes networks and their rewrites run, at widths no benchmark network has (200, 400 and 720
# channels: checked by tests/validate/experiments/test_network_regime_held_out.py), so the kernel
# factors interpolate there instead of clamping at the layer sweep's edge.
NETWORK_REGIME_BATCH = 1
NETWORK_REGIME_WIDTHS = (200, 400, 720)
NETWORK_REGIME_SIZES = (3, 5, 9)
NETWORK_REGIME_KERNELS = {
    "dense": [(3, 3)],
    "pointwise": [(1, 1)],
    "depthwise": [(3, 3)],
    "asymmetric": [(1, 3), (3, 1)],
}


def _grid(kernels: dict, widths, sizes, batch: int) -> list[ConvLayer]:
    """Every kind x kernel x width x size, at one batch, 'same' padded, channels in = channels out."""
    layers = []
    for (kind, shapes), channels, size in itertools.product(kernels.items(), widths, sizes):
        for kernel_h, kernel_w in shapes:
            common: dict[str, Any] = {"height": size, "width": size, "batch": batch, "padding": "same"}
            if kind == "depthwise":
                layers.append(ConvLayer.depthwise(kernel_h, kernel_w, channels, **common))
            else:
                layers.append(ConvLayer(kernel_h, kernel_w, c_in=channels, c_out=channels, **common))
    return layers


def calibration_layers(profile_name: str) -> list[ConvLayer]:
    """The calibration set: every kind x kernel x the preset's channel widths x held-out sizes,
    then the network regime's cells."""
    name = profile_name if profile_name in CALIBRATION_SIZES else "default"
    sweep_regime = _grid(CALIBRATION_KERNELS, plans.PRESETS[name].channels, CALIBRATION_SIZES[name], CALIBRATION_BATCH)
    network_regime = _grid(NETWORK_REGIME_KERNELS, NETWORK_REGIME_WIDTHS, NETWORK_REGIME_SIZES, NETWORK_REGIME_BATCH)
    return sweep_regime + network_regime


def assert_held_out(layers: list[ConvLayer]) -> None:
    """Refuse a calibration set that shares a layer shape with any experiment preset's grid."""
    scored = {
        (channels, size) for chosen in plans.PRESETS.values() for channels in chosen.channels for size in chosen.sizes
    }
    shared = [layer.describe() for layer in layers if (layer.c_in, layer.height) in scored]
    if shared:
        raise ValueError(f"calibration layers {shared[:3]} share shapes with the scored sweep")


def _time_microbenchmarks(timer: RelativeTimer, backend: Backend) -> None:
    timer.time("matmul", backend.matmul_call(MATMUL_SIDE))
    timer.time("conv", stack_call(backend, PEAK_CONV, 1))
    for elements in BANDWIDTH_ELEMENTS:
        timer.time(f"scale {elements}", backend.scale_call(elements))
    for repeats in TINY_STACKS:
        timer.time(f"tiny stack {repeats}", stack_call(backend, TINY, repeats))
    if backend.traces_kernels:  # what a network's other layers cost: TensorFlow's kernels (layer_overheads)
        for name, (signature, links) in layer_overheads.chains().items():
            model = layer_overheads.chain_model(signature, links)
            timer.time(name, backend.compiled_call(model, layer_overheads.chain_input(), "graph", 1))


def compute_rate(times: RelativeTimes) -> dict:
    """Achieved FLOP/s of a large matrix product and of a large dense convolution."""
    matmul_rate = 2 * MATMUL_SIDE**3 / times.seconds("matmul")
    conv_rate = float(count_layer(PEAK_CONV).flops) / times.seconds("conv")
    return {
        "matmul_flops_per_second": matmul_rate,
        "conv_flops_per_second": conv_rate,
        "peak_flops_per_second": max(matmul_rate, conv_rate),
    }


def bandwidth(times: RelativeTimes) -> dict:
    """Achieved bytes/s of an element-wise op: every element read once and written once."""
    seconds = [times.seconds(f"scale {elements}") for elements in BANDWIDTH_ELEMENTS]
    moved = 2 * 4 * (BANDWIDTH_ELEMENTS[1] - BANDWIDTH_ELEMENTS[0])
    extra = seconds[1] - seconds[0]
    if not extra > 0:
        raise RuntimeError(
            f"the larger copy was not slower ({seconds}); the machine is too noisy to measure bandwidth now"
        )
    return {"bandwidth_bytes_per_second": moved / extra}


def overheads(times: RelativeTimes) -> dict:
    """Fixed cost per graph call and per op, from stacks of 1 and 256 one-pixel convolutions."""
    short, long = (times.seconds(f"tiny stack {repeats}") for repeats in TINY_STACKS)
    op_seconds = max(0.0, (long - short) / (TINY_STACKS[1] - TINY_STACKS[0]))
    return {"op_overhead_seconds": op_seconds, "call_overhead_seconds": max(0.0, short - TINY_STACKS[0] * op_seconds)}


def stack_call(backend: Backend, unit: ConvLayer | Block, repeats: int):
    """A compiled graph-mode call of ``repeats`` copies of a layer or block, as the calibration times it."""
    model = keras_build.build_model(unit, repeats=repeats)
    batch = int(layers_of(unit)[0].batch)
    return backend.compiled_call(model, keras_build.random_input(unit, batch), "graph", batch)


def layer_name(layer: ConvLayer) -> str:
    """A calibration layer's name in the profile, e.g. '3x3 conv 12->12 40x40 b8'."""
    return f"{layer.describe()} {layer.height}x{layer.width} b{layer.batch}"


MODEL_FIELDS = (
    "peak_flops_per_second",
    "bandwidth_bytes_per_second",
    "op_overhead_seconds",
    "call_overhead_seconds",
    "call_seconds_per_byte",
)
CONFIDENCE_Z = 1.96  # a 95% interval's half-width in standard errors


def peak_ceiling(ceilings: dict, observations: list[Observation]) -> dict:
    """The peak FLOP/s as a ceiling: the fastest rate any measurement reached, microbenchmark or layer.

    A large matrix product is not always the fastest thing a library runs (a
    dense layer of the calibration can beat it), and a peak some layer exceeds
    is not a peak: efficiencies above 1 would mean nothing.  Each layer's rate
    is its stack's FLOPs over its seconds less the call's fixed cost.
    """
    rates = {"microbenchmark": ceilings["peak_flops_per_second"]}
    for observation in observations:
        call = ceilings["call_overhead_seconds"] + ceilings["call_seconds_per_byte"] * tensor_bytes(observation.layer)
        layer_seconds = observation.seconds - call
        if layer_seconds > 0:
            flops = float(count_layer(observation.layer).flops) * observation.repeats
            rates[layer_name(observation.layer)] = flops / layer_seconds
    fastest = max(rates, key=rates.__getitem__)
    return {"peak_flops_per_second": rates[fastest], "peak_measured_by": fastest}


def call_overheads(times: RelativeTimes, single_calls: dict[str, tuple[ConvLayer, RelativeTime]]) -> list[dict]:
    """Per cell, the call's fixed cost from its anchor's stack of R and the anchor alone.

    With r = t(1) / t(R): call = t(R) (R r - 1) / (R - 1); its error from r's 95% interval.
    """
    rows = []
    repeats = CALIBRATION_REPEATS
    for name, (anchor, alone) in single_calls.items():
        stack = times.seconds(name)
        half_width = (alone.ratio_ci_high - alone.ratio_ci_low) / 2
        rows.append({
            "anchor": name,
            "tensor_bytes": tensor_bytes(anchor),
            "seconds": stack * (repeats * alone.ratio - 1) / (repeats - 1),
            "error": stack * repeats / (repeats - 1) * half_width / CONFIDENCE_Z,
        })  # fmt: skip
    return rows


def cell_anchor(layers: list[ConvLayer]) -> ConvLayer:
    """The layer a cell's other layers are timed against: its dense 3x3, else its first layer."""
    dense = [layer for layer in layers if layer_kind(layer) == "dense" and layer.kernel == (3, 3)]
    return (dense or layers)[0]


def cells(layers: list[ConvLayer]) -> dict[tuple, list[ConvLayer]]:
    """The calibration layers by cell: one channel width, size and batch, every kernel shape."""
    grouped: dict[tuple, list[ConvLayer]] = {}
    for layer in layers:
        grouped.setdefault((channel_width(layer), layer.height, layer.width, layer.batch), []).append(layer)
    return grouped


def calibrate(
    device: str, profile_name: str, policy: TimingPolicy, progress=None, *, backend: Backend
) -> DeviceProfile:
    """Run every microbenchmark and the calibration set on one device, relative to references; fit.

    Two levels, so that every pair compares stacks of like size, as the sweep's
    pairs do: each cell's anchor (its dense 3x3) against the reference stack,
    and every other layer of the cell against its anchor.
    """
    layers = calibration_layers(profile_name)
    assert_held_out(layers)
    sync = backend.synchronizer(device)
    policy = dataclasses.replace(policy, max_samples=min(policy.max_samples, CALIBRATION_MAX_ROUNDS))
    within_cell: dict[str, tuple[str, RelativeTime]] = {}
    single_calls: dict[str, tuple[ConvLayer, RelativeTime]] = {}
    with backend.device_scope(device):
        timer = RelativeTimer(stack_call(backend, REFERENCE, CALIBRATION_REPEATS), policy=policy, sync=sync)
        _time_microbenchmarks(timer, backend)
        for cell_layers in cells(layers).values():
            anchor = cell_anchor(cell_layers)
            anchor_call = stack_call(backend, anchor, CALIBRATION_REPEATS)
            timer.time(layer_name(anchor), anchor_call)
            cell_timer = RelativeTimer(anchor_call, policy=policy, sync=sync)
            # The anchor alone against its stack: t(1) = call + l, t(R) = call + R l give the call's cost here.
            single_calls[layer_name(anchor)] = (
                anchor,
                cell_timer.time(f"{layer_name(anchor)} alone", stack_call(backend, anchor, 1)),
            )
            for layer in cell_layers:
                if progress:
                    progress.start(layer.describe())
                if layer is not anchor:
                    relative = cell_timer.time(layer_name(layer), stack_call(backend, layer, CALIBRATION_REPEATS))
                    within_cell[layer_name(layer)] = (layer_name(anchor), relative)
                if progress:
                    progress.advance(layer.describe())
    times = timer.result()

    def seconds(layer: ConvLayer) -> float:
        name = layer_name(layer)
        if name not in within_cell:
            return times.seconds(name)
        anchor_name, relative = within_cell[name]
        return relative.ratio * times.seconds(anchor_name)

    ceilings = {**compute_rate(times), **bandwidth(times), **overheads(times)}
    calls = call_overheads(times, single_calls)
    tiny = {"anchor": "tiny stacks", "tensor_bytes": tensor_bytes(TINY), "seconds": ceilings["call_overhead_seconds"]}
    calls.insert(0, {**tiny, "error": 0.0})  # its error: the fit's floor
    ceilings["call_overhead_seconds"], ceilings["call_seconds_per_byte"] = fit_call_overhead(
        *zip(*[(call["tensor_bytes"], call["seconds"], call["error"]) for call in calls], strict=True)
    )
    observations = [Observation(layer, CALIBRATION_REPEATS, seconds(layer)) for layer in layers]
    ceilings |= peak_ceiling(ceilings, observations)
    fitted = fit_profile(device, observations, **{key: ceilings[key] for key in MODEL_FIELDS})
    if backend.traces_kernels:  # the kernel trace reads TensorFlow's profiler: what TensorFlow runs
        with backend.device_scope(device):
            layer_kernels = fusion_probe.measure_layer_kernels()
        for signature, fixed in layer_overheads.fixed_seconds(times.seconds).items():
            if signature not in layer_kernels:  # a chain's cost is only used with the probe's kernel counts
                raise RuntimeError(f"the layer chain {signature!r} is no signature of the fusion probe")
            layer_kernels[signature]["fixed_seconds"] = fixed
    else:
        layer_kernels = {}
    fitted = dataclasses.replace(fitted, layer_kernels=layer_kernels)
    relative_times = [{**time.as_dict(), "relative_to": "reference"} for time in times.times.values()]
    relative_times += [{**time.as_dict(), "relative_to": anchor} for anchor, time in within_cell.values()]
    relative_times += [{**time.as_dict(), "relative_to": name} for name, (_, time) in single_calls.items()]
    extra = {
        "measurements": ceilings,
        "reference": {
            "layer": layer_name(REFERENCE),
            "repeats": CALIBRATION_REPEATS,
            "median_seconds": times.reference_seconds,
            "rounds": times.reference_rounds,
        },
        "relative_times": relative_times,
        "call_overheads": calls,
        "seconds_per_mac": fit_seconds_per_mac(observations),
        "calibration_residuals": residuals(observations, fitted),
        "calibration_profile": profile_name,
        "calibration_mode": backend.resolve_mode("graph"),
    }
    return DeviceProfile.from_dict({**fitted.as_dict(), **extra})
