"""The MobileNet papers' published counts, and ours beside them.

The published figures are citations, typed in from the papers; every figure
beside them is computed by the cost model from a network read from Keras
(:mod:`validate.frameworks.network_reader`), never typed.  Published figures
are rounded (to 1 M mult-adds, to 0.1 M parameters), so a difference is only
a difference beyond that rounding; any difference over 1% is explained from
computed quantities: parameters that the papers do not count (batch norm's
scale, offset and moving statistics) and the classifier head.

>>> PUBLISHED[0].label, PUBLISHED[0].macs_millions
('MobileNet 1.0-224', 569)
"""

from __future__ import annotations

import dataclasses

from costmodel.network import Network

__all__ = ["PUBLISHED", "PublishedFigure", "compare_published"]

HOWARD = "Howard et al. 2017, MobileNets, arXiv:1704.04861"
SANDLER = "Sandler et al. 2018, MobileNetV2, arXiv:1801.04381"
#: Differences above this share are explained.
EXPLAIN_ABOVE = 0.01


@dataclasses.dataclass(frozen=True)
class PublishedFigure:
    """One row of a paper's table: the network it describes and its published counts (millions).

    ``model``, ``alpha``, ``size`` and ``rules`` say how to build our
    counterpart: a ``keras.applications`` constructor, its width multiplier
    and input resolution, and the rewrite rules applied to it (``'fuse'``
    for the full-convolution MobileNet of Table 4).
    """

    label: str
    source: str
    model: str
    alpha: float
    size: int
    macs_millions: float
    params_millions: float
    rules: str = ""


PUBLISHED = (
    PublishedFigure("MobileNet 1.0-224", f"{HOWARD}, Tables 6 and 7", "MobileNet", 1.0, 224, 569, 4.2),
    PublishedFigure("MobileNet 0.75-224", f"{HOWARD}, Table 6", "MobileNet", 0.75, 224, 325, 2.6),
    PublishedFigure("MobileNet 0.5-224", f"{HOWARD}, Table 6", "MobileNet", 0.5, 224, 149, 1.3),
    PublishedFigure("MobileNet 0.25-224", f"{HOWARD}, Table 6", "MobileNet", 0.25, 224, 41, 0.5),
    PublishedFigure("MobileNet 1.0-192", f"{HOWARD}, Table 7", "MobileNet", 1.0, 192, 418, 4.2),
    PublishedFigure("MobileNet 1.0-160", f"{HOWARD}, Table 7", "MobileNet", 1.0, 160, 290, 4.2),
    PublishedFigure("MobileNet 1.0-128", f"{HOWARD}, Table 7", "MobileNet", 1.0, 128, 186, 4.2),
    PublishedFigure(
        "Conv MobileNet (full 3x3 convolutions)", f"{HOWARD}, Table 4", "MobileNet", 1.0, 224, 4866, 29.3, rules="fuse"
    ),
    PublishedFigure("MobileNetV2 1.0-224", f"{SANDLER}, Table 4", "MobileNetV2", 1.0, 224, 300, 3.4),
)


def _rounding(published: float) -> float:
    """Half a unit of the published figure's last digit: 569 -> 0.5, 4.2 -> 0.05."""
    text = f"{published:g}"
    decimals = len(text.split(".")[1]) if "." in text else 0
    return 0.5 * 10**-decimals


def _truncated(value: float, published: float) -> float:
    """``value`` cut (not rounded) to the published figure's decimals: 3.471 -> 3.4 for 3.4."""
    text = f"{published:g}"
    decimals = len(text.split(".")[1]) if "." in text else 0
    scale = 10**decimals
    return int(value * scale) / scale


def _head(network: Network):
    """The classifier: the last convolution or dense layer when its output is 1 x 1 x classes or classes."""
    convs = network.conv_layers
    if not convs:
        return None
    last = convs[-1]
    return last if last.kind == "Dense" or tuple(last.output_shape[:2]) == (1, 1) else None


def _norm_params(network: Network) -> int:
    return sum(layer.params for layer in network.layers if "Normalization" in layer.kind)


def _explain_params(network: Network, published: float) -> str:
    ours = network.params / 1e6
    if abs(ours - published) <= _rounding(published):
        return f"within the published rounding (±{_rounding(published):g} M)"
    norm = _norm_params(network) / 1e6
    without = ours - norm
    parts = [
        f"batch norm holds {norm:.3f} M of ours (half of them moving statistics), which the paper "
        f"does not count: without it {without:.3f} M"
    ]
    if abs(without - published) <= _rounding(published):
        parts.append("within the published rounding")
    elif _truncated(without, published) == published:
        parts.append(
            f"{100 * (without / published - 1):+.1f}%, which the published figure matches "
            "truncated to its last digit, not rounded"
        )
    else:
        parts.append(f"{100 * (without / published - 1):+.1f}% that neither batch norm nor rounding explains")
    return "; ".join(parts)


def _explain_macs(network: Network, published: float) -> str:
    ours = network.macs / 1e6
    if abs(ours - published) <= _rounding(published):
        return f"within the published rounding (±{_rounding(published):g} M)"
    head = _head(network)
    if head is None:
        return "no classifier head to account for the difference"
    body = ours - head.macs / 1e6
    return (
        f"the classifier {head.name} does {head.macs / 1e6:.3f} M; without it {body:.1f} M "
        f"({100 * (body / published - 1):+.2f}%)"
    )


def compare_published(figure: PublishedFigure, network: Network) -> dict:
    """Our counts of ``figure``'s network beside the published ones, with an explanation over 1%."""
    macs, params = network.macs / 1e6, network.params / 1e6
    macs_diff, params_diff = macs / figure.macs_millions - 1, params / figure.params_millions - 1
    return {
        "network": figure.label,
        "source": figure.source,
        "published MACs (M)": figure.macs_millions,
        "our MACs (M)": macs,
        "MACs difference (%)": 100 * macs_diff,
        "published params (M)": figure.params_millions,
        "our params (M)": params,
        "params difference (%)": 100 * params_diff,
        "our conv+dense params (M)": network.totals()["conv_dense_params"] / 1e6,
        "why MACs differ": _explain_macs(network, figure.macs_millions) if abs(macs_diff) > EXPLAIN_ABOVE else "",
        "why params differ": (
            _explain_params(network, figure.params_millions) if abs(params_diff) > EXPLAIN_ABOVE else ""
        ),
    }
