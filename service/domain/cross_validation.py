"""Cross-validated training jobs: `training.cross_validation {"folds": k, "stratified"}`.

The job's life, all in the database (nothing ever waits on a worker):

    queued ──a worker takes it──▶ running, on its folds ──last fold succeeds──▶ queued
      (the k folds are created and queued; no worker holds the job: `worker` and
       `heartbeat_at` are empty, so the reaper leaves it alone)
    queued ──claim──▶ running: the final training on every row ──▶ succeeded | failed | cancelled

Each fold (`cv_folds`, a job of its own for the workers and the reaper) trains on the rows
outside it, preprocessing fitted on those rows only, and predicts the rows inside it. The
fold that finishes last (its success, the job's `cv_metrics` and the job's return to the
queue are one transaction, serialised on the job's row) sends the job to its final training.
A fold that fails fails the job and cancels the other folds; cancelling the job cancels its
folds. While the folds run, the job's progress counts their epochs: `progress.epochs` is
`epochs × (folds + 1)`, the folds' epochs and then the final training's.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, undefer

from service.core.db import new_id, utcnow
from service.core.errors import Conflict
from service.core.lifecycle import ACTIVE, TERMINAL, JobStatus, cancel, request_cancel
from service.core.tables import CvFold, TrainingJob
from service.domain.cv_results import FoldPredictions, pooled_metrics, predictions_csv, summarize

METRICS = ("val_loss", "val_accuracy")


def folds_of(training: dict[str, Any]) -> int | None:
    """The number of folds a normalized training spec asks for, or None."""
    cv = training.get("cross_validation")
    return int(cv["folds"]) if cv else None


def start_folds(session: Session, job_id: str) -> list[str] | None:
    """Move a queued cross-validated job whose folds have not run onto its folds: the job is
    running with no worker, its k folds queued. Returns the folds' ids to enqueue, or None
    when the job is not waiting for its folds (not cross-validated, folds done, not queued)."""
    now = utcnow()
    moved = session.execute(
        update(TrainingJob)
        .where(
            TrainingJob.id == job_id,
            TrainingJob.status == JobStatus.QUEUED,
            TrainingJob.cv_folds.is_not(None),
            TrainingJob.cv_metrics.is_(None),
        )
        .values(status=JobStatus.RUNNING, worker=None, heartbeat_at=None, started_at=now)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        return None
    job = session.get(TrainingJob, job_id)
    assert job is not None and job.cv_folds is not None
    existing = set(session.scalars(select(CvFold.fold).where(CvFold.job_id == job_id)))
    folds = [
        CvFold(
            id=new_id("fold"),
            tenant_id=job.tenant_id,
            job_id=job_id,
            fold=k,
            status=JobStatus.QUEUED,
            epoch=0,
            epochs=job.epochs,
            attempts=0,
            cancel_requested=False,
            enqueued_at=now,
        )
        for k in range(job.cv_folds)
        if k not in existing
    ]
    session.add_all(folds)
    session.flush()
    return [fold.id for fold in folds]


def count_fold_epochs(session: Session, job_id: str) -> None:
    """The job's `cv_epochs`: the epochs its folds have trained, as they stand now."""
    trained = select(func.coalesce(func.sum(CvFold.epoch), 0)).where(CvFold.job_id == job_id)
    session.execute(
        update(TrainingJob)
        .where(TrainingJob.id == job_id)
        .values(cv_epochs=trained.scalar_subquery())
    )


def settle_job(session: Session, job_id: str) -> bool:
    """Bring a job on its folds up to date with them (after a fold's end, in its transaction):
    failed if a fold failed, cancelled once a cancel has ended every fold, back in the queue
    with its `cv_metrics` once every fold succeeded. True when the job must be enqueued."""
    job = session.scalar(select(TrainingJob).where(TrainingJob.id == job_id).with_for_update())
    if job is None or not _on_folds(job):
        return False
    count_fold_epochs(session, job_id)
    folds = list(session.scalars(select(CvFold).where(CvFold.job_id == job_id)))
    statuses = {fold.status for fold in folds}
    failed = next(
        (f for f in sorted(folds, key=_fold_number) if f.status == JobStatus.FAILED), None
    )
    if failed is not None:
        _end(
            session,
            job,
            JobStatus.FAILED,
            error=f"Fold {failed.fold}: {failed.error}",
            code=failed.error_code,
        )
        _cancel_folds(session, job_id)
        return False
    if not statuses <= set(TERMINAL):
        return False
    if job.cancel_requested or JobStatus.CANCELLED in statuses:
        _end(session, job, JobStatus.CANCELLED)
        return False
    if len(folds) < (job.cv_folds or 0):
        return False
    session.execute(
        update(TrainingJob)
        .where(TrainingJob.id == job_id)
        .values(
            cv_metrics=cv_metrics(session, job_id), status=JobStatus.QUEUED, enqueued_at=utcnow()
        )
    )
    return True


