"""The database tables, as SQLAlchemy 2 typed models."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from service.core.db import Base, CreatedAtMixin, UTCDateTime, utcnow
from service.core.lifecycle import JobLifecycle, JobStatus, reaper_index
from service.core.progress import EpochProgress, RowProgress

# the outbox's tables live apart because the job lifecycle writes to them (see webhook_tables);
# importing them here registers them with every other table
from service.core.webhook_tables import (  # noqa: F401
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)

SERIES_KEYS = (
    "time_column", "group_column", "n_series", "shortest_series", "shortest_group",
    "longest_series",
)  # fmt: skip


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
        UniqueConstraint("search_id", "config_key"),
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
    # a hyperparameter search's trial: its search, number, parameters and their config_key
    # (unique per search, so no two trials of a search ever train the same configuration)
    search_id: Mapped[str | None] = mapped_column(
        ForeignKey("searches.id", ondelete="CASCADE"), nullable=True, index=True
    )
    trial: Mapped[int | None] = mapped_column(Integer, nullable=True)
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    config_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # cross-validation (service/domain/cross_validation.py): the number of folds, their
    # metrics once every fold has succeeded, and the epochs the folds have trained so far
    cv_folds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cv_metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    cv_epochs: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # {"name", "alias"?} to register the model on success; "version" is added then
    register: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # a warm start: {"model_id", "mode"} (and the registered model it was named by)
    init_from: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    @property
    def progress(self) -> EpochProgress:
        if self.cv_folds:  # the folds' epochs, then the final training's, out of all of them
            return EpochProgress(self.cv_epochs + self.epoch, self.epochs * (self.cv_folds + 1))
        return EpochProgress(self.epoch, self.epochs)

    event_noun = "job"

    def event_data(self) -> dict[str, Any]:
        """What a webhook event about this job's ending carries."""
        return {
            "job_id": self.id, "status": self.status, "dataset_id": self.dataset_id,
            "model_id": self.model_id, "metrics": self.metrics, "error": self.error,
            "error_code": self.error_code, "attempts": self.attempts,
        }  # fmt: skip


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

    event_noun = "prediction_job"

    def event_data(self) -> dict[str, Any]:
        """What a webhook event about this batch prediction's ending carries."""
        return {
            "prediction_job_id": self.id, "status": self.status, "model_id": self.model_id,
            "n_rows": self.n_rows, "rows_done": self.rows_done, "result_url": self.result_url,
            "error": self.error, "error_code": self.error_code,
        }  # fmt: skip


class Search(CreatedAtMixin, Base):
    """A hyperparameter search: its request, its state and its best trial so far. Its trials
    are training jobs carrying its id; the next ones are chosen with this row locked."""

    __tablename__ = "searches"
    __table_args__ = (UniqueConstraint("tenant_id", "idempotency_key"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    dataset_id: Mapped[str] = mapped_column(String(40), index=True)
    base: Mapped[dict[str, Any]] = mapped_column(JSON)
    space: Mapped[dict[str, Any]] = mapped_column(JSON)
    strategy: Mapped[str] = mapped_column(String(20))
    sample: Mapped[bool] = mapped_column(Boolean, default=False)
    seed: Mapped[int] = mapped_column(Integer, default=0)
    objective: Mapped[dict[str, Any]] = mapped_column(JSON)
    early_termination: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    limits: Mapped[dict[str, Any]] = mapped_column(JSON)
    register: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    status: Mapped[str] = mapped_column(String(20), default=JobStatus.QUEUED.value)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    best_job_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    best_trial: Mapped[int | None] = mapped_column(Integer, nullable=True)
    best_model_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    best_params: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    best_objective: Mapped[float | None] = mapped_column(Float, nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    request_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class CvFold(JobLifecycle, CreatedAtMixin, Base):
    """One fold of a cross-validated training job, run on the workers as a job of its own:
    trained on the job's rows outside the fold, evaluated on the rows inside it. `metrics` and
    `predictions` (an .npz of the held-out rows' predictions) are written with its success."""

    __tablename__ = "cv_folds"
    __table_args__ = (UniqueConstraint("job_id", "fold"), reaper_index("cv_folds"))

    job_id: Mapped[str] = mapped_column(
        ForeignKey("training_jobs.id", ondelete="CASCADE"), index=True
    )
    fold: Mapped[int] = mapped_column(Integer)
    epoch: Mapped[int] = mapped_column(Integer, default=0)
    epochs: Mapped[int] = mapped_column(Integer)
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    predictions: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True, deferred=True)

    event_noun = "cv_fold"  # a fold's ending is no webhook event: its job's is


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
