"""Warm starts through `fit`: continue is bit-identical to one longer run (dense and recurrent,
every optimizer), fine-tune starts from the source's weights, mismatches are refused."""

from __future__ import annotations

import numpy as np
import pytest

from service.engine import OPTIMIZERS, CheckpointMismatch, InputError, Model, fit
from service.engine.warm_start import WarmStart

T, D = 7, 3


def flat(model: Model) -> list[np.ndarray]:
    out = [a for _, arrays in model.recurrent or [] for a in arrays]
    return out + [a for W, b, _ in model.layers for a in (W, b)]


def assert_bit_identical(a: Model, b: Model) -> None:
    pairs = list(zip(flat(a), flat(b), strict=True))
    assert pairs and all(np.array_equal(x, y) for x, y in pairs)


def strip_seconds(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def continued(X, y, network, training, n, m, **kw):
    """(a model of n + m straight epochs, its history; n epochs continued for m, history)."""
    straight, history = fit(X, y, network, {**training, "epochs": n + m}, **kw)
    source, _ = fit(X, y, network, {**training, "epochs": n}, keep_state=True, **kw)
    warm = WarmStart("continue", state=source.training_state)
    more, more_history = fit(X, y, network, {**training, "epochs": m}, warm_start=warm, **kw)
    return straight, history, more, more_history


@pytest.fixture
def sequences(rng):
    X = rng.normal(size=(90, T, D))
    lengths = rng.integers(2, T + 1, 90)
    for i, n in enumerate(lengths):
        X[i, n:] = 0
    return X, np.where(X[:, :, 0].sum(axis=1) > 0, "up", "down"), lengths


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_continue_is_bit_identical_to_one_longer_dense_run(blobs, optimizer):
    X, y = blobs
    network = {"layers": [{"units": 8, "activation": "tanh", "dropout": 0.1}]}
    training = {
        "batch_size": 16, "optimizer": {"name": optimizer}, "l2": 0.001,
        "schedule": {"name": "step", "step_size": 2, "gamma": 0.5},
        "early_stopping": {"patience": 50}, "validation_fraction": 0.2,
    }  # fmt: skip
    straight, history, more, more_history = continued(X, y, network, training, 3, 4)
    assert_bit_identical(straight, more)
    # the continued job's own epochs, numbered from 1, with the same figures
    assert [row["epoch"] for row in more_history] == [1, 2, 3, 4]
    expected = [{**row, "epoch": row["epoch"] - 3} for row in strip_seconds(history)[3:]]
    assert strip_seconds(more_history) == expected


@pytest.mark.parametrize("optimizer", ["adam", "asgd", "momentum"])
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_continue_is_bit_identical_to_one_longer_recurrent_run(sequences, kind, optimizer):
    X, y, lengths = sequences
    network = {"layers": [{"type": kind, "units": 5}, {"units": 4, "activation": "relu"}]}
    training = {
        "batch_size": 16, "optimizer": {"name": optimizer}, "clip_norm": 1.0, "bptt_steps": 4,
        "schedule": {"name": "reduce_on_plateau", "patience": 0},
    }  # fmt: skip
    straight, _, more, _ = continued(X, y, network, training, 2, 3, lengths=lengths)
    assert_bit_identical(straight, more)


def test_a_continued_model_continues_again(linear_data):
    X, y = linear_data
    network, training = {"layers": [{"units": 6}]}, {"optimizer": {"name": "rmsprop"}}
    straight, _ = fit(X, y, network, {**training, "epochs": 6})
    first, _ = fit(X, y, network, {**training, "epochs": 2}, keep_state=True)
    warm = WarmStart("continue", state=first.training_state)
    second, _ = fit(X, y, network, {**training, "epochs": 1}, warm_start=warm, keep_state=True)
    warm = WarmStart("continue", state=second.training_state)
    third, _ = fit(X, y, network, {**training, "epochs": 3}, warm_start=warm)
    assert_bit_identical(straight, third)


def test_a_fine_tuned_model_continues_with_the_preprocessing_it_inherited(linear_data):
    X, y = linear_data
    network = {"layers": [{"units": 5}]}
    source, _ = fit(X, y, network, {"epochs": 3})
    shifted = X[:120] * 2.0 + 1.0  # other statistics: a refitted scaling would differ
    tune = WarmStart("fine_tune", model=source)
    training = {"epochs": 4, "optimizer": {"name": "momentum"}}
    straight, _ = fit(shifted, y[:120], network, training, warm_start=tune)
    tuned, _ = fit(shifted, y[:120], network, {**training, "epochs": 1}, warm_start=tune,
                   keep_state=True)  # fmt: skip
    warm = WarmStart("continue", model=tuned, state=tuned.training_state)
    more, _ = fit(shifted, y[:120], network, {**training, "epochs": 3}, warm_start=warm)
    assert_bit_identical(straight, more)
    np.testing.assert_array_equal(more.preprocessor.scale, source.preprocessor.scale)


def test_a_resumed_attempt_of_a_continued_run_is_bit_identical(blobs):
    X, y = blobs
    network, training = {"layers": [{"units": 5}]}, {"batch_size": 10}
    source, _ = fit(X, y, network, {**training, "epochs": 2}, keep_state=True)
    warm = WarmStart("continue", state=source.training_state)
    checkpoints = {}

    def keep(progress):
        checkpoints[progress.epoch] = progress.checkpoint()

    whole, history = fit(X, y, network, {**training, "epochs": 4}, warm_start=warm, on_epoch=keep)
    resumed, again = fit(
        X, y, network, {**training, "epochs": 4}, warm_start=warm, resume=checkpoints[2]
    )
    assert_bit_identical(whole, resumed)
    assert strip_seconds(again) == strip_seconds(history)


def test_continue_after_early_stopping_trains_the_epochs_asked_for(blobs):
    X, y = blobs
    network = {"layers": [{"units": 4}]}
    training = {"early_stopping": {"patience": 2, "min_delta": 10.0}, "epochs": 30}
    source, history = fit(X, y, network, training, keep_state=True)
    assert len(history) == 3  # nothing beats the first epoch by 10: two more, then it stops
    warm = WarmStart("continue", state=source.training_state)
    _, more = fit(X, y, network, {**training, "epochs": 5}, warm_start=warm)
    assert len(more) == 2  # patience restarts: two epochs without improvement again
    # the best epoch is still the source's first: the model keeps its weights
    best, _ = fit(X, y, network, {**training, "epochs": 1})
    continued_model, _ = fit(X, y, network, {**training, "epochs": 5}, warm_start=warm)
    assert_bit_identical(best, continued_model)


def test_continue_refuses_another_spec_or_other_data(blobs):
    X, y = blobs
    network, training = {"layers": [{"units": 4}]}, {"epochs": 2}
    source, _ = fit(X, y, network, training, keep_state=True)
    warm = WarmStart("continue", state=source.training_state)
    with pytest.raises(CheckpointMismatch, match="training differs"):
        fit(X, y, network, {**training, "optimizer": {"name": "nesterov"}}, warm_start=warm)
    with pytest.raises(CheckpointMismatch, match="network differs"):
        fit(X, y, {"layers": [{"units": 5}]}, training, warm_start=warm)
    with pytest.raises(CheckpointMismatch, match="differs"):
        fit(X[:-1], y[:-1], network, training, warm_start=warm)


def test_fine_tune_starts_from_the_source_weights_with_its_preprocessing(linear_data):
    X, y = linear_data
    network = {"layers": [{"units": 6}]}
    source, _ = fit(X, y, network, {"epochs": 30, "optimizer": {"name": "adam"}})
    shifted = X + 0.5
    warm = WarmStart("fine_tune", model=source)
    # no epoch changes nothing: the weights and the preprocessing are the source's
    lr0 = {"epochs": 1, "optimizer": {"name": "sgd", "learning_rate": 1e-12}}
    same, _ = fit(shifted, y, network, lr0, warm_start=warm)
    np.testing.assert_allclose(same.predict(X[:20]), source.predict(X[:20]), rtol=1e-5)
    np.testing.assert_array_equal(same.preprocessor.scale, source.preprocessor.scale)
    np.testing.assert_array_equal(same.preprocessor.offset, source.preprocessor.offset)


def test_fine_tune_beats_training_from_scratch_on_a_small_budget(rng):
    weights = np.array([1.5, -2.0, 0.5, 1.0])
    X = rng.normal(size=(600, 4))
    y = X @ weights + 0.05 * rng.normal(size=600)
    network = {"layers": [{"units": 16, "activation": "tanh"}]}
    training = {"epochs": 60, "optimizer": {"name": "adam", "learning_rate": 0.01}}
    source, _ = fit(X, y, network, training)
    # shifted data: a slightly different relation, and only a few rows and epochs
    Xs = rng.normal(size=(60, 4)) + 0.3
    ys = Xs @ (weights * 1.1) + 0.05 * rng.normal(size=60)
    budget = {"epochs": 5, "optimizer": {"name": "adam", "learning_rate": 0.01}}
    tuned, tuned_history = fit(Xs, ys, network, budget, warm_start=WarmStart("fine_tune", source))
    scratch, scratch_history = fit(Xs, ys, network, budget)
    assert tuned_history[-1]["val_loss"] < 0.5 * scratch_history[-1]["val_loss"]


def test_fine_tune_refuses_other_features_classes_or_shapes(blobs):
    X, y = blobs
    source, _ = fit(X, y, {"layers": [{"units": 4}]}, {"epochs": 1})
    warm = WarmStart("fine_tune", model=source)
    features = [{"name": f"x{i}", "kind": "numeric"} for i in range(4)]
    columns = {f"x{i}": X[:, i] for i in range(4)}
    with pytest.raises(InputError, match="x3.*missing"):
        fit({k: v for k, v in columns.items() if k != "x3"}, y, {"layers": [{"units": 4}]},
            {"epochs": 1}, features=features[:3], warm_start=warm)  # fmt: skip
    with pytest.raises(InputError, match="lacks class 'c'"):
        fit(X[y != "c"], y[y != "c"], {"layers": [{"units": 4}]}, {"epochs": 1}, warm_start=warm)
    with pytest.raises(InputError, match="shape"):
        fit(X, y, {"layers": [{"units": 5}]}, {"epochs": 1}, warm_start=warm)


def test_fine_tune_reads_a_table_in_the_source_models_feature_order(blobs):
    X, y = blobs
    features = [{"name": f"x{i}", "kind": "numeric"} for i in range(4)]
    columns = {f"x{i}": X[:, i] for i in range(4)}
    source, _ = fit(columns, y, {"layers": [{"units": 4}]}, {"epochs": 3}, features=features)
    reordered = {name: columns[name] for name in ("x2", "x0", "x3", "x1")}
    lr0 = {"epochs": 1, "optimizer": {"name": "sgd", "learning_rate": 1e-12}}
    tuned, _ = fit(reordered, y, {"layers": [{"units": 4}]}, lr0,
                   features=features[::-1], warm_start=WarmStart("fine_tune", source))  # fmt: skip
    assert tuned.feature_names == source.feature_names
    np.testing.assert_allclose(tuned.predict_proba(X), source.predict_proba(X), rtol=1e-5)
