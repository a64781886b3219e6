"""One attempt of one job, whatever it computes: the harness claims the job, keeps its
heartbeat, decides when the step must stop (cancel, the worker's shutdown, the time limit),
turns what the step raised into the job's outcome, and finishes the job or hands it back.

A kind of job plugs in a `JobStep`: its work (`execute`) and the writes that belong to its
own ending (`succeed`, `settle`, `hand_back_values`). Every write of an attempt is fenced by
(status, attempt), so a reclaimed or duplicate attempt never overwrites the one that owns the
job; a fenced-out attempt ends as "lost" and writes nothing more.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from service.core.config import Settings
from service.core.db import transaction, utcnow
from service.core.lifecycle import (
    JobStatus,
    JobTable,
    LostOwnership,
    claim,
    fence,
    fence_and_read_cancel,
    finish,
    hand_back,
    leave_unclaimed,
)
from service.core.logs import bind_log_fields
from service.core.queue import Enqueue
from worker.dataset_cache import forget as forget_cached_dataset
from worker.failures import Failure, classify
from worker.fencing import SHUTDOWN, TRANSIENT, Heartbeat, retrying
from worker.memory_guard import TRAINING_ADVICE, out_of_memory_message

log = logging.getLogger("neuronal.worker")


class Ending(StrEnum):
    """Why a step stopped before its work was done (or why it may write nothing more)."""

    CANCELLED = "cancelled"
    HANDED_BACK = "handed_back"
    TIME_LIMIT = "time_limit"
    PRUNED = "pruned"  # a search's trial its early termination rule stopped
    LOST = "lost"


@dataclass(frozen=True)
class JobKind:
    """A table of jobs and how the worker names them."""

    table: JobTable
    noun: str  # how log lines name one: "job", "prediction job"
    log_field: str  # the log field that carries its id


class Run:
    """One claimed attempt: the step's fenced progress writes and the stop decision."""

    def __init__(
        self,
        kind: JobKind,
        job_id: str,
        attempt: int,
        settings: Settings,
        worker: str = "",
        enqueue: Enqueue | None = None,
    ) -> None:
        self.kind, self.job_id, self.attempt = kind, job_id, attempt
        self.settings, self.worker = settings, worker
        self.enqueue = enqueue  # puts a handed-back job on the queue again
        self.started = time.monotonic()
        self.ending: Ending | None = None
        self.message = ""  # the time limit's explanation, for the job's error
        self.published: dict[str, Any] | None = None  # `succeed`'s values, once committed

    def write(self, also: Callable[[Session], Any] | None = None, **values: Any) -> bool:
        """`values` and a fresh heartbeat on the job, and whatever `also` adds, in one fenced
        transaction (retried while the database is unreachable); returns whether a cancel
        was asked for. LostOwnership (the ending is then LOST) if the attempt was fenced out."""

        def once() -> bool:
            with transaction() as session:
                table, job_id, attempt = self.kind.table, self.job_id, self.attempt
                cancel = fence_and_read_cancel(
                    session, table, job_id, attempt, heartbeat_at=utcnow(), **values
                )
                if also is not None:
                    also(session)
                return cancel

        try:
            return bool(retrying(once))
        except LostOwnership:
            self.ending = Ending.LOST
            raise

    def decide(self, *, cancel: bool, more_to_do: bool, over_time: Callable[[], str]) -> bool:
        """Whether the step must stop now; `ending` says why. A cancel stops it always; the
        worker's shutdown and the time limit only while work is left: a finished result is
        stored whatever else happened meanwhile (handing it back would redo it, failing it
        on time would throw it away). `over_time` words the time limit's error."""
        if self.ending is not None:
            return True
        if cancel:
            self.ending = Ending.CANCELLED
        elif SHUTDOWN.is_set() and more_to_do:
            self.ending = Ending.HANDED_BACK
        elif more_to_do and time.monotonic() - self.started > self.settings.job_time_limit_seconds:
            self.ending = Ending.TIME_LIMIT
            self.message = over_time()
        return self.ending is not None

    def prune(self, message: str) -> None:
        """End as pruned (a search's early termination stopped this trial); `message` says why."""
        if self.ending is None:
            self.ending, self.message = Ending.PRUNED, message


