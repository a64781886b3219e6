"""What the feature-major gated layers share: buffers, weight stacking, the backward loop.

Every per-step array is `(features, batch)`. The input of step `t` is one column block
`z_t = [h_{t-1}; x_t; 1]` `(H + d + 1, n)` of `Z` `(T + 1, H + d + 1, n)`, so one matmul
`W z_t` with `W` `(4H, H + d + 1)` (rows: the layer's gate blocks, columns: recurrent weights,
input weights, bias) gives every pre-activation of the step, input projection and bias
included. The backward loop keeps every step's `dA_t` in `D` `(4H, T, n)`, so the weight
gradient of all steps, `sum_t dA_t z_t^T`, is one product after the loop (with a gate-major
copy of `Z`): measured here, about a quarter cheaper than a product and a sum per step, and
about a tenth of an LSTM epoch at batch 128. Laid out this way, each gate of a step is a
contiguous block of rows, so every elementwise pass runs over contiguous rows (a gate-column
slice of a batch-major `(n, 4H)` array is `n` separate runs, about twice the cost at 64 units).

Sequences still running at step `t` are the columns `[:active[t]]`, and those carrying
gradient `[first[t]:active[t]]` (see `recurrent.Steps`); nothing outside them is computed.
A cell (`lstm_steps`, `gru_steps`) supplies the views of a step and its gate gradients.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np

EVERYTHING = slice(None)


def buffers(T: int, n: int, H: int, d: int, dtype) -> dict[str, np.ndarray]:
    """Zeroed arrays for a batch of `n` (zeros, so columns never written stay finite)."""
    K, G = H + d + 1, 4 * H
    Z = np.zeros((T + 1, K, n), dtype)
    Z[:, -1] = 1
    buf = {
        "Z": Z, "A": np.zeros((T, G, n), dtype), "w": np.zeros((H, n), dtype),
        "W": np.zeros((G, K), dtype), "Ws": np.zeros((G, K), dtype),
        "h": Z[:, :H].transpose(0, 2, 1),  # (T + 1, n, H), as the other layers give it
    }  # fmt: skip
    # D: every step's dA, gate-major, so that the weight gradient of all steps is one
    # product with ZT, a gate-major copy of the steps' inputs
    shapes = {"dz": (K, n), "D": (G, T, n), "wg": (G, n), "dW": (G, K), "ZT": (K, T, n)}
    buf.update((key, np.zeros(shape, dtype)) for key, shape in shapes.items())
    return buf


def load(X: np.ndarray, buf: dict, initial_h) -> None:
    """Copy the inputs `X` `(T, n, d)` into `Z` and set the initial state."""
    Z, H = buf["Z"], buf["w"].shape[0]
    np.copyto(Z[: X.shape[0], H:-1], X.transpose(0, 2, 1))
    buf["h"][0] = 0 if initial_h is None else initial_h


def forward(buf: dict, W: np.ndarray, active: list[int], cell: ModuleType) -> None:
    """Every step: `A_t = W z_t`, then the cell's activations, writing `h_t` into `Z`."""
    n = buf["Z"].shape[2]
    made = buf.setdefault("forward_views", {})  # the views of full steps, made once
    for t, k in enumerate(active):
        if k == n:
            views = made.get(t) or made.setdefault(t, cell.forward_views(buf, t, EVERYTHING))
        else:
            views = cell.forward_views(buf, t, slice(0, k))
        np.matmul(W, views[1], out=views[0])  # views[:2] are A_t, z_t
        cell.forward_step(views)


def backward(buf: dict, W: np.ndarray, steps, dh_steps, dX, cell: ModuleType) -> np.ndarray:
    """BPTT from `buf["dz"][:H]` (the final-state gradient); returns the gradient of `W`.

    `dh_steps` `(T, n, H)` adds each step's gradient from a layer above; `dX` `(T, n, d)`,
    if given, receives the gradient of the layer's input. A cell's `work_views` start with
    `(dh, dA, d_in, carry)`: `carry`, if not None, is a share of `dh` that flows straight to
    the previous state (added after `W^T dA`).
    """
    dW, dz, D, ZT = buf["dW"], buf["dz"], buf["D"], buf["ZT"]
    H, n = buf["w"].shape
    T = steps.T
    W_back, d_in = (W.T, dz) if dX is not None else (W[:, :H].T, dz[:H])
    if dX is not None:
        dX[...] = 0
    made = buf.setdefault("work_views_dX" if dX is not None else "work_views", {})  # full steps
    for t in range(T - 1, -1, -1):
        lo, k = steps.first[t], steps.active[t]
        if lo or k < n:  # columns outside the step's range add nothing to the weight gradient
            D[:, t, :lo] = 0
            D[:, t, k:] = 0
        if lo == k:
            continue
        cols = EVERYTHING if lo == 0 and k == n else slice(lo, k)
        views = cell.backward_views(buf, t, cols)
        if cols is EVERYTHING:
            grads = made.get(t) or made.setdefault(t, cell.work_views(buf, t, cols, d_in))
        else:
            grads = cell.work_views(buf, t, cols, d_in)
        dh, d, d_step, carry = grads[:4]
        if dh_steps is not None:
            dh += dh_steps[t, lo:k].T
        cell.gate_gradients(views, grads)
        if t or dX is not None:
            np.matmul(W_back, d, out=d_step)
            if carry is not None:
                dh += carry
        if dX is not None:
            dX[t, lo:k] = d_step[H : H + dX.shape[2]].T
    # the weight gradient of every step at once: sum_t dA_t z_t^T
    np.copyto(ZT, buf["Z"][:T].transpose(1, 0, 2))
    G, K = dW.shape
    np.matmul(D.reshape(G, T * n), ZT.reshape(K, T * n).T, out=dW)
    return dW
