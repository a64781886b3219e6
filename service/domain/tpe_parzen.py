"""Parzen estimators over one search dimension, from the values a group of trials took: the
densities l(x) and g(x) of the tree-structured Parzen estimator (see `tpe`)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import Any, Protocol

import numpy as np

from service.domain.search_dimensions import Dimension, canonical, plain, snap_int

PRIOR_WEIGHT = 1.0
MAX_KERNELS_PER_RANGE = 100  # no kernel narrower than range / min(this, 1 + observations)
_NORMAL = NormalDist()
_LOG_ROOT_TWO_PI = 0.5 * math.log(2 * math.pi)


class Estimator(Protocol):
    def sample(self, rng: np.random.Generator, n: int) -> list[Any]:
        """`n` values of the dimension drawn from this density."""
        ...

    def log_density(self, values: Sequence[Any]) -> np.ndarray:
        """The log density (log probability for discrete values) of each of `values`."""
        ...


def estimator_for(dim: Dimension, observed: Sequence[Any]) -> Estimator:
    """The Parzen estimator of `dim` from the values `observed` in a group of trials."""
    if dim.kind == "choice":
        return Categorical(dim, observed)
    return TruncatedMixture(dim, observed)


class Categorical:
    """Frequencies of each choice in the group, plus a uniform prior of weight PRIOR_WEIGHT."""

    def __init__(self, dim: Dimension, observed: Sequence[Any]) -> None:
        assert dim.values is not None
        self.values = dim.values
        self.index = {_key(value): i for i, value in enumerate(dim.values)}
        weights = np.full(len(dim.values), PRIOR_WEIGHT / len(dim.values))
        for value in observed:
            i = self.index.get(_key(value))
            if i is not None:
                weights[i] += 1.0
        self.probabilities = weights / weights.sum()

    def sample(self, rng: np.random.Generator, n: int) -> list[Any]:
        picks = rng.choice(len(self.values), size=n, p=self.probabilities)
        return [plain(self.values[int(i)]) for i in picks]

    def log_density(self, values: Sequence[Any]) -> np.ndarray:
        out = [
            self.probabilities[self.index[_key(v)]] if _key(v) in self.index else 0.0
            for v in values
        ]
        return np.log(np.maximum(np.array(out), 1e-300))


class TruncatedMixture:
    """Gaussians truncated to the range, one at each observation and a broad one at the
    middle; in log space for log scales. Each kernel's width is the larger gap to its
    neighbours (the range's ends count as neighbours), at least range / (1 + observations)
    (and never under 1% of the range) and at most the range: with few observations the
    kernels stay broad, so a lucky trial does not collapse the search onto itself.
    An `int` range is treated as the continuous span of its values' bins and scored by the
    mass of a value's bin."""

    def __init__(self, dim: Dimension, observed: Sequence[Any]) -> None:
        self.dim = dim
        self.lo, self.hi = _span(dim)
        points = [self._inner(float(x)) for x in observed if _is_number(x)]
        points = [min(max(x, self.lo), self.hi) for x in points]
        width = self.hi - self.lo
        mus = np.array([*points, 0.5 * (self.lo + self.hi)])
        order = np.argsort(mus, kind="stable")
        ordered = mus[order]
        left = np.diff(np.concatenate([[self.lo], ordered]))
        right = np.diff(np.concatenate([ordered, [self.hi]]))
        sigmas_ordered = np.maximum(left, right)
        sigmas = np.empty_like(mus)
        sigmas[order] = sigmas_ordered
        sigmas[-1] = width  # the prior stays broad
        floor = width / min(MAX_KERNELS_PER_RANGE, 1 + len(points))
        self.mus = mus
        self.sigmas = np.clip(sigmas, floor, width)
        weights = np.ones(len(mus))
        weights[-1] = PRIOR_WEIGHT
        self.weights = weights / weights.sum()
        a = (self.lo - self.mus) / self.sigmas
        b = (self.hi - self.mus) / self.sigmas
        self.cdf_lo = _cdf(a)
        self.mass = np.maximum(_cdf(b) - self.cdf_lo, 1e-300)

    def sample(self, rng: np.random.Generator, n: int) -> list[Any]:
        components = rng.choice(len(self.mus), size=n, p=self.weights)
        u = rng.uniform(size=n)
        out = []
        for k, share in zip(components, u, strict=True):
            p = self.cdf_lo[k] + share * self.mass[k]
            z = _NORMAL.inv_cdf(min(max(p, 1e-12), 1 - 1e-12))
            out.append(self._outer(min(max(self.mus[k] + self.sigmas[k] * z, self.lo), self.hi)))
        return out

    def log_density(self, values: Sequence[Any]) -> np.ndarray:
        if self.dim.kind == "int":
            return np.array([self._log_bin_mass(int(v)) for v in values])
        x = np.array([self._inner(float(v)) for v in values])[:, None]
        z = (x - self.mus) / self.sigmas
        terms = (
            np.log(self.weights / self.mass) - np.log(self.sigmas) - _LOG_ROOT_TWO_PI - 0.5 * z**2
        )
        return _logsumexp(terms)

    def _log_bin_mass(self, value: int) -> float:
        half = 0.5 * float(self.dim.step or 1)
        a = self._inner_clipped(value - half)
        b = self._inner_clipped(value + half)
        mass = (_cdf((b - self.mus) / self.sigmas) - _cdf((a - self.mus) / self.sigmas)) / self.mass
        return float(np.log(max(float(self.weights @ mass), 1e-300)))

    def _inner(self, x: float) -> float:
        return (
            math.log(x)
            if _log_scale(self.dim) and x > 0
            else (self.lo if _log_scale(self.dim) else x)
        )

    def _inner_clipped(self, x: float) -> float:
        if _log_scale(self.dim) and x <= 0:
            return self.lo
        return min(max(self._inner(x), self.lo), self.hi)

    def _outer(self, x: float) -> Any:
        value = math.exp(x) if _log_scale(self.dim) else x
        if self.dim.kind == "int":
            return snap_int(self.dim, value)
        assert self.dim.low is not None and self.dim.high is not None
        return float(min(max(value, self.dim.low), self.dim.high))


def _span(dim: Dimension) -> tuple[float, float]:
    """The range in the estimator's own space: log for log scales, widened by half a step at
    each end for an int range so every value has a bin of the same width."""
    assert dim.low is not None and dim.high is not None
    low, high = float(dim.low), float(dim.high)
    if dim.kind == "int":
        half = 0.5 * float(dim.step or 1)
        low, high = max(low - half, low / 2) if dim.log else low - half, high + half
    if _log_scale(dim):
        return math.log(low), math.log(high)
    return low, high


def _log_scale(dim: Dimension) -> bool:
    return dim.kind == "log_uniform" or (dim.kind == "int" and dim.log)


def _cdf(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.asarray(_erf(z / math.sqrt(2.0)), dtype=float))


_erf = np.frompyfunc(math.erf, 1, 1)


def _logsumexp(terms: np.ndarray) -> np.ndarray:
    top = terms.max(axis=1, keepdims=True)
    return (top + np.log(np.exp(terms - top).sum(axis=1, keepdims=True)))[:, 0]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _key(value: Any) -> str:
    return json.dumps(canonical(value), sort_keys=True)