class JobStep:
    """What one kind of job does between its claim and its end; the defaults do nothing."""

    failure_code = "job_error"  # the code of the user's own errors raised by `execute`
    memory_advice = TRAINING_ADVICE  # how to fit the job into the worker's memory

    def refusal(self, session: Session, run: Run) -> Failure | None:
        """Why the job cannot start on this worker (checked in the claim's transaction, before
        loading anything)."""
        return None

    def prepare(self, session: Session, run: Run) -> None:
        """Read (and reset) what `execute` needs, in the claim's transaction: one commit and
        its round trips fewer per job than a transaction of its own. What it raises, other
        than a database error, is the step's error: the job fails with it."""

    def execute(self, run: Run) -> Any:
        """The work, reporting progress through `run.write` and stopping when `run.decide`
        says so; returns what `succeed` stores (ignored if the run ended early). Heavy
        serialising belongs here, outside the transaction `succeed` writes in."""
        raise NotImplementedError

    def wrap_up(self, run: Run) -> None:
        """Write what is pending once the work has stopped, however it stopped (unless lost)."""

    def succeed(self, session: Session, run: Run, result: Any) -> dict[str, Any]:
        """Add the result's rows; returns the job's columns to write with its success."""
        return {}

    def forget_result(self) -> None:
        """Undo what `succeed` noted about its rows, which were rolled back (a cancel won)."""

    def publishes(self, run: Run) -> bool:
        """Whether `succeed` changes what API processes remember for a lease (an alias the
        job moves): then its rows commit first and the job's success a lease later."""
        return False

    def lock_first(self, session: Session, run: Run) -> None:
        """Rows to lock before the job's own in its final transaction (a trial's search, which
        scheduling always locks before its trials' rows)."""

    def settle(self, session: Session, run: Run) -> None:
        """Writes that go with any final status (the checkpoint a finished job no longer needs)."""

    def hand_back_values(self) -> dict[str, Any]:
        """The job's columns to reset when it goes back to the queue."""
        return {}


def run_attempt(
    kind: JobKind,
    job_id: str,
    *,
    worker: str,
    settings: Settings,
    enqueue: Enqueue,
    step_for: Callable[[Session, Run], JobStep],
    divert: Callable[[Session], str | None] | None = None,
) -> str:
    """Claim `job_id` and run the step `step_for` picks for it; returns what happened, for
    the logs: skipped (not waiting: a redelivery), lost, or the job's ending. `divert`, run
    first in the claim's transaction, may take the job elsewhere instead (a cross-validated
    job onto its folds): what it returns, if not None, is then the outcome."""
    claimed = claim_job(kind, job_id, worker, settings, enqueue, step_for, divert)
    if not isinstance(claimed, _Claimed):
        return claimed
    run, step = claimed.run, claimed.step
    bind_log_fields(**{kind.log_field: job_id, "attempt": run.attempt})
    log.info("%s %s attempt %d claimed by %s", kind.noun, job_id, run.attempt, worker)
    if claimed.refusal is not None:
        return _conclude(run, step, None, claimed.refusal)
    result, failure, out_of_memory = None, None, False
    if claimed.error is not None:
        return _conclude(run, step, None, classify(claimed.error, user_code=step.failure_code))
    try:
        with Heartbeat(kind.table, job_id, run.attempt, settings.heartbeat_seconds):
            result = step.execute(run)
    # ---- The one place where what a step raised becomes the job's outcome. ----
    except LostOwnership:
        run.ending = Ending.LOST
    except MemoryError:  # over the process's limit (worker/memory_guard.py)
        out_of_memory = True
    except TRANSIENT:
        raise  # a database outage past the retries: the task is retried, the job stays
    except Exception as exc:  # the user's error, told to the user, or a bug (worker/failures.py)
        failure = classify(exc, user_code=step.failure_code)
    if out_of_memory:  # the step's arrays went with the exception: there is room to write now
        forget_cached_dataset()  # and the next job starts without the last data set's
        log.warning("%s %s ran out of memory", kind.noun, job_id)
        message = out_of_memory_message(settings, step.memory_advice)
        failure = Failure(code="memory_limit", message=message)
    # ---- Anything else propagates: the job stays running and the reaper retries it. ----
    return _conclude(run, step, result, failure)


@dataclass
class _Claimed:
    run: Run
    step: JobStep
    refusal: Failure | None
    error: Exception | None  # what the step's `prepare` raised


def claim_job(
    kind: JobKind,
    job_id: str,
    worker: str,
    settings: Settings,
    enqueue: Enqueue,
    step_for: Callable[[Session, Run], JobStep],
    divert: Callable[[Session], str | None] | None = None,
) -> _Claimed | str:
    """The claimed attempt, its step, and the step's refusal or prepared inputs, all in one
    transaction; "skipped" if the job is not waiting or if this worker is shutting down (the
    job is then left for the reaper to send to another); or what `divert` returned."""
    if SHUTDOWN.is_set():
        with transaction() as session:
            leave_unclaimed(session, kind.table, job_id)
        log.info("%s %s declined: this worker is shutting down", kind.noun, job_id)
        return "skipped"
    with transaction() as session:
        if divert is not None and (diverted := divert(session)) is not None:
            return diverted
        attempt = claim(session, kind.table, job_id, worker)
        if attempt is None:
            return "skipped"
        run = Run(kind, job_id, attempt, settings, worker, enqueue)
        step = step_for(session, run)
        refusal = step.refusal(session, run)
        error = None
        if refusal is None:
            try:
                step.prepare(session, run)
            except SQLAlchemyError:
                raise  # the claim is rolled back with it: the job stays queued
            except LostOwnership:  # deleted since the message was sent: nothing to run
                return Ending.LOST.value
            except Exception as exc:  # the step's own error: the attempt fails with it
                error = exc
        return _Claimed(run, step, refusal, error)


