"""The state of many watched jobs read at once, for the event streams' one shared poller."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.core.lifecycle import TERMINAL
from service.core.tables import EpochMetric, PredictionJob, TrainingJob
from service.domain import jobs

CHUNK = 500  # ids per IN (...) list, well under every database's limit on bound parameters

TrainingSnapshot = tuple[TrainingJob, list[EpochMetric]]


def training_snapshots(session: Session, after: dict[str, int]) -> dict[str, TrainingSnapshot]:
    """For each job id of `after`: the job and its epoch rows past `after[id]`.

    Rows are read only for jobs that recorded an epoch past that point or have ended, so
    idle and queued jobs cost one row of one query between them. A job that no longer
    exists is left out."""
    found: dict[str, TrainingSnapshot] = {}
    for ids in _chunks(list(after)):
        for job in session.scalars(select(TrainingJob).where(TrainingJob.id.in_(ids))):
            since = after[job.id]
            rows: list[EpochMetric] = []
            if job.epoch > since or job.status in TERMINAL:
                rows = jobs.job_metrics(session, job.id, after_epoch=since)
            found[job.id] = (job, rows)
    return found


def prediction_snapshots(session: Session, job_ids: list[str]) -> dict[str, PredictionJob]:
    """Each batch-prediction job of `job_ids` that still exists."""
    found: dict[str, PredictionJob] = {}
    for ids in _chunks(job_ids):
        for job in session.scalars(select(PredictionJob).where(PredictionJob.id.in_(ids))):
            found[job.id] = job
    return found


def _chunks(ids: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]
