"""Dense layers, forward propagation and backpropagation over a batch.

A layer computes `z = a_prev @ W + b` then `a = f(z)`, with `a_prev` `(batch, fan_in)`, `W`
`(fan_in, fan_out)`, `b` `(fan_out,)`. All parameters live in one flat vector (every `W`,
then every `b`), and `W`/`b` are reshaped views into it; the gradient has the same layout.
That lets an optimizer update the whole network with a handful of vector operations, and
lets L2 decay touch only the weights (`params[:n_weights]`).

Per-batch-size `Buffers` hold every activation, pre-activation and delta, allocated once
and reused, so a training step allocates (almost) nothing.

Dropout (`dropout.py`): `dropout[i]` is the rate of layer `i`'s inputs. A training step draws
fresh masks into the buffers (`draw_masks`), the forward pass multiplies the inputs by them
and backpropagation multiplies the deltas by the same masks. Class weights (`class_weight`,
one per class) make the batch loss the weighted mean `sum_i w_i l_i / sum_i w_i`, each row
weighing its class's weight: the output delta of row `i` is scaled by `w_i * B / sum_i w_i`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .activations import ACTIVATIONS
from .dropout import draw_mask
from .initializers import draw
from .losses import LOSSES, weighted_value


class Buffers:
    """Preallocated arrays for one batch size: `a`, `z`, `delta`, `work` per layer."""

    def __init__(self, net: Network, batch: int) -> None:
        dt = net.dtype
        last = len(net.acts) - 1
        self.batch = batch
        self.a = [np.empty((batch, n), dt) for n in net.sizes[1:]]
        self.z = [
            np.empty((batch, n), dt) if act.needs_z or i == last else self.a[i]
            for i, (act, n) in enumerate(zip(net.acts, net.sizes[1:], strict=True))
        ]
        self.delta = [np.empty((batch, n), dt) for n in net.sizes[1:]]
        self.work = [np.empty((batch, n), dt) for n in net.sizes[1:]]
        self.ones = np.ones(batch, dt)
        self.x = np.empty((batch, net.sizes[0]), dt)
        self.y = np.empty((batch, net.sizes[-1]), dt)
        rates = list(zip(net.sizes[:-1], net.dropout, strict=True))
        self.mask = [np.empty((batch, n), dt) if p else None for n, p in rates]
        self.dropped = [np.empty((batch, n), dt) if p else None for n, p in rates]
        self.dropping = False  # whether the latest forward pass applied the masks
        self.w = np.empty(batch, dt) if net.class_weight is not None else None
        self.weight_total = float(batch)  # the sum of the latest row weights


class Trainable:
    """What a training step asks of a network (dense `Network`, `SequenceNetwork`): a flat
    `params`/`grad` pair whose first `n_weights` entries are the weights L2 decays."""

    params: np.ndarray
    grad: np.ndarray
    n_weights: int
    dtype: np.dtype
    has_dropout: bool

    def draw_masks(self, rng: np.random.Generator, buf: Any) -> None:
        raise NotImplementedError

    def forward(
        self, X: np.ndarray, buf: Any, params: np.ndarray | None = None, dropout: bool = False
    ) -> np.ndarray:
        raise NotImplementedError

    def batch_loss(self, out: np.ndarray, Y: np.ndarray, buf: Any) -> float:
        raise NotImplementedError

    def backward(self, X: np.ndarray, Y: np.ndarray, buf: Any) -> None:
        raise NotImplementedError

    def loss_and_grad(
        self,
        X: np.ndarray,
        Y: np.ndarray,
        buf: Any,
        l2: float = 0.0,
        rng: np.random.Generator | None = None,
    ) -> float:
        """Mean loss of the batch (without the L2 term); gradient (with it) into `self.grad`.

        With `rng` (training), fresh dropout masks are drawn from it and applied."""
        if rng is not None and self.has_dropout:
            self.draw_masks(rng, buf)
        out = self.forward(X, buf, dropout=rng is not None)
        loss = self.batch_loss(out, Y, buf)
        self.backward(X, Y, buf)
        if l2:
            self.add_l2(l2)
        return loss

    def add_l2(self, l2: float) -> None:
        """Add the gradient of (l2 / 2) * sum(W^2) over every weight (no bias)."""
        work = getattr(self, "_l2", None)
        if work is None:
            work = self._l2 = np.empty(self.n_weights, self.dtype)
        np.multiply(self.params[: self.n_weights], l2, out=work)
        self.grad[: self.n_weights] += work


class Network(Trainable):
    """A feedforward network of dense layers over a flat parameter vector."""

    def __init__(
        self,
        sizes: Sequence[int],
        activations: Sequence[str],
        loss: str,
        dtype,
        params: np.ndarray | None = None,
        grad: np.ndarray | None = None,
        dropout: Sequence[float] | None = None,
        class_weight: np.ndarray | None = None,
    ):
        self.sizes = [int(n) for n in sizes]
        self.activation_names = list(activations)
        self.acts = [ACTIVATIONS[name] for name in activations]
        self.loss = LOSSES[loss]
        self.fused = self.loss.fused_with == self.activation_names[-1]
        self.dtype = np.dtype(dtype)
        self.dropout = [float(p) for p in dropout] if dropout else [0.0] * len(self.acts)
        self.has_dropout = any(self.dropout)
        self.class_weight = None if class_weight is None else np.asarray(class_weight, self.dtype)
        pairs = list(zip(self.sizes[:-1], self.sizes[1:], strict=True))
        self.n_weights = sum(a * b for a, b in pairs)
        self.n_params = self.n_weights + sum(b for _, b in pairs)
        # A larger network (recurrent layers first) may hand in views of its own vectors.
        self.params = np.zeros(self.n_params, self.dtype) if params is None else params
        self.grad = np.zeros(self.n_params, self.dtype) if grad is None else grad
        self.W, self.b = self.views(self.params)
        self.gW, self.gb = self.views(self.grad)
        self._buffers: dict[int, Buffers] = {}

    def views(self, flat: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Split a flat `(n_params,)` vector into per-layer `W` and `b` views."""
        Ws, bs, w_at, b_at = [], [], 0, self.n_weights
        for fan_in, fan_out in zip(self.sizes[:-1], self.sizes[1:], strict=True):
            Ws.append(flat[w_at : w_at + fan_in * fan_out].reshape(fan_in, fan_out))
            bs.append(flat[b_at : b_at + fan_out])
            w_at += fan_in * fan_out
            b_at += fan_out
        return Ws, bs

    def initialize(self, rng: np.random.Generator, init: str) -> None:
        """Draw every layer's `W` and `b` with the named initializer, layer by layer."""
        for W, b in zip(self.W, self.b, strict=True):
            W[...], b[...] = draw(rng, init, *W.shape)

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

    def forward(
        self, X: np.ndarray, buf: Buffers, params: np.ndarray | None = None, dropout: bool = False
    ) -> np.ndarray:
        """Propagate `X` `(batch, n_inputs)`; return the output activations `(batch, n_out)`.

        With `dropout`, each layer's inputs are multiplied by the masks in `buf`."""
        Ws, bs = (self.W, self.b) if params is None else self.views(params)
        buf.dropping = dropout and self.has_dropout
        inp = X
        for i, act in enumerate(self.acts):
            mask = buf.mask[i]
            if buf.dropping and mask is not None:
                inp = np.multiply(inp, mask, out=buf.dropped[i])
            z, a = buf.z[i], buf.a[i]
            np.matmul(inp, Ws[i], out=z)
            z += bs[i]
            act.forward(z, a, buf.work[i])
            inp = a
        return inp

    def backward(
        self, X: np.ndarray, Y: np.ndarray, buf: Buffers, dX: np.ndarray | None = None
    ) -> None:
        """Backpropagate after `forward(X)`; write dLoss/dparams into `self.grad`.

        With `dX`, also write dLoss/dX there (what a recurrent layer before needs).
        """
        last = len(self.acts) - 1
        a, z, delta = buf.a, buf.z, buf.delta
        d = delta[last]
        if self.fused:
            np.subtract(a[last], Y, out=d)
            d *= 1.0 / X.shape[0]
        else:
            assert self.loss.gradient is not None
            self.loss.gradient(a[last], z[last], Y, d)
            self.acts[last].backward(a[last], z[last], d, d, buf.work[last])
        weights = self.row_weights(Y, buf)
        if weights is not None:
            d *= weights[:, None]
        for i in range(last, -1, -1):
            mask = buf.mask[i] if buf.dropping else None
            dropped = buf.dropped[i]
            inp = X if i == 0 else a[i - 1]
            np.matmul(inp.T if mask is None or dropped is None else dropped.T, d, out=self.gW[i])
            np.matmul(buf.ones, d, out=self.gb[i])
            if i:
                prev = delta[i - 1]
                np.matmul(d, self.W[i].T, out=prev)
                if mask is not None:
                    prev *= mask
                self.acts[i - 1].backward(a[i - 1], z[i - 1], prev, prev, buf.work[i - 1])
                d = prev
            elif dX is not None:
                np.matmul(d, self.W[0].T, out=dX)
                if mask is not None:
                    dX *= mask

    def row_weights(self, Y: np.ndarray, buf: Buffers) -> np.ndarray | None:
        """Each row's class weight scaled to mean 1 (None without class weights); the sum of
        the unscaled weights goes to `buf.weight_total`."""
        cw = self.class_weight
        if cw is None:
            buf.weight_total = float(Y.shape[0])
            return None
        w = buf.w
        assert w is not None
        if Y.shape[1] == 1:  # one 0/1 column: class 1 where it is 1
            np.multiply(Y[:, 0], cw[1] - cw[0], out=w)
            w += cw[0]
        else:
            np.matmul(Y, cw, out=w)
        buf.weight_total = float(np.add.reduce(w, dtype=np.float64))
        w *= Y.shape[0] / buf.weight_total
        return w

    def batch_loss(self, out: np.ndarray, Y: np.ndarray, buf: Buffers) -> float:
        """The batch's mean loss, weighted by class when the network has class weights."""
        weights = self.row_weights(Y, buf)
        if weights is None:
            return self.loss.value(out, buf.z[-1], Y)
        return weighted_value(self.loss, out, buf.z[-1], Y, weights)

    def objective(
        self, X: np.ndarray, Y: np.ndarray, l2: float = 0.0, masks: Buffers | None = None
    ) -> float:
        """Mean loss plus (l2 / 2) * sum(W^2): the function the gradient differentiates.

        With `masks` (the buffers of a training step), under that step's dropout masks."""
        buf = Buffers(self, X.shape[0]) if masks is None else masks
        out = self.forward(X, buf, dropout=masks is not None)
        w = self.params[: self.n_weights].astype(np.float64)
        return self.batch_loss(out, Y, buf) + 0.5 * l2 * float(w @ w)


def predict_forward(layers: Sequence[tuple[np.ndarray, np.ndarray, str]], X: np.ndarray):
    """Forward pass with fresh small arrays, for prediction: `(n, n_inputs)` → `(n, n_out)`."""
    out = X
    for W, b, name in layers:
        z = out @ W
        z += b
        ACTIVATIONS[name].forward(z, z, np.empty_like(z))
        out = z
    return out
