"""Windowing of a time series, its chronological split, and sequence inputs."""

from __future__ import annotations

import numpy as np
import pytest

from service.engine import InputError, fit
from service.engine.sequences import (
    chronological_split,
    fit_preprocessor,
    read_sequences,
    series_windows,
    transform,
    window_series,
)


def test_windows_of_0_to_98_with_window_10_stride_3_horizon_1_match_a_hand_computation():
    series = np.arange(99.0)
    w = window_series(np.empty((99, 0)), series, window=10, horizon=1, stride=3)
    # starts 0, 3, ..., 87 (the last start s with s + 10 - 1 + 1 <= 98): 30 windows
    assert len(w.y) == 30
    np.testing.assert_array_equal(w.X[0, :, 0], np.arange(10.0))
    assert w.y[0] == 10.0
    np.testing.assert_array_equal(w.X[1, :, 0], np.arange(3.0, 13.0))
    assert w.y[1] == 13.0
    np.testing.assert_array_equal(w.X[-1, :, 0], np.arange(87.0, 97.0))
    assert w.y[-1] == 97.0
    assert w.X.shape == (30, 10, 1)


def test_every_feature_and_the_target_are_step_features_and_horizon_looks_ahead():
    features = np.stack([np.arange(20.0) * 10, -np.arange(20.0)], axis=1)
    target = np.arange(20.0) + 0.5
    w = window_series(features, target, window=4, horizon=3, stride=5)
    np.testing.assert_array_equal(
        w.X[0], np.stack([features[:4, 0], features[:4, 1], target[:4]], axis=1)
    )
    assert w.y[0] == target[3 + 3]
    assert list(w.end) == [3, 8, 13]  # a fourth window (start 15) would need row 21


def test_no_window_crosses_a_group_and_validation_comes_last_in_each_group():
    rng = np.random.default_rng(0)
    groups = np.repeat(["a", "b", "c"], [40, 25, 60])
    order = rng.permutation(len(groups))  # rows of the groups interleaved, time order kept
    groups_shuffled = groups[np.sort(order)]
    rows_of = {g: np.flatnonzero(groups_shuffled == g) for g in "abc"}
    value = np.zeros(len(groups))
    for g, rows in rows_of.items():
        value[rows] = np.arange(len(rows)) + 1000 * "abc".index(g)
    w = window_series(np.empty((len(value), 0)), value, window=6, horizon=2, groups=groups_shuffled)
    for window, target, group in zip(w.X[:, :, 0], w.y, w.group, strict=True):
        owner = {int(v // 1000) for v in [*window, target]}
        assert owner == {int(group)}  # every step and the target come from the window's group
        np.testing.assert_array_equal(np.diff(window), np.ones(5))  # consecutive in time
        assert target == window[-1] + 2
    train, val = chronological_split(w.group, 0.2)
    assert not set(train) & set(val)
    for g in range(3):
        tr, va = train[w.group[train] == g], val[w.group[val] == g]
        assert len(va) == round(0.2 * np.sum(w.group == g))
        assert w.X[va, 0, 0].min() > w.X[tr, 0, 0].max()  # every validation window is later


def test_a_series_shorter_than_window_plus_horizon_is_refused_with_the_numbers():
    with pytest.raises(InputError, match="longest series has 10 rows.*needs at least 11"):
        window_series(np.empty((10, 0)), np.arange(10.0), window=10, horizon=1)


def test_scaling_and_imputation_are_fitted_on_the_training_windows_only():
    values = np.concatenate([np.zeros(50), np.full(50, 100.0)])  # the late part is far off
    values[5] = np.nan
    data, y = series_windows(None, values, {"sequence": {"window": 5}}, None, None, None)
    train, val = chronological_split(data.group, 0.4)
    prep = fit_preprocessor(data, train, "standardize")
    seen = data.X[train][..., 0]
    assert prep.mean[0] == pytest.approx(np.nanmean(seen))
    assert prep.mean[0] < 50  # the validation part (mostly 100) did not move it
    x = transform(prep, data.X, data.lengths, np.float64)
    assert np.isfinite(x).all()  # the missing value became the training mean
    assert len(y) == 95 - 1  # the window whose target (row 5) is missing is dropped
    assert x[4, 0, 0] == pytest.approx(0.0)  # the first window kept is rows 1..5: row 5 imputed


def test_ragged_sequences_are_padded_and_lengths_are_checked():
    data = read_sequences([[[1, 2]], [[3, 4], [5, 6], [7, 8]]])
    assert data.X.shape == (2, 3, 2) and list(data.lengths) == [1, 3]
    with pytest.raises(InputError, match=r"lengths\[1\] is 4"):
        read_sequences(np.zeros((2, 3, 1)), [1, 4])
    with pytest.raises(InputError, match="same number of feature values"):
        read_sequences([[[1, 2]], [[3]]])
    with pytest.raises(InputError, match="infinite"):
        read_sequences(np.array([[[1.0], [np.inf]]]))


def test_fit_on_a_series_trains_on_windows_and_predicts_from_window_rows():
    t = np.arange(300.0)
    series = np.sin(t / 8)
    model, history = fit(
        None,
        series,
        {"layers": [{"type": "gru", "units": 8}]},
        {"epochs": 2, "sequence": {"window": 12}, "seed": 1},
    )
    assert model.task == "regression" and model.steps == 12
    assert model.feature_names == ["target"]
    window = series[100:112, None]
    assert np.isfinite(model.predict([window])).all()
    with pytest.raises(InputError, match="at most 12 steps"):
        model.predict([series[:13, None]])
