"""The forward pass of a few rows of numeric features, as an online predict sends them.

For a handful of rows, every NumPy call costs far more than its arithmetic (a 64-64-10
network does about 5,000 multiply-adds per row, and each call about a microsecond), so the
calls are what this cuts. The numeric scaling `x * scale + offset` is folded into the first
layer once (computed in float64, exact enough for any offset) and the weights are made
contiguous once. Each thread keeps one set of buffers for a single row, so predicting one
allocates only its answer: per layer one product written into its buffer (`out=`), the bias
added and the activation applied in place, and a softmax output in three NumPy calls. The
first layer runs in float64, the hidden layers in the weights' dtype, the outputs in float64.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from .activations import ACTIVATIONS, Forward

Layer = tuple[np.ndarray, np.ndarray, str]
# per layer: the product (its dtype), the activation's input in the dtype it is computed in
# (the product itself when that dtype matches), the activation and its scratch array
Buffers = list[tuple[np.ndarray, np.ndarray, Forward, np.ndarray]]


class FewRows:
    """The folded weights of a dense network and each thread's buffers; `forward(raw)`."""

    def __init__(
        self, layers: Sequence[Layer], scale: np.ndarray, offset: np.ndarray, dtype: np.dtype
    ) -> None:
        W, b, _ = layers[0]
        W64 = W.astype(np.float64)
        first = (np.ascontiguousarray(scale[:, None] * W64), b + offset @ W64)
        rest = [(np.ascontiguousarray(W), np.ascontiguousarray(b)) for W, b, _ in layers[1:]]
        self.weights: list[tuple[np.ndarray, np.ndarray]] = [first, *rest]
        self.names = [name for _, _, name in layers]
        last = len(layers) - 1
        # the dtype each layer's activation runs in: the outputs in float64, as returned
        self.dtypes = [np.dtype(np.float64 if i == last else dtype) for i in range(len(layers))]
        self._local = threading.local()

    def forward(self, raw: np.ndarray) -> np.ndarray:
        """Outputs `(n, n_out)` float64 (a new array) of finite raw rows `(n, n_inputs)`."""
        x = raw
        for (W, b), (z, a, forward, work) in zip(self.weights, self._buffers(raw.shape[0])):  # noqa: B905
            np.dot(x, W, out=z)
            z += b
            if a is not z:
                np.copyto(a, z, casting="same_kind")
            forward(a, a, work)
            x = a
        return x.copy()

    def _buffers(self, n: int) -> Buffers:
        """This thread's buffers for one row (threads predict side by side); new ones for
        more rows, whose arithmetic outweighs allocating (and a cache per row count per
        thread would grow with both)."""
        if n != 1:
            return self._new_buffers(n)
        buffers: Buffers | None = getattr(self._local, "one", None)
        if buffers is None:
            buffers = self._local.one = self._new_buffers(1)
        return buffers

    def _new_buffers(self, n: int) -> Buffers:
        buffers: Buffers = []
        for (W, b), dtype, name in zip(self.weights, self.dtypes, self.names):  # noqa: B905
            z = np.empty((n, W.shape[1]), np.result_type(W.dtype, b.dtype))
            a = z if z.dtype == dtype else np.empty(z.shape, dtype)
            if name == "softmax" and n == 1:
                buffers.append((z, a, _softmax_row, np.ones_like(a)))
            else:
                buffers.append((z, a, ACTIVATIONS[name].forward, np.empty_like(a)))
        return buffers


def _softmax_row(z: np.ndarray, out: np.ndarray, ones: np.ndarray) -> None:
    """Softmax of one row `(1, k)` in three NumPy calls and two cheap ones, where the
    general one's whole-array reductions cost a microsecond each: the maximum through
    `argmax` (NaN first, as `maximum` propagates it), the sum as a dot product with `ones`."""
    np.subtract(z, z.item(int(z.argmax())), out=out)
    np.exp(out, out=out)
    np.divide(out, np.dot(out[0], ones[0]), out=out)
