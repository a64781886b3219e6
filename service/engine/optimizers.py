"""Gradient-descent optimizers, in order of increasing complexity.

Every optimizer works on one flat parameter vector `params` (all weights then all biases of
the network, shape `(n_params,)`) and updates it in place from the flat gradient `grad` of
the same shape. `step(grad, recompute)` may overwrite `grad`; `recompute()` returns the
gradient at the current `params` on the same batch (only `isgd` calls it). State arrays are
allocated once, so a step allocates nothing.

- `sgd`:      p -= lr g
- `momentum`: v = mu v - lr g;  p += v
- `nesterov`: v = mu v - lr g;  p += mu v - lr g  (Sutskever's form of the look-ahead step)
- `adagrad`:  G += g^2;  p -= lr g / (sqrt(G) + eps)
- `rmsprop`:  E = rho E + (1 - rho) g^2;  p -= lr g / (sqrt(E) + eps)
- `adam`:     m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
              p -= lr m_hat / (sqrt(v_hat) + eps), with the usual bias corrections
- `asgd`:     averaged SGD: plain SGD steps, plus the running mean of the iterates from step
              `t0` on; predictions, validation and the final model use that average
- `isgd`:     implicit SGD: p' = p - lr grad L(p'), solved by fixed-point iteration on the
              same batch: p_0 = p, p_{k+1} = p - lr grad L(p_k), `iterations` times (1 is
              plain SGD). Each extra iteration costs one forward and backward pass.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

Recompute = Callable[[], np.ndarray]


class Hyper(NamedTuple):
    """A hyperparameter: default, type, and the allowed interval (open or closed ends)."""

    default: float | int
    kind: type = float
    low: float = 0.0
    high: float = float("inf")
    low_open: bool = True
    high_open: bool = True

    def describe(self) -> str:
        """Return the allowed interval as text, e.g. "in (0, 1)"."""
        if self.kind is int:
            return f"an integer from {int(self.low)} to {int(self.high)}"
        left = "(" if self.low_open else "["
        right = ")" if self.high_open else "]"
        high = "inf" if self.high == float("inf") else f"{self.high:g}"
        return f"a number in {left}{self.low:g}, {high}{right}"


LR = Hyper(0.01)
LR_SMALL = Hyper(0.001)
UNIT = Hyper(0.9, float, 0.0, 1.0, False, True)
EPS = Hyper(1e-8)


class Optimizer:
    """Base class: plain SGD. Subclasses add state arrays named in `state_names`.

    A subclass's `kernel(p, g, w, *states, *scalars)` does the in-place arithmetic of one
    step on the flat vectors (`w` is scratch); `scalars()` gives that step's coefficients.
    """

    name = "sgd"
    hyper: dict[str, Hyper] = {"learning_rate": LR}
    state_names: tuple[str, ...] = ()

    def __init__(self, params: np.ndarray, settings: dict[str, Any]) -> None:
        self.params = params
        self.settings = {key: settings.get(key, h.default) for key, h in self.hyper.items()}
        self.lr = float(self.settings["learning_rate"])
        self.t = 0
        self.work = np.empty_like(params)
        for state in self.state_names:
            setattr(self, state, np.zeros_like(params))

    @property
    def averaged(self) -> np.ndarray | None:
        """The parameters predictions should use when they differ from `params` (ASGD)."""
        return None

    def step(self, grad: np.ndarray, recompute: Recompute | None = None) -> None:
        """Update `params` in place from `grad` (shape `(n_params,)`); may overwrite `grad`."""
        self.t += 1
        arrays = [self.params, grad, self.work] + [getattr(self, n) for n in self.state_names]
        elementwise(self.kernel, arrays, self.scalars())

    def scalars(self) -> tuple[float, ...]:
        """The step's scalar coefficients (Python floats, so float32 stays float32)."""
        return (self.lr,)

    @staticmethod
    def kernel(p, g, w, lr):
        g *= lr
        p -= g

    def state(self) -> dict[str, np.ndarray]:
        """Arrays that, with `t`, restore this optimizer exactly."""
        return {name: getattr(self, name) for name in self.state_names}

    def load_state(self, t: int, arrays: dict[str, np.ndarray]) -> None:
        """Restore the step count and state arrays saved by `state`."""
        self.t = t
        for name in self.state_names:
            np.copyto(getattr(self, name), arrays[name])


def elementwise(kernel: Callable[..., None], arrays: list[np.ndarray], scalars: tuple) -> None:
    """Run `kernel(*arrays, *scalars)`: one place that decides how the vector passes run.

    (Splitting the passes over two threads was measured: on two cores it gains nothing, the
    passes being bound by memory bandwidth, so they run in the calling thread.)
    """
    kernel(*arrays, *scalars)


class SGD(Optimizer):
    """Stochastic, mini-batch or batch gradient descent, depending on the batch size."""


class Momentum(Optimizer):
    name = "momentum"
    hyper = {"learning_rate": LR, "momentum": UNIT}
    state_names = ("velocity",)

    def scalars(self):
        return (self.lr, float(self.settings["momentum"]))

    @staticmethod
    def kernel(p, g, w, v, lr, mu):
        v *= mu
        g *= lr
        v -= g
        p += v


