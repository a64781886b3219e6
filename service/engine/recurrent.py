"""Recurrent layers over time-major batches, and backpropagation through time.

A recurrent layer reads a batch `X` `(T, n, d)` (time-major inside the engine; the public API
is batch-first `(n, T, d)`) and returns its states `h` `(T + 1, n, H)`, `h[0]` the initial
state (zeros unless given). Weights follow PyTorch's equations, stored transposed so that one
matmul serves every gate: `W_ih` `(d, G·H)`, `W_hh` `(H, G·H)`, `b` `(G·H,)` with the gates
in PyTorch's order (`torch` `weight_ih_l0` is `W_ih.T`; `b` is `bias_ih + bias_hh`, except the
GRU's candidate gate, whose hidden bias `b_hn` stays apart because the reset gate scales it).

In the Elman layer, the input projection of every step, `X @ W_ih + b`, is one matmul before
the time loop; the loop does one `h @ W_hh` per step plus elementwise work on preallocated
buffers; the weight gradients are one matmul each after the backward loop. The gated layers
run feature-major instead (see `time_loop.py`). The batch is sorted by length,
longest first, so the rows still running at step `t` are a prefix `[:active[t]]`: padding is
never computed, never read and never reaches a gradient. Truncated BPTT (`bptt`) lets the
gradient of each sequence flow back only through its last `bptt` real steps: at step `t` the
rows in `[first[t], active[t])` carry gradient, another contiguous range.

Initial weights: input weights Glorot-uniform per gate (`±sqrt(6 / (d + H))`), recurrent
weights an orthogonal `H × H` block per gate (Saxe et al., 2014), biases zero except the
LSTM forget gate's, which starts at 1 (Gers et al., 2000; Jozefowicz et al., 2015).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .activations import ACTIVATIONS


class Steps:
    """Per-step row ranges of a batch sorted by length (longest first)."""

    def __init__(self, lengths: np.ndarray, T: int, bptt: int | None) -> None:
        n = len(lengths)
        ascending = lengths[::-1]
        t = np.arange(T)
        self.n, self.T = n, T
        self.active = (n - np.searchsorted(ascending, t, side="right")).tolist()
        if bptt is None or bptt >= T:
            self.first = [0] * T
        else:
            self.first = (n - np.searchsorted(ascending, t + bptt, side="right")).tolist()
        self.full = self.active[-1] == n and not any(self.first)
        # (step, row) of each sequence's final state in a (T + 1, n, H) state array
        self.final_index = (lengths.astype(np.intp), np.arange(n))


def orthogonal(rng: np.random.Generator, size: int) -> np.ndarray:
    """A uniformly random orthogonal `size × size` matrix (QR of a Gaussian, signs fixed)."""
    q, r = np.linalg.qr(rng.normal(size=(size, size)))
    return q * np.sign(np.diag(r))


class Recurrent:
    """What the three layers share: shapes, parameter views, buffers and weight gradients."""

    kind = ""
    gates = 1
    extra_bias = 0  # the GRU's separate b_hn

    def __init__(self, n_in: int, units: int, activation: str = "tanh") -> None:
        self.n_in, self.units = n_in, units
        self.width = self.gates * units
        self.n_weights = (n_in + units) * self.width
        self.n_biases = self.width + self.extra_bias * units
        self.activation = activation

    def views(self, weights: np.ndarray, biases: np.ndarray) -> tuple[np.ndarray, ...]:
        """`(W_ih, W_hh, b[, b_hn])` as views into flat weight and bias slices."""
        d, H, G = self.n_in, self.units, self.width
        W_ih = weights[: d * G].reshape(d, G)
        W_hh = weights[d * G :].reshape(H, G)
        if self.extra_bias:
            return W_ih, W_hh, biases[:G], biases[G:]
        return W_ih, W_hh, biases

    def initialize(self, rng: np.random.Generator, p: tuple[np.ndarray, ...]) -> None:
        """Glorot input weights, orthogonal recurrent blocks, zero biases (see module doc)."""
        W_ih, W_hh = p[0], p[1]
        H = self.units
        limit = np.sqrt(6.0 / (self.n_in + H))
        W_ih[...] = rng.uniform(-limit, limit, size=W_ih.shape)
        for k in range(self.gates):
            W_hh[:, k * H : (k + 1) * H] = orthogonal(rng, H)
        for bias in p[2:]:
            bias[...] = 0

    def buffers(self, T: int, n: int, dtype) -> dict[str, np.ndarray]:
        """Zeroed per-batch arrays (zeros, so rows never written stay finite)."""
        H, G = self.units, self.width
        buf = {
            "x": np.zeros((T, n, G), dtype),  # input projections, then gate activations
            "h": np.zeros((T + 1, n, H), dtype),
            "wH": np.zeros((n, H), dtype),
            "wG": np.zeros((n, G), dtype),
            "dx": np.zeros((T, n, G), dtype),  # gradients of the pre-activations
            "dh": np.zeros((n, H), dtype),
        }
        buf.update(self._extra_buffers(T, n, dtype))
        return buf

    def _extra_buffers(self, T: int, n: int, dtype) -> dict[str, np.ndarray]:
        return {}

    def project(self, X: np.ndarray, buf: dict, p: tuple[np.ndarray, ...]) -> None:
        """`buf["x"] = X @ W_ih + b` for every step at once."""
        T, n, d = X.shape
        x = buf["x"]
        np.matmul(X.reshape(T * n, d), p[0], out=x.reshape(T * n, self.width))
        x += p[2]

    def weight_gradients(self, X, buf, steps: Steps, g: tuple[np.ndarray, ...], dX) -> None:
        """Weight and bias gradients from the stored pre-activation gradients; `dX` if asked."""
        T, n, d = X.shape
        G = self.width
        dx = buf["dx"].reshape(T * n, G)
        np.matmul(X.reshape(T * n, d).T, dx, out=g[0])
        np.matmul(buf["h"][:T].reshape(T * n, self.units).T, dx, out=g[1])
        np.add.reduce(dx, axis=0, out=g[2])
        if dX is not None:
            np.matmul(dx, self._W_ih_T, out=dX.reshape(T * n, d))

    @staticmethod
    def clear_outside(steps: Steps, t: int, *arrays: np.ndarray) -> tuple[int, int]:
        """Zero rows outside `[first[t], active[t])` of step `t`; return that range."""
        lo, k = steps.first[t], steps.active[t]
        if not steps.full:
            for a in arrays:
                if lo:
                    a[t, :lo] = 0
                if k < steps.n:
                    a[t, k:] = 0
        return lo, k

    def backward(self, X, buf, steps: Steps, p, g, dh_final=None, dh_steps=None, dX=None) -> None:
        """BPTT: the final-state gradient `dh_final` (top layer) or per-step `dh_steps`."""
        dh = buf["dh"]
        if dh_final is not None:
            np.copyto(dh, dh_final)
        else:
            dh[...] = 0
        self._backward_loop(buf, steps, p, dh_steps)
        self._W_ih_T = p[0].T
        self.weight_gradients(X, buf, steps, g, dX)

    def forward(self, X, buf, steps: Steps, p, initial: Any = None) -> np.ndarray:
        """Run the layer over `X` `(T, n, d)`; return the states `(T + 1, n, H)`."""
        raise NotImplementedError

    def _backward_loop(self, buf, steps: Steps, p, dh_steps) -> None:
        raise NotImplementedError


class Elman(Recurrent):
    """`h_t = f(x_t W_ih + h_{t-1} W_hh + b)` with any registered activation `f`."""

    kind = "rnn"

    def __init__(self, n_in: int, units: int, activation: str = "tanh") -> None:
        super().__init__(n_in, units, activation)
        self.act = ACTIVATIONS[activation]

    def _extra_buffers(self, T, n, dtype):
        return {"work": np.zeros((n, self.units), dtype)}

    def forward(self, X, buf, steps, p, initial=None):
        self.project(X, buf, p)
        x, h, w, work = buf["x"], buf["h"], buf["wH"], buf["work"]
        W_hh, forward = p[1], self.act.forward
        h[0] = 0 if initial is None else initial
        for t, k in enumerate(steps.active):
            z = x[t, :k]
            np.matmul(h[t, :k], W_hh, out=w[:k])
            z += w[:k]
            forward(z, h[t + 1, :k], work[:k])
        return h

    def _backward_loop(self, buf, steps, p, dh_steps):
        x, h, dx, dh, work = buf["x"], buf["h"], buf["dx"], buf["dh"], buf["work"]
        W_hh_T, backward = p[1].T, self.act.backward
        for t in range(steps.T - 1, -1, -1):
            lo, k = self.clear_outside(steps, t, dx)
            if lo == k:
                continue
            d = dh[lo:k]
            if dh_steps is not None:
                d += dh_steps[t, lo:k]
            backward(h[t + 1, lo:k], x[t, lo:k], d, dx[t, lo:k], work[lo:k])
            if t:
                np.matmul(dx[t, lo:k], W_hh_T, out=d)
