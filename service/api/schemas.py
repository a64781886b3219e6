"""Pydantic shapes at the HTTP boundary only. The rules of a network and a training config
live in the engine (`service.engine.validate_spec`); these models describe shapes for OpenAPI.

Answers are built straight from the ORM rows (`JobOut.model_validate(job)`); a field the
row derives (a job's `progress`, a prediction job's `result_url`) is a property of its table."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

NETWORK_EXAMPLE: dict[str, Any] = {
    "layers": [{"units": 64, "activation": "relu"}],
    "output_activation": "softmax",
    "loss": "cross_entropy",
    "init": "he",
}
TRAINING_EXAMPLE: dict[str, Any] = {
    "epochs": 20,
    "batch_size": 32,
    "optimizer": {"name": "adam", "learning_rate": 0.001},
    "shuffle": True,
    "validation_fraction": 0.1,
    "early_stopping": {"patience": 5, "min_delta": 0.0},
    "l2": 0.0,
    "seed": 0,
    "scaling": "standardize",
}


JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled", "pruned"]
WarmStartMode = Literal["continue", "fine_tune"]
# written in UTC with a `Z` whatever zone the database session handed back
UTCDatetime = Annotated[datetime, AfterValidator(lambda value: value.astimezone(UTC))]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FromRow(BaseModel):
    """An answer read from an ORM row's attributes (or from a dict of the same fields)."""

    model_config = ConfigDict(from_attributes=True)


class InitFrom(Strict):
    """The model a warm start begins from: by id, or a registered model's alias or version."""

    model_id: str | None = Field(None, min_length=1, max_length=100)
    registered_model: str | None = Field(None, min_length=1, max_length=100)
    alias: str | None = Field(None, min_length=1, max_length=64)
    version: int | None = Field(None, ge=1)
    mode: WarmStartMode | None = Field(None, description="Accepted here too; see the job's mode.")


class JobRequest(Strict):
    dataset_id: str | None = Field(
        None,
        min_length=1,
        max_length=100,
        description="Required, except with init_from: then the source model's data set.",
    )
    task: Literal["classification", "regression"] | None = None
    network: dict[str, Any] | None = Field(
        None,
        description="Hidden layers (each may carry a dropout rate), input_dropout, output "
        "activation, loss and initialisation; or "
        '{"kind": "hopfield", "rule", "update", "max_iterations"} for a Hopfield network. '
        "Required, except with init_from: then the source model's.",
        examples=[NETWORK_EXAMPLE],
    )
    training: dict[str, Any] | None = Field(
        None,
        description="Epochs, batch size, optimizer, class_weight and the rest of the training "
        'config (required, except for a Hopfield network: {"kind": "hopfield"} takes none).',
        examples=[TRAINING_EXAMPLE],
    )
    init_from: InitFrom | None = Field(
        None,
        description="Warm start from a trained model; the fields left out of training are "
        "its, and training.epochs counts the epochs added.",
    )
    mode: WarmStartMode | None = Field(
        None,
        description="With init_from: continue (resume its final training state on the same "
        "data and spec) or fine_tune (its weights and preprocessing, a fresh optimizer).",
    )
    # "register" would shadow pydantic's BaseModel.register: the field is spelled by alias
    registration: RegisterRequest | None = Field(
        None,
        alias="register",
        description='{"name", "alias"?}: when the job succeeds, its model becomes the next '
        "version of that registered model (and the alias points at it), in the same "
        "transaction as the success.",
    )


class RegisterRequest(Strict):
    name: str = Field(
        description="The registered model to add the job's model to as its next version "
        "(created if new)."
    )
    alias: str | None = Field(None, description="An alias to point at that version.")


class FeatureOut(FromRow):
    model_config = ConfigDict(extra="allow")
    name: str
    kind: Literal["numeric", "categorical"]
    missing: int = 0


class SeriesOut(FromRow):
    time_column: str | None = Field(description="The column rows were ordered by (dropped).")
    group_column: str | None = Field(description="One series per value; not a feature.")
    n_series: int
    shortest_series: int = Field(description="Rows of the shortest series.")
    shortest_group: str | None = Field(None, description="The group of the shortest series.")
    longest_series: int


class DatasetOut(FromRow):
    id: str
    name: str
    format: str
    layout: Literal["table", "sequences", "series"] = "table"
    n_rows: int = Field(description="Rows; for sequences, the number of sequences.")
    n_features: int = Field(description="Feature columns; for sequences, values per step.")
    sequence_length: int | None = Field(None, description="Steps T of each sequence.")
    series: SeriesOut | None = None
    features: list[FeatureOut]
    target: dict[str, Any]
    size_bytes: int
    sha256: str
    created_at: UTCDatetime