class Nesterov(Optimizer):
    name = "nesterov"
    hyper = {"learning_rate": LR, "momentum": UNIT}
    state_names = ("velocity",)

    def scalars(self):
        return (self.lr, float(self.settings["momentum"]))

    @staticmethod
    def kernel(p, g, w, v, lr, mu):
        g *= lr
        v *= mu
        v -= g
        np.multiply(v, mu, out=w)
        w -= g
        p += w


class Adagrad(Optimizer):
    name = "adagrad"
    hyper = {"learning_rate": LR, "epsilon": EPS}
    state_names = ("accumulator",)

    def scalars(self):
        return (self.lr, float(self.settings["epsilon"]))

    @staticmethod
    def kernel(p, g, w, acc, lr, eps):
        np.multiply(g, g, out=w)
        acc += w
        np.sqrt(acc, out=w)
        w += eps
        np.divide(g, w, out=w)
        w *= lr
        p -= w


class RMSprop(Optimizer):
    name = "rmsprop"
    hyper = {"learning_rate": LR_SMALL, "rho": UNIT, "epsilon": EPS}
    state_names = ("square_avg",)

    def scalars(self):
        return (self.lr, float(self.settings["rho"]), float(self.settings["epsilon"]))

    @staticmethod
    def kernel(p, g, w, sq, lr, rho, eps):
        sq *= rho
        np.multiply(g, g, out=w)
        w *= 1.0 - rho
        sq += w
        np.sqrt(sq, out=w)
        w += eps
        np.divide(g, w, out=w)
        w *= lr
        p -= w


class Adam(Optimizer):
    """Adam, with the moments stored rescaled so that a step is ten in-place vector passes.

    `m_scaled = m / (1 - beta1)` and `v_scaled = v / (1 - beta2)` obey `m_scaled = beta1 *
    m_scaled + g` and `v_scaled = beta2 * v_scaled + g^2`; the constants are folded into the
    step size and epsilon, which gives exactly the textbook update.
    """

    name = "adam"
    hyper = {
        "learning_rate": LR_SMALL,
        "beta1": UNIT,
        "beta2": Hyper(0.999, float, 0.0, 1.0, False, True),
        "epsilon": EPS,
    }
    state_names = ("m_scaled", "v_scaled")
    m_scaled: np.ndarray
    v_scaled: np.ndarray

    @property
    def m(self) -> np.ndarray:
        """The first-moment estimate of the textbook formulation."""
        return self.m_scaled * (1.0 - self.settings["beta1"])

    @property
    def v(self) -> np.ndarray:
        """The second-moment estimate of the textbook formulation."""
        return self.v_scaled * (1.0 - self.settings["beta2"])

    def scalars(self):
        b1, b2 = float(self.settings["beta1"]), float(self.settings["beta2"])
        c1, c2 = 1.0 - b1**self.t, 1.0 - b2**self.t
        # sqrt(v_hat) + eps = k * (sqrt(v_scaled) + eps / k), with k = sqrt((1 - b2) / c2).
        k = float(np.sqrt((1.0 - b2) / c2))
        return (b1, b2, float(self.settings["epsilon"]) / k, self.lr * (1.0 - b1) / c1 / k)

    @staticmethod
    def kernel(p, g, w, m, v, b1, b2, eps, rate):
        m *= b1
        m += g
        np.multiply(g, g, out=g)
        v *= b2
        v += g
        np.sqrt(v, out=g)
        g += eps
        np.divide(m, g, out=g)
        g *= rate
        p -= g


class ASGD(Optimizer):
    name = "asgd"
    hyper = {"learning_rate": LR, "t0": Hyper(0, int, 0, 10**9, False, False)}
    state_names = ("average",)
    average: np.ndarray

    def __init__(self, params, settings):
        super().__init__(params, settings)
        np.copyto(self.average, params)

    @property
    def averaged(self):
        return self.average

    def scalars(self):
        # Running mean of the iterates p_t0, ..., p_t: weight 1 / (count + 1), or a copy.
        count = self.t - int(self.settings["t0"])
        return (self.lr, 1.0 / (count + 1) if count > 0 else 1.0)

    @staticmethod
    def kernel(p, g, w, avg, lr, weight):
        g *= lr
        p -= g
        np.subtract(p, avg, out=w)
        w *= weight
        avg += w


class ISGD(Optimizer):
    name = "isgd"
    hyper = {"learning_rate": LR, "iterations": Hyper(3, int, 1, 50, False, False)}

    def __init__(self, params, settings):
        super().__init__(params, settings)
        self.start = np.empty_like(params)

    def step(self, grad, recompute=None):
        self.t += 1
        np.copyto(self.start, self.params)
        for k in range(int(self.settings["iterations"])):
            if k:
                np.copyto(grad, recompute())
            # p_{k+1} = p_start - lr * grad(p_k)
            np.multiply(grad, self.lr, out=self.work)
            np.subtract(self.start, self.work, out=self.params)


OPTIMIZERS: dict[str, type[Optimizer]] = {
    cls.name: cls for cls in (SGD, Momentum, Nesterov, Adagrad, RMSprop, Adam, ASGD, ISGD)
}
