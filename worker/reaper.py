"""The reaper: the database is the truth, so jobs whose message or worker was lost are found
there and put back on the queue, or failed with `worker_lost` after too many attempts."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from sqlalchemy import or_, select, update

from service.config import Settings
from service.db import transaction, utcnow
from service.models import TrainingJob
from service.queue import enqueue_training

log = logging.getLogger("neuronal.reaper")


def reap_once(settings: Settings) -> list[str]:
    """One sweep; returns the ids re-enqueued."""
    now = utcnow()
    stale_before = now - timedelta(seconds=settings.stale_after_seconds)
    requeue_before = now - timedelta(seconds=settings.requeue_after_seconds)
    to_enqueue: list[str] = []
    with transaction() as session:
        stale = session.execute(
            select(TrainingJob.id, TrainingJob.attempts, TrainingJob.cancel_requested).where(
                TrainingJob.status == "running", TrainingJob.heartbeat_at < stale_before
            )
        ).all()
        for job_id, attempts, cancel_requested in stale:
            fence = (
                TrainingJob.id == job_id,
                TrainingJob.status == "running",
                TrainingJob.attempts == attempts,
            )
            if cancel_requested:
                values = {"status": "cancelled", "finished_at": now}
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
            session.execute(update(TrainingJob).where(*fence).values(**values))
        waiting = session.scalars(
            select(TrainingJob.id).where(
                TrainingJob.status == "queued",
                or_(TrainingJob.enqueued_at.is_(None), TrainingJob.enqueued_at < requeue_before),
            )
        ).all()
        if waiting:
            session.execute(
                update(TrainingJob).where(TrainingJob.id.in_(waiting)).values(enqueued_at=now)
            )
        to_enqueue.extend(waiting)
    for job_id in to_enqueue:
        enqueue_training(job_id)
    if to_enqueue:
        log.info("reaper re-enqueued %d job(s)", len(to_enqueue))
    return to_enqueue


class Reaper(threading.Thread):
    """Sweeps every `reaper_interval_seconds` in the worker's main process."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(daemon=True, name="neuronal-reaper")
        self.settings = settings
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.settings.reaper_interval_seconds):
            try:
                reap_once(self.settings)
            except Exception as exc:  # a database outage: try again next sweep
                log.warning("reaper sweep failed: %s", exc)
