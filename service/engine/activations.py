"""Activation functions as (forward, backward) pairs in one registry.

Every function works on a batch: `z` and `a` are `(batch, units)` arrays. `forward(z, out,
work)` writes `a = f(z)` into `out` (which may be `z` itself). `backward(a, z, grad, out,
work)` writes the gradient with respect to `z` into `out` (which may be `grad`), given the
gradient with respect to `a`. `work` is a scratch array shaped like `z`. Activations whose
derivative can be written from `a` alone have `needs_z=False`, so the network may compute
them in place and keep one buffer per layer.

`step` is the threshold function `a = 1 if z >= 0 else 0`. Its true derivative is zero almost
everywhere, so it is trained with the straight-through estimator: the backward pass treats it
as the identity clipped to `|z| <= 1` (Bengio et al., 2013; Hubara et al., 2016), i.e. the
gradient of a hard-tanh. Adding an activation is one entry in `ACTIVATIONS`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

LEAKY_SLOPE = 0.01
ELU_ALPHA = 1.0

Forward = Callable[[np.ndarray, np.ndarray, np.ndarray], None]
Backward = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray], None]


class Activation(NamedTuple):
    """A named (forward, backward) pair; see the module docstring for the signatures."""

    name: str
    forward: Forward
    backward: Backward
    needs_z: bool = False


def _step(z, out, work):
    np.greater_equal(z, 0, out=out)


def _step_back(a, z, grad, out, work):
    np.abs(z, out=work)
    np.less_equal(work, 1.0, out=work)
    np.multiply(grad, work, out=out)


def _sigmoid(z, out, work):
    np.negative(z, out=out)
    np.exp(out, out=out)
    out += 1.0
    np.reciprocal(out, out=out)


def _sigmoid_back(a, z, grad, out, work):
    np.subtract(1.0, a, out=work)
    work *= a
    np.multiply(grad, work, out=out)


def _tanh(z, out, work):
    np.tanh(z, out=out)


def _tanh_back(a, z, grad, out, work):
    np.multiply(a, a, out=work)
    np.subtract(1.0, work, out=work)
    np.multiply(grad, work, out=out)


def _relu(z, out, work):
    np.maximum(z, 0.0, out=out)


def _relu_back(a, z, grad, out, work):
    # A boolean mask (in `work`'s memory) moves a quarter of the bytes of a float32 one, and
    # float * bool gives the same bits as float * 1.0 / float * 0.0.
    mask = _bool_scratch(work)
    np.greater(a, 0.0, out=mask)
    np.multiply(grad, mask, out=out)


def _bool_scratch(work: np.ndarray) -> np.ndarray:
    """A boolean array shaped like `work`, stored in `work`'s own memory when contiguous."""
    if work.flags.c_contiguous:
        return work.reshape(-1).view(np.bool_)[: work.size].reshape(work.shape)
    return np.empty(work.shape, np.bool_)


def _leaky_relu(z, out, work):
    np.multiply(z, LEAKY_SLOPE, out=work)
    np.maximum(z, work, out=out)


def _leaky_relu_back(a, z, grad, out, work):
    np.greater(a, 0.0, out=work)
    work *= 1.0 - LEAKY_SLOPE
    work += LEAKY_SLOPE
    np.multiply(grad, work, out=out)


def _elu(z, out, work):
    np.minimum(z, 0.0, out=work)
    np.expm1(work, out=work)
    if ELU_ALPHA != 1.0:
        work *= ELU_ALPHA
    np.maximum(z, 0.0, out=out)
    out += work


def _elu_back(a, z, grad, out, work):
    # For z <= 0, f'(z) = alpha * e^z = a + alpha; for z > 0 it is 1 (and a + alpha > 1).
    np.add(a, ELU_ALPHA, out=work)
    np.minimum(work, 1.0, out=work)
    np.multiply(grad, work, out=out)


def _linear(z, out, work):
    if out is not z:
        np.copyto(out, z)


def _linear_back(a, z, grad, out, work):
    if out is not grad:
        np.copyto(out, grad)


# Up to this many rows the reductions along a row beat the tricks below (measured: 1.5 µs
# against 4 µs for one row, about equal at 64, 4x slower at 1000).
SMALL_BATCH = 48


def row_max(z: np.ndarray) -> np.ndarray:
    """Maximum of each row, `(batch, 1)`; fast for the narrow rows of an output layer."""
    if z.shape[1] > 64 or z.shape[0] <= SMALL_BATCH:
        return np.maximum.reduce(z, axis=1, keepdims=True)
    # Reducing a transposed copy runs along contiguous memory: ~10x faster than axis=1 here.
    return np.maximum.reduce(np.ascontiguousarray(z.T), axis=0)[:, None]


def row_sum(z: np.ndarray) -> np.ndarray:
    """Sum of each row, `(batch, 1)`: a matrix-vector product (faster than `sum(axis=1)`)
    except for a few rows, where the reduction's lower overhead wins."""
    if z.shape[0] <= SMALL_BATCH:
        return np.add.reduce(z, axis=1, keepdims=True)
    return np.matmul(z, np.ones(z.shape[1], z.dtype))[:, None]


def _softmax(z, out, work):
    if z.shape[0] == 1:  # one predicted row: whole-array reductions cost least
        np.subtract(z, np.maximum.reduce(z, axis=None), out=out)
        np.exp(out, out=out)
        np.divide(out, np.add.reduce(out, axis=None), out=out)
        return
    np.subtract(z, row_max(z), out=out)
    np.exp(out, out=out)
    np.divide(out, row_sum(out), out=out)


def _softmax_back(a, z, grad, out, work):
    # Jacobian-vector product: a * (grad - sum(grad * a)).
    np.multiply(grad, a, out=work)
    np.subtract(grad, row_sum(work), out=out)
    out *= a


ACTIVATIONS: dict[str, Activation] = {
    act.name: act
    for act in (
        Activation("step", _step, _step_back, needs_z=True),
        Activation("sigmoid", _sigmoid, _sigmoid_back),
        Activation("tanh", _tanh, _tanh_back),
        Activation("relu", _relu, _relu_back),
        Activation("leaky_relu", _leaky_relu, _leaky_relu_back),
        Activation("elu", _elu, _elu_back),
        Activation("linear", _linear, _linear_back),
        Activation("softmax", _softmax, _softmax_back),
    )
}


def apply(name: str, z: np.ndarray) -> np.ndarray:
    """Return `f(z)` as a new array (a convenience for tests and one-off use)."""
    out = np.empty_like(z)
    ACTIVATIONS[name].forward(z, out, np.empty_like(z))
    return out
