"""A diverging run names the setting to lower: l2 when the penalty is what exploded."""

from __future__ import annotations

import pytest

from service.engine import DivergenceError, fit


@pytest.mark.parametrize("optimizer", ["sgd", "momentum"])
def test_divergence_from_a_huge_l2_says_to_lower_l2(linear_data, blobs, optimizer):
    for X, y in (linear_data, blobs):
        with pytest.raises(DivergenceError) as caught:
            fit(
                X,
                y,
                {"layers": [{"units": 8, "activation": "tanh"}]},
                {
                    "epochs": 20,
                    "l2": 1e6,
                    "optimizer": {"name": optimizer, "learning_rate": 0.01},
                },
            )
        message = str(caught.value)
        assert message.startswith(f"Training diverged at epoch {caught.value.epoch}:")
        assert "Lower l2 (now 1e+06)" in message and "learning rate" not in message


def test_divergence_with_a_modest_l2_still_names_the_learning_rate(linear_data):
    X, y = linear_data
    with pytest.raises(DivergenceError) as caught:
        fit(
            X,
            y * 1e3,
            {"layers": [{"units": 8}]},
            {"epochs": 5, "l2": 1e-4, "optimizer": {"name": "sgd", "learning_rate": 1e6}},
        )
    assert "Lower the learning rate (now 1000000.0)" in str(caught.value)
