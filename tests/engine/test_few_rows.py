"""The forward pass of a few rows: the same answers as the general path, from its buffers."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from service.engine import fit
from service.engine.network import predict_forward

NETWORKS = {
    "relu-softmax": ({"layers": [{"units": 16}, {"units": 8}]}, "classification"),
    "tanh-sigmoid": (
        {"layers": [{"units": 6, "activation": "tanh"}], "output_activation": "sigmoid"},
        "classification",
    ),
    "elu-linear": ({"layers": [{"units": 7, "activation": "elu"}]}, "regression"),
    "no hidden layer": ({"layers": []}, "classification"),
}


def trained(name: str, dtype: str = "float32"):
    network, task = NETWORKS[name]
    rng = np.random.default_rng(3)
    X = rng.normal(3.0, 2.0, size=(150, 5))  # off-centre, so the folded offset matters
    y = (X[:, 0] > 3).astype(int) + (X[:, 1] > 3) if task == "classification" else X[:, 2]
    if name == "tanh-sigmoid":
        y = X[:, 0] > 3
    model, _ = fit(X, y, network, {"epochs": 3, "dtype": dtype}, task=task)
    return model, rng.normal(3.0, 2.0, size=(40, 5))


def general(model, X: np.ndarray) -> np.ndarray:
    """Outputs through the preprocessing and the general forward pass, not the folded one."""
    return predict_forward(model.layers, model._numeric_inputs(X)).astype(np.float64)


@pytest.mark.parametrize("name", NETWORKS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_one_and_a_few_rows_answer_as_the_general_path(name, dtype):
    model, X = trained(name, dtype)
    want = general(model, X)
    tolerance = 1e-5 if dtype == "float32" else 1e-12
    cases = [
        (X[:1], want[:1]),
        (X[:2], want[:2]),
        (X[5:17], want[5:17]),
        (X[:1].tolist(), want[:1]),
        (X[3].tolist(), want[3:4]),  # one flat row
    ]
    for rows, expected in cases:
        got = model._forward(rows, None)
        assert got.dtype == np.float64 and got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=tolerance, atol=tolerance)


def test_answers_are_new_arrays_not_the_buffers():
    model, X = trained("relu-softmax")
    first = model.predict_proba(X[:1])
    again = first.copy()
    model.predict_proba(X[1:2])
    np.testing.assert_array_equal(first, again)
    assert not np.shares_memory(model.predict_proba(X[:1]), model.predict_proba(X[:1]))


def test_softmax_of_one_row_sums_to_one_and_keeps_nan():
    model, X = trained("relu-softmax")
    proba = model.predict_proba(X[0].tolist())
    np.testing.assert_allclose(proba.sum(), 1.0, rtol=1e-12)
    np.testing.assert_allclose(proba, general(model, X[:1]), rtol=1e-5, atol=1e-7)
    from service.engine.few_rows import _softmax_row

    z = np.array([[1.0, np.nan, 3.0]])
    out = np.empty_like(z)
    _softmax_row(z, out, np.ones_like(z))
    assert np.isnan(out).all()  # as the general softmax: NaN in, NaN out


def test_missing_infinite_and_huge_values_take_the_general_path():
    model, X = trained("elu-linear")
    for bad in (np.nan, np.inf, 1e200):
        row = X[:1].copy()
        row[0, 2] = bad
        assert model._folded_forward(row) is None


def test_threads_predict_side_by_side():
    model, X = trained("relu-softmax")
    want = [general(model, X[i : i + 1]) for i in range(len(X))]
    failures: list[int] = []

    def run() -> None:
        for _ in range(50):
            for i in range(len(X)):
                got = model.predict_proba(X[i : i + 1])
                if not np.allclose(got, want[i], rtol=1e-5, atol=1e-7):
                    failures.append(i)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
