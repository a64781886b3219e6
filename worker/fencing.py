"""What every kind of job run shares: the conditional claim, writes fenced by (status,
attempt), a heartbeat thread, and retries of transient database errors.

A job table here is any table with `id`, `status`, `attempts`, `worker`, `heartbeat_at` and
`started_at` columns: training jobs and prediction jobs.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from service.core.db import transaction, utcnow
from service.core.tables import PredictionJob, TrainingJob

log = logging.getLogger("neuronal.worker")

TRANSIENT = (OperationalError, InterfaceError)
JobTable = type[TrainingJob] | type[PredictionJob]

# Set when the worker begins a warm shutdown: running jobs are handed back at their next
# step, and no new job is claimed (a claim would count an attempt it cannot finish).
SHUTDOWN = threading.Event()


class LostOwnership(Exception):
    """The job was reclaimed or finished elsewhere; this attempt must stop quietly."""


def claim(table: JobTable, job_id: str, worker: str) -> int | None:
    """queued → running, attempt + 1; None if the job is not waiting (a redelivery) or this
    worker is shutting down (then the job is left for the reaper to send to another)."""
    if SHUTDOWN.is_set():
        decline(table, job_id)
        return None
    with transaction() as session:
        now = utcnow()
        claimed = session.execute(
            update(table)
            .where(table.id == job_id, table.status == "queued")
            .values(
                status="running",
                attempts=table.attempts + 1,
                worker=worker,
                heartbeat_at=now,
                started_at=now,
            )
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return None
        attempt: int | None = session.scalar(select(table.attempts).where(table.id == job_id))
        return attempt


def decline(table: JobTable, job_id: str) -> None:
    """Leave a queued job unclaimed, marked as having no message, so the next reaper sweep
    of any worker sends it again (this worker took the message and is going away)."""
    with transaction() as session:
        waiting = (table.id == job_id, table.status == "queued")
        session.execute(update(table).where(*waiting).values(enqueued_at=None))
    log.info("job %s declined: this worker is shutting down", job_id)


def hand_back(
    session: Session, table: JobTable, job_id: str, attempt: int, worker: str, **values: Any
) -> None:
    """running → queued without spending an attempt: a hand-back at shutdown is not a crash.

    The attempt number goes back down, so the fence also names the worker: a retried
    hand-back can never match the next owner's attempt, which carries another worker's name.
    """
    result = session.execute(
        update(table)
        .where(
            table.id == job_id,
            table.status == "running",
            table.attempts == attempt,
            table.worker == worker,
        )
        .values(status="queued", attempts=attempt - 1, worker=None, enqueued_at=utcnow(), **values)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise LostOwnership(job_id)


def owned(session: Session, table: JobTable, job_id: str, attempt: int, **values: Any) -> None:
    """Update the job only while this attempt still owns it; LostOwnership otherwise."""
    result = session.execute(
        update(table)
        .where(table.id == job_id, table.status == "running", table.attempts == attempt)
        .values(**values)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise LostOwnership(job_id)


def retrying(action: Any, *, deadline_seconds: float = 300.0) -> Any:
    """Run `action`, retrying transient database errors with backoff until a deadline."""
    delay = 0.2
    give_up = time.monotonic() + deadline_seconds
    while True:
        try:
            return action()
        except TRANSIENT as exc:
            if time.monotonic() + delay > give_up:
                raise
            log.warning("database unavailable (%s); retrying in %.1f s", type(exc).__name__, delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


class Heartbeat:
    """Refreshes the job's heartbeat from a thread, so a long step is not taken for a lost
    worker."""

    def __init__(self, table: JobTable, job_id: str, attempt: int, interval: float) -> None:
        self.table, self.job_id, self.attempt, self.interval = table, job_id, attempt, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name=f"heartbeat-{job_id}")

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                with transaction() as session:
                    owned(session, self.table, self.job_id, self.attempt, heartbeat_at=utcnow())
            except LostOwnership:
                return
            except Exception as exc:  # the next beat retries; the reaper judges staleness
                log.warning("heartbeat for %s failed: %s", self.job_id, exc)
