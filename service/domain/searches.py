"""Hyperparameter searches: created after their whole space is validated, read back with
their trial counts and leaderboard, their limits changed and cancelled while they run.

Functions that may queue trials return the ids to enqueue once the caller has committed."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.core.config import Settings
from service.core.db import new_id, utcnow
from service.core.errors import Conflict, InvalidInput, NotFound, field_error
from service.core.lifecycle import STATUSES, TERMINAL, JobStatus
from service.core.pagination import Page, filter_by_status, paginate
from service.core.tables import Search, TrainingJob
from service.domain.jobs import IDEMPOTENCY_WINDOW
from service.domain.search_end import SEARCH_TERMINAL, registered_ahead
from service.domain.search_rules import check_grid_size, check_search
from service.domain.search_scheduler import advance, lock_search, search_trials
from service.domain.search_trials import sort_key, trial_objective

SEARCH_STATUSES = ("queued", "running", *SEARCH_TERMINAL)


def create_search(
    session: Session,
    tenant_id: str,
    request: dict[str, Any],
    settings: Settings,
    *,
    idempotency_key: str | None = None,
) -> tuple[Search, list[str]]:
    """Validate `request`, store the search and queue its first trials; returns the search and
    the trial ids to enqueue after commit (none when an Idempotency-Key repeats a request)."""
    request_hash = _hash_request(request)
    if idempotency_key:
        earlier = _for_idempotency_key(session, tenant_id, idempotency_key)
        if earlier is not None:
            _check_same_body(earlier, request_hash)
            return earlier, []
    dims = check_search(session, tenant_id, request, settings)
    if request["strategy"] == "grid":
        check_grid_size(dims, request)
    search = Search(
        id=new_id("srch"), tenant_id=tenant_id, dataset_id=request["dataset_id"],
        base=request["base"], space=request["space"], strategy=request["strategy"],
        sample=bool(request.get("sample")), seed=request["seed"],
        objective=request["objective"], early_termination=request.get("early_termination"),
        limits=request["limits"], register=request.get("register"),
        status=JobStatus.QUEUED.value, cancel_requested=False,
        idempotency_key=idempotency_key, request_hash=request_hash,
    )  # fmt: skip
    try:
        with session.begin_nested():
            session.add(search)
    except IntegrityError:  # a concurrent request with the same key won the race
        earlier = _for_idempotency_key(session, tenant_id, idempotency_key or "")
        if earlier is None:
            raise
        _check_same_body(earlier, request_hash)
        return earlier, []
    return search, advance(session, search.id, settings)


def get_search(session: Session, tenant_id: str, search_id: str) -> Search:
    search = session.get(Search, search_id)
    if search is None or search.tenant_id != tenant_id:
        raise NotFound(f"There is no search {search_id!r}; list yours with GET /v1/searches.")
    return search


def list_searches(
    session: Session, tenant_id: str, *, status: str | None, limit: int, cursor: str | None
) -> Page[Any]:
    stmt = select(Search).where(Search.tenant_id == tenant_id)
    stmt = filter_by_status(stmt, Search.status, status, allowed=SEARCH_STATUSES, noun="search")
    return paginate(session, stmt, Search.id, limit=limit, cursor=cursor)


def update_limits(
    session: Session, tenant_id: str, search_id: str, limits: dict[str, Any], settings: Settings
) -> tuple[Search, list[str]]:
    """Change the limits named in `limits` (the others stay); raising max_trials or
    max_parallel queues trials at once, lowering them stops scheduling more. A search they
    end successfully that moves an alias only moves it (`registered_ahead`): the caller ends it
    a resolution lease after committing, as the workers do."""
    get_search(session, tenant_id, search_id)
    for name in ("max_trials", "max_parallel"):
        if name in limits and limits[name] is None:
            raise InvalidInput(
                f"limits.{name} cannot be null: give a number of at least 1 (only "
                "max_runtime_seconds and max_failed_trials may be null, for no limit).",
                errors=[field_error(["body", "limits", name], "must be a number")],
            )
    search = lock_search(session, search_id)
    assert search is not None
    if search.status in SEARCH_TERMINAL:
        raise Conflict(
            f"Search {search_id!r} has already {search.status}; its limits can no longer "
            "change. Start a new search to train more trials."
        )
    if registered_ahead(search) and _adds_trials(search.limits, limits):
        register = search.register or {}
        raise Conflict(
            f"Search {search_id!r} has registered its best model as version "
            f"{register.get('version')} of {register.get('name')!r}, moved alias "
            f"{register.get('alias')!r} to it and is ending; it can take no more trials. "
            "Start a new search to train more."
        )
    search.limits = {**search.limits, **limits}
    session.flush()
    return search, advance(session, search_id, settings, alias_first=True)


def _adds_trials(current: dict[str, Any], asked: dict[str, Any]) -> bool:
    """Whether new limits would let a search start trials it could not start before."""
    return any(
        name in asked and asked[name] > current.get(name, 0)
        for name in ("max_trials", "max_parallel")
    )


def end_registered(session: Session, search_id: str, settings: Settings) -> list[str]:
    """Move on a search whose `register` moved its alias at least a resolution lease ago
    (`service.domain.search_end.registered_ahead`): one with nothing left to run ends now.
    Returns the ids of the trials to enqueue once the caller has committed."""
    return advance(session, search_id, settings)


def cancel_search(session: Session, tenant_id: str, search_id: str, settings: Settings) -> Search:
    """Stop scheduling, cancel queued trials at once and ask running ones to stop after their
    current epoch; the search is cancelled when the last of them has stopped."""
    search = get_search(session, tenant_id, search_id)
    if search.status == JobStatus.CANCELLED:
        return search
    if search.status in SEARCH_TERMINAL:
        raise Conflict(
            f"Search {search_id!r} has already {search.status}; there is nothing to cancel."
        )
    locked = lock_search(session, search_id)
    assert locked is not None
    locked.cancel_requested = True
    session.flush()
    advance(session, search_id, settings)
    session.refresh(locked)
    return locked


def trial_counts(session: Session, search_id: str) -> dict[str, int]:
    rows = session.execute(
        select(TrainingJob.status, func.count())
        .where(TrainingJob.search_id == search_id)
        .group_by(TrainingJob.status)
    ).all()
    counts: Counter[str] = Counter({status: int(count) for status, count in rows})
    return {"total": sum(counts.values()), **{status: counts[status] for status in STATUSES}}


def describe(session: Session, search: Search) -> dict[str, Any]:
    """The search as GET /v1/searches/{id} answers it."""
    best = None
    if search.best_job_id is not None:
        best = {
            "trial": search.best_trial,
            "job_id": search.best_job_id,
            "model_id": search.best_model_id,
            "params": search.best_params,
            "objective": search.best_objective,
        }
    fields = (
        "id", "status", "dataset_id", "base", "space", "strategy", "sample", "seed",
        "objective", "early_termination", "limits", "register", "error", "created_at",
        "started_at", "finished_at",
    )  # fmt: skip
    view = {name: getattr(search, name) for name in fields}
    return {**view, "trials": trial_counts(session, search.id), "best": best}


def leaderboard(session: Session, tenant_id: str, search_id: str) -> list[dict[str, Any]]:
    """Every trial, best first: succeeded trials by objective, then the others (pruned ones
    by the objective they had when stopped), then those without one."""
    search = get_search(session, tenant_id, search_id)
    key = sort_key(search.objective["goal"])
    rows = [trial_row(search, job) for job in search_trials(session, search_id)]
    rows.sort(key=lambda r: (r["status"] != "succeeded", *key((r["objective"], r["trial"]))))
    return rows


def ended_trials(session: Session, search: Search) -> list[dict[str, Any]]:
    """The trials that have ended, in the order they ended, as leaderboard rows."""
    ended = [job for job in search_trials(session, search.id) if job.status in TERMINAL]
    ended.sort(key=lambda job: (job.finished_at or job.created_at, job.trial or 0))
    return [trial_row(search, job) for job in ended]


def trial_row(search: Search, job: TrainingJob) -> dict[str, Any]:
    return {
        "trial": job.trial,
        "job_id": job.id,
        "status": job.status,
        "params": job.params,
        "objective": trial_objective(job, search.objective["metric"]),
        "epochs": job.epoch,
        "model_id": job.model_id,
    }


def _hash_request(request: dict[str, Any]) -> str:
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _check_same_body(earlier: Search, request_hash: str) -> None:
    if earlier.request_hash != request_hash:
        raise InvalidInput(
            "This Idempotency-Key was already used with a different body; use a new key for "
            "a new search.",
            errors=[field_error(["header", "Idempotency-Key"], "reused with another body")],
        )


def _for_idempotency_key(session: Session, tenant_id: str, key: str) -> Search | None:
    search = session.scalar(
        select(Search).where(Search.tenant_id == tenant_id, Search.idempotency_key == key)
    )
    if search is not None and utcnow() - search.created_at > IDEMPOTENCY_WINDOW:
        search.idempotency_key = None  # expired: free the key for a new search
        session.flush()
        return None
    return search
