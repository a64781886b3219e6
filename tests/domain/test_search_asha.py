"""ASHA: the rungs a trial is judged at, and who goes on at a rung."""

from __future__ import annotations

import math

import pytest

from service.domain.asha import asha_keeps, rung_epochs


@pytest.mark.parametrize(
    ("min_epochs", "factor", "max_epochs", "rungs"),
    [
        (1, 3, 27, [1, 3, 9]),
        (1, 3, 28, [1, 3, 9, 27]),
        (2, 2, 20, [2, 4, 8, 16]),
        (5, 3, 5, []),
        (1, 4, 2, [1]),
    ],
)
def test_rungs_grow_by_the_reduction_factor_below_the_last_epoch(
    min_epochs: int, factor: int, max_epochs: int, rungs: list[int]
) -> None:
    assert rung_epochs(min_epochs, factor, max_epochs) == rungs


@pytest.mark.parametrize(("min_epochs", "factor"), [(0, 3), (1, 1)])
def test_impossible_rungs_are_refused(min_epochs: int, factor: int) -> None:
    with pytest.raises(ValueError, match="reduction_factor"):
        rung_epochs(min_epochs, factor, 10)


def test_with_fewer_values_than_the_factor_every_trial_goes_on() -> None:
    assert asha_keeps(10.0, [], 3, "minimize")
    assert asha_keeps(10.0, [0.1], 3, "minimize")  # two values in all, factor 3


def test_the_best_third_goes_on_when_minimizing() -> None:
    peers = [0.5, 0.9, 0.7, 0.3, 0.8]  # six values in all: the best two go on
    assert asha_keeps(0.2, peers, 3, "minimize")
    assert asha_keeps(0.4, peers, 3, "minimize")  # second best
    assert not asha_keeps(0.6, peers, 3, "minimize")
    assert not asha_keeps(1.0, peers, 3, "minimize")


def test_the_best_go_on_when_maximizing() -> None:
    peers = [0.5, 0.9]  # three values in all: the best one goes on
    assert asha_keeps(0.95, peers, 3, "maximize")
    assert not asha_keeps(0.6, peers, 3, "maximize")


def test_a_tie_with_the_last_kept_value_keeps_the_trial() -> None:
    assert asha_keeps(0.5, [0.5, 0.9], 3, "minimize")


def test_a_diverged_value_is_the_worst_and_diverged_peers_beat_nobody() -> None:
    assert not asha_keeps(math.nan, [0.5, 0.9], 3, "minimize")
    assert not asha_keeps(math.inf, [0.5, 0.9], 3, "minimize")
    assert asha_keeps(5.0, [math.nan, math.inf], 3, "minimize")
    assert asha_keeps(0.3, [math.nan, 0.2], 3, "maximize")


def test_an_unknown_goal_is_refused() -> None:
    with pytest.raises(ValueError, match="goal"):
        asha_keeps(0.1, [], 3, "lowest")


# One rung, reduction factor 3, minimising: the trials in the order they reached it, each
# with its value there, and whether it goes on. Trial n is judged against the n - 1 values
# recorded before it, and the best floor(n / 3) of those n go on (every trial while n < 3).
RUNG_TABLE = [
    (0.90, True),  # 1 value: too few to judge
    (0.50, True),  # 2 values: too few to judge
    (0.70, False),  # 3 values, the best 1 goes on: 0.50
    (0.40, True),  # 4 values, the best 1: 0.40 itself
    (0.60, False),  # 5 values, the best 1: 0.40
    (0.45, True),  # 6 values, the best 2: 0.40, 0.45
    (0.80, False),  # 7 values, the best 2: 0.40, 0.45
    (0.42, True),  # 8 values, the best 2: 0.40, 0.42
    (0.44, True),  # 9 values, the best 3: 0.40, 0.42, 0.44
    (0.46, False),  # 10 values, the best 3: 0.40, 0.42, 0.44
    (0.41, True),  # 11 values, the best 3: 0.40, 0.41, 0.42 (0.44 went on: never revisited)
    (math.nan, False),  # 12 values: a diverged trial is the worst
]


def _decisions(values: list[float], goal: str) -> list[bool]:
    return [asha_keeps(v, values[:i], 3, goal) for i, v in enumerate(values)]


def test_a_rung_table_stops_and_continues_by_the_top_third_of_those_recorded_before() -> None:
    values = [value for value, _ in RUNG_TABLE]
    assert _decisions(values, "minimize") == [goes_on for _, goes_on in RUNG_TABLE]


def test_the_same_table_maximizing_the_negated_figures_decides_the_same() -> None:
    values = [-value for value, _ in RUNG_TABLE]
    assert _decisions(values, "maximize") == [goes_on for _, goes_on in RUNG_TABLE]
