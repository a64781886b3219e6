"""Recurrent networks learn what they are for: forecasts and memory over time.

BLAS runs on one thread here: these tests measure learning, and on a busy machine the
thread hand-offs of many tiny matrix products only add minutes.
"""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from service.engine import fit
from service.engine.sequences import chronological_split, window_series


@pytest.fixture(autouse=True)
def one_blas_thread():
    with threadpool_limits(1):
        yield


def held_out_errors(model, series, window, horizon):
    """Mean squared errors of the model and of persistence on the last 20% of windows."""
    w = window_series(np.empty((len(series), 0)), series, window, horizon)
    _, val = chronological_split(w.group, 0.2)
    predicted = model.predict(w.X[val])
    persistence = w.X[val, -1, -1]  # the last value seen
    return np.mean((predicted - w.y[val]) ** 2), np.mean((persistence - w.y[val]) ** 2)


def test_a_noisy_sine_forecast_beats_persistence_by_a_wide_margin():
    rng = np.random.default_rng(0)
    series = np.sin(np.arange(800) / 6) + rng.normal(scale=0.1, size=800)
    model, _ = fit(
        None,
        series,
        {"layers": [{"type": "gru", "units": 16}]},
        {
            "epochs": 30,
            "sequence": {"window": 20, "horizon": 3},
            "validation_fraction": 0.2,
            "optimizer": {"name": "adam", "learning_rate": 0.01},
        },
    )
    ours, persistence = held_out_errors(model, series, 20, 3)
    assert ours < 0.25 * persistence
    assert ours < 0.03  # the noise alone costs 0.01


def temporal_xor(n: int, T: int = 20, seed: int = 0):
    """Random ±1 values; two marked steps (one in each half); class: do their values agree?"""
    rng = np.random.default_rng(seed)
    X = np.zeros((n, T, 2))
    X[:, :, 0] = rng.choice([-1.0, 1.0], size=(n, T))
    rows = np.arange(n)
    first, second = rng.integers(0, T // 2, n), rng.integers(T // 2, T, n)
    X[rows, first, 1] = X[rows, second, 1] = 1
    return X, (X[rows, first, 0] == X[rows, second, 0]).astype(int)


def test_a_dense_net_on_the_flattened_sequence_cannot_solve_the_temporal_xor():
    X, y = temporal_xor(1500)
    Xt, yt = temporal_xor(1000, seed=1)
    model, _ = fit(
        X.reshape(len(X), -1),
        y,
        {"layers": [{"units": 128}, {"units": 64}]},
        {"epochs": 60, "optimizer": {"name": "adam", "learning_rate": 0.003}},
    )
    assert np.mean(model.predict(Xt.reshape(len(Xt), -1)) == yt) < 0.6


@pytest.mark.parametrize(
    ("kind", "units", "epochs", "rate"), [("lstm", 16, 8, 0.02), ("gru", 32, 12, 0.01)]
)
def test_gru_and_lstm_solve_the_temporal_xor(kind, units, epochs, rate):
    X, y = temporal_xor(1500)
    Xt, yt = temporal_xor(1000, seed=1)
    model, _ = fit(
        X,
        y,
        {"layers": [{"type": kind, "units": units}]},
        {"epochs": epochs, "optimizer": {"name": "adam", "learning_rate": rate}},
    )
    assert np.mean(model.predict(Xt) == yt) > 0.97


@pytest.mark.slow
def test_the_sunspot_numbers_are_forecast_better_than_by_persistence():
    sm = pytest.importorskip("statsmodels.api")
    sunspots = sm.datasets.sunspots.load_pandas().data["SUNACTIVITY"].to_numpy()  # 1700-2008
    model, _ = fit(
        None,
        sunspots,
        {"layers": [{"type": "gru", "units": 16}, {"units": 16, "activation": "tanh"}]},
        {
            "epochs": 300,
            "sequence": {"window": 12},
            "validation_fraction": 0.2,
            "optimizer": {"name": "adam", "learning_rate": 0.01},
        },
    )
    ours, persistence = held_out_errors(model, sunspots, 12, 1)
    assert ours < 0.7 * persistence
