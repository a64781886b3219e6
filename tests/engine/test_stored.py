"""Loading stored model bytes of either kind."""

from __future__ import annotations

import io

import numpy as np
import pytest

from service.engine import HopfieldModel, Model, fit, load_model
from service.engine.serialization import pack


def test_each_kind_loads_as_itself():
    hopfield = HopfieldModel.store([[1, 0, 1], [0, 1, 1]], {"kind": "hopfield"})
    loaded = load_model(hopfield.to_bytes())
    assert isinstance(loaded, HopfieldModel)
    assert loaded.recall([[1, 0, 0]]).to_dict() == hopfield.recall([[1, 0, 0]]).to_dict()
    X = np.random.default_rng(0).normal(size=(40, 2))
    model, _ = fit(X, X[:, 0] > 0, {"layers": [{"units": 3}]}, {"epochs": 2})
    feedforward = load_model(model.to_bytes())
    assert isinstance(feedforward, Model)
    np.testing.assert_array_equal(feedforward.predict_proba(X), model.predict_proba(X))


def test_unknown_or_corrupt_bytes_are_refused():
    buffer = io.BytesIO()
    np.savez(buffer, weights=np.zeros(2))
    for data in (b"junk", buffer.getvalue(), pack({}, {"format": "other"}), pack({}, {})):
        with pytest.raises(ValueError, match="corrupt or not a Neuronal model"):
            load_model(data)
    with pytest.raises(ValueError, match="corrupt or not a Neuronal Hopfield network"):
        load_model(pack({}, {"format": "neuronal-hopfield", "version": 1}))
