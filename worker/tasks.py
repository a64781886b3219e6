"""Celery tasks: take an id, call the function that does the work, return."""

from __future__ import annotations

from sqlalchemy.exc import InterfaceError, OperationalError

from service.core.config import get_settings
from service.core.logs import log_context
from service.core.queue import PREDICT_TASK, TRAIN_TASK
from worker.batch_predictions import run_batch
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


@celery.task(
    name=PREDICT_TASK,
    bind=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=10,
)
def predict_batch(self, job_id: str) -> str:  # type: ignore[no-untyped-def]
    """Predict the rows of batch job `job_id` if it is still waiting; a no-op otherwise."""
    with log_context(prediction_job_id=job_id, task_id=self.request.id):
        return run_batch(job_id, worker=str(self.request.hostname), settings=get_settings())
