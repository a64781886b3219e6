"""The training loop: `fit` turns raw data and two specs into a `Model` and its history.

Everything random (weight initialisation, the validation split, each epoch's shuffle) comes
from one `numpy.random.Generator` seeded by `training.seed`, so the same data, specs and seed
give the same history and weights. A checkpoint holds the parameters, optimizer state, the
generator's state, the schedule, the early-stopping state and the history so far; resuming
from it replays nothing and ends bit-identical to the uninterrupted run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .checkpoint import load_checkpoint
from .errors import InputError
from .model import Model
from .recurrent_spec import check_layout
from .run import Progress, Run
from .sequences import read_inputs
from .spec import validate_spec
from .targets import encode_labels, infer_task, regression_targets


def fit(
    X: Any,
    y: Any,
    network: dict,
    training: dict,
    *,
    task: str | None = None,
    features: list[dict] | None = None,
    on_epoch: Callable[[Progress], None] | None = None,
    resume: bytes | None = None,
    lengths: Any = None,
    groups: Any = None,
) -> tuple[Model, list[dict[str, Any]]]:
    """Train a network on raw rows `X` and targets `y`; return the model and per-epoch rows.

    `X` may also be sequences `(n, T, d)` (with `lengths`), or, with `training.sequence`,
    the rows of a time series in time order (`y` the target column, `groups` its series).
    """
    table, y, task, layout = read_inputs(X, y, training, features, lengths, groups, task)
    task = task or infer_task(y)
    classes, labels, targets = None, None, None
    if task == "classification":
        classes, labels = encode_labels(y)
        n_targets = len(labels)
    else:
        targets = regression_targets(y) if task == "regression" else None
        n_targets = len(targets) if targets is not None else table.n_rows
    if n_targets != table.n_rows:
        raise InputError(
            f"There are {table.n_rows} rows of features but {n_targets} target values; "
            "send one target per row.",
            feature="target",
        )
    net_spec, train_spec = validate_spec(
        network, training, task=task, n_features=len(table.names),
        n_classes=len(classes) if classes is not None else None, n_samples=table.n_rows,
    )  # fmt: skip
    check_layout(net_spec, train_spec, layout)
    run = Run(table, task, classes, labels, targets, net_spec, train_spec)
    if resume is not None:
        load_checkpoint(run, resume)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        run.train(on_epoch)
    return run.model(), run.history
