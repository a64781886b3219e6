"""The database tables, as SQLAlchemy 2 typed models."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from service.core.db import Base, UTCDateTime, utcnow
from service.core.lifecycle import JobLifecycle, JobStatus, reaper_index
from service.core.progress import EpochProgress, RowProgress

SERIES_KEYS = (
    "time_column", "group_column", "n_series", "shortest_series", "shortest_group",
    "longest_series",
)  # fmt: skip


class CreatedAtMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Tenant(CreatedAtMixin, Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)


class ApiKey(CreatedAtMixin, Base):
    """A tenant's key; only the SHA-256 of its secret is kept."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Dataset(CreatedAtMixin, Base):
    __tablename__ = "datasets"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(300))
    format: Mapped[str] = mapped_column(String(10))
    n_rows: Mapped[int] = mapped_column(Integer)
    n_features: Mapped[int] = mapped_column(Integer)
    features: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    target: Mapped[dict[str, Any]] = mapped_column(JSON)
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    # "table", "sequences" (3-D X) or "series" (rows in time order); `layout_info` holds
    # sequence_length for sequences, time/group columns and series lengths for a series
    layout: Mapped[str] = mapped_column(String(10), default="table", server_default="table")
    layout_info: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    @property
    def sequence_length(self) -> int | None:
        return (self.layout_info or {}).get("sequence_length")

    @property
    def series(self) -> dict[str, Any] | None:
        if self.layout != "series":
            return None
        info = self.layout_info or {}
        return {key: info.get(key) for key in SERIES_KEYS}


class DatasetBlob(Base):
    """The parsed arrays of a dataset, compressed; kept apart so listings never load them."""

    __tablename__ = "dataset_blobs"

    dataset_id: Mapped[str] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True
    )
    data: Mapped[bytes] = mapped_column(LargeBinary)


class TrainingJob(JobLifecycle, CreatedAtMixin, Base):
    __tablename__ = "training_jobs"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key"),
        reaper_index("training_jobs"),
    )

    dataset_id: Mapped[str] = mapped_column(String(40), index=True)
    task: Mapped[str] = mapped_column(String(20))
    network: Mapped[dict[str, Any]] = mapped_column(JSON)
    training: Mapped[dict[str, Any]] = mapped_column(JSON)
    epochs: Mapped[int] = mapped_column(Integer)
    epoch: Mapped[int] = mapped_column(Integer, default=0)
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    model_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    request_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # {"name", "alias"?} to register the model on success; "version" is added then
    register: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # a warm start: {"model_id", "mode"} (and the registered model it was named by)
    init_from: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    @property
    def progress(self) -> EpochProgress:
        return EpochProgress(self.epoch, self.epochs)


class JobCheckpoint(Base):
    """The latest engine checkpoint of a running job, so another worker can resume it."""

    __tablename__ = "job_checkpoints"

    job_id: Mapped[str] = mapped_column(
        ForeignKey("training_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    epoch: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class EpochMetric(Base):
    __tablename__ = "epoch_metrics"
    __table_args__ = (UniqueConstraint("job_id", "epoch"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("training_jobs.id", ondelete="CASCADE"))
    epoch: Mapped[int] = mapped_column(Integer)
    train_loss: Mapped[float] = mapped_column(Float)
    val_loss: Mapped[float | None] = mapped_column(Float, nullable=True)
    train_accuracy: Mapped[float | None] = mapped_column(Float, nullable=True)
    val_accuracy: Mapped[float | None] = mapped_column(Float, nullable=True)
    learning_rate: Mapped[float] = mapped_column(Float)
    seconds: Mapped[float] = mapped_column(Float)


class TrainedModel(CreatedAtMixin, Base):
    __tablename__ = "models"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    job_id: Mapped[str] = mapped_column(String(40), unique=True)
    dataset_id: Mapped[str] = mapped_column(String(40))
    task: Mapped[str] = mapped_column(String(20))
    network: Mapped[dict[str, Any]] = mapped_column(JSON)
    training: Mapped[dict[str, Any]] = mapped_column(JSON)
    features: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    classes: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    size_bytes: Mapped[int] = mapped_column(Integer)
    # the model a warm start began from (no foreign key: the lineage outlives a deletion)
    parent_model_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)


class ModelBlob(Base):
    """A model's `Model.to_bytes()`: weights, preprocessing and metadata in one .npz."""

    __tablename__ = "model_blobs"

    model_id: Mapped[str] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    )
    data: Mapped[bytes] = mapped_column(LargeBinary)


class PredictionJob(JobLifecycle, CreatedAtMixin, Base):
    """A batch of rows to predict with one model, run on the workers like a training job.

    The rows (``encode_columns`` bytes, the model's features only) and the result (the CSV,
    gzip-compressed) live here, deferred so listings never load them.
    """

    __tablename__ = "prediction_jobs"
    __table_args__ = (reaper_index("prediction_jobs"),)

    model_id: Mapped[str] = mapped_column(String(40), index=True)
    filename: Mapped[str | None] = mapped_column(String(300), nullable=True)
    format: Mapped[str] = mapped_column(String(10))
    n_rows: Mapped[int] = mapped_column(Integer)
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    input_data: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    output_data: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True, deferred=True)

    @property
    def progress(self) -> RowProgress:
        return RowProgress(self.rows_done, self.n_rows)

    @property
    def result_url(self) -> str | None:
        return f"/v1/predictions/{self.id}/result" if self.status == JobStatus.SUCCEEDED else None


class RegisteredModel(CreatedAtMixin, Base):
    """A tenant's stable name for a line of models; `latest_version` numbers the next one."""

    __tablename__ = "registered_models"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(2000), default="")
    latest_version: Mapped[int] = mapped_column(Integer, default=0)


class ModelVersion(CreatedAtMixin, Base):
    """One immutable version of a registered model: a number and the model it names. The
    model cannot be deleted while a version refers to it (no ON DELETE on its key)."""

    __tablename__ = "model_versions"

    registered_model_id: Mapped[str] = mapped_column(
        ForeignKey("registered_models.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id"), index=True)


class ModelAlias(Base):
    """An alias of a registered model and the version it names now; `model_id` is that
    version's model, so resolving an alias reads one row."""

    __tablename__ = "aliases"

    registered_model_id: Mapped[str] = mapped_column(
        ForeignKey("registered_models.id", ondelete="CASCADE"), primary_key=True
    )
    alias: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    model_id: Mapped[str] = mapped_column(String(40))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AliasMove(Base):
    """One move of an alias: the version it named from `at` on (None: deleted) and before."""

    __tablename__ = "alias_history"
    __table_args__ = (Index("ix_alias_history_alias", "registered_model_id", "alias", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    registered_model_id: Mapped[str] = mapped_column(
        ForeignKey("registered_models.id", ondelete="CASCADE")
    )
    alias: Mapped[str] = mapped_column(String(64))
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    previous_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ModelTrainingState(Base):
    """A model's final training state (an engine checkpoint), which `continue` resumes; kept
    apart from the weights so predictions never load it."""

    __tablename__ = "model_training_states"

    model_id: Mapped[str] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    )
    data: Mapped[bytes] = mapped_column(LargeBinary)
