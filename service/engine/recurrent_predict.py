"""Prediction of one sequence through a gated layer with as few NumPy calls as possible.

Prediction keeps no per-step values for a backward pass, so the gates live in one buffer
whose per-gate views are made once, the state is written straight into the row of the
output, and each step is about ten calls on 1-D vectors (one `np.dot` vector-matrix product,
which costs about a microsecond less per step than `matmul` of a `(1, K)` row, `tanh`
passes, a few products and sums). The equations and the weight scaling are the tanh form of
`gated.py`; the results equal `forward`'s up to rounding.
"""

from __future__ import annotations

import numpy as np


def _inputs(X: np.ndarray, H: int) -> np.ndarray:
    """`Z` `(T + 1, H + d + 1)`: row t holds `h_{t-1}` (written by step t - 1), `x_t` and 1."""
    T, d = X.shape
    Z = np.zeros((T + 1, H + d + 1), X.dtype)
    Z[:T, H : H + d] = X
    Z[:, -1] = 1
    return Z


def _stacked(layer, p: tuple[np.ndarray, ...], dtype, build) -> np.ndarray:
    """`build(layer, p, dtype)`, made once per parameter set: a trained model's weights do
    not change, and stacking them anew took a sizeable share of a short sequence's time."""
    made = layer.__dict__.get("_one_weights")
    if made is None or made[0] is not p[0] or made[1].dtype != dtype:
        made = layer.__dict__["_one_weights"] = (p[0], build(layer, p, dtype))
    return made[1]


def _lstm_weights(layer, p: tuple[np.ndarray, ...], dtype) -> np.ndarray:
    """`[h, x, 1] @ W` gives every gate, the sigmoid rows' weights halved."""
    half = layer.scales(dtype)[1]
    return (np.concatenate([p[1], p[0], p[2][None, :]]) * half).astype(dtype, copy=False)


def lstm_one(layer, X: np.ndarray, p: tuple[np.ndarray, ...]) -> np.ndarray:
    """States `(T, H)` of an LSTM over one sequence `X` `(T, d)`."""
    H = layer.units
    _, _, mul, add = layer.scales(X.dtype)
    W = _stacked(layer, p, X.dtype, _lstm_weights)
    Z = _inputs(X, H)
    a = np.empty(4 * H, X.dtype)
    c, w, tc = (np.zeros(H, X.dtype) for _ in range(3))
    i, f, g, o = a[:H], a[H : 2 * H], a[2 * H : 3 * H], a[3 * H :]
    for z, h_next in zip(Z[:-1], Z[1:, :H], strict=True):
        np.dot(z, W, out=a)
        np.tanh(a, out=a)
        a *= mul
        a += add
        c *= f
        np.multiply(i, g, out=w)
        c += w
        np.tanh(c, out=tc)
        np.multiply(o, tc, out=h_next)
    return Z[1:, :H]


def _gru_weights(layer, p: tuple[np.ndarray, ...], dtype) -> np.ndarray:
    """`[h, x, 1] @ W` gives the r and z pre-activations (halved), h W_hn + b_hn, and
    x W_in + b_in."""
    H, d = layer.units, p[0].shape[0]
    half = layer.scales(dtype)[1]
    W = np.zeros((H + d + 1, 4 * H), dtype)
    W[:H, : 3 * H], W[H : H + d, : 2 * H], W[H : H + d, 3 * H :] = (
        p[1],
        p[0][:, : 2 * H],
        p[0][:, 2 * H :],
    )
    W[-1, : 2 * H], W[-1, 2 * H : 3 * H], W[-1, 3 * H :] = p[2][: 2 * H], p[3], p[2][2 * H :]
    W[:, : 2 * H] *= half[: 2 * H]
    return W


def gru_one(layer, X: np.ndarray, p: tuple[np.ndarray, ...]) -> np.ndarray:
    """States `(T, H)` of a GRU over one sequence `X` `(T, d)`."""
    H = layer.units
    _, _, mul, add = layer.scales(X.dtype)
    W = _stacked(layer, p, X.dtype, _gru_weights)
    mul, add = mul[: 2 * H], add[: 2 * H]
    Z = _inputs(X, H)
    m, w, n = (np.empty(k, X.dtype) for k in (4 * H, H, H))
    rz, r, z, m_n, x_n = (m[a:b] for a, b in ((0, 2 * H), (0, H), (H, 2 * H),
                                              (2 * H, 3 * H), (3 * H, 4 * H)))  # fmt: skip
    for row, h, h_next in zip(Z[:-1], Z[:-1, :H], Z[1:, :H], strict=True):
        np.dot(row, W, out=m)
        np.tanh(rz, out=rz)
        rz *= mul
        rz += add
        np.multiply(r, m_n, out=w)
        w += x_n
        np.tanh(w, out=n)
        np.subtract(h, n, out=w)
        w *= z
        np.add(n, w, out=h_next)
    return Z[1:, :H]


ONE = {"lstm": lstm_one, "gru": gru_one}
