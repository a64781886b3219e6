"""Celery tasks: take an id, call the function that does the work, return."""

from __future__ import annotations

from sqlalchemy.exc import InterfaceError, OperationalError

from service.config import get_settings
from service.logs import log_context
from service.queue import TRAIN_TASK
from worker.celery_app import celery
from worker.training import run_job


@celery.task(
    name=TRAIN_TASK,
    bind=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=10,
)
def train_job(self, job_id: str) -> str:  # type: ignore[no-untyped-def]
    """Train job `job_id` if it is still waiting for a worker; a no-op otherwise."""
    with log_context(job_id=job_id, task_id=self.request.id):
        return run_job(job_id, worker=str(self.request.hostname), settings=get_settings())
