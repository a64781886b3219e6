"""Cost functions over a batch, each a value and a gradient.

Shapes: `a` (the output activations), `z` (the output pre-activations) and `Y` (the targets)
are all `(batch, outputs)`. `value` returns the mean cost per sample as a Python float.
`gradient` writes dL/da into `out`. Classification targets are one-hot rows (or one 0/1
column for a single sigmoid unit).

- `mse`: mean over all elements of (a - y)^2; `mae`: mean of |a - y|; `huber`: mean of the
  Huber function with delta 1 (quadratic inside [-1, 1], linear outside).
- `cross_entropy`: -sum(y log softmax(z)) per sample, computed from the logits with
  log-sum-exp, so it never takes log(0). It only follows a softmax output, and the two are
  fused: the gradient with respect to `z` is simply `(softmax(z) - y) / batch`.
- `binary_cross_entropy`: -sum(y log s + (1 - y) log(1 - s)) per sample with `s = sigmoid(z)`,
  computed as `softplus(z) - y z`; it only follows a sigmoid output and is fused the same way.

`rows` gives each sample's cost `(batch,)` (float64), whose mean is `value`: with class
weights the cost is the weighted mean of those rows (`weighted_value`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from .activations import row_max, row_sum

HUBER_DELTA = 1.0


class Loss(NamedTuple):
    """A named cost; `fused_with` names the output activation whose delta is `(a - y) / B`."""

    name: str
    value: Callable[[np.ndarray, np.ndarray, np.ndarray], float]
    gradient: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], None] | None
    rows: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
    fused_with: str | None = None
    tasks: tuple[str, ...] = ("classification", "regression")


def weighted_value(loss: Loss, a, z, Y, weights: np.ndarray) -> float:
    """The mean cost with row `i` counted `weights[i]` times (`weights` has mean 1)."""
    return float(np.dot(weights.astype(np.float64), loss.rows(a, z, Y))) / len(weights)


def _per_row(elements: np.ndarray) -> np.ndarray:
    """Mean over each row's outputs, in float64."""
    return elements.sum(axis=1, dtype=np.float64) / elements.shape[1]


def _mse(a, z, Y) -> float:
    r = a - Y
    return float(np.vdot(r, r)) / r.size


def _mse_grad(a, z, Y, out):
    np.subtract(a, Y, out=out)
    out *= 2.0 / out.size


def _mae(a, z, Y) -> float:
    return float(np.abs(a - Y).sum(dtype=np.float64)) / a.size


def _mae_grad(a, z, Y, out):
    np.subtract(a, Y, out=out)
    np.sign(out, out=out)
    out *= 1.0 / out.size


def _huber(a, z, Y) -> float:
    r = np.abs(a - Y)
    quad = np.minimum(r, HUBER_DELTA)
    total = 0.5 * quad * quad + HUBER_DELTA * (r - quad)
    return float(total.sum(dtype=np.float64)) / a.size


def _huber_grad(a, z, Y, out):
    np.subtract(a, Y, out=out)
    np.clip(out, -HUBER_DELTA, HUBER_DELTA, out=out)
    out *= 1.0 / out.size


def _mse_rows(a, z, Y) -> np.ndarray:
    r = a - Y
    return _per_row(r * r)


def _mae_rows(a, z, Y) -> np.ndarray:
    return _per_row(np.abs(a - Y))


def _huber_rows(a, z, Y) -> np.ndarray:
    r = np.abs(a - Y)
    quad = np.minimum(r, HUBER_DELTA)
    return _per_row(0.5 * quad * quad + HUBER_DELTA * (r - quad))


def _cross_entropy_rows(a, z, Y) -> np.ndarray:
    z64 = z.astype(np.float64)
    top = z64.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z64 - top).sum(axis=1)) + top[:, 0]
    return lse - (Y * z64).sum(axis=1)


def _binary_cross_entropy_rows(a, z, Y) -> np.ndarray:
    z64 = z.astype(np.float64)
    total = np.maximum(z64, 0) + np.log1p(np.exp(-np.abs(z64))) - Y * z64
    return total.sum(axis=1)


def _cross_entropy(a, z, Y) -> float:
    # mean(logsumexp(z) - z[label]) = (sum(top) + sum(log(sum(exp(z - top)))) - Y . z) / B
    top = row_max(z)
    shifted = np.subtract(z, top)
    np.exp(shifted, out=shifted)
    lse = np.log(row_sum(shifted))
    total = float(np.add.reduce(top, axis=None, dtype=np.float64)) + float(
        np.add.reduce(lse, axis=None, dtype=np.float64)
    )
    return (total - float(np.vdot(Y, z))) / z.shape[0]


def _binary_cross_entropy(a, z, Y) -> float:
    # softplus(z) - y z, with softplus(z) = max(z, 0) + log1p(exp(-|z|)).
    total = np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z))) - Y * z
    return float(total.sum(dtype=np.float64)) / z.shape[0]


LOSSES: dict[str, Loss] = {
    loss.name: loss
    for loss in (
        Loss("mse", _mse, _mse_grad, _mse_rows),
        Loss("mae", _mae, _mae_grad, _mae_rows),
        Loss("huber", _huber, _huber_grad, _huber_rows),
        Loss(
            "binary_cross_entropy",
            _binary_cross_entropy,
            None,
            _binary_cross_entropy_rows,
            "sigmoid",
            ("classification",),
        ),
        Loss(
            "cross_entropy",
            _cross_entropy,
            None,
            _cross_entropy_rows,
            "softmax",
            ("classification",),
        ),
    )
}
