"""Evaluating a stored model against its stored data set: the confusion matrix.

The validation split is reproduced exactly: the engine draws it first from a generator seeded
by `training.seed` (`split_rows`), so the same seed, data set and fraction give the same rows
the job validated on. A job trained without a validation split is evaluated on all its rows,
and the answer says so (`split: "training"`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from service.core.errors import Conflict, InvalidInput, NotFound, field_error
from service.core.tables import Dataset, TrainedModel
from service.domain.datasets import load_training_data
from service.domain.online_predict import ModelCache
from service.domain.trained_models import get_model
from service.engine import Model
from service.engine.batches import split_rows
from service.engine.targets import encode_labels

CHUNK_ROWS = 8192


@dataclass(frozen=True)
class Confusion:
    """`matrix[i][j]`: rows of actual class `classes[i]` predicted as `classes[j]`, counted on
    the `split` ("validation", or "training" when the job kept no split)."""

    model_id: str
    split: str
    n_rows: int
    classes: list[Any]
    matrix: list[list[int]]
    accuracy: float


def confusion(
    session: Session, record: TrainedModel, model: Model, max_classes: int | None = None
) -> Confusion:
    """The confusion matrix of a classifier on the validation rows its job held out, for
    at most `max_classes` classes (the matrix grows with their square)."""
    if model.task != "classification" or model.classes is None:
        raise Conflict(
            f"Model {record.id!r} is a regression model; a confusion matrix needs classes."
        )
    k = len(model.classes)
    if max_classes is not None and k > max_classes:
        raise InvalidInput(
            f"Model {record.id!r} has {k:,} classes: its confusion matrix would hold {k * k:,} "
            f"cells, over this server's limit of {max_classes:,} classes "
            "(NEURONAL_MAX_CONFUSION_CLASSES). Run a batch prediction on labelled rows "
            f"(POST /v1/models/{record.id}/predictions) and compare its CSV with the labels.",
            errors=[field_error("model_id", f"more than {max_classes} classes")],
        )
    dataset = session.get(Dataset, record.dataset_id)
    try:
        if dataset is None:
            raise NotFound("gone")
        data = load_training_data(session, dataset)
    except NotFound as exc:
        raise Conflict(
            f"The data set {record.dataset_id!r} this model was trained on has been deleted, "
            "so there are no rows to evaluate it on."
        ) from exc
    classes, labels = encode_labels(data.y)
    if classes != list(model.classes):
        raise Conflict("The data set's classes no longer match the model's classes.")
    rows, split = evaluation_rows(model.training, labels)
    predicted = predict_classes(model, data.X, rows, data.lengths)
    k = len(classes)
    matrix = np.zeros((k, k), dtype=np.int64)
    np.add.at(matrix, (labels[rows], predicted), 1)
    return Confusion(
        model_id=record.id,
        split=split,
        n_rows=int(len(rows)),
        classes=classes,
        matrix=matrix.tolist(),
        accuracy=float(np.trace(matrix) / max(len(rows), 1)),
    )


def evaluation_rows(training: dict[str, Any], labels: np.ndarray) -> tuple[np.ndarray, str]:
    """The validation rows the job held out, or every row when it held none out."""
    rng = np.random.default_rng(training["seed"])
    _, val_rows = split_rows(rng, len(labels), training["validation_fraction"], labels)
    if len(val_rows):
        return val_rows, "validation"
    return np.arange(len(labels)), "training"


def predict_classes(
    model: Model, X: Any, rows: np.ndarray, lengths: np.ndarray | None = None
) -> np.ndarray:
    """Predicted class indices `(len(rows),)`, computed in bounded chunks; `X` is columns by
    name, or sequences `(n, T, d)` with their `lengths`."""
    out = np.empty(len(rows), dtype=np.int64)
    for start in range(0, len(rows), CHUNK_ROWS):
        part = rows[start : start + CHUNK_ROWS]
        if lengths is None:
            proba = model.predict_proba({name: column[part] for name, column in X.items()})
        else:
            proba = model.predict_proba(X[part], lengths[part])
        out[start : start + len(part)] = np.argmax(proba, axis=1)
    return out


def cached_model(cache: ModelCache, session: Session, tenant_id: str, model_id: str) -> Model:
    """The loaded model from the API process's cache, loading it on a miss (404 if not yours)."""
    model = cache.get(model_id, tenant_id)
    return model if model is not None else cache.load(session, tenant_id, model_id)


def model_confusion(
    cache: ModelCache,
    session: Session,
    tenant_id: str,
    model_id: str,
    max_classes: int | None = None,
) -> Confusion:
    """`confusion` for the caller's model `model_id`."""
    record = get_model(session, tenant_id, model_id)
    model = cached_model(cache, session, tenant_id, model_id)
    return confusion(session, record, model, max_classes)
