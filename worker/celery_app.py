"""The one Celery configuration of the workers.

JSON only, explicit task names, late acknowledgement with reject-on-worker-lost, prefetch 1.
Redeliveries are safe because a task only ever claims its job with a conditional update.
"""

from __future__ import annotations

import logging

from celery import Celery, signals

from service.core.config import get_settings
from service.core.db import dispose_engines
from service.core.logs import configure_logging
from service.core.memory import return_large_frees_to_os
from service.core.queue import QUEUE, broker_options

log = logging.getLogger("neuronal.worker")


def create_celery() -> Celery:
    settings = get_settings()
    app = Celery("neuronal", include=["worker.tasks"])
    app.conf.update(broker_options(settings))
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_concurrency=settings.worker_concurrency,
        worker_pool="threads",
        task_default_queue=QUEUE,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        broker_connection_retry=True,
        broker_connection_max_retries=None,
    )
    return app


celery = create_celery()


@signals.setup_logging.connect
def _json_logs(loglevel: int | str | None = None, **_: object) -> None:
    """Celery leaves logging alone when this signal has a receiver: one JSON format for all."""
    configure_logging(get_settings(), loglevel)


@signals.worker_process_init.connect
def _fresh_connections_after_fork(**_: object) -> None:
    dispose_engines()


@signals.worker_ready.connect
def _start_background_duties(**_: object) -> None:
    from threadpoolctl import threadpool_limits

    from worker.memory_guard import limit_process_memory
    from worker.reaper import Reaper

    settings = get_settings()
    threadpool_limits(settings.worker_blas_threads)
    return_large_frees_to_os()
    limit = limit_process_memory(settings)
    Reaper(settings).start()
    shown = f"{limit / 2**20:,.0f} MiB" if limit else "none"
    log.info(
        "worker ready; BLAS threads %d; data segment limit %s", settings.worker_blas_threads, shown
    )


@signals.worker_shutting_down.connect
def _hand_back_running_jobs(**_: object) -> None:
    from worker.fencing import SHUTDOWN

    SHUTDOWN.set()
