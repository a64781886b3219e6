"""The trained model: attributes, prediction, and safe storage."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from service.engine import CorruptModel, InputError, Model, fit


@pytest.fixture(scope="module")
def model():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(120, 3))
    y = np.where(X[:, 0] + X[:, 1] > 0, "up", "down")
    trained, _ = fit(
        X,
        y,
        {"layers": [{"units": 5, "activation": "tanh"}, {"units": 4}]},
        {"epochs": 20, "optimizer": {"name": "adam", "learning_rate": 0.05}},
    )
    return trained, X


def archive(arrays: dict, **kw) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays, **kw)
    return buffer.getvalue()


def contents(data: bytes) -> dict:
    with np.load(io.BytesIO(data)) as saved:
        return {name: saved[name] for name in saved.files}


def test_attributes(model):
    m, X = model
    assert m.task == "classification" and m.classes == ["down", "up"]
    assert m.feature_names == ["x0", "x1", "x2"] and m.n_inputs == 3
    assert [(W.shape, b.shape, a) for W, b, a in m.layers] == [
        ((3, 5), (5,), "tanh"),
        ((5, 4), (4,), "relu"),
        ((4, 2), (2,), "softmax"),
    ]
    assert m.scale.shape == m.offset.shape == m.fill.shape == m.mean.shape == (3,)
    assert m.network["loss"] == "cross_entropy" and m.training["epochs"] == 20


def test_predictions(model):
    m, X = model
    proba = m.predict_proba(X)
    assert proba.shape == (120, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)
    assert (m.predict(X) == np.where(X[:, 0] + X[:, 1] > 0, "up", "down")).mean() > 0.9
    np.testing.assert_allclose(m.predict_proba(X[0].tolist()), proba[:1], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(m.predict_proba([X[0].tolist()]), proba[:1], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(
        m.predict_proba(X[:2].astype(object)), proba[:2], rtol=1e-6, atol=1e-9
    )


def test_prediction_input_errors(model):
    m, _ = model
    with pytest.raises(InputError, match="3 features"):
        m.predict([[1.0, 2.0]])
    with pytest.raises(InputError) as caught:
        m.predict([[1.0, 2.0, 3.0], [1.0, "x", 3.0]])
    assert (caught.value.row, caught.value.feature) == (1, "x1")
    with pytest.raises(InputError) as caught:
        m.predict(np.array([[1.0, 2.0, 3.0], [1.0, 2.0, -np.inf]]))
    assert (caught.value.row, caught.value.feature) == (1, "x2")
    with pytest.raises(InputError, match="no rows"):
        m.predict([])
    assert m.predict([[None, 2.0, 3.0]]).shape == (1,)


def test_round_trip_is_bit_exact(model):
    m, X = model
    data = m.to_bytes()
    back = Model.from_bytes(data)
    for (Wa, ba, aa), (Wb, bb, ab) in zip(m.layers, back.layers, strict=True):
        assert aa == ab and Wa.dtype == Wb.dtype
        np.testing.assert_array_equal(Wa, Wb)
        np.testing.assert_array_equal(ba, bb)
    np.testing.assert_array_equal(back.predict_proba(X), m.predict_proba(X))
    assert back.classes == m.classes and back.features == m.features
    assert back.to_bytes() == data
    assert set(contents(data)) >= {"W0", "b0", "W2", "b2", "mean", "scale", "offset"}


def test_round_trip_with_categories_and_regression():
    X = [[1.0, "a"], [2.0, "b"], [3.0, None], [4.0, "a"]] * 5
    y = [1.0, 2.0, 3.0, 4.5] * 5
    m, _ = fit(
        X, y, {"layers": [{"units": 3}]}, {"epochs": 2, "dtype": "float64"}, task="regression"
    )
    back = Model.from_bytes(m.to_bytes())
    np.testing.assert_array_equal(back.predict(X), m.predict(X))
    assert back.features[1]["categories"] == ["a", "b"]


@pytest.mark.parametrize(
    "mutate",
    [
        lambda a: a.pop("W1"),
        lambda a: a.update(W1=a["W1"][:, :2]),
        lambda a: a.update(b0=a["b0"][:1]),
        lambda a: a.update(scale=a["scale"][:2]),
        lambda a: a.update(W0=a["W0"].astype(np.int64)),
        lambda a: a.update(extra=np.zeros(2)),
        lambda a: a.update(__meta__=np.frombuffer(b"{not json", np.uint8)),
        lambda a: a.update(__meta__=np.frombuffer(json.dumps({"format": "x"}).encode(), np.uint8)),
    ],
)
def test_tampered_models_are_refused(model, mutate):
    arrays = contents(model[0].to_bytes())
    mutate(arrays)
    with pytest.raises(
        CorruptModel, match="^The stored model is corrupt or not a Neuronal model: "
    ):
        Model.from_bytes(archive(arrays))


def test_tampered_metadata_is_refused(model):
    arrays = contents(model[0].to_bytes())
    meta = json.loads(arrays["__meta__"].tobytes())
    meta["network"]["layers"][0]["activation"] = "relux"
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    with pytest.raises(ValueError, match="corrupt"):
        Model.from_bytes(archive(arrays))


@pytest.mark.parametrize("data", [b"", b"garbage", b"PK\x03\x04broken", "text"])
def test_garbage_is_refused(data):
    with pytest.raises(ValueError, match="corrupt"):
        Model.from_bytes(data)


def test_pickled_arrays_are_never_loaded(model):
    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('pickle ran')",))

    arrays = contents(model[0].to_bytes())
    evil = np.empty(1, dtype=object)
    evil[0] = Boom()
    arrays["W0"] = evil
    with pytest.raises(ValueError, match="corrupt"):
        Model.from_bytes(archive(arrays))
