"""Prediction through recurrent layers: no training caches, few NumPy calls per step.

Training keeps every step's gates for the backward pass; prediction keeps only what the next
step reads. A layer first projects the inputs of every step at once, `P = X W_ih + b` (one
matmul, the bias added once), so a step is one product `h W_hh` plus elementwise passes, in
place, on buffers allocated before the loop: no per-step allocation or concatenation. The
gated layers take a sigmoid as `0.5 tanh(x / 2) + 0.5` with the sigmoid gates' weights
halved (as `gated.py` does), so one `tanh` pass and one multiply-add activate every gate.

One sequence runs on 1-D vectors (the vector's own `dot` method costs about 0.5 µs less
than `matmul` and 0.15 µs less than `np.dot`, which dispatches first); a batch runs
feature-major for LSTM and GRU, as training does (each gate a contiguous block of rows), and
batch-major for the Elman layer, whose activation may be a row-wise softmax. The batch is
sorted longest first, so the sequences running at step `t` are the first `k`; the steps
sharing a `k` form a run whose views are made once, so a batch of full-length sequences pays
nothing for lengths. The state is one running buffer: a finished sequence's columns are no
longer written, so the buffer ends holding every sequence's final state. Only a layer below
another keeps its states.

Per step, an LSTM makes 9 NumPy calls and a GRU 11 (a call on these small vectors costs
0.3-0.5 µs, the product about 1.1 µs: the calls, not the arithmetic, are the time of a short
sequence); the ufuncs are called through local names with positional outputs, about 0.1 µs
less a call than `np.tanh(a, out=a)`. The LSTM's buffer is `[o, i, f, g, c]`, so that one
product `[i, f] * [g, c]` gives both terms of the new cell.
"""

from __future__ import annotations

from itertools import repeat

import numpy as np

from .activations import ACTIVATIONS

add, matmul, multiply, subtract, tanh = np.add, np.matmul, np.multiply, np.subtract, np.tanh
LSTM_BLOCKS = (3, 0, 1, 2)  # PyTorch gate block (i, f, g, o) of each block of [o, i, f, g]


def runs(lengths: np.ndarray, T: int) -> list[tuple[int, int, int]]:
    """`(start, stop, k)`: the steps `[start, stop)` in which the first `k` sequences run
    (`lengths` sorted longest first)."""
    n = len(lengths)
    active = (n - np.searchsorted(lengths[::-1], np.arange(T), side="right")).tolist()
    out, start = [], 0
    for t in range(1, T + 1):
        if t == T or active[t] != active[start]:
            if active[start]:
                out.append((start, t, active[start]))
            start = t
    return out


def _prepared(layer, p: tuple[np.ndarray, ...], dtype) -> tuple[np.ndarray, ...]:
    """The layer's prediction weights, made once per parameter set (a trained model's
    weights do not change): `(W_x (d, G), b (G,), U (H', G), U^T)`."""
    made = layer.__dict__.get("_predict_weights")
    if made is None or made[0] is not p[0] or made[1] != dtype:
        W_x, b, U = PREPARE[layer.kind](layer, p)
        W_x, b, U = (np.ascontiguousarray(a, dtype) for a in (W_x, b, U))
        made = (p[0], np.dtype(dtype), (W_x, b, U, np.ascontiguousarray(U.T)))
        layer.__dict__["_predict_weights"] = made
    return made[2]


def _lstm_weights(layer, p):
    """Gate columns `[o, i, f, g]`, the sigmoid gates' halved."""
    H = layer.units
    order = np.concatenate([np.arange(k * H, (k + 1) * H) for k in LSTM_BLOCKS])
    half = np.r_[np.full(3 * H, 0.5), np.ones(H)]
    return p[0][:, order] * half, p[2][order] * half, p[1][:, order] * half


def _gru_weights(layer, p):
    """Columns `[r, z, n]` (r, z halved); `U` has a last row `[0, 0, b_hn]` for the state's
    constant 1, since the reset gate scales `h W_hn + b_hn` as a whole."""
    H = layer.units
    half = np.r_[np.full(2 * H, 0.5), np.ones(H)]
    bias_row = np.r_[np.zeros(2 * H), p[3]]
    return p[0] * half, p[2] * half, np.vstack([p[1], bias_row]) * half


PREPARE = {
    "rnn": lambda layer, p: (p[0], p[2], p[1]),
    "lstm": _lstm_weights,
    "gru": _gru_weights,
}


def _project(X: np.ndarray, W_x, b, n: int, feature_major: bool) -> np.ndarray:
    """`P` of every step: `(T, G)` for one sequence, else `(T, G, n)` or `(T, n, G)`."""
    if n == 1 and feature_major:
        P = X[:, 0] @ W_x
        P += b
        return P
    if feature_major:
        P = matmul(W_x.T, X.transpose(0, 2, 1))
        P += b[:, None]
        return P
    P = matmul(X, W_x)
    P += b
    return P


def _cols(arrays, k: int, n: int, feature_major: bool):
    """The arrays restricted to the first `k` sequences (all of them: themselves)."""
    if k == n:
        return arrays
    return tuple(a[..., :k] if feature_major else a[:k] for a in arrays)


