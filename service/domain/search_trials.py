"""What a search knows of its trials: their objective, the best of them, and the next
configuration to train (grid order, seeded random draws, or TPE over the finished ones)."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from service.core.lifecycle import JobStatus
from service.core.tables import Search, TrainingJob
from service.domain.cross_validation import cv_objective
from service.domain.search_space import (
    Dimension,
    config_key,
    grid_points,
    parse_space,
    sample_random,
)
from service.domain.tpe import suggest_tpe

DRAWS_PER_TRIAL = 200  # random draws tried before a space is taken to be used up


def trial_objective(job: TrainingJob, metric: str) -> float | None:
    """The trial's objective: `metric` of its latest recorded epoch (the mean over folds for a
    cv.* metric); None before its first epoch, or if the figure is not finite."""
    if metric.startswith("cv."):
        return cv_objective(job, metric)
    value = (job.metrics or {}).get(metric)
    if not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def sort_key(goal: str) -> Any:
    """Orders (objective, trial) best first; a missing objective last."""

    def key(item: tuple[float | None, int]) -> tuple[bool, float, int]:
        value, trial = item
        if value is None:
            return (True, 0.0, trial)
        return (False, value if goal == "minimize" else -value, trial)

    return key


def best_trial(search: Search, trials: Iterable[TrainingJob]) -> TrainingJob | None:
    """The succeeded trial with a model and the best objective (the earlier trial on a tie)."""
    metric, goal = search.objective["metric"], search.objective["goal"]
    ranked = [
        (trial_objective(job, metric), job.trial or 0, job)
        for job in trials
        if job.status == JobStatus.SUCCEEDED and job.model_id is not None
    ]
    ranked = [entry for entry in ranked if entry[0] is not None]
    if not ranked:
        return None
    key = sort_key(goal)
    return min(ranked, key=lambda entry: key((entry[0], entry[1])))[2]


def dimensions(search: Search) -> list[Dimension]:
    return parse_space(search.space, search.base)


def next_params(
    search: Search, trials: Sequence[TrainingJob], number: int
) -> dict[str, Any] | None:
    """The parameters of trial `number`, never a configuration a trial already has; None when
    the space holds no configuration left."""
    dims = dimensions(search)
    taken = {job.config_key for job in trials}
    if search.strategy == "grid":
        return _next_grid_point(search, dims, taken)
    rng = np.random.default_rng([search.seed, number])
    if search.strategy == "tpe":
        history = _history(search, trials)
        for _ in range(DRAWS_PER_TRIAL):
            params = suggest_tpe(dims, history, search.objective["goal"], rng)
            if config_key(params) not in taken:
                return params
    for _ in range(DRAWS_PER_TRIAL):
        params = sample_random(dims, rng)
        if config_key(params) not in taken:
            return params
    return None


def _next_grid_point(
    search: Search, dims: Sequence[Dimension], taken: set[str | None]
) -> dict[str, Any] | None:
    points = grid_points(dims)
    if search.sample:  # a subset of a large grid: the same seeded order in every process
        random.Random(search.seed).shuffle(points)
    return next((p for p in points if config_key(p) not in taken), None)


def _history(
    search: Search, trials: Sequence[TrainingJob]
) -> list[tuple[Mapping[str, Any], float | None]]:
    """The ended trials in trial order with their objective (None unless succeeded)."""
    metric = search.objective["metric"]
    ended = [job for job in trials if job.status not in (JobStatus.QUEUED, JobStatus.RUNNING)]
    return [
        (job.params or {}, trial_objective(job, metric) if job.status == "succeeded" else None)
        for job in sorted(ended, key=lambda job: job.trial or 0)
    ]
