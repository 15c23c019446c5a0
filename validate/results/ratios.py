"""Ratios of stored times to the seed experiment's reference layer, conv3x3.

One definition, used by the run summary, the report's tables and its text.
"""

from __future__ import annotations

from collections.abc import Mapping

SEED_REFERENCE = "conv3x3"  # the seed's "theory vs 3x3" column divides by this one


def ratios_to_reference(values_by_layer: Mapping[str, float]) -> dict[str, float]:
    """Each layer type's value over conv3x3's, as the seed's "vs 3x3" columns; {} without conv3x3.

    >>> ratios_to_reference({"conv3x3": 2.0, "conv5x5": 5.0})
    {'conv3x3': 1.0, 'conv5x5': 2.5}
    """
    reference = values_by_layer.get(SEED_REFERENCE)
    if not reference:
        return {}
    return {layer: value / reference for layer, value in values_by_layer.items()}
