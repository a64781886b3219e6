"""The reaper: the database is the truth, so jobs (training and batch prediction alike) whose
message or worker was lost are found there and put back on the queue, or failed with
`worker_lost` after too many attempts."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from service.core.config import Settings
from service.core.db import transaction, utcnow
from service.core.queue import Producer
from service.core.tables import PredictionJob, TrainingJob
from worker.fencing import SHUTDOWN, JobTable

log = logging.getLogger("neuronal.reaper")


def reap_once(settings: Settings, producer: Producer) -> list[str]:
    """One sweep over training and prediction jobs; returns the ids re-enqueued."""
    requeued: list[str] = []
    sweeps = (
        (TrainingJob, producer.enqueue_training),
        (PredictionJob, producer.enqueue_prediction),
    )
    for table, enqueue in sweeps:
        with transaction() as session:
            to_enqueue = _sweep(session, table, settings)
        for job_id in to_enqueue:
            enqueue(job_id)
        requeued.extend(to_enqueue)
    if requeued:
        log.info("reaper re-enqueued %d job(s)", len(requeued))
    return requeued


def _sweep(session: Session, table: JobTable, settings: Settings) -> list[str]:
    """Requeue, fail or cancel the stale running jobs of `table`; find the queued ones whose
    message was lost. Returns the ids to enqueue."""
    now = utcnow()
    stale_before = now - timedelta(seconds=settings.stale_after_seconds)
    requeue_before = now - timedelta(seconds=settings.requeue_after_seconds)
    to_enqueue: list[str] = []
    stale = session.execute(
        select(table.id, table.attempts, table.cancel_requested).where(
            table.status == "running", table.heartbeat_at < stale_before
        )
    ).all()
    for job_id, attempts, cancel_requested in stale:
        fence = (table.id == job_id, table.status == "running", table.attempts == attempts)
        if cancel_requested:
            values: dict[str, Any] = {"status": "cancelled", "finished_at": now}
        elif attempts >= settings.max_attempts:
            values = {
                "status": "failed",
                "error_code": "worker_lost",
                "finished_at": now,
                "error": f"The worker running this job was lost {attempts} times; "
                "it is not retried again. Check the workers' memory and logs.",
            }
        else:
            values = {"status": "queued", "worker": None, "enqueued_at": now}
            to_enqueue.append(job_id)
        session.execute(update(table).where(*fence).values(**values))
    waiting = session.scalars(
        select(table.id).where(
            table.status == "queued",
            or_(table.enqueued_at.is_(None), table.enqueued_at < requeue_before),
        )
    ).all()
    if waiting:
        session.execute(update(table).where(table.id.in_(waiting)).values(enqueued_at=now))
    to_enqueue.extend(waiting)
    return to_enqueue


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
