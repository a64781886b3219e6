"""Initial weights, and a dense network trained in lockstep with PyTorch from the same start.

The lockstep test is what says a difference in accuracy between the two comes from the start
alone: with the same weights and batches, the loss (mean over the batch), its gradients and
Adam (epsilon, bias correction) give the same parameters after every step.
"""

from __future__ import annotations

import numpy as np
import pytest

from service.engine.initializers import INITS, draw
from service.engine.network import Network
from service.engine.optimizers import OPTIMIZERS


def test_fan_in_uniform_draws_weights_and_biases_within_one_over_sqrt_fan_in():
    net = Network([400, 50, 3], ["relu", "softmax"], "cross_entropy", np.float64)
    net.initialize(np.random.default_rng(0), "fan_in_uniform")
    for W, b, fan_in in zip(net.W, net.b, (400, 50), strict=True):
        limit = 1 / np.sqrt(fan_in)
        for values in (W, b):
            assert np.abs(values).max() <= limit and values.all()
        assert np.abs(W).max() > 0.99 * limit  # it fills the range
        assert abs(W.std() - limit / np.sqrt(3)) < 0.05 * limit


@pytest.mark.parametrize("init", ["small_random", "glorot", "he"])
def test_other_initializers_start_biases_at_zero_and_draw_as_before(init):
    """Weights in layer order from one generator, nothing drawn for biases: the same start
    for a seed as before biases could be drawn."""
    net = Network([5, 4, 3], ["tanh", "softmax"], "cross_entropy", np.float64)
    net.initialize(np.random.default_rng(3), init)
    rng = np.random.default_rng(3)
    expected = [INITS[init](rng, 5, 4), INITS[init](rng, 4, 3)]
    for W, b, want in zip(net.W, net.b, expected, strict=True):
        np.testing.assert_array_equal(W, want)
        assert not b.any()


def test_draw_gives_float64_for_any_network_dtype():
    W, b = draw(np.random.default_rng(0), "fan_in_uniform", 3, 2)
    assert W.shape == (3, 2) and b.shape == (2,) and W.dtype == b.dtype == np.float64


def test_adam_steps_match_pytorch_from_the_same_start():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(96, 12)), rng.integers(0, 4, 96)
    torch.manual_seed(0)
    ref = torch.nn.Sequential(
        torch.nn.Linear(12, 16, dtype=torch.float64),
        torch.nn.ReLU(),
        torch.nn.Linear(16, 4, dtype=torch.float64),
    )
    linears = [ref[0], ref[2]]
    net = Network([12, 16, 4], ["relu", "softmax"], "cross_entropy", np.float64)
    for W, b, layer in zip(net.W, net.b, linears, strict=True):
        W[...] = layer.weight.detach().numpy().T
        b[...] = layer.bias.detach().numpy()
    settings = {"learning_rate": 0.01, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}
    ours = OPTIMIZERS["adam"](net.params, settings)
    theirs = torch.optim.Adam(ref.parameters(), lr=0.01, betas=(0.9, 0.999), eps=1e-8)
    Y = np.eye(4)[y]
    for start in range(0, 96, 16):  # six steps of 16 rows
        rows = slice(start, start + 16)
        ours_loss = net.loss_and_grad(X[rows], Y[rows], net.buffers(16))
        ours.step(net.grad)
        theirs.zero_grad()
        loss = torch.nn.functional.cross_entropy(
            ref(torch.from_numpy(X[rows])), torch.from_numpy(y[rows])
        )
        loss.backward()
        theirs.step()
        assert ours_loss == pytest.approx(loss.item(), rel=1e-12)
    for W, b, layer in zip(net.W, net.b, linears, strict=True):
        np.testing.assert_allclose(W, layer.weight.detach().numpy().T, rtol=0, atol=1e-12)
        np.testing.assert_allclose(b, layer.bias.detach().numpy(), rtol=0, atol=1e-12)
