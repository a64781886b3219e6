"""The lean prediction path gives the outputs of the training forward pass."""

from __future__ import annotations

import numpy as np
import pytest

from service.engine.recurrent_predict import runs
from service.engine.sequence_net import Buffers, SequenceNetwork, predict_sequences

T, D, H = 9, 5, 6
TOLERANCE = {np.float64: 1e-10, np.float32: 1e-6}


def network(kind: str, layers: int, dtype, activation: str = "tanh") -> SequenceNetwork:
    """A network with random weights and biases large enough that the gates saturate a bit."""
    rng = np.random.default_rng(3)
    spec = [{"type": kind, "units": H, "activation": activation}] * layers
    net = SequenceNetwork(D, T, spec, [3], ["softmax"], "cross_entropy", dtype)
    net.params[...] = rng.normal(scale=0.6, size=net.n_params)
    return net


def training_forward(net: SequenceNetwork, X: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The training path's outputs, rows in the order of `X` (it wants longest first)."""
    order = np.argsort(-lengths, kind="stable")
    buf = Buffers(net, X.shape[1])
    buf.set_lengths(lengths[order])
    out = np.empty((X.shape[1], 3), net.dtype)
    out[order] = net.forward(np.ascontiguousarray(X[:, order]), buf)
    return out


def sequences(n: int, masked: bool, dtype) -> tuple[np.ndarray, np.ndarray]:
    """Time-major `(T, n, D)` inputs, zero after each sequence's end, and the lengths."""
    rng = np.random.default_rng(n)
    X = rng.normal(size=(T, n, D)).astype(dtype)
    lengths = rng.permutation(np.arange(n) % T + 1) if masked else np.full(n, T)
    X[np.arange(T)[:, None] >= lengths] = 0
    return X, lengths


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("n, masked", [(1, False), (1, True), (12, False), (12, True)])
def test_prediction_equals_the_training_forward(kind, layers, dtype, n, masked):
    net = network(kind, layers, dtype)
    X, lengths = sequences(n, masked, dtype)
    if n == 1 and masked:
        lengths[:] = 4
    ours = predict_sequences(list(zip(net.layers, net.p, strict=True)),
                             net.dense_layers(net.params), X, lengths)  # fmt: skip
    theirs = training_forward(net, X, lengths)
    assert ours.dtype == dtype and ours.shape == (n, 3)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=TOLERANCE[dtype])
    assert np.ptp(ours) > 0.05  # the outputs differ between sequences and classes


@pytest.mark.parametrize("activation", ["relu", "softmax", "sigmoid"])
def test_elman_prediction_with_other_activations(activation):
    net = network("rnn", 2, np.float64, activation)
    X, lengths = sequences(12, True, np.float64)
    ours = predict_sequences(list(zip(net.layers, net.p, strict=True)),
                             net.dense_layers(net.params), X, lengths)  # fmt: skip
    np.testing.assert_allclose(ours, training_forward(net, X, lengths), rtol=0, atol=1e-10)


def test_padding_never_changes_a_prediction():
    net = network("lstm", 2, np.float64)
    X, lengths = sequences(12, True, np.float64)
    recurrent, dense = list(zip(net.layers, net.p, strict=True)), net.dense_layers(net.params)
    noisy = X.copy()
    noisy[np.arange(T)[:, None] >= lengths] = 1e3
    np.testing.assert_array_equal(predict_sequences(recurrent, dense, noisy, lengths),
                                  predict_sequences(recurrent, dense, X, lengths))  # fmt: skip


def test_runs_group_the_steps_by_how_many_sequences_run():
    assert runs(np.array([9, 9, 9]), 9) == [(0, 9, 3)]
    assert runs(np.array([5, 5, 3, 1]), 6) == [(0, 1, 4), (1, 3, 3), (3, 5, 2)]
