"""Pydantic shapes of the hyperparameter search routes (the rules live in the domain)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from service.api.schemas import (
    NETWORK_EXAMPLE,
    TRAINING_EXAMPLE,
    FromRow,
    JobStatus,
    Strict,
    UTCDatetime,
)

SearchStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
SPACE_EXAMPLE: dict[str, Any] = {
    "training.optimizer.learning_rate": {"log_uniform": [0.0001, 0.1]},
    "training.batch_size": {"choice": [32, 64, 128]},
    "network.layers[*].units": {"int": [16, 256], "step": 16},
}


class BaseSpec(Strict):
    task: Literal["classification", "regression"] | None = None
    network: dict[str, Any] = Field(examples=[NETWORK_EXAMPLE])
    training: dict[str, Any] = Field(examples=[TRAINING_EXAMPLE])


class Objective(Strict):
    metric: str = Field(
        "val_loss",
        min_length=1,
        max_length=40,
        description="val_loss, val_accuracy, train_loss, train_accuracy, or cv.<metric> with "
        "cross-validation.",
    )
    goal: Literal["minimize", "maximize"] = "minimize"


class EarlyTermination(Strict):
    name: Literal["asha"] = "asha"
    min_epochs: int = Field(1, ge=1, description="The first rung; rungs at min_epochs · rf^k.")
    reduction_factor: int = Field(3, ge=2, le=100)


class Limits(Strict):
    max_trials: int = Field(20, ge=1, le=1000)
    max_parallel: int = Field(2, ge=1, le=100)
    max_runtime_seconds: float | None = Field(None, gt=0)
    max_failed_trials: int | None = Field(None, ge=1)


class LimitsPatch(Strict):
    """Only the limits named change."""

    max_trials: int | None = Field(None, ge=1, le=1000)
    max_parallel: int | None = Field(None, ge=1, le=100)
    max_runtime_seconds: float | None = Field(None, gt=0)
    max_failed_trials: int | None = Field(None, ge=1)


class Register(Strict):
    name: str = Field(min_length=1, max_length=200)
    alias: str | None = Field(None, min_length=1, max_length=100)


class SearchRequest(Strict):
    dataset_id: str = Field(min_length=1, max_length=100)
    base: BaseSpec = Field(description="A POST /v1/jobs body without dataset_id.")
    space: dict[str, dict[str, Any]] = Field(
        description="Paths into base, each with one of choice, uniform, log_uniform, int "
        "(with step / log).",
        examples=[SPACE_EXAMPLE],
    )
    strategy: Literal["random", "grid", "tpe"] = "random"
    sample: bool = Field(
        False,
        description="With grid: train a seeded random subset of max_trials points of a grid "
        "larger than max_trials (otherwise such a grid is refused).",
    )
    seed: int = Field(0, ge=0, le=2**32 - 1)
    objective: Objective = Field(default_factory=Objective)
    early_termination: EarlyTermination | None = None
    limits: Limits = Field(default_factory=Limits)
    # "register" would shadow pydantic's BaseModel.register: the field is spelled by alias
    registration: Register | None = Field(
        None,
        alias="register",
        description="Register the best trial's model under this name when it ends.",
    )


class SearchPatch(Strict):
    limits: LimitsPatch


class TrialCounts(BaseModel):
    total: int
    queued: int
    running: int
    succeeded: int
    pruned: int
    failed: int
    cancelled: int


class BestTrial(BaseModel):
    trial: int | None
    job_id: str
    model_id: str | None
    params: dict[str, Any] | None
    objective: float | None


class SearchOut(FromRow):
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
    registration: dict[str, Any] | None = Field(alias="register")
    trials: TrialCounts
    best: BestTrial | None
    error: str | None
    created_at: UTCDatetime
    started_at: UTCDatetime | None
    finished_at: UTCDatetime | None


class SearchPage(BaseModel):
    items: list[SearchOut]
    next_cursor: str | None


class TrialOut(BaseModel):
    trial: int | None
    job_id: str
    status: JobStatus
    params: dict[str, Any] | None
    objective: float | None
    epochs: int = Field(description="Epochs trained.")
    model_id: str | None


class TrialPage(BaseModel):
    items: list[TrialOut]
