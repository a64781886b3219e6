"""Trained models: listing, deletion, and predictions from an in-process cache of loaded models."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.engine import InputError, Model
from service.errors import Conflict, InvalidInput, NotFound, field_error
from service.models import ModelBlob, TrainedModel
from service.pagination import Page, paginate


def get_model(session: Session, tenant_id: str, model_id: str) -> TrainedModel:
    model = session.get(TrainedModel, model_id)
    if model is None or model.tenant_id != tenant_id:
        raise NotFound(f"There is no model {model_id!r}; list yours with GET /v1/models.")
    return model


def list_models(session: Session, tenant_id: str, *, limit: int, cursor: str | None) -> Page[Any]:
    stmt = select(TrainedModel).where(TrainedModel.tenant_id == tenant_id)
    return paginate(session, stmt, TrainedModel.id, limit=limit, cursor=cursor)


def delete_model(session: Session, tenant_id: str, model_id: str) -> None:
    session.delete(get_model(session, tenant_id, model_id))


def model_bytes(session: Session, tenant_id: str, model_id: str) -> bytes:
    get_model(session, tenant_id, model_id)
    blob = session.get(ModelBlob, model_id)
    if blob is None:
        raise NotFound(f"The weights of model {model_id!r} are gone.")
    return blob.data


def model_view(model: TrainedModel) -> dict[str, Any]:
    return {
        "id": model.id,
        "job_id": model.job_id,
        "dataset_id": model.dataset_id,
        "task": model.task,
        "network": model.network,
        "training": model.training,
        "features": model.features,
        "classes": model.classes,
        "metrics": model.metrics,
        "size_bytes": model.size_bytes,
        "created_at": model.created_at,
    }


class ModelCache:
    """Loaded models by id, least recently used evicted; entries are re-checked after `ttl` s
    so a model deleted through another API process stops answering."""

    def __init__(self, capacity: int, ttl: float = 60.0) -> None:
        self.capacity = capacity
        self.ttl = ttl
        self._entries: OrderedDict[str, tuple[str, Model, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, model_id: str, tenant_id: str) -> Model | None:
        with self._lock:
            entry = self._entries.get(model_id)
            if entry is None or entry[2] < time.monotonic():
                return None
            self._entries.move_to_end(model_id)
        if entry[0] != tenant_id:
            raise NotFound(f"There is no model {model_id!r}; list yours with GET /v1/models.")
        return entry[1]

    def load(self, session: Session, tenant_id: str, model_id: str) -> Model:
        try:
            model = Model.from_bytes(model_bytes(session, tenant_id, model_id))
        except ValueError as exc:
            raise Conflict(f"Model {model_id!r} cannot be loaded: {exc}") from exc
        with self._lock:
            self._entries[model_id] = (tenant_id, model, time.monotonic() + self.ttl)
            self._entries.move_to_end(model_id)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        return model

    def evict(self, model_id: str) -> None:
        with self._lock:
            self._entries.pop(model_id, None)


def predict(
    model: Model,
    model_id: str,
    inputs: list[list[Any]] | None,
    records: list[dict[str, Any]] | None,
) -> dict[str, Any]:
    """Predictions (and class probabilities) for raw rows or records."""
    rows = _rows_from_request(model, inputs, records)
    try:
        if model.classes is not None:
            proba = model.predict_proba(rows)
            labels = [model.classes[i] for i in np.argmax(proba, axis=1)]
            return {
                "model_id": model_id,
                "predictions": labels,
                "probabilities": proba.tolist(),
                "classes": list(model.classes),
            }
        return {"model_id": model_id, "predictions": np.asarray(model.predict(rows)).tolist()}
    except InputError as exc:
        loc: list[str | int] = ["body", "inputs" if inputs is not None else "records"]
        if exc.row is not None:
            loc.append(exc.row)
        if exc.feature is not None:
            loc.append(exc.feature)
        raise InvalidInput(str(exc), errors=[field_error(loc, str(exc))]) from exc


def _rows_from_request(
    model: Model, inputs: list[list[Any]] | None, records: list[dict[str, Any]] | None
) -> Any:
    if (inputs is None) == (records is None):
        raise InvalidInput(
            'Send exactly one of "inputs" (rows of values) or "records" (objects by feature).',
            errors=[field_error("body", "exactly one of inputs or records")],
        )
    if inputs is not None:
        if not inputs:
            raise InvalidInput(
                "inputs is empty; send at least one row.",
                errors=[field_error("body.inputs", "empty")],
            )
        if all(isinstance(v, int | float) and not isinstance(v, bool) for r in inputs for v in r):
            return np.asarray(inputs, dtype=np.float64) if _rectangular(inputs) else inputs
        return inputs
    assert records is not None
    if not records:
        raise InvalidInput(
            "records is empty; send at least one record.",
            errors=[field_error("body.records", "empty")],
        )
    names = model.feature_names
    known = set(names)
    for i, record in enumerate(records):
        unknown = [k for k in record if k not in known]
        if unknown:
            raise InvalidInput(
                f"Record {i} has an unknown feature {unknown[0]!r}; the model's features are "
                f"{', '.join(names)}.",
                errors=[field_error(["body", "records", i, unknown[0]], "unknown feature")],
            )
    return [[record.get(name) for name in names] for record in records]


def _rectangular(rows: list[list[Any]]) -> bool:
    width = len(rows[0])
    return all(len(r) == width for r in rows)
