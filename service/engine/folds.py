"""Cross-validation folds: the rule of `training.cross_validation` and which fold each row
is held out in.

The assignment depends only on the number of rows, the labels, `folds`, `stratified` and the
seed, so every worker computes the same folds from the job alone. Stratified folds deal each
class's rows (in a seeded random order) round the folds in turn, continuing where the last
class stopped: every fold then holds each class's count divided by `folds`, within one row,
and the fold sizes differ by at most one row too.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import SpecError
from .spec_values import boolean, integer, known_keys, mapping

FIELD = "training.cross_validation"
MIN_FOLDS, MAX_FOLDS = 2, 20
KEYS = ("folds", "stratified")
SEED_SALT = 0x5EED_F01D  # the fold draw never replays the training's own first draws


def cross_validation_spec(value: Any, task: str) -> dict[str, Any] | None:
    """The normalized `training.cross_validation` (`{"folds", "stratified"}`), or SpecError.
    `stratified` defaults to true for a classification and must be false for a regression."""
    if value is None:
        return None
    mapping(value, FIELD)
    known_keys(value, KEYS, FIELD)
    if "folds" not in value:
        raise SpecError(
            f"{FIELD}.folds",
            f"{FIELD}.folds is required: the number of folds, from {MIN_FOLDS} to {MAX_FOLDS}.",
        )
    folds = integer(value["folds"], f"{FIELD}.folds", MIN_FOLDS, MAX_FOLDS)
    default = task == "classification"
    stratified = boolean(value.get("stratified", default), f"{FIELD}.stratified")
    if stratified and task != "classification":
        raise SpecError(
            f"{FIELD}.stratified",
            f"{FIELD}.stratified keeps each class's share equal across the folds, so it is "
            "for a classification; this job is a regression: set it to false or leave it out.",
        )
    return {"folds": folds, "stratified": stratified}


def assign_folds(
    n_rows: int, folds: int, seed: int, labels: np.ndarray | None = None
) -> np.ndarray:
    """The fold (0 … folds-1) each row is held out in; stratified by class when `labels`
    (class indices) are given."""
    rng = np.random.default_rng([seed, SEED_SALT])
    if labels is None:
        groups = [rng.permutation(n_rows)]
    else:
        groups = [rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)]
    order = np.concatenate(groups) if groups else np.arange(0)
    fold = np.empty(n_rows, dtype=np.int64)
    fold[order] = np.arange(len(order)) % folds
    return fold


def fold_rows(fold_of: np.ndarray, fold: int) -> tuple[np.ndarray, np.ndarray]:
    """The rows fold `fold` trains on and the rows it holds out, each in ascending order."""
    held = fold_of == fold
    return np.flatnonzero(~held), np.flatnonzero(held)
