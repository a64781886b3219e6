"""What `neuronal jobs create` sends: a --spec file's network and training, flags laid over
them, every malformed value a usage error that names its option."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from service.cli.errors import usage_error
from service.engine import ACTIVATIONS, OPTIMIZERS

RECURRENT = ("gru", "lstm", "rnn")  # the engine's recurrent layer types


def job_request(
    spec: Path | None,
    layers: str | None,
    activation: str | None,
    optimizer: str | None,
    learning_rate: float | None,
    epochs: int | None,
    batch_size: str | None,
    window: int | None = None,
    horizon: int | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(network, training) from a spec file, with any flags given laid over it."""
    base = read_spec(spec)
    network = _section(base, "network")
    training = _section(base, "training")
    if activation is not None and activation not in ACTIVATIONS:
        usage_error("--activation", f"one of {', '.join(ACTIVATIONS)}, not {activation!r}")
    if optimizer is not None and optimizer not in OPTIMIZERS:
        usage_error("--optimizer", f"one of {', '.join(OPTIMIZERS)}, not {optimizer!r}")
    if layers is not None or "layers" not in network:
        network["layers"] = parse_layers(layers or "64", activation)
    elif activation is not None:
        network["layers"] = [
            layer
            if layer.get("type", "dense") in RECURRENT
            else {**layer, "activation": activation}
            for layer in network["layers"]
        ]
    if window is not None or horizon is not None:
        sequence = dict(training.get("sequence") or {})
        sequence.update({k: v for k, v in (("window", window), ("horizon", horizon)) if v})
        training["sequence"] = sequence
    chosen = dict(training.get("optimizer") or {"name": "adam", "learning_rate": 0.001})
    if optimizer is not None and optimizer != chosen.get("name"):
        chosen = {"name": optimizer, "learning_rate": chosen.get("learning_rate", 0.001)}
    if learning_rate is not None:
        chosen["learning_rate"] = learning_rate
    training["optimizer"] = chosen
    training.setdefault("epochs", 20)
    training.setdefault("batch_size", 32)
    if epochs is not None:
        training["epochs"] = epochs
    if batch_size is not None:
        training["batch_size"] = _batch_size(batch_size)
    return network, training


def read_spec(spec: Path | None) -> dict[str, Any]:
    """The JSON object of a --spec file ({} without one); a usage error if it is not one."""
    if spec is None:
        return {}
    try:
        base = json.loads(spec.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        usage_error("--spec", f"a JSON file in UTF-8; {spec} is not text")
    except json.JSONDecodeError as exc:
        usage_error(
            "--spec",
            f"a JSON object such as {SPEC_EXAMPLE}; {spec} line {exc.lineno} column "
            f"{exc.colno}: {exc.msg}",
        )
    if not isinstance(base, dict):
        usage_error("--spec", f"a JSON object such as {SPEC_EXAMPLE}, not a {type(base).__name__}")
    return base


def _section(base: dict[str, Any], name: str) -> dict[str, Any]:
    value = base.get(name) or {}
    if not isinstance(value, dict):
        usage_error("--spec", f'"{name}" to be a JSON object, not {json.dumps(value)[:40]}')
    return dict(value)


def parse_layers(text: str, activation: str | None) -> list[dict[str, Any]]:
    """`--layers`: dense units (`64,32`) and recurrent `type:units` entries (`lstm:32,16`)."""
    layers: list[dict[str, Any]] = []
    for entry in (part.strip() for part in text.split(",")):
        kind, _, units = entry.rpartition(":")
        if (kind and kind not in RECURRENT) or not units.isdigit():
            usage_error(
                "--layers",
                "whole numbers of units (64,32) or recurrent type:units entries "
                f"({', '.join(f'{k}:32' for k in RECURRENT)}); not {text!r}",
            )
        if kind:
            layers.append({"type": kind, "units": int(units)})
        else:
            layers.append({"units": int(units), "activation": activation or "relu"})
    return layers


def _batch_size(value: str) -> int | str:
    if value == "full":
        return value
    if not value.strip().isdigit() or int(value) < 1:
        usage_error("--batch-size", f"a whole number of rows (e.g. 32) or 'full', not {value!r}")
    return int(value)


SPEC_EXAMPLE = '{"network": {"layers": [...]}, "training": {"epochs": 20}}'
