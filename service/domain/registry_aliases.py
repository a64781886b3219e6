"""Aliases of registered models: names such as `production` that point at one version and
move, each move kept in the alias's history.

`_record_move` is the one place an alias's move is recorded (set, moved or deleted). Moves of
one registered model are serialised by a lock on its row (PostgreSQL; SQLite serialises every
writer), so an `If-Match` compare-and-swap cannot be won by two requests at once.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.core.db import utcnow
from service.core.errors import InvalidInput, NotFound, PreconditionFailed, field_error
from service.core.outbox import record_event
from service.core.pagination import MAX_LIMIT, Page
from service.core.tables import AliasMove, ModelAlias, ModelVersion, RegisteredModel
from service.domain.registry_names import get_registered_model

ALIAS = re.compile(r"[a-z][a-z0-9_-]{0,63}")
ALIAS_RULE = "a lower-case letter, then up to 63 lower-case letters, digits, '_' or '-'"


def check_alias(alias: object, loc: list[str | int] | None = None) -> str:
    """`alias` if it is a valid alias (never all digits: those are version numbers)."""
    if isinstance(alias, str) and ALIAS.fullmatch(alias) and not alias.isdigit():
        return alias
    raise InvalidInput(
        f"{alias!r} is not an alias: use {ALIAS_RULE} (e.g. production); an alias is never "
        "all digits, which would read as a version number.",
        errors=[field_error(loc or ["path", "alias"], ALIAS_RULE)],
    )


def aliases_of(session: Session, registered: RegisteredModel) -> dict[str, int]:
    """Every alias of `registered` and the version it points at."""
    stmt = select(ModelAlias).where(ModelAlias.registered_model_id == registered.id)
    return {row.alias: row.version for row in session.scalars(stmt.order_by(ModelAlias.alias))}


def get_alias(session: Session, tenant_id: str, name: str, alias: str) -> ModelAlias:
    registered = get_registered_model(session, tenant_id, name)
    return _existing(session, registered, alias)


def move_alias(
    session: Session, tenant_id: str, name: str, alias: str, version: int, if_match: str | None
) -> ModelAlias:
    """Point `alias` at `version` (creating it if new). With `if_match` (the version it must
    point at now, or `*` for any), 412 unless it still does."""
    check_alias(alias)
    registered = get_registered_model(session, tenant_id, name, lock=True)
    current = session.get(ModelAlias, (registered.id, alias))
    _check_precondition(if_match, current, name, alias)
    return set_alias(session, registered, alias, version)


def set_alias(
    session: Session, registered: RegisteredModel, alias: str, version: int
) -> ModelAlias:
    """Point `alias` of a locked registered model at `version`; not committed."""
    target = session.get(ModelVersion, (registered.id, version))
    if target is None:
        raise InvalidInput(
            f"Registered model {registered.name!r} has no version {version} (its latest is "
            f"{registered.latest_version or 'none yet'}); point the alias at one that exists.",
            errors=[field_error(["body", "version"], "no such version")],
        )
    current = session.get(ModelAlias, (registered.id, alias))
    if current is None:
        current = ModelAlias(
            registered_model_id=registered.id, alias=alias, version=version,
            model_id=target.model_id, updated_at=utcnow(),
        )  # fmt: skip
        session.add(current)
        _record_move(session, registered, alias, version, None)
    elif current.version != version:
        previous = current.version
        current.version, current.model_id, current.updated_at = version, target.model_id, utcnow()
        _record_move(session, registered, alias, version, previous)
    session.flush()
    return current


def ever_pointed_at(
    session: Session, registered: RegisteredModel, alias: str, version: int
) -> bool:
    """Whether `alias` of `registered` has pointed at `version` (its history says so)."""
    stmt = select(AliasMove.id).where(
        AliasMove.registered_model_id == registered.id,
        AliasMove.alias == alias,
        AliasMove.version == version,
    )
    return session.scalar(stmt.limit(1)) is not None


def delete_alias(
    session: Session, tenant_id: str, name: str, alias: str, if_match: str | None
) -> None:
    """Remove `alias` (its history stays, ending with a move to no version)."""
    check_alias(alias)
    registered = get_registered_model(session, tenant_id, name, lock=True)
    current = _existing(session, registered, alias)
    _check_precondition(if_match, current, name, alias)
    _record_move(session, registered, alias, None, current.version)
    session.delete(current)
    session.flush()


def _record_move(
    session: Session,
    registered: RegisteredModel,
    alias: str,
    version: int | None,
    previous: int | None,
) -> AliasMove:
    """The one place an alias move is recorded: its history row, in the move's transaction."""
    move = AliasMove(
        registered_model_id=registered.id, alias=alias, version=version,
        previous_version=previous, at=utcnow(),
    )  # fmt: skip
    session.add(move)
    record_event(
        session, registered.tenant_id, "alias.moved",
        {"name": registered.name, "alias": alias, "version": version,
         "previous_version": previous},
    )  # fmt: skip
    return move


