"""The LSTM's time loops, feature-major: every per-step array is `(features, batch)`.

Laid out this way, each gate of a step is a contiguous block of rows, so every elementwise
pass runs over one contiguous array (a gate-column slice of a batch-major `(n, 4H)` array is
`n` separate runs, about twice the cost at 64 units). The step input is one column block
`z_t = [h_{t-1}; x_t; 1]` `(H + d + 1, n)` of `Z` `(T + 1, H + d + 1, n)`, so one matmul
`W z_t` with `W = [W_hh^T | W_ih^T | b]` gives every gate's pre-activation (input projection
and bias included), and the weight gradient of a step is the one product `dA_t z_t^T`, taken
while both are still in cache. The rows of `W` put the gates in the order i, f, o, g (the
parameters keep PyTorch's i, f, g, o), so the three sigmoid gates are one block: a sigmoid is
`0.5 tanh(x / 2) + 0.5`, and one `tanh` over the step, with the sigmoid rows' weights
halved, then one multiply-add over the sigmoid block activates every gate.

Sequences still running at step `t` are the columns `[:active[t]]` (and those carrying
gradient `[first[t]:active[t]]`, see `recurrent.Steps`); nothing outside them is computed.
"""

from __future__ import annotations

import numpy as np

# PyTorch gate block (i, f, g, o) of each row block of W (i, f, o, g)
ROW_BLOCKS = (0, 1, 3, 2)


def gate_order(H: int) -> np.ndarray:
    """PyTorch's gate column of each row of `W`."""
    return np.concatenate([np.arange(b * H, (b + 1) * H) for b in ROW_BLOCKS])


def stack_weights(p: tuple[np.ndarray, ...], order: np.ndarray, W: np.ndarray) -> None:
    """`W = [W_hh^T | W_ih^T | b]` `(4H, H + d + 1)`, rows in gate order i, f, o, g."""
    W_ih, W_hh, b = p[0], p[1], p[2]
    H, d = W_hh.shape[0], W_ih.shape[0]
    W[:, :H] = np.take(W_hh, order, axis=1).T
    W[:, H : H + d] = np.take(W_ih, order, axis=1).T
    W[:, H + d] = b[order]


def unstack_gradient(dW: np.ndarray, order: np.ndarray, g: tuple[np.ndarray, ...]) -> None:
    """Scatter the gradient of `W` into the parameter-shaped gradients `(dW_ih, dW_hh, db)`."""
    dW_ih, dW_hh, db = g[0], g[1], g[2]
    H, d = dW_hh.shape[0], dW_ih.shape[0]
    dW_hh[:, order] = dW[:, :H].T
    dW_ih[:, order] = dW[:, H : H + d].T
    db[order] = dW[:, H + d]


def forward_steps(buf: dict, W: np.ndarray, active: list[int]) -> None:
    """Every step's gates `A`, cells `C`, `tanh(C)` and states (rows `:H` of `Z`)."""
    Z, A, C, TC, w = buf["Z"], buf["A"], buf["C"], buf["TC"], buf["w"]
    H = C.shape[1]
    n = Z.shape[2]
    for t, k in enumerate(active):
        a, cp, cn, tc, hn, wk = A[t], C[t], C[t + 1], TC[t], Z[t + 1, :H], w
        if k < n:
            a, cp, cn, tc, hn, wk = (v[:, :k] for v in (a, cp, cn, tc, hn, w))
            np.matmul(W, Z[t, :, :k], out=a)
        else:
            np.matmul(W, Z[t], out=a)
        np.tanh(a, out=a)
        s = a[: 3 * H]
        s *= 0.5
        s += 0.5
        np.multiply(a[H : 2 * H], cp, out=cn)
        np.multiply(a[:H], a[3 * H :], out=wk)
        cn += wk
        np.tanh(cn, out=tc)
        np.multiply(a[2 * H : 3 * H], tc, out=hn)


def backward_steps(buf: dict, W: np.ndarray, steps, dh_steps, dX) -> np.ndarray:
    """BPTT from `buf["dz"][:H]` (the final-state gradient); returns the gradient of `W`.

    `dh_steps` `(T, n, H)` adds each step's gradient from a layer above; `dX` `(T, n, d)`,
    if given, receives the gradient of the layer's input.
    """
    Z, A, C, TC = buf["Z"], buf["A"], buf["C"], buf["TC"]
    dz, dc, D, w, wg, dW, work = (
        buf[k] for k in ("dz", "dc", "D", "w", "wg", "dW", "dW_step")
    )
    H, n = C.shape[1], Z.shape[2]
    dh = dz[:H]
    W_back = W.T if dX is not None else W[:, :H].T
    d_in = dz if dX is not None else dh
    dc[...] = 0
    dW[...] = 0
    if dX is not None:
        dX[...] = 0
    for t in range(steps.T - 1, -1, -1):
        lo, k = steps.first[t], steps.active[t]
        if lo == k:
            continue
        a, cp, tc, z = A[t], C[t], TC[t], Z[t]
        dht, dct, d, wt, wgt, dzt = dh, dc, D, w, wg, d_in
        if lo or k < n:
            cols = slice(lo, k)
            a, cp, tc, z, dht, dct, d, wt, wgt, dzt = (
                v[:, cols] for v in (a, cp, tc, z, dht, dct, d, wt, wgt, dzt)
            )
        if dh_steps is not None:
            dht += dh_steps[t, lo:k].T
        _gate_gradients(a, cp, tc, dht, dct, d, wt, wgt, H)
        np.matmul(d, z.T, out=work)
        dW += work
        if t or dX is not None:
            np.matmul(W_back, d, out=dzt)
        if dX is not None:
            dX[t, lo:k] = dzt[H : dX.shape[2] + H].T
    return dW


def _gate_gradients(a, cp, tc, dh, dc, d, w, wg, H: int) -> None:
    """`d` = gradient of the gates' pre-activations; `dc` carried back one step."""
    i, f, o, g = a[:H], a[H : 2 * H], a[2 * H : 3 * H], a[3 * H :]
    np.multiply(dh, tc, out=d[2 * H : 3 * H])  # dL/do
    np.multiply(tc, tc, out=w)
    np.subtract(1.0, w, out=w)
    w *= o
    w *= dh
    dc += w  # dL/dc
    np.multiply(dc, g, out=d[:H])
    np.multiply(dc, cp, out=d[H : 2 * H])
    np.multiply(dc, i, out=d[3 * H :])
    # sigmoid' = a (1 - a) on the i, f, o rows; tanh' = 1 - g^2 = (1 - g)(1 + g) on g's
    np.subtract(1.0, a, out=wg)
    d *= wg
    d[: 3 * H] *= a[: 3 * H]
    np.add(g, 1.0, out=wg[3 * H :])
    d[3 * H :] *= wg[3 * H :]
    dc *= f
