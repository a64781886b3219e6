"""Pieces of the training loop that need no run: the split, targets, accuracy, clipping."""

from __future__ import annotations

import numpy as np

from .activations import row_max


def split_rows(rng: np.random.Generator, n: int, fraction: float, labels: np.ndarray | None):
    """Training and validation row indices; stratified by class when `labels` is given."""
    if fraction <= 0 or n < 2:
        return np.arange(n), np.arange(0)
    groups = (
        [np.arange(n)]
        if labels is None
        else [np.flatnonzero(labels == c) for c in np.unique(labels)]
    )
    val = []
    for rows in groups:
        take = int(round(fraction * len(rows)))
        val.append(rng.permutation(rows)[:take])
    val_rows = np.sort(np.concatenate(val))
    if len(val_rows) == 0 or len(val_rows) == n:
        val_rows = rng.permutation(n)[: max(1, min(n - 1, round(fraction * n)))]
        val_rows.sort()
    mask = np.ones(n, bool)
    mask[val_rows] = False
    return np.flatnonzero(mask), val_rows


def count_correct(out: np.ndarray, Y: np.ndarray, softmax: bool = False) -> int:
    """Rows whose predicted class matches the target (one-hot rows, or one 0/1 column).

    For softmax outputs, where two equal maxima do not occur in practice, it counts the rows
    whose target class holds the row's maximum (two cheap passes instead of two argmaxes).
    """
    if out.shape[1] == 1:
        return int(np.count_nonzero((out[:, 0] >= 0.5) == (Y[:, 0] >= 0.5)))
    if softmax:
        return int(round(float(np.vdot(Y, out >= row_max(out)))))
    return int(np.count_nonzero(np.argmax(out, axis=1) == np.argmax(Y, axis=1)))


def clip_gradient(grad: np.ndarray, max_norm: float) -> None:
    """Scale `grad` in place so its L2 norm is at most `max_norm`."""
    norm = float(np.sqrt(np.dot(grad, grad)))
    if norm > max_norm:
        grad *= max_norm / norm


def _target_matrix(labels, targets, order, n_out: int, dtype) -> np.ndarray:
    if labels is None:
        return np.ascontiguousarray(targets[order], dtype=dtype)
    picked = labels[order]
    if n_out == 1:
        return picked.astype(dtype)[:, None]
    Y = np.zeros((len(order), n_out), dtype)
    Y[np.arange(len(order)), picked] = 1
    return Y
