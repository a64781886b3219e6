"""The gated recurrent layers, LSTM and GRU, with PyTorch's equations and gate order.

LSTM (gates i, f, g, o):
    i, f, o = sigmoid(.), g = tanh(.)  of  x W_ih + h W_hh + b
    c' = f c + i g,  h' = o tanh(c')
GRU (gates r, z, n):
    r, z = sigmoid(x W_ir + h W_hr + b_r), sigmoid(x W_iz + h W_hz + b_z)
    n = tanh(x W_in + b_in + r (h W_hn + b_hn)),  h' = (1 - z) n + z h

A sigmoid is computed as `0.5 tanh(x / 2) + 0.5`, so one pass of `tanh` over all the gates,
between two multiplications by a per-column constant, activates every gate at once. The
derivative of every gate is `(1 - a) (a + s)` with `s` 0 for a sigmoid and 1 for a tanh.
"""

from __future__ import annotations

import numpy as np

from . import lstm_steps
from .recurrent import Recurrent

SMALL = 2048  # elements per step below which one np.tanh pass beats the exp-based form


def _scales(units: int, gates: int, tanh_gates: tuple[int, ...], dtype):
    """Per-column weight scales for the two ways of activating the gates.

    `exp` form: sigmoid(x) = 1 / (1 + exp(-x)) and tanh(x) = 2 / (1 + exp(-2x)) - 1, so the
    weights are scaled by -1 (sigmoid gates) and -2 (tanh gates), and one `exp` pass, `+ 1`,
    and `1 / .` activate every gate (NumPy's `exp` is about twice as fast as its `tanh`).
    `tanh` form (small batches, where the number of passes matters more): sigmoid(x) =
    0.5 tanh(x / 2) + 0.5, weights scaled by 0.5 (sigmoid gates) and 1 (tanh gates).
    """
    neg, half = np.full(gates * units, -1.0), np.full(gates * units, 0.5)
    mul, add = np.full(gates * units, 0.5), np.full(gates * units, 0.5)
    for k in tanh_gates:
        cols = slice(k * units, (k + 1) * units)
        neg[cols], half[cols], mul[cols], add[cols] = -2.0, 1.0, 1.0, 0.0
    return tuple(v.astype(dtype) for v in (neg, half, mul, add))


def tanh(x: np.ndarray, out: np.ndarray) -> None:
    """`out = tanh(x)`, through `exp` for large arrays (see `_scales`)."""
    if out.size <= SMALL:
        np.tanh(x, out=out)
        return
    np.multiply(x, -2.0, out=out)
    np.exp(out, out=out)
    out += 1.0
    np.divide(2.0, out, out=out)
    out -= 1.0


def _activate_exp(a: np.ndarray, tanh_cols: list[np.ndarray]) -> None:
    """Gates from their exp-form scaled pre-activations `a` (see `_scales`)."""
    np.exp(a, out=a)
    a += 1.0
    np.reciprocal(a, out=a)
    for g in tanh_cols:
        g *= 2.0
        g -= 1.0


def _activate_tanh(a: np.ndarray, mul: np.ndarray, add: np.ndarray) -> None:
    np.tanh(a, out=a)
    a *= mul
    a += add


class Gated(Recurrent):
    """What LSTM and GRU share: the per-column scales of their gates (cached per dtype)."""

    def scales(self, dtype) -> tuple[np.ndarray, ...]:
        cache = self.__dict__.setdefault("_scales_by_dtype", {})
        key = np.dtype(dtype)
        if key not in cache:
            cache[key] = _scales(self.units, self.gates, (2,), key)
        return cache[key]


class LSTM(Gated):
    """Long short-term memory (Hochreiter & Schmidhuber, 1997), PyTorch's formulation.

    Its time loops run feature-major (see `lstm_steps.py`); the buffers `h` and `c`
    `(T + 1, n, H)` are views of those arrays, as for the other layers.
    """

    kind = "lstm"
    gates = 4

    def __init__(self, n_in: int, units: int, activation: str = "tanh") -> None:
        super().__init__(n_in, units, activation)
        self._order = lstm_steps.gate_order(units)

    def initialize(self, rng, p):
        super().initialize(rng, p)
        H = self.units
        p[2][H : 2 * H] = 1.0  # forget-gate bias

    def buffers(self, T, n, dtype, inference=False):
        H, d, G = self.units, self.n_in, self.width
        K = H + d + 1
        Z = np.zeros((T + 1, K, n), dtype)  # step t: [h_{t-1}; x_t; 1]
        Z[:, -1] = 1
        C = np.zeros((T + 1, H, n), dtype)
        buf = {
            "Z": Z, "C": C, "A": np.zeros((T, G, n), dtype), "TC": np.zeros((T, H, n), dtype),
            "w": np.zeros((H, n), dtype), "W": np.zeros((G, K), dtype),
            "Ws": np.zeros((G, K), dtype),
            "h": Z[:, :H].transpose(0, 2, 1), "c": C.transpose(0, 2, 1),
        }  # fmt: skip
        if not inference:
            for key, shape in (("dz", (K, n)), ("dc", (H, n)), ("D", (G, n)), ("wg", (G, n)),
                               ("dW", (G, K)), ("dW_step", (G, K))):  # fmt: skip
                buf[key] = np.zeros(shape, dtype)
        return buf

    def forward(self, X, buf, steps, p, initial=None):
        H, T = self.units, X.shape[0]
        Z, W, Ws = buf["Z"], buf["W"], buf["Ws"]
        np.copyto(Z[:T, H:-1], X.transpose(0, 2, 1))
        if initial is None:
            Z[0, :H], buf["C"][0] = 0, 0
        else:
            buf["h"][0], buf["c"][0] = initial
        lstm_steps.stack_weights(p, self._order, W)
        np.multiply(W[: 3 * H], 0.5, out=Ws[: 3 * H])  # sigmoid(x) = 0.5 tanh(x / 2) + 0.5
        Ws[3 * H :] = W[3 * H :]
        lstm_steps.forward_steps(buf, Ws, steps.active)
        return buf["h"]

    def backward(self, X, buf, steps, p, g, dh_final=None, dh_steps=None, dX=None):
        H, W = self.units, buf["W"]
        dh = buf["dz"][:H]
        if dh_final is not None:
            np.copyto(dh, dh_final.T)
        else:
            dh[...] = 0
        lstm_steps.stack_weights(p, self._order, W)
        dW = lstm_steps.backward_steps(buf, W, steps, dh_steps, dX)
        lstm_steps.unstack_gradient(dW, self._order, g)