def _conclude(run: Run, step: JobStep, result: Any, failure: Failure | None) -> str:
    if run.ending is not Ending.LOST:
        try:
            step.wrap_up(run)
        except LostOwnership:
            run.ending = Ending.LOST
    if run.ending is Ending.LOST:
        return Ending.LOST.value
    try:
        if failure is not None:
            retrying(lambda: _finish(run, step, JobStatus.FAILED, failure))
            return JobStatus.FAILED.value
        if run.ending is Ending.CANCELLED:
            retrying(lambda: _finish(run, step, JobStatus.CANCELLED))
        elif run.ending is Ending.PRUNED:
            pruned = Failure(code="pruned", message=run.message)
            retrying(lambda: _finish(run, step, JobStatus.PRUNED, pruned))
        elif run.ending is Ending.TIME_LIMIT:
            time_limit = Failure(code="time_limit", message=run.message)
            retrying(lambda: _finish(run, step, JobStatus.FAILED, time_limit))
        elif run.ending is Ending.HANDED_BACK:
            retrying(lambda: _hand_back(run, step))
        else:
            return str(retrying(lambda: _succeed(run, step, result)))
    except LostOwnership:
        return Ending.LOST.value
    assert run.ending is not None
    return run.ending.value


def _finish(run: Run, step: JobStep, status: JobStatus, failure: Failure | None = None) -> None:
    error, code = (failure.message, failure.code) if failure else (None, None)
    with transaction() as session:
        step.lock_first(session, run)
        finish(session, run.kind.table, run.job_id, run.attempt, status, error=error, code=code)
        step.settle(session, run)


def _succeed(run: Run, step: JobStep, result: Any) -> str:
    """The result and the job's success in one transaction; or the cancel asked for since
    the last progress write, which is honoured instead.

    A step that `publishes` commits its result's rows first and the job's success one
    resolution lease later, as a PUT of an alias answers (service.domain.registry_resolve):
    by the time the job answers succeeded, no API process predicts with what the alias
    pointed at before. Retried, the committed rows are not written again; a cancel asked for
    once they are is too late."""
    table, job_id, attempt = run.kind.table, run.job_id, run.attempt
    if run.published is None:
        try:
            with transaction() as session:
                # the result's new rows come before the rows `lock_first` locks, so trials of
                # one search that end together queue on the search's row only for their
                # status moves and scheduling; still ours (LostOwnership otherwise, and the
                # rows roll back) and not cancelled, checked once the lock is held
                values = step.succeed(session, run, result)
                step.lock_first(session, run)
                if fence_and_read_cancel(session, table, job_id, attempt, heartbeat_at=utcnow()):
                    raise _CancelledMeanwhile
                if not step.publishes(run):
                    finish(session, table, job_id, attempt, JobStatus.SUCCEEDED, **values)
                    step.settle(session, run)
                    return JobStatus.SUCCEEDED.value
        except _CancelledMeanwhile:  # the result's rows rolled back with the transaction
            step.forget_result()
            with transaction() as session:
                step.lock_first(session, run)
                finish(session, table, job_id, attempt, JobStatus.CANCELLED)
                step.settle(session, run)
            return JobStatus.CANCELLED.value
        run.published = values
        time.sleep(run.settings.registry_cache_seconds)
    with transaction() as session:
        step.lock_first(session, run)
        fence(session, table, job_id, attempt, heartbeat_at=utcnow())
        finish(session, table, job_id, attempt, JobStatus.SUCCEEDED, **run.published)
        step.settle(session, run)
    return JobStatus.SUCCEEDED.value


class _CancelledMeanwhile(Exception):
    """A cancel was asked for before the result's transaction locked the job: it rolls back."""


def _hand_back(run: Run, step: JobStep) -> None:
    """Give the running job back to the queue (this worker is shutting down)."""
    with transaction() as session:
        hand_back(session, run.kind.table, run.job_id, run.attempt, run.worker,
                  **step.hand_back_values())  # fmt: skip
    if run.enqueue is not None:
        run.enqueue(run.job_id)
