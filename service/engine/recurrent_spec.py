"""The rules of recurrent layers, `training.bptt_steps` and `training.sequence`.

`spec.validate_spec` calls these; they live apart so the dense rules stay short. A layer is
`{"type": "rnn"|"gru"|"lstm", "units": n}` (`rnn` also takes `activation`, default `tanh`);
`type` defaults to `"dense"`. Recurrent layers come first, dense layers after them.
"""

from __future__ import annotations

from typing import Any

from .activations import ACTIVATIONS
from .dropout import dropout_rate
from .errors import SpecError

RECURRENT = ("gru", "lstm", "rnn")
LAYER_TYPES = ("dense", *RECURRENT)
GATES = {"rnn": 1, "gru": 3, "lstm": 4}
LAYER_KEYS = {"dense": ("activation", "dropout", "type", "units"),
              "rnn": ("activation", "dropout", "type", "units"),
              "gru": ("dropout", "type", "units"),
              "lstm": ("dropout", "type", "units")}  # fmt: skip
SEQUENCE_KEYS = ("horizon", "stride", "window")
LAYOUTS = ("table", "sequences", "series")
MAX_WINDOW = 10_000


def layer_type(layer: dict, field: str) -> str:
    """The layer's `type` (default `dense`), checked, plus its allowed keys."""
    kind = layer.get("type", "dense")
    if not isinstance(kind, str) or kind not in LAYER_TYPES:
        raise SpecError(
            f"{field}.type",
            f"{field}.type {kind!r} is not a layer type; choose one of: {', '.join(LAYER_TYPES)}.",
        )
    for key in layer:
        if key not in LAYER_KEYS[kind]:
            if key == "activation":
                raise SpecError(
                    f"{field}.activation",
                    f"{field}.activation is not a setting of a {kind} layer (its gates use "
                    "sigmoid and tanh); remove it, or use type rnn to choose an activation.",
                )
            raise SpecError(
                f"{field}.{key}",
                f"{field}.{key} is an unknown field of a {kind} layer; allowed fields are: "
                f"{', '.join(LAYER_KEYS[kind])}.",
            )
    return kind


def recurrent_layer(layer: dict, kind: str, units: int, field: str) -> dict:
    """The normalized recurrent layer; its `dropout` (on its inputs) only when set."""
    out = _recurrent_layer(layer, kind, units, field)
    if layer.get("dropout") is not None:
        out["dropout"] = dropout_rate(layer["dropout"], f"{field}.dropout")
    return out


def _recurrent_layer(layer: dict, kind: str, units: int, field: str) -> dict:
    if kind != "rnn":
        return {"type": kind, "units": units}
    activation = layer.get("activation", "tanh")
    if not isinstance(activation, str) or activation not in ACTIVATIONS:
        raise SpecError(
            f"{field}.activation",
            f"{field}.activation {activation!r} is not an activation; choose one of: "
            f"{', '.join(sorted(ACTIVATIONS))}.",
        )
    if activation == "softmax":
        raise SpecError(
            f"{field}.activation",
            f"{field}.activation softmax can only be the output activation; choose another "
            "activation for an rnn layer (tanh is usual).",
        )
    return {"type": "rnn", "units": units, "activation": activation}


def is_recurrent(layer: dict) -> bool:
    """True for a normalized recurrent layer."""
    return layer.get("type", "dense") in RECURRENT


def check_order(layers: list[dict]) -> None:
    """Recurrent layers first, dense layers after them."""
    seen_dense = None
    for i, layer in enumerate(layers):
        if not is_recurrent(layer):
            seen_dense = i if seen_dense is None else seen_dense
        elif seen_dense is not None:
            raise SpecError(
                f"network.layers[{i}].type",
                f"network.layers[{i}] is a {layer['type']} layer after the dense layer "
                f"network.layers[{seen_dense}]; recurrent layers (rnn, gru, lstm) must come "
                "first and dense layers after them.",
            )


