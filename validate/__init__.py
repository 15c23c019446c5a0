"""Empirical validation of the cost model.

``validate`` measures real latencies of the costmodel's layers in Keras 3
(on TensorFlow, JAX or PyTorch: :mod:`validate.frameworks.backends`) and reports where
theory and measurement diverge.

The measuring core re-exported here is pure Python (numpy only) and never
imports TensorFlow: the clock and the device synchronisation are injected, so
the same loop times CPU or GPU code and is tested with a fake clock.

* :class:`Measurement` keeps raw per-call samples and derives the median, the
  IQR, a distribution-free 95% interval of the median and a noise flag.
* :class:`TimingPolicy` says how long to warm up and when to stop sampling.
* :func:`measure` times one function until its median is known to within the
  policy's target; :func:`measure_interleaved` times two alternately so that
  drift cancels in their ratio.
* :func:`paired_ratio_ci` gives the median of per-pair ratios of interleaved
  samples with a bootstrap interval; :func:`bootstrap_ratio_ci` the ratio of
  two medians, for samples that are not paired.
* :mod:`validate.cli` runs the experiments (``python -m validate``); only the
  modules that really run a framework import it, lazily.

Examples
--------
>>> import validate
>>> m = validate.measure(lambda: sum(range(100)), label="sum",
...                      policy=validate.TimingPolicy(budget_seconds=0.05))
>>> m.label, m.sample_count >= 1, m.stop_reason in ("converged", "budget", "max_samples")
('sum', True, True)
"""

from validate.harness.stats import Measurement, bootstrap_ratio_ci, paired_ratio_ci
from validate.harness.timing import TimingPolicy, measure, measure_interleaved

__all__ = [
    "Measurement",
    "TimingPolicy",
    "bootstrap_ratio_ci",
    "paired_ratio_ci",
    "measure",
    "measure_interleaved",
]
