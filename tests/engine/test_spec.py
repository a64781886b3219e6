"""The rules of the network and training specs, their defaults and their messages."""

from __future__ import annotations

import json

import pytest

from service.engine import LIMITS, SpecError, validate_spec

NET = {"layers": [{"units": 8, "activation": "relu"}]}
TRAIN = {"epochs": 5}


def check(network=None, training=None, task="classification", n_classes=3, **kw):
    return validate_spec(
        NET if network is None else network,
        TRAIN if training is None else training,
        task=task,
        n_features=4,
        n_classes=n_classes,
        **kw,
    )


def test_defaults_are_filled_in():
    net, train = check()
    assert net == {
        "layers": [{"units": 8, "activation": "relu"}],
        "output_activation": "softmax",
        "loss": "cross_entropy",
        "init": "fan_in_uniform",
    }
    assert train == {
        "epochs": 5,
        "batch_size": 32,
        "optimizer": {
            "name": "adam",
            "learning_rate": 0.001,
            "beta1": 0.9,
            "beta2": 0.999,
            "epsilon": 1e-8,
        },
        "shuffle": True,
        "validation_fraction": 0.1,
        "early_stopping": None,
        "l2": 0.0,
        "seed": 0,
        "scaling": "standardize",
        "dtype": "float32",
        "schedule": {"name": "constant"},
        "clip_norm": None,
    }
    json.dumps([net, train])


def test_regression_defaults():
    net, _ = check({"layers": [{"units": 3, "activation": "tanh"}]}, task="regression")
    assert (net["output_activation"], net["loss"], net["init"]) == (
        "linear",
        "mse",
        "fan_in_uniform",
    )


def test_loss_picks_the_output():
    net, _ = check({"layers": [], "loss": "binary_cross_entropy"}, n_classes=2)
    assert net["output_activation"] == "sigmoid"


def test_normalized_specs_are_a_fixed_point():
    full = {
        "epochs": 3,
        "batch_size": "full",
        "optimizer": {"name": "isgd"},
        "early_stopping": {"patience": 2},
        "schedule": {"name": "reduce_on_plateau"},
        "clip_norm": 5,
    }
    once = check(training=full)
    assert check(*once) == once