class GRU(Gated):
    """Gated recurrent unit (Cho et al., 2014), PyTorch's formulation (reset after W_hn)."""

    kind = "gru"
    gates = 3
    extra_bias = 1

    def _extra_buffers(self, T, n, dtype):
        H, G = self.units, self.width
        self._scale = self.scales(dtype)
        return {
            "hh": np.zeros((T, n, G), dtype),  # h W_hh + b_hn (scaled), then its gradient
            "w2": np.zeros((n, H), dtype),
            "s_hn": np.zeros(H, dtype),
        }

    def forward(self, X, buf, steps, p, initial=None):
        H, n = self.units, steps.n
        small = n * self.width <= SMALL
        neg, half, mul, add = self._scale
        scale = half if small else neg
        W_hh = self.project(X, buf, p, scale)
        b_hn = np.multiply(p[3], scale[2 * H :], out=buf["s_hn"])
        x, h, hh, wH = buf["x"], buf["h"], buf["hh"], buf["wH"]
        mul, add = mul[: 2 * H], add[: 2 * H]
        h[0] = 0 if initial is None else initial
        for a, m, hp, hn, k in zip(x, hh, h[:-1], h[1:], steps.active, strict=True):
            w = wH
            if k < n:
                a, m, hp, hn, w = (v[:k] for v in (a, m, hp, hn, w))
            np.matmul(hp, W_hh, out=m)
            mn = m[:, 2 * H :]
            mn += b_hn
            rz, nn = a[:, : 2 * H], a[:, 2 * H :]
            rz += m[:, : 2 * H]
            if small:
                _activate_tanh(rz, mul, add)
            else:
                _activate_exp(rz, [])
            np.multiply(a[:, :H], mn, out=w)
            nn += w
            if small:
                np.tanh(nn, out=nn)
            else:
                np.exp(nn, out=nn)
                nn += 1.0
                np.divide(2.0, nn, out=nn)
                nn -= 1.0
            np.subtract(hp, nn, out=w)
            w *= a[:, H : 2 * H]
            np.add(nn, w, out=hn)
        return h

    def _backward_loop(self, buf, steps, p, dh_steps):
        x, h, hh, dx = buf["x"], buf["h"], buf["hh"], buf["dx"]
        dh, wH, w2 = buf["dh"], buf["wH"], buf["w2"]
        W_hh_T, H = p[1].T, self.units
        small = steps.n * self.width <= SMALL
        unscale = 1.0 if small else -0.5  # m holds (h W_hn + b_hn) times the n-gate scale
        for t in range(steps.T - 1, -1, -1):
            lo, k = self.clear_outside(steps, t, dx, hh)
            if lo == k:
                continue
            a, d, m = x[t, lo:k], dx[t, lo:k], hh[t, lo:k]
            dht, w, v = dh[lo:k], wH[lo:k], w2[lo:k]
            if dh_steps is not None:
                dht += dh_steps[t, lo:k]
            r, z, n = a[:, :H], a[:, H : 2 * H], a[:, 2 * H :]
            dr, dz, dn = d[:, :H], d[:, H : 2 * H], d[:, 2 * H :]
            np.subtract(1.0, z, out=w)  # 1 - z
            np.multiply(n, n, out=dn)
            np.subtract(1.0, dn, out=dn)
            dn *= dht
            dn *= w  # dL/d(n pre-activation)
            np.subtract(h[t, lo:k], n, out=dz)
            dz *= dht
            w *= z
            dz *= w  # dL/d(z pre-activation)
            np.multiply(dn, m[:, 2 * H :], out=dr)
            np.subtract(1.0, r, out=v)
            v *= r
            if unscale != 1.0:
                v *= unscale
            dr *= v  # dL/d(r pre-activation)
            # m becomes the gradient of h W_hh + b_hn (its value is not needed any more)
            m[:, : 2 * H] = d[:, : 2 * H]
            np.multiply(dn, r, out=m[:, 2 * H :])
            if t:
                np.multiply(dht, z, out=v)
                np.matmul(m, W_hh_T, out=dht)
                dht += v

    def _dhh(self, buf):
        T, n, G = buf["hh"].shape
        return buf["hh"].reshape(T * n, G)

    def weight_gradients(self, X, buf, steps, g, dX):
        super().weight_gradients(X, buf, steps, g, dX)
        T, n, G = buf["hh"].shape
        H = self.units
        np.add.reduce(buf["hh"][:, :, 2 * H :].reshape(T * n, H), axis=0, out=g[3])
