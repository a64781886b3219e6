"""The searches' TPE on real learning problems: scikit-learn's digits and breast cancer,
trained with our engine in-process. Over the same space and a budget of 20 trials, TPE must
reach an objective (the final epoch's val_loss) at least as good as random search and as
good as Optuna's TPE, by the median over ten seeds.

Every search is deterministic (seeded samplers, seeded training), so the figures are the same
on every run; the seeds are 0 to 9, not chosen. Ten seeds, not three: the best of 20 trials
varies by 15-25% from seed to seed here, so with three seeds the medians of two samplers
differ by 5-10% by chance alone, which would make the comparison a coin toss. Against Optuna
a tolerance of 10% of the objective is allowed for what remains of that noise: Optuna's own
ten-seed median moves by 9% on digits (0.1254 to 0.1376) when nothing but the names of its
parameters changes, since that reorders its random draws. Optuna runs with the same number
of random start-up trials as ours (5), so neither gets more guided trials than the other.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_digits

from service.domain.search_space import (
    Dimension,
    apply_params,
    config_key,
    parse_space,
    sample_random,
)
from service.domain.tpe import suggest_tpe
from service.engine import EngineError, fit

optuna = pytest.importorskip("optuna")
pytestmark = pytest.mark.slow

TRIALS = 20
SEEDS = tuple(range(10))
STARTUP = 5
OPTUNA_TOLERANCE = 0.10
BASE: dict[str, Any] = {
    "network": {"layers": [{"units": 16, "activation": "relu"}]},
    "training": {
        "epochs": 4,
        "batch_size": 32,
        "optimizer": {"name": "adam", "learning_rate": 0.001},
        "validation_fraction": 0.25,
        "seed": 0,
    },
}
LR, UNITS, ACTIVATION, BATCH, L2 = (
    "training.optimizer.learning_rate",
    "network.layers[*].units",
    "network.layers[0].activation",
    "training.batch_size",
    "training.l2",
)
SPACE: dict[str, Any] = {
    LR: {"log_uniform": [1e-4, 1.0]},
    UNITS: {"int": [4, 64], "step": 4},
    ACTIVATION: {"choice": ["relu", "tanh", "sigmoid"]},
    BATCH: {"choice": [16, 32, 64, 128]},
    L2: {"uniform": [0.0, 0.01]},
}
Objective = Callable[[dict[str, Any]], float | None]


def trainer(X: np.ndarray, y: np.ndarray) -> Objective:
    """The final val_loss of a configuration (None when training diverged), remembered by
    its config key: the same configuration trains to the same figure every time."""
    seen: dict[str, float | None] = {}

    def objective(params: dict[str, Any]) -> float | None:
        key = config_key(params)
        if key not in seen:
            job = apply_params(BASE, params)
            try:
                _, history = fit(X, y, job["network"], job["training"])
                value = history[-1]["val_loss"]
                seen[key] = value if math.isfinite(value) else None
            except EngineError:
                seen[key] = None
        return seen[key]

    return objective


def ours(dims: list[Dimension], objective: Objective, seed: int, strategy: str) -> float:
    rng = np.random.default_rng(seed)
    history: list[tuple[dict[str, Any], float | None]] = []
    for _ in range(TRIALS):
        if strategy == "tpe":
            params = suggest_tpe(dims, history, "minimize", rng, n_startup=STARTUP)
        else:
            params = sample_random(dims, rng)
        history.append((params, objective(params)))
    return min(v for _, v in history if v is not None)


def optuna_tpe(objective: Objective, seed: int) -> float:
    def trial_value(trial: Any) -> float:
        params = {
            LR: trial.suggest_float(LR, 1e-4, 1.0, log=True),
            UNITS: trial.suggest_int(UNITS, 4, 64, step=4),
            ACTIVATION: trial.suggest_categorical(ACTIVATION, ["relu", "tanh", "sigmoid"]),
            BATCH: trial.suggest_categorical(BATCH, [16, 32, 64, 128]),
            L2: trial.suggest_float(L2, 0.0, 0.01),
        }
        value = objective(params)
        return math.nan if value is None else value  # Optuna records NaN as a failed trial

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=STARTUP)
    study = optuna.create_study(direction="minimize", sampler=sampler)
    study.optimize(trial_value, n_trials=TRIALS)
    return float(study.best_value)


@pytest.mark.timeout(900)  # 600 trainings; a few minutes on a busy machine
@pytest.mark.parametrize("loader", [load_digits, load_breast_cancer], ids=["digits", "cancer"])
def test_tpe_beats_random_search_and_matches_optuna(loader: Callable[..., Any]) -> None:
    X, y = loader(return_X_y=True)
    objective = trainer(X, y)
    dims = parse_space(SPACE, BASE)
    tpe = float(np.median([ours(dims, objective, seed, "tpe") for seed in SEEDS]))
    random = float(np.median([ours(dims, objective, seed, "random") for seed in SEEDS]))
    reference = float(np.median([optuna_tpe(objective, seed) for seed in SEEDS]))
    figures = f"tpe {tpe:.4f}, random {random:.4f}, optuna {reference:.4f}"
    print(f"median best val_loss of {len(SEEDS)} seeds: {figures}")
    assert tpe <= random, figures
    assert tpe <= reference * (1 + OPTUNA_TOLERANCE), figures
