"""The broker connection both sides share, and enqueueing by task name.

The API never imports the worker: it publishes a message naming the task, carrying the job id
only, after the transaction that created the job has committed. The database stays the truth;
a lost message is re-sent by the worker's reaper.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import Celery

from service.core.config import Settings

TRAIN_TASK = "neuronal.train_job"
PREDICT_TASK = "neuronal.predict_batch"
FOLD_TASK = "neuronal.train_fold"
DELIVER_TASK = "neuronal.deliver_webhook"
QUEUE = "neuronal"
# deliveries have a queue and worker processes of their own, so that neither a training job
# nor a receiver that never answers ever waits for the other
WEBHOOK_QUEUE = "neuronal-webhooks"
BROKER_FOLDERS = ("queue", "processed", "control")

log = logging.getLogger(__name__)

Enqueue = Callable[[str], bool]
"""Publishes the task of one job id; False (logged) when the broker is unreachable."""


def broker_options(settings: Settings) -> dict[str, Any]:
    """Celery settings for reaching the broker, identical in the API and the workers.

    Pure: the folders of the embedded broker are made by `make_broker_folders`, when a
    producer or a worker is actually built."""
    options: dict[str, Any] = {
        "broker_url": settings.broker_url,
        "broker_connection_timeout": 3,
        "broker_connection_retry_on_startup": True,
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_serializer": "json",
        "task_default_queue": QUEUE,
        "task_ignore_result": True,
    }
    if settings.embedded_broker:
        folder = settings.broker_folder
        options["broker_transport"] = "service.core.folder_broker:AtomicFilesystemTransport"
        options["broker_transport_options"] = {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "processed_folder": str(folder / "processed"),
            "control_folder": str(folder / "control"),
            "store_processed": False,
            # an idle worker looks for a new message 40 times a second: a job waits ~12 ms
            # on average instead of ~50 ms at 0.1 s, for well under 1% of a core
            "polling_interval": 0.025,
        }
    else:
        options["broker_transport_options"] = {
            "visibility_timeout": settings.visibility_timeout_seconds,
            "socket_connect_timeout": 3,
            "socket_timeout": 10,
        }
    return options


def make_broker_folders(settings: Settings) -> None:
    """The folders of the embedded broker (nothing for another broker)."""
    if settings.embedded_broker:
        for name in BROKER_FOLDERS:
            (settings.broker_folder / name).mkdir(parents=True, exist_ok=True)


class Producer:
    """Publishes task messages, by name, to the broker of the settings it was built from."""

    def __init__(self, settings: Settings) -> None:
        make_broker_folders(settings)
        # not made Celery's "current app": in a worker that is the worker's own app
        self.celery = Celery("neuronal-api", set_as_current=False)
        self.celery.conf.update(broker_options(settings))

    def enqueue_training(self, job_id: str) -> bool:
        """Publish the training task for `job_id`; False (logged) if the broker is
        unreachable."""
        return self._enqueue(TRAIN_TASK, job_id)

    def enqueue_prediction(self, job_id: str) -> bool:
        """Publish the batch prediction task for `job_id`; False (logged) if the broker is
        unreachable."""
        return self._enqueue(PREDICT_TASK, job_id)

    def enqueue_fold(self, fold_id: str) -> bool:
        """Publish the task of one cross-validation fold; False (logged) if the broker is
        unreachable."""
        return self._enqueue(FOLD_TASK, fold_id)

    def enqueue_delivery(self, delivery_id: str, countdown: float | None = None) -> bool:
        """Publish the webhook delivery task for `delivery_id` (to run `countdown` seconds from
        now); False (logged) if the broker is unreachable (the delivery sweep resends it)."""
        return self._enqueue(DELIVER_TASK, delivery_id, queue=WEBHOOK_QUEUE, countdown=countdown)

    def _enqueue(
        self, task: str, job_id: str, queue: str = QUEUE, countdown: float | None = None
    ) -> bool:
        try:
            self.celery.send_task(
                task, args=[job_id], queue=queue, retry=False, countdown=countdown or None
            )
        except Exception as exc:  # any broker failure: the reaper re-sends from the database
            log.warning("could not enqueue %s %s: %s", task, job_id, exc)
            return False
        return True

    def reachable(self, timeout: float = 2.0) -> bool:
        try:
            with self.celery.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=timeout)
            return True
        except Exception:
            return False
