"""Dropout: the masks, their gradients, identity at prediction, and bit-identical resumes."""

from __future__ import annotations

import numpy as np
import pytest

from service.engine import SpecError, fit, validate_spec
from service.engine.model import Model
from service.engine.network import Network
from service.engine.sequence_net import SequenceNetwork
from tests.engine.test_training import seen_by, strip_seconds

DROPPY = {"layers": [{"units": 8, "activation": "tanh", "dropout": 0.5}], "input_dropout": 0.2}


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-12))


def numeric_gradient(net, objective) -> np.ndarray:
    out, eps = np.empty(net.n_params), 1e-6
    for k in range(net.n_params):
        keep = net.params[k]
        net.params[k] = keep + eps
        up = objective()
        net.params[k] = keep - eps
        down = objective()
        net.params[k] = keep
        out[k] = (up - down) / (2 * eps)
    return out


@pytest.mark.parametrize(
    ("output", "loss"),
    [("softmax", "cross_entropy"), ("linear", "mse"), ("tanh", "huber")],
)
def test_gradient_under_a_fixed_dropout_mask(output, loss):
    rng = np.random.default_rng(0)
    net = Network([4, 6, 5, 3], ["tanh", "elu", output], loss, np.float64,
                  dropout=[0.25, 0.5, 0.3])  # fmt: skip
    net.initialize(rng, "glorot")
    net.params[net.n_weights :] = rng.normal(scale=0.1, size=net.n_params - net.n_weights)
    X = rng.normal(size=(9, 4))
    Y = np.eye(3)[rng.integers(0, 3, 9)] if loss == "cross_entropy" else rng.normal(size=(9, 3))
    buf = net.buffers(9)
    net.loss_and_grad(X, Y, buf, l2=0.1, rng=np.random.default_rng(5))
    analytic = net.grad.copy()
    assert all(not m.all() for m in buf.mask)  # the masks do drop something here
    numeric = numeric_gradient(net, lambda: net.objective(X, Y, 0.1, masks=buf))
    assert relative_error(analytic, numeric) < 1e-6


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_recurrent_input_dropout_gradient_under_a_fixed_mask(kind):
    T, n, d = 5, 4, 3
    rng = np.random.default_rng(1)
    layers = [{"type": kind, "units": 4}, {"type": "gru", "units": 3}]
    net = SequenceNetwork(d, T, layers, [3, 2], ["tanh", "linear"], "mse", np.float64,
                          dropout=[0.3, 0.4], dense_dropout=[0.0, 0.5])  # fmt: skip
    net.initialize(rng, "glorot")
    net.params += rng.normal(scale=0.3, size=net.n_params)
    X, Y = rng.normal(size=(T, n, d)), rng.normal(size=(n, 2))
    lengths = np.array([5, 4, 4, 2])
    buf = net.buffers(n)
    buf.set_lengths(lengths)
    net.loss_and_grad(X, Y, buf, rng=np.random.default_rng(2))
    analytic = net.grad.copy()
    assert not buf.mask[0].all() and not buf.mask[1].all()
    numeric = numeric_gradient(net, lambda: net.objective(X, Y, lengths, masks=buf))
    assert relative_error(analytic, numeric) < 1e-6


@pytest.mark.parametrize(("p", "dtype"), [(0.1, np.float32), (0.5, np.float64), (0.8, np.float32)])
def test_training_zeroes_about_p_of_the_units(p, dtype):
    rng = np.random.default_rng(3)
    net = Network([20, 200, 2], ["tanh", "linear"], "mse", dtype, dropout=[0.0, p])
    net.initialize(rng, "glorot")
    X, Y = rng.normal(size=(500, 20)).astype(dtype), np.zeros((500, 2), dtype)
    buf = net.buffers(500)
    net.loss_and_grad(X, Y, buf, rng=rng)
    dropped = buf.dropped[1]  # the hidden layer's outputs as the output layer read them
    kept = dropped != 0  # tanh of these inputs is never exactly 0: zeros come from the mask
    # 100,000 units: the zeroed fraction is within 5 standard deviations of p
    assert abs((1 - kept.mean()) - p) < 5 * np.sqrt(p * (1 - p) / kept.size)
    np.testing.assert_allclose(dropped[kept], buf.a[0][kept] / (1 - p), rtol=1e-6)
    assert buf.mask[0] is None  # no rate, no mask


def test_a_recurrent_mask_drops_the_same_inputs_at_every_step():
    rng = np.random.default_rng(4)
    net = SequenceNetwork(6, 7, [{"type": "gru", "units": 5}], [2], ["linear"], "mse",
                          np.float64, dropout=[0.5])  # fmt: skip
    net.initialize(rng, "glorot")
    X = rng.normal(size=(7, 300, 6))
    buf = net.buffers(300)
    net.loss_and_grad(X, np.zeros((300, 2)), buf, rng=rng)
    zero = buf.dropped[0] == 0
    assert (zero == zero[0]).all()  # one mask per sequence, shared by the steps
    assert abs(zero[0].mean() - 0.5) < 5 * np.sqrt(0.25 / zero[0].size)


def blobs_fit(X, y, network, **training):
    spec = {"epochs": 6, "batch_size": 16, "seed": 3, **training}
    return fit(X, y, network, spec)


