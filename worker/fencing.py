"""What a worker needs around the lifecycle's fenced moves (service/core/lifecycle.py): the
shutdown flag, a heartbeat thread, and retries of transient database errors."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError

from service.core.db import transaction, utcnow
from service.core.lifecycle import JobTable, LostOwnership, fence

log = logging.getLogger("neuronal.worker")

TRANSIENT = (OperationalError, InterfaceError)

# Set when the worker begins a warm shutdown: running jobs are handed back at their next
# step, and no new job is claimed (a claim would count an attempt it cannot finish).
SHUTDOWN = threading.Event()


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
                    fence(session, self.table, self.job_id, self.attempt, heartbeat_at=utcnow())
            except LostOwnership:
                return
            except Exception as exc:  # the next beat retries; the reaper judges staleness
                log.warning("heartbeat for %s failed: %s", self.job_id, exc)
