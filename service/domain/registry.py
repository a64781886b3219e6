"""The model registry: a tenant's registered models (stable names) and their immutable,
numbered versions, each naming one trained model.

`register_model` is the one way a model becomes a version (the versions route, `register` on a
training job, a search's best trial) and `_add_version` the one place a version row is
written. Aliases, which point at versions and move, are `service.domain.registry_aliases`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.core.db import new_id
from service.core.errors import Conflict, InvalidInput, NotFound, field_error
from service.core.outbox import record_event
from service.core.pagination import Page, paginate
from service.core.tables import AliasMove, ModelAlias, ModelVersion, RegisteredModel, TrainingJob
from service.domain import registry_aliases
from service.domain.registry_names import check_name, find_registered_model, get_registered_model
from service.domain.trained_models import get_model


def create_registered_model(
    session: Session, tenant_id: str, name: str, description: str = ""
) -> RegisteredModel:
    """A new, empty registered model; 409 if the tenant already has one of that name."""
    check_name(name)
    if find_registered_model(session, tenant_id, name) is not None:
        raise Conflict(_taken(name))
    registered = RegisteredModel(
        id=new_id("rgm"), tenant_id=tenant_id, name=name, description=description
    )
    try:
        with session.begin_nested():
            session.add(registered)
    except IntegrityError as exc:  # created at the same moment by another request
        raise Conflict(_taken(name)) from exc
    return registered


def list_registered_models(
    session: Session, tenant_id: str, *, limit: int, cursor: str | None
) -> Page[Any]:
    stmt = select(RegisteredModel).where(RegisteredModel.tenant_id == tenant_id)
    return paginate(session, stmt, RegisteredModel.id, limit=limit, cursor=cursor)


def delete_registered_model(session: Session, tenant_id: str, name: str) -> None:
    """Delete the name with its versions, aliases and alias history; the models stay."""
    registered = get_registered_model(session, tenant_id, name, lock=True)
    for table in (AliasMove, ModelAlias, ModelVersion):
        session.execute(delete(table).where(table.registered_model_id == registered.id))
    session.delete(registered)


def register_model(
    session: Session, tenant_id: str, name: str, model_id: str, alias: str | None = None
) -> ModelVersion:
    """Make the tenant's model `model_id` the next version of `name` (creating the registered
    model if it is new) and, with `alias`, point that alias at it; not committed."""
    check_name(name)
    if alias is not None:
        registry_aliases.check_alias(alias)
    try:
        get_model(session, tenant_id, model_id)
    except NotFound as exc:
        raise InvalidInput(
            exc.detail, errors=[field_error(["body", "model_id"], "not found")]
        ) from exc
    registered = find_registered_model(session, tenant_id, name, lock=True) or _create_locked(
        session, tenant_id, name
    )
    version = _add_version(session, registered, model_id)
    if alias is not None:
        registry_aliases.set_alias(session, registered, alias, version.version)
    return version


def _add_version(session: Session, registered: RegisteredModel, model_id: str) -> ModelVersion:
    """The one place a version is created: the next number of a locked registered model."""
    number = session.scalar(
        update(RegisteredModel)
        .where(RegisteredModel.id == registered.id)
        .values(latest_version=RegisteredModel.latest_version + 1)
        .returning(RegisteredModel.latest_version)
    )
    assert number is not None
    registered.latest_version = number
    version = ModelVersion(registered_model_id=registered.id, version=number, model_id=model_id)
    try:
        with session.begin_nested():
            session.add(version)
    except IntegrityError as exc:  # the model was deleted meanwhile
        raise Conflict(f"Model {model_id!r} was deleted; register another one.") from exc
    record_event(
        session, registered.tenant_id, "model_version.created",
        {"name": registered.name, "version": number, "model_id": model_id},
    )  # fmt: skip
    return version


def register_job_model(session: Session, job: TrainingJob, model_id: str) -> dict[str, Any] | None:
    """A succeeding job's `register` request carried out (in the job's success transaction);
    returns the job's `register` with the version it became, or None if it asked for none.

    Once per job: a retry of an attempt that committed the registration and died before the
    job's success finds the version naming the job's model and keeps it."""
    if not job.register:
        return None
    name, alias = job.register["name"], job.register.get("alias")
    version = _existing_version(session, job.tenant_id, name, model_id, alias) or register_model(
        session, job.tenant_id, name, model_id, alias
    )
    return {**job.register, "version": version.version}


def _existing_version(
    session: Session, tenant_id: str, name: str, model_id: str, alias: str | None
) -> ModelVersion | None:
    """The first version of `name` naming `model_id`, if there is one, with `alias` pointed at
    it unless it ever was (a later move of the alias elsewhere is not undone)."""
    registered = find_registered_model(session, tenant_id, name, lock=True)
    if registered is None:
        return None
    version = session.scalar(
        select(ModelVersion)
        .where(ModelVersion.registered_model_id == registered.id, ModelVersion.model_id == model_id)
        .order_by(ModelVersion.version)
        .limit(1)
    )
    if version is None or alias is None:
        return version
    if not registry_aliases.ever_pointed_at(session, registered, alias, version.version):
        registry_aliases.set_alias(session, registered, alias, version.version)
    return version


def register_succeeded_job(
    session: Session, tenant_id: str, job_id: str, name: str, alias: str | None = None
) -> ModelVersion:
    """Register the model of an already succeeded job (POST /v1/jobs/{id}/register)."""
    job = session.get(TrainingJob, job_id)
    if job is None or job.tenant_id != tenant_id:
        raise NotFound(f"There is no job {job_id!r}; list yours with GET /v1/jobs.")
    if job.status != "succeeded" or job.model_id is None:
        state = "its model was deleted" if job.status == "succeeded" else f"it is {job.status}"
        raise Conflict(
            f"Job {job_id!r} has no model to register: {state}. Register a succeeded job, or "
            'submit the job with "register": {"name": ...} to register it when it succeeds.'
        )
    version = register_model(session, tenant_id, name, job.model_id, alias)
    job.register = {"name": name, "version": version.version} | ({"alias": alias} if alias else {})
    return version


def check_register_request(register: dict[str, Any] | None) -> dict[str, Any] | None:
    """A job's `register` option, checked at submission: `{"name", "alias"?}`."""
    if register is None:
        return None
    check_name(register.get("name"), ["body", "register", "name"])
    alias = register.get("alias")
    if alias is not None:
        registry_aliases.check_alias(alias, ["body", "register", "alias"])
    return {"name": register["name"]} | ({"alias": alias} if alias is not None else {})


