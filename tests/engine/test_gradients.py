"""Finite-difference checks of backpropagation, in float64 (relative error < 1e-6)."""

from __future__ import annotations

import numpy as np
import pytest

from service.engine.network import Network

HIDDEN = ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "linear"]
OUTPUT_LOSS = [
    (output, loss)
    for loss in ("mse", "mae", "huber")
    for output in ("linear", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "softmax")
] + [("softmax", "cross_entropy"), ("sigmoid", "binary_cross_entropy")]


def gradient_error(sizes, activations, loss, l2=0.0, seed=0) -> float:
    """Relative error between backpropagation and central differences of the objective."""
    rng = np.random.default_rng(seed)
    net = Network(sizes, activations, loss, np.float64)
    net.initialize(rng, "glorot")
    net.params[net.n_weights :] = rng.normal(scale=0.1, size=net.n_params - net.n_weights)
    X = rng.normal(size=(7, sizes[0]))
    if loss == "cross_entropy":
        Y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], 7)]
    elif loss == "binary_cross_entropy":
        Y = rng.integers(0, 2, (7, sizes[-1])).astype(float)
    else:
        Y = rng.normal(size=(7, sizes[-1]))
    net.loss_and_grad(X, Y, net.buffers(7), l2)
    analytic = net.grad.copy()
    numeric = np.empty_like(analytic)
    eps = 1e-6
    for k in range(net.n_params):
        keep = net.params[k]
        net.params[k] = keep + eps
        up = net.objective(X, Y, l2)
        net.params[k] = keep - eps
        down = net.objective(X, Y, l2)
        net.params[k] = keep
        numeric[k] = (up - down) / (2 * eps)
    scale = np.linalg.norm(analytic) + np.linalg.norm(numeric)
    return float(np.linalg.norm(analytic - numeric) / max(scale, 1e-12))


@pytest.mark.parametrize(("output", "loss"), OUTPUT_LOSS)
def test_output_activation_and_loss(output, loss):
    assert gradient_error([3, 4, 3], ["tanh", output], loss) < 1e-6


@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_hidden_activation(hidden, loss):
    output = "softmax" if loss == "cross_entropy" else "linear"
    assert gradient_error([4, 5, 3], [hidden, output], loss, seed=1) < 1e-6


def test_single_sigmoid_unit_with_binary_cross_entropy():
    assert gradient_error([3, 4, 1], ["relu", "sigmoid"], "binary_cross_entropy") < 1e-6


def test_three_layer_network_with_l2():
    error = gradient_error(
        [5, 6, 4, 3, 3], ["tanh", "elu", "sigmoid", "softmax"], "cross_entropy", l2=0.3, seed=2
    )
    assert error < 1e-6


def test_l2_gradient_touches_weights_only():
    net = Network([2, 2], ["linear"], "mse", np.float64)
    net.params[:] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    X, Y = np.zeros((1, 2)), np.array([[5.0, 6.0]])  # output equals the bias: zero data gradient
    net.loss_and_grad(X, Y, net.buffers(1), l2=0.5)
    np.testing.assert_allclose(net.grad, [0.5, 1.0, 1.5, 2.0, 0.0, 0.0])
