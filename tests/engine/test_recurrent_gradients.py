"""Finite-difference checks of backpropagation through time (float64, relative error < 1e-6).

Truncated BPTT is not the gradient of the loss, so it is checked against the gradient of the
function it does differentiate: the same network run over each sequence's last `bptt_steps`
real steps, starting from the states the full forward pass reaches there, held constant.
"""

from __future__ import annotations

import numpy as np
import pytest

from service.engine.sequence_net import Buffers, SequenceNetwork

T, N, D = 6, 5, 3


VARIED = np.array([6, 6, 4, 2, 1])
FULL = np.full(N, T)


def make_net(layers, loss="mse", output="linear", bptt=None, seed=0):
    n_out = 3 if output == "softmax" else 2
    net = SequenceNetwork(D, T, layers, [3, n_out], ["tanh", output], loss, np.float64, bptt)
    rng = np.random.default_rng(seed)
    net.initialize(rng, "glorot")
    net.params += rng.normal(scale=0.3, size=net.n_params)  # break symmetric starts
    return net


def targets(loss: str, n: int, rng) -> np.ndarray:
    if loss == "cross_entropy":
        return np.eye(3)[rng.integers(0, 3, n)]
    if loss == "binary_cross_entropy":
        return rng.integers(0, 2, (n, 2)).astype(float)
    return rng.normal(size=(n, 2))


def analytic(net, X, Y, lengths, l2=0.0) -> np.ndarray:
    buf = net.buffers(X.shape[1])
    buf.set_lengths(lengths)
    net.loss_and_grad(X, Y, buf, l2)
    return net.grad.copy()


def numeric(net, f) -> np.ndarray:
    out, eps = np.empty(net.n_params), 1e-6
    for k in range(net.n_params):
        keep = net.params[k]
        net.params[k] = keep + eps
        up = f()
        net.params[k] = keep - eps
        down = f()
        net.params[k] = keep
        out[k] = (up - down) / (2 * eps)
    return out


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-12))


def truncated_objective(net, X, Y, lengths, k: int):
    """The loss of the last `k` real steps of each sequence from constant entry states."""
    full = Buffers(net, X.shape[1])
    full.set_lengths(lengths)
    net.forward(X, full)
    start = np.maximum(lengths - k, 0)
    rows = np.arange(X.shape[1])
    short = np.minimum(lengths, k)
    Xk = np.zeros_like(X)
    for i in rows:
        Xk[: short[i], i] = X[start[i] : lengths[i], i]
    entry = []
    for layer, fb in zip(net.layers, full.layers, strict=True):
        h0 = fb["h"][start, rows]  # fancy indexing copies: constants from here on
        entry.append((h0, fb["c"][start, rows]) if layer.kind == "lstm" else h0)
    return lambda: _run_from(net, Xk, Y, short, entry)


def _run_from(net, Xk, Y, short, entry) -> float:
    buf = Buffers(net, Xk.shape[1])
    buf.set_lengths(short)
    inp, rows = Xk, np.arange(Xk.shape[1])
    for layer, lb, initial, p in zip(net.layers, buf.layers, entry, net.p, strict=True):
        inp = layer.forward(inp, lb, buf.steps, p, initial)[1:]
    states = buf.layers[-1]["h"]
    final = states[short, rows]
    out = net.dense.forward(final, buf.dense)
    return net.loss.value(out, buf.z[-1], Y)


LAYERS = {
    "rnn": [{"type": "rnn", "units": 4, "activation": "tanh"}],
    "gru": [{"type": "gru", "units": 4}],
    "lstm": [{"type": "lstm", "units": 4}],
    "lstm+gru": [{"type": "lstm", "units": 4}, {"type": "gru", "units": 3}],
    "rnn-relu+lstm": [
        {"type": "rnn", "units": 3, "activation": "relu"},
        {"type": "lstm", "units": 4},
    ],
}
LOSSES = [
    ("mse", "linear"),
    ("mae", "tanh"),
    ("huber", "linear"),
    ("cross_entropy", "softmax"),
    ("binary_cross_entropy", "sigmoid"),
]


@pytest.mark.parametrize("name", list(LAYERS))
@pytest.mark.parametrize("lengths", [FULL, VARIED], ids=["full", "masked"])
def test_bptt_matches_finite_differences(name, lengths):
    rng = np.random.default_rng(1)
    net = make_net(LAYERS[name])
    X, Y = rng.normal(size=(T, N, D)), targets("mse", N, rng)
    grad = analytic(net, X, Y, lengths, l2=0.01)
    assert relative_error(grad, numeric(net, lambda: net.objective(X, Y, lengths, 0.01))) < 1e-6


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize(("loss", "output"), LOSSES)
def test_each_loss_after_recurrent_and_dense_layers(kind, loss, output):
    rng = np.random.default_rng(2)
    net = make_net(LAYERS[kind], loss, output, seed=3)
    X, Y = rng.normal(size=(T, N, D)), targets(loss, N, rng)
    grad = analytic(net, X, Y, VARIED)
    assert relative_error(grad, numeric(net, lambda: net.objective(X, Y, VARIED))) < 1e-6


@pytest.mark.parametrize("name", ["rnn", "gru", "lstm", "lstm+gru"])
@pytest.mark.parametrize("lengths", [FULL, VARIED], ids=["full", "masked"])
@pytest.mark.parametrize("k", [1, 3])
def test_truncated_bptt_matches_finite_differences_of_the_truncated_loss(name, lengths, k):
    rng = np.random.default_rng(4)
    net = make_net(LAYERS[name], bptt=k)
    X, Y = rng.normal(size=(T, N, D)), targets("mse", N, rng)
    grad = analytic(net, X, Y, lengths)
    expected = numeric(net, truncated_objective(net, X, Y, lengths, k))
    assert relative_error(grad, expected) < 1e-6
    full = make_net(LAYERS[name])
    assert relative_error(grad, analytic(full, X, Y, lengths)) > 1e-4  # truncation did act


@pytest.mark.parametrize("name", ["rnn", "gru", "lstm", "lstm+gru"])
def test_padding_changes_no_output_and_no_gradient(name):
    rng = np.random.default_rng(5)
    net = make_net(LAYERS[name], bptt=3)
    X, Y = rng.normal(size=(T, N, D)), targets("mse", N, rng)
    grad = analytic(net, X, Y, VARIED)
    buf = net.buffers(N)
    out = net.forward(X, buf).copy()
    noisy = X.copy()
    for i, n in enumerate(VARIED):
        noisy[n:, i] = rng.normal(scale=1e6, size=(T - n, D))
    assert np.array_equal(analytic(net, noisy, Y, VARIED), grad)
    assert np.array_equal(net.forward(noisy, buf), out)
    for i, n in enumerate(VARIED):  # each sequence alone, unpadded, gives the same output
        alone = SequenceNetwork(
            D, int(n), LAYERS[name], [3, 2], ["tanh", "linear"], "mse", np.float64
        )
        alone.params[...] = net.params
        single = alone.forward(X[:n, i : i + 1], alone.buffers(1))
        np.testing.assert_allclose(single[0], out[i], rtol=1e-12, atol=1e-12)
