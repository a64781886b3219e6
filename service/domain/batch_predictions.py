"""Batch prediction jobs: a file of rows checked against a model's features at submission,
queued in the database for a worker, and its CSV of predictions read back for the API."""

from __future__ import annotations

import gzip
import math
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.core.config import Settings
from service.core.db import new_id, utcnow
from service.core.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    field_error,
)
from service.core.lifecycle import ACTIVE, JobStatus, cancel
from service.core.pagination import Page, paginate
from service.core.tables import PredictionJob
from service.domain.datasets import format_error_entry
from service.domain.hopfield_models import hopfield_cannot_predict
from service.domain.ingest import (
    DatasetFormatError,
    DatasetTooLarge,
    ParsedFeatures,
    encode_columns,
    parse_features,
)
from service.domain.ingest.columns import MISSING_TOKENS
from service.domain.jobs import check_active_jobs
from service.domain.trained_models import get_model
from service.engine.hopfield import is_hopfield
from service.engine.recurrent_spec import is_recurrent


def create_prediction_job(
    session: Session,
    tenant_id: str,
    model_id: str,
    path: Path,
    *,
    filename: str | None,
    content_type: str | None,
    settings: Settings,
) -> PredictionJob:
    """Parse the uploaded rows at `path`, keep the model's feature columns, queue a job."""
    model = get_model(session, tenant_id, model_id)
    if is_hopfield(model.network):
        raise hopfield_cannot_predict(model_id)
    if any(is_recurrent(layer) for layer in model.network.get("layers", [])):
        raise InvalidInput(
            f"Model {model_id!r} is recurrent: it reads sequences, not rows of a file; send "
            f'them to POST /v1/models/{model_id}/predict as {{"sequences": [...]}}.',
            errors=[field_error(["path", "model_id"], "a recurrent model")],
        )
    parsed = _parse(path, filename, content_type, settings)
    columns = select_features(parsed, model.features)
    check_active_jobs(
        session,
        PredictionJob,
        tenant_id,
        settings.max_running_jobs_per_tenant,
        kind="prediction jobs",
        cancel_path="/v1/predictions/{id}/cancel",
    )
    job = PredictionJob(
        id=new_id("pj"),
        tenant_id=tenant_id,
        model_id=model_id,
        status=JobStatus.QUEUED,
        filename=filename,
        format=parsed.format,
        n_rows=parsed.n_rows,
        rows_done=0,
        attempts=0,
        cancel_requested=False,
        enqueued_at=utcnow(),
        input_data=encode_columns(columns, parsed.n_rows),
    )
    session.add(job)
    session.flush()
    return job


def _parse(
    path: Path, filename: str | None, content_type: str | None, settings: Settings
) -> ParsedFeatures:
    try:
        return parse_features(
            path,
            filename=filename,
            content_type=content_type,
            max_rows=settings.max_dataset_rows,
            max_columns=settings.max_dataset_columns,
            max_bytes=settings.max_upload_bytes,
        )
    except DatasetTooLarge as exc:
        raise PayloadTooLarge(str(exc), errors=[format_error_entry(exc)]) from exc
    except DatasetFormatError as exc:
        raise InvalidInput(str(exc), errors=[format_error_entry(exc)]) from exc


def select_features(
    parsed: ParsedFeatures, features: list[dict[str, Any]]
) -> dict[str, np.ndarray]:
    """Every column of the file, in its order, the model's features in the kinds the model
    takes; the other columns (an id, the target) go through untouched to the result CSV."""
    names = [str(f["name"]) for f in features]
    missing = [name for name in names if name not in parsed.columns]
    if missing:
        shown = ", ".join(repr(name) for name in missing)
        raise InvalidInput(
            f"The file has no column {shown}: the model needs every one of its features "
            f"({', '.join(names)}); add the missing column(s). Other columns are ignored.",
            errors=[field_error(["body", "file", n], "missing feature column") for n in missing],
        )
    by_name = {str(f["name"]): f for f in features}
    return {
        name: _as_kind(values, by_name[name], parsed.first_row) if name in by_name else values
        for name, values in parsed.columns.items()
    }


def _as_kind(values: np.ndarray, feature: dict[str, Any], first_row: int) -> np.ndarray:
    """A parsed column in the form the model's feature takes (numbers, or text with '')."""
    if feature["kind"] == "categorical":
        if values.dtype.kind == "U":
            return values
        # The file held only numbers here; read them back as the category labels they spell.
        uniques, inverse = np.unique(values, return_inverse=True)
        labels = np.array([_number_text(float(u)) for u in uniques] or [""], dtype=np.str_)
        return labels[inverse]
    if values.dtype.kind != "U":
        return values
    uniques, inverse = np.unique(values, return_inverse=True)
    numbers = np.empty(uniques.size)
    for i, text in enumerate(uniques.tolist()):
        number = _number(text)
        if number is None:
            row, name = first_row + int(np.argmax(inverse == i)), feature["name"]
            message = (
                f"row {row}, column {name!r} holds {text!r}, but the model's feature {name!r} is "
                "numeric; send a number, or leave the cell empty for missing"
            )
            loc: list[str | int] = ["body", "file", f"row {row}", name]
            raise InvalidInput(message, errors=[field_error(loc, message)])
        numbers[i] = number
    return numbers[inverse]


def _number(text: str) -> float | None:
    if text == "" or text.lower() in MISSING_TOKENS:
        return math.nan
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _number_text(value: float) -> str:
    if math.isnan(value):
        return ""
    return str(int(value)) if value.is_integer() else repr(value)


def get_prediction_job(session: Session, tenant_id: str, job_id: str) -> PredictionJob:
    job = session.get(PredictionJob, job_id)
    if job is None or job.tenant_id != tenant_id:
        raise NotFound(
            f"There is no prediction job {job_id!r}; list yours with GET /v1/predictions."
        )
    return job


def list_prediction_jobs(
    session: Session, tenant_id: str, *, limit: int, cursor: str | None
) -> Page[Any]:
    stmt = select(PredictionJob).where(PredictionJob.tenant_id == tenant_id)
    return paginate(session, stmt, PredictionJob.id, limit=limit, cursor=cursor)


def cancel_prediction_job(session: Session, tenant_id: str, job_id: str) -> PredictionJob:
    """Cancel a queued job at once; ask a running one to stop after its current chunk."""
    return cancel(session, get_prediction_job(session, tenant_id, job_id), kind="Prediction job")


def delete_prediction_job(session: Session, tenant_id: str, job_id: str) -> None:
    """Delete a job and its rows and result; a running one stops at its next chunk."""
    session.delete(get_prediction_job(session, tenant_id, job_id))


def prediction_csv(session: Session, tenant_id: str, job_id: str) -> bytes:
    """The CSV of a succeeded job; 409 while it has none."""
    job = get_prediction_job(session, tenant_id, job_id)
    if job.status != JobStatus.SUCCEEDED or job.output_data is None:
        hint = (
            f"wait for it to succeed (GET /v1/predictions/{job_id})"
            if job.status in ACTIVE
            else "submit the file again for a new job"
        )
        raise Conflict(f"Prediction job {job_id!r} is {job.status}, so it has no result; {hint}.")
    return gzip.decompress(job.output_data)
