"""What the API answers, as TypedDicts (plain dicts at run time); docs/api.md has every field.

The names end in `Info`, `Result` or `Progress` so that none is mistaken for the server's own
classes of the same things."""

from __future__ import annotations

from typing import Any, Generic, Literal, TypedDict, TypeVar

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled", "pruned"]
FINISHED: tuple[JobStatus, ...] = ("succeeded", "failed", "cancelled", "pruned")
T = TypeVar("T")


class ListPage(TypedDict, Generic[T]):
    items: list[T]
    next_cursor: str | None


class DatasetInfo(TypedDict, total=False):
    id: str
    name: str
    format: str
    layout: str
    n_rows: int
    n_features: int
    sequence_length: int | None
    series: dict[str, Any] | None
    features: list[dict[str, Any]]
    target: dict[str, Any]
    size_bytes: int
    sha256: str
    created_at: str


class JobProgress(TypedDict):
    epoch: int
    epochs: int
    fraction: float


class EpochProgress(TypedDict, total=False):
    """One finished epoch, as `wait_for_job` hands it to `on_progress`."""

    epoch: int
    epochs: int
    fraction: float
    train_loss: float
    val_loss: float | None
    train_accuracy: float | None
    val_accuracy: float | None
    learning_rate: float
    seconds: float


class JobInfo(TypedDict, total=False):
    id: str
    status: JobStatus
    dataset_id: str
    task: str
    network: dict[str, Any]
    training: dict[str, Any]
    progress: JobProgress
    metrics: dict[str, Any]
    model_id: str | None
    error: str | None
    error_code: str | None
    attempts: int
    created_at: str
    started_at: str | None
    finished_at: str | None
    search_id: str | None
    trial: int | None
    params: dict[str, Any] | None
    cv_metrics: dict[str, Any] | None
    init_from: dict[str, Any] | None
    register: dict[str, Any] | None


class ModelInfo(TypedDict, total=False):
    id: str
    job_id: str
    dataset_id: str
    task: str
    network: dict[str, Any]
    training: dict[str, Any]
    features: list[dict[str, Any]]
    classes: list[Any] | None
    metrics: dict[str, Any]
    size_bytes: int
    created_at: str
    parent_model_id: str | None


class PredictionProgress(TypedDict):
    rows_done: int
    n_rows: int
    fraction: float


class PredictionJobInfo(TypedDict, total=False):
    id: str
    status: JobStatus
    model_id: str
    filename: str | None
    format: str
    progress: PredictionProgress
    error: str | None
    error_code: str | None
    attempts: int
    created_at: str
    started_at: str | None
    finished_at: str | None
    result_url: str | None


class PredictionResult(TypedDict, total=False):
    model_id: str
    version: int
    alias: str | None
    predictions: list[Any]
    probabilities: list[list[float]]
    classes: list[Any]


class RecallResult(TypedDict):
    """One entry per probe in each list; `energy` holds one list of values per probe."""

    model_id: str
    states: list[list[int]]
    energy: list[list[float]]
    iterations: list[int]
    converged: list[bool]
    nearest_pattern: list[int]
    hamming: list[int]


SearchStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class SearchTrialCounts(TypedDict, total=False):
    total: int
    queued: int
    running: int
    succeeded: int
    pruned: int
    failed: int
    cancelled: int


class SearchBest(TypedDict, total=False):
    job_id: str
    model_id: str | None
    params: dict[str, Any]
    objective: float | None
    trial: int


class SearchInfo(TypedDict, total=False):
    id: str
    status: SearchStatus
    dataset_id: str
    base: dict[str, Any]
    space: dict[str, Any]
    strategy: str
    sample: bool
    seed: int
    objective: dict[str, Any]
    early_termination: dict[str, Any] | None
    limits: dict[str, Any]
    register: dict[str, Any] | None
    trials: SearchTrialCounts
    best: SearchBest | None
    error: str | None
    created_at: str
    started_at: str | None
    finished_at: str | None


class TrialInfo(TypedDict, total=False):
    """One row of a search's leaderboard (`search_trials`), best first."""

    trial: int | None
    job_id: str
    status: JobStatus
    params: dict[str, Any] | None
    objective: float | None
    epochs: int
    model_id: str | None


class RegisteredModelInfo(TypedDict, total=False):
    name: str
    description: str
    latest_version: int | None
    aliases: dict[str, int]
    created_at: str


class ModelVersionInfo(TypedDict, total=False):
    name: str
    version: int
    model_id: str
    aliases: list[str]
    created_at: str


class AliasInfo(TypedDict, total=False):
    name: str
    alias: str
    version: int
    model_id: str
    updated_at: str


class AliasMoveInfo(TypedDict):
    """`version` null: the alias was deleted; `previous_version` null: it was new."""

    version: int | None
    previous_version: int | None
    at: str
