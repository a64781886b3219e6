"""Class weights: the weights, the weighted loss and its gradient, and what they change."""

from __future__ import annotations

import numpy as np
import pytest

from service.engine import SpecError, fit, validate_spec
from service.engine.class_weights import class_weights
from service.engine.losses import LOSSES
from service.engine.network import Network
from service.engine.targets import encode_labels
from tests.engine.test_dropout import numeric_gradient, relative_error
from tests.engine.test_training import strip_seconds


def test_balanced_weights_are_n_over_k_times_the_class_count():
    classes, labels = encode_labels([1, 1, 1, 1, 0, 0])
    assert classes == [0, 1]
    np.testing.assert_allclose(class_weights("balanced", classes, labels), [1.5, 0.75])
    classes, labels = encode_labels(["b", "a", "c", "c"])
    np.testing.assert_allclose(class_weights("balanced", classes, labels), [4 / 3, 4 / 3, 2 / 3])


def test_a_mapping_weighs_named_classes_and_leaves_the_rest_at_one():
    classes, labels = encode_labels(np.array([0.0, 1.0, 2.0, 1.0]))
    assert class_weights({"1": 3.0, "2.0": 0.5}, classes, labels).tolist() == [1.0, 3.0, 0.5]
    assert class_weights(None, classes, labels) is None
    with pytest.raises(SpecError, match="'7', which is not a class"):
        class_weights({"7": 2.0}, classes, labels)
    with pytest.raises(SpecError, match="twice"):
        class_weights({"1": 2.0, "1.0": 3.0}, classes, labels)
    flags, index = encode_labels([True, False, True])
    assert class_weights({"true": 2.0}, flags, index).tolist() == [1.0, 2.0]


def make_net(sizes, acts, loss, weights, dropout=None, seed=0):
    rng = np.random.default_rng(seed)
    net = Network(sizes, acts, loss, np.float64, dropout=dropout, class_weight=weights)
    net.initialize(rng, "glorot")
    net.params[net.n_weights :] = rng.normal(scale=0.1, size=net.n_params - net.n_weights)
    return net, rng


@pytest.mark.parametrize(
    ("output", "loss", "n_out"),
    [
        ("softmax", "cross_entropy", 3),
        ("sigmoid", "binary_cross_entropy", 1),
        ("sigmoid", "mse", 3),
        ("linear", "mae", 3),
    ],
)
@pytest.mark.parametrize("dropout", [None, [0.2, 0.5]])
def test_the_weighted_gradient_matches_finite_differences(output, loss, n_out, dropout):
    weights = np.array([0.5, 2.0]) if n_out == 1 else np.array([3.0, 0.25, 1.0])
    net, rng = make_net([4, 5, n_out], ["tanh", output], loss, weights, dropout)
    X = rng.normal(size=(8, 4))
    Y = rng.integers(0, 2, (8, 1)).astype(float) if n_out == 1 else np.eye(3)[rng.integers(0, 3, 8)]
    buf = net.buffers(8)
    net.loss_and_grad(X, Y, buf, l2=0.05, rng=np.random.default_rng(9))
    analytic = net.grad.copy()
    masks = buf if dropout else None
    numeric = numeric_gradient(net, lambda: net.objective(X, Y, 0.05, masks=masks))
    assert relative_error(analytic, numeric) < 1e-6


def test_the_batch_loss_is_the_weighted_mean_of_the_rows():
    weights = np.array([3.0, 0.25, 1.0])
    net, rng = make_net([4, 3], ["softmax"], "cross_entropy", weights)
    X, labels = rng.normal(size=(10, 4)), rng.integers(0, 3, 10)
    Y = np.eye(3)[labels]
    buf = net.buffers(10)
    loss = net.loss_and_grad(X, Y, buf)
    z = X @ net.W[0] + net.b[0]
    rows = np.log(np.exp(z).sum(axis=1)) - z[np.arange(10), labels]
    w = weights[labels]
    assert loss == pytest.approx(float(w @ rows / w.sum()), rel=1e-12)
    assert buf.weight_total == pytest.approx(w.sum())
    assert LOSSES["cross_entropy"].rows(buf.a[0], buf.z[0], Y).mean() == pytest.approx(
        LOSSES["cross_entropy"].value(buf.a[0], buf.z[0], Y)
    )


