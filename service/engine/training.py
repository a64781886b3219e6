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

from .checkpoint import load_checkpoint, save_checkpoint
from .errors import InputError
from .model import Model
from .recurrent_spec import check_layout
from .run import Progress, Run
from .sequences import is_sequences, read_inputs
from .spec import validate_spec
from .targets import encode_labels, infer_task, regression_targets
from .warm_start import WarmStart, check_classes, own_history, renumbered, start_run


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
    warm_start: WarmStart | None = None,
    keep_state: bool = False,
) -> tuple[Model, list[dict[str, Any]]]:
    """Train a network on raw rows `X` and targets `y`; return the model and per-epoch rows.

    `X` may also be sequences `(n, T, d)` (with `lengths`), or, with `training.sequence`,
    the rows of a time series in time order (`y` the target column, `groups` its series).
    `warm_start` starts from a trained model (see `warm_start.py`); `keep_state` sets the
    model's `training_state` to the final training state, which `continue` resumes.
    """
    if warm_start is not None and warm_start.preprocessor is not None and _by_name(X, training):
        features = warm_start.features_like(features)  # a table's columns are read by name
    table, y, task, layout = read_inputs(X, y, training, features, lengths, groups, task)
    if warm_start is not None and warm_start.preprocessor is not None:
        warm_start.check_names(table.names)
    task = task or infer_task(y)
    classes, labels, targets = None, None, None
    if task == "classification":
        classes, labels = encode_labels(y)
        check_classes(warm_start, classes)
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
    prep = warm_start.preprocessor if warm_start is not None else None
    run = Run(table, task, classes, labels, targets, net_spec, train_spec, prep)
    offset = 0 if warm_start is None else start_run(run, warm_start, train_spec["epochs"])
    if resume is not None:
        load_checkpoint(run, resume)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        run.train(renumbered(on_epoch, offset))
    model = run.model()
    if keep_state:
        model.training_state = save_checkpoint(run)
    return model, own_history(run.history, offset)


def _by_name(X: Any, training: dict) -> bool:
    """Whether `X` is a table, whose columns `fit` reads by name (not sequences or a series,
    whose features come in their order, the series' target among them)."""
    return not is_sequences(X) and not (isinstance(training, dict) and training.get("sequence"))
