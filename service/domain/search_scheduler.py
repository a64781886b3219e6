"""Moving a search forward: with its row locked, record the best trial, start the trials its
limits allow, and end it when nothing is left to run. Called after a trial's final commit, at
creation, on PATCH and cancel, and by the workers' periodic reconcile, so a search never waits
on a process that died between a commit and its scheduling.

Never commits: the caller commits, then enqueues the returned job ids (like POST /v1/jobs)."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.core.config import Settings
from service.core.db import new_id, utcnow
from service.core.errors import InvalidInput
from service.core.lifecycle import ACTIVE, JobStatus, request_cancel
from service.core.tables import Search, TrainingJob
from service.domain.cross_validation import cancel_cv_job, folds_of
from service.domain.jobs import active_tasks, job_tasks, validate_job_request
from service.domain.search_end import (
    SEARCH_TERMINAL,
    end_search,
    register_ahead,
    registered_ahead,
)
from service.domain.search_space import apply_params, config_key
from service.domain.search_trials import best_trial, next_params, trial_objective

log = logging.getLogger("neuronal.searches")


def lock_search(session: Session, search_id: str) -> Search | None:
    """The search row, locked until the transaction ends (SQLite serialises writers anyway)."""
    return session.scalar(
        select(Search)
        .where(Search.id == search_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def search_trials(session: Session, search_id: str) -> list[TrainingJob]:
    stmt = select(TrainingJob).where(TrainingJob.search_id == search_id)
    return list(session.scalars(stmt.order_by(TrainingJob.trial)))


def advance(
    session: Session, search_id: str, settings: Settings, *, alias_first: bool = False
) -> list[str]:
    """Move the search on; returns the ids of the trials it queued, to enqueue after commit.
    With `alias_first`, a search that succeeds moving an alias only moves it (or, moved
    already, is left running): the caller commits, waits the resolution lease and advances
    it again without `alias_first`, which ends it."""
    search = lock_search(session, search_id)
    if search is None or search.status in SEARCH_TERMINAL:
        return []
    trials = search_trials(session, search_id)
    record_best(search, trials)
    counts = Counter(job.status for job in trials)
    active = [job for job in trials if job.status in ACTIVE]
    if search.started_at is None and any(job.started_at is not None for job in trials):
        search.status, search.started_at = JobStatus.RUNNING.value, utcnow()
    stop = _stop_reason(search, counts)
    if stop is not None:
        for job in active:
            if job.cv_folds:  # its folds stop too
                cancel_cv_job(session, job)
            else:
                request_cancel(session, TrainingJob, job.id)
        if not any(job.status == JobStatus.RUNNING for job in active):
            _end(session, search, trials, stop, alias_first)
        return []
    queued = _start_trials(session, search, trials, len(active), settings)
    if not active and not queued and _nothing_left(search, trials):
        _end(session, search, trials, "done", alias_first)
    return [job.id for job in queued]


def record_best(search: Search, trials: list[TrainingJob]) -> None:
    best = best_trial(search, trials)
    if best is None or best.id == search.best_job_id:
        return
    search.best_job_id, search.best_trial = best.id, best.trial
    search.best_model_id, search.best_params = best.model_id, best.params
    search.best_objective = trial_objective(best, search.objective["metric"])


def _stop_reason(search: Search, counts: Counter[str]) -> str | None:
    if search.cancel_requested:
        return "cancelled"
    max_failed = search.limits.get("max_failed_trials")
    if max_failed is not None and counts[JobStatus.FAILED] >= max_failed:
        return "max_failed_trials"
    deadline = runtime_deadline(search)
    if deadline is not None and utcnow() >= deadline:
        return "max_runtime_seconds"
    return None


def runtime_deadline(search: Search) -> datetime | None:
    """When the search's max_runtime_seconds runs out (from its first trial's start), or None."""
    seconds = search.limits.get("max_runtime_seconds")
    if seconds is None:
        return None
    return (search.started_at or search.created_at) + timedelta(seconds=seconds)


def _end(
    session: Session, search: Search, trials: list[TrainingJob], reason: str, alias_first: bool
) -> None:
    succeeded = sum(job.status == JobStatus.SUCCEEDED for job in trials)
    if reason == "cancelled":
        end_search(session, search, JobStatus.CANCELLED)
    elif reason == "max_failed_trials":
        failed = sum(job.status == JobStatus.FAILED for job in trials)
        end_search(session, search, JobStatus.FAILED,
                   error=f"{failed} trials failed, limits.max_failed_trials; see their errors "
                   "with GET /v1/jobs?search_id=" + search.id)  # fmt: skip
    elif succeeded:
        if alias_first and (register_ahead(session, search) or registered_ahead(search)):
            return  # the caller ends it a resolution lease after the move's commit
        end_search(session, search, JobStatus.SUCCEEDED)
    else:
        end_search(session, search, JobStatus.FAILED,
                   error="No trial succeeded; see their errors with GET /v1/jobs?search_id="
                   + search.id)  # fmt: skip


def _nothing_left(search: Search, trials: list[TrainingJob]) -> bool:
    """Whether no trial may be added: max_trials reached, or no configuration left."""
    if len(trials) >= search.limits["max_trials"]:
        return True
    return next_params(search, trials, len(trials) + 1) is None


def _start_trials(
    session: Session, search: Search, trials: list[TrainingJob], active: int, settings: Settings
) -> list[TrainingJob]:
    limits = search.limits
    room = min(limits["max_parallel"] - active, limits["max_trials"] - len(trials))
    # the tenant's limit counts tasks: a cross-validated trial queues its folds and its final
    limit = settings.max_running_jobs_per_tenant
    tasks = job_tasks(search.base.get("training") or {}, limit)
    taken = active_tasks(session, search.tenant_id, limit)
    queued: list[TrainingJob] = []
    for _ in range(max(room, 0)):
        if taken + tasks > limit:
            break
        job = _add_trial(session, search, trials, settings)
        if job is None:
            break
        trials.append(job)
        if job.status == JobStatus.QUEUED:
            queued.append(job)
            taken += tasks
    return queued


def _add_trial(
    session: Session, search: Search, trials: list[TrainingJob], settings: Settings
) -> TrainingJob | None:
    """The next trial, queued; or failed at once if its configuration is refused by the job
    rules (only a value inside a range checked up front can be). None: the space is used up."""
    number = max((job.trial or 0 for job in trials), default=0) + 1
    params = next_params(search, trials, number)
    if params is None:
        return None
    job = TrainingJob(id=new_id("job"), tenant_id=search.tenant_id, dataset_id=search.dataset_id,
                      search_id=search.id, trial=number, params=params,
                      config_key=config_key(params), enqueued_at=utcnow())  # fmt: skip
    body = {**apply_params(search.base, params), "dataset_id": search.dataset_id}
    try:
        task, network, training = validate_job_request(session, search.tenant_id, body, settings)
    except InvalidInput as exc:
        task, network, training = body.get("task") or "", body.get("network") or {}, {}
        job.status, job.error, job.error_code = JobStatus.FAILED.value, exc.detail, "invalid_trial"
        job.finished_at = utcnow()
    else:
        job.status = JobStatus.QUEUED.value
    job.task, job.network, job.training = task, network, training
    job.cv_folds = folds_of(training)
    job.epochs = int(training.get("epochs", 1))
    try:
        with session.begin_nested():
            session.add(job)
    except IntegrityError:  # another process took this configuration first: the next one
        log.info("search %s: configuration of trial %d already taken", search.id, number)
        return None
    return job
