"""What the server-sent event streams of jobs and prediction jobs share: one poller per
process, admission caps, and the Last-Event-ID rule.

Streams never read the database themselves. Each open stream registers what it watches
with the process's `StreamHub`; one task reads every watched job in one transaction per
poll interval (one `IN (...)` query for the jobs, epoch rows only for jobs that moved) and
wakes the streams whose job changed. A thousand open streams cost the database what one
does, hold no connection between polls, and leave the pool to ordinary requests and the
workers' heartbeats.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import Header, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from service.api.deps import TenantDep
from service.api.problems import problem_responses
from service.api.schemas import EpochMetricOut, JobOut
from service.api.schemas_models import PredictionJobOut
from service.core.config import Settings
from service.core.db import session_factory
from service.core.errors import BadRequest, TooManyRequests
from service.domain import streams

TrainingSnapshot = tuple[JobOut, list[EpochMetricOut]]  # the job, its epochs not yet seen

POLL_SECONDS = 0.25
RETRY_AFTER_SECONDS = 5
_EVENT_ID = re.compile(r"[0-9]{1,18}")  # what these streams send: an epoch or a row count

log = logging.getLogger("neuronal.events")

STREAM_PROBLEMS = problem_responses(400)


def resume_point(last_event_id: str | None = Header(None)) -> int:
    """The progress a reconnecting client has already seen (its Last-Event-ID), else 0.

    Ids are the whole numbers these streams send; anything else is a 400 rather than a
    guess (an empty header counts as none)."""
    if not last_event_id:
        return 0
    if not _EVENT_ID.fullmatch(last_event_id):
        shown = last_event_id if len(last_event_id) <= 40 else last_event_id[:40] + "…"
        raise BadRequest(
            f"Last-Event-ID {shown!r} is not an id this stream sends (a whole number of at most "
            "18 digits: the last epoch or row count you received); leave the header out to "
            "start from the beginning."
        )
    return int(last_event_id)


@dataclass(eq=False)
class Watcher:
    """One open stream's interest in one job, and the latest state the poller saw."""

    kind: str  # "training" or "prediction"
    job_id: str
    after: int
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    snapshot: Any = None  # a TrainingSnapshot or a PredictionJobOut
    gone: bool = False

    async def next_poll(self) -> None:
        """Wait until the poller has read the job again (or a few intervals have passed)."""
        try:
            await asyncio.wait_for(self.changed.wait(), timeout=POLL_SECONDS * 4)
        except TimeoutError:
            return
        self.changed.clear()


class StreamHub:
    """The process's open event streams: admission per tenant and in total, and the poller."""

    def __init__(self, settings: Settings) -> None:
        self.database_url = settings.database_url
        self.max_total = settings.max_event_streams
        self.max_per_tenant = settings.max_event_streams_per_tenant
        self.open_by_tenant: Counter[str] = Counter()
        self.watchers: set[Watcher] = set()
        self._poller: asyncio.Task[None] | None = None

    @property
    def open_total(self) -> int:
        return sum(self.open_by_tenant.values())

    def admit(self, tenant_id: str) -> None:
        """Count a new stream for `tenant_id`, or refuse it with 429."""
        if self.open_by_tenant[tenant_id] >= self.max_per_tenant:
            raise TooManyRequests(
                f"Your tenant already has {self.max_per_tenant:,} event streams open on this "
                "server (NEURONAL_MAX_EVENT_STREAMS_PER_TENANT); close some, or poll "
                "GET /v1/jobs/{id} instead.",
                retry_after=RETRY_AFTER_SECONDS,
            )
        if self.open_total >= self.max_total:
            raise TooManyRequests(
                f"This server already has {self.max_total:,} event streams open "
                "(NEURONAL_MAX_EVENT_STREAMS); retry later, or poll GET /v1/jobs/{id} instead.",
                retry_after=RETRY_AFTER_SECONDS,
            )
        self.open_by_tenant[tenant_id] += 1

    def release(self, tenant_id: str) -> None:
        self.open_by_tenant[tenant_id] -= 1
        if self.open_by_tenant[tenant_id] <= 0:
            del self.open_by_tenant[tenant_id]

    @contextmanager
    def watch(self, kind: str, job_id: str, after: int) -> Iterator[Watcher]:
        """Watch `job_id` (kind "training" or "prediction") until the block ends."""
        watcher = Watcher(kind, job_id, after)
        self.watchers.add(watcher)
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._poll(), name="event-stream-poller")
        try:
            yield watcher
        finally:
            self.watchers.discard(watcher)

    async def _poll(self) -> None:
        while self.watchers:
            watching = list(self.watchers)
            try:
                training, prediction = await run_in_threadpool(self._read, watching)
            except Exception as error:  # the database is away: streams wait for the next poll
                log.warning("event streams could not be refreshed: %s", error)
            else:
                for watcher in watching:
                    found = (training if watcher.kind == "training" else prediction).get(
                        watcher.job_id
                    )
                    if found is None or _news(watcher, found):
                        watcher.changed.set()  # idle streams stay asleep
                    watcher.gone = found is None
                    watcher.snapshot = found
            await asyncio.sleep(POLL_SECONDS)

    def _read(
        self, watching: list[Watcher]
    ) -> tuple[dict[str, TrainingSnapshot], dict[str, PredictionJobOut]]:
        training_after: dict[str, int] = {}
        prediction_ids: set[str] = set()
        for watcher in watching:
            if watcher.kind == "training":
                since = training_after.get(watcher.job_id, watcher.after)
                training_after[watcher.job_id] = min(since, watcher.after)
            else:
                prediction_ids.add(watcher.job_id)
        with session_factory(self.database_url)() as session:
            training = _training_answers(session, training_after)
            prediction = _prediction_answers(session, sorted(prediction_ids))
        return training, prediction


def _training_answers(session: Session, after: dict[str, int]) -> dict[str, TrainingSnapshot]:
    """Each watched training job as GET /v1/jobs/{id} answers it, with its new epoch rows."""
    return {
        job_id: (JobOut.model_validate(job), [EpochMetricOut.model_validate(r) for r in rows])
        for job_id, (job, rows) in streams.training_snapshots(session, after).items()
    }


def _prediction_answers(session: Session, job_ids: list[str]) -> dict[str, PredictionJobOut]:
    """Each watched prediction job as GET /v1/predictions/{id} answers it."""
    found = streams.prediction_snapshots(session, job_ids)
    return {job_id: PredictionJobOut.model_validate(job) for job_id, job in found.items()}


def _news(watcher: Watcher, found: Any) -> bool:
    """Whether `found` holds something the stream has not sent yet."""
    if watcher.snapshot is None:
        return True
    if watcher.kind == "training":
        job, rows = found
        return bool(rows) or job.status != watcher.snapshot[0].status
    return bool(found.progress.rows_done > watcher.after or found.status != watcher.snapshot.status)


def stream_hub(request: Request) -> StreamHub:
    hub: StreamHub = request.app.state.stream_hub
    return hub


async def stream_slot(request: Request, tenant_id: TenantDep) -> AsyncIterator[None]:
    """A place among the open streams (429 when there is none), held until the stream ends."""
    hub = stream_hub(request)
    hub.admit(tenant_id)
    try:
        yield
    finally:
        hub.release(tenant_id)


def still_streaming(request: Request) -> bool:
    """False once the server is stopping (a client that left cancels its stream itself)."""
    return not request.app.state.shutting_down
