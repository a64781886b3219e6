"""Which model a warm start's `init_from` names: `{"model_id"}`, or a registered model's
`{"registered_model", "alias" | "version"}` resolved in the database at submission (the job
then keeps the model id it resolved to, so a later move of the alias does not change it)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from service.core.errors import InvalidInput, NotFound, field_error
from service.core.tables import TrainedModel
from service.domain.registry_aliases import check_alias
from service.domain.registry_names import check_name
from service.domain.registry_resolve import read_resolution
from service.domain.trained_models import get_model

AT = ["body", "init_from"]


def resolve_init_source(
    session: Session, tenant_id: str, init_from: dict[str, Any]
) -> TrainedModel:
    """The tenant's model that `init_from` names; InvalidInput if there is none."""
    return resolve_with_names(session, tenant_id, init_from)[0]


def resolve_with_names(
    session: Session, tenant_id: str, init_from: dict[str, Any]
) -> tuple[TrainedModel, dict[str, Any]]:
    """The model and how the request named it (a registered model's resolved version too)."""
    if "registered_model" in init_from:
        if "model_id" in init_from:
            raise _invalid(
                "init_from names its model once: by model_id, or by registered_model with an "
                "alias or a version; send one of them.",
                "model_id",
                "model_id or registered_model",
            )
        return _registered(session, tenant_id, init_from)
    model_id = init_from.get("model_id")
    if not model_id:
        raise _invalid(
            'init_from needs the source model: {"model_id": "..."}, or {"registered_model": '
            'name, "alias": ...} or {..., "version": n}.',
            "model_id",
            "Field required",
        )
    return _own_model(session, tenant_id, str(model_id), "model_id"), {"model_id": model_id}


def _registered(
    session: Session, tenant_id: str, init_from: dict[str, Any]
) -> tuple[TrainedModel, dict[str, Any]]:
    name = check_name(init_from["registered_model"], [*AT, "registered_model"])
    alias, version = init_from.get("alias"), init_from.get("version")
    if (alias is None) == (version is None):
        raise _invalid(
            f"init_from names registered model {name!r}: add which of its models, as "
            '"alias" (e.g. "production") or "version" (a number), one of them.',
            "alias",
            "alias or version",
        )
    if alias is not None:
        ref: str | int = check_alias(alias, [*AT, "alias"])
    else:
        ref = int(init_from["version"])
    where = "alias" if alias is not None else "version"
    try:
        resolved = read_resolution(session, tenant_id, name, ref)
    except NotFound as exc:
        raise _invalid(exc.detail, where, "not found") from exc
    named: dict[str, Any] = {"registered_model": name, "version": resolved.version}
    if alias is not None:
        named["alias"] = alias
    return _own_model(session, tenant_id, resolved.model_id, where), named


def _own_model(session: Session, tenant_id: str, model_id: str, where: str) -> TrainedModel:
    try:
        return get_model(session, tenant_id, model_id)
    except NotFound as exc:
        raise _invalid(exc.detail, where, "not found") from exc


def _invalid(detail: str, where: str, msg: str) -> InvalidInput:
    return InvalidInput(detail, errors=[field_error([*AT, where], msg)])
