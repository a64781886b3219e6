"""A network over sequences: recurrent layers first, then the dense layers of `network.py`.

One flat parameter vector holds everything, laid out as every recurrent weight, then the
dense network's own vector (its weights, then its biases), then every recurrent bias, so the
weights are one prefix (`params[:n_weights]`, what L2 decays) just as in a dense network.
Inputs are time-major `(T, n, d)` with each sequence's length in `lengths`, the batch sorted
longest first (`Buffers.load` does that); the last recurrent layer's state at each sequence's
last real step goes to the dense layers.

Dropout on a recurrent layer's inputs uses one mask per sequence `(n, d)`, the same at every
time step; the dense layers drop as in `network.py`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .dropout import draw_mask
from .gated import GRU, LSTM
from .network import Network, Trainable, predict_forward
from .recurrent import Elman, Recurrent, Steps
from .recurrent_predict import final_states

LAYERS: dict[str, type[Recurrent]] = {"rnn": Elman, "gru": GRU, "lstm": LSTM}
CHUNK_VALUES = 1 << 22  # values per per-step array when evaluating or predicting in chunks


def chunk_rows(T: int, layers: Sequence[Recurrent]) -> int:
    """Sequences per chunk so that no `(T, rows, width)` buffer exceeds `CHUNK_VALUES`."""
    widest = max(layer.width for layer in layers)
    return max(1, CHUNK_VALUES // (T * widest))


def make_layers(n_features: int, specs: Sequence[dict]) -> list[Recurrent]:
    """Recurrent layer objects for normalized layer specs (`type`, `units`, `activation`)."""
    layers, n_in = [], n_features
    for spec in specs:
        layers.append(LAYERS[spec["type"]](n_in, spec["units"], spec.get("activation", "tanh")))
        n_in = spec["units"]
    return layers


class Buffers:
    """Everything one batch size needs, allocated once (see `Network.buffers`)."""

    def __init__(self, net: SequenceNetwork, batch: int) -> None:
        T, dt = net.T, net.dtype
        self.batch = batch
        self.x = np.zeros((T, batch, net.n_features), dt)
        self.y = np.zeros((batch, net.sizes[-1]), dt)
        self.lengths = np.full(batch, T, np.intp)
        self.layers = [layer.buffers(T, batch, dt) for layer in net.layers]
        self.dense = net.dense.buffers(batch)
        self.a, self.z = self.dense.a, self.dense.z
        self.final = np.zeros((batch, net.layers[-1].units), dt)
        self.d_final = np.zeros_like(self.final)
        self.d_steps = [np.zeros((T, batch, layer.units), dt) for layer in net.layers[:-1]]
        self.full_steps = Steps(self.lengths, T, net.bptt)
        self.steps = self.full_steps
        self.final_state = self.final
        self.net = net
        rates = list(zip(net.layers, net.dropout, strict=True))
        self.mask = [np.empty((batch, x.n_in), dt) if p else None for x, p in rates]
        self.dropped = [np.empty((T, batch, x.n_in), dt) if p else None for x, p in rates]
        self.dropping = False

    @property
    def weight_total(self) -> float:
        """The sum of the latest row weights (see `Network.row_weights`)."""
        return self.dense.weight_total

    def set_lengths(self, lengths: np.ndarray) -> None:
        """Use these lengths (sorted longest first) for the batch in `x`."""
        T = self.net.T
        if lengths[-1] == T:
            self.steps = self.full_steps
        else:
            self.steps = Steps(np.asarray(lengths, np.intp), T, self.net.bptt)

    def load(self, X: np.ndarray, Y: np.ndarray, lengths: np.ndarray, rows) -> tuple:
        """Copy `rows` (a slice or indices) of time-major `X`, `Y` into the buffers."""
        if isinstance(rows, slice):
            np.copyto(self.x, X[:, rows])
            lb = lengths[rows]
            self.set_lengths(lb)
            return self.x, Y[rows]
        if lengths[0] != self.net.T or lengths[-1] != self.net.T:  # vary: sort longest first
            rows = rows[np.argsort(-lengths[rows], kind="stable")]
        np.take(X, rows, axis=1, out=self.x, mode="clip")
        np.take(Y, rows, axis=0, out=self.y, mode="clip")
        self.set_lengths(lengths[rows])
        return self.x, self.y


class SequenceNetwork(Trainable):
    """Recurrent layers then dense layers, over one flat parameter vector."""

    def __init__(
        self,
        n_features: int,
        T: int,
        recurrent: Sequence[dict],
        dense_sizes: Sequence[int],
        activations: Sequence[str],
        loss: str,
        dtype,
        bptt: int | None = None,
        *,
        dropout: Sequence[float] | None = None,
        dense_dropout: Sequence[float] | None = None,
        class_weight: np.ndarray | None = None,
    ) -> None:
        self.n_features, self.T, self.bptt = int(n_features), int(T), bptt
        self.dtype = np.dtype(dtype)
        self.layers = make_layers(n_features, recurrent)
        self.dropout = [float(p) for p in dropout] if dropout else [0.0] * len(self.layers)
        sizes = [self.layers[-1].units, *dense_sizes]
        n_rw = sum(layer.n_weights for layer in self.layers)
        n_rb = sum(layer.n_biases for layer in self.layers)
        pairs = list(zip(sizes[:-1], sizes[1:], strict=True))
        n_dense = sum((a + 1) * b for a, b in pairs)
        self.n_params = n_rw + n_dense + n_rb
        self.n_weights = n_rw + sum(a * b for a, b in pairs)
        self.params = np.zeros(self.n_params, self.dtype)
        self.grad = np.zeros(self.n_params, self.dtype)
        self._dense = slice(n_rw, n_rw + n_dense)
        self.dense = Network(sizes, activations, loss, self.dtype,
                             self.params[self._dense], self.grad[self._dense],
                             dense_dropout, class_weight)  # fmt: skip
        self.has_dropout = any(self.dropout) or self.dense.has_dropout
        self.p, self.g = self.views(self.params), self.views(self.grad)
        self.sizes = [self.n_features] + [layer.units for layer in self.layers] + sizes[1:]
        self.activation_names = self.dense.activation_names
        self.loss = self.dense.loss
        self._buffers: dict[int, Buffers] = {}

    def views(self, flat: np.ndarray) -> list[tuple[np.ndarray, ...]]:
        """Per recurrent layer, `(W_ih, W_hh, b[, b_hn])` views into a flat vector."""
        out, w_at, b_at = [], 0, self._dense.stop
        for layer in self.layers:
            w, b = flat[w_at : w_at + layer.n_weights], flat[b_at : b_at + layer.n_biases]
            out.append(layer.views(w, b))
            w_at += layer.n_weights
            b_at += layer.n_biases
        return out

    def dense_layers(self, flat: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, str]]:
        """The dense part of a flat vector as `(W, b, activation)` views."""
        Ws, bs = self.dense.views(flat[self._dense])
        return list(zip(Ws, bs, self.activation_names, strict=True))

    def initialize(self, rng: np.random.Generator, init: str) -> None:
        """Recurrent layers as the literature advises (see `recurrent.py`); dense by `init`."""
        for layer, p in zip(self.layers, self.p, strict=True):
            layer.initialize(rng, p)
        self.dense.initialize(rng, init)

    def buffers(self, batch: int) -> Buffers:
        """The (cached) buffers for this batch size."""
        buf = self._buffers.get(batch)
        if buf is None:
            buf = self._buffers[batch] = Buffers(self, batch)
        return buf

    def draw_masks(self, rng: np.random.Generator, buf: Buffers) -> None:
        """Fresh dropout masks for the next training step, drawn from `rng`."""
        for p, mask in zip(self.dropout, buf.mask, strict=True):
            if mask is not None:
                draw_mask(rng, mask, p)
        self.dense.draw_masks(rng, buf.dense)

    def forward(
        self, X: np.ndarray, buf: Buffers, params: np.ndarray | None = None, dropout: bool = False
    ):
        """Propagate time-major `X` `(T, n, d)` (lengths in `buf`); return `(n, n_out)`.

        With `dropout`, every layer's inputs are multiplied by the masks in `buf`."""
        own = params is None or params is self.params
        views = self.p if own else self.views(params)  # type: ignore[arg-type]
        inp, steps = X, buf.steps
        buf.dropping = dropout and self.has_dropout
        for i, (layer, lb, p) in enumerate(zip(self.layers, buf.layers, views, strict=True)):
            mask = buf.mask[i]
            if buf.dropping and mask is not None:
                inp = np.multiply(inp, mask, out=buf.dropped[i])
            inp = layer.forward(inp, lb, steps, p)[1:]
        states = buf.layers[-1]["h"]
        if steps.full:
            buf.final_state = states[self.T]
        else:
            buf.final[...] = states[steps.final_index]
            buf.final_state = buf.final
        dense = None if own else params[self._dense]  # type: ignore[index]
        return self.dense.forward(buf.final_state, buf.dense, dense, dropout)

    def backward(self, X: np.ndarray, Y: np.ndarray, buf: Buffers) -> None:
        """Backpropagation through the dense layers, then through time; into `self.grad`."""
        self.dense.backward(buf.final_state, Y, buf.dense, dX=buf.d_final)
        top = len(self.layers) - 1
        for i in range(top, -1, -1):
            mask = buf.mask[i] if buf.dropping else None
            inp = X if i == 0 else buf.layers[i - 1]["h"][1:]
            self.layers[i].backward(
                inp if mask is None else buf.dropped[i], buf.layers[i], buf.steps, self.p[i],
                self.g[i], dh_final=buf.d_final if i == top else None,
                dh_steps=None if i == top else buf.d_steps[i],
                dX=buf.d_steps[i - 1] if i else None,
            )  # fmt: skip
            if i and mask is not None:
                buf.d_steps[i - 1] *= mask

    def batch_loss(self, out: np.ndarray, Y: np.ndarray, buf: Buffers) -> float:
        """The batch's mean loss, weighted by class when the network has class weights."""
        return self.dense.batch_loss(out, Y, buf.dense)

    def objective(self, X, Y, lengths=None, l2: float = 0.0, masks: Buffers | None = None) -> float:
        """Mean loss plus (l2 / 2) * sum(W^2) on fresh buffers (for gradient checks); with
        `masks` (the buffers of a training step), on those, under that step's dropout masks."""
        buf = Buffers(self, X.shape[1]) if masks is None else masks
        if lengths is not None:
            buf.set_lengths(lengths)
        out = self.forward(X, buf, dropout=masks is not None)
        w = self.params[: self.n_weights].astype(np.float64)
        return self.batch_loss(out, Y, buf) + 0.5 * l2 * float(w @ w)


def predict_sequences(recurrent, dense_layers, X: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Prediction with fresh arrays: time-major `X` `(T, n, d)`, lengths in any order, through
    the lean inference path of `recurrent_predict.py` (no training caches)."""
    T, n, _ = X.shape
    size = chunk_rows(T, [layer for layer, _ in recurrent])
    if n > size:
        parts = [
            predict_sequences(
                recurrent, dense_layers, X[:, at : at + size], lengths[at : at + size]
            )
            for at in range(0, n, size)
        ]
        return np.concatenate(parts)
    order = None
    if n > 1 and lengths.min() < lengths.max():
        order = np.argsort(-lengths, kind="stable")
        X, lengths = X[:, order], lengths[order]
    final = final_states(recurrent, X, lengths)
    out = predict_forward(dense_layers, final)
    if order is None:
        return out
    restored = np.empty_like(out)
    restored[order] = out
    return restored
