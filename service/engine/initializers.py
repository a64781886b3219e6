"""Initial weights for a dense layer: `W` is `(fan_in, fan_out)`, biases start at zero
unless the initializer draws them too.

- `small_random`: normal with standard deviation 0.01 (small numbers close to 0; the classic
  textbook start, fine for shallow networks).
- `glorot`: uniform in ±sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010).
- `he`: normal with standard deviation sqrt(2 / fan_in) (He et al., 2015).
- `fan_in_uniform`: weights and biases uniform in ±1/sqrt(fan_in), PyTorch's start for a
  `Linear` layer (its kaiming-uniform with a = sqrt(5)); the default for every network. On
  the synthetic 784-256-256-10 workload (Adam, 3 epochs, 5 seeds) it matched PyTorch's
  accuracy at batch 32, 128 and 1024, where `glorot` trailed by up to 0.6 points at batch
  32 and `he` by more (docs/engine.md, benchmarks/accuracy.py).

Values are drawn in float64 from the run's generator and then cast, so a float32 and a float64
run start from the same numbers. Each layer's weights are drawn before its biases, layer by
layer; an initializer without biases draws nothing for them, so its stream is unchanged.
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


def fan_in_uniform(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    """Uniform weights in ±1/sqrt(fan_in), shape `(fan_in, fan_out)` (PyTorch's `Linear`)."""
    limit = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-limit, limit, size=(fan_in, fan_out))


def fan_in_uniform_bias(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    """Uniform biases in ±1/sqrt(fan_in), shape `(fan_out,)` (PyTorch's `Linear`)."""
    limit = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-limit, limit, size=fan_out)


INITS: dict[str, Init] = {
    "small_random": small_random,
    "glorot": glorot,
    "he": he,
    "fan_in_uniform": fan_in_uniform,
}
# initializers that draw biases too; the others start them at zero
BIAS_INITS: dict[str, Init] = {"fan_in_uniform": fan_in_uniform_bias}


def draw(
    rng: np.random.Generator, init: str, fan_in: int, fan_out: int
) -> tuple[np.ndarray, np.ndarray]:
    """A layer's starting `W` `(fan_in, fan_out)` and `b` `(fan_out,)`, weights drawn first."""
    W = INITS[init](rng, fan_in, fan_out)
    bias = BIAS_INITS.get(init)
    return W, np.zeros(fan_out) if bias is None else bias(rng, fan_in, fan_out)


def default_init(hidden_activations: list[str]) -> str:
    """`fan_in_uniform` for every network (see the module's note)."""
    return "fan_in_uniform"
