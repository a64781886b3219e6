"""The LSTM cell of the feature-major time loop (see `time_loop.py`).

The rows of `W` put the gates in the order i, f, o, g (the parameters keep PyTorch's i, f,
g, o), so the three sigmoid gates are one block, and one transcendental pass activates every
gate of a step, in one of two forms chosen by the CPU (`FORM`):

- `tanh`: the forward weights (`scale_rows`) are halved for the sigmoid rows, since
  sigmoid(x) = 0.5 tanh(x / 2) + 0.5; one `tanh` pass, then a multiply-add on those rows.
- `exp`: the forward weights are `-W` for the sigmoid rows and `-2 W` for g, so
  `1 / (1 + exp(a))` is sigmoid(x) for i, f, o and sigmoid(2x) for g, and
  tanh(x) = 2 sigmoid(2x) - 1; tanh(c) is taken the same way.

Which is cheaper depends on NumPy's float32 kernels for the CPU: on an AVX2 machine `tanh`
cost 3.6 ns a value against 1.8 ns for `exp` with its add and divide; on an AVX-512 one
(AMD EPYC) 0.37 ns against 0.6 ns, and the whole `tanh` step about a third less elementwise
time. The form is fixed per process from the CPU's features, never from a timing, so that
the same seed on the same machine always gives the same weights. The backward pass is the
same for both: it reads the activated gates.
"""

from __future__ import annotations

import numpy as np


def _has_avx512() -> bool:
    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:  # a NumPy without the table: the form that is never slow
        return False
    return bool(__cpu_features__.get("AVX512_SKX"))


FORM = "tanh" if _has_avx512() else "exp"

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


def forward_views(buf: dict, t: int, cols: slice) -> tuple[np.ndarray, ...]:
    """Step `t`'s gates (then their blocks), input, cells, tanh(cell), state, scratch."""
    Z, A, C, TC = buf["Z"], buf["A"], buf["C"], buf["TC"]
    H = C.shape[1]
    a = A[t][:, cols]
    cells = (C[t][:, cols], C[t + 1][:, cols], TC[t][:, cols])
    return a, Z[t][:, cols], *_gates(a, H), *cells, Z[t + 1, :H][:, cols], buf["w"][:, cols]


def scale_rows(W: np.ndarray, Ws: np.ndarray, H: int) -> None:
    """The weights the forward pass multiplies by, for `FORM` (see above)."""
    if FORM == "tanh":
        np.multiply(W[: 3 * H], 0.5, out=Ws[: 3 * H])
        Ws[3 * H :] = W[3 * H :]
    else:
        np.negative(W, out=Ws)
        Ws[3 * H :] *= 2.0


def forward_step(views: tuple) -> None:
    """The gates, cell, tanh(cell) and state of a step whose `a` holds `scale_rows(W) z_t`."""
    a, _, sig, i, f, o, g, cp, cn, tc, hn, w = views
    if FORM == "tanh":
        np.tanh(a, out=a)
        sig *= 0.5
        sig += 0.5  # sigmoid(x) = 0.5 tanh(x / 2) + 0.5
    else:
        np.exp(a, out=a)
        a += 1.0
        np.divide(1.0, a, out=a)  # sigmoid of the gates (of 2x for g)
        g *= 2.0
        g -= 1.0
    np.multiply(f, cp, out=cn)
    np.multiply(i, g, out=w)
    cn += w
    if FORM == "tanh":
        np.tanh(cn, out=tc)
    else:
        np.multiply(cn, -2.0, out=tc)  # tanh(c) = 2 / (1 + exp(-2c)) - 1
        np.exp(tc, out=tc)
        tc += 1.0
        np.divide(2.0, tc, out=tc)
        tc -= 1.0
    np.multiply(o, tc, out=hn)


def backward_views(buf: dict, t: int, cols: slice) -> tuple[np.ndarray, ...]:
    """Step `t`'s stored values: gates, sigmoid block, previous cell, tanh(cell), state, input."""
    Z, A, C, TC = buf["Z"], buf["A"], buf["C"], buf["TC"]
    H = C.shape[1]
    a = A[t][:, cols]
    stored = (C[t][:, cols], TC[t][:, cols], Z[t + 1, :H][:, cols], Z[t][:, cols])
    return a, *_gates(a, H), *stored


def work_views(buf: dict, t: int, cols: slice, d_in: np.ndarray) -> tuple[np.ndarray, ...]:
    """Step `t`'s gradient arrays: dh, dA, `d_in`, no carry, dc, dA's gates, scratch."""
    H = buf["C"].shape[1]
    d, wg = buf["D"][:, t, cols], buf["wg"][:, cols]
    dh, dc, w = buf["dz"][:H, cols], buf["dc"][:, cols], buf["w"][:, cols]
    return dh, d, d_in[:, cols], None, dc, *_gates(d, H)[1:], w, wg, _gates(wg, H)[0], wg[3 * H :]


def gate_gradients(views: tuple, grads: tuple) -> None:
    """`dA` = gradient of the gates' pre-activations; `dc` carried back one step."""
    a, sig, i, f, o, g, cp, tc, h, _ = views
    dh, d, _, _, dc, d_i, d_f, d_o, d_g, w, wg, wg_sig, wg_g = grads
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
