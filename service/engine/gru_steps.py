"""The GRU cell of the feature-major time loop (see `time_loop.py`).

The rows of `W` are four blocks: r and z (`[W_h | W_i | b]`, the input and hidden biases
summed), then `nh = W_hn h + b_hn` (input columns zero) and `ni = W_in x + b_in` (recurrent
columns zero), kept apart because the reset gate scales only `nh`. The blocks of zeros cost
a quarter more multiply-adds per step than three blocks would, and buy one matmul per step
forward and one backward, with the weight gradient of every block in one product too. A
sigmoid is `0.5 tanh(x / 2) + 0.5`, with the r and z rows' weights halved.
"""

from __future__ import annotations

import numpy as np


def stack_weights(p: tuple[np.ndarray, ...], W: np.ndarray) -> None:
    """`W` `(4H, H + d + 1)` from `(W_ih, W_hh, b, b_hn)` (see the module docstring)."""
    W_ih, W_hh, b, b_hn = p
    H, d = W_hh.shape[0], W_ih.shape[0]
    x, one = slice(H, H + d), H + d
    W[: 2 * H, :H] = W_hh[:, : 2 * H].T
    W[: 2 * H, x] = W_ih[:, : 2 * H].T
    W[: 2 * H, one] = b[: 2 * H]
    W[2 * H : 3 * H, :H] = W_hh[:, 2 * H :].T
    W[2 * H : 3 * H, x] = 0
    W[2 * H : 3 * H, one] = b_hn
    W[3 * H :, :H] = 0
    W[3 * H :, x] = W_ih[:, 2 * H :].T
    W[3 * H :, one] = b[2 * H :]


def unstack_gradient(dW: np.ndarray, g: tuple[np.ndarray, ...]) -> None:
    """Scatter the gradient of `W` into `(dW_ih, dW_hh, db, db_hn)`; the zero blocks' go."""
    dW_ih, dW_hh, db, db_hn = g
    H, d = dW_hh.shape[0], dW_ih.shape[0]
    x, one = slice(H, H + d), H + d
    dW_hh[:, : 2 * H] = dW[: 2 * H, :H].T
    dW_ih[:, : 2 * H] = dW[: 2 * H, x].T
    db[: 2 * H] = dW[: 2 * H, one]
    dW_hh[:, 2 * H :] = dW[2 * H : 3 * H, :H].T
    db_hn[...] = dW[2 * H : 3 * H, one]
    dW_ih[:, 2 * H :] = dW[3 * H :, x].T
    db[2 * H :] = dW[3 * H :, one]


def _blocks(a: np.ndarray, H: int) -> tuple[np.ndarray, ...]:
    """The sigmoid block (r, z), then r, z, nh and ni (which becomes n) of `(4H, n)`."""
    return a[: 2 * H], a[:H], a[H : 2 * H], a[2 * H : 3 * H], a[3 * H :]


def forward_views(buf: dict, t: int, cols: slice) -> tuple[np.ndarray, ...]:
    """Step `t`'s pre-activations (then their blocks), input, previous and next state."""
    Z, A = buf["Z"], buf["A"]
    H = buf["w"].shape[0]
    a = A[t][:, cols]
    states = (Z[t][:H, cols], Z[t + 1][:H, cols], buf["w"][:, cols])
    return a, Z[t][:, cols], *_blocks(a, H), *states


def forward_step(views: tuple) -> None:
    """Gates and state of a step whose `a` holds `W z_t`: h' = n + z (h - n)."""
    _, _, rz, r, z, nh, n, hp, hn, w = views
    np.tanh(rz, out=rz)
    rz *= 0.5
    rz += 0.5
    np.multiply(r, nh, out=w)
    n += w
    np.tanh(n, out=n)
    np.subtract(hp, n, out=w)
    w *= z
    np.add(n, w, out=hn)


def backward_views(buf: dict, t: int, cols: slice) -> tuple[np.ndarray, ...]:
    """Step `t`'s gates r, z, nh, n, previous state and input `z_t`."""
    Z, A = buf["Z"], buf["A"]
    H = buf["w"].shape[0]
    a = A[t][:, cols]
    return *_blocks(a, H)[1:], Z[t][:H, cols], Z[t][:, cols]


def work_views(buf: dict, t: int, cols: slice, d_in: np.ndarray) -> tuple[np.ndarray, ...]:
    """Step `t`'s dh, dA, `d_in`, the carry `dh z`, dA's blocks r, z, nh, n, two scratch
    arrays."""
    H = buf["w"].shape[0]
    d, wg = buf["D"][:, t, cols], buf["wg"][:, cols]
    dh, carry = buf["dz"][:H, cols], wg[2 * H : 3 * H]
    return dh, d, d_in[:, cols], carry, *_blocks(d, H)[1:], buf["w"][:, cols], wg[:H]


def gate_gradients(views: tuple, grads: tuple) -> None:
    """dA for the step, and the carry `dh z` that reaches the previous state directly."""
    r, z, nh, n, hp, _ = views
    dh, _, _, carry, dr, dz, dnh, dn, w, v = grads
    np.subtract(1.0, z, out=w)
    np.multiply(n, n, out=dn)
    np.subtract(1.0, dn, out=dn)
    dn *= dh
    dn *= w  # dL/d(n pre-activation) = dh (1 - z) (1 - n^2)
    np.subtract(hp, n, out=dz)
    dz *= dh
    w *= z
    dz *= w  # dL/d(z pre-activation) = dh (h - n) z (1 - z)
    np.multiply(dn, nh, out=dr)
    np.subtract(1.0, r, out=v)
    v *= r
    dr *= v  # dL/d(r pre-activation) = dn nh r (1 - r)
    np.multiply(dn, r, out=dnh)
    np.multiply(dh, z, out=carry)
