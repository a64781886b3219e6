"""The lifecycle every queued job shares, in one place: its statuses, its columns and the
moves between them.

    queued ──claim──▶ running ──finish──▶ succeeded | failed | cancelled | pruned
      ▲                  │
      └──hand back, reap─┘        (cancel: queued → cancelled at once, running → flagged)

Every move is one conditional UPDATE on a session the caller owns: nothing here commits, so a
move and the writes that belong with it (a model, a checkpoint, the webhook event of a final
status) land in one transaction. A running job's writes are fenced by (status, attempt): an
attempt whose job was reclaimed, finished or deleted elsewhere gets `LostOwnership` and must
stop without writing anything.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from service.core.db import UTCDateTime, utcnow
from service.core.errors import Conflict
from service.core.outbox import EVENT_TYPES, record_event


class JobStatus(StrEnum):
    """A job's status, stored and shown as its value."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    PRUNED = "pruned"  # a search's trial stopped early by its early termination rule


STATUSES: tuple[JobStatus, ...] = tuple(JobStatus)
TERMINAL: tuple[JobStatus, ...] = (
    JobStatus.SUCCEEDED,
    JobStatus.FAILED,
    JobStatus.CANCELLED,
    JobStatus.PRUNED,
)
ACTIVE: tuple[JobStatus, ...] = (JobStatus.QUEUED, JobStatus.RUNNING)


class JobLifecycle:
    """The columns of a job row that the moves below read and write (training jobs and batch
    prediction jobs alike). The reaper's index is per table: see `reaper_index`."""

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(20), default=JobStatus.QUEUED.value)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    worker: Mapped[str | None] = mapped_column(String(200), nullable=True)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    # webhook events about a final status are "<event_noun>.<status>" (those of EVENT_TYPES)
    event_noun: ClassVar[str] = "job"

    def event_data(self) -> dict[str, Any]:
        """What a webhook event about this job's final status carries."""
        return {"id": self.id, "status": self.status}


def reaper_index(table_name: str) -> Index:
    """The index the reaper's sweep for stale running jobs reads."""
    return Index(f"ix_{table_name}_status_heartbeat_at", "status", "heartbeat_at")


Job = TypeVar("Job", bound=JobLifecycle)
JobTable = type[JobLifecycle]


class LostOwnership(Exception):
    """The job was reclaimed, finished or deleted elsewhere; this attempt must stop quietly."""


def claim(session: Session, table: JobTable, job_id: str, worker: str) -> int | None:
    """queued → running as attempt + 1 owned by `worker`; the attempt number, or None if
    the job is not waiting (a redelivered message, a cancelled or finished job)."""
    now = utcnow()
    attempt: int | None = session.scalar(
        update(table)
        .where(table.id == job_id, table.status == JobStatus.QUEUED)
        .values(
            status=JobStatus.RUNNING,
            attempts=table.attempts + 1,
            worker=worker,
            heartbeat_at=now,
            started_at=now,
        )
        .returning(table.attempts)  # one round trip, not a second query for the number
    )
    return attempt


def leave_unclaimed(session: Session, table: JobTable, job_id: str) -> None:
    """Mark a queued job as having no message, so the next reaper sweep sends it again (the
    worker that took the message is going away without claiming it)."""
    waiting = (table.id == job_id, table.status == JobStatus.QUEUED)
    session.execute(update(table).where(*waiting).values(enqueued_at=None))


def fence(session: Session, table: JobTable, job_id: str, attempt: int, **values: Any) -> None:
    """Write `values` to the job only while `attempt` still owns it; LostOwnership otherwise."""
    result = session.execute(
        update(table)
        .where(table.id == job_id, table.status == JobStatus.RUNNING, table.attempts == attempt)
        .values(**values)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise LostOwnership(job_id)


def fence_and_read_cancel(
    session: Session, table: JobTable, job_id: str, attempt: int, **values: Any
) -> bool:
    """`fence`, answering whether a cancel was asked for, in the one statement (RETURNING)."""
    wanted = session.execute(
        update(table)
        .where(table.id == job_id, table.status == JobStatus.RUNNING, table.attempts == attempt)
        .values(**values)
        .returning(table.cancel_requested)
    ).one_or_none()
    if wanted is None:
        raise LostOwnership(job_id)
    return bool(wanted[0])


def finish(
    session: Session,
    table: JobTable,
    job_id: str,
    attempt: int,
    status: JobStatus,
    *,
    error: str | None = None,
    code: str | None = None,
    **values: Any,
) -> None:
    """running → a terminal `status`, fenced like any write of the attempt."""
    if status not in TERMINAL:
        raise ValueError(f"{status!r} is not a final status")
    fence(session, table, job_id, attempt, status=status, error=error, error_code=code,
          finished_at=utcnow(), **values)  # fmt: skip
    record_ending(session, table, job_id)


def record_ending(session: Session, table: JobTable, job_id: str) -> None:
    """The webhook event of the job's final status, in the transaction of the move (jobs whose
    status has no event type, a cancelled batch prediction say, record nothing)."""
    job = session.get(table, job_id, populate_existing=True)
    if job is None:
        return
    event_type = f"{table.event_noun}.{job.status}"
    if event_type in EVENT_TYPES:
        record_event(session, job.tenant_id, event_type, job.event_data())


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
            table.status == JobStatus.RUNNING,
            table.attempts == attempt,
            table.worker == worker,
        )
        .values(
            status=JobStatus.QUEUED,
            attempts=attempt - 1,
            worker=None,
            enqueued_at=utcnow(),
            **values,
        )
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise LostOwnership(job_id)


