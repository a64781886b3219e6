"""The submission rules of `training.cross_validation` that depend on the data set: enough
rows per fold and per class, no time series, a batch that fits a fold, the work budget. The
option's own shape is the engine's rule (service/engine/folds.py)."""

from __future__ import annotations

import math
from typing import Any

from service.core.config import Settings
from service.core.errors import InvalidInput, field_error
from service.core.tables import Dataset
from service.domain.job_rules import validation_rows

FIELD = "training.cross_validation"
MIN_ROWS_PER_FOLD = 2


def check_cross_validation(
    dataset: Dataset,
    training: dict[str, Any],
    task: str,
    settings: Settings,
    *,
    batch_size_given: bool,
) -> None:
    """Refuse a cross-validation the dataset cannot fill: too few rows per fold or per class,
    a time series, a batch larger than a fold's training rows, or too much work."""
    cv = training.get("cross_validation")
    if cv is None:
        return
    folds = cv["folds"]
    if dataset.layout == "series":
        raise _invalid(
            f"Dataset {dataset.id!r} is a time series: random folds would train on the future "
            "to predict the past. Remove training.cross_validation (the validation split of a "
            "series is already chronological).",
            "a time series",
        )
    if dataset.n_rows < MIN_ROWS_PER_FOLD * folds:
        raise _invalid(
            f"{folds} folds need at least {MIN_ROWS_PER_FOLD * folds} rows "
            f"({MIN_ROWS_PER_FOLD} per fold); dataset {dataset.id!r} has {dataset.n_rows}. "
            f"Use at most {max(dataset.n_rows // MIN_ROWS_PER_FOLD, 1)} folds or add rows.",
            "too few rows per fold",
            "folds",
        )
    if cv["stratified"]:
        _check_class_sizes(dataset.target, folds)
    _check_fold_batch(dataset.n_rows, folds, training, batch_size_given=batch_size_given)
    budget = training["epochs"] * dataset.n_rows * folds
    if budget > settings.max_training_budget:
        raise _invalid(
            f"With {folds} folds, epochs × rows × folds is {budget:,}, over this server's "
            f"budget of {settings.max_training_budget:,}; use fewer folds, epochs or rows.",
            "over the epochs × rows budget",
            "folds",
        )


def _check_class_sizes(target: dict[str, Any], folds: int) -> None:
    counts = target.get("class_counts") or []
    for label, count in zip(target.get("classes") or [], counts, strict=False):
        if 0 < int(count) < folds:
            raise _invalid(
                f"Class {label!r} of the target has only {count} rows, fewer than the {folds} "
                "folds, so some fold would hold none of it; use at most "
                f"{max(int(count), 2)} folds, set {FIELD}.stratified to false, or add rows of "
                "that class.",
                f"class {label!r} has fewer rows than folds",
                "folds",
            )


def _check_fold_batch(
    n_rows: int, folds: int, training: dict[str, Any], *, batch_size_given: bool
) -> None:
    batch = training["batch_size"]
    if not batch_size_given or batch == "full":
        return
    fold_rows = n_rows - math.ceil(n_rows / folds)
    n_train = fold_rows - validation_rows(fold_rows, training["validation_fraction"], None)
    if batch > n_train:
        raise InvalidInput(
            f"training.batch_size {batch} is larger than the {n_train} rows each of the {folds} "
            f"folds trains on ({n_rows} rows, one fold held out, then the validation split); "
            f'use a batch size from 1 to {n_train}, or "full".',
            errors=[field_error("training.batch_size", f"at most {n_train} with {folds} folds")],
        )


def _invalid(detail: str, msg: str, key: str | None = None) -> InvalidInput:
    field = f"{FIELD}.{key}" if key else FIELD
    return InvalidInput(detail, errors=[field_error(field, msg)])
