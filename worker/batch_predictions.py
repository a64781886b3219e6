"""One attempt of one batch prediction job: claim it, load the model and the rows, predict
chunk by chunk (recording progress and checking for cancellation after each), and store the
CSV together with the job's success. Every write is fenced by (status, attempt), as for
training, so a reclaimed or duplicate attempt never overwrites the one that owns the job."""

from __future__ import annotations

import csv
import gzip
import io
import logging
import time
from typing import Any

import numpy as np
from sqlalchemy import select

from service.core.config import Settings
from service.core.db import transaction, utcnow
from service.core.errors import InvalidInput, NotFound
from service.core.logs import bind_log_fields
from service.core.queue import enqueue_prediction
from service.core.spreadsheet import safe_row
from service.core.tables import ModelBlob, PredictionJob
from service.domain.ingest import decode_columns
from service.engine import InputError, Model
from worker import fencing
from worker.failures import PREDICTION_ERROR, classify
from worker.fencing import (
    SHUTDOWN,
    TRANSIENT,
    Heartbeat,
    LostOwnership,
    claim,
    owned,
    retrying,
)
from worker.memory_guard import out_of_memory_message

log = logging.getLogger("neuronal.worker")

CHUNK_ROWS = 10_000


def run_batch(job_id: str, *, worker: str, settings: Settings, chunk_rows: int = CHUNK_ROWS) -> str:
    """Predict the rows of `job_id` if it can be claimed; returns what happened, for the logs."""
    attempt = claim(PredictionJob, job_id, worker)
    if attempt is None:
        return "skipped"
    bind_log_fields(prediction_job_id=job_id, attempt=attempt)
    log.info("prediction job %s attempt %d claimed by %s", job_id, attempt, worker)
    run = BatchRun(job_id, attempt, settings)
    try:
        with Heartbeat(PredictionJob, job_id, attempt, settings.heartbeat_seconds):
            model, columns, n_rows = retrying(lambda: _load(job_id))
            csv_gz = run.predict(model, columns, n_rows, chunk_rows)
        return retrying(lambda: _conclude(run, worker, csv_gz, n_rows))
    except LostOwnership:
        return "lost"
    except MemoryError:  # over the process's limit (worker/memory_guard.py)
        advice = "split the rows into smaller files"
        message, code = out_of_memory_message(settings, advice), "memory_limit"
    except TRANSIENT:
        raise  # a database outage past the retries: the task is retried, the job stays
    except Exception as exc:
        failure = classify(exc, user_code=PREDICTION_ERROR)
        message, code = failure.message, failure.code
    try:
        retrying(lambda: _finish(job_id, attempt, "failed", error=message, code=code))
    except LostOwnership:
        return "lost"
    return "failed"


def _load(job_id: str) -> tuple[Model, dict[str, np.ndarray], int]:
    with transaction() as session:
        job = session.get(PredictionJob, job_id)
        if job is None:  # deleted since it was claimed
            raise LostOwnership(job_id)
        data = session.scalar(select(ModelBlob.data).where(ModelBlob.model_id == job.model_id))
        if data is None:
            raise NotFound(
                f"Model {job.model_id!r} was deleted before these rows were predicted; "
                "submit them again to another model."
            )
        columns, n_rows = decode_columns(job.input_data)
    return Model.from_bytes(data), columns, n_rows


class BatchRun:
    """Predicts chunk after chunk into a gzip-compressed CSV, recording progress after each
    and stopping early on cancel, deploy shutdown or the time limit (`outcome`)."""

    def __init__(self, job_id: str, attempt: int, settings: Settings) -> None:
        self.job_id, self.attempt, self.settings = job_id, attempt, settings
        self.started = time.monotonic()
        self.outcome = "succeeded"
        self.message = ""

    def predict(
        self, model: Model, columns: dict[str, np.ndarray], n_rows: int, chunk_rows: int
    ) -> bytes:
        """The CSV so far, gzip-compressed (all of it unless `outcome` says otherwise)."""
        rows = _model_inputs(model, columns)
        buffer = io.BytesIO()
        with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=6, mtime=0) as out:
            out.write(_csv([[*columns, *header(model)]]))
            for start in range(0, n_rows, chunk_rows):
                stop = min(start + chunk_rows, n_rows)
                predicted = predict_chunk(model, rows, start, stop)
                out.write(_csv(with_inputs(columns, start, stop, predicted)))
                if self._stop_after(stop, n_rows):
                    break
        return buffer.getvalue()

    def _stop_after(self, rows_done: int, n_rows: int) -> bool:
        cancel = retrying(lambda: self._record(rows_done))
        more_to_do = rows_done < n_rows
        elapsed = time.monotonic() - self.started
        if cancel:
            self.outcome = "cancelled"
        elif SHUTDOWN.is_set() and more_to_do:
            self.outcome = "handed_back"
        elif more_to_do and elapsed > self.settings.job_time_limit_seconds:
            self.outcome = "time_limit"
            self.message = (
                f"Predicting passed this server's time limit of "
                f"{self.settings.job_time_limit_seconds:g} s after {rows_done:,} of "
                f"{n_rows:,} rows; split the file into smaller ones."
            )
        return self.outcome != "succeeded"

    def _record(self, rows_done: int) -> bool:
        """Progress and heartbeat; returns whether a cancel was asked for."""
        with transaction() as session:
            owned(
                session,
                PredictionJob,
                self.job_id,
                self.attempt,
                rows_done=rows_done,
                heartbeat_at=utcnow(),
            )
            return bool(
                session.scalar(
                    select(PredictionJob.cancel_requested).where(PredictionJob.id == self.job_id)
                )
            )


