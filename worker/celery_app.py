"""The one Celery configuration of the workers.

JSON only, explicit task names, late acknowledgement with reject-on-worker-lost, prefetch 1,
the threads pool on the `neuronal` queue. Redeliveries are safe because a task only ever
claims its job with a conditional update. A delivery worker (`neuronal worker --deliveries`,
`-Q neuronal-webhooks`) runs the same app on the webhook queue only, with one thread per
concurrent delivery, and sweeps for due deliveries instead of reaping jobs.

Importing this module builds nothing. `make_celery(settings)` builds a worker's app (and its
broker folders); the module attribute `celery`, which `celery -A worker.celery_app:celery`
(the `neuronal worker` command) names, is the one app built from the environment's settings,
made on first access.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery, current_app, signals

from service.core.config import Settings, get_settings
from service.core.db import dispose_engines, use_database
from service.core.logs import configure_logging
from service.core.memory import return_large_frees_to_os
from service.core.outbox import SendInBackground, send_deliveries_after_commit
from service.core.queue import (
    QUEUE,
    WEBHOOK_QUEUE,
    Producer,
    broker_options,
    make_broker_folders,
)

log = logging.getLogger("neuronal.worker")


class WorkerApp(Celery):
    """A worker's Celery app with the settings it was built from and the producer its jobs
    re-enqueue with (tasks reach both as `self.app`)."""

    settings: Settings
    producer: Producer


def worker_options(settings: Settings) -> dict[str, Any]:
    """How a worker runs; the command line only overrides what its user chose."""
    return {
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "worker_concurrency": settings.worker_concurrency,
        "worker_pool": "threads",
        # with no task_queues, a worker consumes the default queue only: no -Q needed
        "task_default_queue": QUEUE,
        "worker_hijack_root_logger": False,
        "worker_send_task_events": False,
        "broker_connection_retry": True,
        "broker_connection_max_retries": None,
    }


def make_celery(settings: Settings) -> WorkerApp:
    """The workers' Celery app for `settings`; makes the embedded broker's folders."""
    make_broker_folders(settings)
    app = WorkerApp("neuronal", include=["worker.tasks"])
    app.conf.update(broker_options(settings))
    app.conf.update(worker_options(settings))
    app.settings = settings
    app.producer = Producer(settings)
    return app


_app: WorkerApp | None = None


def __getattr__(name: str) -> WorkerApp:
    """`worker.celery_app.celery`: the worker entry's app, from the environment, built once."""
    global _app
    if name != "celery":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _app is None:
        _app = make_celery(get_settings())
    return _app


@signals.setup_logging.connect
def _json_logs(loglevel: int | str | None = None, **_: object) -> None:
    """Celery leaves logging alone when this signal has a receiver: one JSON format for all."""
    if isinstance(current_app, WorkerApp):  # the app being started, set current on creation
        configure_logging(current_app.settings, loglevel)


@signals.worker_init.connect
def _bind_database(sender: Any, **_: object) -> None:
    # worker_init runs in the worker's main process for every pool, before the pool starts.
    # Under the threads pool (ours) and solo the tasks run in this very process, where
    # worker_process_init is never sent (threads) or not first (solo), so this is where the
    # job functions get their database: the one of the settings this worker was built from,
    # on fresh connections.
    app: WorkerApp = sender.app
    dispose_engines()
    use_database(app.settings.database_url)
    # the events a job's ending records are sent to the delivery workers once committed
    send_deliveries_after_commit(SendInBackground(app.producer.enqueue_delivery))


@signals.worker_process_init.connect
def _fresh_connections_after_fork(**_: object) -> None:
    # Sent only in the children of the prefork pool (which `neuronal worker` does not use, but
    # `celery -A worker.celery_app:celery worker --pool prefork` can): a child must not share
    # the connections it inherited from its parent. The bound URL is inherited with the fork.
    dispose_engines()


@signals.worker_ready.connect
def _start_background_duties(sender: Any, **_: object) -> None:
    from threadpoolctl import threadpool_limits

    from worker.delivery_sweep import DeliverySweep
    from worker.memory_guard import limit_process_memory
    from worker.reaper import Reaper

    app: WorkerApp = sender.app
    settings = app.settings
    threadpool_limits(settings.worker_blas_threads)
    return_large_frees_to_os()
    limit = limit_process_memory(settings)
    consumed = set(app.amqp.queues.consume_from)
    if QUEUE in consumed:
        Reaper(settings, app.producer).start()
    if WEBHOOK_QUEUE in consumed:
        DeliverySweep(settings, app.producer).start()
    shown = f"{limit / 2**20:,.0f} MiB" if limit else "none"
    log.info(
        "worker ready; BLAS threads %d; data segment limit %s", settings.worker_blas_threads, shown
    )


@signals.worker_shutting_down.connect
def _hand_back_running_jobs(**_: object) -> None:
    from worker.fencing import SHUTDOWN

    SHUTDOWN.set()
