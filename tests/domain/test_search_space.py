"""Search spaces: the shapes a key may take, paths into the base job, applying a
configuration, the grid, random draws and the configuration key."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from service.domain.search_space import (
    Dimension,
    SpaceError,
    apply_params,
    config_key,
    grid_points,
    grid_size,
    parse_space,
    sample_random,
)

BASE: dict[str, Any] = {
    "network": {"layers": [{"units": 32, "activation": "relu"}, {"units": 16}]},
    "training": {
        "epochs": 5,
        "batch_size": 32,
        "optimizer": {"name": "adam", "learning_rate": 1e-3},
    },
}
SPACE: dict[str, Any] = {
    "training.optimizer.learning_rate": {"log_uniform": [1e-4, 1e-1]},
    "training.batch_size": {"choice": [32, 64, 128]},
    "network.layers[*].units": {"int": [16, 256], "step": 16},
    "network.layers[0].activation": {"choice": ["relu", "tanh"]},
    "training.l2": {"uniform": [0.0, 0.001]},
}


def error(space: dict[str, Any], base: dict[str, Any] = BASE) -> SpaceError:
    with pytest.raises(SpaceError) as caught:
        parse_space(space, base)
    return caught.value


def test_the_documented_space_parses_into_one_dimension_per_key_in_order() -> None:
    dims = parse_space(SPACE, BASE)
    assert [d.path for d in dims] == list(SPACE)
    lr, batch, units, activation, l2 = dims
    assert (lr.kind, lr.low, lr.high, lr.discrete) == ("log_uniform", 1e-4, 1e-1, False)
    assert (batch.kind, batch.values, batch.discrete) == ("choice", (32, 64, 128), True)
    assert (units.kind, units.low, units.high, units.step, units.log) == ("int", 16, 256, 16, False)
    assert activation.values == ("relu", "tanh")
    assert (l2.kind, l2.low, l2.high) == ("uniform", 0.0, 0.001)


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ({"choice": []}, "non-empty list"),
        ({"choice": "relu"}, "non-empty list"),
        ({"choice": [1, 2, 1]}, "twice"),
        ({"choice": [64, 64.0]}, "twice"),
        ({"uniform": [1.0, 1.0]}, "low < high"),
        ({"uniform": [2, 1]}, "low < high"),
        ({"uniform": [0, "1"]}, "[low, high] of numbers"),
        ({"uniform": [0, float("inf")]}, "[low, high] of numbers"),
        ({"uniform": [0, 1, 2]}, "[low, high] of numbers"),
        ({"log_uniform": [0.0, 1.0]}, "low > 0"),
        ({"log_uniform": [-1.0, 1.0]}, "low > 0"),
        ({"int": [1.5, 4]}, "whole numbers"),
        ({"int": [4, 4]}, "low < high"),
        ({"int": [1, 8], "step": 0}, "step must be a whole number"),
        ({"int": [1, 8], "step": 1.5}, "step must be a whole number"),
        ({"int": [1, 8], "log": "yes"}, "log must be true or false"),
        ({"int": [0, 8], "log": True}, "low of at least 1"),
        ({"uniform": [0, 1], "step": 0.1}, "unknown option 'step'"),
        ({"normal": [0, 1]}, "exactly one of choice, uniform, log_uniform, int"),
        ({"choice": [1], "uniform": [0, 1]}, "exactly one of"),
        ([0, 1], "must be an object"),
    ],
)
def test_a_bad_shape_names_the_key_and_what_to_fix(spec: Any, words: str) -> None:
    caught = error({"training.l2": spec})
    assert caught.key == "training.l2"
    assert "training.l2" in str(caught) and words in str(caught)


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("training.learning_rate", "training.learning_rate is not in the base job"),
        ("training.optimizer.lr", "training.optimizer.lr is not in the base job"),
        ("network.layers[2].units", "has 2 items, so it has no item [2]"),
        ("network.layers[*].width", "network.layers[0].width is not in the base job"),
        ("training.epochs.value", "training.epochs is not an object"),
        ("training[0]", "training is not a list"),
        ("training.schedule.gamma", "training.schedule is not in the base job"),
        ("network..units", "is not a key"),
        ("network.layers[-1].units", "is not a key"),
    ],
)
def test_a_path_that_leads_nowhere_in_base_is_refused(path: str, words: str) -> None:
    caught = error({path: {"choice": [1, 2]}})
    assert caught.key == path and words in str(caught)


def test_a_missing_last_key_is_allowed_where_the_job_takes_that_option() -> None:
    space = {
        "training.l2": {"uniform": [0.0, 0.01]},
        "training.optimizer.beta1": {"uniform": [0.8, 0.99]},
        "network.layers[*].dropout": {"uniform": [0.0, 0.5]},
        "network.layers[1].activation": {"choice": ["relu", "tanh"]},
        "network.init": {"choice": ["glorot", "he"]},
    }
    assert len(parse_space(space, BASE)) == 5
    # momentum is no setting of adam, so it is not an option here
    assert "not in the base job" in str(error({"training.optimizer.momentum": {"uniform": [0, 1]}}))


def test_an_empty_list_under_star_names_nothing() -> None:
    base = {"network": {"layers": []}, "training": {}}
    assert "empty list" in str(error({"network.layers[*].units": {"int": [1, 4]}}, base))


def test_two_keys_that_set_the_same_value_are_refused() -> None:
    caught = error(
        {"network.layers[*].units": {"int": [1, 4]}, "network.layers[1].units": {"int": [1, 4]}}
    )
    assert caught.key == "network.layers[1].units" and "network.layers[*].units" in str(caught)
    caught = error(
        {
            "training.optimizer": {"choice": [{"name": "sgd"}]},
            "training.optimizer.learning_rate": {"uniform": [0.1, 0.2]},
        }  # fmt: skip
    )
    assert "same value" in str(caught)


def test_an_empty_space_is_refused() -> None:
    assert error({}).key == "space"


def test_apply_params_sets_every_path_on_a_copy() -> None:
    params = {
        "network.layers[*].units": 64,
        "network.layers[0].activation": "tanh",
        "training.l2": 1e-4,
        "training.optimizer.learning_rate": 0.01,
    }
    job = apply_params(BASE, params)
    assert [layer["units"] for layer in job["network"]["layers"]] == [64, 64]
    assert job["network"]["layers"][0]["activation"] == "tanh"
    assert job["training"]["l2"] == 1e-4 and job["training"]["optimizer"]["learning_rate"] == 0.01
    assert BASE["network"]["layers"][0]["units"] == 32 and "l2" not in BASE["training"]


def test_apply_params_copies_object_values_so_trials_do_not_share_them() -> None:
    optimizer = {"name": "sgd", "learning_rate": 0.1}
    job = apply_params(BASE, {"training.optimizer": optimizer})
    job["training"]["optimizer"]["learning_rate"] = 5.0
    assert optimizer["learning_rate"] == 0.1


def test_the_grid_lists_every_combination_once_last_key_fastest() -> None:
    dims = parse_space(
        {
            "training.batch_size": {"choice": [32, 64]},
            "network.layers[*].units": {"int": [8, 32], "step": 12},
        },
        BASE,
    )
    points = grid_points(dims)
    assert grid_size(dims) == 6
    assert points == [
        {"training.batch_size": b, "network.layers[*].units": u}
        for b in (32, 64)
        for u in (8, 20, 32)
    ]
    assert len({config_key(p) for p in points}) == 6


def test_a_grid_over_a_continuous_range_is_refused_naming_the_key() -> None:
    dims = parse_space(SPACE, BASE)
    with pytest.raises(SpaceError) as caught:
        grid_points(dims)
    assert caught.value.key == "training.optimizer.learning_rate"
    assert "continuous" in str(caught.value)


def test_a_huge_grid_is_counted_without_being_listed() -> None:
    space = {f"network.layers[{i}].units": {"int": [1, 4096]} for i in range(2)}
    space["training.seed"] = {"int": [0, 10**9]}
    dims = parse_space(space, BASE | {"training": {**BASE["training"], "seed": 0}})
    assert grid_size(dims) == 4096 * 4096 * (10**9 + 1)
    with pytest.raises(SpaceError, match="random or tpe"):
        grid_points(dims)


def test_random_draws_stay_in_bounds_on_the_step_grid_as_plain_json_values() -> None:
    space = SPACE | {"training.epochs": {"int": [1, 100], "log": True}}
    dims = parse_space(space, BASE)
    rng = np.random.default_rng(7)
    draws = [sample_random(dims, rng) for _ in range(2000)]
    for params in draws:
        json.dumps(params)  # JSON-safe
        lr = params["training.optimizer.learning_rate"]
        assert type(lr) is float and 1e-4 <= lr <= 1e-1
        units = params["network.layers[*].units"]
        assert type(units) is int and 16 <= units <= 256 and units % 16 == 0
        assert params["training.batch_size"] in (32, 64, 128)
        assert type(params["training.epochs"]) is int and 1 <= params["training.epochs"] <= 100
    units = [p["network.layers[*].units"] for p in draws]
    assert set(units) == set(range(16, 257, 16))  # every grid value is reachable
    lrs = np.log10([p["training.optimizer.learning_rate"] for p in draws])
    assert abs(np.mean(lrs < -2.5) - 0.5) < 0.05  # log-uniform: half below the log midpoint
    epochs = np.array([p["training.epochs"] for p in draws])
    assert np.mean(epochs <= 10) > 0.4  # log scale: 1..10 as likely as 10..100


def test_random_draws_are_reproducible_from_the_generator() -> None:
    dims = parse_space(SPACE, BASE)
    first = [sample_random(dims, np.random.default_rng(3)) for _ in range(3)]
    again = [sample_random(dims, np.random.default_rng(3)) for _ in range(3)]
    assert first == again
    other = sample_random(dims, np.random.default_rng(4))
    assert other != first[0]


def test_config_key_ignores_key_order_and_integral_float_spelling() -> None:
    a = {"training.batch_size": 64, "training.l2": 0.001, "x": {"name": "adam", "b": 1}}
    b = {"x": {"b": 1.0, "name": "adam"}, "training.l2": 0.001, "training.batch_size": 64.0}
    assert config_key(a) == config_key(b)
    assert config_key(a) != config_key(a | {"training.l2": 0.0011})
    assert len(config_key(a)) == 64


def test_config_key_is_the_same_in_another_process() -> None:
    params = {"training.optimizer.learning_rate": 0.0031622776601683794, "units": 48}
    code = (
        "import json, sys; from service.domain.search_space import config_key; "
        "print(config_key(json.loads(sys.argv[1])))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(params)], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == config_key(params)


def test_dimension_discreteness_follows_its_kind() -> None:
    assert Dimension("a", "int", low=1, high=3).discrete
    assert not Dimension("a", "uniform", low=0.0, high=1.0).discrete
