"""Activation functions: values, derivatives, and the straight-through step."""

from __future__ import annotations

import numpy as np
import pytest

from service.engine import ACTIVATIONS
from service.engine.activations import apply

Z = np.array([[-2.0, -0.5, 0.0, 0.5, 2.0]])


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("step", [0, 0, 1, 1, 1]),
        ("sigmoid", 1 / (1 + np.exp(-Z[0]))),
        ("tanh", np.tanh(Z[0])),
        ("relu", [0, 0, 0, 0.5, 2]),
        ("leaky_relu", [-0.02, -0.005, 0, 0.5, 2]),
        ("elu", [np.expm1(-2), np.expm1(-0.5), 0, 0.5, 2]),
        ("linear", Z[0]),
        ("softmax", np.exp(Z[0]) / np.exp(Z[0]).sum()),
    ],
)
def test_forward_values(name, expected):
    np.testing.assert_allclose(apply(name, Z)[0], expected, rtol=1e-12, atol=1e-12)


def test_forward_in_place_matches_out_of_place():
    for name, act in ACTIVATIONS.items():
        if act.needs_z:
            continue
        z = Z.copy()
        act.forward(z, z, np.empty_like(z))
        np.testing.assert_allclose(z, apply(name, Z), err_msg=name)


@pytest.mark.parametrize("name", sorted(set(ACTIVATIONS) - {"step"}))
def test_backward_is_the_derivative(name):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(4, 5)) + 0.05  # keep clear of the kink at 0
    grad = rng.normal(size=z.shape)
    act = ACTIVATIONS[name]
    a = apply(name, z)
    out = np.empty_like(z)
    act.backward(a, z, grad, out, np.empty_like(z))
    eps = 1e-6
    numeric = np.zeros_like(z)
    for idx in np.ndindex(z.shape):
        zp, zm = z.copy(), z.copy()
        zp[idx] += eps
        zm[idx] -= eps
        numeric[idx] = ((apply(name, zp) - apply(name, zm)) * grad).sum() / (2 * eps)
    np.testing.assert_allclose(out, numeric, rtol=1e-6, atol=1e-8)


def test_step_uses_a_straight_through_gradient():
    z = np.array([[-3.0, -1.0, -0.2, 0.0, 0.7, 1.0, 1.5]])
    grad = np.ones_like(z) * 2
    out = np.empty_like(z)
    ACTIVATIONS["step"].backward(apply("step", z), z, grad, out, np.empty_like(z))
    np.testing.assert_array_equal(out[0], [0, 2, 2, 2, 2, 2, 0])


def test_softmax_is_stable_for_large_inputs():
    out = apply("softmax", np.array([[1000.0, 1000.0, -1000.0]]))
    np.testing.assert_allclose(out, [[0.5, 0.5, 0.0]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("contiguous_work", [True, False])
def test_relu_backward_is_the_masked_gradient_bit_for_bit(dtype, contiguous_work):
    rng = np.random.default_rng(1)
    z = rng.normal(size=(6, 7)).astype(dtype)
    z[0, :3] = 0.0
    a = apply("relu", z)
    grad = rng.normal(size=z.shape).astype(dtype)
    grad[1, 1] = np.nan
    expected = grad * (a > 0).astype(dtype)
    work = np.empty_like(z) if contiguous_work else np.empty((7, 6), dtype).T
    ACTIVATIONS["relu"].backward(a, z, grad, grad, work)  # in place, as backprop runs it
    assert grad.tobytes() == expected.tobytes()
