"""The training loop: learning, reproducibility, checkpoints, cancellation, divergence."""

from __future__ import annotations

import io

import numpy as np
import pytest

from service.engine import CheckpointMismatch, InputError, SpecError, fit

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], float)
XOR_Y = np.array([0, 1, 1, 0])


def strip_seconds(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def test_xor_is_learned_by_a_2_4_1_network():
    model, history = fit(
        XOR_X,
        XOR_Y,
        {"layers": [{"units": 4, "activation": "tanh"}], "output_activation": "sigmoid"},
        {
            "epochs": 500,
            "batch_size": "full",
            "validation_fraction": 0.0,
            "optimizer": {"name": "adam", "learning_rate": 0.05},
            "seed": 3,
        },
        task="classification",
    )
    assert [W.shape for W, _, _ in model.layers] == [(2, 4), (4, 1)]
    assert list(model.predict(XOR_X)) == [0, 1, 1, 0]
    assert history[-1]["train_accuracy"] == 1.0 and history[-1]["val_loss"] is None


def test_a_perceptron_of_step_units_learns_and():
    y = np.array([0, 0, 0, 1])
    model, _ = fit(
        XOR_X,
        y,
        {"layers": [], "output_activation": "step"},
        {
            "epochs": 100,
            "batch_size": 1,
            "validation_fraction": 0.0,
            "optimizer": {"name": "sgd", "learning_rate": 0.1},
            "scaling": "none",
        },
        task="classification",
    )
    assert list(model.predict(XOR_X)) == [0, 0, 0, 1]


def test_history_rows(blobs):
    X, y = blobs
    _, history = fit(X, y, {"layers": [{"units": 4}]}, {"epochs": 3})
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert set(history[0]) == {
        "epoch",
        "train_loss",
        "val_loss",
        "train_accuracy",
        "val_accuracy",
        "learning_rate",
        "seconds",
    }


def test_regression_history_has_no_accuracy(linear_data):
    X, y = linear_data
    model, history = fit(X, y, {"layers": [{"units": 4}]}, {"epochs": 2})
    assert "train_accuracy" not in history[0] and model.task == "regression"
    assert model.predict(X).shape == (200,)
    with pytest.raises(ValueError, match="only for classification"):
        model.predict_proba(X)


def test_batch_sizes_stochastic_mini_and_full(linear_data):
    X, y = linear_data
    for size in (1, 10, "full"):
        _, history = fit(
            X,
            y,
            {"layers": []},
            {"epochs": 30, "batch_size": size, "optimizer": {"name": "sgd", "learning_rate": 0.05}},
        )
        assert history[-1]["train_loss"] < 0.05, size


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_reproducible(blobs, dtype):
    X, y = blobs
    spec = {"epochs": 4, "seed": 7, "dtype": dtype, "early_stopping": {"patience": 2}}
    a, ha = fit(X, y, {"layers": [{"units": 5}]}, spec)
    b, hb = fit(X, y, {"layers": [{"units": 5}]}, spec)
    assert strip_seconds(ha) == strip_seconds(hb)
    assert a.layers[0][0].dtype == np.dtype(dtype)
    for (Wa, ba, _), (Wb, bb, _) in zip(a.layers, b.layers, strict=True):
        np.testing.assert_array_equal(Wa, Wb)
        np.testing.assert_array_equal(ba, bb)
    c, _ = fit(X, y, {"layers": [{"units": 5}]}, {**spec, "seed": 8})
    assert not np.array_equal(a.layers[0][0], c.layers[0][0])


RESUME_CASES = [
    {"optimizer": {"name": "adam"}, "early_stopping": {"patience": 2, "min_delta": 0.001}},
    {
        "optimizer": {"name": "asgd", "t0": 5},
        "schedule": {"name": "reduce_on_plateau", "patience": 1},
    },
    {"optimizer": {"name": "isgd"}, "schedule": {"name": "step", "step_size": 2}},
    {"optimizer": {"name": "nesterov"}, "l2": 0.01, "clip_norm": 1.0},
    {"optimizer": {"name": "rmsprop"}, "schedule": {"name": "exponential"}, "batch_size": 1},
]


@pytest.mark.parametrize("extra", RESUME_CASES)
def test_resume_is_bit_identical(blobs, extra):
    X, y = blobs
    spec = {"epochs": 6, "batch_size": 16, **extra}
    checkpoints = {}

    def keep(progress):
        checkpoints[progress.epoch] = progress.checkpoint()

    full, history = fit(X, y, {"layers": [{"units": 6}]}, spec, on_epoch=keep)
    for k in sorted(checkpoints)[:-1]:
        seen: list[int] = []
        resumed, h2 = fit(
            X, y, {"layers": [{"units": 6}]}, spec, resume=checkpoints[k], on_epoch=seen_by(seen)
        )
        assert seen == [row["epoch"] for row in history[k:]]
        assert strip_seconds(h2) == strip_seconds(history)
        for (Wa, ba, _), (Wb, bb, _) in zip(full.layers, resumed.layers, strict=True):
            np.testing.assert_array_equal(Wa, Wb)
            np.testing.assert_array_equal(ba, bb)


def seen_by(seen: list[int]):
    return lambda progress: seen.append(progress.epoch)


def test_stop_returns_after_the_epoch(blobs):
    X, y = blobs

    def cancel(progress):
        assert progress.epochs == 10
        if progress.epoch == 2:
            progress.stop()

    _, history = fit(X, y, {"layers": []}, {"epochs": 10}, on_epoch=cancel)
    assert len(history) == 2


def test_checkpoint_must_match_the_run(blobs):
    X, y = blobs
    saved = []
    fit(
        X,
        y,
        {"layers": [{"units": 3}]},
        {"epochs": 2},
        on_epoch=lambda p: saved.append(p.checkpoint()),
    )
    with pytest.raises(CheckpointMismatch, match="does not match"):
        fit(X, y, {"layers": [{"units": 4}]}, {"epochs": 2}, resume=saved[0])
    with pytest.raises(CheckpointMismatch, match="does not match"):
        fit(X + 1, y, {"layers": [{"units": 3}]}, {"epochs": 2}, resume=saved[0])
    with pytest.raises(CheckpointMismatch, match="corrupt"):
        fit(X, y, {"layers": [{"units": 3}]}, {"epochs": 2}, resume=b"not a checkpoint")


def test_early_stopping_restores_the_best_weights(blobs):
    X, y = blobs
    losses, params = {}, {}

    def snapshot(progress):
        losses[progress.epoch] = progress.metrics["val_loss"]
        with np.load(io.BytesIO(progress.checkpoint())) as saved:
            params[progress.epoch] = saved["params"]

    model, history = fit(
        X,
        y,
        {"layers": [{"units": 32}]},
        {
            "epochs": 200,
            "optimizer": {"name": "sgd", "learning_rate": 2.0},
            "validation_fraction": 0.3,
            "early_stopping": {"patience": 3},
        },
        on_epoch=snapshot,
    )
    assert len(history) < 200
    best = min(losses, key=losses.get)
    assert best == len(history) - 3
    flat = np.concatenate([W.ravel() for W, _, _ in model.layers] + [b for _, b, _ in model.layers])
    np.testing.assert_array_equal(flat, params[best])


def test_divergence_names_the_epoch_and_the_learning_rate(linear_data):
    X, y = linear_data
    with pytest.raises(ValueError) as caught:
        fit(
            X,
            y * 1e3,
            {"layers": [{"units": 8}]},
            {"epochs": 5, "optimizer": {"name": "sgd", "learning_rate": 1e6}},
        )
    message = str(caught.value)
    assert message.startswith("Training diverged at epoch 1:")
    assert "Lower the learning rate (now 1000000.0)" in message


def test_fit_validates_before_work(blobs):
    X, y = blobs
    with pytest.raises(SpecError):
        fit(X, y, {"layers": [{"units": 0}]}, {"epochs": 1})
    with pytest.raises(SpecError, match="only one class"):
        fit(X, ["a"] * len(X), {"layers": []}, {"epochs": 1}, task="classification")
    with pytest.raises(InputError, match="target"):
        fit(X, y[:-1], {"layers": []}, {"epochs": 1})
    with pytest.raises(InputError, match="no target value") as caught:
        fit(X[:3], ["a", None, "b"], {"layers": []}, {"epochs": 1})
    assert caught.value.row == 1


def test_labels_keep_their_type(blobs):
    X, y = blobs
    for labels in (y, (y == "a"), np.where(y == "a", 7, 3), np.where(y == "a", 2.5, -1.0)):
        model, _ = fit(X, labels, {"layers": []}, {"epochs": 2}, task="classification")
        assert model.predict(X).dtype == np.asarray(labels).dtype
        assert all(type(c) in (str, bool, int, float) for c in model.classes)


def test_stratified_validation_split():
    from service.engine.batches import split_rows

    labels = np.array([0] * 90 + [1] * 10)
    train, val = split_rows(np.random.default_rng(0), 100, 0.2, labels)
    assert len(val) == 20 and (labels[val] == 1).sum() == 2
    assert len(np.intersect1d(train, val)) == 0 and len(train) + len(val) == 100


@pytest.mark.parametrize(
    "activation", ["step", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "linear"]
)
@pytest.mark.parametrize("init", ["small_random", "glorot", "he", "fan_in_uniform"])
def test_every_activation_and_init_trains(blobs, activation, init):
    X, y = blobs
    _, history = fit(
        X,
        y,
        {"layers": [{"units": 8, "activation": activation}], "init": init},
        {"epochs": 20, "optimizer": {"name": "adam", "learning_rate": 0.02}},
    )
    assert history[-1]["train_loss"] < history[0]["train_loss"]


def test_checkpoints_are_cheap_on_small_networks(blobs):
    import time

    X, y = blobs
    spent = []

    def take(progress):
        start = time.perf_counter()
        progress.checkpoint()
        spent.append(time.perf_counter() - start)

    fit(X, y, {"layers": [{"units": 16}]}, {"epochs": 5}, on_epoch=take)
    assert min(spent) < 0.01


def test_data_frames_are_read_by_column():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"size": [1.0, 2.0, None, 4.0] * 10, "colour": ["r", "g", "b", None] * 10})
    model, _ = fit(frame, [0, 1, 0, 1] * 10, {"layers": []}, {"epochs": 2})
    assert model.feature_names == ["size", "colour"]
    assert model.features[1]["kind"] == "categorical"
    assert model.predict(frame.head(2)).shape == (2,)


def test_fast_accuracy_count_matches_argmax(rng):
    from service.engine.activations import apply
    from service.engine.batches import count_correct

    out = apply("softmax", rng.normal(size=(500, 7)))
    Y = np.eye(7)[rng.integers(0, 7, 500)]
    assert count_correct(out, Y, softmax=True) == count_correct(out, Y)


def test_divergence_of_saturating_units_is_caught_though_the_loss_stays_finite(blobs):
    X, y = blobs
    with pytest.raises(ValueError) as caught:
        fit(
            X,
            y,
            {"layers": [{"units": 8, "activation": "tanh"}]},
            {"epochs": 5, "optimizer": {"name": "sgd", "learning_rate": 1e6}},
        )
    message = str(caught.value)
    assert message.startswith("Training diverged at epoch 1: the loss grew to")
    assert "Lower the learning rate (now 1000000.0)" in message
