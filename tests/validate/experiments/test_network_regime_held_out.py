"""The calibration's network-regime cells stay held out from every network the benchmark scores.

The cells (batch 1, a few pixels, hundreds of channels) exist so that the
kernel factors interpolate where networks end; they must not *be* a scored
network's layers, or the benchmark would score the model on what it was
fitted to.  Their widths (200, 400, 720) are no layer width of any benchmark
network (DenseNet121 has every multiple of 32 from 64 to 1024).  Rewrites
keep the widths they rewrite (``fuse``, ``stack``, ``asymmetric`` and
``depthwise-separable`` all keep each convolution's input and output
channels), so the original networks are the ones to read.
"""

import pytest

from validate.experiments.calibrate import NETWORK_REGIME_WIDTHS, calibration_layers
from validate.experiments.network_benchmark import BENCHMARK

pytestmark = [pytest.mark.tensorflow, pytest.mark.slow]


def benchmark_networks():
    return sorted({(model, alpha, size) for configs in BENCHMARK.values() for model, alpha, size, _ in configs},
                  key=str)  # fmt: skip


@pytest.mark.parametrize("model, alpha, size", benchmark_networks(), ids=lambda value: str(value))
def test_no_benchmark_network_has_a_network_regime_width(model, alpha, size):
    from validate.frameworks import network_reader

    keras_model = network_reader.load_model(model, alpha=alpha, input_size=size, include_top=None)
    network = network_reader.read_network(keras_model, skip_unknown=False)
    widths = {width for layer in network.layers for conv in layer.convs for width in (conv.c_in, conv.c_out)}
    assert widths, f"{model} has no convolution"
    assert not widths & set(NETWORK_REGIME_WIDTHS)
    # and the cells are what the calibration runs at batch 1
    assert {layer.c_in for layer in calibration_layers("default") if layer.batch == 1} == set(NETWORK_REGIME_WIDTHS)
