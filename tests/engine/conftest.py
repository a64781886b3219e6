"""Shared fixtures for the engine tests: small seeded data sets."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def blobs(rng):
    """A small 3-class problem with 4 numeric features: (X (150, 4), y (150,) str labels)."""
    centers = np.array([[0, 0, 0, 0], [3, 3, 0, 0], [0, 3, 3, 0]], float)
    labels = rng.integers(0, 3, 150)
    X = centers[labels] + rng.normal(size=(150, 4))
    return X, np.array(["a", "b", "c"])[labels]


@pytest.fixture
def linear_data(rng):
    """A small regression problem: (X (200, 3), y (200,))."""
    X = rng.normal(size=(200, 3))
    y = X @ np.array([1.5, -2.0, 0.5]) + 0.1 * rng.normal(size=200)
    return X, y