def test_only_the_ratios_of_the_weights_matter(blobs):
    X, y = blobs
    spec = {"epochs": 4, "batch_size": 16, "dtype": "float64"}
    net = {"layers": [{"units": 5}]}
    _, plain = fit(X, y, net, spec)
    _, ones = fit(X, y, net, {**spec, "class_weight": {"a": 1, "b": 1, "c": 1}})
    _, double = fit(X, y, net, {**spec, "class_weight": {"a": 2, "b": 2, "c": 2}})
    _, tilted = fit(X, y, net, {**spec, "class_weight": {"a": 5}})
    for a, b in [(plain, ones), (plain, double)]:
        for key in ("train_loss", "val_loss"):
            np.testing.assert_allclose([r[key] for r in a], [r[key] for r in b], rtol=1e-9)
    assert strip_seconds(tilted) != strip_seconds(plain)


def imbalanced(n: int, seed: int):
    """5% positives that overlap the negatives: an unweighted fit mostly predicts 'no'."""
    rng = np.random.default_rng(seed)
    y = np.where(rng.random(n) < 0.05, "yes", "no")
    X = rng.normal(size=(n, 3)) + np.where(y == "yes", 1.2, 0.0)[:, None] * [1, 1, 0]
    return X, y


def minority_recall(model, X, y) -> float:
    return float((model.predict(X[y == "yes"]) == "yes").mean())


def test_balanced_weights_raise_minority_recall():
    X, y = imbalanced(2000, seed=0)
    X_test, y_test = imbalanced(4000, seed=1)
    network = {"layers": [{"units": 8, "activation": "tanh"}]}
    spec = {"epochs": 15, "batch_size": 64, "optimizer": {"name": "adam", "learning_rate": 0.01}}
    plain, _ = fit(X, y, network, spec)
    balanced, history = fit(X, y, network, {**spec, "class_weight": "balanced"})
    before = minority_recall(plain, X_test, y_test)
    after = minority_recall(balanced, X_test, y_test)
    assert after > before + 0.3, (before, after)
    assert after > 0.6
    assert history[-1]["val_loss"] is not None


def check(training: dict, task: str = "classification"):
    return validate_spec({}, training, task=task, n_features=3, n_classes=2)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ({"yes": 0}, "class 'yes' the weight 0"),
        ({"yes": -1.5}, "positive"),
        ({"yes": float("inf")}, "positive"),
        ({"yes": "2"}, "positive"),
        ({"yes": True}, "positive"),
        ("inverse", '"balanced"'),
        ([1, 2], "an object"),
    ],
)
def test_bad_class_weights_are_refused(value, words):
    with pytest.raises(SpecError, match=words) as caught:
        check({"class_weight": value})
    assert caught.value.field == "training.class_weight"


def test_class_weights_are_for_classification_only():
    with pytest.raises(SpecError, match="regression") as caught:
        check({"class_weight": "balanced"}, task="regression")
    assert caught.value.field == "training.class_weight"
    _, training = check({"class_weight": None}, task="regression")
    assert "class_weight" not in training


def test_class_weights_normalize():
    _, training = check({"class_weight": {1: 2, "no": 0.5}})
    assert training["class_weight"] == {"1": 2.0, "no": 0.5}
    assert check(training)[1] == training
    assert check({"class_weight": "balanced"})[1]["class_weight"] == "balanced"
    assert "class_weight" not in check({})[1]


def test_fit_refuses_a_label_that_is_not_a_class(blobs):
    X, y = blobs
    with pytest.raises(SpecError, match="'d', which is not a class.*'a', 'b', 'c'"):
        fit(X, y, {"layers": [{"units": 3}]}, {"epochs": 1, "class_weight": {"d": 2}})
