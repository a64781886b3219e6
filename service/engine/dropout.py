"""Inverted dropout: the rule of a `dropout` rate, the masks, and which inputs they drop.

A rate `p` (0 <= p < 1) zeroes each unit with probability `p` during training and scales the
kept ones by `1 / (1 - p)`, so the expected input of the next layer is unchanged and
prediction is the plain forward pass (dropout is the identity there). Masks come from the
run's seeded generator, the one a checkpoint saves, so a resumed run draws the same masks.

Where the rates apply: a dense layer's `dropout` drops that layer's outputs (the inputs of the
next layer); `network.input_dropout` drops the network's input features; a recurrent layer's
`dropout` drops its inputs, with one mask per sequence shared by every time step.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import SpecError


def _is_recurrent(layer: dict) -> bool:
    return layer.get("type", "dense") != "dense"


def dropout_rate(value: Any, field: str) -> float:
    """A rate `0 <= p < 1`, or `SpecError` naming `field`."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 1
    if not ok:
        raise SpecError(
            field,
            f"{field} must be a number from 0 up to (not including) 1, the fraction of units "
            f"dropped during training, not {value!r}.",
        )
    return float(value)


def check_input_dropout(network: dict) -> None:
    """`network.input_dropout` and a first recurrent layer's `dropout` drop the same inputs."""
    first = network["layers"][0] if network["layers"] else {}
    if "input_dropout" in network and _is_recurrent(first) and "dropout" in first:
        raise SpecError(
            "network.input_dropout",
            "network.input_dropout and network.layers[0].dropout both drop the inputs of "
            "the first recurrent layer; set only one of them.",
        )


def dense_rates(network: dict) -> list[float]:
    """The dropout rate of each dense weight layer's inputs, output layer included."""
    dense = [x for x in network["layers"] if not _is_recurrent(x)]
    recurrent = len(dense) < len(network["layers"])
    first = 0.0 if recurrent else network.get("input_dropout", 0.0)
    return [first, *(x.get("dropout", 0.0) for x in dense)]


def recurrent_rates(network: dict) -> list[float]:
    """The dropout rate of each recurrent layer's inputs."""
    layers = [x for x in network["layers"] if _is_recurrent(x)]
    rates = [x.get("dropout", 0.0) for x in layers]
    if rates and "input_dropout" in network:
        rates[0] = network["input_dropout"]
    return rates


def draw_mask(rng: np.random.Generator, out: np.ndarray, p: float) -> np.ndarray:
    """Fill `out` with 0 (probability `p`) or `1 / (1 - p)`, drawn from `rng`."""
    rng.random(dtype=out.dtype, out=out)
    np.greater_equal(out, p, out=out)
    out *= 1.0 / (1.0 - p)
    return out
