"""The gated recurrent layers, LSTM and GRU, with PyTorch's equations and gate order.

LSTM (gates i, f, g, o):
    i, f, o = sigmoid(.), g = tanh(.)  of  x W_ih + h W_hh + b
    c' = f c + i g,  h' = o tanh(c')
GRU (gates r, z, n):
    r, z = sigmoid(x W_ir + h W_hr + b_r), sigmoid(x W_iz + h W_hz + b_z)
    n = tanh(x W_in + b_in + r (h W_hn + b_hn)),  h' = (1 - z) n + z h

Both run their time loops feature-major (`time_loop.py`, with the cells `lstm_steps.py` and
`gru_steps.py`); the buffers `h` (and the LSTM's `c`) `(T + 1, n, H)` are views of those
arrays, shaped as the other layers' are. The GRU takes a sigmoid as `0.5 tanh(x / 2) + 0.5`:
one `tanh` pass, with the sigmoid gates' weights halved, then one multiply-add activates them;
the LSTM trains with that form or an `exp` one, by the CPU (see `lstm_steps.py`). Prediction
takes the tanh form for both, through its own lean loops (`recurrent_predict.py`).
"""

from __future__ import annotations

import numpy as np

from . import gru_steps, lstm_steps, time_loop
from .recurrent import Recurrent


class Gated(Recurrent):
    """What LSTM and GRU share: the feature-major time loops, given a cell module, how it
    stacks its weights and how many of its gate blocks are sigmoids."""

    cell = lstm_steps
    sigmoid_rows = 3  # blocks of H rows at the top of the stacked W that are sigmoid gates

    def buffers(self, T, n, dtype):
        return time_loop.buffers(T, n, self.units, self.n_in, dtype)

    def stack(self, p: tuple[np.ndarray, ...], W: np.ndarray) -> None:
        raise NotImplementedError

    def unstack(self, dW: np.ndarray, g: tuple[np.ndarray, ...]) -> None:
        raise NotImplementedError

    def scale_rows(self, W: np.ndarray, Ws: np.ndarray) -> None:
        """The weights the forward pass multiplies by: the sigmoid rows' halved (tanh form)."""
        s = self.sigmoid_rows * self.units
        np.multiply(W[:s], 0.5, out=Ws[:s])
        Ws[s:] = W[s:]

    def forward(self, X, buf, steps, p, initial=None):
        W, Ws = buf["W"], buf["Ws"]
        self.stack(p, W)
        self.scale_rows(W, Ws)
        time_loop.forward(buf, Ws, steps.active, self.cell)
        return buf["h"]

    def backward(self, X, buf, steps, p, g, dh_final=None, dh_steps=None, dX=None):
        dh = buf["dz"][: self.units]
        if dh_final is not None:
            np.copyto(dh, dh_final.T)
        else:
            dh[...] = 0
        W = buf["W"]
        self.stack(p, W)
        self.unstack(time_loop.backward(buf, W, steps, dh_steps, dX, self.cell), g)


class LSTM(Gated):
    """Long short-term memory (Hochreiter & Schmidhuber, 1997), PyTorch's formulation."""

    kind = "lstm"
    gates = 4

    def __init__(self, n_in: int, units: int, activation: str = "tanh") -> None:
        super().__init__(n_in, units, activation)
        self._order = lstm_steps.gate_order(units)

    def initialize(self, rng, p):
        super().initialize(rng, p)
        H = self.units
        p[2][H : 2 * H] = 1.0  # forget-gate bias

    def buffers(self, T, n, dtype):
        buf = super().buffers(T, n, dtype)
        H = self.units
        C = buf["C"] = np.zeros((T + 1, H, n), dtype)
        buf["c"] = C.transpose(0, 2, 1)
        buf["TC"] = np.zeros((T, H, n), dtype)
        buf["dc"] = np.zeros((H, n), dtype)
        return buf

    def stack(self, p, W):
        lstm_steps.stack_weights(p, self._order, W)

    def unstack(self, dW, g):
        lstm_steps.unstack_gradient(dW, self._order, g)

    def scale_rows(self, W, Ws):
        lstm_steps.scale_rows(W, Ws, self.units)

    def forward(self, X, buf, steps, p, initial=None):
        h0, c0 = (None, 0) if initial is None else initial
        time_loop.load(X, buf, h0)
        buf["C"][0] = 0
        if initial is not None:
            buf["c"][0] = c0
        return super().forward(X, buf, steps, p)

    def backward(self, X, buf, steps, p, g, dh_final=None, dh_steps=None, dX=None):
        buf["dc"][...] = 0
        super().backward(X, buf, steps, p, g, dh_final, dh_steps, dX)


class GRU(Gated):
    """Gated recurrent unit (Cho et al., 2014), PyTorch's formulation (reset after W_hn)."""

    kind = "gru"
    gates = 3
    extra_bias = 1
    cell = gru_steps
    sigmoid_rows = 2

    def stack(self, p, W):
        gru_steps.stack_weights(p, W)

    def unstack(self, dW, g):
        gru_steps.unstack_gradient(dW, g)

    def forward(self, X, buf, steps, p, initial=None):
        time_loop.load(X, buf, initial)
        return super().forward(X, buf, steps, p)