def _model_inputs(model: Model, columns: dict[str, np.ndarray]) -> Any:
    """All-numeric rows as one float64 matrix (the path `POST /predict` takes for them, so
    both give the same figures); columns by name when a feature is categorical."""
    if all(feature["kind"] == "numeric" for feature in model.features):
        return np.column_stack([columns[name] for name in model.feature_names])
    return {name: columns[name] for name in model.feature_names}


def with_inputs(
    columns: dict[str, np.ndarray], start: int, stop: int, predicted: list[list[Any]]
) -> list[list[Any]]:
    """Each input row's cells as the file gave them, followed by its predictions."""
    cells = [_cells(values[start:stop]) for values in columns.values()]
    rows = zip(*cells, strict=True) if cells else iter([()] * (stop - start))
    return [[*inputs, *outputs] for inputs, outputs in zip(rows, predicted, strict=True)]


def _cells(values: np.ndarray) -> list[Any]:
    """A column's cells: text as it is, numbers as written (integers without '.0'), NaN blank."""
    if values.dtype.kind == "U":
        return list(values.tolist())
    return ["" if v != v else int(v) if v.is_integer() else v for v in values.tolist()]


def header(model: Model) -> list[str]:
    if model.classes is not None:
        return ["prediction", *(f"probability_{label}" for label in model.classes)]
    if model.n_outputs == 1:
        return ["prediction"]
    return [f"prediction_{j}" for j in range(model.n_outputs)]


def predict_chunk(model: Model, rows: Any, start: int, stop: int) -> list[list[Any]]:
    """CSV rows for input rows `start:stop`: the prediction, then any class probabilities."""
    if isinstance(rows, dict):
        chunk = {name: values[start:stop] for name, values in rows.items()}
    else:
        chunk = rows[start:stop]
    try:
        if model.classes is not None:
            proba = model.predict_proba(chunk)
            _check_finite(proba, start)
            labels = np.asarray(model.classes, dtype=object)[np.argmax(proba, axis=1)]
            return [[label, *p] for label, p in zip(labels, proba.tolist(), strict=True)]
        values = np.asarray(model.predict(chunk), dtype=np.float64).reshape(stop - start, -1)
        _check_finite(values, start)
        result: list[list[Any]] = values.tolist()
        return result
    except InputError as exc:
        raise InvalidInput(f"In rows {start + 1}–{stop} of the file: {exc}") from exc


def _check_finite(outputs: np.ndarray, start: int) -> None:
    bad = ~np.isfinite(outputs).all(axis=1)
    if bad.any():
        row = start + int(np.argmax(bad)) + 1
        raise InvalidInput(
            f"Data row {row} gives no finite prediction: its values are too far outside the "
            "range the model was trained on; check their units and scale."
        )


def _csv(rows: list[list[Any]]) -> bytes:
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(safe_row(row) for row in rows)
    return text.getvalue().encode()


def _conclude(run: BatchRun, worker: str, csv_gz: bytes, n_rows: int) -> str:
    if run.outcome == "succeeded":
        _store(run.job_id, run.attempt, csv_gz, n_rows)
    elif run.outcome == "cancelled":
        _finish(run.job_id, run.attempt, "cancelled")
    elif run.outcome == "time_limit":
        _finish(run.job_id, run.attempt, "failed", error=run.message, code="time_limit")
    else:
        _hand_back(run.job_id, run.attempt, worker)
    return run.outcome


def _store(job_id: str, attempt: int, csv_gz: bytes, n_rows: int) -> None:
    """The CSV and the job's success, in one transaction."""
    with transaction() as session:
        owned(
            session,
            PredictionJob,
            job_id,
            attempt,
            status="succeeded",
            rows_done=n_rows,
            output_data=csv_gz,
            finished_at=utcnow(),
            error=None,
            error_code=None,
        )


def _finish(
    job_id: str, attempt: int, status: str, *, error: str | None = None, code: str | None = None
) -> None:
    with transaction() as session:
        owned(
            session,
            PredictionJob,
            job_id,
            attempt,
            status=status,
            error=error,
            error_code=code,
            finished_at=utcnow(),
        )


def _hand_back(job_id: str, attempt: int, worker: str) -> None:
    """Give a running job back to the queue (worker shutting down); it starts over."""
    with transaction() as session:
        fencing.hand_back(session, PredictionJob, job_id, attempt, worker, rows_done=0)
    enqueue_prediction(job_id)