@pytest.mark.parametrize(
    ("network", "training", "task", "field", "words"),
    [
        (
            {"layers": [{"units": 8, "activation": "relux"}]},
            TRAIN,
            "classification",
            "network.layers[0].activation",
            "choose one of: elu, leaky_relu, linear, relu",
        ),
        ({"layers": [{"units": 0}]}, TRAIN, "classification", "network.layers[0].units", "1 to"),
        ({"layers": [{"units": -3}]}, TRAIN, "classification", "network.layers[0].units", "1 to"),
        ({"layers": [{"units": 2.5}]}, TRAIN, "classification", "network.layers[0].units", "whole"),
        (
            {"layers": [{"units": True}]},
            TRAIN,
            "classification",
            "network.layers[0].units",
            "whole",
        ),
        (
            {"layers": [{"activation": "relu"}]},
            TRAIN,
            "classification",
            "network.layers[0].units",
            "required",
        ),
        ({"layers": [{"units": 5000}]}, TRAIN, "classification", "network.layers[0].units", "4096"),
        ({"layers": [{"units": 2}] * 33}, TRAIN, "classification", "network.layers", "at most 32"),
        (
            {"layers": [{"units": 2, "size": 3}]},
            TRAIN,
            "classification",
            "network.layers[0].size",
            "unknown field",
        ),
        ({"layers": [], "dropout": 0.5}, TRAIN, "classification", "network.dropout", "unknown"),
        ({"layers": "big"}, TRAIN, "classification", "network.layers", "list"),
        ([], TRAIN, "classification", "network", "object"),
        (
            {"layers": [{"units": 3, "activation": "softmax"}]},
            TRAIN,
            "classification",
            "network.layers[0].activation",
            "only be the output",
        ),
        (
            {"layers": [], "output_activation": "softmax"},
            TRAIN,
            "regression",
            "network.output_activation",
            "classification",
        ),
        (
            {"layers": [], "loss": "cross_entropy"},
            TRAIN,
            "regression",
            "network.loss",
            "for regression choose one of: huber, mae, mse",
        ),
        (
            {"layers": [], "loss": "cross_entropy", "output_activation": "sigmoid"},
            TRAIN,
            "classification",
            "network.loss",
            "needs a softmax output",
        ),
        (
            {"layers": [], "output_activation": "relu"},
            TRAIN,
            "classification",
            "network.output_activation",
            "sigmoid, softmax, step",
        ),
        ({"layers": [], "loss": "hinge"}, TRAIN, "classification", "network.loss", "not a loss"),
        ({"layers": [], "init": "zeros"}, TRAIN, "classification", "network.init", "glorot, he"),
        (NET, {"epochs": 0}, "classification", "training.epochs", "1 to 10000"),
        (NET, {"epochs": -1}, "classification", "training.epochs", "1 to 10000"),
        (NET, {"epochs": 10001}, "classification", "training.epochs", "1 to 10000"),
        (NET, {"epochs": "ten"}, "classification", "training.epochs", "whole number"),
        (NET, {"batch_size": 0}, "classification", "training.batch_size", '"full"'),
        (NET, {"batch_size": "half"}, "classification", "training.batch_size", '"full"'),
        (
            NET,
            {"optimizer": {"name": "adamw"}},
            "classification",
            "training.optimizer.name",
            "asgd, isgd, momentum, nesterov, rmsprop, sgd",
        ),
        (
            NET,
            {"optimizer": {"learning_rate": 0.1}},
            "classification",
            "training.optimizer.name",
            "required",
        ),
        (
            NET,
            {"optimizer": {"name": "sgd", "learning_rate": 0}},
            "classification",
            "training.optimizer.learning_rate",
            "(0, inf)",
        ),
        (
            NET,
            {"optimizer": {"name": "sgd", "learning_rate": -1}},
            "classification",
            "training.optimizer.learning_rate",
            "(0, inf)",
        ),
        (
            NET,
            {"optimizer": {"name": "sgd", "beta1": 0.9}},
            "classification",
            "training.optimizer.beta1",
            "sgd takes: learning_rate",
        ),
        (
            NET,
            {"optimizer": {"name": "adam", "beta2": 1.0}},
            "classification",
            "training.optimizer.beta2",
            "[0, 1)",
        ),
        (
            NET,
            {"optimizer": {"name": "momentum", "momentum": "high"}},
            "classification",
            "training.optimizer.momentum",
            "[0, 1)",
        ),
        (
            NET,
            {"optimizer": {"name": "isgd", "iterations": 0}},
            "classification",
            "training.optimizer.iterations",
            "1 to 50",
        ),
        (
            NET,
            {"validation_fraction": 0.9},
            "classification",
            "training.validation_fraction",
            "[0, 0.9)",
        ),
        (
            NET,
            {"validation_fraction": -0.1},
            "classification",
            "training.validation_fraction",
            "[0, 0.9)",
        ),
        (NET, {"shuffle": "yes"}, "classification", "training.shuffle", "true or false"),
        (NET, {"l2": -1}, "classification", "training.l2", "[0, inf)"),
        (NET, {"seed": -1}, "classification", "training.seed", "whole number"),
        (NET, {"scaling": "minmax"}, "classification", "training.scaling", "normalize"),
        (NET, {"dtype": "float16"}, "classification", "training.dtype", "float32, float64"),
        (
            NET,
            {"early_stopping": {"patience": 0}},
            "classification",
            "training.early_stopping.patience",
            "1 to",
        ),
        (
            NET,
            {"early_stopping": {"wait": 3}},
            "classification",
            "training.early_stopping.wait",
            "unknown field",
        ),
        (
            NET,
            {"schedule": {"name": "cosine"}},
            "classification",
            "training.schedule.name",
            "exponential, reduce_on_plateau, step",
        ),
        (
            NET,
            {"schedule": {"name": "step", "gamma": 2}},
            "classification",
            "training.schedule.gamma",
            "(0, 1]",
        ),
        (
            NET,
            {"schedule": {"name": "constant", "gamma": 0.5}},
            "classification",
            "training.schedule.gamma",
            "constant takes: no settings",
        ),
        (NET, {"clip_norm": 0}, "classification", "training.clip_norm", "(0, inf)"),
        (NET, {"learning_rate": 0.1}, "classification", "training.learning_rate", "unknown field"),
        (
            NET,
            {"time_limit_seconds": 60},
            "classification",
            "training.time_limit_seconds",
            "unknown field",
        ),
        (NET, "fast", "classification", "training", "object"),
        (NET, TRAIN, "clustering", "task", "classification, regression"),
    ],
)
def test_invalid_specs_name_the_field(network, training, task, field, words):
    with pytest.raises(SpecError) as caught:
        check(network, training, task=task)
    assert caught.value.field == field
    message = str(caught.value)
    assert words in message
    assert message.endswith(".") and message[0].isupper() or message.startswith(field)


def test_spec_errors_are_value_errors():
    with pytest.raises(ValueError, match="relux"):
        check({"layers": [{"units": 8, "activation": "relux"}]})


def test_exact_activation_message():
    with pytest.raises(SpecError) as caught:
        check({"layers": [{"units": 8, "activation": "relux"}]})
    assert str(caught.value) == (
        "network.layers[0].activation 'relux' is not an activation; choose one of: elu, "
        "leaky_relu, linear, relu, sigmoid, softmax, step, tanh."
    )


def test_one_class_is_refused():
    with pytest.raises(SpecError, match="only one class") as caught:
        check(n_classes=1)
    assert caught.value.field == "task"


def test_batch_size_cannot_exceed_the_rows():
    with pytest.raises(SpecError, match="from 1 to 100"):
        check(training={"batch_size": 101}, n_samples=100)
    assert check(training={"batch_size": 100}, n_samples=100)[1]["batch_size"] == 100


def test_parameter_limit():
    layers = [{"units": 4096}] * 3
    with pytest.raises(SpecError, match="parameters") as caught:
        validate_spec({"layers": layers}, TRAIN, task="regression", n_features=4096)
    assert caught.value.field == "network.layers"
    assert LIMITS["max_parameters"] == 20_000_000
