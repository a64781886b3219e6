"""Scikit-learn's bundled data sets: held-out accuracy and a reference regressor."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPRegressor
from sklearn.preprocessing import StandardScaler

from service.engine import fit

pytestmark = pytest.mark.slow


def split(loader, stratify=True):
    X, y = loader(return_X_y=True)
    return train_test_split(X, y, test_size=0.25, random_state=0, stratify=y if stratify else None)


def test_digits_one_hidden_layer_of_64():
    Xtr, Xte, ytr, yte = split(load_digits)
    model, history = fit(
        Xtr,
        ytr,
        {"layers": [{"units": 64, "activation": "relu"}]},
        {"epochs": 30, "batch_size": 32, "optimizer": {"name": "adam", "learning_rate": 0.001}},
    )
    assert len(history) <= 30
    assert (model.predict(Xte) == yte).mean() >= 0.96


def test_breast_cancer():
    Xtr, Xte, ytr, yte = split(load_breast_cancer)
    model, _ = fit(
        Xtr,
        ytr,
        {"layers": [{"units": 32, "activation": "relu"}]},
        {"epochs": 40, "batch_size": 32, "optimizer": {"name": "adam", "learning_rate": 0.001}},
    )
    assert (model.predict(Xte) == yte).mean() >= 0.95


def test_breast_cancer_with_a_single_sigmoid_unit_and_isgd():
    Xtr, Xte, ytr, yte = split(load_breast_cancer)
    model, _ = fit(
        Xtr,
        ytr,
        {
            "layers": [{"units": 16, "activation": "tanh"}],
            "output_activation": "sigmoid",
            "loss": "binary_cross_entropy",
        },
        {"epochs": 30, "batch_size": 16, "optimizer": {"name": "isgd", "learning_rate": 0.05}},
    )
    assert model.layers[-1][0].shape[1] == 1
    assert (model.predict(Xte) == yte).mean() >= 0.95


def test_diabetes_matches_scikit_learns_mlp_regressor():
    Xtr, Xte, ytr, yte = split(load_diabetes, stratify=False)
    setup = {"hidden": 32, "rate": 0.01, "batch": 32, "epochs": 100}
    model, _ = fit(
        Xtr,
        ytr,
        {"layers": [{"units": setup["hidden"], "activation": "relu"}]},
        {
            "epochs": setup["epochs"],
            "batch_size": setup["batch"],
            "validation_fraction": 0.0,
            "optimizer": {"name": "adam", "learning_rate": setup["rate"]},
            "l2": 0.0,
        },
        task="regression",
    )
    ours = r2_score(yte, model.predict(Xte))
    scaler = StandardScaler().fit(Xtr)
    reference = MLPRegressor(
        hidden_layer_sizes=(setup["hidden"],),
        activation="relu",
        solver="adam",
        learning_rate_init=setup["rate"],
        batch_size=setup["batch"],
        max_iter=setup["epochs"],
        alpha=0.0,
        random_state=0,
        n_iter_no_change=setup["epochs"],
        tol=0.0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference.fit(scaler.transform(Xtr), ytr)
    theirs = r2_score(yte, reference.predict(scaler.transform(Xte)))
    assert abs(ours - theirs) <= 0.05, (ours, theirs)
    assert ours > 0.2
    assert np.isfinite(ours)
