"""Celery tasks: take an id, call the function that does the work, return."""

from __future__ import annotations

from celery import shared_task
from sqlalchemy.exc import InterfaceError, OperationalError

from service.core.logs import log_context
from service.core.queue import DELIVER_TASK, FOLD_TASK, PREDICT_TASK, TRAIN_TASK
from worker.batch_predictions import run_batch
from worker.cross_validation import run_fold
from worker.training import run_job
from worker.webhooks import deliverer_for

# shared tasks bind to the app that includes this module (worker.celery_app.make_celery), whose
# settings and producer they use: importing them builds no app


@shared_task(
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
        app = self.app
        return run_job(  # a cross-validated job's folds run as tasks of their own
            job_id,
            worker=str(self.request.hostname),
            settings=app.settings,
            enqueue=app.producer.enqueue_training,
            enqueue_fold=app.producer.enqueue_fold,
        )


@shared_task(
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
        app = self.app
        return run_batch(
            job_id,
            worker=str(self.request.hostname),
            settings=app.settings,
            enqueue=app.producer.enqueue_prediction,
        )


@shared_task(
    name=FOLD_TASK,
    bind=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=10,
)
def train_fold(self, fold_id: str) -> str:  # type: ignore[no-untyped-def]
    """Train cross-validation fold `fold_id` if it is still waiting; a no-op otherwise."""
    with log_context(fold_id=fold_id, task_id=self.request.id):
        app = self.app
        return run_fold(
            fold_id,
            worker=str(self.request.hostname),
            settings=app.settings,
            enqueue_fold=app.producer.enqueue_fold,
            enqueue_training=app.producer.enqueue_training,
        )


@shared_task(
    name=DELIVER_TASK,
    bind=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=10,
)
def deliver_webhook(self, delivery_id: str) -> str:  # type: ignore[no-untyped-def]
    """Attempt webhook delivery `delivery_id` if it is due; a no-op otherwise."""
    with log_context(delivery_id=delivery_id, task_id=self.request.id):
        return deliverer_for(self.app.settings, self.app.producer).deliver(delivery_id)
