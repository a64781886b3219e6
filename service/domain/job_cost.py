"""What a training job will cost a worker, estimated from its spec and its dataset's summary:
peak memory and time per epoch. The API refuses a job over this server's budgets at
submission, and the worker checks the same estimate before it loads anything.

Memory follows what the worker holds at its peak (checked against measured peak RSS by
tests/worker/test_job_cost.py): the decoded columns (float64, or one unicode string per
categorical cell) and the engine's own table of them, the model inputs and targets in the
training dtype, row indices, the parameters with their gradient, optimizer state, best
parameters and checkpoint copies, and the per-batch buffers (activations, deltas and scratch
of every layer for one training batch and for the evaluation chunks).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from service.core.config import Settings
from service.core.errors import InvalidInput, field_error
from service.domain.job_rules import input_width, validation_rows
from service.engine.optimizers import OPTIMIZERS
from service.engine.spec import n_outputs

EVAL_ROWS = 2048  # service.engine.training.EVAL_CHUNK: rows evaluated at once
DIVERGENCE_ROWS = 4096  # service.engine.training.DIVERGENCE_SAMPLE
ARRAYS_PER_LAYER = 3  # a, delta and scratch touched (z shares a, or work stays untouched)
SNAPSHOT_COPIES = 3
MIN_LABEL_CHARS = 8
MiB = 1 << 20


@dataclass(frozen=True)
class JobCost:
    """Estimated peak bytes (by part) and seconds per epoch of one training job."""

    data_bytes: int
    parameter_bytes: int
    batch_bytes: int
    seconds_per_epoch: float
    epochs: int

    @property
    def peak_bytes(self) -> int:
        return self.data_bytes + self.parameter_bytes + self.batch_bytes

    @property
    def seconds(self) -> float:
        return self.seconds_per_epoch * self.epochs


def estimate(
    dataset: Any, network: dict[str, Any], training: dict[str, Any], task: str, settings: Settings
) -> JobCost:
    """The cost of training normalized `network`/`training` specs on `dataset` (its row): of
    its largest task. A cross-validated job also runs k folds, each holding every row as
    loaded and training on the (k-1)/k outside it, a copy of them: a fold can need more
    memory than the final training on every row. The time is the final training's."""
    final = _task_cost(dataset, network, training, task, settings, int(dataset.n_rows))
    folds = (training.get("cross_validation") or {}).get("folds")
    if not folds:
        return final
    n = int(dataset.n_rows)
    fold = _task_cost(dataset, network, training, task, settings, n - n // int(folds))
    if fold.peak_bytes <= final.peak_bytes:
        return final
    return replace(fold, seconds_per_epoch=final.seconds_per_epoch)


def _task_cost(
    dataset: Any,
    network: dict[str, Any],
    training: dict[str, Any],
    task: str,
    settings: Settings,
    n: int,
) -> JobCost:
    """One task training on `n` of the dataset's rows (all of them, or a fold's)."""
    loaded = int(dataset.n_rows)
    features = dataset.features
    target = dataset.target
    n_in = input_width(features)
    classes = target.get("classes")
    n_out = n_outputs(network, task, len(classes) if classes else None)
    itemsize = np.dtype(training["dtype"]).itemsize
    counts = target.get("class_counts") if task == "classification" else None
    if counts and n < loaded:  # a fold's classes, in proportion (stratified or not)
        counts = [count * n // loaded for count in counts]
    n_val = validation_rows(n, training["validation_fraction"], counts)
    n_train = max(n - n_val, 1)
    units = [layer["units"] for layer in network["layers"]] + [n_out]
    sizes = [n_in, *units]
    weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=False))
    parameters = weights + sum(units)

    decoded = 0  # one copy of a row's columns
    for feature in features:
        if feature.get("kind") == "categorical":
            chars = max([MIN_LABEL_CHARS, *(len(str(t)) for t in feature.get("top") or [])])
            decoded += 4 * chars  # UCS-4
        else:
            decoded += 8  # float64
    per_row = 2 * decoded  # decoded and the engine's copy
    per_row += 8 + 4 * 8  # the target; order, split, shuffle and label indices
    per_row += (n_in + n_out) * itemsize  # model inputs and targets
    data = n * per_row
    if n < loaded:  # a fold: every row as loaded, then its rows taken out of them
        data += loaded * (decoded + 8)

    optimizer = _optimizer_arrays(training["optimizer"])
    best = 1 if training.get("early_stopping") else 0
    live = 2 + optimizer + best  # parameters, gradient, optimizer arrays, best parameters
    # a checkpoint (or the stored model) is the parameters and the state, saved: the .npz
    # buffer, its bytes and the database driver's copy exist at once
    saved = SNAPSHOT_COPIES * (1 + max(optimizer - 1, 0) + best)
    parameter_bytes = parameters * itemsize * (live + saved)
    parameter_bytes += weights * itemsize if training["l2"] else 0

    batch = n_train if training["batch_size"] == "full" else min(training["batch_size"], n_train)
    remainder = n_train % batch
    buffered_rows = batch + remainder + min(EVAL_ROWS, max(n_val, 1))
    buffered_rows += min(EVAL_ROWS, DIVERGENCE_ROWS, n_train)
    row_buffer = (ARRAYS_PER_LAYER * sum(units) + n_in + n_out + 1) * itemsize
    batch_bytes = buffered_rows * row_buffer

    steps = -(-n_train // batch)
    flops = 6.0 * weights * n_train + 2.0 * weights * n_val  # forward+backward, validation
    seconds = flops / settings.training_flops_per_second
    seconds += steps * len(units) * settings.training_seconds_per_layer_step
    return JobCost(data, parameter_bytes, batch_bytes, seconds, int(training["epochs"]))


def _optimizer_arrays(optimizer: dict[str, Any]) -> int:
    """Arrays of the parameters' size the optimizer keeps (its state and scratch)."""
    probe = np.zeros(3)
    instance = OPTIMIZERS[optimizer["name"]](probe, optimizer)
    return sum(
        1
        for value in vars(instance).values()
        if isinstance(value, np.ndarray) and value.shape == probe.shape and value is not probe
    )


def check_cost(cost: JobCost, training: dict[str, Any], settings: Settings) -> None:
    """Refuse a job over the per-job memory budget or the time limit, saying what to lower."""
    budget = settings.max_job_memory_bytes
    if cost.peak_bytes > budget:
        lower = _biggest_part(cost, training)
        raise InvalidInput(
            f"This job would need about {_size(cost.peak_bytes)} of memory in the worker "
            f"(data {_size(cost.data_bytes)}, parameters and optimizer state "
            f"{_size(cost.parameter_bytes)}, one batch {_size(cost.batch_bytes)}), over this "
            f"server's budget of {_size(budget)} per job (NEURONAL_MAX_JOB_MEMORY_BYTES); "
            f"{lower}.",
            errors=[field_error("training", "over the memory budget per job")],
        )
    limit = settings.max_estimated_training_seconds
    if cost.seconds > limit:
        raise InvalidInput(
            f"This job would train for about {_duration(cost.seconds)} ({cost.epochs} epochs "
            f"of about {_duration(cost.seconds_per_epoch)}), over this server's limit of "
            f"{_duration(limit)} per job (NEURONAL_MAX_ESTIMATED_TRAINING_SECONDS); lower "
            "training.epochs, use fewer or smaller layers, train on fewer rows, or use a "
            "larger training.batch_size (every batch has a fixed cost).",
            errors=[field_error("training.epochs", "the job would run past the time limit")],
        )


def _biggest_part(cost: JobCost, training: dict[str, Any]) -> str:
    float32 = ' and training.dtype "float32"' if training["dtype"] == "float64" else ""
    if cost.batch_bytes >= max(cost.data_bytes, cost.parameter_bytes):
        return f"lower training.batch_size (or use fewer units per layer){float32}"
    if cost.parameter_bytes >= cost.data_bytes:
        return f"use fewer or smaller layers (network.layers units){float32}"
    return f"train on fewer rows or columns{float32}"


def _size(n_bytes: float) -> str:
    return f"{n_bytes / 1024**3:.1f} GiB" if n_bytes >= 1024**3 else f"{n_bytes / MiB:.0f} MiB"


def _duration(seconds: float) -> str:
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.1f} s"
