"""`neuronal jobs create --init-from MODEL --mode continue|fine_tune`: only what is given is
sent, so everything left out is the source model's (its data set, network, training)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from neuronal_client import JobInfo, NeuronalClient

from service.cli.errors import usage_error
from service.cli.job_spec import _batch_size, parse_layers, read_spec

MODES = ("continue", "fine_tune")


def warm_start_body(
    spec: Path | None,
    mode: str | None,
    layers: str | None,
    activation: str | None,
    optimizer: str | None,
    learning_rate: float | None,
    epochs: int | None,
    batch_size: str | None,
) -> tuple[str, dict[str, Any] | None, dict[str, Any]]:
    """(mode, network or None, training) of a warm-start job from the spec file and flags."""
    if mode not in MODES:
        usage_error("--mode", f"continue or fine_tune with --init-from, not {mode!r}")
    base = read_spec(spec)
    network = base.get("network") if isinstance(base.get("network"), dict) else None
    if layers is not None:
        network = {**(network or {}), "layers": parse_layers(layers, activation)}
    training = dict(base.get("training") or {})
    if optimizer is not None or learning_rate is not None:
        chosen = dict(training.get("optimizer") or {})
        if optimizer is not None:
            chosen = {"name": optimizer}
        if learning_rate is not None:
            chosen["learning_rate"] = learning_rate
        training["optimizer"] = chosen
    if batch_size is not None:
        training["batch_size"] = _batch_size(batch_size)
    if epochs is not None:
        training["epochs"] = epochs
    if "epochs" not in training:
        usage_error("--epochs", "the number of epochs to add to the source model's")
    return str(mode), network, training


def create_warm_start_job(
    client: NeuronalClient, model_id: str, dataset_id: str | None, body: tuple
) -> JobInfo:
    """Submit the warm-start job `warm_start_body` described."""
    mode, network, training = body
    return client.create_warm_start_job(
        model_id, mode, training, dataset_id=dataset_id, network=network
    )
