"""Optimizers: one step against hand-computed values, and loss reduction on a small problem."""

from __future__ import annotations

import numpy as np
import pytest

from service.engine import OPTIMIZERS, fit

P0 = [1.0, -2.0]
G = [0.5, 0.1]


def step(name: str, settings: dict, steps: int = 1, grad=G, recompute=None) -> np.ndarray:
    params = np.array(P0)
    opt = OPTIMIZERS[name](params, settings)
    for _ in range(steps):
        opt.step(np.array(grad), recompute)
    return opt


def test_sgd():
    # p - lr g = [1 - 0.05, -2 - 0.01]
    np.testing.assert_allclose(step("sgd", {"learning_rate": 0.1}).params, [0.95, -2.01])


def test_momentum_two_steps():
    # v1 = -0.1 g = [-0.05, -0.01]; p1 = [0.95, -2.01]
    # v2 = 0.9 v1 - 0.1 g = [-0.095, -0.019]; p2 = [0.855, -2.029]
    opt = step("momentum", {"learning_rate": 0.1, "momentum": 0.9}, steps=2)
    np.testing.assert_allclose(opt.params, [0.855, -2.029])
    np.testing.assert_allclose(opt.velocity, [-0.095, -0.019])


def test_nesterov():
    # v1 = [-0.05, -0.01]; p1 = p + 0.9 v1 - 0.1 g = [1 - 0.045 - 0.05, -2 - 0.009 - 0.01]
    opt = step("nesterov", {"learning_rate": 0.1, "momentum": 0.9})
    np.testing.assert_allclose(opt.params, [0.905, -2.019])


def test_adagrad_two_steps():
    # G1 = g^2; p1 = p - 0.1 sign(g) = [0.9, -2.1]
    # G2 = 2 g^2; p2 = p1 - 0.1 g / (sqrt(2) |g|) = p1 - 0.0707107 sign(g)
    opt = step("adagrad", {"learning_rate": 0.1, "epsilon": 1e-12}, steps=2)
    np.testing.assert_allclose(opt.params, [0.9 - 0.1 / np.sqrt(2), -2.1 - 0.1 / np.sqrt(2)])


def test_rmsprop():
    # E = 0.1 g^2; p1 = p - 0.01 g / (sqrt(0.1) |g|) = p - 0.0316228 sign(g)
    opt = step("rmsprop", {"learning_rate": 0.01, "rho": 0.9, "epsilon": 1e-12})
    np.testing.assert_allclose(opt.params, [1 - 0.0316227766, -2 - 0.0316227766])
    np.testing.assert_allclose(opt.square_avg, [0.025, 0.001])


def test_adam_two_steps():
    # Step 1: m_hat = g, v_hat = g^2, so p1 = p - 0.1 sign(g) = [0.9, -2.1].
    # Step 2 with the same g: m_hat = g, v_hat = g^2 again, so p2 = [0.8, -2.2].
    opt = step("adam", {"learning_rate": 0.1, "epsilon": 1e-12}, steps=2)
    np.testing.assert_allclose(opt.params, [0.8, -2.2])
    np.testing.assert_allclose(opt.m, [0.1 * 0.5 * 0.9 + 0.1 * 0.5, 0.1 * 0.1 * 0.9 + 0.1 * 0.1])


def test_adam_with_changing_gradient():
    # Step 2 with g2 = [-0.5, 0.3]: m = 0.9 * 0.1 g1 + 0.1 g2 = [-0.005, 0.039];
    # v = 0.999 * 0.001 g1^2 + 0.001 g2^2.
    params = np.array(P0)
    opt = OPTIMIZERS["adam"](params, {"learning_rate": 0.1, "epsilon": 0.0})
    opt.step(np.array(G))
    opt.step(np.array([-0.5, 0.3]))
    m = np.array([-0.005, 0.039])
    v = 0.999 * 0.001 * np.array(G) ** 2 + 0.001 * np.array([0.25, 0.09])
    m_hat, v_hat = m / (1 - 0.9**2), v / (1 - 0.999**2)
    expected = np.array([0.9, -2.1]) - 0.1 * m_hat / np.sqrt(v_hat)
    np.testing.assert_allclose(opt.params, expected)


def test_asgd_averages_the_iterates():
    # p1 = [0.95, -2.01], p2 = [0.9, -2.02]; the average of p0, p1, p2 = [0.95, -2.01].
    opt = step("asgd", {"learning_rate": 0.1, "t0": 0}, steps=2)
    np.testing.assert_allclose(opt.params, [0.9, -2.02])
    np.testing.assert_allclose(opt.averaged, [0.95, -2.01])


def test_asgd_starts_averaging_at_t0():
    opt = step("asgd", {"learning_rate": 0.1, "t0": 2}, steps=3)
    # Before t0 the average tracks p; after: mean of p2 = [0.9, -2.02] and p3 = [0.85, -2.03].
    np.testing.assert_allclose(opt.averaged, [0.875, -2.025])


def test_isgd_fixed_point_iterations_on_a_quadratic():
    # L = (a / 2) p^2 with a = 2: grad = 2p. lr 0.1: theta_1 = 1 - 0.2 * 1 = 0.8,
    # theta_2 = 1 - 0.2 * 0.8 = 0.84, theta_3 = 1 - 0.2 * 0.84 = 0.832 (exact: 1 / 1.2).
    params = np.array([1.0])
    opt = OPTIMIZERS["isgd"](params, {"learning_rate": 0.1, "iterations": 3})
    opt.step(2 * params.copy(), lambda: 2 * params)
    np.testing.assert_allclose(params, [0.832])
    many = OPTIMIZERS["isgd"](p := np.array([1.0]), {"learning_rate": 0.1, "iterations": 30})
    many.step(2 * p.copy(), lambda: 2 * p)
    np.testing.assert_allclose(p, [1 / 1.2])


def test_isgd_is_stable_where_sgd_diverges():
    # With lr * a = 3 explicit SGD multiplies p by -2 each step; the implicit step by 1/4.
    params = np.array([1.0])
    opt = OPTIMIZERS["isgd"](params, {"learning_rate": 1.5, "iterations": 50})
    # The fixed point iteration itself needs lr * a < 1 to converge, so use a = 0.5 here.
    opt.step(0.5 * params.copy(), lambda: 0.5 * params)
    np.testing.assert_allclose(params, [1 / 1.75], rtol=1e-6)


def test_state_round_trip():
    opt = step("adam", {"learning_rate": 0.1}, steps=3)
    fresh = OPTIMIZERS["adam"](np.array(P0), {"learning_rate": 0.1})
    fresh.load_state(opt.t, opt.state())
    assert fresh.t == 3
    np.testing.assert_array_equal(fresh.m, opt.m)
    np.testing.assert_array_equal(fresh.v, opt.v)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_each_optimizer_reduces_the_loss(name, blobs):
    X, y = blobs
    rate = {"adam": 0.01, "rmsprop": 0.01, "adagrad": 0.1}.get(name, 0.05)
    _, history = fit(
        X,
        y,
        {"layers": [{"units": 8, "activation": "tanh"}]},
        {"epochs": 15, "batch_size": 16, "optimizer": {"name": name, "learning_rate": rate}},
    )
    assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"]
    assert history[-1]["val_accuracy"] > 0.8
