"""The step of a batch prediction job: load the model and the rows, predict chunk by chunk
(recording progress after each, where the harness may stop it), and store the CSV with the
job's success. The harness (worker/harness.py) claims, fences and finishes it."""

from __future__ import annotations

import csv
import gzip
import io
import logging
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.core.config import Settings
from service.core.db import transaction
from service.core.errors import InvalidInput, NotFound
from service.core.lifecycle import LostOwnership
from service.core.queue import Enqueue
from service.core.spreadsheet import safe_row
from service.core.tables import ModelBlob, PredictionJob
from service.domain.ingest import decode_columns
from service.engine import InputError, Model
from worker.fencing import retrying
from worker.harness import JobKind, JobStep, Run, run_attempt

log = logging.getLogger("neuronal.worker")

CHUNK_ROWS = 10_000
PREDICTION = JobKind(PredictionJob, noun="prediction job", log_field="prediction_job_id")


def run_batch(
    job_id: str,
    *,
    worker: str,
    settings: Settings,
    enqueue: Enqueue,
    chunk_rows: int = CHUNK_ROWS,
) -> str:
    """Predict the rows of `job_id` if it can be claimed; returns what happened, for the logs.
    A job handed back (the worker is stopping) is put on the queue again with `enqueue`."""
    step = BatchPrediction(chunk_rows)
    return run_attempt(
        PREDICTION, job_id, worker=worker, settings=settings, enqueue=enqueue,
        step_for=lambda _session, _run: step,
    )  # fmt: skip


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


class BatchPrediction(JobStep):
    """Predicts chunk after chunk into a gzip-compressed CSV."""

    failure_code = "prediction_error"
    memory_advice = "split the rows into smaller files"

    def __init__(self, chunk_rows: int = CHUNK_ROWS) -> None:
        self.chunk_rows = chunk_rows

    def execute(self, run: Run) -> tuple[bytes, int]:
        """The CSV (gzip-compressed) and its number of rows; a part of it if the run stopped."""
        model, columns, n_rows = retrying(lambda: _load(run.job_id))
        rows = _model_inputs(model, columns)
        buffer = io.BytesIO()
        with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=6, mtime=0) as out:
            out.write(_csv([[*columns, *header(model)]]))
            for start in range(0, n_rows, self.chunk_rows):
                stop = min(start + self.chunk_rows, n_rows)
                predicted = predict_chunk(model, rows, start, stop)
                out.write(_csv(with_inputs(columns, start, stop, predicted)))
                if self._stop_after(run, stop, n_rows):
                    break
        return buffer.getvalue(), n_rows

    def _stop_after(self, run: Run, rows_done: int, n_rows: int) -> bool:
        cancel = run.write(rows_done=rows_done)
        return run.decide(
            cancel=cancel,
            more_to_do=rows_done < n_rows,
            over_time=lambda: (
                f"Predicting passed this server's time limit of "
                f"{run.settings.job_time_limit_seconds:g} s after {rows_done:,} of "
                f"{n_rows:,} rows; split the file into smaller ones."
            ),
        )

    def succeed(self, session: Session, run: Run, result: tuple[bytes, int]) -> dict[str, Any]:
        csv_gz, n_rows = result
        return {"rows_done": n_rows, "output_data": csv_gz}

    def hand_back_values(self) -> dict[str, Any]:
        return {"rows_done": 0}  # it starts over


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