def cancel_requested(session: Session, table: JobTable, job_id: str) -> bool:
    return bool(session.scalar(select(table.cancel_requested).where(table.id == job_id)))


def request_cancel(session: Session, table: JobTable, job_id: str) -> None:
    """Cancel a queued job at once; flag a running one for its worker to stop.

    Both updates are conditional, so a worker claiming the job at the same moment either finds
    it cancelled or sees the flag at its next progress write."""
    cancelled = session.execute(
        update(table)
        .where(table.id == job_id, table.status == JobStatus.QUEUED)
        .values(status=JobStatus.CANCELLED, finished_at=utcnow(), cancel_requested=True)
    )
    if cancelled.rowcount == 1:  # type: ignore[attr-defined]
        record_ending(session, table, job_id)
    session.execute(
        update(table)
        .where(table.id == job_id, table.status == JobStatus.RUNNING)
        .values(cancel_requested=True)
    )


def cancel(session: Session, job: Job, *, kind: str = "Job") -> Job:
    """A caller's cancel of `job`: done at once if queued, asked for if running, a no-op if
    already cancelled; Conflict if it has already succeeded or failed. `job` is refreshed."""
    if job.status == JobStatus.CANCELLED:
        return job
    if job.status in TERMINAL:
        raise Conflict(f"{kind} {job.id!r} has already {job.status}; there is nothing to cancel.")
    request_cancel(session, type(job), job.id)
    session.refresh(job)
    return job


def reap(
    session: Session,
    table: JobTable,
    *,
    stale_before: datetime,
    requeue_before: datetime,
    max_attempts: int,
) -> list[str]:
    """Settle the running jobs of `table` whose heartbeat is older than `stale_before` (their
    worker is gone): cancelled if a cancel was asked for, failed as `worker_lost` after
    `max_attempts`, queued again otherwise. Queued jobs whose message was sent before
    `requeue_before` (or never) are stamped as sent now. Returns the ids to enqueue."""
    now = utcnow()
    to_enqueue: list[str] = []
    stale = session.execute(
        select(table.id, table.attempts, table.cancel_requested).where(
            table.status == JobStatus.RUNNING, table.heartbeat_at < stale_before
        )
    ).all()
    for job_id, attempts, wants_cancel in stale:
        fenced = (table.id == job_id, table.status == JobStatus.RUNNING, table.attempts == attempts)
        if wants_cancel:
            values: dict[str, Any] = {"status": JobStatus.CANCELLED, "finished_at": now}
        elif attempts >= max_attempts:
            values = {
                "status": JobStatus.FAILED,
                "error_code": "worker_lost",
                "finished_at": now,
                "error": f"The worker running this job was lost {attempts} times; "
                "it is not retried again. Check the workers' memory and logs.",
            }
        else:
            values = {"status": JobStatus.QUEUED, "worker": None, "enqueued_at": now}
        moved = session.execute(update(table).where(*fenced).values(**values))
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            continue  # its worker finished or handed it back meanwhile
        if values["status"] == JobStatus.QUEUED:
            to_enqueue.append(job_id)
        else:
            record_ending(session, table, job_id)
    waiting = session.scalars(
        select(table.id).where(
            table.status == JobStatus.QUEUED,
            or_(table.enqueued_at.is_(None), table.enqueued_at < requeue_before),
        )
    ).all()
    if waiting:
        session.execute(update(table).where(table.id.in_(waiting)).values(enqueued_at=now))
    to_enqueue.extend(waiting)
    return to_enqueue