def _lstm(P, part, states, W, one: bool) -> None:
    """The steps of one run. `part` = `(h, Q, w, w2, tc, half)` restricted to the run."""
    h, Q, w, w2, tc, half = part
    U, mm = (W[2], h.dot) if one else (W[3], None)
    H = h.shape[0]
    a, sig, o, i_f, g_c, c, ig, fc = (Q[: 4 * H], Q[: 3 * H], Q[:H], Q[H : 3 * H],
                                      Q[3 * H :], Q[4 * H :], w2[:H], w2[H:])  # fmt: skip
    for p_t, s_t in zip(P, states, strict=False):
        if mm is not None:
            mm(U, w)  # h.dot: no array-function dispatch, 0.15 µs less than np.dot
        else:
            matmul(U, h, w)
        add(p_t, w, a)
        tanh(a, a)
        multiply(sig, half, sig)
        add(sig, half, sig)
        multiply(i_f, g_c, w2)  # [i g, f c]
        add(ig, fc, c)
        tanh(c, tc)
        multiply(o, tc, h)
        if s_t is not None:
            s_t[...] = h


def _gru(P, part, states, W, one: bool) -> None:
    """The steps of one run. `part` = `(hx, m, rz, w, nn, half)`, `hx` the state and a 1."""
    hx, m, rz, w, nn, half = part
    U, mm = (W[2], hx.dot) if one else (W[3], None)
    H = w.shape[0]
    h, m_rz, m_n, r, z = hx[:H], m[: 2 * H], m[2 * H :], rz[:H], rz[H:]
    for p_rz, p_n, s_t in zip(P[:, : 2 * H], P[:, 2 * H :], states, strict=False):
        if mm is not None:
            mm(U, m)
        else:
            matmul(U, hx, m)
        add(p_rz, m_rz, rz)
        tanh(rz, rz)
        multiply(rz, half, rz)
        add(rz, half, rz)
        multiply(r, m_n, w)
        add(w, p_n, w)
        tanh(w, nn)  # n
        subtract(h, nn, w)
        multiply(w, z, w)
        add(nn, w, h)  # h' = n + z (h - n)
        if s_t is not None:
            s_t[...] = h


def _elman(P, part, states, W, forward) -> None:
    """The steps of one run, batch-major. `part` = `(h, w, work)`."""
    U = W[2]
    h, w, work = part
    for p_t, s_t in zip(P, states, strict=False):
        matmul(h, U, w)
        add(p_t, w, p_t)
        forward(p_t, h, work)
        if s_t is not None:
            s_t[...] = h


def _buffers(layer, n: int, dtype) -> tuple[tuple[np.ndarray, ...], bool]:
    """The running buffers of a layer `(state, ...)`, and whether they are feature-major."""
    H = layer.units
    if layer.kind == "rnn":
        return tuple(np.zeros((n, H), dtype) for _ in range(3)), False
    shape = (lambda rows: (rows,)) if n == 1 else (lambda rows: (rows, n))
    if layer.kind == "lstm":
        rows, half = (H, 5 * H, 4 * H, 2 * H, H), 3 * H
    else:
        rows, half = (H + 1, 3 * H, 2 * H, H, H), 2 * H
    made = tuple(np.zeros(shape(r), dtype) for r in rows)
    if layer.kind == "gru":
        made[0][H] = 1  # the state's constant 1, for b_hn
    return (*made, np.full(shape(half) if n == 1 else (half, 1), 0.5, dtype)), True


def layer_states(layer, p, X: np.ndarray, steps, keep: bool):
    """Run one layer over time-major `X` `(T, n, d)` with `steps` from `runs`; return the
    final states `(n, H)` and, with `keep`, every step's states `(T, n, H)` (zero after a
    sequence's end)."""
    T, n, _ = X.shape
    H = layer.units
    W = _prepared(layer, p, X.dtype)
    bufs, fm = _buffers(layer, n, X.dtype)  # fm: feature-major
    P = _project(X, W[0], W[1], n, fm)
    one = n == 1 and fm
    states = None
    if keep:
        states = np.zeros((T, H) if one else (T, H, n) if fm else (T, n, H), X.dtype)
    for start, stop, k in steps:
        if layer.kind == "rnn":
            part = _cols(bufs, k, n, False)
            _elman(P[start:stop, :k], part, _run(states, start, stop, k, n, False), W,
                   ACTIVATIONS[layer.activation].forward)  # fmt: skip
            continue
        part = bufs if one else _cols(bufs[:-1], k, n, True) + bufs[-1:]
        p_run = P[start:stop, ..., :k] if k < n else P[start:stop]
        s_run = _run(states, start, stop, k, n, True)
        (_lstm if layer.kind == "lstm" else _gru)(p_run, part, s_run, W, one)
    h = bufs[0] if layer.kind == "rnn" else bufs[0][:H]
    final = h[None, :] if one else h.T if fm else h
    if states is None:
        return final, None
    return final, states[:, None, :] if one else states.transpose(0, 2, 1) if fm else states


def _run(states, start: int, stop: int, k: int, n: int, fm: bool):
    """The run's steps of `states` (`repeat(None)` when none are kept)."""
    if states is None:
        return repeat(None)
    if k == n:
        return states[start:stop]
    return states[start:stop, ..., :k] if fm else states[start:stop, :k]


def final_states(recurrent, X: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The last layer's state at each sequence's last real step, `(n, H)`, for time-major
    `X` `(T, n, d)` with `lengths` sorted longest first."""
    if X.shape[1] == 1:
        X = X[: lengths[0]]
        steps = [(0, len(X), 1)]
    else:
        steps = runs(lengths, X.shape[0])
    inp, last = X, len(recurrent) - 1
    for i, (layer, p) in enumerate(recurrent):
        final, inp = layer_states(layer, p, inp, steps, keep=i < last)
    return final
