"""The one-sequence prediction path gives the states of the batch forward pass."""

from __future__ import annotations

import numpy as np
import pytest

from service.engine.recurrent import Steps
from service.engine.recurrent_predict import ONE
from service.engine.sequence_net import LAYERS


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("kind", sorted(ONE))
def test_one_sequence_path_equals_the_batch_forward(kind, dtype, tol):
    rng = np.random.default_rng(3)
    T, d, H = 9, 5, 6
    layer = LAYERS[kind](d, H)
    weights = np.zeros(layer.n_weights, dtype)
    biases = rng.normal(size=layer.n_biases).astype(dtype)
    p = layer.views(weights, biases)
    layer.initialize(rng, p)
    biases[...] = rng.normal(size=layer.n_biases)
    X = rng.normal(size=(T, d)).astype(dtype)
    steps = Steps(np.array([T]), T, None)
    batch = layer.forward(X[:, None], layer.buffers(T, 1, dtype, inference=True), steps, p)
    one = ONE[kind](layer, X, p)
    assert one.shape == (T, H) and one.dtype == dtype
    np.testing.assert_allclose(one, batch[1:, 0], rtol=tol, atol=tol)
    assert np.ptp(one) > 0.1  # the states move, so equality says something