class Progress(FromRow):
    epoch: int
    epochs: int
    fraction: float


class JobOut(FromRow):
    id: str
    status: JobStatus
    dataset_id: str
    task: str
    network: dict[str, Any]
    training: dict[str, Any]
    progress: Progress
    metrics: dict[str, Any]
    model_id: str | None
    error: str | None
    error_code: str | None = None
    attempts: int
    created_at: UTCDatetime
    started_at: UTCDatetime | None
    finished_at: UTCDatetime | None
    search_id: str | None = Field(None, description="The search this job is a trial of.")
    trial: int | None = Field(None, description="Its trial number in that search.")
    params: dict[str, Any] | None = Field(None, description="The search parameters it trains.")
    cv_metrics: dict[str, Any] | None = Field(
        None,
        description="A cross-validated job's held-out figures once every fold has succeeded: "
        '{"val_loss": {"mean", "std", "folds": [...], "pooled"}, "val_accuracy": {...}}.',
    )
    init_from: dict[str, Any] | None = Field(
        None, description='A warm start\'s source: {"model_id", "mode", ...as requested}.'
    )
    registration: dict[str, Any] | None = Field(
        None,
        alias="register",
        description='{"name", "alias"?, "version"?}: "version" once registered.',
    )

    @field_validator("metrics", mode="before")
    @classmethod
    def _none_is_empty(cls, metrics: dict[str, Any] | None) -> dict[str, Any]:
        return metrics or {}


class EpochMetricOut(FromRow):
    epoch: int
    train_loss: float
    val_loss: float | None
    train_accuracy: float | None = None
    val_accuracy: float | None = None
    learning_rate: float
    seconds: float


class MetricsOut(BaseModel):
    items: list[EpochMetricOut]


class ModelOut(FromRow):
    id: str
    job_id: str
    dataset_id: str
    task: str
    network: dict[str, Any]
    training: dict[str, Any]
    features: list[dict[str, Any]]
    classes: list[Any] | None = None
    metrics: dict[str, Any]
    size_bytes: int
    created_at: UTCDatetime
    parent_model_id: str | None = Field(
        None, description="The model this one was warm-started from (init_from)."
    )


class DatasetSummary(FromRow):
    """A data set in a list: `features` and the target's `classes` are on GET /v1/datasets/{id}."""

    id: str
    name: str
    format: str
    layout: Literal["table", "sequences", "series"] = "table"
    n_rows: int
    n_features: int
    sequence_length: int | None = None
    series: SeriesOut | None = None
    target: dict[str, Any] = Field(description='{"name", "kind", "n_classes"?}')
    size_bytes: int
    sha256: str
    created_at: UTCDatetime

    @field_validator("target", mode="before")
    @classmethod
    def _class_count_only(cls, target: dict[str, Any]) -> dict[str, Any]:
        """The target without its list of classes, which can be long: their count instead."""
        summary: dict[str, Any] = {
            key: target[key] for key in ("name", "kind", "n_classes") if key in target
        }
        if target.get("classes") is not None:
            summary["n_classes"] = len(target["classes"])
        return summary


class DatasetPage(FromRow):
    items: list[DatasetSummary]
    next_cursor: str | None


class JobPage(FromRow):
    items: list[JobOut]
    next_cursor: str | None


class ModelPage(FromRow):
    items: list[ModelOut]
    next_cursor: str | None


class PredictRequest(Strict):
    inputs: list[list[Any]] | None = Field(
        None, description="Rows of raw feature values in the dataset's feature order."
    )
    records: list[dict[str, Any]] | None = Field(
        None, description="Objects mapping feature names to raw values."
    )
    sequences: list[list[list[Any]]] | None = Field(
        None,
        description="For a recurrent model: sequences of steps, each step one value per "
        "feature (null = missing); at most the model's steps per sequence.",
    )


class PredictResponse(BaseModel):
    model_id: str
    predictions: list[Any]
    probabilities: list[list[float]] | None = None
    classes: list[Any] | None = None


class ProblemError(BaseModel):
    loc: list[str | int] = Field(description="Where: e.g. body, network, layers, 0, units.")
    msg: str


class Problem(BaseModel):
    """RFC 9457 problem details, the body of every error (`application/problem+json`)."""

    type: str
    title: str
    status: int
    detail: str = Field(description="What was wrong and how to fix it.")
    errors: list[ProblemError] | None = None
    request_id: str | None = None
