"""Registered model names: their rule, and finding a tenant's registered model by name."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.core.errors import InvalidInput, NotFound, field_error
from service.core.tables import RegisteredModel

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
NAME_RULE = "a letter or digit, then up to 99 letters, digits, '.', '_' or '-' (e.g. churn-model)"


def check_name(name: object, loc: list[str | int] | None = None) -> str:
    """`name` if it is a valid registered model name, else InvalidInput saying the rule."""
    if isinstance(name, str) and NAME.fullmatch(name):
        return name
    raise InvalidInput(
        f"{name!r} is not a registered model name: use {NAME_RULE}.",
        errors=[field_error(loc or ["body", "name"], NAME_RULE)],
    )


def find_registered_model(
    session: Session, tenant_id: str, name: str, *, lock: bool = False
) -> RegisteredModel | None:
    stmt = select(RegisteredModel).where(
        RegisteredModel.tenant_id == tenant_id, RegisteredModel.name == name
    )
    if lock:
        stmt = stmt.with_for_update()
    return session.scalar(stmt)


def get_registered_model(
    session: Session, tenant_id: str, name: str, *, lock: bool = False
) -> RegisteredModel:
    """The tenant's registered model `name` (404 otherwise; another tenant's is a 404 too).
    `lock` holds its row until the transaction ends, which serialises version numbering
    and alias moves of one name on PostgreSQL (SQLite serialises every writer anyway)."""
    registered = find_registered_model(session, tenant_id, name, lock=lock)
    if registered is None:
        raise NotFound(
            f"There is no registered model {name!r}; list yours with GET "
            "/v1/registered-models or create it with POST /v1/registered-models."
        )
    return registered
