"""A training job that is a search's trial: what its epochs must respect (the search's
early termination rungs and its runtime limit), and moving the search on once it has ended."""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from service.core.config import Settings
from service.core.db import transaction, utcnow
from service.core.lifecycle import JobStatus
from service.core.queue import Enqueue
from service.core.tables import EpochMetric, Search, TrainingJob
from service.domain.asha import asha_keeps, rung_epochs
from service.domain.search_end import registered_ahead
from service.domain.search_scheduler import advance, runtime_deadline
from worker.fencing import retrying

log = logging.getLogger("neuronal.worker")


@dataclass
class TrialPlan:
    """What one attempt of a trial needs to know of its search."""

    search_id: str
    metric: str
    goal: str
    rungs: tuple[int, ...]  # epochs where early termination decides; empty without it
    reduction_factor: int
    deadline: datetime | None  # when the search's max_runtime_seconds runs out

    def past_deadline(self) -> bool:
        return self.deadline is not None and utcnow() >= self.deadline


def trial_plan(session: Session, job: TrainingJob) -> TrialPlan | None:
    """The plan of `job` if it is a trial (and its search now counts as running), else None."""
    if job.search_id is None:
        return None
    now = utcnow()
    session.execute(
        update(Search)
        .where(Search.id == job.search_id, Search.status == JobStatus.QUEUED)
        .values(status=JobStatus.RUNNING, started_at=now)
    )
    search = session.get(Search, job.search_id)
    if search is None:
        return None
    rule = search.early_termination
    rungs: tuple[int, ...] = ()
    factor = 0
    if rule is not None:
        factor = int(rule["reduction_factor"])
        rungs = tuple(r for r in rung_epochs(rule["min_epochs"], factor, job.epochs)
                      if r < job.epochs)  # fmt: skip
    return TrialPlan(
        search_id=search.id,
        metric=search.objective["metric"],
        goal=search.objective["goal"],
        rungs=rungs,
        reduction_factor=factor,
        deadline=runtime_deadline(search),
    )


def refresh_deadline(session: Session, plan: TrialPlan) -> None:
    """Read the search's runtime limit again (a PATCH may have changed it)."""
    search = session.get(Search, plan.search_id, populate_existing=True)
    if search is not None:
        plan.deadline = runtime_deadline(search)


def rung_verdict(
    session: Session, plan: TrialPlan, job_id: str, epoch: int, value: float | None
) -> str | None:
    """At a rung epoch (this trial's row for it already added): None to go on, or the
    reason the trial is pruned. Trials reaching the same rung at once decide one after the
    other, each seeing the values recorded before it."""
    _serialise_rung_decisions(session, plan.search_id)
    session.flush()
    column = getattr(EpochMetric, plan.metric)
    peers = session.scalars(
        select(column)
        .join(TrainingJob, TrainingJob.id == EpochMetric.job_id)
        .where(
            TrainingJob.search_id == plan.search_id,
            EpochMetric.epoch == epoch,
            EpochMetric.job_id != job_id,
        )
    ).all()
    mine = _comparable(value, plan.goal)
    others = [_comparable(v, plan.goal) for v in peers]
    if asha_keeps(mine, others, plan.reduction_factor, plan.goal):
        return None
    shown = "not finite" if value is None or not math.isfinite(value) else f"{value:.6g}"
    return (
        f"Stopped by early termination at epoch {epoch}: its {plan.metric} ({shown}) was not "
        f"in the best 1/{plan.reduction_factor} of the {len(others) + 1} trials recorded at "
        "that epoch."
    )


def _serialise_rung_decisions(session: Session, search_id: str) -> None:
    """An advisory lock of the search's rungs until the transaction ends (on PostgreSQL; SQLite
    serialises writers anyway). Not the search row's lock: this transaction already holds its
    job's row, and scheduling takes the search row before the job rows it cancels, so taking
    the search row here could deadlock with it."""
    if session.get_bind().dialect.name != "postgresql":
        return
    digest = hashlib.sha256(f"search-rungs:{search_id}".encode()).digest()
    key = int.from_bytes(digest[:8], "big", signed=True)
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def _comparable(value: float | None, goal: str) -> float:
    """A missing or non-finite figure (a diverging trial) ranks last."""
    if value is None or not math.isfinite(value):
        return math.inf if goal == "minimize" else -math.inf
    return float(value)


def after_trial(search_id: str, settings: Settings, enqueue: Enqueue) -> None:
    """Move the search on right after one of its trials ended (its final status committed).
    A failure here is only logged: the workers' periodic reconcile moves the search on."""
    try:
        queued = retrying(lambda: _advance(search_id, settings))
    except Exception as exc:
        log.warning("search %s could not schedule its next trials: %s", search_id, exc)
        return
    for job_id in queued:
        enqueue(job_id)


def advance_within(session: Session, search_id: str, settings: Settings) -> list[str] | None:
    """Move the search on inside the transaction that ends one of its trials (the search's
    row locked first, by the caller): the ids of the trials it queued, to enqueue once that
    commits; None if scheduling failed, in a savepoint, so that the trial's end still commits
    (`after_trial`, or the periodic reconcile, moves the search on then), and None when the
    search moved its alias now: `after_trial` ends it a resolution lease after this commit."""
    try:
        with session.begin_nested():
            queued = advance(session, search_id, settings, alias_first=True)
    except Exception as exc:
        log.warning("search %s: next trials not scheduled with the trial's end: %s", search_id, exc)
        return None
    search = session.get(Search, search_id)
    return None if search is not None and registered_ahead(search) else queued


def _advance(search_id: str, settings: Settings) -> list[str]:
    """Move the search on; one that succeeds moving an alias ends a resolution lease after
    the move's commit, so that no API process predicts the old way once it answers."""
    with transaction() as session:
        queued = advance(session, search_id, settings, alias_first=True)
        search = session.get(Search, search_id)
        settling = search is not None and registered_ahead(search)
    if settling:  # moved now, or by an earlier pass that may have died: a lease ago at least
        time.sleep(settings.registry_cache_seconds)
        with transaction() as session:
            queued += advance(session, search_id, settings)
    return queued


def reconcile_searches(settings: Settings, enqueue: Enqueue) -> int:
    """Move on every search still queued or running (one transaction each): a search whose
    trial ended in a process that died before scheduling, whose trials the reaper failed, or
    whose runtime ran out. Returns how many trials were queued."""
    with transaction() as session:
        active = session.scalars(
            select(Search.id).where(Search.status.in_((JobStatus.QUEUED, JobStatus.RUNNING)))
        ).all()
    queued = 0
    for search_id in active:
        job_ids = _advance(search_id, settings)
        for job_id in job_ids:
            enqueue(job_id)
        queued += len(job_ids)
    return queued
