"""The tree-structured Parzen estimator (Bergstra et al. 2011) that picks a search's next
trial from the ones before it.

The finished trials are split by objective into the best `gamma` share ("good") and the rest
("bad", which also holds failed trials: a region where trials fail is one to leave). Each
dimension gets two Parzen estimators, l(x) from the good trials and g(x) from the bad ones:
for a range, a mixture of Gaussians truncated to the range (in log space for log scales), one
at each observation plus a broad prior; for a choice, category frequencies smoothed by a
prior. Candidates are drawn from l and the one with the largest l(x) / g(x) wins. Until
`n_startup` trials have finished, configurations are drawn at random.

Everything random comes from the generator passed in, so a seeded search suggests the same
sequence of configurations from the same history.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np

from service.domain.search_space import Dimension, config_key, sample_random
from service.domain.tpe_parzen import Estimator, estimator_for

N_CANDIDATES = 24
RANDOM_ATTEMPTS = 100
GOALS = ("minimize", "maximize")
History = Sequence[tuple[Mapping[str, Any], float | None]]


def suggest_tpe(
    dims: Sequence[Dimension],
    history: History,
    goal: str,
    rng: np.random.Generator,
    *,
    n_startup: int = 5,
    n_candidates: int = N_CANDIDATES,
    taken: Collection[str] = (),
) -> dict[str, Any]:
    """The next configuration to try given `history` ((params, objective or None) of earlier
    trials, None for a failed trial or one without a value); never one whose `config_key`
    is in `taken` while the space has room for another."""
    if goal not in GOALS:
        raise ValueError(f"goal must be one of {', '.join(GOALS)}, not {goal!r}.")
    usable = [(p, v) for p, v in history if all(dim.path in p for dim in dims)]
    finished = [(p, float(v)) for p, v in usable if v is not None and math.isfinite(v)]
    if len(finished) < max(n_startup, 2):
        return random_untaken(dims, rng, taken)
    good, bad = split_good_bad(usable, goal)
    estimators = [
        (
            estimator_for(dim, [p[dim.path] for p in good]),
            estimator_for(dim, [p[dim.path] for p in bad]),
        )
        for dim in dims
    ]
    candidates = _candidates(dims, estimators, rng, n_candidates)
    scores = _scores(estimators, candidates)
    for index in np.argsort(-scores, kind="stable"):
        params = {dim.path: candidates[d][index] for d, dim in enumerate(dims)}
        if config_key(params) not in taken:
            return params
    return random_untaken(dims, rng, taken)


def gamma(n_finished: int) -> int:
    """How many of `n_finished` trials count as good: a quarter, at least one, at most 25."""
    return min(max(1, math.ceil(0.25 * n_finished)), 25)


def split_good_bad(
    history: History, goal: str
) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """The params of the best `gamma` finished trials, and of all the others (failed last)."""
    sign = 1.0 if goal == "minimize" else -1.0
    finished = [
        (sign * float(v), i)
        for i, (_, v) in enumerate(history)
        if v is not None and math.isfinite(v)
    ]
    finished.sort()
    n_good = gamma(len(finished))
    good_ids = {i for _, i in finished[:n_good]}
    good = [history[i][0] for i in sorted(good_ids)]
    bad = [params for i, (params, _) in enumerate(history) if i not in good_ids]
    return good, bad


def random_untaken(
    dims: Sequence[Dimension], rng: np.random.Generator, taken: Collection[str]
) -> dict[str, Any]:
    """A random configuration not in `taken` (the last draw when every attempt was taken:
    the caller's unique key then tells it the space is exhausted)."""
    params = sample_random(dims, rng)
    for _ in range(RANDOM_ATTEMPTS):
        if config_key(params) not in taken:
            return params
        params = sample_random(dims, rng)
    return params


def _candidates(
    dims: Sequence[Dimension],
    estimators: list[tuple[Estimator, Estimator]],
    rng: np.random.Generator,
    n: int,
) -> list[list[Any]]:
    """`n` values per dimension, drawn from its good estimator l(x)."""
    return [good.sample(rng, n) for good, _ in estimators]


def _scores(
    estimators: list[tuple[Estimator, Estimator]], candidates: list[list[Any]]
) -> np.ndarray:
    """log l(x) − log g(x) of each candidate, summed over the dimensions."""
    total = np.zeros(len(candidates[0]))
    for (good, bad), values in zip(estimators, candidates, strict=True):
        total += good.log_density(values) - bad.log_density(values)
    return total
