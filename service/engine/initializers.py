"""Initial weights for a dense layer: `W` is `(fan_in, fan_out)`, biases start at zero.

- `small_random`: normal with standard deviation 0.01 (small numbers close to 0; the classic
  textbook start, fine for shallow networks).
- `glorot`: uniform in ±sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010); the default for
  sigmoid, tanh, linear and step networks.
- `he`: normal with standard deviation sqrt(2 / fan_in) (He et al., 2015); the default for
  relu, leaky_relu and elu networks.

Values are drawn in float64 from the run's generator and then cast, so a float32 and a float64
run start from the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Init = Callable[[np.random.Generator, int, int], np.ndarray]


def small_random(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    """Normal(0, 0.01) weights, shape `(fan_in, fan_out)`."""
    return rng.normal(0.0, 0.01, size=(fan_in, fan_out))


def glorot(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    """Glorot-uniform weights, shape `(fan_in, fan_out)`."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out))


def he(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    """He-normal weights, shape `(fan_in, fan_out)`."""
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_in, fan_out))


INITS: dict[str, Init] = {"small_random": small_random, "glorot": glorot, "he": he}

RELU_FAMILY = frozenset({"relu", "leaky_relu", "elu"})


def default_init(hidden_activations: list[str]) -> str:
    """`he` when every hidden layer is in the relu family, otherwise `glorot`."""
    if hidden_activations and all(name in RELU_FAMILY for name in hidden_activations):
        return "he"
    return "glorot"