def _fold_number(fold: CvFold) -> int:
    return fold.fold


def _on_folds(job: TrainingJob) -> bool:
    return job.status == JobStatus.RUNNING and job.cv_metrics is None and job.worker is None


def _end(
    session: Session,
    job: TrainingJob,
    status: JobStatus,
    *,
    error: str | None = None,
    code: str | None = None,
) -> None:
    session.execute(
        update(TrainingJob)
        .where(TrainingJob.id == job.id, TrainingJob.status == JobStatus.RUNNING)
        .values(status=status, error=error, error_code=code, finished_at=utcnow())
    )


def _cancel_folds(session: Session, job_id: str) -> None:
    active = session.scalars(
        select(CvFold.id)
        .where(CvFold.job_id == job_id, CvFold.status.in_(ACTIVE))
        .order_by(CvFold.fold)
        .with_for_update()
    ).all()
    for fold_id in active:
        request_cancel(session, CvFold, fold_id)


def cancel_cv_job(session: Session, job: TrainingJob) -> TrainingJob:
    """A caller's cancel of a cross-validated job. Its folds are locked first, then the job:
    the order every fold's own writes take. Queued folds end at once, running ones within an
    epoch; a job on its folds is cancelled when its last fold has ended."""
    _cancel_folds(session, job.id)
    cancel(session, job)
    settle_job(session, job.id)
    session.refresh(job)
    return job


def jobs_to_settle(session: Session) -> list[str]:
    """Jobs on their folds with no fold left to run (the reaper failed or cancelled the last
    one): the reaper settles them with `settle_job`."""
    still_active = (
        select(CvFold.id).where(CvFold.job_id == TrainingJob.id, CvFold.status.in_(ACTIVE)).exists()
    )
    return list(
        session.scalars(
            select(TrainingJob.id).where(
                TrainingJob.status == JobStatus.RUNNING,
                TrainingJob.cv_folds.is_not(None),
                TrainingJob.cv_metrics.is_(None),
                TrainingJob.worker.is_(None),
                ~still_active,
            )
        )
    )


def _fold_results(session: Session, job_id: str) -> list[tuple[CvFold, FoldPredictions]]:
    folds = session.scalars(
        select(CvFold)
        .where(CvFold.job_id == job_id, CvFold.status == JobStatus.SUCCEEDED)
        .options(undefer(CvFold.predictions))
        .order_by(CvFold.fold)
    )
    return [(fold, FoldPredictions.from_bytes(fold.predictions or b"")) for fold in folds]


def cv_metrics(session: Session, job_id: str) -> dict[str, Any]:
    """`{metric: {"mean", "std", "folds", "pooled"}}` from the job's succeeded folds."""
    results = _fold_results(session, job_id)
    job = session.get(TrainingJob, job_id)
    assert job is not None
    parts = [part for _, part in results]
    classification = job.task == "classification"
    pooled = pooled_metrics(parts, classification, job.network.get("loss", "mse"))
    fold_metrics = [fold.metrics or {} for fold, _ in results]
    return summarize(fold_metrics, {k: v for k, v in pooled.items() if k in METRICS})


def cv_objective(job: Any, metric: str) -> float | None:
    """The value of `metric` ("cv.val_loss", "cv.val_accuracy" or the name without "cv.") for
    a search: the mean over the job's folds, or None while it has no cv_metrics (not
    cross-validated, folds still running or failed) or none of that metric."""
    name = metric.removeprefix("cv.")
    entry = (getattr(job, "cv_metrics", None) or {}).get(name)
    if not entry:
        return None
    value = entry.get("mean")
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def cv_predictions(session: Session, job: TrainingJob) -> str:
    """The out-of-fold predictions of `job` as CSV; 409 while it has none."""
    if not job.cv_folds:
        raise Conflict(
            f"Job {job.id!r} was not cross-validated, so it has no out-of-fold predictions; "
            f'submit a job with training.cross_validation {{"folds": 5}}.'
        )
    if job.cv_metrics is None:
        raise Conflict(
            f"Job {job.id!r} is {job.status} and its folds have not all succeeded, so there "
            f"are no out-of-fold predictions yet; wait for its cv_metrics (GET /v1/jobs/{job.id})."
        )
    results = _fold_results(session, job.id)
    classes = (results[0][0].metrics or {}).get("classes") if results else None
    return predictions_csv([(fold.fold, part) for fold, part in results], classes)
