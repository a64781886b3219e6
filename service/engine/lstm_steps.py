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


def _gates(a: np.ndarray, H: int) -> tuple[np.ndarray, ...]:
    """The sigmoid block and the gates i, f, o, g of a step's `(4H, n)` gate array."""
    return a[: 3 * H], a[:H], a[H : 2 * H], a[2 * H : 3 * H], a[3 * H :]


def _forward_views(buf: dict, t: int, cols: slice) -> tuple[np.ndarray, ...]:
    Z, A, C, TC = buf["Z"], buf["A"], buf["C"], buf["TC"]
    H = C.shape[1]
    a = A[t][:, cols]
    cells = (C[t][:, cols], C[t + 1][:, cols], TC[t][:, cols])
    return a, Z[t][:, cols], *_gates(a, H), *cells, Z[t + 1, :H][:, cols], buf["w"][:, cols]


def forward_steps(buf: dict, W: np.ndarray, active: list[int]) -> None:
    """Every step's gates `A`, cells `C`, `tanh(C)` and states (rows `:H` of `Z`)."""
    n = buf["Z"].shape[2]
    full = buf.setdefault("forward_views", {})  # the views of full steps, made once
    for t, k in enumerate(active):
        if k == n:
            views = full.get(t) or full.setdefault(t, _forward_views(buf, t, slice(None)))
        else:
            views = _forward_views(buf, t, slice(0, k))
        a, z, sig, i, f, o, g, cp, cn, tc, hn, w = views
        np.matmul(W, z, out=a)
        np.tanh(a, out=a)
        sig *= 0.5
        sig += 0.5
        np.multiply(f, cp, out=cn)
        np.multiply(i, g, out=w)
        cn += w
        np.tanh(cn, out=tc)
        np.multiply(o, tc, out=hn)


def _backward_views(buf: dict, t: int, cols: slice) -> tuple[np.ndarray, ...]:
    """Step `t`'s stored values: gates, sigmoid block, previous cell, tanh(cell), state, input."""
    Z, A, C, TC = buf["Z"], buf["A"], buf["C"], buf["TC"]
    H = C.shape[1]
    a = A[t][:, cols]
    stored = (C[t][:, cols], TC[t][:, cols], Z[t + 1, :H][:, cols], Z[t][:, cols])
    return a, *_gates(a, H), *stored


def _work_views(buf: dict, cols: slice, d_in: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per-step gradient arrays: dh, dc, dA (and its gate blocks), scratch, `d_in`."""
    H = buf["C"].shape[1]
    d, wg = buf["D"][:, cols], buf["wg"][:, cols]
    dh, dc, w = buf["dz"][:H, cols], buf["dc"][:, cols], buf["w"][:, cols]
    return dh, dc, d, *_gates(d, H)[1:], w, wg, *_gates(wg, H)[:1], wg[3 * H :], d_in[:, cols]


def backward_steps(buf: dict, W: np.ndarray, steps, dh_steps, dX) -> np.ndarray:
    """BPTT from `buf["dz"][:H]` (the final-state gradient); returns the gradient of `W`.

    `dh_steps` `(T, n, H)` adds each step's gradient from a layer above; `dX` `(T, n, d)`,
    if given, receives the gradient of the layer's input.
    """
    dW, work = buf["dW"], buf["dW_step"]
    H, n = buf["C"].shape[1], buf["Z"].shape[2]
    W_back = W.T if dX is not None else W[:, :H].T
    d_in = buf["dz"] if dX is not None else buf["dz"][:H]
    buf["dc"][...] = 0
    dW[...] = 0
    if dX is not None:
        dX[...] = 0
    everything = slice(None)
    full_work = _work_views(buf, everything, d_in)
    for t in range(steps.T - 1, -1, -1):
        lo, k = steps.first[t], steps.active[t]
        if lo == k:
            continue
        cols = everything if lo == 0 and k == n else slice(lo, k)
        views = _backward_views(buf, t, cols)
        grads = full_work if cols is everything else _work_views(buf, cols, d_in)
        if dh_steps is not None:
            dh = grads[0]
            dh += dh_steps[t, lo:k].T
        _gate_gradients(views, grads)
        np.matmul(grads[2], views[-1].T, out=work)
        dW += work
        if t or dX is not None:
            np.matmul(W_back, grads[2], out=grads[-1])
        if dX is not None:
            dX[t, lo:k] = grads[-1][H : dX.shape[2] + H].T
    return dW


def _gate_gradients(views: tuple, grads: tuple) -> None:
    """`dA` = gradient of the gates' pre-activations; `dc` carried back one step."""
    a, sig, i, f, o, g, cp, tc, h, _ = views
    dh, dc, d, d_i, d_f, d_o, d_g, w, wg, wg_sig, wg_g, _ = grads
    np.multiply(dh, tc, out=d_o)  # dL/do
    np.multiply(h, tc, out=w)  # o tanh(c)^2
    np.subtract(o, w, out=w)
    w *= dh
    dc += w  # dL/dc += dh o (1 - tanh(c)^2)
    np.multiply(dc, g, out=d_i)
    np.multiply(dc, cp, out=d_f)
    np.multiply(dc, i, out=d_g)
    np.multiply(a, a, out=wg)
    np.subtract(sig, wg_sig, out=wg_sig)  # sigmoid' = a - a^2
    np.subtract(1.0, wg_g, out=wg_g)  # tanh' = 1 - g^2
    d *= wg
    dc *= f
