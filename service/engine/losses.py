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
    fused_with: str | None = None
    tasks: tuple[str, ...] = ("classification", "regression")


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
        Loss("mse", _mse, _mse_grad),
        Loss("mae", _mae, _mae_grad),
        Loss("huber", _huber, _huber_grad),
        Loss("binary_cross_entropy", _binary_cross_entropy, None, "sigmoid", ("classification",)),
        Loss("cross_entropy", _cross_entropy, None, "softmax", ("classification",)),
    )
}
