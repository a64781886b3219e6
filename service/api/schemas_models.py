"""Shapes of what a stored model works out beyond a plain predict: batch prediction jobs, a
classifier's confusion matrix, a Hopfield network's recall."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, StrictInt

from service.api.schemas import FromRow, JobStatus, Strict, UTCDatetime
from service.engine.hopfield import HOPFIELD_LIMITS


class ConfusionOut(FromRow):
    model_id: str
    split: str = Field(description='"validation", or "training" when the job kept no split.')
    n_rows: int
    classes: list[Any]
    matrix: list[list[int]] = Field(
        description="matrix[i][j]: rows of actual class i predicted as class j."
    )
    accuracy: float


class PredictionProgress(FromRow):
    rows_done: int
    n_rows: int
    fraction: float


class PredictionJobOut(FromRow):
    id: str
    status: JobStatus
    model_id: str
    filename: str | None = None
    format: str
    progress: PredictionProgress
    error: str | None
    error_code: str | None = None
    attempts: int
    created_at: UTCDatetime
    started_at: UTCDatetime | None
    finished_at: UTCDatetime | None
    result_url: str | None


class PredictionJobPage(FromRow):
    items: list[PredictionJobOut]
    next_cursor: str | None


class RecallRequest(Strict):
    patterns: list[list[Any]] = Field(
        description="Probes, one value per unit in the network's unit order, each 0/1 or "
        "-1/+1 (the encoding the patterns were stored in).",
        examples=[[[1, 0, 1, 1], [0, 0, 1, 1]]],
    )
    max_iterations: Annotated[
        StrictInt | None, Field(ge=1, le=HOPFIELD_LIMITS["max_iterations"])
    ] = Field(None, description="Sweeps at most (default: the network's max_iterations).")
    seed: Annotated[StrictInt | None, Field(ge=0, le=HOPFIELD_LIMITS["max_seed"])] = Field(
        None, description="Seed of the asynchronous update order (default 0)."
    )


class RecallResponse(BaseModel):
    model_id: str
    states: list[list[int]] = Field(description="The final state of each probe.")
    energy: list[list[float]] = Field(
        description="Each probe's energy at the start and after every sweep it ran."
    )
    iterations: list[int] = Field(description="Sweeps that changed each probe's state.")
    converged: list[bool] = Field(description="Whether each probe reached a fixed point.")
    nearest_pattern: list[int] = Field(
        description="Index of the stored pattern (a data set row) closest to the final state."
    )
    hamming: list[int] = Field(description="Units where the final state differs from it.")