def count_parameters(layers: list[dict], n_features: int, n_out: int) -> int:
    """Weights and biases of the whole network."""
    count, fan_in = 0, max(int(n_features), 1)
    for layer in layers:
        units = layer["units"]
        kind = layer.get("type", "dense")
        if kind in RECURRENT:
            gates = GATES[kind]
            count += (fan_in + units + 1) * gates * units + (units if kind == "gru" else 0)
        else:
            count += (fan_in + 1) * units
        fan_in = units
    return count + (fan_in + 1) * n_out


def bptt_steps(value: Any) -> int:
    """`training.bptt_steps`: a whole number of at least 1."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or value != int(value)
        or value < 1
    ):
        raise SpecError(
            "training.bptt_steps",
            "training.bptt_steps must be a whole number of at least 1 (how many time steps "
            "the gradient flows back through), or null for full backpropagation through "
            f"time, not {value!r}.",
        )
    return int(value)


def sequence(value: Any) -> dict:
    """`training.sequence`: `{window, horizon = 1, stride = 1}`, each a whole number >= 1."""
    if not isinstance(value, dict):
        raise SpecError(
            "training.sequence",
            'training.sequence must be an object like {"window": 24, "horizon": 1, '
            f'"stride": 1}}, not {type(value).__name__}.',
        )
    for key in value:
        if key not in SEQUENCE_KEYS:
            raise SpecError(
                f"training.sequence.{key}",
                f"training.sequence.{key} is an unknown field; allowed fields are: "
                f"{', '.join(SEQUENCE_KEYS)}.",
            )
    if "window" not in value:
        raise SpecError(
            "training.sequence.window",
            "training.sequence.window is required: how many past rows each prediction reads.",
        )
    out = {}
    for key, default in (("window", 1), ("horizon", 1), ("stride", 1)):
        item: Any = value.get(key, default)
        ok = isinstance(item, int | float) and not isinstance(item, bool)
        if not ok or item != int(item) or not 1 <= item <= MAX_WINDOW:
            raise SpecError(
                f"training.sequence.{key}",
                f"training.sequence.{key} must be a whole number from 1 to {MAX_WINDOW}, "
                f"not {item!r}.",
            )
        out[key] = int(item)
    return out


def check_recurrent(network: dict, training: dict) -> None:
    """Rules that join the two specs: truncation needs a recurrent layer."""
    if "bptt_steps" in training and not any(is_recurrent(x) for x in network["layers"]):
        raise SpecError(
            "training.bptt_steps",
            "training.bptt_steps truncates backpropagation through time, which needs a "
            "recurrent layer (rnn, gru or lstm) first in network.layers; remove it or add one.",
        )


def check_layout(network: dict, training: dict, layout: str) -> None:
    """Refuse a network that does not fit the data's layout (`table`, `sequences`, `series`)."""
    recurrent = any(is_recurrent(x) for x in network["layers"])
    windowed = training.get("sequence") is not None
    if layout == "table" and (recurrent or windowed):
        field = "network.layers" if recurrent else "training.sequence"
        raise SpecError(
            field,
            "Recurrent layers and training.sequence need sequence data (a 3-D array of "
            "sequences, or a time series); this data is a table of rows, so use dense layers.",
        )
    if layout == "sequences" and windowed:
        raise SpecError(
            "training.sequence",
            "training.sequence windows a time series; this data is already sequences, so "
            "remove training.sequence.",
        )
    if layout in ("sequences", "series") and not recurrent:
        raise SpecError(
            "network.layers",
            "A network for sequences needs a recurrent layer (rnn, gru or lstm) as "
            "network.layers[0]; dense layers then read its final state.",
        )
    if layout == "series" and not windowed:
        raise SpecError(
            "training.sequence",
            'A time series needs training.sequence, e.g. {"window": 24, "horizon": 1}, to '
            "turn its rows into samples.",
        )
