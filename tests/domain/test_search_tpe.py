"""The tree-structured Parzen estimator: its densities, the good/bad split, reproducibility,
taken configurations, and that it moves toward where the good trials were."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

from service.domain.search_space import config_key, grid_points, parse_space, sample_random
from service.domain.tpe import gamma, split_good_bad, suggest_tpe
from service.domain.tpe_parzen import estimator_for

BASE: dict[str, Any] = {
    "network": {"layers": [{"units": 8, "activation": "relu"}]},
    "training": {"optimizer": {"name": "adam", "learning_rate": 0.01}},
}
SPACE: dict[str, Any] = {
    "training.optimizer.learning_rate": {"log_uniform": [1e-5, 1.0]},
    "network.layers[*].units": {"int": [4, 128], "step": 4},
    "network.layers[0].activation": {"choice": ["relu", "tanh", "sigmoid"]},
    "training.l2": {"uniform": [0.0, 0.01]},
}
LR, UNITS, ACTIVATION, L2 = SPACE


def dims() -> list:
    return parse_space(SPACE, BASE)


def bowl(params: dict[str, Any]) -> float:
    """Lowest at learning rate 10^-2.5, 60 units, tanh, no l2."""
    lr = math.log10(params[LR])
    return (
        (lr + 2.5) ** 2
        + ((params[UNITS] - 60) / 40) ** 2
        + (0.0 if params[ACTIVATION] == "tanh" else 0.5)
        + params[L2] * 50
    )


def search(strategy: str, seed: int, trials: int = 20) -> list[tuple[dict[str, Any], float]]:
    space, rng = dims(), np.random.default_rng(seed)
    history: list[tuple[dict[str, Any], float]] = []
    for _ in range(trials):
        if strategy == "tpe":
            params = suggest_tpe(space, history, "minimize", rng)
        else:
            params = sample_random(space, rng)
        history.append((params, bowl(params)))
    return history


def test_before_n_startup_trials_finish_it_draws_at_random() -> None:
    history = [(sample_random(dims(), np.random.default_rng(i)), 1.0) for i in range(4)]
    history.append((sample_random(dims(), np.random.default_rng(9)), None))  # failed: no value
    suggested = suggest_tpe(dims(), history, "minimize", np.random.default_rng(5), n_startup=5)
    assert suggested == sample_random(dims(), np.random.default_rng(5))


def test_the_same_history_and_seed_give_the_same_suggestions() -> None:
    assert search("tpe", 3) == search("tpe", 3)
    assert search("tpe", 3) != search("tpe", 4)


def test_suggestions_are_plain_json_values_within_the_space() -> None:
    for params, _ in search("tpe", 1, trials=30):
        assert json.loads(json.dumps(params)) == params
        assert type(params[LR]) is float and 1e-5 <= params[LR] <= 1.0
        assert type(params[UNITS]) is int and 4 <= params[UNITS] <= 128 and params[UNITS] % 4 == 0
        assert params[ACTIVATION] in ("relu", "tanh", "sigmoid")
        assert type(params[L2]) is float and 0.0 <= params[L2] <= 0.01


def test_it_beats_random_search_on_a_smooth_bowl() -> None:
    tpe = [min(v for _, v in search("tpe", seed, trials=30)) for seed in range(12)]
    rand = [min(v for _, v in search("random", seed, trials=30)) for seed in range(12)]
    assert np.median(tpe) < 0.8 * np.median(rand)


def test_its_late_suggestions_gather_where_the_good_trials_were() -> None:
    late_tpe = [p for seed in range(3) for p, _ in search("tpe", seed, trials=30)[15:]]
    late_random = [p for seed in range(3) for p, _ in search("random", seed, trials=30)[15:]]
    distance = lambda ps: np.mean([abs(math.log10(p[LR]) + 2.5) for p in ps])  # noqa: E731
    assert distance(late_tpe) < 0.6 * distance(late_random)
    assert np.mean([p[ACTIVATION] == "tanh" for p in late_tpe]) > 0.5


def test_maximizing_a_negated_objective_suggests_the_same() -> None:
    history = search("random", 2, trials=12)
    negated = [(p, -v) for p, v in history]
    a = suggest_tpe(dims(), history, "minimize", np.random.default_rng(0))
    b = suggest_tpe(dims(), negated, "maximize", np.random.default_rng(0))
    assert a == b


def test_failed_trials_count_as_bad_so_it_leaves_their_region() -> None:
    space = parse_space({"training.l2": {"uniform": [0.0, 1.0]}}, BASE)
    rng = np.random.default_rng(0)
    history: list[tuple[dict[str, Any], float | None]] = []
    for x in np.linspace(0.0, 1.0, 21):
        history.append(({"training.l2": float(x)}, None if x > 0.5 else 1.0 + 0.01 * x))
    picks = [suggest_tpe(space, history, "minimize", rng)["training.l2"] for _ in range(20)]
    assert np.mean(np.array(picks) < 0.5) > 0.8


def test_a_taken_configuration_is_never_suggested_while_others_remain() -> None:
    space = parse_space(
        {
            "network.layers[0].activation": {"choice": ["relu", "tanh", "sigmoid"]},
            "network.layers[*].units": {"int": [8, 16], "step": 8},
        },
        BASE,
    )
    points = grid_points(space)
    history = [(p, float(i)) for i, p in enumerate(points[:5])]
    taken = {config_key(p) for p in points[:5]}
    for seed in range(5):
        suggested = suggest_tpe(
            space, history, "minimize", np.random.default_rng(seed), taken=taken
        )
        assert suggested == points[5]
    early = suggest_tpe(space, history[:2], "minimize", np.random.default_rng(0), taken=taken)
    assert config_key(early) not in taken  # the random start-up honours it too


def test_gamma_takes_a_quarter_of_the_finished_trials_within_limits() -> None:
    assert [gamma(n) for n in (1, 4, 5, 20, 200)] == [1, 1, 2, 5, 25]


def test_the_split_puts_the_best_in_good_and_failed_trials_in_bad() -> None:
    history = [({"x": i}, v) for i, v in enumerate([0.5, None, 0.1, 0.9, 0.3, math.nan, 0.2, 0.8])]
    good, bad = split_good_bad(history, "minimize")
    assert good == [{"x": 2}, {"x": 6}]  # two of the six finished trials: 0.1 and 0.2
    assert sorted(p["x"] for p in bad) == [0, 1, 3, 4, 5, 7]
    good, _ = split_good_bad(history, "maximize")
    assert good == [{"x": 3}, {"x": 7}]


def test_a_choice_estimator_is_the_smoothed_frequency_of_each_value() -> None:
    dim = parse_space({ACTIVATION: SPACE[ACTIVATION]}, BASE)[0]
    estimator = estimator_for(dim, ["tanh", "tanh", "relu"])
    prob = np.exp(estimator.log_density(["relu", "tanh", "sigmoid"]))
    third = 1 / 3
    expected = np.array([1 + third, 2 + third, third]) / 4
    assert prob == pytest.approx(expected)
    draws = estimator.sample(np.random.default_rng(0), 4000)
    assert np.mean([d == "tanh" for d in draws]) == pytest.approx(expected[1], abs=0.03)


@pytest.mark.parametrize("key", [LR, L2])
def test_a_range_estimator_is_a_density_over_its_range(key: str) -> None:
    dim = parse_space({key: SPACE[key]}, BASE)[0]
    observed = [1e-3, 2e-3, 0.5] if key == LR else [0.0, 0.001, 0.0095]
    estimator = estimator_for(dim, observed)
    inner = np.linspace(*(np.log([dim.low, dim.high]) if key == LR else (dim.low, dim.high)), 4001)
    values = np.exp(inner) if key == LR else inner
    density = np.exp(estimator.log_density(list(values)))
    assert np.trapezoid(density, inner) == pytest.approx(1.0, abs=1e-3)
    draws = estimator.sample(np.random.default_rng(1), 3000)
    assert all(dim.low <= d <= dim.high for d in draws)
    crowded, empty = (1.5e-3, 3e-5) if key == LR else (5e-4, 5e-3)
    assert np.exp(estimator.log_density([crowded, empty])) @ [1, -1] > 0
    scale = np.log if key == LR else np.asarray
    distance = np.abs(scale(draws) - scale(crowded))
    assert np.mean(distance < abs(scale(empty) - scale(crowded)) / 2) > 0.3  # near the data


def test_an_int_estimator_gives_each_value_its_bin_mass() -> None:
    dim = parse_space({"training.epochs": {"int": [1, 100], "log": True}}, BASE)[0]
    estimator = estimator_for(dim, [3, 4, 80])
    masses = np.exp(estimator.log_density(list(range(1, 101))))
    assert masses.sum() == pytest.approx(1.0, abs=1e-6)
    draws = estimator.sample(np.random.default_rng(2), 3000)
    assert all(type(d) is int and 1 <= d <= 100 for d in draws)
    counts = np.bincount(draws, minlength=101)[1:] / 3000
    assert np.abs(counts - masses).max() < 0.03
