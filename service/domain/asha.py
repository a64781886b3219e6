"""Asynchronous successive halving (ASHA, Li et al. 2020): a trial reports its objective at
rungs of `min_epochs · reduction_factor^k` epochs and goes on only while it is among the best
`1 / reduction_factor` of the trials that reached the same rung so far. Decisions never wait
for other trials: a trial is compared with whatever its rung holds when it gets there.

This is the stopping form of the paper's rule (as in Ray Tune's and Optuna's pruners). The
paper's own ASHA pauses a trial that is not yet in the best third and promotes it later if
the trials reaching the rung after it are worse; here it stops, and a decision is never
revisited, so the order in which trials reach a rung matters. The rule ranks by the figure
at the rung's epoch, so it helps only where that ranking already resembles the final one:
a first rung at which slow starters that end best still trail fast starters that later
overfit (an early epoch against a high learning rate) stops exactly the trials it should
keep; `min_epochs` must be chosen past that point."""

from __future__ import annotations

import math
from collections.abc import Sequence

GOALS = ("minimize", "maximize")


def rung_epochs(min_epochs: int, reduction_factor: int, max_epochs: int) -> list[int]:
    """The epochs after which a trial of `max_epochs` epochs is judged: `min_epochs`,
    `min_epochs · reduction_factor`, ... while below `max_epochs` (a trial that reaches
    `max_epochs` has finished, so there is nothing left to decide there)."""
    if min_epochs < 1 or reduction_factor < 2:
        raise ValueError(
            "early_termination needs min_epochs of at least 1 and reduction_factor of at "
            f"least 2, not {min_epochs} and {reduction_factor}."
        )
    rungs = []
    epochs = min_epochs
    while epochs < max_epochs:
        rungs.append(epochs)
        epochs *= reduction_factor
    return rungs


def asha_keeps(value: float, peers: Sequence[float], reduction_factor: int, goal: str) -> bool:
    """Whether a trial that recorded `value` at a rung goes on training.

    `peers` are the values other trials recorded at the same rung before (not this trial's
    own). Among all of them and `value`, the best `floor(n / reduction_factor)` go on; with
    fewer than `reduction_factor` values in all, every trial goes on. A non-finite value
    (a diverged loss) counts as the worst; ties keep the trial.
    """
    if goal not in GOALS:
        raise ValueError(f"goal must be one of {', '.join(GOALS)}, not {goal!r}.")
    total = len(peers) + 1
    if total < reduction_factor:
        return True
    if not math.isfinite(value):
        return False
    keep = total // reduction_factor
    better = sum(1 for peer in peers if _better(peer, value, goal))
    return better < keep


def _better(a: float, b: float, goal: str) -> bool:
    if not math.isfinite(a):
        return False
    return a < b if goal == "minimize" else a > b