def test_prediction_is_the_plain_forward_pass(blobs):
    X, y = blobs
    # 30 epochs: after 6, dropout at 0.5 on 8 units had learnt for some seeds only
    model, history = blobs_fit(X, y, DROPPY, epochs=30)
    assert history[-1]["val_accuracy"] > 0.8  # dropout still learns
    first, second = model.predict_proba(X[:1]), model.predict_proba(X[:1])
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(model.predict_proba(X[:40]), model.predict_proba(X[:40]))
    # identity: the stored weights, unscaled, give the predictions
    x = model._inputs(X[:40]).astype(np.float64)
    for W, b, name in model.layers:
        x = x @ W + b
        x = np.tanh(x) if name == "tanh" else x
    expected = np.exp(x - x.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(model.predict_proba(X[:40]), expected, rtol=1e-4, atol=1e-6)
    stored = Model.from_bytes(model.to_bytes())
    assert stored.network["layers"][0]["dropout"] == 0.5
    np.testing.assert_array_equal(stored.predict_proba(X[:40]), model.predict_proba(X[:40]))


def test_dropout_changes_training_and_a_rate_of_zero_does_not(blobs):
    X, y = blobs
    _, plain = blobs_fit(X, y, {"layers": [{"units": 8, "activation": "tanh"}]})
    _, zero = blobs_fit(X, y, {"layers": [{"units": 8, "activation": "tanh", "dropout": 0}]})
    _, dropped = blobs_fit(X, y, DROPPY)
    assert strip_seconds(zero) == strip_seconds(plain)
    assert dropped[-1]["train_loss"] != plain[-1]["train_loss"]
    # the validation loss is measured without dropout: lower than the dropped training loss
    assert dropped[-1]["val_loss"] < dropped[-1]["train_loss"]


def keep_in(checkpoints: dict):
    return lambda progress: checkpoints.update({progress.epoch: progress.checkpoint()})


@pytest.mark.parametrize(
    "extra",
    [
        {"optimizer": {"name": "adam"}, "class_weight": "balanced"},
        {"optimizer": {"name": "isgd"}, "early_stopping": {"patience": 3}},
        {"optimizer": {"name": "asgd", "t0": 5}, "class_weight": {"a": 3, "c": 0.5}},
    ],
)
def test_resume_with_dropout_is_bit_identical(blobs, extra):
    X, y = blobs
    spec = {"epochs": 5, "batch_size": 16, **extra}
    checkpoints = {}
    full, history = fit(X, y, DROPPY, spec, on_epoch=keep_in(checkpoints))
    for k in (1, 3):
        seen: list[int] = []
        resumed, again = fit(X, y, DROPPY, spec, resume=checkpoints[k], on_epoch=seen_by(seen))
        assert seen == [2, 3, 4, 5] if k == 1 else seen == [4, 5]
        assert strip_seconds(again) == strip_seconds(history)
        for (Wa, ba, _), (Wb, bb, _) in zip(full.layers, resumed.layers, strict=True):
            np.testing.assert_array_equal(Wa, Wb)
            np.testing.assert_array_equal(ba, bb)


def test_resume_of_a_recurrent_network_with_dropout_is_bit_identical():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(60, 5, 2))
    y = np.where(X[:, :, 0].sum(axis=1) > 0, "up", "down")
    network = {"layers": [{"type": "lstm", "units": 4, "dropout": 0.3},
                          {"units": 3, "activation": "relu", "dropout": 0.4}]}  # fmt: skip
    spec = {"epochs": 3, "batch_size": 8, "class_weight": "balanced"}
    saved = {}
    full, history = fit(X, y, network, spec, on_epoch=keep_in(saved))
    resumed, again = fit(X, y, network, spec, resume=saved[1])
    assert strip_seconds(again) == strip_seconds(history)
    for (Wa, ba, _), (Wb, bb, _) in zip(full.layers, resumed.layers, strict=True):
        np.testing.assert_array_equal(Wa, Wb)
        np.testing.assert_array_equal(ba, bb)
    np.testing.assert_array_equal(full.predict(X[:3]), full.predict(X[:3]))


def check(network: dict, task: str = "classification"):
    return validate_spec(network, {}, task=task, n_features=3, n_classes=2)


@pytest.mark.parametrize("rate", [1, 1.0, -0.1, 2, "0.5", True, float("nan")])
@pytest.mark.parametrize(
    ("network", "field"),
    [
        ({"layers": [{"units": 3, "dropout": None}]}, "network.layers[0].dropout"),
        ({"layers": [{"units": 3}, {"units": 2, "dropout": None}]}, "network.layers[1].dropout"),
        ({"layers": [{"type": "gru", "units": 3, "dropout": None}]}, "network.layers[0].dropout"),
        ({"layers": [], "input_dropout": None}, "network.input_dropout"),
    ],
)
def test_a_rate_outside_0_to_1_names_its_field(rate, network, field):
    bad = {**network, "layers": [dict(x) for x in network["layers"]]}
    if "input_dropout" in bad:
        bad["input_dropout"] = rate
    else:
        bad["layers"][-1]["dropout"] = rate
    with pytest.raises(SpecError, match="from 0 up to") as caught:
        check(bad)
    assert caught.value.field == field


def test_rates_normalize_only_when_set():
    net, _ = check({"layers": [{"units": 3, "dropout": 0}, {"units": 2}], "input_dropout": 0.5})
    assert net["layers"][0]["dropout"] == 0.0 and "dropout" not in net["layers"][1]
    assert net["input_dropout"] == 0.5
    assert check(net) == check(net)  # a normalized spec validates to itself
    plain, _ = check({"layers": [{"units": 3}]})
    assert "input_dropout" not in plain and "dropout" not in plain["layers"][0]


def test_input_dropout_and_a_first_recurrent_rate_are_not_both_allowed():
    layers = [{"type": "lstm", "units": 3, "dropout": 0.2}]
    with pytest.raises(SpecError, match="set only one") as caught:
        check({"layers": layers, "input_dropout": 0.2})
    assert caught.value.field == "network.input_dropout"
    net, _ = check({"layers": [{"type": "lstm", "units": 3}], "input_dropout": 0.2})
    assert net["input_dropout"] == 0.2