def get_version(session: Session, tenant_id: str, name: str, version: int) -> ModelVersion:
    registered = get_registered_model(session, tenant_id, name)
    row = session.get(ModelVersion, (registered.id, version))
    if row is None:
        raise NotFound(
            f"Registered model {name!r} has no version {version} (its latest is "
            f"{registered.latest_version or 'none yet'}); list them with GET "
            f"/v1/registered-models/{name}/versions."
        )
    return row


def list_versions(
    session: Session, tenant_id: str, name: str, *, limit: int, cursor: str | None
) -> Page[ModelVersion]:
    """Versions of `name`, newest first; the cursor is the last version number seen."""
    registered = get_registered_model(session, tenant_id, name)
    stmt = select(ModelVersion).where(ModelVersion.registered_model_id == registered.id)
    if cursor:
        if not cursor.isdigit():
            raise InvalidInput(
                "cursor is not one this list gave; pass its next_cursor back as it is.",
                errors=[field_error(["query", "cursor"], "not a cursor of this list")],
            )
        stmt = stmt.where(ModelVersion.version < int(cursor))
    rows = list(session.scalars(stmt.order_by(ModelVersion.version.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, str(rows[-1].version) if more and rows else None)


def version_aliases(session: Session, versions: Iterable[ModelVersion]) -> dict[int, list[str]]:
    """The aliases pointing at each of `versions` (all of one registered model or several)."""
    by_model: dict[str, set[int]] = {}
    for row in versions:
        by_model.setdefault(row.registered_model_id, set()).add(row.version)
    found: dict[int, list[str]] = {}
    for registered_id, numbers in by_model.items():
        stmt = select(ModelAlias).where(
            ModelAlias.registered_model_id == registered_id, ModelAlias.version.in_(numbers)
        )
        for alias in session.scalars(stmt.order_by(ModelAlias.alias)):
            found.setdefault(alias.version, []).append(alias.alias)
    return found


def _create_locked(session: Session, tenant_id: str, name: str) -> RegisteredModel:
    """A registered model made on first registration, locked; if another transaction made it
    at the same moment, that one, locked."""
    try:
        registered = create_registered_model(session, tenant_id, name)
    except Conflict:
        return get_registered_model(session, tenant_id, name, lock=True)
    return get_registered_model(session, tenant_id, registered.name, lock=True)


def _taken(name: str) -> str:
    return (
        f"You already have a registered model named {name!r}; add a version to it (POST "
        f"/v1/registered-models/{name}/versions) or choose another name."
    )
