"""Fixtures of the worker's tests: a fresh embedded database bound as the worker binds it,
and a small trained model with the columns of a batch prediction for it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from service.core.config import Settings
from service.core.db import use_database
from service.engine import Model, fit

N_ROWS = 150  # rows of `columns`


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    """Settings of a fresh embedded database and broker in `tmp_path`, bound as the worker's
    start-up binds them."""
    from service.core.schema import migrate_database

    settings = Settings(data_dir=tmp_path)
    migrate_database(settings.database_url)
    use_database(settings.database_url)
    yield settings
    use_database(None)


@pytest.fixture(scope="module")
def columns() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, N_ROWS)
    x[5] = np.nan
    colour = rng.choice(np.array(["red", "blue", ""]), N_ROWS)
    return {"x": x, "colour": colour}


@pytest.fixture(scope="module")
def model(columns: dict[str, np.ndarray]) -> Model:
    target = np.where((np.nan_to_num(columns["x"]) > 0) ^ (columns["colour"] == "red"), "a", "b")
    network = {"layers": [{"units": 8, "activation": "tanh"}]}
    training = {"epochs": 5, "batch_size": 16, "optimizer": {"name": "adam"}, "seed": 0}
    features = [{"name": "x", "kind": "numeric"}, {"name": "colour", "kind": "categorical"}]
    trained, _ = fit(columns, target, network, training, task="classification", features=features)
    return trained
