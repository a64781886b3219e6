"""The reaper: the database is the truth, so jobs (training and batch prediction alike) whose
message or worker was lost are found there and put back on the queue, or failed with
`worker_lost` after too many attempts; and searches are moved on from there (their next
trials, or their end) whatever process died between a trial's end and its scheduling."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from sqlalchemy.orm import Session

from service.core.config import Settings
from service.core.db import transaction, utcnow
from service.core.lifecycle import JobTable, reap
from service.core.queue import Producer
from service.core.tables import CvFold, PredictionJob, TrainingJob
from service.domain.cross_validation import jobs_to_settle, settle_job
from worker.fencing import SHUTDOWN
from worker.trials import reconcile_searches

log = logging.getLogger("neuronal.reaper")


def reap_once(settings: Settings, producer: Producer) -> list[str]:
    """One sweep over training and prediction jobs; returns the ids re-enqueued."""
    requeued: list[str] = []
    sweeps = (
        (TrainingJob, producer.enqueue_training),
        (PredictionJob, producer.enqueue_prediction),
        (CvFold, producer.enqueue_fold),
    )
    for table, enqueue in sweeps:
        with transaction() as session:
            to_enqueue = _sweep(session, table, settings)
        for job_id in to_enqueue:
            enqueue(job_id)
        requeued.extend(to_enqueue)
    for job_id in _settle_cv_jobs():
        producer.enqueue_training(job_id)
        requeued.append(job_id)
    if requeued:
        log.info("reaper re-enqueued %d job(s)", len(requeued))
    started = reconcile_searches(settings, producer.enqueue_training)
    if started:
        log.info("reconcile queued %d search trial(s)", started)
    return requeued


def _settle_cv_jobs() -> list[str]:
    """Cross-validated jobs whose last fold the sweep failed or cancelled end with it; the
    ids of those sent on to their final training."""
    ready = []
    with transaction() as session:
        for job_id in jobs_to_settle(session):
            if settle_job(session, job_id):
                ready.append(job_id)
    return ready


def _sweep(session: Session, table: JobTable, settings: Settings) -> list[str]:
    now = utcnow()
    return reap(
        session,
        table,
        stale_before=now - timedelta(seconds=settings.stale_after_seconds),
        requeue_before=now - timedelta(seconds=settings.requeue_after_seconds),
        max_attempts=settings.max_attempts,
    )


class Reaper(threading.Thread):
    """Sweeps every `reaper_interval_seconds` in the worker's main process."""

    def __init__(self, settings: Settings, producer: Producer) -> None:
        super().__init__(daemon=True, name="neuronal-reaper")
        self.settings = settings
        self.producer = producer
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.settings.reaper_interval_seconds):
            if SHUTDOWN.is_set():  # what it would send now is for the workers that stay
                return
            try:
                reap_once(self.settings, self.producer)
            except Exception as exc:  # a database outage: try again next sweep
                log.warning("reaper sweep failed: %s", exc)