def alias_history(
    session: Session, tenant_id: str, name: str, alias: str, *, limit: int, cursor: str | None
) -> Page[AliasMove]:
    """The moves of `alias`, newest first (also after it was deleted); 404 if it never was."""
    check_alias(alias)
    registered = get_registered_model(session, tenant_id, name)
    if not 1 <= limit <= MAX_LIMIT or (cursor and not cursor.isdigit()):
        raise InvalidInput(
            f"limit must be between 1 and {MAX_LIMIT}, and cursor a next_cursor of this list.",
            errors=[field_error(["query"], "limit or cursor out of range")],
        )
    stmt = select(AliasMove).where(
        AliasMove.registered_model_id == registered.id, AliasMove.alias == alias
    )
    if cursor:
        stmt = stmt.where(AliasMove.id < int(cursor))
    rows = list(session.scalars(stmt.order_by(AliasMove.id.desc()).limit(limit + 1)))
    if not rows and not cursor:
        _existing(session, registered, alias)  # raises: this alias never existed
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, str(rows[-1].id) if more and rows else None)


def _existing(session: Session, registered: RegisteredModel, alias: str) -> ModelAlias:
    row = session.get(ModelAlias, (registered.id, alias))
    if row is None:
        raise NotFound(
            f"Registered model {registered.name!r} has no alias {alias!r}; set it with PUT "
            f"/v1/registered-models/{registered.name}/aliases/{alias}."
        )
    return row


def _check_precondition(
    if_match: str | None, current: ModelAlias | None, name: str, alias: str
) -> None:
    """412 unless `if_match` (a version number, `"3"`, or `*`) holds for `current`."""
    if if_match is None:
        return
    wanted = [tag.strip().removeprefix("W/").strip('"') for tag in if_match.split(",")]
    if not all(tag == "*" or tag.isdigit() for tag in wanted):
        raise InvalidInput(
            f"If-Match {if_match!r} is not a version number: send the version the alias "
            'points at now (e.g. If-Match: 3), or "*" for any.',
            errors=[field_error(["header", "If-Match"], "a version number or *")],
        )
    if current is not None and ("*" in wanted or str(current.version) in wanted):
        return
    now = f"points at version {current.version}" if current else "does not exist"
    raise PreconditionFailed(
        f"Alias {alias!r} of {name!r} {now}, not {if_match}: it moved since you read it. "
        f"Read it again (GET /v1/registered-models/{name}) and retry with the version it "
        "points at now."
    )


def aliases_by_model(session: Session, registered_ids: list[str]) -> dict[str, dict[str, int]]:
    """The aliases of several registered models at once (a page of them), by their id."""
    found: dict[str, dict[str, int]] = {rid: {} for rid in registered_ids}
    stmt = select(ModelAlias).where(ModelAlias.registered_model_id.in_(registered_ids))
    for row in session.scalars(stmt.order_by(ModelAlias.alias)):
        found[row.registered_model_id][row.alias] = row.version
    return found
