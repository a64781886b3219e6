"""Trained models: their records and stored bytes (read, list, delete, add).

Predicting with them is `service.domain.online_predict`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.core.errors import Conflict, NotFound
from service.core.pagination import Page, paginate
from service.core.tables import (
    ModelBlob,
    ModelVersion,
    RegisteredModel,
    TrainedModel,
    TrainingJob,
)


def get_model(session: Session, tenant_id: str, model_id: str) -> TrainedModel:
    model = session.get(TrainedModel, model_id)
    if model is None or model.tenant_id != tenant_id:
        raise NotFound(f"There is no model {model_id!r}; list yours with GET /v1/models.")
    return model


def list_models(session: Session, tenant_id: str, *, limit: int, cursor: str | None) -> Page[Any]:
    stmt = select(TrainedModel).where(TrainedModel.tenant_id == tenant_id)
    return paginate(session, stmt, TrainedModel.id, limit=limit, cursor=cursor)


def delete_model(session: Session, tenant_id: str, model_id: str) -> None:
    """Delete the model; the job that trained it answers `model_id: null` from then on."""
    model = get_model(session, tenant_id, model_id)
    _refuse_if_registered(session, model_id)
    job = session.get(TrainingJob, model.job_id)
    if job is not None and job.model_id == model_id:
        job.model_id = None
    try:
        with session.begin_nested():
            session.delete(model)
    except IntegrityError as exc:  # registered as a version at this very moment
        raise Conflict(
            f"Model {model_id!r} was just registered as a version of a registered model; "
            "delete that registered model first, or keep this model."
        ) from exc


def _refuse_if_registered(session: Session, model_id: str) -> None:
    """409 while a registered model's version names this model (versions are immutable)."""
    stmt = (
        select(RegisteredModel.name, ModelVersion.version)
        .join(RegisteredModel, RegisteredModel.id == ModelVersion.registered_model_id)
        .where(ModelVersion.model_id == model_id)
        .order_by(RegisteredModel.name, ModelVersion.version)
    )
    rows = session.execute(stmt).all()
    if rows:
        versions = ", ".join(f"version {version} of {name!r}" for name, version in rows)
        raise Conflict(
            f"Model {model_id!r} is {versions} in the registry, and versions never change; "
            f"delete the registered model first (DELETE /v1/registered-models/{rows[0][0]}), "
            "or keep this model."
        )


def model_bytes(session: Session, tenant_id: str, model_id: str) -> bytes:
    get_model(session, tenant_id, model_id)
    blob = session.get(ModelBlob, model_id)
    if blob is None:
        raise NotFound(f"The weights of model {model_id!r} are gone.")
    return blob.data


def model_of_job(session: Session, job_id: str) -> TrainedModel | None:
    """The model job `job_id` produced (one at most), if it is stored."""
    return session.scalar(select(TrainedModel).where(TrainedModel.job_id == job_id))


def add_trained_model(
    session: Session,
    job: TrainingJob,
    model_id: str,
    data: bytes,
    *,
    features: list[dict[str, Any]],
    classes: list[Any] | None,
    metrics: dict[str, Any],
) -> None:
    """The model a job produced and its stored bytes, added to `session` (not committed)."""
    session.add(
        TrainedModel(
            id=model_id,
            tenant_id=job.tenant_id,
            job_id=job.id,
            dataset_id=job.dataset_id,
            task=job.task,
            network=job.network,
            training=job.training,
            features=features,
            classes=classes,
            metrics=metrics,
            size_bytes=len(data),
            parent_model_id=(job.init_from or {}).get("model_id"),  # a warm start's source
        )
    )
    session.flush()  # the blob's foreign key needs the model row first
    session.add(ModelBlob(model_id=model_id, data=data))
