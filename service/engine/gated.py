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


def _columns(units: int, tanh_gates: tuple[int, ...], gates: int, dtype):
    """Per-column `scale`, `shift` and `s` for the fused activation and its derivative."""
    scale = np.full(gates * units, 0.5)
    shift = np.full(gates * units, 0.5)
    s = np.zeros(gates * units)
    for k in tanh_gates:
        scale[k * units : (k + 1) * units] = 1.0
        shift[k * units : (k + 1) * units] = 0.0
        s[k * units : (k + 1) * units] = 1.0
    return scale.astype(dtype), shift.astype(dtype), s.astype(dtype)


def _activate(a: np.ndarray, scale: np.ndarray, shift: np.ndarray) -> None:
    a *= scale
    np.tanh(a, out=a)
    a *= scale
    a += shift


class LSTM(Recurrent):
    """Long short-term memory (Hochreiter & Schmidhuber, 1997), PyTorch's formulation."""

    kind = "lstm"
    gates = 4

    def initialize(self, rng, p):
        super().initialize(rng, p)
        H = self.units
        p[2][H : 2 * H] = 1.0  # forget-gate bias

    def _extra_buffers(self, T, n, dtype):
        self._cols = _columns(self.units, (2,), 4, dtype)
        H = self.units
        return {
            "c": np.zeros((T + 1, n, H), dtype),
            "tc": np.zeros((T, n, H), dtype),
            "dc": np.zeros((n, H), dtype),
        }

    def forward(self, X, buf, steps, p, initial=None):
        self.project(X, buf, p)
        x, h, c, tc, wG, wH = buf["x"], buf["h"], buf["c"], buf["tc"], buf["wG"], buf["wH"]
        W_hh, H = p[1], self.units
        scale, shift, _ = self._cols
        if initial is None:
            h[0], c[0] = 0, 0
        else:
            h[0], c[0] = initial
        for t, k in enumerate(steps.active):
            a = x[t, :k]
            np.matmul(h[t, :k], W_hh, out=wG[:k])
            a += wG[:k]
            _activate(a, scale, shift)
            ct, tct, w = c[t + 1, :k], tc[t, :k], wH[:k]
            np.multiply(a[:, H : 2 * H], c[t, :k], out=ct)
            np.multiply(a[:, :H], a[:, 2 * H : 3 * H], out=w)
            ct += w
            np.tanh(ct, out=tct)
            np.multiply(a[:, 3 * H :], tct, out=h[t + 1, :k])
        return h

    def _backward_loop(self, buf, steps, p, dh_steps):
        x, c, tc, dx = buf["x"], buf["c"], buf["tc"], buf["dx"]
        dh, dc, wH, wG = buf["dh"], buf["dc"], buf["wH"], buf["wG"]
        W_hh_T, H = p[1].T, self.units
        s = self._cols[2]
        dc[...] = 0
        for t in range(steps.T - 1, -1, -1):
            lo, k = self.clear_outside(steps, t, dx)
            if lo == k:
                continue
            a, d, dht, dct, w, tct = (
                x[t, lo:k],
                dx[t, lo:k],
                dh[lo:k],
                dc[lo:k],
                wH[lo:k],
                tc[t, lo:k],
            )
            if dh_steps is not None:
                dht += dh_steps[t, lo:k]
            o = a[:, 3 * H :]
            np.multiply(dht, tct, out=d[:, 3 * H :])
            np.multiply(tct, tct, out=w)
            np.subtract(1, w, out=w)
            w *= o
            w *= dht
            dct += w
            np.multiply(dct, a[:, 2 * H : 3 * H], out=d[:, :H])
            np.multiply(dct, c[t, lo:k], out=d[:, H : 2 * H])
            np.multiply(dct, a[:, :H], out=d[:, 2 * H : 3 * H])
            wg = wG[lo:k]
            np.subtract(1, a, out=wg)
            d *= wg
            np.add(a, s, out=wg)
            d *= wg
            dct *= a[:, H : 2 * H]
            if t:
                np.matmul(d, W_hh_T, out=dht)


class GRU(Recurrent):
    """Gated recurrent unit (Cho et al., 2014), PyTorch's formulation (reset after W_hn)."""

    kind = "gru"
    gates = 3
    extra_bias = 1

    def _extra_buffers(self, T, n, dtype):
        self._cols = _columns(self.units, (), 2, dtype)
        H, G = self.units, self.width
        return {
            "hh": np.zeros((T, n, G), dtype),  # h W_hh (+ b_hn), then its gradient
            "w2": np.zeros((n, H), dtype),
        }

    def forward(self, X, buf, steps, p, initial=None):
        self.project(X, buf, p)
        x, h, hh, wH = buf["x"], buf["h"], buf["hh"], buf["wH"]
        W_hh, b_hn, H = p[1], p[3], self.units
        scale, shift, _ = self._cols
        h[0] = 0 if initial is None else initial
        for t, k in enumerate(steps.active):
            a, m, hp, w = x[t, :k], hh[t, :k], h[t, :k], wH[:k]
            np.matmul(hp, W_hh, out=m)
            hn = m[:, 2 * H :]
            hn += b_hn
            rz, n = a[:, : 2 * H], a[:, 2 * H :]
            rz += m[:, : 2 * H]
            _activate(rz, scale, shift)
            np.multiply(a[:, :H], hn, out=w)
            n += w
            np.tanh(n, out=n)
            np.subtract(hp, n, out=w)
            w *= a[:, H : 2 * H]
            np.add(n, w, out=h[t + 1, :k])
        return h

    def _backward_loop(self, buf, steps, p, dh_steps):
        x, h, hh, dx = buf["x"], buf["h"], buf["hh"], buf["dx"]
        dh, wH, w2 = buf["dh"], buf["wH"], buf["w2"]
        W_hh_T, H = p[1].T, self.units
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
            np.subtract(1, z, out=w)  # 1 - z
            np.multiply(n, n, out=dn)
            np.subtract(1, dn, out=dn)
            dn *= dht
            dn *= w  # dL/d(n pre-activation)
            np.subtract(h[t, lo:k], n, out=dz)
            dz *= dht
            w *= z
            dz *= w  # dL/d(z pre-activation)
            np.multiply(dn, m[:, 2 * H :], out=dr)
            np.subtract(1, r, out=v)
            v *= r
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
        np.add.reduce(buf["hh"][:, :, 2 * self.units :].reshape(T * n, self.units), axis=0,
                      out=g[3])  # fmt: skip
