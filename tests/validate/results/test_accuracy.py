"""Scoring the latency model and the naive model on typed factorization rows."""

from validate.results.accuracy import score
from validate.results.schema import FACTORIZATIONS


def test_accuracy_without_the_naive_constant_scores_ratios_only():
    row = FACTORIZATIONS.row(
        {
            "model_time_ratio": 0.5,
            "measured_ratio": 0.55,
            "predicted_ratio": 0.2,
            "original_geomean_seconds": 0.01,
            "factorized_geomean_seconds": 0.0055,
            "model_original_seconds": 0.011,
            "model_factorized_seconds": 0.0055,
            "macs_original": 1000,
            "macs_factorized": 200,
        }
    )
    table = score([row], seconds_per_mac=None)
    assert {(entry["model"], entry["quantity"]) for entry in table} == {
        ("naive", "time ratio"),
        ("latency", "time ratio"),
        ("latency", "block latency"),
    }
