"""Where a search reaches its final status: the one place to hang what must follow it
(notifications, registering the best model)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from service.core.db import utcnow
from service.core.lifecycle import JobStatus
from service.core.tables import Search

SEARCH_TERMINAL: tuple[str, ...] = (
    JobStatus.SUCCEEDED.value,
    JobStatus.FAILED.value,
    JobStatus.CANCELLED.value,
)


def end_search(
    session: Session, search: Search, status: JobStatus, *, error: str | None = None
) -> None:
    """Give the locked `search` its final `status` (succeeded, failed or cancelled), in the
    caller's transaction. Its best trial is already recorded (`search.best_*`)."""
    if status.value not in SEARCH_TERMINAL:
        raise ValueError(f"{status!r} is not a final status of a search")
    search.status = status.value
    search.error = error
    search.finished_at = utcnow()
    session.flush()
