"""Recurrent networks through `fit`: every optimizer, resume, storage, divergence, predict."""

from __future__ import annotations

import io

import numpy as np
import pytest

from service.engine import OPTIMIZERS, InputError, Model, fit

T, D = 9, 3


def strip_seconds(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


@pytest.fixture
def sequences(rng):
    """Variable-length sequences labelled by the sign of their first feature's sum."""
    X = rng.normal(size=(120, T, D))
    lengths = rng.integers(2, T + 1, 120)
    for i, n in enumerate(lengths):
        X[i, n:] = 0
    y = np.where(X[:, :, 0].sum(axis=1) > 0, "up", "down")
    return X, y, lengths


def flat_params(model: Model) -> list[np.ndarray]:
    out = [a for _, params in model.recurrent for a in params]
    return out + [a for W, b, _ in model.layers for a in (W, b)]


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_resume_is_bit_identical_with_every_optimizer(sequences, optimizer, kind):
    X, y, lengths = sequences
    network = {"layers": [{"type": kind, "units": 5}, {"units": 4, "activation": "tanh"}]}
    training = {
        "epochs": 4,
        "batch_size": 16,
        "optimizer": {"name": optimizer},
        "l2": 0.001,
        "clip_norm": 1.0,
        "bptt_steps": 4,
        "schedule": {"name": "exponential"},
        "early_stopping": {"patience": 10},
    }
    checkpoints = {}

    def keep(progress):
        checkpoints[progress.epoch] = progress.checkpoint()

    full, history = fit(X, y, network, training, lengths=lengths, on_epoch=keep)
    resumed, h2 = fit(X, y, network, training, lengths=lengths, resume=checkpoints[2])
    assert strip_seconds(h2) == strip_seconds(history)
    for a, b in zip(flat_params(full), flat_params(resumed), strict=True):
        np.testing.assert_array_equal(a, b)
    assert all(np.isfinite(row["train_loss"]) for row in history)


def test_model_round_trips_through_bytes(sequences):
    X, y, lengths = sequences
    for kind in ("rnn", "gru", "lstm"):
        layers = [{"type": kind, "units": 4}, {"type": "lstm", "units": 3}, {"units": 2}]
        model, _ = fit(X, y, {"layers": layers}, {"epochs": 1}, lengths=lengths)
        again = Model.from_bytes(model.to_bytes())
        assert again.steps == T and [layer.kind for layer, _ in again.recurrent] == [kind, "lstm"]
        np.testing.assert_array_equal(
            again.predict_proba(X, lengths), model.predict_proba(X, lengths)
        )
        assert list(again.predict(X[:5], lengths[:5])) == list(model.predict(X[:5], lengths[:5]))


def test_a_stored_model_with_a_wrong_recurrent_array_is_refused(sequences):
    X, y, lengths = sequences
    model, _ = fit(X, y, {"layers": [{"type": "gru", "units": 4}]}, {"epochs": 1}, lengths=lengths)
    with np.load(io.BytesIO(model.to_bytes())) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays["R0_1"] = arrays["R0_1"][:, :-1]
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    with pytest.raises(ValueError, match="recurrent layer 0 has the wrong shape"):
        Model.from_bytes(buffer.getvalue())


def test_predict_takes_padded_arrays_with_lengths_or_ragged_lists(sequences):
    X, y, lengths = sequences
    model, _ = fit(X, y, {"layers": [{"type": "lstm", "units": 6}]}, {"epochs": 2}, lengths=lengths)
    padded = model.predict_proba(X[:8], lengths[:8])
    ragged = model.predict_proba([X[i, : lengths[i]] for i in range(8)])
    np.testing.assert_allclose(ragged, padded, rtol=1e-6, atol=1e-7)
    one = model.predict_proba([X[3, : lengths[3]]])
    np.testing.assert_allclose(one[0], padded[3], rtol=1e-5, atol=1e-6)
    with pytest.raises(InputError, match="at most 9 steps"):
        model.predict(np.zeros((1, 10, D)))
    with pytest.raises(InputError, match="3 features per step"):
        model.predict(np.zeros((1, 4, 2)))


def test_float64_is_supported(sequences):
    X, y, lengths = sequences
    model, _ = fit(
        X,
        y,
        {"layers": [{"type": "gru", "units": 3}]},
        {"epochs": 1, "dtype": "float64"},
        lengths=lengths,
    )
    assert all(a.dtype == np.float64 for a in flat_params(model))
    assert model.predict_proba(X, lengths).shape == (len(X), 2)


def test_divergence_is_detected_in_recurrent_networks(sequences):
    X, _, lengths = sequences
    target = X[:, 0, 0] * 1e3
    with pytest.raises(ValueError, match="Training diverged at epoch 1"):
        network = {"layers": [{"type": "rnn", "units": 8, "activation": "relu"}]}
        training = {"epochs": 3, "optimizer": {"name": "sgd", "learning_rate": 1e4}}
        fit(X, target, network, training, lengths=lengths)


def test_early_stopping_returns_the_best_epoch_of_a_recurrent_network(sequences):
    X, y, lengths = sequences
    losses, params = {}, {}

    def snapshot(progress):
        losses[progress.epoch] = progress.metrics["val_loss"]
        with np.load(io.BytesIO(progress.checkpoint())) as saved:
            params[progress.epoch] = saved["best_params"]

    model, history = fit(
        X,
        y,
        {"layers": [{"type": "gru", "units": 16}]},
        {
            "epochs": 60,
            "optimizer": {"name": "sgd", "learning_rate": 3.0},
            "validation_fraction": 0.3,
            "early_stopping": {"patience": 2},
        },
        lengths=lengths,
        on_epoch=snapshot,
    )
    assert len(history) < 60
    best = min(losses, key=losses.get)
    assert best == len(history) - 2
    W, b, _ = model.layers[-1]
    assert np.isin(W.ravel(), params[len(history)]).all()


def test_recurrent_layers_need_sequences_and_sequences_need_a_recurrent_layer(sequences):
    X, y, lengths = sequences
    from service.engine import SpecError

    with pytest.raises(SpecError, match="this data is a table"):
        fit(X[:, 0], y, {"layers": [{"type": "lstm", "units": 3}]}, {"epochs": 1})
    with pytest.raises(SpecError, match="needs a recurrent layer"):
        fit(X, y, {"layers": [{"units": 3}]}, {"epochs": 1}, lengths=lengths)
    with pytest.raises(SpecError, match="already sequences"):
        fit(
            X,
            y,
            {"layers": [{"type": "gru", "units": 3}]},
            {"epochs": 1, "sequence": {"window": 3}},
            lengths=lengths,
        )
