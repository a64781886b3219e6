"""Initial weights for a dense layer: `W` is `(fan_in, fan_out)`, biases start at zero.

- `small_random`: normal with standard deviation 0.01 (small numbers close to 0; the classic
  textbook start, fine for shallow networks).
- `glorot`: uniform in ±sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010); the default for
  every network (scikit-learn's MLP starts relu networks the same way).
- `he`: normal with standard deviation sqrt(2 / fan_in) (He et al., 2015). It was the default
  for relu networks; with Adam at batch 1024 it ended 0.65 points below PyTorch's default
  start (uniform ±1/sqrt(fan_in)), glorot 0.32 (benchmarks/accuracy.py), and equal at 128.

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


def default_init(hidden_activations: list[str]) -> str:
    """`glorot` for every network (see the module's note on `he`)."""
    return "glorot"
