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


class LSTM(Recurrent):
    """Long short-term memory (Hochreiter & Schmidhuber, 1997), PyTorch's formulation."""

    kind = "lstm"
    gates = 4

    def initialize(self, rng, p):
        super().initialize(rng, p)
        H = self.units
        p[2][H : 2 * H] = 1.0  # forget-gate bias

    def _extra_buffers(self, T, n, dtype):
        H = self.units
        self._scale = _scales(H, 4, (2,), dtype)
        self._shift = np.where(self._scale[2] == 1.0, 1.0, 0.0).astype(dtype)
        return {
            "c": np.zeros((T + 1, n, H), dtype),
            "tc": np.zeros((T, n, H), dtype),
            "dc": np.zeros((n, H), dtype),
        }

    def forward(self, X, buf, steps, p, initial=None):
        H, n = self.units, steps.n
        small = n * self.width <= SMALL
        neg, half, mul, add = self._scale
        W_hh = self.project(X, buf, p, half if small else neg)
        x, h, c, tc, wG, wH = buf["x"], buf["h"], buf["c"], buf["tc"], buf["wG"], buf["wH"]
        if initial is None:
            h[0], c[0] = 0, 0
        else:
            h[0], c[0] = initial
        rows = zip(x, h[:-1], h[1:], c[:-1], c[1:], tc, steps.active, strict=True)
        for a, hp, hn, cp, cn, tct, k in rows:
            wg, w = wG, wH
            if k < n:
                a, hp, hn, cp, cn, tct, wg, w = (v[:k] for v in (a, hp, hn, cp, cn, tct, wg, w))
            np.matmul(hp, W_hh, out=wg)
            a += wg
            g = a[:, 2 * H : 3 * H]
            if small:
                _activate_tanh(a, mul, add)
            else:
                _activate_exp(a, [g])
            np.multiply(a[:, H : 2 * H], cp, out=cn)
            np.multiply(a[:, :H], g, out=w)
            cn += w
            tanh(cn, tct)
            np.multiply(a[:, 3 * H :], tct, out=hn)
        return h

    def _backward_loop(self, buf, steps, p, dh_steps):
        x, c, tc, dx = buf["x"], buf["c"], buf["tc"], buf["dx"]
        dh, dc, wH, wG = buf["dh"], buf["dc"], buf["wH"], buf["wG"]
        W_hh_T, H, s = p[1].T, self.units, self._shift
        dc[...] = 0
        for t in range(steps.T - 1, -1, -1):
            lo, k = self.clear_outside(steps, t, dx)
            if lo == k:
                continue
            a, d, tct, cp = x[t, lo:k], dx[t, lo:k], tc[t, lo:k], c[t, lo:k]
            dht, dct, w, wg = dh[lo:k], dc[lo:k], wH[lo:k], wG[lo:k]
            if dh_steps is not None:
                dht += dh_steps[t, lo:k]
            i, f, g, o = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
            np.multiply(dht, tct, out=d[:, 3 * H :])  # dL/do
            np.multiply(tct, tct, out=w)
            np.subtract(1.0, w, out=w)
            w *= o
            w *= dht
            dct += w  # dL/dc
            np.multiply(dct, g, out=d[:, :H])
            np.multiply(dct, cp, out=d[:, H : 2 * H])
            np.multiply(dct, i, out=d[:, 2 * H : 3 * H])
            np.subtract(1.0, a, out=wg)  # each gate's derivative: (1 - a) (a + s)
            d *= wg
            np.add(a, s, out=wg)
            d *= wg
            dct *= f
            if t:
                np.matmul(d, W_hh_T, out=dht)


class GRU(Recurrent):
    """Gated recurrent unit (Cho et al., 2014), PyTorch's formulation (reset after W_hn)."""

    kind = "gru"
    gates = 3
    extra_bias = 1

    def _extra_buffers(self, T, n, dtype):
        H, G = self.units, self.width
        self._scale = _scales(H, 3, (2,), dtype)
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
