"""Exact cost model for factorized convolutions.

Counting convention (used everywhere in this package)
-----------------------------------------------------
* **MAC**: one multiply-add, ``a += w * x``.  A k_h x k_w convolution from
  C_in to C_out channels with g groups does ``k_h*k_w*(C_in/g)*C_out`` MACs per
  output position; positions over padding zeros count like any other.
* **FLOPs** = 2 x MACs, plus one add per output element when the layer has a
  bias.  (TensorFlow's profiler counts a convolution as 2 x MACs.)
* **Parameters** = weights, plus ``C_out`` with a bias.
* **Counts are per call**: for the whole batch (default batch 1, i.e. per image).
* **Memory traffic** is the minimum: each layer reads its input once, its
  parameters once, and writes its output once; ``dtype_bytes`` per element.
  In a block, intermediate tensors are written and read back (no fusion).
* **Arithmetic intensity** = FLOPs / bytes of that minimal traffic.

Every count is exact: an ``int`` or a sympy expression in integers and
Rationals, never a float.  Sizes left out stay symbols, so one call gives the
number and the closed form.

>>> import costmodel
>>> result = costmodel.savings("5x5", scheme="stack", c_in=64, c_out=64)
>>> result.macs_ratio, result.macs_saving
(18/25, 7/25)

This package never imports TensorFlow, pandas or matplotlib.
"""

from costmodel.analysis import Savings, break_even_width, limit_of_ratio, savings
from costmodel.block import Block, Stage
from costmodel.counts import Counts, count_layer, flops, macs, memory_bytes, output_shape, params
from costmodel.kernel import parse_kernel
from costmodel.layer import ConvLayer
from costmodel.schemes import SCHEMES, Scheme, factorize

__all__ = [
    "Block",
    "ConvLayer",
    "Counts",
    "SCHEMES",
    "Savings",
    "Scheme",
    "Stage",
    "break_even_width",
    "count_layer",
    "factorize",
    "flops",
    "limit_of_ratio",
    "macs",
    "memory_bytes",
    "output_shape",
    "params",
    "parse_kernel",
    "savings",
]
