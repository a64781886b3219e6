"""What a cross-validation measures: each fold's held-out predictions and metrics, their mean,
spread and pooled figure, and the out-of-fold predictions as CSV.

The metrics are computed on the held-out rows, in the target's own units, unweighted:
- `val_loss`: for a classification the log loss (mean of -ln p(true class), probabilities
  clipped at 1e-15); for a regression the job's loss (mse, mae or huber) of the predictions;
- `val_accuracy` (classification): the share of held-out rows whose most probable class is
  their own.
Per metric: `folds` (one figure per fold, in fold order), `mean`, `std` (population, ddof 0)
and `pooled` (the metric over every row's out-of-fold prediction at once).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from service.core.spreadsheet import safe_row

PROBABILITY_FLOOR = 1e-15
HUBER_DELTA = 1.0  # the engine's (service/engine/losses.py)
ARRAYS = ("rows", "truth", "predicted", "probabilities")


@dataclass(frozen=True)
class FoldPredictions:
    """One fold's held-out rows (indices into the data set), their true targets and
    predictions (class indices into the data set's classes, or values) and their class
    probabilities (`(n, k)`; `(n, 0)` for a regression)."""

    rows: np.ndarray
    truth: np.ndarray
    predicted: np.ndarray
    probabilities: np.ndarray

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **{name: getattr(self, name) for name in ARRAYS})
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> FoldPredictions:
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            return cls(*(arrays[name] for name in ARRAYS))


def aligned_probabilities(
    proba: np.ndarray, model_classes: Sequence[Any], classes: Sequence[Any]
) -> np.ndarray:
    """A fold model's probabilities as columns of the data set's `classes` (a class absent
    from the fold's training rows gets probability 0)."""
    position = {label: j for j, label in enumerate(classes)}
    out = np.zeros((proba.shape[0], len(classes)))
    for j, label in enumerate(model_classes):
        out[:, position[label]] = proba[:, j]
    return out


def classification_metrics(probabilities: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Log loss and accuracy of class `probabilities` for true class indices `labels`."""
    if len(labels) == 0:
        return {}
    true = probabilities[np.arange(len(labels)), labels]
    loss = -np.log(np.clip(true, PROBABILITY_FLOOR, 1.0))
    correct = np.argmax(probabilities, axis=1) == labels
    return {"val_loss": float(loss.mean()), "val_accuracy": float(correct.mean())}


def regression_metrics(predicted: np.ndarray, target: np.ndarray, loss: str) -> dict[str, float]:
    """The job's loss of `predicted` against `target`, in the target's units."""
    if len(target) == 0:
        return {}
    residual = np.abs(np.asarray(predicted, np.float64) - np.asarray(target, np.float64))
    if loss == "mae":
        value = residual
    elif loss == "huber":
        quad = np.minimum(residual, HUBER_DELTA)
        value = 0.5 * quad * quad + HUBER_DELTA * (residual - quad)
    else:
        value = residual * residual
    return {"val_loss": float(value.mean())}


def summarize(
    fold_metrics: Sequence[dict[str, Any]], pooled: dict[str, float]
) -> dict[str, dict[str, Any]]:
    """`{metric: {"mean", "std", "folds", "pooled"}}` over the folds' figures."""
    summary: dict[str, dict[str, Any]] = {}
    for name, pooled_value in pooled.items():
        values = [float(m[name]) for m in fold_metrics]
        summary[name] = {
            "mean": float(np.mean(values)),
            "std": float(np.std(values)),
            "folds": values,
            "pooled": pooled_value,
        }
    return summary


def pooled_metrics(
    parts: Sequence[FoldPredictions], classification: bool, loss: str
) -> dict[str, float]:
    """The metrics over every held-out row of every fold at once."""
    truth = np.concatenate([p.truth for p in parts])
    if classification:
        probabilities = np.concatenate([p.probabilities for p in parts])
        return classification_metrics(probabilities, truth.astype(np.int64))
    return regression_metrics(np.concatenate([p.predicted for p in parts]), truth, loss)


def predictions_csv(
    parts: Sequence[tuple[int, FoldPredictions]], classes: Sequence[Any] | None
) -> str:
    """`row,fold,target,prediction[,probability_<class>…]`, one line per data set row in row
    order (`row` counts data rows from 0, as the data set holds them)."""
    header = ["row", "fold", "target", "prediction"]
    if classes is not None:
        header += [f"probability_{label}" for label in classes]
    lines: list[tuple[int, list[Any]]] = []
    for fold, part in parts:
        for i, row in enumerate(part.rows.tolist()):
            truth, predicted = part.truth[i].item(), part.predicted[i].item()
            if classes is not None:
                cells = [classes[int(truth)], classes[int(predicted)],
                         *part.probabilities[i].tolist()]  # fmt: skip
            else:
                cells = [_cell(truth), predicted]
            lines.append((row, [row, fold, *cells]))
    lines.sort(key=lambda line: line[0])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(safe_row(header))
    writer.writerows(safe_row(cells) for _, cells in lines)
    return out.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return value
