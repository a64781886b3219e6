"""Learning-rate schedules."""

from __future__ import annotations

import pytest

from service.engine import fit
from service.engine.schedules import Schedule


def rates(spec: dict, losses: list[float], base: float = 1.0) -> list[float]:
    schedule = Schedule(spec, base)
    out = []
    for loss in losses:
        out.append(schedule.lr)
        schedule.end_epoch(loss)
    return out


def test_constant():
    assert rates({"name": "constant"}, [1, 1, 1]) == [1.0, 1.0, 1.0]


def test_step():
    spec = {"name": "step", "step_size": 2, "gamma": 0.5}
    assert rates(spec, [1] * 5) == [1.0, 1.0, 0.5, 0.5, 0.25]


def test_exponential():
    assert rates({"name": "exponential", "gamma": 0.5}, [1] * 3) == [1.0, 0.5, 0.25]


def test_reduce_on_plateau():
    spec = {
        "name": "reduce_on_plateau",
        "factor": 0.1,
        "patience": 1,
        "min_delta": 0.0,
        "min_learning_rate": 0.005,
    }
    got = rates(spec, [1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95])
    assert got == pytest.approx([1.0, 1.0, 1.0, 1.0, 0.1, 0.1, 0.01, 0.01])
    assert rates(spec, [1.0] * 12)[-1] == 0.005


def test_history_reports_the_rate_used(blobs):
    X, y = blobs
    _, history = fit(
        X,
        y,
        {"layers": []},
        {
            "epochs": 3,
            "optimizer": {"name": "sgd", "learning_rate": 0.1},
            "schedule": {"name": "exponential", "gamma": 0.5},
        },
    )
    assert [row["learning_rate"] for row in history] == pytest.approx([0.1, 0.05, 0.025])
