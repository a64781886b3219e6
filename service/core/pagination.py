"""Cursor pagination over id-ordered tables (ids sort by creation time, newest first)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session

from service.core.errors import InvalidInput, field_error

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def paginate(
    session: Session,
    stmt: Select[Any],
    id_column: InstrumentedAttribute[str],
    *,
    limit: int,
    cursor: str | None,
) -> Page[Any]:
    """Rows of `stmt` after `cursor`, newest first, at most `limit` of them."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(
            f"limit must be between 1 and {MAX_LIMIT}.",
            errors=[field_error(["query", "limit"], f"must be between 1 and {MAX_LIMIT}")],
        )
    if cursor:
        stmt = stmt.where(id_column < cursor)
    rows = list(session.scalars(stmt.order_by(id_column.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, rows[-1].id if more and rows else None)


def filter_by_status(
    stmt: Select[Any],
    column: InstrumentedAttribute[str],
    status: str | None,
    *,
    allowed: Sequence[str],
    noun: str,
) -> Select[Any]:
    """`stmt` narrowed to rows whose `column` is `status` (a `?status=` query), or a 422 that
    lists the statuses a `noun` can have."""
    if status is None:
        return stmt
    if status not in allowed:
        raise InvalidInput(
            f"status {status!r} is not a {noun} status; use one of {', '.join(allowed)}.",
            errors=[field_error(["query", "status"], "unknown status")],
        )
    return stmt.where(column == status)
