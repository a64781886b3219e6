"""The rules of a job that depend on its dataset, checked at submission from the dataset's
summary (its shape, feature kinds and class sizes), so an impossible job is a 422 instead of
a 202 that fails in the worker."""

from __future__ import annotations

from typing import Any

from service.core.errors import InvalidInput, field_error
from service.engine.class_weights import unknown_label_message, unknown_labels
from service.engine.spec import LIMITS


def input_width(features: list[dict[str, Any]]) -> int:
    """Network inputs the features become: one per numeric column, one per category of a
    categorical column plus a missing indicator when it has missing cells (at most: the
    training rows may hold fewer categories than the whole data set)."""
    width = 0
    for feature in features:
        if feature.get("kind") == "categorical":
            width += int(feature.get("categories", 0)) + (int(feature.get("missing", 0)) > 0)
        else:
            width += 1
    return max(width, 1)


def validation_rows(n_rows: int, fraction: float, class_counts: list[int] | None) -> int:
    """How many rows the engine's split (`service.engine.training.split_rows`) holds out:
    `round(fraction × rows)` of every class (of all rows for regression), moved to one row
    at least and one training row at least when that leaves either side empty."""
    if fraction <= 0 or n_rows < 2:
        return 0
    groups = class_counts if class_counts else [n_rows]
    held = sum(int(round(fraction * count)) for count in groups)
    if held == 0 or held == n_rows:
        held = max(1, min(n_rows - 1, round(fraction * n_rows)))
    return held


def check_dataset_rules(
    dataset: Any, training: dict[str, Any], task: str, *, batch_size_given: bool
) -> None:
    """Refuse a normalized training spec that cannot train on `dataset`; InvalidInput says
    which field to change and to what. A default batch size larger than the training rows is
    no error: the engine trains on all of them at once then."""
    _check_categories(dataset.features)
    _check_class_weight_labels(dataset.target, training)
    fraction = training["validation_fraction"]
    counts = _class_counts(dataset.target) if task == "classification" else None
    if fraction > 0 and dataset.n_rows < 2:
        raise InvalidInput(
            f"The dataset has {dataset.n_rows} row, so validation_fraction {fraction:g} leaves "
            "no row to validate on; set training.validation_fraction to 0 or add rows.",
            errors=[field_error("training.validation_fraction", "no validation rows")],
        )
    held = validation_rows(dataset.n_rows, fraction, counts)
    if counts is not None and held > 0:
        _check_classes_keep_training_rows(dataset.target, counts, fraction)
    n_train = dataset.n_rows - held
    batch = training["batch_size"]
    if batch_size_given and batch != "full" and batch > n_train:
        raise InvalidInput(
            f"training.batch_size {batch} is larger than the {n_train} training rows "
            f"({dataset.n_rows} rows, {held} held out for validation); use a batch size from "
            f'1 to {n_train}, or "full" for the whole training set.',
            errors=[field_error("training.batch_size", f"at most {n_train} here")],
        )


def _check_categories(features: list[dict[str, Any]]) -> None:
    limit = LIMITS["max_categories"]
    for feature in features:
        if feature.get("kind") == "categorical" and int(feature.get("categories", 0)) > limit:
            name = feature["name"]
            raise InvalidInput(
                f"Feature {name!r} has {feature['categories']:,} distinct values; at most "
                f"{limit:,} categories are supported, so drop or group that column and upload "
                "the data set again.",
                errors=[field_error("dataset_id", f"feature {name!r} has too many categories")],
            )


def _check_class_weight_labels(target: dict[str, Any], training: dict[str, Any]) -> None:
    classes = target.get("classes") or []
    for label in unknown_labels(training.get("class_weight"), classes):
        raise InvalidInput(
            unknown_label_message(label, classes),
            errors=[field_error(["training", "class_weight", label], "not a class of the target")],
        )


def _class_counts(target: dict[str, Any]) -> list[int] | None:
    counts = target.get("class_counts")
    return [int(c) for c in counts] if isinstance(counts, list) and counts else None


def _check_classes_keep_training_rows(
    target: dict[str, Any], counts: list[int], fraction: float
) -> None:
    """A class whose every row is held out for validation is never trained on."""
    for label, count in zip(target.get("classes") or [], counts, strict=False):
        if count > 0 and int(round(fraction * count)) >= count:
            rows = "row" if count == 1 else "rows"
            raise InvalidInput(
                f"Class {label!r} of the target has only {count} {rows}, and "
                f"validation_fraction {fraction:g} holds all of them out for validation, so "
                "the network would never train on it; lower training.validation_fraction "
                f"(below {1 - 0.5 / count:g} keeps one in training) or add rows of that class.",
                errors=[field_error("training.validation_fraction", f"class {label!r} too small")],
            )
