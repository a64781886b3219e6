"""Where a search reaches its final status: the one place that hangs what must follow it
(its webhook event, registering the best model)."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from service.core.db import utcnow
from service.core.errors import NeuronalError
from service.core.lifecycle import JobStatus
from service.core.outbox import record_event
from service.core.tables import Search
from service.domain.registry import register_model

SEARCH_TERMINAL: tuple[str, ...] = (
    JobStatus.SUCCEEDED.value,
    JobStatus.FAILED.value,
    JobStatus.CANCELLED.value,
)

log = logging.getLogger("neuronal.searches")


def end_search(
    session: Session, search: Search, status: JobStatus, *, error: str | None = None
) -> None:
    """Give the locked `search` its final `status` (succeeded, failed or cancelled), in the
    caller's transaction: its best trial (already recorded in `search.best_*`) registered
    when the search asked for it, and its webhook event recorded with the change."""
    if status.value not in SEARCH_TERMINAL:
        raise ValueError(f"{status!r} is not a final status of a search")
    search.status = status.value
    search.error = error
    search.finished_at = utcnow()
    if status == JobStatus.SUCCEEDED:
        _register_best(session, search)
    session.flush()
    record_event(session, search.tenant_id, f"search.{status.value}", event_data(search))


def register_ahead(session: Session, search: Search) -> bool:
    """Register the best trial of a search about to succeed, moving its alias, before the
    search ends (`end_search` then leaves it be): the caller commits, waits out the
    resolution lease and ends the search, as a PUT of an alias answers only a lease after
    its commit. True when it moved an alias now."""
    if not (search.register or {}).get("alias") or _registered(search):
        return False
    _register_best(session, search)
    return "version" in (search.register or {})


def registered_ahead(search: Search) -> bool:
    """Whether the search's alias moved while the search still runs (`register_ahead`)."""
    register = search.register or {}
    return (
        search.status not in SEARCH_TERMINAL
        and bool(register.get("alias"))
        and ("version" in register)
    )


def _registered(search: Search) -> bool:
    return "version" in (search.register or {}) or "error" in (search.register or {})


def _register_best(session: Session, search: Search) -> None:
    """The best trial's model as the next version of `search.register["name"]` (moving its
    alias); a refusal (the model deleted meanwhile, say) is kept in `register["error"]` and
    does not change how the search ended."""
    if not search.register or search.best_model_id is None or _registered(search):
        return
    name, alias = search.register["name"], search.register.get("alias")
    try:
        with session.begin_nested():
            version = register_model(session, search.tenant_id, name, search.best_model_id, alias)
    except NeuronalError as exc:
        log.warning("search %s: its best model was not registered: %s", search.id, exc)
        search.register = {**search.register, "error": str(exc)}
        return
    search.register = {**search.register, "version": version.version}


def event_data(search: Search) -> dict[str, Any]:
    """What the webhook event about a search's ending carries."""
    best = None
    if search.best_job_id is not None:
        best = {
            "trial": search.best_trial, "job_id": search.best_job_id,
            "model_id": search.best_model_id, "params": search.best_params,
            "objective": search.best_objective,
        }  # fmt: skip
    return {
        "search_id": search.id, "status": search.status, "dataset_id": search.dataset_id,
        "best": best, "register": search.register, "error": search.error,
    }  # fmt: skip
